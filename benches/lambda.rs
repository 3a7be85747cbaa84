//! The function as Lambda runs it, measured. Run `scripts/bench.sh`: it builds the release
//! function, the do-nothing `examples/noop-function` and the arm64 deployment zip, then runs this
//! (`cargo bench --bench lambda`). Not a test: every figure is printed beside its goal as PASS or
//! MISS, and a miss never fails the run. Writes `bench/results.json` and `bench/results.md`.
//!
//! What runs, all on loopback:
//! - DynamoDB Local (the tests' support: a free port, stopped when this process ends), with
//!   fresh tables, one API key and `LOGS` seeded logs (the shape of `events/seed-log.json`);
//! - a Lambda Runtime API emulator (below). Latency is measured inside it: from handing out an
//!   event (the answer to `GET /runtime/invocation/next`) to receiving the function's response;
//! - the release `update-log-by-ref` binary, started fresh `runs` times with Lambda's
//!   environment, text logs at INFO, stdout and stderr drained, each time killed and reaped;
//! - the floors, interleaved with those starts so all see the same machine and the same warm
//!   JVM: a raw keep-alive `UpdateItem` straight to DynamoDB Local, and the emulator's round
//!   trip with the no-op function;
//! - last, a separate start through the tests' proxy, which counts DynamoDB requests (kept out
//!   of the latency phase so its own hop does not distort latency).
//!
//! Environment: `BENCH_FUNCTION_BIN`, `BENCH_NOOP_BIN`, `BENCH_ZIP` (paths; `scripts/bench.sh`
//! sets them), and `BENCH_RUNS`, `BENCH_WARM`, `BENCH_LONG` to shrink the run for a quick look.

#[path = "../tests/it/proxy.rs"]
// Only pass-through forwarding and its request count are used here; the faults serve the tests.
#[allow(dead_code)]
mod proxy;
#[path = "../tests/it/runtime_api.rs"]
mod runtime_api;
#[path = "../tests/it/support.rs"]
// Only DynamoDB Local, fresh tables, keys, logs and the event builder are used here; the call
// counter, log capture and in-process sends serve the tests.
#[allow(dead_code)]
mod support;

use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::proxy::FaultProxy;
use crate::runtime_api::{Answer, RuntimeApi};
use crate::support::{Env, Event, Source};

const ORGANIZATION: &str = "bench-org";
/// Seeded logs; invocations and raw `UpdateItem`s rotate over them.
const LOGS: usize = 64;
/// Memory growth from `early` to `long` invocations still called flat (16 pages).
const FLAT_KIB: u64 = 64;
const MIB: f64 = 1024.0 * 1024.0;

// The goals the figures are judged against.
const GOAL_INIT: Duration = Duration::from_millis(5);
const GOAL_FIRST_OVER_WARM: f64 = 1.3;
const GOAL_WARM_OVER_FLOOR: f64 = 1.5;
const GOAL_CPU: Duration = Duration::from_micros(500);
const GOAL_REQUESTS: f64 = 1.0;
const GOAL_RSS_KIB: u64 = 8 * 1024;
const GOAL_ZIP_BYTES: u64 = 3_000_000;

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

fn run() -> Fallible<()> {
    let config = Config::from_env()?;
    let function_bin = path_from_env("BENCH_FUNCTION_BIN", "target/release/update-log-by-ref");
    let noop_bin = path_from_env("BENCH_NOOP_BIN", "target/release/examples/noop-function");
    let zip = path_from_env("BENCH_ZIP", "target/lambda/update-log-by-ref/bootstrap.zip");
    for bin in [&function_bin, &noop_bin] {
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: run scripts/bench.sh, which builds it",
                bin.display()
            ));
        }
    }
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
    let bins = Bins {
        function: function_bin.clone(),
        noop: noop_bin,
    };
    let measured = rt.block_on(measure(config, &bins, &endpoint))?;
    let sizes = Sizes {
        binary: std::fs::metadata(&function_bin)
            .map_err(because("release binary size"))?
            .len(),
        zip: std::fs::metadata(&zip).ok().map(|m| m.len()),
        zip_path: zip,
    };
    let machine = machine.finish();
    let report = Report::new(config, machine, measured, sizes);
    println!("{}", report.text());
    let dir = root().join("bench");
    std::fs::create_dir_all(&dir).map_err(because("create bench/"))?;
    let json = serde_json::to_string_pretty(&report.json()).map_err(because("results.json"))?;
    std::fs::write(dir.join("results.json"), json + "\n").map_err(because("results.json"))?;
    std::fs::write(dir.join("results.md"), report.markdown()).map_err(because("results.md"))?;
    eprintln!("bench: wrote bench/results.json and bench/results.md");
    Ok(())
}

