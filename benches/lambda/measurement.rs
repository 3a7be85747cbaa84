//! The measurement: fresh starts of the function interleaved with the floors, and a separate
//! start through the proxy that counts DynamoDB requests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::floors::{Noop, RawDynamo};
use crate::process::{settle, Cpu, Memory, Process};
use crate::proxy::FaultProxy;
use crate::runtime_api::RuntimeApi;
use crate::workloads::{expect_ok, Fixture, LOGS};
use crate::{Config, Fallible};

pub struct Start {
    pub init: Duration,
    pub init_cpu: Cpu,
    pub first: Duration,
    pub warm: Vec<Duration>,
    pub warm_cpu: Cpu,
    pub log_bytes: u64,
    pub log_lines: u64,
    /// Memory after `early` and `long` invocations (the last start only).
    pub early: Option<Memory>,
    pub long: Option<Memory>,
}

/// One fresh start of the function: init, the first invocation, `warm` timed invocations, then
/// up to `total` invocations in all (memory is sampled at `early` and at `total`).
pub async fn start_function(
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

/// DynamoDB requests of one start, counted by the proxy.
pub struct Counted {
    pub init: usize,
    pub first: usize,
    pub warm: usize,
    pub invocations: usize,
}

pub async fn count_requests(
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

pub struct Measured {
    pub starts: Vec<Start>,
    pub floor: Vec<Duration>,
    pub noop: Vec<Duration>,
    pub noop_cpu: Cpu,
    pub noop_init: Duration,
    pub counted: Counted,
    pub ticks_per_second: u64,
}

pub async fn measure(config: Config, bins: &Bins, endpoint: &str) -> Fallible<Measured> {
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

pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

pub struct Bins {
    pub function: PathBuf,
    pub noop: PathBuf,
}
