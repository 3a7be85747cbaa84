//! A fault-injecting HTTP proxy between the SDK and DynamoDB Local: it forwards requests, or
//! stalls, drops the connection, or answers with DynamoDB's own error responses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forward to DynamoDB Local.
    Pass,
    /// Accept the request and never answer (DynamoDB slower than every timeout).
    Stall,
    /// Drop the connection without an answer.
    Reset,
    /// Answer with this status and DynamoDB error type (`__type`), without forwarding.
    Error(u16, &'static str),
    /// Forward the next this many `UpdateItem`s, then drop DynamoDB's answer: the write lands,
    /// the caller never hears so. Other operations pass.
    LoseUpdateAnswers(usize),
    /// The same for every `every`-th `UpdateItem` (counting from the first one seen).
    LoseEveryNthUpdateAnswer { every: usize, seen: usize },
    /// Forward, then drop the answer (what the two above do to one request).
    LoseAnswer,
}

impl Fault {
    /// The fault for one request, counting it against a fault that spans requests.
    fn for_request(&mut self, is_update: bool) -> Fault {
        match self {
            Fault::LoseUpdateAnswers(left) if is_update && *left > 0 => {
                *left -= 1;
                Fault::LoseAnswer
            }
            Fault::LoseEveryNthUpdateAnswer { every, seen } if is_update => {
                *seen += 1;
                if *seen % *every == 0 {
                    Fault::LoseAnswer
                } else {
                    Fault::Pass
                }
            }
            Fault::LoseUpdateAnswers(_) | Fault::LoseEveryNthUpdateAnswer { .. } => Fault::Pass,
            other => other.clone(),
        }
    }

    pub fn lose_every_nth_update_answer(every: usize) -> Self {
        Fault::LoseEveryNthUpdateAnswer { every, seen: 0 }
    }

    pub fn throttled() -> Self {
        Fault::Error(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        )
    }
}

// A concrete error type: hyper's bound on boxed errors trips the compiler inside spawned tasks.
type ProxyError = std::io::Error;
type Upstream = Client<HttpConnector, Full<Bytes>>;

pub struct FaultProxy {
    pub url: String,
    state: Arc<State>,
}

/// What every connection of the proxy shares: where it forwards, the fault in force, and what it
/// saw.
struct State {
    client: Upstream,
    upstream: String,
    fault: Mutex<Fault>,
    requests: AtomicUsize,
    lost: AtomicUsize,
    watch: Watch,
    exchanges: Mutex<Vec<Exchange>>,
}

/// One forwarded request, timed: the benchmark splits an invocation into DynamoDB's time
/// (`upstream`) and the caller's own (the rest), and the tests see which requests overlapped.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The operation, from `X-Amz-Target` (`GetItem`, `UpdateItem`, …).
    pub operation: String,
    /// The request's head reached the proxy.
    pub arrived: Instant,
    /// The request went to DynamoDB Local, and its whole answer came back.
    pub upstream: (Instant, Instant),
    /// The answer went back to the caller.
    pub returned: Instant,
}

/// Counts the forwarded requests whose body holds a given text (a key hash, a reference id).
#[derive(Default)]
struct Watch {
    needle: Mutex<Option<Vec<u8>>>,
    hits: AtomicUsize,
}