struct Bins {
    function: PathBuf,
    noop: PathBuf,
}

/// The seeded tables and the events that update them.
struct Fixture {
    env: Env,
    /// One Lambda event (HTTP API, payload v2) per seeded log, serialized once.
    events: Vec<Bytes>,
    /// The raw `UpdateItem` body the function sends for each event, for the floor.
    update_items: Vec<Bytes>,
}

impl Fixture {
    async fn seed() -> Fallible<Self> {
        let env = Env::new().await;
        let key = env.api_key(ORGANIZATION).await;
        let seed: Value = serde_json::from_str(include_str!("../events/seed-log.json"))
            .map_err(because("events/seed-log.json"))?;
        let mut events = Vec::with_capacity(LOGS);
        let mut update_items = Vec::with_capacity(LOGS);
        for i in 0..LOGS {
            let reference = format!("bench-log-{i:03}");
            let mut log = seed.clone();
            log["reference_id"] = json!(reference);
            log["id"] = json!(format!("data_bench{i:022}"));
            env.put_log(ORGANIZATION, log).await;
            let event = Event::patch(Source::HttpV2)
                .reference(&reference)
                .key(&key)
                .json(json!({"output": "4", "duration": 0.42}))
                .to_event();
            events.push(Bytes::from(event.to_string()));
            update_items.push(update_item_body(&env.store.tables().logs, &reference));
        }
        Ok(Self {
            env,
            events,
            update_items,
        })
    }

    fn event(&self, i: usize) -> Bytes {
        self.events[i % self.events.len()].clone()
    }

    /// The function's environment on Lambda, with DynamoDB at `dynamodb`.
    fn function_env<'a>(&'a self, api: &'a str, dynamodb: &'a str) -> Vec<(&'a str, &'a str)> {
        let tables = self.env.store.tables();
        let mut env = lambda_env(api, "update-log-by-ref");
        env.extend([
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
            ("LOGS_TABLE_NAME", tables.logs.as_str()),
            ("API_KEYS_TABLE_NAME", tables.api_keys.as_str()),
        ]);
        env
    }
}

/// What Lambda's runtime client needs. Log format and level are left at their defaults (text,
/// INFO), as in production.
fn lambda_env<'a>(api: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ]
}

/// The `UpdateItem` the function sends for `{"output": "4", "duration": 0.42}`, as DynamoDB's
/// JSON protocol carries it.
fn update_item_body(table: &str, reference: &str) -> Bytes {
    let body = json!({
        "TableName": table,
        "Key": {"reference_id": {"S": reference}},
        "UpdateExpression": "SET #updated_at = :updated_at, \
            #version = if_not_exists(#version, :zero) + :one, #output = :output, \
            #duration = :duration",
        "ConditionExpression": "attribute_exists(#reference_id) AND #organization_id = :org",
        "ExpressionAttributeNames": {
            "#reference_id": "reference_id",
            "#organization_id": "organization_id",
            "#version": "version",
            "#updated_at": "updated_at",
            "#output": "output",
            "#duration": "duration"
        },
        "ExpressionAttributeValues": {
            ":org": {"S": ORGANIZATION},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":updated_at": {"S": "2026-01-01T00:00:00.000000Z"},
            ":output": {"S": "4"},
            ":duration": {"N": "4.2e-1"}
        },
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"
    });
    Bytes::from(body.to_string())
}

