//! The measurement: for each size of log, fresh starts of the function and of the Python peer
//! interleaved with the floors, and a separate start through the proxy that counts DynamoDB
//! requests and times them.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::breakdown::{Breakdown, Invocation};
use crate::floors::{bare_updates, BareRun, Noop, RawDynamo};
use crate::process::{settle, Cpu, Memory, Process};
use crate::proxy::FaultProxy;
use crate::runtime_api::RuntimeApi;
use crate::support::Env;
use crate::workloads::{expect_ok, warm_up_requests, Fixture, Workload, LOGS, ORGANIZATION};
use crate::{Config, Fallible};

/// How to start a function: the release binary, or the peer under `awslambdaric`.
pub struct Launch {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Beside Lambda's environment.
    pub env: Vec<(String, String)>,
}

impl Launch {
    fn spawn(&self, fixture: &Fixture, api: &str, dynamodb: &str) -> Fallible<Process> {
        let mut env = fixture.function_env(api, self.name, dynamodb);
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Process::spawn(&self.program, &args, &env)
    }
}

/// What runs: the function, its peer, the do-nothing function, the bare SDK client.
pub struct Launches {
    pub function: Launch,
    pub peer: Launch,
    pub noop: PathBuf,
    pub bare: PathBuf,
}

pub struct Start {
    pub init: Duration,
    pub init_cpu: Cpu,
    pub first: Duration,
    /// CPU and page faults of the first invocation.
    pub first_cpu: Cpu,
    pub warm: Vec<Duration>,
    pub warm_cpu: Cpu,
    pub log_bytes: u64,
    pub log_lines: u64,
    /// Memory after `early` invocations (a long start only).
    pub early: Option<Memory>,
    /// Memory at the end: after the warm invocations, or after all of a long start's.
    pub end: Memory,
}

/// One fresh start: init, the first invocation, `warm` timed invocations, then up to `total`
/// invocations in all (memory is sampled at `early` and at the end).
async fn start(
    launch: &Launch,
    fixture: &Fixture,
    dynamodb: &str,
    warm: usize,
    total: usize,
    early: usize,
) -> Fallible<Start> {
    let mut api = RuntimeApi::start().await?;
    let process = launch.spawn(fixture, &api.address, dynamodb)?;
    let polled = api.first_poll().await?;
    let init = polled - process.spawned;
    let init_cpu = process.cpu()?;

    let answer = api.invoke(fixture.event(0)).await?;
    expect_ok(&answer, &process)?;
    let first = answer.latency();
    settle().await;

    let cpu_before = process.cpu()?;
    let first_cpu = cpu_before - init_cpu;
    let (bytes_before, lines_before) = process.output.totals();
    let mut latencies = Vec::with_capacity(warm);
    let mut memory_early = None;
    for i in 1..=warm {
        let answer = api.invoke(fixture.event(i)).await?;
        expect_ok(&answer, &process)?;
        latencies.push(answer.latency());
        if i + 1 == early {
            memory_early = Some(process.memory()?);
        }
    }
    settle().await;
    let warm_cpu = process.cpu()? - cpu_before;
    let (bytes_after, lines_after) = process.output.totals();
    for i in warm + 1..total {
        let answer = api.invoke(fixture.event(i)).await?;
        expect_ok(&answer, &process)?;
        if i + 1 == early {
            memory_early = Some(process.memory()?);
        }
    }
    settle().await;
    let end = process.memory()?;
    drop(process);
    Ok(Start {
        init,
        init_cpu,
        first,
        first_cpu,
        warm: latencies,
        warm_cpu,
        log_bytes: bytes_after - bytes_before,
        log_lines: lines_after - lines_before,
        early: memory_early,
        end,
    })
}

/// DynamoDB requests of one start, counted by the proxy, and where its invocations' time went.
pub struct Counted {
    pub init: usize,
    pub first: usize,
    pub warm: usize,
    pub invocations: usize,
    pub breakdown: Breakdown,
}

fn on_cpu(cpu: Cpu) -> Duration {
    Duration::from_nanos(cpu.run_ns)
}

async fn count_requests(
    launch: &Launch,
    fixture: &Fixture,
    endpoint: &str,
    n: usize,
) -> Fallible<Counted> {
    let proxy = FaultProxy::start(endpoint).await;
    let mut api = RuntimeApi::start().await?;
    let at_spawn = proxy.requests();
    let process = launch.spawn(fixture, &api.address, &proxy.url)?;
    api.first_poll().await?;
    // Anything init left running in the background gets time to reach DynamoDB.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let at_first = proxy.requests();
    let cpu_before = process.cpu()?;
    let first = api.invoke(fixture.event(0)).await?;
    expect_ok(&first, &process)?;
    settle().await;
    let cpu_first = process.cpu()?;
    let after_first = proxy.requests();
    let mut warm = Vec::with_capacity(n);
    for i in 1..=n {
        let answer = api.invoke(fixture.event(i)).await?;
        expect_ok(&answer, &process)?;
        warm.push((answer.handed_out, answer.received));
    }
    settle().await;
    let cpu_warm = process.cpu()?;
    let after_warm = proxy.requests();
    drop(process);
    let exchanges = proxy.exchanges();
    let warm: Vec<Invocation> = warm
        .into_iter()
        .map(|(handed_out, received)| Invocation::of(handed_out, received, &exchanges))
        .collect();
    Ok(Counted {
        init: at_first - at_spawn,
        first: after_first - at_first,
        warm: after_warm - after_first,
        invocations: n,
        breakdown: Breakdown::of(
            Invocation::of(first.handed_out, first.received, &exchanges),
            &warm,
            on_cpu(cpu_first - cpu_before),
            on_cpu(cpu_warm - cpu_first) / n.max(1) as u32,
        ),
    })
}

