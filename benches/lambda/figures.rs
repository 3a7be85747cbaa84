//! The figures computed from the samples: per side (the function, the peer), per size of log,
//! and how they grow per KB of log.

use std::time::Duration;

use serde_json::{json, Value};

use crate::measurement::{Counted, Size, Start};
use crate::process::Memory;
use crate::stats::{median, ms_f, Dist};

/// The figures of one side with one size of log, over all its starts.
pub struct Side {
    pub inits: Vec<Duration>,
    pub init: Dist,
    /// On-CPU time during init (schedstat).
    pub init_cpu: Duration,
    pub firsts: Vec<Duration>,
    pub first: Dist,
    /// On-CPU time of the first invocation (schedstat, median).
    pub first_cpu: Duration,
    /// Page faults (medians): during init, in the first invocation; and per warm invocation.
    pub init_faults: u64,
    pub first_faults: u64,
    pub warm_faults: f64,
    pub warm: Dist,
    pub per_start_p50: Vec<Duration>,
    /// User + system per warm invocation.
    pub cpu: Duration,
    pub cpu_sys: Duration,
    pub cpu_schedstat: Duration,
    pub threads: usize,
    /// VmHWM at the end of each start.
    pub peaks_kib: Vec<u64>,
    /// The highest VmHWM at the end of a start, and after how many invocations.
    pub peak_kib: u64,
    pub peak_after: usize,
    /// Memory of the long start after `early` invocations and at its end.
    pub early: Option<Memory>,
    pub long: Option<Memory>,
    pub log_bytes: f64,
    pub log_lines: f64,
}

impl Side {
    pub fn of(starts: &[Start], ticks_per_second: u64, long: usize) -> Self {
        let tick = |ticks: u64| Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64);
        let inits: Vec<Duration> = starts.iter().map(|s| s.init).collect();
        let firsts: Vec<Duration> = starts.iter().map(|s| s.first).collect();
        let all_warm: Vec<Duration> = starts.iter().flat_map(|s| s.warm.clone()).collect();
        let n = all_warm.len().max(1) as u32;
        let init_cpus: Vec<Duration> = starts
            .iter()
            .map(|s| Duration::from_nanos(s.init_cpu.run_ns))
            .collect();
        let sum = |f: fn(&Start) -> u64| starts.iter().map(f).sum::<u64>();
        let median = |f: fn(&Start) -> u64| median(starts.iter().map(f).collect());
        let peak = starts.iter().max_by_key(|s| s.end.hwm_kib);
        let long_start = starts.iter().find(|s| s.early.is_some());
        Self {
            init: Dist::of(&inits),
            inits,
            init_cpu: Dist::of(&init_cpus).p50,
            first: Dist::of(&firsts),
            firsts,
            first_cpu: Duration::from_nanos(median(|s| s.first_cpu.run_ns)),
            init_faults: median(|s| s.init_cpu.faults),
            first_faults: median(|s| s.first_cpu.faults),
            warm_faults: sum(|s| s.warm_cpu.faults) as f64 / n as f64,
            warm: Dist::of(&all_warm),
            per_start_p50: starts.iter().map(|s| Dist::of(&s.warm).p50).collect(),
            cpu: tick(sum(|s| s.warm_cpu.ticks)) / n,
            cpu_sys: tick(sum(|s| s.warm_cpu.system_ticks)) / n,
            cpu_schedstat: Duration::from_nanos(sum(|s| s.warm_cpu.run_ns)) / n,
            threads: starts.iter().map(|s| s.warm_cpu.threads).max().unwrap_or(0),
            peaks_kib: starts.iter().map(|s| s.end.hwm_kib).collect(),
            peak_kib: peak.map_or(0, |s| s.end.hwm_kib),
            peak_after: peak.map_or(0, |s| {
                if s.early.is_some() {
                    long
                } else {
                    s.warm.len() + 1
                }
            }),
            early: long_start.and_then(|s| s.early),
            long: long_start.map(|s| s.end),
            log_bytes: sum(|s| s.log_bytes) as f64 / n as f64,
            log_lines: sum(|s| s.log_lines) as f64 / n as f64,
        }
    }

    /// VmHWM growth over the long start.
    pub fn growth_kib(&self) -> Option<u64> {
        self.early
            .zip(self.long)
            .map(|(e, l)| l.hwm_kib.saturating_sub(e.hwm_kib))
    }

    pub fn json(&self) -> Value {
        json!({
            "init": self.init.json(),
            "init_cpu_us_median": self.init_cpu.as_micros() as u64,
            "first_invocation": self.first.json(),
            "first_invocations_ms": self.firsts.iter().map(|d| ms_f(*d)).collect::<Vec<_>>(),
            "first_invocation_cpu_us_median": us_f(self.first_cpu),
            "page_faults": {
                "init_median": self.init_faults,
                "first_invocation_median": self.first_faults,
                "per_warm_invocation": (self.warm_faults * 100.0).round() / 100.0,
            },
            "warm": self.warm.json(),
            "warm_p50_per_start_ms": self.per_start_p50.iter().map(|d| ms_f(*d)).collect::<Vec<_>>(),
            "cpu_us_per_warm_invocation": us_f(self.cpu),
            "cpu_sys_us_per_warm_invocation": us_f(self.cpu_sys),
            "cpu_us_per_warm_invocation_schedstat": us_f(self.cpu_schedstat),
            "threads": self.threads,
            "peak_rss_kib": self.peak_kib,
            "peak_rss_kib_per_start": self.peaks_kib,
            "peak_rss_after_invocations": self.peak_after,
            "memory_kib": {
                "early": self.early.map(|e| json!({"vm_hwm": e.hwm_kib, "vm_rss": e.rss_kib})),
                "long": self.long.map(|l| json!({"vm_hwm": l.hwm_kib, "vm_rss": l.rss_kib})),
                "vm_hwm_growth": self.growth_kib(),
            },
            "log_bytes_per_warm_invocation": self.log_bytes.round(),
        })
    }
}

