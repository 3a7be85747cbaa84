//! The figures, judged against their goals, as tables on stdout, `bench/results.md` and
//! `bench/results.json`. Verdicts are ratios within the run wherever the goal allows: absolute
//! times on a shared machine move by 2–3× between runs.

use std::time::Duration;

use serde_json::{json, Value};

use crate::figures::{ratio, round3, Growth, Side, SizeFigures};
use crate::machine::{Machine, Sizes};
use crate::measurement::Measured;
use crate::stats::{list, mib, ms, us, MIB};
use crate::workloads::LOGS;
use crate::Config;

/// The log the latency and CPU goals are judged on, and the one the memory goals are.
pub const GOAL_LOG: &str = "every-field";
pub const MEMORY_LOG: &str = "chat";

/// Memory growth from `early` to `long` invocations still called flat (16 pages).
const FLAT_KIB: u64 = 64;

// The goals the figures are judged against.
const GOAL_INIT: Duration = Duration::from_millis(5);
const GOAL_WARM_OVER_FLOOR: f64 = 1.5;
const GOAL_FIRST_OVER_FLOOR: f64 = 1.3;
const GOAL_CPU_OVER_PEER: f64 = 0.10;
const GOAL_REQUESTS: f64 = 1.0;
const GOAL_RSS_KIB: u64 = 8 * 1024;
const GOAL_ZIP_BYTES: u64 = 3_000_000;

/// One line of a table: a figure, its value, and its goal with the verdict if it has one.
pub struct Row {
    pub figure: String,
    pub value: String,
    pub goal: String,
    pub pass: Option<bool>,
}

fn row(figure: impl Into<String>, value: impl Into<String>) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        goal: String::new(),
        pass: None,
    }
}

/// A row judged if `judge`, shown with its goal for reference otherwise.
fn goal_row(
    judge: bool,
    figure: impl Into<String>,
    value: impl Into<String>,
    goal: impl Into<String>,
    pass: bool,
) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        goal: if judge { goal.into() } else { String::new() },
        pass: judge.then_some(pass),
    }
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "",
    }
}

/// `fn … · peer … · fn/peer …`.
fn both(f: String, p: String, r: f64) -> String {
    format!("fn {f} · peer {p} · fn/peer {r:.2}")
}

fn p50_p99(side: &Side) -> String {
    format!("{} / {}", ms(side.warm.p50), ms(side.warm.p99))
}

/// A titled table.
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
}

pub struct Report {
    config: Config,
    machine: Machine,
    sections: Vec<Section>,
    json: Value,
}