/// Everything measured with one size of log.
pub struct Size {
    pub workload: Workload,
    pub function: Vec<Start>,
    pub peer: Vec<Start>,
    pub floor_update: Vec<Duration>,
    pub floor_get: Vec<Duration>,
    pub noop: Vec<Duration>,
    pub noop_cpu: Cpu,
    /// The no-op function's init, one per round.
    pub noop_inits: Vec<Duration>,
    /// The no-op function's peak RSS after its invocations, one per round: what the runtime, the
    /// C library and the loader hold before any of the function's own code runs.
    pub noop_peaks_kib: Vec<u64>,
    pub bare: Vec<BareRun>,
    pub counted: Counted,
}

pub struct Measured {
    pub sizes: Vec<Size>,
    pub ticks_per_second: u64,
}

pub async fn measure(config: Config, launches: &Launches, endpoint: &str) -> Fallible<Measured> {
    let workloads = Workload::selected()?;
    let mut raw = RawDynamo::connect(endpoint).await?;
    // A cold DynamoDB Local on a loaded machine can take longer than the tests' client allows
    // for an attempt (and a retried conditional put would then fail): warm it up first.
    raw.warm_up(&[("ListTables", "{}".into())], 200).await?;
    let env = Env::new().await;
    raw.warm_up(&warm_up_requests(env.store.tables()), 100)
        .await?;
    let key = env.api_key(ORGANIZATION).await;
    let mut sizes = Vec::with_capacity(workloads.len());
    for workload in workloads {
        eprintln!("bench: {}: seeding {LOGS} logs", workload.label());
        let fixture = Fixture::seed(&env, &key, &workload).await;
        let rounds = Rounds {
            config,
            launches,
            endpoint,
            fixture: &fixture,
        };
        sizes.push(rounds.run(workload, &mut raw).await?);
    }
    Ok(Measured {
        sizes,
        ticks_per_second: clock_ticks(),
    })
}

/// The rounds of one size of log.
struct Rounds<'a> {
    config: Config,
    launches: &'a Launches,
    endpoint: &'a str,
    fixture: &'a Fixture,
}

impl Rounds<'_> {
    async fn start(
        &self,
        launch: &Launch,
        warm: usize,
        total: usize,
        early: usize,
    ) -> Fallible<Start> {
        start(launch, self.fixture, self.endpoint, warm, total, early).await
    }

    async fn bare(&self, warm_up: usize, calls: usize) -> Fallible<BareRun> {
        let bin = &self.launches.bare;
        bare_updates(bin, self.fixture, self.endpoint, warm_up, calls).await
    }

    async fn run(&self, workload: Workload, raw: &mut RawDynamo) -> Fallible<Size> {
        let (config, launches, fixture) = (self.config, self.launches, self.fixture);
        eprintln!("bench: warm-up (discarded): DynamoDB Local's JIT, the page cache");
        raw.updates(fixture, config.warmup).await?;
        raw.gets(fixture, config.warmup).await?;
        self.start(&launches.function, config.warmup, 0, 0).await?;
        self.start(&launches.peer, config.peer_warm, 0, 0).await?;
        Noop::start(&launches.noop, fixture)
            .await?
            .invocations(fixture, config.warmup)
            .await?;
        self.bare(config.bare_warmup, config.floor).await?;

        let (mut function, mut peer) = (vec![], vec![]);
        let (mut floor_update, mut floor_get) = (vec![], vec![]);
        let (mut noop_latencies, mut noop_cpu, mut noop_inits) = (vec![], Cpu::default(), vec![]);
        let mut noop_peaks_kib = vec![];
        let mut bare = vec![];
        for run in 0..config.runs {
            floor_update.extend(raw.updates(fixture, config.floor).await?);
            floor_get.extend(raw.gets(fixture, config.floor).await?);
            let mut noop = Noop::start(&launches.noop, fixture).await?;
            noop_inits.push(noop.init);
            let (latencies, cpu) = noop.invocations(fixture, config.noop).await?;
            noop_peaks_kib.push(noop.process.memory()?.hwm_kib);
            drop(noop);
            noop_latencies.extend(latencies);
            noop_cpu += cpu;
            bare.push(self.bare(config.bare_warmup, config.floor).await?);
            let last = run + 1 == config.runs;
            let (total, early) = if last {
                (config.long, config.early())
            } else {
                (0, 0)
            };
            eprintln!(
                "bench: start {}/{}: {} warm invocations{}, then the peer's {}",
                run + 1,
                config.runs,
                config.warm,
                if last {
                    format!(", then up to {total} for memory")
                } else {
                    String::new()
                },
                config.peer_warm
            );
            function.push(
                self.start(&launches.function, config.warm, total, early)
                    .await?,
            );
            peer.push(self.start(&launches.peer, config.peer_warm, 0, 0).await?);
        }
        eprintln!("bench: counting DynamoDB requests through a proxy (separate start)");
        let counted =
            count_requests(&launches.function, fixture, self.endpoint, config.counted).await?;
        Ok(Size {
            workload,
            function,
            peer,
            floor_update,
            floor_get,
            noop: noop_latencies,
            noop_cpu,
            noop_inits,
            noop_peaks_kib,
            bare,
            counted,
        })
    }
}

pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}
