//! The floors the function is measured against: raw keep-alive `UpdateItem`s and `GetItem`s
//! straight to DynamoDB Local, the emulator's round trip with a do-nothing function (and that
//! function's init), and the function's `UpdateItem` made by the bare SDK client
//! (`examples/bare-update.rs`), whose CPU is the part of a warm invocation's that the SDK needs.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::process::{settle, Cpu, Process};
use crate::runtime_api::RuntimeApi;
use crate::workloads::{expect_ok, lambda_env, Fixture, ORGANIZATION};
use crate::{because, Fallible};

/// The do-nothing function under its own emulator, started afresh in every round: its init is
/// the floor under the function's.
pub struct Noop {
    pub api: RuntimeApi,
    pub process: Process,
    pub init: Duration,
}

impl Noop {
    /// Starts it and makes its first invocation, untimed (the function's warm figures leave out
    /// its first invocation too).
    pub async fn start(bin: &Path, fixture: &Fixture) -> Fallible<Self> {
        let api = RuntimeApi::start().await?;
        let process = Process::spawn(bin, &[], &lambda_env(&api.address, "noop-function"))?;
        let init = api.first_poll().await? - process.spawned;
        let mut noop = Self { api, process, init };
        noop.invocations(fixture, 1).await?;
        Ok(noop)
    }

    /// `n` invocations with the function's own events: latencies, CPU.
    pub async fn invocations(
        &mut self,
        fixture: &Fixture,
        n: usize,
    ) -> Fallible<(Vec<Duration>, Cpu)> {
        settle().await;
        let cpu_before = self.process.cpu()?;
        let mut latencies = Vec::with_capacity(n);
        for i in 0..n {
            let answer = self.api.invoke(fixture.event(i)).await?;
            expect_ok(&answer, &self.process)?;
            latencies.push(answer.latency());
        }
        settle().await;
        Ok((latencies, self.process.cpu()? - cpu_before))
    }
}

/// A keep-alive HTTP/1.1 connection to DynamoDB Local sending prepared requests. DynamoDB Local
/// requires a well-formed SigV4 `Authorization` header but does not verify the signature.
pub struct RawDynamo {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    connection: tokio::task::JoinHandle<()>,
    host: String,
}

const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=bench/20260101/us-east-1/dynamodb/aws4_request, \
    SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

impl RawDynamo {
    pub async fn connect(endpoint: &str) -> Fallible<Self> {
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

    /// One `operation` (`UpdateItem`, `GetItem`): the time from sending to the whole response.
    async fn call(&mut self, operation: &str, body: Bytes) -> Fallible<Duration> {
        let request = Request::post("/")
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
            .header("x-amz-date", "20260101T000000Z")
            .header("authorization", AUTHORIZATION)
            .body(Full::new(body))
            .map_err(because("DynamoDB request"))?;
        if self.send.ready().await.is_err() {
            // DynamoDB Local closes a connection left idle for long (a slow start between
            // rounds): open another, untimed, as a client's pool would.
            let endpoint = format!("http://{}", self.host);
            self.connection.abort();
            *self = Self::connect(&endpoint).await?;
        }
        let started = Instant::now();
        let response = self
            .send
            .send_request(request)
            .await
            .map_err(|e| format!("{operation}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{operation} response: {e}"))?
            .to_bytes();
        let elapsed = started.elapsed();
        if status != StatusCode::OK {
            return Err(format!(
                "raw {operation} answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(elapsed)
    }

    /// `n` of the function's `UpdateItem`s, in the order of its invocations.
    pub async fn updates(&mut self, fixture: &Fixture, n: usize) -> Fallible<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(n);
        for i in 0..n {
            latencies.push(self.call("UpdateItem", fixture.update_item(i)).await?);
        }
        Ok(latencies)
    }

    /// Each request `n` times, untimed: warms DynamoDB Local up before anything is timed.
    pub async fn warm_up(&mut self, requests: &[(&str, Bytes)], n: usize) -> Fallible<()> {
        for _ in 0..n {
            for (operation, body) in requests {
                self.call(operation, body.clone()).await?;
            }
        }
        Ok(())
    }

    /// `n` of the function's key lookups.
    pub async fn gets(&mut self, fixture: &Fixture, n: usize) -> Fallible<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(n);
        for _ in 0..n {
            latencies.push(self.call("GetItem", fixture.get_item.clone()).await?);
        }
        Ok(latencies)
    }
}

impl Drop for RawDynamo {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// One run of the bare SDK floor: its timed calls.
pub struct BareRun {
    pub latencies: Vec<Duration>,
    /// On-CPU time of the timed calls (schedstat, as the benchmark reads the function's).
    pub on_cpu: Duration,
    pub threads: usize,
}

/// Runs `examples/bare-update.rs` on `fixture`'s logs: `warm_up` untimed calls, then `calls`
/// timed ones.
pub async fn bare_updates(
    bin: &Path,
    fixture: &Fixture,
    endpoint: &str,
    warm_up: usize,
    calls: usize,
) -> Fallible<BareRun> {
    let output = tokio::process::Command::new(bin)
        .args([warm_up.to_string(), calls.to_string(), ORGANIZATION.into()])
        .args(fixture.references())
        .env_clear()
        .envs(fixture.dynamodb_env(endpoint))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .ok()
        .filter(|_| output.status.success())
        .ok_or_else(|| {
            format!(
                "{} failed ({}): {}",
                bin.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let field = |name: &str| report[name].as_u64().unwrap_or(0);
    let latencies = report["latencies_ns"]
        .as_array()
        .map(|l| l.iter().filter_map(|ns| ns.as_u64()).collect::<Vec<_>>())
        .unwrap_or_default();
    if latencies.len() != calls {
        return Err(format!(
            "{}: {} calls timed, not {calls}",
            bin.display(),
            latencies.len()
        ));
    }
    Ok(BareRun {
        latencies: latencies.into_iter().map(Duration::from_nanos).collect(),
        on_cpu: Duration::from_nanos(field("on_cpu_ns")),
        threads: field("threads") as usize,
    })
}