/// The HTTP status in an API Gateway response document.
fn expect_ok(answer: &Answer, process: &Process) -> Fallible<()> {
    let status = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("statusCode").and_then(Value::as_u64));
    if !answer.error && status == Some(200) {
        return Ok(());
    }
    Err(format!(
        "the function answered {} instead of a 200: {}\nits output began:\n{}",
        if answer.error {
            "an error"
        } else {
            "a response"
        },
        String::from_utf8_lossy(&answer.body),
        process.output.head()
    ))
}

// ---------------------------------------------------------------------------------------------
// Function processes.

#[derive(Default)]
struct Output {
    bytes: AtomicU64,
    lines: AtomicU64,
    /// The first few KiB, shown if the function misbehaves.
    head: Mutex<Vec<u8>>,
}

impl Output {
    fn record(&self, chunk: &[u8]) {
        self.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let lines = chunk.iter().filter(|b| **b == b'\n').count();
        self.lines.fetch_add(lines as u64, Ordering::Relaxed);
        let mut head = self.head.lock().expect("head");
        let room = (8 * 1024usize).saturating_sub(head.len());
        head.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    fn head(&self) -> String {
        String::from_utf8_lossy(&self.head.lock().expect("head")).into_owned()
    }

    fn totals(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.lines.load(Ordering::Relaxed),
        )
    }
}

/// A started function: stdout and stderr drained by two blocking threads; killed and reaped
/// when dropped.
struct Process {
    child: Child,
    spawned: Instant,
    output: Arc<Output>,
    drains: Vec<std::thread::JoinHandle<()>>,
}

impl Process {
    fn spawn(bin: &Path, env: &[(&str, &str)]) -> Fallible<Self> {
        let mut command = Command::new(bin);
        command
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let output = Arc::new(Output::default());
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        let drains = streams
            .into_iter()
            .map(|mut stream| {
                let output = output.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        output.record(&buf[..n]);
                    }
                })
            })
            .collect();
        Ok(Self {
            child,
            spawned,
            output,
            drains,
        })
    }

    /// CPU time so far.
    fn cpu(&self) -> Fallible<Cpu> {
        let pid = self.child.id();
        let (user, system) = self.cpu_ticks()?;
        let (mut run_ns, mut threads) = (0, 0);
        let tasks =
            std::fs::read_dir(format!("/proc/{pid}/task")).map_err(because("/proc/<pid>/task"))?;
        for task in tasks.filter_map(Result::ok) {
            // A thread that ended meanwhile has no schedstat any more.
            if let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) {
                threads += 1;
                run_ns += schedstat
                    .split_whitespace()
                    .next()
                    .and_then(|ns| ns.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        Ok(Cpu {
            ticks: user + system,
            system_ticks: system,
            run_ns,
            threads,
        })
    }

    /// User and system CPU time so far, in clock ticks, all threads (ended ones included).
    fn cpu_ticks(&self) -> Fallible<(u64, u64)> {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(because("/proc/<pid>/stat"))?;
        // Fields after the command name (which may hold spaces): state is field 3, utime 14,
        // stime 15.
        let rest = stat
            .rfind(')')
            .map(|i| &stat[i + 1..])
            .ok_or("malformed /proc/<pid>/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> Fallible<u64> {
            fields
                .get(n - 3)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| format!("/proc/<pid>/stat field {n}"))
        };
        Ok((field(14)?, field(15)?))
    }

    fn memory(&self) -> Fallible<Memory> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(because("/proc/<pid>/status"))?;
        let kib = |name: &str| -> Fallible<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| format!("/proc/<pid>/status {name}"))
        };
        Ok(Memory {
            hwm_kib: kib("VmHWM:")?,
            rss_kib: kib("VmRSS:")?,
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for drain in self.drains.drain(..) {
            let _ = drain.join();
        }
    }
}

