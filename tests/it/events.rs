//! Every kind of event that can reach the function, through the real binary and a Runtime API:
//! the AWS sample events that ship in `aws_lambda_events` and `lambda_http` (found with
//! `cargo metadata`, not copied), as they are and rewritten into a `PATCH /logs`, and events
//! generated from them with every part mutated. No event stops the process, and each one gets a
//! deliberate answer: an HTTP response in its source's shape (never a 5xx for a client's
//! mistake, never a changed log on a 4xx), or, for an event the function does not serve, an
//! error that names it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use update_log_by_ref::edge::event::UNSERVED;

use crate::function::Function;
use crate::runtime_api::RuntimeApi;
use crate::support::{encode, endpoint, sample_log, Env};

/// Events the suite generates; `scripts/fuzz-events.sh` runs many more with `EVENT_FUZZ_CASES`.
const FUZZ_CASES: u32 = 2000;
const REFERENCE: &str = "sampled";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Rest,
    /// HTTP API payload v2, which Function URLs send too.
    Http,
    Alb,
    WebSocket,
    Lattice,
}

impl Source {
    /// By the event's shape, the way the AWS documentation tells them apart.
    fn of(event: &Value) -> Option<Self> {
        let context = &event["requestContext"];
        Some(if context.get("connectionId").is_some() {
            Source::WebSocket
        } else if context.get("serviceNetworkArn").is_some() || event.get("raw_path").is_some() {
            Source::Lattice
        } else if context.get("elb").is_some() {
            Source::Alb
        } else if event["version"] == "2.0" {
            Source::Http
        } else if event.get("httpMethod").is_some() && context.is_object() {
            Source::Rest
        } else {
            return None;
        })
    }

    fn served(self) -> bool {
        matches!(self, Source::Rest | Source::Http | Source::Alb)
    }

    /// What the refusal of an unserved source must name.
    fn named_as(self) -> &'static str {
        match self {
            Source::WebSocket => "WebSocket",
            Source::Lattice => "VPC Lattice",
            _ => "",
        }
    }
}

#[derive(Debug)]
struct Sample {
    name: String,
    source: Source,
    event: Value,
}

/// Where a dependency's sources are, from `cargo metadata` (the versions in Cargo.lock).
fn package_dir(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--locked",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let manifest = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == name))
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("{name} is not among the dependencies"));
    PathBuf::from(manifest)
        .parent()
        .expect("a crate folder")
        .to_owned()
}

/// The JSON files of a dependency's folder whose names `keep` selects, sorted.
fn json_files(dir: PathBuf, keep: impl Fn(&str) -> bool) -> Vec<(String, Value)> {
    let mut files: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            (name.ends_with(".json") && keep(&name)).then_some(path)
        })
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a readable sample");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let event =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, event)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// The HTTP request samples of both crates (API Gateway REST and HTTP APIs, Function URLs, ALB,
/// WebSocket, VPC Lattice), and every other event sample of `aws_lambda_events`, by name.
type Samples = (Vec<Sample>, Vec<(String, Value)>);

fn samples() -> &'static Samples {
    static SAMPLES: OnceLock<Samples> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let is_request = |name: &str| {
            ["example-apigw-", "example-alb-", "example-vpc-lattice-"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
                && name.contains("-request")
                // Events for an authorizer function, not requests to an integration.
                && !name.contains("custom-auth")
        };
        let events_dir = package_dir("aws_lambda_events").join("src/fixtures");
        let mut requests = json_files(events_dir.clone(), is_request);
        requests.extend(json_files(
            package_dir("lambda_http").join("tests/data"),
            |_| true,
        ));
        let requests = requests
            .into_iter()
            .map(|(name, event)| Sample {
                source: Source::of(&event)
                    .unwrap_or_else(|| panic!("{name}: not an HTTP request sample")),
                name,
                event,
            })
            .collect();
        let others = json_files(events_dir, |name| !is_request(name));
        (requests, others)
    })
}

fn http_samples() -> &'static [Sample] {
    &samples().0
}

