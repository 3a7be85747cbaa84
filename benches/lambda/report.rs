//! The figures, judged against their goals, as a table on stdout, `bench/results.md` and
//! `bench/results.json`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::machine::{Machine, Sizes};
use crate::measurement::Measured;
use crate::stats::{list, mib, ms, ms_f, us, Dist, MIB};
use crate::workloads::LOGS;
use crate::Config;

/// Memory growth from `early` to `long` invocations still called flat (16 pages).
const FLAT_KIB: u64 = 64;

// The goals the figures are judged against.
const GOAL_INIT: Duration = Duration::from_millis(5);
const GOAL_FIRST_OVER_WARM: f64 = 1.3;
const GOAL_WARM_OVER_FLOOR: f64 = 1.5;
const GOAL_CPU: Duration = Duration::from_micros(500);
const GOAL_REQUESTS: f64 = 1.0;
const GOAL_RSS_KIB: u64 = 8 * 1024;
const GOAL_ZIP_BYTES: u64 = 3_000_000;

/// One line of the table: a figure, its value, and its goal with the verdict if it has one.
pub struct Row {
    pub figure: String,
    pub value: String,
    pub goal: String,
    pub pass: Option<bool>,
}

pub fn row(figure: impl Into<String>, value: impl Into<String>) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        goal: String::new(),
        pass: None,
    }
}

pub fn judged(
    figure: impl Into<String>,
    value: impl Into<String>,
    goal: impl Into<String>,
    pass: bool,
) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        goal: goal.into(),
        pass: Some(pass),
    }
}

pub fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "",
    }
}

pub struct Report {
    pub config: Config,
    pub machine: Machine,
    pub rows: Vec<Row>,
    pub json: Value,
}