fn us_f(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

/// Everything about one size of log. Every CPU figure here is schedstat's.
pub struct SizeFigures<'a> {
    pub size: &'a Size,
    pub function: Side,
    pub peer: Side,
    pub update: Dist,
    pub get: Dist,
    pub noop: Dist,
    pub noop_cpu: Duration,
    pub noop_init: Dist,
    /// The bare SDK client's `UpdateItem` (`examples/bare-update.rs`): latency, CPU per call.
    pub bare: Dist,
    pub bare_cpu: Duration,
    pub bare_threads: usize,
    /// Raw `UpdateItem` p50 + no-op round trip p50: a warm invocation's floor.
    pub warm_floor: Duration,
    /// Raw `GetItem` p50 + raw `UpdateItem` p50 + no-op round trip p50: a first invocation's.
    pub first_floor: Duration,
    /// No-op CPU per invocation + the bare SDK's per call: a warm invocation's CPU floor.
    pub cpu_floor: Duration,
    /// No-op init p50 + raw `GetItem` p50: the function's init warms up with one round trip.
    pub init_floor: Duration,
    /// The no-op function's highest peak RSS: the floor under the function's.
    pub noop_peak_kib: u64,
}

impl<'a> SizeFigures<'a> {
    pub fn of(size: &'a Size, ticks_per_second: u64, long: usize) -> Self {
        let (update, get, noop) = (
            Dist::of(&size.floor_update),
            Dist::of(&size.floor_get),
            Dist::of(&size.noop),
        );
        let noop_init = Dist::of(&size.noop_inits);
        let noop_cpu = Duration::from_nanos(size.noop_cpu.run_ns) / size.noop.len().max(1) as u32;
        let bare_latencies: Vec<Duration> =
            size.bare.iter().flat_map(|b| b.latencies.clone()).collect();
        let bare_cpu = size.bare.iter().map(|b| b.on_cpu).sum::<Duration>()
            / bare_latencies.len().max(1) as u32;
        Self {
            function: Side::of(&size.function, ticks_per_second, long),
            peer: Side::of(&size.peer, ticks_per_second, long),
            update,
            get,
            noop,
            noop_cpu,
            noop_init,
            bare: Dist::of(&bare_latencies),
            bare_cpu,
            bare_threads: size.bare.iter().map(|b| b.threads).max().unwrap_or(0),
            warm_floor: update.p50 + noop.p50,
            first_floor: get.p50 + update.p50 + noop.p50,
            cpu_floor: noop_cpu + bare_cpu,
            init_floor: noop_init.p50 + get.p50,
            noop_peak_kib: size.noop_peaks_kib.iter().copied().max().unwrap_or(0),
            size,
        }
    }