/// The object at `path` in `value`, created (replacing whatever was there) if it is not one.
fn object<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut serde_json::Map<String, Value> {
    let mut value = value;
    for field in path {
        if !value[*field].is_object() {
            value[*field] = json!({});
        }
        value = &mut value[*field];
    }
    value.as_object_mut().expect("an object")
}

/// Sets a header (any spelling of it replaced) where the event's source carries headers.
fn set_header(event: &mut Value, name: &str, value: &str) {
    let multi = event.get("multiValueHeaders").is_some_and(Value::is_object);
    let headers = object(event, &["headers"]);
    headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
    headers.insert(name.into(), json!(value));
    if multi {
        let headers = object(event, &["multiValueHeaders"]);
        headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
        headers.insert(name.into(), json!([value]));
    }
}

/// The sample as a valid `PATCH /logs?reference_id=…` with `key` and a JSON body setting
/// `output`; everything else (Host, other headers, request context) stays as the sample has it.
fn rewrite(sample: &Sample, key: &str, output: &str) -> Value {
    let mut event = sample.event.clone();
    set_header(&mut event, "x-api-key", key);
    set_header(&mut event, "content-type", "application/json");
    event["body"] = json!(json!({ "output": output }).to_string());
    event["isBase64Encoded"] = json!(false);
    match sample.source {
        Source::Rest | Source::Alb => {
            event["httpMethod"] = json!("PATCH");
            event["path"] = json!("/logs");
            if sample.source == Source::Rest {
                object(&mut event, &["requestContext"]).insert("httpMethod".into(), json!("PATCH"));
            }
            event["queryStringParameters"] = json!({ "reference_id": REFERENCE });
            // The multi-value map too where the sample uses multi-value headers (an ALB sends
            // one kind, as its target group is configured).
            let fields = event.as_object_mut().expect("an object");
            if fields
                .get("multiValueHeaders")
                .is_some_and(Value::is_object)
            {
                fields.insert(
                    "multiValueQueryStringParameters".into(),
                    json!({ "reference_id": [REFERENCE] }),
                );
            } else {
                fields.remove("multiValueQueryStringParameters");
            }
        }
        Source::Http => {
            event["rawPath"] = json!("/logs");
            event["rawQueryString"] = json!(format!("reference_id={}", encode(REFERENCE)));
            event["queryStringParameters"] = json!({ "reference_id": REFERENCE });
            let http = object(&mut event, &["requestContext", "http"]);
            http.insert("method".into(), json!("PATCH"));
            http.insert("path".into(), json!("/logs"));
        }
        Source::WebSocket | Source::Lattice => unreachable!("only served sources are rewritten"),
    }
    event
}

/// A response object as the event's source expects it: `statusCode`, the JSON content type
/// where the source reads headers, and a JSON body. Returns the status and the body.
fn http_answer(source: Source, answer: &Value) -> Result<(u16, Value), String> {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or(format!("no statusCode in {answer}"))?;
    let single = answer["headers"]["content-type"].as_str();
    let multi = answer["multiValueHeaders"]["content-type"][0].as_str();
    let json = Some("application/json");
    let shaped = match source {
        // REST APIs merge both maps: lambda_http answers in the multi-value one only.
        Source::Rest => multi == json && single.is_none(),
        Source::Http => single == json && answer.get("cookies").is_some(),
        // The target group's setting picks one map: both are sent.
        Source::Alb => {
            single == json
                && multi == json
                && answer["statusDescription"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(&status.to_string()))
        }
        Source::WebSocket | Source::Lattice => false,
    };
    if !shaped {
        return Err(format!("not a {source:?} response: {answer}"));
    }
    let body = answer["body"]
        .as_str()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .ok_or(format!("the body is not JSON: {answer}"))?;
    let detailed = body["detail"].is_string() || body["detail"].is_array();
    if !((200..300).contains(&status) || detailed) {
        return Err(format!("a {status} without a detail: {answer}"));
    }
    Ok((status, body))
}

/// One function process on fresh tables, with a key and the log `REFERENCE` of `acme`.
struct Served {
    env: Env,
    key: String,
    api: RuntimeApi,
    function: Function,
}