impl Report {
    pub fn new(config: Config, machine: Machine, m: Measured, sizes: Sizes) -> Self {
        let tick = |ticks: u64| Duration::from_secs_f64(ticks as f64 / m.ticks_per_second as f64);
        let inits: Vec<Duration> = m.starts.iter().map(|s| s.init).collect();
        let firsts: Vec<Duration> = m.starts.iter().map(|s| s.first).collect();
        let init = Dist::of(&inits);
        let first = Dist::of(&firsts);
        let all_warm: Vec<Duration> = m
            .starts
            .iter()
            .flat_map(|s| s.warm.iter().copied())
            .collect();
        let warm = Dist::of(&all_warm);
        let per_start_p50: Vec<Duration> = m.starts.iter().map(|s| Dist::of(&s.warm).p50).collect();
        let floor = Dist::of(&m.floor);
        let noop = Dist::of(&m.noop);
        let warm_count = all_warm.len().max(1) as u32;
        let warm_cpu = tick(m.starts.iter().map(|s| s.warm_cpu.ticks).sum()) / warm_count;
        let warm_sys = tick(m.starts.iter().map(|s| s.warm_cpu.system_ticks).sum()) / warm_count;
        let warm_cpu_run =
            Duration::from_nanos(m.starts.iter().map(|s| s.warm_cpu.run_ns).sum()) / warm_count;
        let threads = m
            .starts
            .iter()
            .map(|s| s.warm_cpu.threads)
            .max()
            .unwrap_or(0);
        let init_cpus: Vec<Duration> = m
            .starts
            .iter()
            .map(|s| Duration::from_nanos(s.init_cpu.run_ns))
            .collect();
        let init_cpu = Dist::of(&init_cpus);
        let noop_cpu = tick(m.noop_cpu.ticks) / m.noop.len().max(1) as u32;
        let log_bytes =
            m.starts.iter().map(|s| s.log_bytes).sum::<u64>() as f64 / warm_count as f64;
        let log_lines =
            m.starts.iter().map(|s| s.log_lines).sum::<u64>() as f64 / warm_count as f64;

        let floor_sum = floor.p50 + noop.p50;
        let warm_over_floor = warm.p50.as_secs_f64() / floor_sum.as_secs_f64();
        let first_over_warm = first.p50.as_secs_f64() / warm.p50.as_secs_f64();
        let requests = m.counted.warm as f64 / m.counted.invocations as f64;

        let last = m.starts.last();
        let (early, long) = (last.and_then(|s| s.early), last.and_then(|s| s.long));
        let memory = early.zip(long);
        let growth = memory.map(|(e, l)| l.hwm_kib.saturating_sub(e.hwm_kib));

        let runs = m.starts.len();
        let mut rows = vec![
            judged(
                format!("init: spawn → first GET /next (median of {runs} starts)"),
                format!("{}  [{} ms]", ms(init.p50), list(&inits)),
                format!("≤ {}", ms(GOAL_INIT)),
                init.p50 <= GOAL_INIT,
            ),
            judged(
                format!("first invocation (median of {runs} starts)"),
                format!(
                    "{} = {first_over_warm:.2} × warm p50  [{} ms]",
                    ms(first.p50),
                    list(&firsts)
                ),
                format!(
                    "≤ {GOAL_FIRST_OVER_WARM} × warm p50 = {}",
                    ms(warm.p50.mul_f64(GOAL_FIRST_OVER_WARM))
                ),
                first_over_warm <= GOAL_FIRST_OVER_WARM,
            ),
            row(
                format!(
                    "warm p50 / p90 / p99 ({runs} × {} invocations)",
                    config.warm
                ),
                format!("{} / {} / {}", ms(warm.p50), ms(warm.p90), ms(warm.p99)),
            ),
            row(
                "warm p50 of each start",
                format!("[{} ms]", list(&per_start_p50)),
            ),
            row(
                format!("floor: raw UpdateItem p50 / p90 / p99 ({} calls)", floor.n),
                format!("{} / {} / {}", ms(floor.p50), ms(floor.p90), ms(floor.p99)),
            ),
            row(
                format!(
                    "floor: emulator round trip, no-op function p50 / p90 / p99 ({})",
                    noop.n
                ),
                format!("{} / {} / {}", ms(noop.p50), ms(noop.p90), ms(noop.p99)),
            ),
            judged(
                "warm p50 / (UpdateItem p50 + no-op round trip p50)",
                format!("{warm_over_floor:.2} (floor {})", ms(floor_sum)),
                format!("≤ {GOAL_WARM_OVER_FLOOR}"),
                warm_over_floor <= GOAL_WARM_OVER_FLOOR,
            ),
            judged(
                "CPU (user + sys) per warm invocation",
                format!(
                    "{}  (of which sys {}; schedstat {}; {threads} thread{})",
                    us(warm_cpu),
                    us(warm_sys),
                    us(warm_cpu_run),
                    if threads == 1 { "" } else { "s" }
                ),
                format!("≤ {}", us(GOAL_CPU)),
                warm_cpu <= GOAL_CPU,
            ),
            row(
                "CPU per no-op invocation (runtime + HTTP alone)",
                us(noop_cpu),
            ),
            row(
                format!("CPU during init (schedstat, median of {runs})"),
                us(init_cpu.p50),
            ),
            judged(
                format!(
                    "DynamoDB requests per warm invocation ({} counted)",
                    m.counted.invocations
                ),
                format!("{requests:.4} ({} requests)", m.counted.warm),
                format!("= {GOAL_REQUESTS:.1}"),
                m.counted.warm == m.counted.invocations,
            ),
            row(
                "DynamoDB requests during init / in the first invocation",
                format!("{} / {}", m.counted.init, m.counted.first),
            ),
        ];
        match (memory, growth) {
            (Some((e, l)), Some(growth)) => {
                rows.push(judged(
                    format!("peak RSS (VmHWM) after {} invocations", config.long),
                    mib(l.hwm_kib),
                    format!("≤ {}", mib(GOAL_RSS_KIB)),
                    l.hwm_kib <= GOAL_RSS_KIB,
                ));
                rows.push(judged(
                    format!(
                        "RSS growth {} → {} invocations",
                        config.early(),
                        config.long
                    ),
                    format!(
                        "VmHWM {} → {} kB, VmRSS {} → {} kB",
                        e.hwm_kib, l.hwm_kib, e.rss_kib, l.rss_kib
                    ),
                    format!("flat (VmHWM +≤ {FLAT_KIB} kB)"),
                    growth <= FLAT_KIB,
                ));
            }
            _ => rows.push(row("peak RSS", "not measured")),
        }
        rows.push(row(
            "release binary update-log-by-ref (cargo build --release)",
            format!(
                "{} bytes ({:.2} MiB)",
                sizes.binary,
                sizes.binary as f64 / MIB
            ),
        ));
        rows.push(match sizes.zip {
            Some(zip) => judged(
                "arm64 deployment zip (bootstrap.zip)",
                format!("{zip} bytes ({:.2} MB)", zip as f64 / 1e6),
                "≤ 3 MB",
                zip <= GOAL_ZIP_BYTES,
            ),
            None => Row {
                figure: "arm64 deployment zip (bootstrap.zip)".into(),
                value: format!("missing: {}", sizes.zip_path.display()),
                goal: "≤ 3 MB".into(),
                pass: None,
            },
        });
        rows.push(row(
            "log output per warm invocation",
            format!("{log_bytes:.0} bytes, {log_lines:.2} lines"),
        ));
        rows.push(row("no-op function init", ms(m.noop_init)));

        let goals: Vec<Value> = rows
            .iter()
            .filter(|r| !r.goal.is_empty())
            .map(|r| {
                json!({
                    "figure": r.figure,
                    "value": r.value,
                    "goal": r.goal,
                    "verdict": if r.pass.is_none() { "n/a" } else { verdict(r.pass) },
                })
            })
            .collect();
        let starts: Vec<Value> = m
            .starts
            .iter()
            .map(|s| {
                json!({
                    "init_ms": ms_f(s.init),
                    "init_cpu_us": s.init_cpu.run_ns / 1_000,
                    "init_threads": s.init_cpu.threads,
                    "first_ms": ms_f(s.first),
                    "warm": Dist::of(&s.warm).json(),
                    "warm_cpu_us_per_invocation":
                        tick(s.warm_cpu.ticks).as_secs_f64() * 1e6 / s.warm.len().max(1) as f64,
                    "warm_cpu_us_per_invocation_schedstat":
                        s.warm_cpu.run_ns as f64 / 1e3 / s.warm.len().max(1) as f64,
                    "threads": s.warm_cpu.threads,
                    "log_bytes": s.log_bytes,
                })
            })
            .collect();
        let json = json!({
            "command": "scripts/bench.sh",
            "date": machine.date,
            "machine": {
                "nproc": machine.nproc,
                "cpu": machine.cpu,
                "kernel": machine.kernel,
                "load_average_start": machine.load_start,
                "load_average_end": machine.load_end,
                "bench_seconds": (machine.seconds * 10.0).round() / 10.0,
            },
            "config": {
                "starts": config.runs,
                "warm_invocations_per_start": config.warm,
                "memory_invocations": config.long,
                "memory_early_sample": config.early(),
                "floor_update_items": floor.n,
                "noop_invocations": noop.n,
                "counted_invocations": m.counted.invocations,
                "seeded_logs": LOGS,
                "event": "API Gateway HTTP API (payload v2), PATCH /logs?reference_id=…, {\"output\": \"4\", \"duration\": 0.42}",
                "clock_ticks_per_second": m.ticks_per_second,
            },
            "init": init.json(),
            "init_cpu_us_median": init_cpu.p50.as_micros() as u64,
            "first_invocation": first.json(),
            "warm": warm.json(),
            "floor_update_item": floor.json(),
            "floor_emulator_round_trip": noop.json(),
            "ratios": {
                "warm_p50_over_floor": (warm_over_floor * 1000.0).round() / 1000.0,
                "first_over_warm_p50": (first_over_warm * 1000.0).round() / 1000.0,
            },
            "cpu_us_per_warm_invocation": (warm_cpu.as_secs_f64() * 1e7).round() / 10.0,
            "cpu_us_per_warm_invocation_schedstat": (warm_cpu_run.as_secs_f64() * 1e7).round() / 10.0,
            "cpu_sys_us_per_warm_invocation": (warm_sys.as_secs_f64() * 1e7).round() / 10.0,
            "threads": threads,
            "cpu_us_per_noop_invocation": (noop_cpu.as_secs_f64() * 1e7).round() / 10.0,
            "dynamodb_requests": {
                "init": m.counted.init,
                "first_invocation": m.counted.first,
                "warm": m.counted.warm,
                "warm_invocations": m.counted.invocations,
                "per_warm_invocation": requests,
            },
            "memory_kib": {
                "early_invocations": config.early(),
                "early": early.map(|e| json!({"vm_hwm": e.hwm_kib, "vm_rss": e.rss_kib})),
                "long_invocations": config.long,
                "long": long.map(|l| json!({"vm_hwm": l.hwm_kib, "vm_rss": l.rss_kib})),
                "vm_hwm_growth": growth,
            },
            "sizes_bytes": {
                "release_binary": sizes.binary,
                "arm64_zip": sizes.zip,
            },
            "log_bytes_per_warm_invocation": log_bytes.round(),
            "noop_init_ms": ms_f(m.noop_init),
            "starts": starts,
            "goals": goals,
        });
        Self {
            config,
            machine,
            rows,
            json,
        }
    }

