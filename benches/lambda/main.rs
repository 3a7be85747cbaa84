//! The function as Lambda runs it, measured against the limits of the stack it stands on, in the
//! same run. Run `scripts/bench.sh`: it builds the release function, the do-nothing
//! `examples/noop-function`, the bare SDK client `examples/bare-update` and the arm64 deployment
//! zip, then runs this (`cargo bench --bench lambda`). Not a test: every figure is printed beside
//! its goal as PASS or MISS, and a miss never fails the run. Writes `bench/results.json`,
//! `bench/results.md` and `bench/latency.svg`.
//!
//! What runs, all on loopback:
//! - DynamoDB Local (the tests' support: a free port, stopped when this process ends), with
//!   fresh tables, one API key and `LOGS` seeded logs of each size;
//! - a Lambda Runtime API emulator (`tests/it/runtime_api.rs`). Latency is measured inside it:
//!   from handing out an event (the answer to `GET /runtime/invocation/next`) to receiving the
//!   function's response;
//! - the release `update-log-by-ref` binary, started fresh `runs` times with Lambda's
//!   environment, text logs at INFO, stdout and stderr drained, each time killed and reaped; and
//!   the Python peer (boto3 under `awslambdaric`) the same way;
//! - the floors, interleaved with those starts so all see the same machine and the same warm
//!   JVM: raw keep-alive `UpdateItem`s and `GetItem`s straight to DynamoDB Local; the no-op
//!   function, started afresh each round (its init, its round trip, its CPU per invocation); and
//!   `examples/bare-update`, the function's `UpdateItem` through the same SDK client settings in
//!   a loop, which reads its own CPU per call;
//! - last, a separate start through the tests' proxy (kept out of the latency phase so its own
//!   hop does not distort latency), which counts DynamoDB requests and times each one, splitting
//!   the first and the warm invocations into DynamoDB's time and the function's own.
//!
//! Every CPU ratio is schedstat's on-CPU time on both sides (`schedstat.rs`). The goals are
//! ratios to those floors: warm latency to `UpdateItem` + the no-op round trip, CPU to the no-op
//! invocation + the bare SDK call (and to the peer's), init to the no-op init + one `GetItem`,
//! the first invocation to its floor and, through the proxy, its own time to a warm one's.
//!
//! Environment: `BENCH_FUNCTION_BIN`, `BENCH_NOOP_BIN`, `BENCH_BARE_BIN`, `BENCH_ZIP` (paths;
//! `scripts/bench.sh` sets them), `BENCH_RUNS`, `BENCH_WARM`, `BENCH_LONG` and `BENCH_LOGS` to
//! shrink the run for a quick look, and `BENCH_OUT` to write the results elsewhere than `bench/`.
//!
//! Modules: `workloads` (what is asked), `update_item` (the function's `UpdateItem`, shared with
//! `examples/bare-update`), `process` and `schedstat` (starting and watching a process), `floors`,
//! `measurement`, `breakdown` (a proxied invocation's time), `stats`, `figures`, `machine`,
//! `report`, `chart`.

// The every-field log is one large json! literal.
#![recursion_limit = "256"]

mod breakdown;
mod chart;
mod figures;
mod floors;
mod machine;
mod measurement;
mod process;
#[path = "../../tests/it/proxy.rs"]
// Only pass-through forwarding and its request count are used here; the faults serve the tests.
#[allow(dead_code)]
mod proxy;
mod report;
#[path = "../../tests/it/runtime_api.rs"]
mod runtime_api;
mod schedstat;
mod stats;
#[path = "../../tests/it/support.rs"]
// Only DynamoDB Local, fresh tables, keys, logs and the event builder are used here; the call
// counter, log capture and in-process sends serve the tests.
#[allow(dead_code)]
mod support;
mod update_item;
mod workloads;

use std::fmt::Display;
use std::path::PathBuf;
use std::process::Command;

use crate::figures::SizeFigures;
use crate::machine::{Machine, Sizes};
use crate::measurement::{measure, Launch, Launches};
use crate::report::Report;

/// The chart beside `bench/results.md`.
const CHART: &str = "latency.svg";

type Fallible<T> = Result<T, String>;

fn because<E: Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