/// A process's CPU time: user + system from `/proc/<pid>/stat` (clock ticks, every thread,
/// ended ones included), and the scheduler's on-CPU time of its live threads from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds: fine enough for init).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    /// User + system.
    ticks: u64,
    system_ticks: u64,
    run_ns: u64,
    threads: usize,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;

    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            ticks: self.ticks - earlier.ticks,
            system_ticks: self.system_ticks.saturating_sub(earlier.system_ticks),
            run_ns: self.run_ns.saturating_sub(earlier.run_ns),
            threads: self.threads,
        }
    }
}

impl std::ops::AddAssign for Cpu {
    fn add_assign(&mut self, other: Cpu) {
        self.ticks += other.ticks;
        self.system_ticks += other.system_ticks;
        self.run_ns += other.run_ns;
        self.threads = self.threads.max(other.threads);
    }
}

#[derive(Debug, Clone, Copy)]
struct Memory {
    hwm_kib: u64,
    rss_kib: u64,
}

/// Lets a just-answered function finish its `GET /next` before its counters are read, so that
/// every reading sees it idle.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

// ---------------------------------------------------------------------------------------------
// The measurement.

struct Start {
    init: Duration,
    init_cpu: Cpu,
    first: Duration,
    warm: Vec<Duration>,
    warm_cpu: Cpu,
    log_bytes: u64,
    log_lines: u64,
    /// Memory after `early` and `long` invocations (the last start only).
    early: Option<Memory>,
    long: Option<Memory>,
}

/// One fresh start of the function: init, the first invocation, `warm` timed invocations, then
/// up to `total` invocations in all (memory is sampled at `early` and at `total`).
async fn start_function(
    bin: &Path,
    fixture: &Fixture,
    dynamodb: &str,
    warm: usize,
    total: usize,
    early: usize,
) -> Fallible<Start> {
    let mut api = RuntimeApi::start().await?;
    let process = Process::spawn(bin, &fixture.function_env(&api.address, dynamodb))?;
    let polled = api.first_poll().await?;
    let init = polled - process.spawned;
    let init_cpu = process.cpu()?;

    let answer = api.invoke(fixture.event(0)).await?;
    expect_ok(&answer, &process)?;
    let first = answer.latency;
    settle().await;

    let cpu_before = process.cpu()?;
    let (bytes_before, lines_before) = process.output.totals();
    let mut latencies = Vec::with_capacity(warm);
    let mut memory_early = None;
    for i in 1..=warm {
        let answer = api.invoke(fixture.event(i)).await?;
        expect_ok(&answer, &process)?;
        latencies.push(answer.latency);
        if i + 1 == early {
            memory_early = Some(process.memory()?);
        }
    }
    settle().await;
    let warm_cpu = process.cpu()? - cpu_before;
    let (bytes_after, lines_after) = process.output.totals();

    let mut memory_long = None;
    if total > warm + 1 {
        for i in warm + 1..total {
            let answer = api.invoke(fixture.event(i)).await?;
            expect_ok(&answer, &process)?;
            if i + 1 == early {
                memory_early = Some(process.memory()?);
            }
        }
        settle().await;
        memory_long = Some(process.memory()?);
    }
    drop(process);
    Ok(Start {
        init,
        init_cpu,
        first,
        warm: latencies,
        warm_cpu,
        log_bytes: bytes_after - bytes_before,
        log_lines: lines_after - lines_before,
        early: memory_early.filter(|_| memory_long.is_some()),
        long: memory_long,
    })
}

/// The do-nothing function, kept running across rounds under its own emulator.
struct Noop {
    api: RuntimeApi,
    process: Process,
    init: Duration,
}

impl Noop {
    async fn start(bin: &Path) -> Fallible<Self> {
        let api = RuntimeApi::start().await?;
        let process = Process::spawn(bin, &lambda_env(&api.address, "noop-function"))?;
        let init = api.first_poll().await? - process.spawned;
        Ok(Self { api, process, init })
    }