    pub fn header(&self) -> String {
        format!(
            "{} · {} × {} · {} · load average {} → {} · {:.0} s",
            self.machine.date,
            self.machine.nproc,
            self.machine.cpu,
            self.machine.kernel,
            self.machine.load_start,
            self.machine.load_end,
            self.machine.seconds
        )
    }

    pub fn text(&self) -> String {
        let width = |f: fn(&Row) -> usize| self.rows.iter().map(f).max().unwrap_or(0);
        let (wf, wv, wg) = (
            width(|r| r.figure.chars().count()),
            width(|r| r.value.chars().count()),
            width(|r| r.goal.chars().count()),
        );
        let pad =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        let mut out = format!("\nupdate-log-by-ref benchmark: {}\n\n", self.header());
        out += &format!(
            "{}  {}  {}  verdict\n",
            pad("figure", wf),
            pad("value", wv),
            pad("goal", wg)
        );
        out += &format!("{}\n", "-".repeat(wf + wv + wg + 13));
        for r in &self.rows {
            let line = format!(
                "{}  {}  {}  {}",
                pad(&r.figure, wf),
                pad(&r.value, wv),
                pad(&r.goal, wg),
                verdict(r.pass)
            );
            out += line.trim_end();
            out.push('\n');
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from("# Benchmark results\n\n");
        out += &format!("Produced by `scripts/bench.sh`: {}.\n\n", self.header());
        out += &format!(
            "The release `update-log-by-ref` binary, started {} times as Lambda starts it (Runtime \
             API on loopback, text logs at INFO), on DynamoDB Local; {} warm invocations per start \
             (HTTP API events, one API key, {LOGS} logs in rotation). Latency: the Runtime API \
             hands out the event → receives the response. Floors, in the same run: a raw \
             keep-alive `UpdateItem` to DynamoDB Local and the Runtime API round trip of a \
             do-nothing function. DynamoDB requests counted through a proxy in a separate start.\n\n",
            self.config.runs, self.config.warm
        );
        out += "| figure | value | goal | |\n|---|---|---|---|\n";
        for r in &self.rows {
            out += &format!(
                "| {} | {} | {} | {} |\n",
                r.figure,
                r.value,
                r.goal,
                verdict(r.pass)
            );
        }
        out
    }

    pub fn json(&self) -> &Value {
        &self.json
    }
}