impl Report {
    pub fn new(config: Config, machine: Machine, m: &Measured, sizes: Sizes) -> Self {
        let figures: Vec<SizeFigures> = m
            .sizes
            .iter()
            .map(|s| SizeFigures::of(s, m.ticks_per_second, config.long))
            .collect();
        let mut sections: Vec<Section> = figures.iter().map(|f| size_section(config, f)).collect();
        let growth = Growth::between(&figures);
        if let Some(g) = &growth {
            sections.push(growth_section(g, &figures));
        }
        sections.push(build_section(&sizes, m));
        let goals: Vec<Value> = sections
            .iter()
            .flat_map(|s| s.rows.iter().map(move |r| (s, r)))
            .filter(|(_, r)| r.pass.is_some())
            .map(|(s, r)| {
                json!({
                    "section": s.title,
                    "figure": r.figure,
                    "value": r.value,
                    "goal": r.goal,
                    "verdict": verdict(r.pass),
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
                "peer_warm_invocations_per_start": config.peer_warm,
                "memory_invocations": config.long,
                "memory_early_sample": config.early(),
                "floor_calls_per_round": config.floor,
                "noop_invocations_per_round": config.noop,
                "counted_invocations": config.counted,
                "seeded_logs_per_size": LOGS,
                "event": "API Gateway HTTP API (payload v2), PATCH /logs?reference_id=…, {\"output\": \"4\", \"duration\": 0.42}",
                "clock_ticks_per_second": m.ticks_per_second,
                "goal_log": GOAL_LOG,
                "memory_log": MEMORY_LOG,
            },
            "sizes": figures.iter().map(SizeFigures::json).collect::<Vec<_>>(),
            "growth_per_kb": growth.as_ref().map(|g| growth_json(g, &figures)),
            "sizes_bytes": {
                "release_binary": sizes.binary,
                "arm64_zip": sizes.zip,
            },
            "noop_init_ms": crate::stats::ms_f(m.noop_init),
            "goals": goals,
        });
        Self {
            config,
            machine,
            sections,
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
        let rows = || self.sections.iter().flat_map(|s| s.rows.iter());
        let width = |f: fn(&Row) -> usize| rows().map(f).max().unwrap_or(0);
        let (wf, wv, wg) = (
            width(|r| r.figure.chars().count()),
            width(|r| r.value.chars().count()),
            width(|r| r.goal.chars().count()),
        );
        let pad =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        let mut out = format!("\nupdate-log-by-ref benchmark: {}\n", self.header());
        for section in &self.sections {
            out += &format!("\n{}\n{}\n", section.title, "-".repeat(wf + wv + wg + 13));
            for r in &section.rows {
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
        }
        out
    }

    pub fn markdown(&self, chart: &str) -> String {
        let mut out = String::from("# Benchmark results\n\n");
        out += &format!("Produced by `scripts/bench.sh`: {}.\n\n", self.header());
        out += &format!(
            "The release `update-log-by-ref` binary (fn) and a Python peer (boto3 under \
             `awslambdaric`, `bench/peer/peer.py`), each started {runs} times per log size as \
             Lambda starts them (Runtime API on loopback), on DynamoDB Local; {warm} warm \
             invocations per start of the function, {peer} of the peer (HTTP API events, one API \
             key, {LOGS} logs of each size in rotation), and one start of the function run to \
             {long} invocations for memory. Latency: the Runtime API hands out the event → \
             receives the response. Floors, in the same run: raw keep-alive `UpdateItem`s and \
             `GetItem`s to DynamoDB Local and the Runtime API round trip of a do-nothing \
             function. DynamoDB requests counted through a proxy in a separate start. Goals are \
             judged on the {GOAL_LOG} log (memory: the {MEMORY_LOG} log); the other sizes show \
             the same figures without a verdict.\n\n![latency distribution]({chart})\n",
            runs = self.config.runs,
            warm = self.config.warm,
            peer = self.config.peer_warm,
            long = self.config.long,
        );
        for section in &self.sections {
            out += &format!(
                "\n## {}\n\n| figure | value | goal | |\n|---|---|---|---|\n",
                section.title
            );
            for r in &section.rows {
                out += &format!(
                    "| {} | {} | {} | {} |\n",
                    r.figure,
                    r.value,
                    r.goal,
                    verdict(r.pass)
                );
            }
        }
        out
    }

    pub fn json(&self) -> &Value {
        &self.json
    }
}

fn size_section(config: Config, f: &SizeFigures) -> Section {
    let slug = f.size.workload.slug;
    let (judge, judge_memory) = (slug == GOAL_LOG, slug == MEMORY_LOG);
    let (func, peer) = (&f.function, &f.peer);
    let runs = f.size.function.len();
    let c = &f.size.counted;
    let warm_ratio = f.warm_ratio(func);
    let first_ratio = f.first_ratio(func);
    let cpu_ratio = f.cpu_ratio();
    let mut rows = vec![
        row(
            format!(
                "warm p50 / p99 ({runs} × {} fn, {runs} × {} peer)",
                config.warm, config.peer_warm
            ),
            both(
                p50_p99(func),
                p50_p99(peer),
                ratio(func.warm.p50, peer.warm.p50),
            ),
        ),
        row(
            "fn warm p50 of each start",
            format!("[{} ms]", list(&func.per_start_p50)),
        ),
        row(
            format!(
                "floors p50 / p99: raw UpdateItem · raw GetItem · no-op round trip ({} each)",
                f.update.n
            ),
            format!(
                "{} / {} · {} / {} · {} / {}",
                ms(f.update.p50),
                ms(f.update.p99),
                ms(f.get.p50),
                ms(f.get.p99),
                ms(f.noop.p50),
                ms(f.noop.p99)
            ),
        ),
        goal_row(
            judge,
            "warm p50 / (UpdateItem p50 + no-op round trip p50)",
            format!(
                "{warm_ratio:.2} (floor {}); peer {:.2}",
                ms(f.warm_floor),
                f.warm_ratio(peer)
            ),
            format!("≤ {GOAL_WARM_OVER_FLOOR}"),
            warm_ratio <= GOAL_WARM_OVER_FLOOR,
        ),
        row(
            format!("first invocation (median of {runs} starts)"),
            format!(
                "fn {} [{} ms] · peer {} [{} ms]",
                ms(func.first.p50),
                list(&func.firsts),
                ms(peer.first.p50),
                list(&peer.firsts)
            ),
        ),
        goal_row(
            judge,
            "first invocation / (GetItem p50 + UpdateItem p50 + no-op p50)",
            format!(
                "{first_ratio:.2} (floor {}); peer {:.2}",
                ms(f.first_floor),
                f.first_ratio(peer)
            ),
            format!("≤ {GOAL_FIRST_OVER_FLOOR}"),
            first_ratio <= GOAL_FIRST_OVER_FLOOR,
        ),
        goal_row(
            judge,
            "CPU (user + sys) per warm invocation",
            format!(
                "{} (sys {}, schedstat {}, {} thread{})",
                both(us(func.cpu), us(peer.cpu), cpu_ratio),
                us(func.cpu_sys),
                us(func.cpu_schedstat),
                func.threads,
                if func.threads == 1 { "" } else { "s" }
            ),
            format!("fn/peer ≤ {GOAL_CPU_OVER_PEER:.2}"),
            cpu_ratio <= GOAL_CPU_OVER_PEER,
        ),
        row(
            "CPU per no-op invocation (runtime + HTTP alone)",
            us(f.noop_cpu),
        ),
        goal_row(
            judge_memory,
            "peak RSS (VmHWM)",
            format!(
                "fn {} after {} · peer {} after {} · fn/peer {:.2}",
                mib(func.peak_kib),
                func.peak_after,
                mib(peer.peak_kib),
                peer.peak_after,
                func.peak_kib as f64 / peer.peak_kib.max(1) as f64
            ),
            format!("fn ≤ {}", mib(GOAL_RSS_KIB)),
            func.peak_kib <= GOAL_RSS_KIB,
        ),
    ];
    rows.push(match (func.early, func.long, func.growth_kib()) {
        (Some(e), Some(l), Some(growth)) => goal_row(
            judge_memory,
            format!(
                "fn RSS growth {} → {} invocations",
                config.early(),
                config.long
            ),
            format!(
                "VmHWM {} → {} kB, VmRSS {} → {} kB",
                e.hwm_kib, l.hwm_kib, e.rss_kib, l.rss_kib
            ),
            format!("flat (VmHWM +≤ {FLAT_KIB} kB)"),
            growth <= FLAT_KIB,
        ),
        _ => row("fn RSS growth", "not measured"),
    });
    rows.extend([
        goal_row(
            true,
            format!(
                "fn DynamoDB requests per warm invocation ({} counted)",
                c.invocations
            ),
            format!("{:.4} ({} requests)", f.requests_per_warm(), c.warm),
            format!("= {GOAL_REQUESTS:.1}"),
            c.warm == c.invocations,
        ),
        row(
            "fn DynamoDB requests during init / in the first invocation",
            format!("{} / {}", c.init, c.first),
        ),
        goal_row(
            judge,
            format!("init: spawn → first GET /next (median of {runs} starts)"),
            format!(
                "fn {} [{} ms] · peer {}",
                ms(func.init.p50),
                list(&func.inits),
                ms(peer.init.p50)
            ),
            format!("fn ≤ {}", ms(GOAL_INIT)),
            func.init.p50 <= GOAL_INIT,
        ),
        row(
            "fn CPU (schedstat) and page faults: first invocation · per warm invocation",
            format!(
                "{} and {} faults · {} and {:.2} faults (init: {} faults)",
                us(func.first_cpu),
                func.first_faults,
                us(func.cpu_schedstat),
                func.warm_faults,
                func.init_faults
            ),
        ),
        row(
            "CPU during init (schedstat, median)",
            both(
                us(func.init_cpu),
                us(peer.init_cpu),
                ratio(func.init_cpu, peer.init_cpu),
            ),
        ),
        row(
            "log output per warm invocation",
            format!(
                "fn {:.0} bytes, {:.2} lines · peer {:.0} bytes, {:.2} lines",
                func.log_bytes, func.log_lines, peer.log_bytes, peer.log_lines
            ),
        ),
    ]);
    Section {
        title: f.size.workload.label(),
        rows,
    }
}

fn growth_section(g: &Growth, figures: &[SizeFigures]) -> Section {
    let (a, b) = (&figures[0], &figures[figures.len() - 1]);
    let per_kb = |x: fn(&Side) -> f64, unit: &str| {
        let (f, p) = (
            g.per_kb(x(&a.function), x(&b.function)),
            g.per_kb(x(&a.peer), x(&b.peer)),
        );
        format!(
            "fn {f:.1} {unit} · peer {p:.1} {unit} · fn/peer {:.2}",
            f / p
        )
    };
    Section {
        title: format!(
            "growth per KB of log ({:.1} KB → {:.1} KB)",
            g.from_kb, g.to_kb
        ),
        rows: vec![
            row("warm p50", per_kb(|s| us_of(s.warm.p50), "µs/KB")),
            row(
                "raw UpdateItem p50 (the floor)",
                format!(
                    "{:.1} µs/KB",
                    g.per_kb(us_of(a.update.p50), us_of(b.update.p50))
                ),
            ),
            row("CPU per warm invocation", per_kb(|s| us_of(s.cpu), "µs/KB")),
            row(
                "peak RSS (VmHWM, the highest of the starts)",
                per_kb(|s| s.peak_kib as f64, "kB/KB"),
            ),
        ],
    }
}

fn us_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn growth_json(g: &Growth, figures: &[SizeFigures]) -> Value {
    let (a, b) = (&figures[0], &figures[figures.len() - 1]);
    let side = |x: &Side, y: &Side| {
        json!({
            "warm_p50_us": round3(g.per_kb(us_of(x.warm.p50), us_of(y.warm.p50))),
            "cpu_us": round3(g.per_kb(us_of(x.cpu), us_of(y.cpu))),
            "peak_rss_kib": round3(g.per_kb(x.peak_kib as f64, y.peak_kib as f64)),
        })
    };
    json!({
        "from_kb": g.from_kb,
        "to_kb": g.to_kb,
        "function": side(&a.function, &b.function),
        "peer": side(&a.peer, &b.peer),
        "floor_update_item_p50_us": round3(g.per_kb(us_of(a.update.p50), us_of(b.update.p50))),
    })
}

fn build_section(sizes: &Sizes, m: &Measured) -> Section {
    Section {
        title: "the build".into(),
        rows: vec![
            row(
                "release binary update-log-by-ref (cargo build --release)",
                format!(
                    "{} bytes ({:.2} MiB)",
                    sizes.binary,
                    sizes.binary as f64 / MIB
                ),
            ),
            match sizes.zip {
                Some(zip) => goal_row(
                    true,
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
            },
            row("no-op function init", ms(m.noop_init)),
        ],
    }
}
