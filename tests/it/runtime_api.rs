//! A Lambda Runtime API on loopback, so the real `update-log-by-ref` binary runs as on Lambda:
//! it polls `GET /runtime/invocation/next` and posts each response back. The tests drive the
//! function through it, and the benchmark (`benches/lambda/`) times it: each answer carries the
//! time from handing out the event to receiving the response.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// Lambda's runtime API path prefix.
const RUNTIME: &str = "/2018-06-01/runtime";

pub type Fallible<T> = Result<T, String>;

/// One event waiting to be handed out.
struct Invocation {
    id: String,
    event: Bytes,
    done: oneshot::Sender<Answer>,
}

/// The function's answer to one event.
pub struct Answer {
    /// When the event was handed out (the answer to `GET /next` built).
    pub handed_out: Instant,
    /// When the whole response had arrived.
    pub received: Instant,
    /// Posted to `/error` rather than `/response`.
    pub error: bool,
    pub body: Bytes,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    pending: Mutex<HashMap<String, (Instant, oneshot::Sender<Answer>)>>,
    first_poll: watch::Sender<Option<Instant>>,
    init_error: Mutex<Option<Bytes>>,
}

/// A Lambda Runtime API on a free loopback port, for one function process. Events are handed
/// out one at a time, in order.
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::UnboundedSender<Invocation>,
    first_poll: watch::Receiver<Option<Instant>>,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
    seq: u64,
}

impl RuntimeApi {
    pub async fn start() -> Fallible<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind runtime API: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("runtime API address: {e}"))?
            .to_string();
        let (events, queue) = mpsc::unbounded_channel();
        let (polled, first_poll) = watch::channel(None);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(queue),
            pending: Mutex::default(),
            first_poll: polled,
            init_error: Mutex::default(),
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Lambda's own Runtime API (Go) answers on TCP_NODELAY sockets.
                let _ = stream.set_nodelay(true);
                let shared = s.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| serve(req, shared.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            address,
            events,
            first_poll,
            shared,
            accept,
            seq: 0,
        })
    }

    /// When the function first asked for an event (the end of its init).
    pub async fn first_poll(&self) -> Fallible<Instant> {
        let mut polled = self.first_poll.clone();
        let waited =
            tokio::time::timeout(Duration::from_secs(30), polled.wait_for(Option::is_some))
                .await
                .map(|r| r.map(|v| *v));
        match waited {
            Ok(Ok(Some(at))) => Ok(at),
            _ => {
                let init_error = self.shared.init_error.lock().expect("init error").clone();
                Err(match init_error {
                    Some(body) => format!("init failed: {}", String::from_utf8_lossy(&body)),
                    None => "the function did not poll for an event within 30 s".into(),
                })
            }
        }
    }

    /// Hands out `event` and waits for the answer.
    pub async fn invoke(&mut self, event: Bytes) -> Fallible<Answer> {
        self.seq += 1;
        // Lambda's request ids are UUIDs; the same length keeps log lines realistic.
        let id = format!("00000000-0000-4000-8000-{:012x}", self.seq);
        let (done, answer) = oneshot::channel();
        self.events
            .send(Invocation { id, event, done })
            .map_err(|_| "runtime API stopped".to_owned())?;
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err("runtime API dropped the invocation".into()),
            Err(_) => Err("no answer within 30 s".into()),
        }
    }
}

impl Answer {
    /// From handing out the event to having received the whole response.
    pub fn latency(&self) -> Duration {
        self.received - self.handed_out
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // Open connections end too: their pending `next` sees the closed queue.
        self.accept.abort();
    }
}

async fn serve(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET && path == format!("{RUNTIME}/invocation/next") {
        let polled_at = Instant::now();
        shared.first_poll.send_if_modified(|first| {
            let fresh = first.is_none();
            first.get_or_insert(polled_at);
            fresh
        });
        let Some(invocation) = shared.queue.lock().await.recv().await else {
            return Err(std::io::Error::other("runtime API stopped"));
        };
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + Duration::from_secs(10);
        let response = Response::builder()
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", &invocation.id)
            .header(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            )
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:update-log-by-ref",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-67e5a1b0-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0",
            )
            .body(Full::new(invocation.event))
            .map_err(std::io::Error::other)?;
        let handed_out = Instant::now();
        shared
            .pending
            .lock()
            .expect("pending")
            .insert(invocation.id, (handed_out, invocation.done));
        return Ok(response);
    }
    // POST /runtime/invocation/{id}/response | /error, or /runtime/init/error.
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let received = Instant::now();
    if path == format!("{RUNTIME}/init/error") {
        *shared.init_error.lock().expect("init error") = Some(body);
    } else if let Some((id, kind)) = path
        .strip_prefix(&format!("{RUNTIME}/invocation/"))
        .and_then(|rest| rest.split_once('/'))
    {
        let waiting = shared.pending.lock().expect("pending").remove(id);
        if let Some((handed_out, done)) = waiting {
            let _ = done.send(Answer {
                handed_out,
                received,
                error: kind != "response",
                body,
            });
        }
    } else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()))
            .map_err(std::io::Error::other);
    }
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")))
        .map_err(std::io::Error::other)
}