/// What the function answered to one event.
#[derive(Debug)]
enum Outcome {
    Http(Value),
    /// Posted to the Runtime API's `/error`: `errorType` and `errorMessage`.
    Error(Value),
}

impl Served {
    async fn start() -> Self {
        let env = Env::new().await;
        let key = env.api_key("acme").await;
        env.put_log("acme", sample_log(REFERENCE)).await;
        let api = RuntimeApi::start().await.expect("runtime API");
        let function = Function::start(&api, &env, endpoint(), &[]);
        api.first_poll().await.expect("the function finished init");
        Self {
            env,
            key,
            api,
            function,
        }
    }

    /// Hands out `event`; an error if the process exits instead of answering.
    async fn invoke(&mut self, event: &Value) -> Result<Outcome, String> {
        let answer = self.api.invoke(event.to_string().into());
        tokio::pin!(answer);
        let answer = loop {
            tokio::select! {
                answer = &mut answer => break answer?,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if !self.function.running() {
                        return Err("the function process exited".into());
                    }
                }
            }
        };
        let body: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| format!("the answer is not JSON ({e})"))?;
        Ok(if answer.error {
            Outcome::Error(body)
        } else {
            Outcome::Http(body)
        })
    }

    /// The answer to `event` from `source`: an HTTP response in its shape if served, else an
    /// `UnsupportedEvent` error naming it.
    async fn check(
        &mut self,
        source: Source,
        event: &Value,
    ) -> Result<Option<(u16, Value)>, String> {
        match (self.invoke(event).await?, source.served()) {
            (Outcome::Http(answer), true) => http_answer(source, &answer).map(Some),
            (Outcome::Error(error), false)
                if error["errorType"] == UNSERVED
                    && error["errorMessage"]
                        .as_str()
                        .is_some_and(|m| m.contains(source.named_as())) =>
            {
                Ok(None)
            }
            (outcome, _) => Err(format!("{source:?}: unexpected {outcome:?}")),
        }
    }
}

