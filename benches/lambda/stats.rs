//! Distributions of samples and the units figures are printed in.

use std::time::Duration;

use serde_json::{json, Value};

pub const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, Copy)]
pub struct Dist {
    pub n: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub min: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Dist {
    /// Nearest-rank percentiles.
    pub fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len().max(1);
        let rank = |p: f64| sorted[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Self {
            n: sorted.len(),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            min: sorted[0],
            max: sorted[n - 1],
            mean: sorted.iter().sum::<Duration>() / n as u32,
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "n": self.n,
            "p50_ms": ms_f(self.p50),
            "p90_ms": ms_f(self.p90),
            "p99_ms": ms_f(self.p99),
            "min_ms": ms_f(self.min),
            "max_ms": ms_f(self.max),
            "mean_ms": ms_f(self.mean),
        })
    }
}

pub fn ms_f(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

pub fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

pub fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 * 1024.0 / MIB)
}

pub fn list(ds: &[Duration]) -> String {
    ds.iter()
        .map(|d| format!("{:.2}", d.as_secs_f64() * 1e3))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lower median (the 50th percentile by nearest rank, as `Dist`), or the default of none.
pub fn median<T: Ord + Copy + Default>(mut values: Vec<T>) -> T {
    values.sort_unstable();
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}