    pub fn kb(&self) -> f64 {
        self.size.workload.bytes() as f64 / 1000.0
    }

    pub fn warm_ratio(&self, side: &Side) -> f64 {
        ratio(side.warm.p50, self.warm_floor)
    }

    pub fn first_ratio(&self, side: &Side) -> f64 {
        ratio(side.first.p50, self.first_floor)
    }

    /// Both sides' CPU as schedstat counts it.
    pub fn cpu_ratio(&self) -> f64 {
        ratio(self.function.cpu_schedstat, self.peer.cpu_schedstat)
    }

    pub fn cpu_floor_ratio(&self) -> f64 {
        ratio(self.function.cpu_schedstat, self.cpu_floor)
    }

    pub fn init_ratio(&self) -> f64 {
        ratio(self.function.init.p50, self.init_floor)
    }

    /// The first invocation's own time over the warm invocations' (median), through the proxy.
    pub fn first_own_ratio(&self) -> f64 {
        let b = &self.size.counted.breakdown;
        ratio(b.first.own(), b.warm_own)
    }

    /// The raw floors of the first invocation's DynamoDB requests: `GetItem` + `UpdateItem`.
    pub fn first_dynamodb_floor(&self) -> Duration {
        self.get.p50 + self.update.p50
    }

    pub fn requests_per_warm(&self) -> f64 {
        let c: &Counted = &self.size.counted;
        c.warm as f64 / c.invocations.max(1) as f64
    }

    pub fn json(&self) -> Value {
        let c = &self.size.counted;
        json!({
            "log": self.size.workload.slug,
            "log_bytes": self.size.workload.bytes(),
            "function": self.function.json(),
            "peer": self.peer.json(),
            "floor_update_item": self.update.json(),
            "floor_get_item": self.get.json(),
            "floor_emulator_round_trip": self.noop.json(),
            "floor_sdk_update_item": self.bare.json(),
            "noop_init": self.noop_init.json(),
            "cpu_us_per_noop_invocation": us_f(self.noop_cpu),
            "cpu_us_per_sdk_update_item": us_f(self.bare_cpu),
            "sdk_update_item_threads": self.bare_threads,
            "cpu_floor_us": us_f(self.cpu_floor),
            "init_floor_ms": ms_f(self.init_floor),
            "noop_peak_rss_kib": self.noop_peak_kib,
            "first_invocation_breakdown": self.size.counted.breakdown.json(),
            "ratios": {
                "warm_p50_over_floor": round3(self.warm_ratio(&self.function)),
                "peer_warm_p50_over_floor": round3(self.warm_ratio(&self.peer)),
                "first_over_first_floor": round3(self.first_ratio(&self.function)),
                "peer_first_over_first_floor": round3(self.first_ratio(&self.peer)),
                "cpu_over_peer": round3(self.cpu_ratio()),
                "cpu_over_cpu_floor": round3(self.cpu_floor_ratio()),
                "init_over_init_floor": round3(self.init_ratio()),
                "first_own_over_warm_own": round3(self.first_own_ratio()),
                "first_dynamodb_over_raw_floors": round3(ratio(
                    self.size.counted.breakdown.first.dynamodb(),
                    self.first_dynamodb_floor(),
                )),
                "warm_p50_over_peer": round3(ratio(self.function.warm.p50, self.peer.warm.p50)),
            },
            "dynamodb_requests": {
                "init": c.init,
                "first_invocation": c.first,
                "warm": c.warm,
                "warm_invocations": c.invocations,
                "per_warm_invocation": self.requests_per_warm(),
            },
        })
    }
}

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// How a figure grows from the smallest to the largest log: per KB of log.
pub struct Growth {
    pub from_kb: f64,
    pub to_kb: f64,
}

impl Growth {
    pub fn between(sizes: &[SizeFigures]) -> Option<Self> {
        let (first, last) = (sizes.first()?, sizes.last()?);
        (sizes.len() > 1).then(|| Self {
            from_kb: first.kb(),
            to_kb: last.kb(),
        })
    }

    /// `(to - from) / KB`.
    pub fn per_kb(&self, from: f64, to: f64) -> f64 {
        (to - from) / (self.to_kb - self.from_kb)
    }
}