fn truncated(event: &Value) -> String {
    let text = event.to_string();
    match text.char_indices().nth(1500) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The REST API console's test event carries `Host: 1234567890.execute-api.{dns_suffix}`, which
/// is no URI authority: it must be answered, and a valid request with that Host updates the log.
#[tokio::test]
async fn the_rest_console_event_with_a_malformed_host_is_answered() {
    let console = http_samples()
        .iter()
        .find(|s| s.name == "example-apigw-console-request.json")
        .expect("the console sample");
    let mut served = Served::start().await;
    let (status, _) = served
        .check(Source::Rest, &console.event)
        .await
        .expect("an answer to the untouched event")
        .expect("an HTTP answer");
    assert!((400..500).contains(&status), "{status}");
    let update = rewrite(console, &served.key, "from the console");
    let (status, body) = served
        .check(Source::Rest, &update)
        .await
        .expect("an answer to the update")
        .expect("an HTTP answer");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"], "from the console");
}

/// Every HTTP request sample of `aws_lambda_events` and `lambda_http`: untouched, a JSON answer
/// in its source's shape (or a refusal naming a source the function does not serve); rewritten
/// into a valid `PATCH /logs`, a 200 with the log stored. Every other sample event of
/// `aws_lambda_events` (authorizer, SQS, S3, …) gets a deliberate answer too.
#[tokio::test]
async fn every_sample_event_gets_a_deliberate_answer() {
    let (requests, others) = samples();
    let mut served = Served::start().await;
    let mut problems = Vec::new();
    let mut counts = BTreeMap::<Source, usize>::new();
    let mut version = 0;
    for sample in requests {
        *counts.entry(sample.source).or_default() += 1;
        if let Err(e) = served.check(sample.source, &sample.event).await {
            problems.push(format!("{} untouched: {e}", sample.name));
        }
        if !sample.source.served() {
            continue;
        }
        let output = format!("updated through {}", sample.name);
        let update = rewrite(sample, &served.key, &output);
        match served.check(sample.source, &update).await {
            Ok(Some((200, body))) if body["output"] == output.as_str() => {
                version += 1;
                let stored = served.env.stored("acme", REFERENCE).await.expect("the log");
                if stored.version != version || stored.log.output.as_deref() != Some(&output) {
                    problems.push(format!("{}: the update is not stored", sample.name));
                }
            }
            other => problems.push(format!("{} rewritten: {other:?}", sample.name)),
        }
    }
    for (name, event) in others {
        // Some (an authorizer's events) have a served source's shape: an answer in that shape.
        match (
            served.invoke(event).await,
            Source::of(event).filter(|s| s.served()),
        ) {
            (Ok(Outcome::Http(answer)), Some(source)) if http_answer(source, &answer).is_ok() => {}
            (Ok(Outcome::Error(error)), None) if error["errorType"] == UNSERVED => {}
            (other, _) => problems.push(format!("{name}: {other:?}")),
        }
    }
    eprintln!(
        "samples: {counts:?} HTTP request samples, {} other events",
        others.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for source in [
        Source::Rest,
        Source::Http,
        Source::Alb,
        Source::WebSocket,
        Source::Lattice,
    ] {
        assert!(counts.contains_key(&source), "no {source:?} sample found");
    }
    // aws_lambda_events 1.2.1 and lambda_http 1.3.2 ship 30 REST, HTTP API, URL and ALB samples.
    let served_samples: usize = counts
        .iter()
        .filter(|(s, _)| s.served())
        .map(|(_, n)| n)
        .sum();
    assert!(served_samples >= 30, "only {served_samples} served samples");
    assert!(!others.is_empty(), "no other sample events found");
    assert!(served.function.running(), "the function is still up");
}

// ---------------------------------------------------------------------------------------------
// Every part of the event mutated, seeded from the samples.

#[derive(Debug, Clone)]
enum Mutation {
    Host(String),
    ForwardedProto(String),
    Header {
        name: String,
        value: String,
        multi: bool,
    },
    NoHeaders,
    Path(String),
    /// An HTTP API's raw query; a REST API's or ALB's `reference_id` parameter.
    Query(String),
    QueryMap {
        name: String,
        values: Vec<String>,
    },
    Base64(Option<String>),
    Method(String),
    Context {
        field: &'static str,
        value: Value,
    },
    Cookies(Vec<String>),
}

/// Strings a proxy maintainer would try, and anything at all.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "", " ", "a{b}", "exa mple.com", "ex\"ample", "%zz", "a|b", "[::1", "x<y>", "[::1]:80",
            "1234567890.execute-api.{dns_suffix}", "127.0.0.1", "1.2.3.999", "xn--zz.com", ":80",
            "a:99999", "@", "user@host", "a\nb", "a\r\nX-Injected: 1", "\u{0}", "é.com", "https",
            "http", "javascript", "a b", "//evil", "/logs", "logs", ":x", "?#", "\\", "%",
        ])
        .prop_map(str::to_owned),
        2 => ".{0,24}",
        1 => "[ -~]{0,24}",
        1 => "\\PC{0,8}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => hostile(),
        2 => "/[a-zA-Z0-9%{}|^`\\[\\] ./?#@:\\\\-]{0,20}(logs)?",
        1 => (20_000usize..40_000).prop_map(|n| format!("/{}", "é".repeat(n))),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let name = prop_oneof![
        3 => "[a-zA-Z0-9-]{1,12}",
        2 => prop::sample::select(vec![
            "x-forwarded-proto", "content-type", "cookie", "if-match", "idempotency-key",
            "x-api-key", "host", "x-amzn-trace-id", "content-encoding", "transfer-encoding",
        ])
        .prop_map(str::to_owned),
        2 => ".{0,12}",
    ];
    // Not the fields that tell the sources apart (`elb`, `http`, `connectionId`, …): the event
    // stays one of its source. `targetGroupArn` goes into an ALB's `elb`, `sourceIp` into an
    // HTTP API's `http`.
    let context_field = prop::sample::select(vec![
        "stage",
        "domainName",
        "path",
        "resourcePath",
        "requestId",
        "apiId",
        "accountId",
        "identity",
        "authorizer",
        "targetGroupArn",
        "sourceIp",
    ]);
    let context_value = prop_oneof![
        hostile().prop_map(Value::from),
        Just(Value::Null),
        Just(json!({})),
        any::<i64>().prop_map(Value::from),
    ];
    prop_oneof![
        4 => hostile().prop_map(Mutation::Host),
        1 => hostile().prop_map(Mutation::ForwardedProto),
        4 => (name, hostile(), any::<bool>())
            .prop_map(|(name, value, multi)| Mutation::Header { name, value, multi }),
        1 => Just(Mutation::NoHeaders),
        3 => path().prop_map(Mutation::Path),
        3 => prop_oneof![3 => hostile(), 1 => "reference_id=[^&]{0,12}(&reference_id=.{0,6})?"]
            .prop_map(Mutation::Query),
        2 => (prop_oneof![Just("reference_id".to_owned()), hostile()], prop::collection::vec(hostile(), 0..3))
            .prop_map(|(name, values)| Mutation::QueryMap { name, values }),
        2 => prop::option::of(hostile()).prop_map(Mutation::Base64),
        2 => prop_oneof![
            prop::sample::select(vec!["GET", "PATCH", "patch", "PATCH ", "", "P@TCH", "CONNECT"])
                .prop_map(str::to_owned),
            hostile(),
        ]
        .prop_map(Mutation::Method),
        2 => (context_field, context_value).prop_map(|(field, value)| Mutation::Context { field, value }),
        1 => prop::collection::vec(hostile(), 0..3).prop_map(Mutation::Cookies),
    ]
}