    /// `n` invocations with the function's own events: latencies, CPU.
    async fn invocations(&mut self, fixture: &Fixture, n: usize) -> Fallible<(Vec<Duration>, Cpu)> {
        settle().await;
        let cpu_before = self.process.cpu()?;
        let mut latencies = Vec::with_capacity(n);
        for i in 0..n {
            let answer = self.api.invoke(fixture.event(i)).await?;
            expect_ok(&answer, &self.process)?;
            latencies.push(answer.latency);
        }
        settle().await;
        Ok((latencies, self.process.cpu()? - cpu_before))
    }
}

/// A keep-alive HTTP/1.1 connection to DynamoDB Local sending prepared `UpdateItem`s. DynamoDB
/// Local requires a well-formed SigV4 `Authorization` header but does not verify the signature.
struct RawDynamo {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    connection: tokio::task::JoinHandle<()>,
    host: String,
}

const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=bench/20260101/us-east-1/dynamodb/aws4_request, \
    SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

impl RawDynamo {
    async fn connect(endpoint: &str) -> Fallible<Self> {
        let host = endpoint.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host)
            .await
            .map_err(because("connect to DynamoDB Local"))?;
        // As the SDK's client does.
        stream.set_nodelay(true).map_err(because("TCP_NODELAY"))?;
        let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(because("HTTP/1.1 handshake"))?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            send,
            connection,
            host,
        })
    }

    async fn update_item(&mut self, body: Bytes) -> Fallible<Duration> {
        let request = Request::post("/")
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "DynamoDB_20120810.UpdateItem")
            .header("x-amz-date", "20260101T000000Z")
            .header("authorization", AUTHORIZATION)
            .body(Full::new(body))
            .map_err(because("UpdateItem request"))?;
        self.send
            .ready()
            .await
            .map_err(because("DynamoDB Local connection"))?;
        let started = Instant::now();
        let response = self
            .send
            .send_request(request)
            .await
            .map_err(because("UpdateItem"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(because("UpdateItem response"))?
            .to_bytes();
        let elapsed = started.elapsed();
        if status != StatusCode::OK {
            return Err(format!(
                "raw UpdateItem answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(elapsed)
    }

    async fn batch(&mut self, fixture: &Fixture, n: usize) -> Fallible<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(n);
        for i in 0..n {
            let body = fixture.update_items[i % fixture.update_items.len()].clone();
            latencies.push(self.update_item(body).await?);
        }
        Ok(latencies)
    }
}

impl Drop for RawDynamo {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// DynamoDB requests of one start, counted by the proxy.
struct Counted {
    init: usize,
    first: usize,
    warm: usize,
    invocations: usize,
}

async fn count_requests(
    bin: &Path,
    fixture: &Fixture,
    endpoint: &str,
    n: usize,
) -> Fallible<Counted> {
    let proxy = FaultProxy::start(endpoint).await;
    let mut api = RuntimeApi::start().await?;
    let at_spawn = proxy.requests();
    let process = Process::spawn(bin, &fixture.function_env(&api.address, &proxy.url))?;
    api.first_poll().await?;
    // Anything init left running in the background gets time to reach DynamoDB.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let at_first = proxy.requests();
    let answer = api.invoke(fixture.event(0)).await?;
    expect_ok(&answer, &process)?;
    settle().await;
    let after_first = proxy.requests();
    for i in 1..=n {
        let answer = api.invoke(fixture.event(i)).await?;
        expect_ok(&answer, &process)?;
    }
    settle().await;
    let after_warm = proxy.requests();
    drop(process);
    Ok(Counted {
        init: at_first - at_spawn,
        first: after_first - at_first,
        warm: after_warm - after_first,
        invocations: n,
    })
}

struct Measured {
    starts: Vec<Start>,
    floor: Vec<Duration>,
    noop: Vec<Duration>,
    noop_cpu: Cpu,
    noop_init: Duration,
    counted: Counted,
    ticks_per_second: u64,
}

async fn measure(config: Config, bins: &Bins, endpoint: &str) -> Fallible<Measured> {
    eprintln!("bench: seeding {LOGS} logs and an API key");
    let fixture = Fixture::seed().await?;
    let ticks_per_second = clock_ticks();

    eprintln!("bench: warm-up (discarded): DynamoDB Local's JIT, the page cache");
    let mut raw = RawDynamo::connect(endpoint).await?;
    raw.batch(&fixture, config.warmup).await?;
    start_function(&bins.function, &fixture, endpoint, config.warmup, 0, 0).await?;
    let mut noop = Noop::start(&bins.noop).await?;
    noop.invocations(&fixture, config.warmup).await?;

    let mut starts = Vec::with_capacity(config.runs);
    let (mut floor, mut noop_latencies, mut noop_cpu) = (vec![], vec![], Cpu::default());
    for run in 0..config.runs {
        floor.extend(raw.batch(&fixture, config.floor).await?);
        let (latencies, cpu) = noop.invocations(&fixture, config.noop).await?;
        noop_latencies.extend(latencies);
        noop_cpu += cpu;
        let last = run + 1 == config.runs;
        let (total, early) = if last {
            (config.long, config.early())
        } else {
            (0, 0)
        };
        eprintln!(
            "bench: start {}/{}: {} warm invocations{}",
            run + 1,
            config.runs,
            config.warm,
            if last {
                format!(", then up to {total} for memory")
            } else {
                String::new()
            }
        );
        let start = start_function(
            &bins.function,
            &fixture,
            endpoint,
            config.warm,
            total,
            early,
        )
        .await?;
        starts.push(start);
    }
    let noop_init = noop.init;
    drop(noop);
    drop(raw);

    eprintln!("bench: counting DynamoDB requests through a proxy (separate start)");
    let counted = count_requests(&bins.function, &fixture, endpoint, config.counted).await?;
    Ok(Measured {
        starts,
        floor,
        noop: noop_latencies,
        noop_cpu,
        noop_init,
        counted,
        ticks_per_second,
    })
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

// ---------------------------------------------------------------------------------------------
// Figures, goals and output.

#[derive(Debug, Clone, Copy)]
struct Dist {
    n: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    min: Duration,
    max: Duration,
    mean: Duration,
}

impl Dist {
    /// Nearest-rank percentiles.
    fn of(samples: &[Duration]) -> Self {
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

    fn json(&self) -> Value {
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

fn ms_f(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 * 1024.0 / MIB)
}

fn list(ds: &[Duration]) -> String {
    ds.iter()
        .map(|d| format!("{:.2}", d.as_secs_f64() * 1e3))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Machine {
    nproc: usize,
    cpu: String,
    kernel: String,
    date: String,
    load_start: String,
    load_end: String,
    started: Instant,
    seconds: f64,
}

impl Machine {
    fn now() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
                .unwrap_or_else(|| "unknown".into()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            date: utc_now(),
            load_start: load_average(),
            load_end: String::new(),
            started: Instant::now(),
            seconds: 0.0,
        }
    }

    fn finish(mut self) -> Self {
        self.load_end = load_average();
        self.seconds = self.started.elapsed().as_secs_f64();
        self
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, time) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3_600,
        time % 3_600 / 60,
        time % 60
    )
}

struct Sizes {
    binary: u64,
    zip: Option<u64>,
    zip_path: PathBuf,
}

/// One line of the table: a figure, its value, and its goal with the verdict if it has one.
struct Row {
    figure: String,
    value: String,
    goal: String,
    pass: Option<bool>,
}

fn row(figure: impl Into<String>, value: impl Into<String>) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        goal: String::new(),
        pass: None,
    }
}

fn judged(
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

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "",
    }
}

struct Report {
    config: Config,
    machine: Machine,
    rows: Vec<Row>,
    json: Value,
}

impl Report {
    fn new(config: Config, machine: Machine, m: Measured, sizes: Sizes) -> Self {
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

    fn header(&self) -> String {
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

    fn text(&self) -> String {
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

    fn markdown(&self) -> String {
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

    fn json(&self) -> &Value {
        &self.json
    }
}
