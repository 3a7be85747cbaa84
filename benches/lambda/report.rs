//! The figures, judged against their goals, as tables on stdout, `bench/results.md` and
//! `bench/results.json`. Verdicts are ratios within the run wherever the goal allows: absolute
//! times on a shared machine move by 2–3× between runs.

use std::time::Duration;

use serde_json::{json, Value};

use crate::breakdown::Breakdown;
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

// The goals the figures are judged against: ratios to a floor measured in the same run.
const GOAL_WARM_OVER_FLOOR: f64 = 1.3;
const GOAL_FIRST_OVER_FLOOR: f64 = 1.3;
const GOAL_FIRST_OWN_OVER_WARM_OWN: f64 = 1.3;
const GOAL_CPU_OVER_FLOOR: f64 = 1.15;
const GOAL_CPU_OVER_PEER: f64 = 0.10;
const GOAL_INIT_OVER_FLOOR: f64 = 1.3;
const GOAL_REQUESTS: f64 = 1.0;
// And absolute ones.
const GOAL_RSS_KIB: u64 = 6 * 1024 + 512;
const GOAL_ZIP_BYTES: u64 = 2_000_000;

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
        sections.push(build_section(&sizes));
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
                "bare_sdk_calls_per_round": config.floor,
                "bare_sdk_warm_up_calls_per_round": config.bare_warmup,
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
             `GetItem`s to DynamoDB Local, the Runtime API round trip, CPU per invocation and \
             init of a do-nothing function, and the function's `UpdateItem` made by the bare SDK \
             client with the function's settings (`examples/bare-update`, CPU per call). CPU is \
             the scheduler's on-CPU time (schedstat) on both sides of every ratio. DynamoDB \
             requests counted and timed through a proxy in a separate start: its invocations \
             split into DynamoDB's time (upstream of the proxy) and the function's own. Goals \
             are judged on the {GOAL_LOG} log (memory: the {MEMORY_LOG} log); the other sizes \
             show the same figures without a verdict.\n\n![latency distribution]({chart})\n",
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
    let cpu_floor_ratio = f.cpu_floor_ratio();
    let init_ratio = f.init_ratio();
    let first_own_ratio = f.first_own_ratio();
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
                "floors p50 / p99: raw UpdateItem · raw GetItem · no-op round trip ({} each) · \
                 bare SDK UpdateItem ({})",
                f.update.n, f.bare.n
            ),
            format!(
                "{} / {} · {} / {} · {} / {} · {} / {}",
                ms(f.update.p50),
                ms(f.update.p99),
                ms(f.get.p50),
                ms(f.get.p99),
                ms(f.noop.p50),
                ms(f.noop.p99),
                ms(f.bare.p50),
                ms(f.bare.p99)
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
        row(
            "fn through the proxy: first invocation · warm median (DynamoDB: the proxy's upstream \
             time; own: the rest; on CPU: schedstat, through the next poll)",
            breakdown(&c.breakdown),
        ),
        goal_row(
            judge,
            "fn first invocation's own time / warm own time (median), through the proxy",
            format!(
                "{first_own_ratio:.2} ({} / {})",
                ms(c.breakdown.first.own()),
                ms(c.breakdown.warm_own)
            ),
            format!("≤ {GOAL_FIRST_OWN_OVER_WARM_OWN}"),
            first_own_ratio <= GOAL_FIRST_OWN_OVER_WARM_OWN,
        ),
        row(
            "fn first invocation's DynamoDB time / (raw GetItem p50 + raw UpdateItem p50)",
            format!(
                "{:.2} ({} / {}); DynamoDB's share: first invocation {:.0} %, warm {:.0} %",
                ratio(c.breakdown.first.dynamodb(), f.first_dynamodb_floor()),
                ms(c.breakdown.first.dynamodb()),
                ms(f.first_dynamodb_floor()),
                100.0 * ratio(c.breakdown.first.dynamodb(), c.breakdown.first.total),
                100.0 * ratio(c.breakdown.warm_dynamodb, c.breakdown.warm_total)
            ),
        ),
        goal_row(
            judge,
            "CPU per warm invocation (schedstat)",
            format!(
                "{} (user + sys: fn {}, sys {} · peer {}; threads: fn {}, peer {})",
                both(us(func.cpu_schedstat), us(peer.cpu_schedstat), cpu_ratio),
                us(func.cpu),
                us(func.cpu_sys),
                us(peer.cpu),
                func.threads,
                peer.threads
            ),
            format!("fn/peer ≤ {GOAL_CPU_OVER_PEER:.2}"),
            cpu_ratio <= GOAL_CPU_OVER_PEER,
        ),
        row(
            "CPU per no-op invocation (runtime + HTTP alone; schedstat)",
            us(f.noop_cpu),
        ),
        row(
            "CPU per bare SDK UpdateItem (examples/bare-update; schedstat)",
            format!(
                "{} ({} timed calls, {} thread{})",
                us(f.bare_cpu),
                f.bare.n,
                f.bare_threads,
                plural(f.bare_threads)
            ),
        ),
        goal_row(
            judge,
            "fn CPU per warm invocation / (no-op CPU + bare SDK CPU)",
            format!(
                "{cpu_floor_ratio:.2} ({} / ({} + {}))",
                us(func.cpu_schedstat),
                us(f.noop_cpu),
                us(f.bare_cpu)
            ),
            format!("≤ {GOAL_CPU_OVER_FLOOR}"),
            cpu_floor_ratio <= GOAL_CPU_OVER_FLOOR,
        ),
        goal_row(
            judge_memory,
            "peak RSS (VmHWM, the highest start)",
            format!(
                "fn {} after {} [{} MiB] · no-op floor {} · peer {} after {} · fn/peer {:.2}",
                mib(func.peak_kib),
                func.peak_after,
                func.peaks_kib
                    .iter()
                    .map(|k| format!("{:.2}", *k as f64 * 1024.0 / MIB))
                    .collect::<Vec<_>>()
                    .join(", "),
                mib(f.noop_peak_kib),
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
        row(
            format!("init: spawn → first GET /next (median of {runs} starts)"),
            format!(
                "fn {} [{} ms] · no-op {} [{} ms] · peer {}",
                ms(func.init.p50),
                list(&func.inits),
                ms(f.noop_init.p50),
                list(&f.size.noop_inits),
                ms(peer.init.p50)
            ),
        ),
        goal_row(
            judge,
            "fn init / (no-op init p50 + raw GetItem p50)",
            format!(
                "{init_ratio:.2} ({} / ({} + {}))",
                ms(func.init.p50),
                ms(f.noop_init.p50),
                ms(f.get.p50)
            ),
            format!("≤ {GOAL_INIT_OVER_FLOOR}"),
            init_ratio <= GOAL_INIT_OVER_FLOOR,
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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `first 2.41 ms = DynamoDB 1.10 ms (GetItem 0.45 ms, UpdateItem 0.65 ms) + own 1.31 ms (on CPU
/// 0.70 ms) · warm median 1.30 ms = DynamoDB 0.75 ms + own 0.55 ms (on CPU 0.43 ms)`.
fn breakdown(b: &Breakdown) -> String {
    let requests: Vec<String> = b
        .first
        .requests
        .iter()
        .map(|r| format!("{} {}", r.operation, ms(r.upstream())))
        .collect();
    format!(
        "first {} = DynamoDB {} ({}) + own {} (on CPU {}) · warm median {} = DynamoDB {} + own {} \
         (on CPU {} per invocation; medians of {})",
        ms(b.first.total),
        ms(b.first.dynamodb()),
        requests.join(", "),
        ms(b.first.own()),
        ms(b.first_cpu),
        ms(b.warm_total),
        ms(b.warm_dynamodb),
        ms(b.warm_own),
        ms(b.warm_cpu),
        b.warm_n
    )
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
            row(
                "CPU per warm invocation (schedstat)",
                per_kb(|s| us_of(s.cpu_schedstat), "µs/KB"),
            ),
            row(
                "peak RSS (VmHWM, the highest of the starts)",
                per_kb(|s| s.peak_kib as f64, "kB/KB"),
            ),
        ],
    }
}

fn zip_goal() -> String {
    format!("≤ {:.1} MB", GOAL_ZIP_BYTES as f64 / 1e6)
}

fn us_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn growth_json(g: &Growth, figures: &[SizeFigures]) -> Value {
    let (a, b) = (&figures[0], &figures[figures.len() - 1]);
    let side = |x: &Side, y: &Side| {
        json!({
            "warm_p50_us": round3(g.per_kb(us_of(x.warm.p50), us_of(y.warm.p50))),
            "cpu_us_schedstat": round3(g.per_kb(us_of(x.cpu_schedstat), us_of(y.cpu_schedstat))),
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

fn build_section(sizes: &Sizes) -> Section {
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
                    zip_goal(),
                    zip <= GOAL_ZIP_BYTES,
                ),
                None => Row {
                    figure: "arm64 deployment zip (bootstrap.zip)".into(),
                    value: format!("missing: {}", sizes.zip_path.display()),
                    goal: zip_goal(),
                    pass: None,
                },
            },
        ],
    }
}