impl Mutation {
    fn apply(&self, source: Source, event: &mut Value) {
        match self {
            Mutation::Host(host) => set_header(event, "Host", host),
            Mutation::ForwardedProto(proto) => set_header(event, "X-Forwarded-Proto", proto),
            Mutation::Header { name, value, multi } => {
                if *multi && source != Source::Http {
                    object(event, &["multiValueHeaders"]).insert(name.clone(), json!([value]));
                } else {
                    object(event, &["headers"]).insert(name.clone(), json!(value));
                }
            }
            Mutation::NoHeaders => {
                event["headers"] = Value::Null;
                if event.get("multiValueHeaders").is_some() {
                    event["multiValueHeaders"] = Value::Null;
                }
            }
            Mutation::Path(path) => match source {
                Source::Http => event["rawPath"] = json!(path),
                Source::Lattice if event.get("raw_path").is_some() => {
                    event["raw_path"] = json!(path)
                }
                _ => event["path"] = json!(path),
            },
            Mutation::Query(query) => match source {
                Source::Http => event["rawQueryString"] = json!(query),
                _ => {
                    object(event, &["queryStringParameters"])
                        .insert("reference_id".into(), json!(query));
                }
            },
            Mutation::QueryMap { name, values } => match source {
                Source::Http => {
                    object(event, &["queryStringParameters"])
                        .insert(name.clone(), json!(values.join(",")));
                }
                _ => {
                    object(event, &["multiValueQueryStringParameters"])
                        .insert(name.clone(), json!(values));
                }
            },
            Mutation::Base64(body) => {
                let flag = if source == Source::Lattice && event.get("raw_path").is_some() {
                    "is_base64_encoded"
                } else {
                    "isBase64Encoded"
                };
                match body {
                    Some(body) => {
                        event["body"] = json!(body);
                        event[flag] = json!(true);
                    }
                    None => event[flag] = json!(!event[flag].as_bool().unwrap_or(false)),
                }
            }
            Mutation::Method(method) => match source {
                Source::Http => {
                    object(event, &["requestContext", "http"])
                        .insert("method".into(), json!(method));
                }
                Source::Rest | Source::WebSocket => {
                    event["httpMethod"] = json!(method);
                    object(event, &["requestContext"]).insert("httpMethod".into(), json!(method));
                }
                Source::Alb => event["httpMethod"] = json!(method),
                Source::Lattice => event["method"] = json!(method),
            },
            Mutation::Context { field, value } => {
                let path: &[&str] = match (source, *field) {
                    (Source::Alb, "targetGroupArn") => &["requestContext", "elb"],
                    (Source::Http, "sourceIp") => &["requestContext", "http"],
                    // A VPC Lattice v1 event has no request context.
                    (Source::Lattice, _) if event.get("raw_path").is_some() => return,
                    _ => &["requestContext"],
                };
                object(event, path).insert((*field).into(), value.clone());
            }
            Mutation::Cookies(cookies) => {
                if source == Source::Http {
                    event["cookies"] = json!(cookies);
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    sample: usize,
    /// Rewritten into a valid update first, so that some cases still update the log.
    valid: bool,
    mutations: Vec<Mutation>,
}

fn case(samples: usize) -> impl Strategy<Value = Case> {
    (
        0..samples,
        any::<bool>(),
        prop::collection::vec(mutation(), 0..4),
    )
        .prop_map(|(sample, valid, mutations)| Case {
            sample,
            valid,
            mutations,
        })
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Generated events, every part mutated, for every source, through the real binary: never a
/// crash, never a function error for a source the function serves, never a 5xx, never a stored
/// log changed by anything but a 200 (which changes it by one version).
#[test]
fn fuzzed_events_never_stop_the_function_or_change_data_on_4xx() {
    let cases = env_number("EVENT_FUZZ_CASES").map_or(FUZZ_CASES, |n| n as u32);
    let seed = env_number("EVENT_FUZZ_SEED").unwrap_or(0x5eed);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let served = std::cell::RefCell::new(rt.block_on(Served::start()));
    let snapshot = std::cell::RefCell::new(
        rt.block_on(served.borrow().env.stored("acme", REFERENCE))
            .expect("the log"),
    );
    let statuses = std::cell::RefCell::new(BTreeMap::<String, u32>::new());
    let samples = http_samples();

    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            // A process that stopped answers nothing more: the first failing event is the report.
            max_shrink_iters: 0,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let started = Instant::now();
    let result = runner.run(&case(samples.len()), |case| {
        let sample = &samples[case.sample];
        let mut served = served.borrow_mut();
        let mut event = if case.valid && sample.source.served() {
            rewrite(sample, &served.key, &format!("fuzzed {}", case.sample))
        } else {
            sample.event.clone()
        };
        for mutation in &case.mutations {
            mutation.apply(sample.source, &mut event);
        }
        let outcome = rt.block_on(served.check(sample.source, &event));
        let outcome = outcome.map_err(|e| {
            TestCaseError::fail(format!(
                "{}: {e}\nevent: {}",
                sample.name,
                truncated(&event)
            ))
        })?;
        let label = match &outcome {
            Some((status, _)) => status.to_string(),
            None => format!("refused {:?}", sample.source),
        };
        *statuses.borrow_mut().entry(label).or_default() += 1;
        let stored = rt
            .block_on(served.env.stored("acme", REFERENCE))
            .expect("the log");
        let mut snapshot = snapshot.borrow_mut();
        match outcome {
            Some((status, body)) => {
                prop_assert!(
                    status < 500,
                    "{}: {status} {body}\nevent: {}",
                    sample.name,
                    truncated(&event)
                );
                if status == 200 {
                    prop_assert_eq!(stored.version, snapshot.version + 1);
                    *snapshot = stored;
                } else {
                    prop_assert_eq!(
                        &stored,
                        &*snapshot,
                        "a {} changed the log: {}",
                        status,
                        truncated(&event)
                    );
                }
            }
            None => prop_assert_eq!(&stored, &*snapshot),
        }
        Ok(())
    });
    let statuses = statuses.into_inner();
    eprintln!(
        "event fuzz: {cases} events (seed {seed:#x}) in {:.1} s, outcomes {statuses:?}",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        served.borrow_mut().function.running(),
        "the function is still up"
    );
    for expected in ["200", "400", "refused WebSocket", "refused Lattice"] {
        assert!(
            statuses.contains_key(expected),
            "no case ended in {expected}: {statuses:?}"
        );
    }
}