fn main() {
    if let Err(e) = run() {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

/// Sizes of the run. The defaults are what the committed results use.
#[derive(Debug, Clone, Copy)]
struct Config {
    /// Fresh process starts, each timed.
    runs: usize,
    /// Timed warm invocations per start (after the first invocation).
    warm: usize,
    /// Invocations of the last start, for memory; sampled at `long / 10` and at `long`.
    long: usize,
    /// Raw `UpdateItem`s per round (one round before each start).
    floor: usize,
    /// No-op invocations per round.
    noop: usize,
    /// Warm invocations counted through the proxy.
    counted: usize,
    /// Untimed warm-up before the rounds: function invocations, raw `UpdateItem`s.
    warmup: usize,
    /// Untimed calls of the bare SDK client before its timed ones (`floor` of them), each round.
    bare_warmup: usize,
    /// Timed warm invocations per start of the Python peer (a few times slower).
    peer_warm: usize,
}

impl Config {
    fn from_env() -> Fallible<Self> {
        let var = |name: &str, default: usize| -> Fallible<usize> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{name}={v}: want a positive integer")),
                Err(_) => Ok(default),
            }
        };
        let runs = var("BENCH_RUNS", 5)?;
        let warm = var("BENCH_WARM", 2_000)?;
        let long = var("BENCH_LONG", 10_000)?.max(warm + 1).max(10);
        Ok(Self {
            runs,
            warm,
            long,
            floor: (warm / 2).max(100),
            noop: (warm / 2).max(100),
            counted: (warm / 2).max(100),
            warmup: (warm / 2).max(100),
            bare_warmup: 100,
            peer_warm: (warm / 4).max(50),
        })
    }

    fn early(&self) -> usize {
        self.long / 10
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn path_from_env(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(default))
}

/// The Python peer (`bench/peer/peer.py`) under `awslambdaric`, as Lambda's Python runtime
/// starts a handler.
fn peer_launch(python: PathBuf) -> Fallible<Launch> {
    let dir = root().join("bench/peer");
    let ok = Command::new(&python)
        .args(["-c", "import awslambdaric, boto3"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err(format!(
            "{} cannot import awslambdaric and boto3: run scripts/bench.sh, which installs them \
             in the project's .venv/bench (or set BENCH_PYTHON)",
            python.display()
        ));
    }
    Ok(Launch {
        name: "peer",
        program: python,
        args: ["-m", "awslambdaric", "peer.handler"]
            .map(String::from)
            .to_vec(),
        env: vec![("PYTHONPATH".into(), dir.display().to_string())],
    })
}

fn run() -> Fallible<()> {
    let config = Config::from_env()?;
    let function_bin = path_from_env("BENCH_FUNCTION_BIN", "target/release/update-log-by-ref");
    let noop_bin = path_from_env("BENCH_NOOP_BIN", "target/release/examples/noop-function");
    let bare_bin = path_from_env("BENCH_BARE_BIN", "target/release/examples/bare-update");
    let zip = path_from_env("BENCH_ZIP", "target/lambda/update-log-by-ref/bootstrap.zip");
    for bin in [&function_bin, &noop_bin, &bare_bin] {
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: run scripts/bench.sh, which builds it",
                bin.display()
            ));
        }
    }
    let python = path_from_env("BENCH_PYTHON", ".venv/bench/bin/python");
    let machine = Machine::now();
    eprintln!(
        "bench: {} runs x {} warm invocations, memory over {} ({} CPUs, load {})",
        config.runs, config.warm, config.long, machine.nproc, machine.load_start
    );
    eprintln!("bench: starting DynamoDB Local");
    let endpoint = support::endpoint().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(because("tokio runtime"))?;
    let launches = Launches {
        function: Launch {
            name: "update-log-by-ref",
            program: function_bin.clone(),
            args: vec![],
            env: vec![],
        },
        peer: peer_launch(python)?,
        noop: noop_bin,
        bare: bare_bin,
    };
    let measured = rt.block_on(measure(config, &launches, &endpoint))?;
    let sizes = Sizes {
        binary: std::fs::metadata(&function_bin)
            .map_err(because("release binary size"))?
            .len(),
        zip: std::fs::metadata(&zip).ok().map(|m| m.len()),
        zip_path: zip,
    };
    let machine = machine.finish();
    let report = Report::new(config, machine, &measured, sizes);
    println!("{}", report.text());
    let dir = path_from_env("BENCH_OUT", "bench");
    std::fs::create_dir_all(&dir).map_err(because("create the output folder"))?;
    let figures: Vec<SizeFigures> = measured
        .sizes
        .iter()
        .map(|s| SizeFigures::of(s, measured.ticks_per_second, config.long))
        .collect();
    chart::draw(&dir.join(CHART), &figures)?;
    let json = serde_json::to_string_pretty(&report.json()).map_err(because("results.json"))?;
    std::fs::write(dir.join("results.json"), json + "\n").map_err(because("results.json"))?;
    std::fs::write(dir.join("results.md"), report.markdown(CHART))
        .map_err(because("results.md"))?;
    eprintln!(
        "bench: wrote results.json, results.md and {CHART} in {}",
        dir.display()
    );
    Ok(())
}
