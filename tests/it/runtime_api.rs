//! A Lambda Runtime API on loopback, so the real `update-log-by-ref` binary runs as on Lambda:
//! it polls `GET /runtime/invocation/next` and posts each response back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

type Pending = Arc<Mutex<std::collections::HashMap<String, oneshot::Sender<Value>>>>;

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::UnboundedSender<(String, Value)>,
    pending: Pending,
    first_poll: watch::Receiver<Option<Instant>>,
    next_id: AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime API");
        let address = listener.local_addr().expect("addr").to_string();
        let (events, queue) = mpsc::unbounded_channel::<(String, Value)>();
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let pending: Pending = Arc::default();
        let (polled, first_poll) = watch::channel(None);
        let polled = Arc::new(polled);
        let p = pending.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (queue, pending, polled) = (queue.clone(), p.clone(), polled.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        serve(req, queue.clone(), pending.clone(), polled.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            events,
            pending,
            first_poll,
            next_id: AtomicU64::new(1),
        }
    }

    /// When the function first asked for an invocation, that is, finished its init.
    pub async fn first_poll(&self) -> Instant {
        let mut first_poll = self.first_poll.clone();
        let polled = tokio::time::timeout(
            Duration::from_secs(30),
            first_poll.wait_for(Option::is_some),
        )
        .await
        .expect("the function finished init within 30 s")
        .expect("runtime API running");
        polled.expect("polled")
    }

    /// Delivers `event` and waits for the function's response (or error) document.
    pub async fn invoke(&self, event: Value) -> Value {
        let id = format!("req-{:08}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id.clone(), tx);
        self.events.send((id, event)).expect("runtime API running");
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the function answered within 30 s")
            .expect("response")
    }
}

async fn serve(
    req: Request<Incoming>,
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    pending: Pending,
    polled: Arc<watch::Sender<Option<Instant>>>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/runtime/invocation/next") {
        polled.send_if_modified(|first| {
            let fresh = first.is_none();
            first.get_or_insert_with(Instant::now);
            fresh
        });
        let Some((id, event)) = queue.lock().await.recv().await else {
            return Err(std::io::Error::other("runtime API stopped"));
        };
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + Duration::from_secs(10);
        return Response::builder()
            .header("lambda-runtime-aws-request-id", &id)
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
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            )
            .body(Full::new(Bytes::from(event.to_string())))
            .map_err(std::io::Error::other);
    }
    // POST /runtime/invocation/{id}/response | /error, or /runtime/init/error.
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let document: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = path.split('/').rev().nth(1).unwrap_or_default().to_owned();
    let document = if path.ends_with("/error") {
        serde_json::json!({ "runtimeError": document })
    } else {
        document
    };
    if let Some(tx) = pending.lock().expect("pending").remove(&id) {
        let _ = tx.send(document);
    }
    Response::builder()
        .status(202)
        .body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")))
        .map_err(std::io::Error::other)
}