impl Watch {
    fn see(&self, body: &[u8]) {
        let needle = self.needle.lock().expect("watch");
        if let Some(needle) = needle.as_deref() {
            if body.windows(needle.len()).any(|w| w == needle) {
                self.hits.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

impl FaultProxy {
    /// Starts on a free loopback port, on the current runtime, forwarding to `upstream`.
    pub async fn start(upstream: &str) -> Self {
        Self::start_on(0, upstream).await
    }

    /// Starts on `port` (0: any free one).
    pub async fn start_on(port: u16, upstream: &str) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(State {
            client: Client::builder(TokioExecutor::new()).build_http(),
            upstream: upstream.to_owned(),
            fault: Mutex::new(Fault::Pass),
            requests: AtomicUsize::new(0),
            lost: AtomicUsize::new(0),
            watch: Watch::default(),
            exchanges: Mutex::default(),
        });
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        state.clone().serve(req)
                    });
                    // A dropped connection is what Reset is for: its error is expected.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state }
    }

    pub fn set(&self, fault: Fault) {
        *self.state.fault.lock().expect("fault") = fault;
    }

    /// Requests that reached the proxy so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Answers dropped after their write was forwarded.
    pub fn lost_answers(&self) -> usize {
        self.state.lost.load(Ordering::SeqCst)
    }

    /// From now on, count the forwarded requests whose body holds `text` (from zero).
    pub fn watch(&self, text: &str) {
        let watch = &self.state.watch;
        *watch.needle.lock().expect("watch") = Some(text.as_bytes().to_vec());
        watch.hits.store(0, Ordering::SeqCst);
    }

    /// Forwarded requests whose body held the watched text.
    pub fn watched(&self) -> usize {
        self.state.watch.hits.load(Ordering::SeqCst)
    }

    /// Every request forwarded so far, in the order their answers went back.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.exchanges.lock().expect("exchanges").clone()
    }
}

impl State {
    async fn serve(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, ProxyError> {
        let arrived = Instant::now();
        self.requests.fetch_add(1, Ordering::SeqCst);
        let is_update = req
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t == "DynamoDB_20120810.UpdateItem");
        let fault = self.fault.lock().expect("fault").for_request(is_update);
        match fault {
            Fault::Pass => self.forward(req, arrived).await,
            Fault::LoseAnswer => {
                self.lost.fetch_add(1, Ordering::SeqCst);
                self.forward(req, arrived).await?;
                Err(std::io::Error::other(
                    "injected: answer lost after the write",
                ))
            }
            Fault::LoseUpdateAnswers(_) | Fault::LoseEveryNthUpdateAnswer { .. } => {
                unreachable!("for_request resolves these per request")
            }
            Fault::Stall => std::future::pending::<Result<_, ProxyError>>().await,
            Fault::Reset => Err(std::io::Error::other("injected connection reset")),
            Fault::Error(status, kind) => {
                let body =
                    format!(r#"{{"__type":"{kind}","message":"injected by the fault proxy"}}"#);
                Ok(Response::builder()
                    .status(status)
                    .header("content-type", "application/x-amz-json-1.0")
                    .header("x-amzn-requestid", "FAULTPROXY")
                    .body(Full::new(Bytes::from(body)))
                    .map_err(std::io::Error::other)?)
            }
        }
    }

    /// Forwards `req`, which reached the proxy at `arrived`, and records the exchange.
    async fn forward(
        &self,
        req: Request<Incoming>,
        arrived: Instant,
    ) -> Result<Response<Full<Bytes>>, ProxyError> {
        let (parts, body) = req.into_parts();
        let body = whole(body).await?;
        self.watch.see(&body);
        let operation = parts
            .headers
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .map_or("", |t| t.trim_start_matches("DynamoDB_20120810."))
            .to_owned();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut out = Request::builder()
            .method(parts.method)
            .uri(format!("{}{path}", self.upstream));
        for (name, value) in &parts.headers {
            out = out.header(name, value);
        }
        let out = out.body(Full::new(body)).map_err(std::io::Error::other)?;
        let sent = Instant::now();
        let resp = self
            .client
            .request(out)
            .await
            .map_err(std::io::Error::other)?;
        let (parts, body) = resp.into_parts();
        let body = whole(body).await?;
        let answered = Instant::now();
        let mut resp = Response::from_parts(parts, Full::new(body));
        resp.headers_mut().remove("transfer-encoding");
        self.exchanges.lock().expect("exchanges").push(Exchange {
            operation,
            arrived,
            upstream: (sent, answered),
            returned: Instant::now(),
        });
        Ok(resp)
    }
}

async fn whole(body: Incoming) -> Result<Bytes, ProxyError> {
    Ok(body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes())
}
