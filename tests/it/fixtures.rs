//! The Lambda events under `events/`: every fixture through the real handler, checked against
//! `events/expected.json` (which `events/README.md` shows as a table), and the documented no-Docker
//! path, `cargo lambda watch` + `cargo lambda invoke --data-file`, end to end.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use serde_json::Value;
use update_log_by_ref::auth::key_hash;
use update_log_by_ref::config::Tables;
use update_log_by_ref::edge::presented_keys;
use update_log_by_ref::model::Log;
use update_log_by_ref::store::Store;

use crate::support::{client_for, endpoint, free_port, unique, CallCounter, Env};

/// Fixture names are `<source>-<what>.json`.
const EVENT_SOURCES: [&str; 4] = ["apigw-rest-v1", "http-api-v2", "function-url", "alb"];
/// The cases the fixtures must cover between them.
const CASES: [&str; 7] = [
    "update",
    "partial-update",
    "missing-reference-id",
    "missing-key",
    "bad-body",
    "unknown-reference",
    "base64",
];
/// JSON files in `events/` that are not events.
const NOT_EVENTS: [&str; 2] = ["seed-log.json", "expected.json"];
/// The fixture `cargo lambda invoke` sends in the no-Docker test (the README's example), and the
/// harmless one (401, nothing written) that waits for the function to be up.
const INVOKED_FIXTURE: &str = "apigw-rest-v1-update.json";
const WARM_UP_FIXTURE: &str = "http-api-v2-missing-key.json";

/// `events/expected.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[allow(dead_code)]
    about: String,
    api_key: String,
    organization: String,
    seed_log: String,
    fixtures: BTreeMap<String, Expectation>,
}

/// What one fixture must produce with the seed key and seed log in fresh tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    source: String,
    case: String,
    #[allow(dead_code)]
    shows: String,
    /// Whether the event carries the fixture key (else no key at all).
    api_key: bool,
    /// The `reference_id` the event asks for, if any.
    reference_id: Option<String>,
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Key fields of the response body (a subset: see `mismatches`).
    body: Value,
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn expected() -> Expected {
    serde_json::from_value(read_json(&events_dir().join("expected.json")))
        .unwrap_or_else(|e| panic!("events/expected.json does not have the expected shape: {e}"))
}

fn seed_log(expected: &Expected) -> Value {
    read_json(&events_dir().join(&expected.seed_log))
}

/// Every event fixture in `events/`: each JSON file but the seed log and the expectations.
fn fixture_names() -> BTreeSet<String> {
    fs::read_dir(events_dir())
        .expect("events/ exists")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.into_string().expect("UTF-8 file names in events/"))
        .filter(|name| name.ends_with(".json") && !NOT_EVENTS.contains(&name.as_str()))
        .collect()
}

fn source_of(name: &str) -> Option<&'static str> {
    EVENT_SOURCES
        .into_iter()
        .find(|source| name.starts_with(&format!("{source}-")))
}

/// Where `actual` differs from `expected`, which names only the fields that matter: objects match
/// when every key of `expected` matches, arrays element by element (same length), the rest by
/// value (numbers numerically).
fn mismatches(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                match a.get(key) {
                    Some(av) => mismatches(&format!("{path}.{key}"), ev, av, out),
                    None => out.push(format!("{path}.{key}: absent, expected {ev}")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                mismatches(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => out.push(format!("{path}: expected {e}, got {a}")),
    }
}

/// The fixture set itself: named after its source, one expectation per fixture and one fixture
/// per expectation, every case covered, a success case for every source, all in the README.
fn check_fixture_set(expected: &Expected, names: &BTreeSet<String>) {
    let mut problems = Vec::new();
    for name in names {
        if source_of(name).is_none() {
            problems.push(format!(
                "events/{name}: not named <source>-<case>.json with a source of {EVENT_SOURCES:?}"
            ));
        }
        if !expected.fixtures.contains_key(name) {
            problems.push(format!(
                "events/{name} has no expectation in events/expected.json"
            ));
        }
    }
    for (name, exp) in &expected.fixtures {
        if !names.contains(name) {
            problems.push(format!(
                "events/expected.json expects events/{name}, which does not exist"
            ));
        }
        if source_of(name) != Some(exp.source.as_str()) {
            problems.push(format!(
                "{name}: source {:?} does not match its name",
                exp.source
            ));
        }
        if !CASES.contains(&exp.case.as_str()) {
            problems.push(format!(
                "{name}: case {:?} is not one of {CASES:?}",
                exp.case
            ));
        }
    }
    for case in CASES {
        if !expected.fixtures.values().any(|e| e.case == case) {
            problems.push(format!("no fixture covers the case {case:?}"));
        }
    }
    for source in EVENT_SOURCES {
        if !expected
            .fixtures
            .values()
            .any(|e| e.source == source && e.status == 200)
        {
            problems.push(format!("no success (200) fixture for the source {source}"));
        }
    }
    let readme = fs::read_to_string(events_dir().join("README.md")).expect("events/README.md");
    for name in expected.fixtures.keys() {
        if !readme.contains(&format!("`{name}`")) {
            problems.push(format!("events/README.md does not document {name}"));
        }
    }
    for documented in [&expected.api_key, &expected.organization] {
        if !readme.contains(documented.as_str()) {
            problems.push(format!("events/README.md does not mention {documented}"));
        }
    }
    assert!(
        problems.is_empty(),
        "the fixture set is inconsistent:\n  {}",
        problems.join("\n  ")
    );
}

/// The event was parsed as the source its name says, and carries the key and reference id its
/// expectation says.
fn check_event(name: &str, exp: &Expectation, api_key: &str, req: &Request) -> Vec<String> {
    let mut problems = Vec::new();
    let context = req.request_context_ref();
    let shape_ok = match (exp.source.as_str(), context) {
        ("apigw-rest-v1", Some(RequestContext::ApiGatewayV1(ctx))) => {
            // A REST API puts the stage in requestContext.path, not in path.
            let stage = ctx.stage.clone().unwrap_or_default();
            !stage.is_empty()
                && ctx.path.as_deref() == Some(&format!("/{stage}{}", req.raw_http_path()))
        }
        ("http-api-v2", Some(RequestContext::ApiGatewayV2(ctx))) => ctx
            .domain_name
            .as_deref()
            .is_some_and(|d| d.contains(".execute-api.")),
        ("function-url", Some(RequestContext::ApiGatewayV2(ctx))) => {
            let domain = ctx.domain_name.as_deref().unwrap_or_default();
            domain.contains(".lambda-url.") && domain.ends_with(".on.aws")
        }
        ("alb", Some(RequestContext::Alb(ctx))) => ctx.elb.target_group_arn.is_some(),
        _ => false,
    };
    if !shape_ok {
        problems.push(format!(
            "parsed as {context:?}, not as a {} event",
            exp.source
        ));
    }
    let keys = presented_keys(req);
    let want_keys: Vec<&[u8]> = if exp.api_key {
        vec![api_key.as_bytes()]
    } else {
        vec![]
    };
    if keys != want_keys {
        problems.push(format!(
            "X-API-KEY is {:?}, expected {:?}",
            keys.iter()
                .map(|k| String::from_utf8_lossy(k))
                .collect::<Vec<_>>(),
            want_keys
                .iter()
                .map(|k| String::from_utf8_lossy(k))
                .collect::<Vec<_>>()
        ));
    }
    let reference_id = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("reference_id"))
        .map(str::to_owned);
    if reference_id != exp.reference_id {
        problems.push(format!(
            "reference_id is {reference_id:?}, expected {:?}",
            exp.reference_id
        ));
    }
    problems
        .into_iter()
        .map(|p| format!("{name}: {p}"))
        .collect()
}

/// Fresh tables holding the fixture key and the seed log, as the README's seeding commands leave
/// them.
async fn seeded_env(expected: &Expected, seed: &Value) -> Env {
    let env = Env::new().await;
    env.store
        .put_api_key(
            &key_hash(expected.api_key.as_bytes()),
            &expected.organization,
            "2026-01-15T10:29:58Z",
        )
        .await
        .expect("put the fixture key");
    env.put_log(&expected.organization, seed.clone()).await;
    env
}

fn as_response(log: Log) -> Value {
    serde_json::to_value(log.with_spec_defaults()).expect("a log serializes")
}

/// Runs one fixture through the handler on fresh seeded tables; returns what went wrong.
async fn run_fixture(
    name: &str,
    exp: &Expectation,
    expected: &Expected,
    seed: &Value,
) -> Vec<String> {
    let path = events_dir().join(name);
    let text = fs::read_to_string(&path).expect("read fixture");
    let req = match lambda_http::request::from_str(&text) {
        Ok(req) => req,
        Err(e) => return vec![format!("{name}: lambda_http cannot parse it: {e}")],
    };
    let mut problems = check_event(name, exp, &expected.api_key, &req);

    let env = seeded_env(expected, seed).await;
    let (status, body, resp) = env.send(req).await;
    let mut fail = |p: String| problems.push(format!("{name}: {p}"));
    if status != exp.status {
        fail(format!(
            "status {status}, expected {} (body {body})",
            exp.status
        ));
    }
    for (header, want) in &exp.headers {
        let got = resp.headers().get(header.as_str()).map(|v| v.to_str().ok());
        if got != Some(Some(want.as_str())) {
            fail(format!("header {header} is {got:?}, expected {want:?}"));
        }
    }
    let mut diffs = Vec::new();
    mismatches("body", &exp.body, &body, &mut diffs);
    for diff in diffs {
        fail(format!("{diff} (body {body})"));
    }

    // What the table holds afterwards: the answer of a success, the seed after a refusal.
    let reference_id = seed["reference_id"].as_str().expect("seed reference_id");
    let stored = env
        .stored(&expected.organization, reference_id)
        .await
        .expect("the seed log");
    let seed_response = as_response(serde_json::from_value(seed.clone()).expect("seed is a Log"));
    if status == 200 {
        if stored.version != 1 {
            fail(format!("stored version {}, expected 1", stored.version));
        }
        let stored = as_response(stored.log);
        if stored != body {
            fail(format!(
                "the 200 body is not the stored log: {body} vs {stored}"
            ));
        }
        if body["updated_at"] == seed_response["updated_at"] {
            fail("updated_at was not refreshed".into());
        }
    } else {
        if stored.version != 0 {
            fail(format!(
                "a {status} changed the version to {}",
                stored.version
            ));
        }
        if as_response(stored.log) != seed_response {
            fail(format!("a {status} changed the stored log"));
        }
    }
    problems
}

/// Every fixture in `events/`, parsed as Lambda delivers it, through `App::handle` against
/// DynamoDB Local with the fixture key and the seed log in fresh tables (one set per fixture: the
/// success cases update the log), answers what `events/expected.json` says.
#[tokio::test]
async fn every_event_fixture_answers_as_documented() {
    let expected = expected();
    let names = fixture_names();
    check_fixture_set(&expected, &names);
    let seed = seed_log(&expected);

    let mut problems = Vec::new();
    for (name, exp) in &expected.fixtures {
        problems.extend(run_fixture(name, exp, &expected, &seed).await);
    }
    assert!(
        problems.is_empty(),
        "{} fixture problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// The no-Docker path: `cargo lambda watch` and `cargo lambda invoke --data-file`.

/// How long the first invocation may take: `cargo lambda watch` runs `cargo run`, which normally
/// finds the binary `cargo test` built, but may wait for cargo's lock or build on a slow machine.
const FIRST_INVOKE_BUDGET: Duration = Duration::from_secs(300);

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// PATH with .venv/local/bin first: the cargo-lambda that scripts/local.sh and scripts/test.sh
/// install there, found without an activated venv.
fn path_with_cargo_lambda() -> std::ffi::OsString {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/local/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(venv).chain(std::env::split_paths(&path)))
        .expect("PATH entries hold no separator")
}

fn require_cargo_lambda() {
    let out = Command::new(cargo())
        .env("PATH", path_with_cargo_lambda())
        .args(["lambda", "--version"])
        .stdin(Stdio::null())
        .output();
    let ok = matches!(&out, Ok(o) if o.status.success());
    assert!(
        ok,
        "cargo-lambda is missing from .venv/local/bin and PATH: run scripts/test.sh (or \
         scripts/local.sh) once, which installs it there"
    );
}

/// The environment the function and `logs-admin` get: DynamoDB Local and this test's tables.
fn aws_env(tables: &Tables) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint().to_owned()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("LOGS_TABLE_NAME", tables.logs.clone()),
        ("API_KEYS_TABLE_NAME", tables.api_keys.clone()),
    ]
}

/// AWS settings of the caller's shell that would send the function elsewhere.
const AWS_ENV_REMOVED: [&str; 4] = [
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
];

fn with_aws_env<'a>(cmd: &'a mut Command, tables: &Tables) -> &'a mut Command {
    for var in AWS_ENV_REMOVED {
        cmd.env_remove(var);
    }
    cmd.envs(aws_env(tables))
}

/// The README's seeding commands, run with the `logs-admin` that `cargo test` built.
fn seed_with_logs_admin(expected: &Expected, tables: &Tables) {
    let seed_path = events_dir().join(&expected.seed_log);
    let seed_path = seed_path.to_str().expect("UTF-8 path");
    for args in [
        vec!["create-tables"],
        vec![
            "create-api-key",
            "--organization",
            &expected.organization,
            "--key",
            &expected.api_key,
        ],
        vec![
            "put-log",
            "--organization",
            &expected.organization,
            seed_path,
        ],
    ] {
        let out = with_aws_env(&mut Command::new(env!("CARGO_BIN_EXE_logs-admin")), tables)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run logs-admin");
        assert!(
            out.status.success(),
            "logs-admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `cargo lambda watch`, stopped with everything it started when dropped.
struct Watch {
    child: Child,
    log: PathBuf,
    stopped: bool,
}

impl Watch {
    fn start(port: u16, tables: &Tables) -> Self {
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.log", unique("watch")));
        let out = fs::File::create(&log).expect("create the watch log");
        let err = out.try_clone().expect("clone the log handle");
        let child = with_aws_env(&mut Command::new(cargo()), tables)
            .env("PATH", path_with_cargo_lambda())
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            // Other work in this checkout must not make it rebuild and restart mid-test.
            .args(["--ignore-changes", "--bin", "update-log-by-ref"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group, so that everything it starts in that group goes with it.
            .process_group(0)
            .spawn()
            .expect("start cargo lambda watch");
        Self {
            child,
            log,
            stopped: false,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the watch and every process it started (cargo-lambda runs each function instance in
    /// a session of its own, so the process group alone is not enough). Returns the processes
    /// that were found, all of which must be gone.
    fn stop(&mut self) -> Vec<u32> {
        if std::mem::replace(&mut self.stopped, true) {
            return vec![];
        }
        let group = self.pid();
        let mut started = descendants(group);
        if self.exited().is_none() {
            // SIGTERM lets cargo-lambda stop its function instances itself.
            signal("TERM", &group.to_string());
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        started.extend(descendants(group));
        signal("KILL", &format!("-{group}"));
        for pid in &started {
            if alive(*pid) {
                signal("KILL", &pid.to_string());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        started.push(group);
        let deadline = Instant::now() + Duration::from_secs(10);
        while started.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        started
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(name: &str, target: &str) {
    let _ = Command::new("kill")
        .args(["-s", name, "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `(pid, parent pid, state)` of every process, from /proc.
fn processes() -> Vec<(u32, u32, char)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = rest.next()?.chars().next()?;
            let ppid = rest.next()?.parse().ok()?;
            Some((pid, ppid, state))
        })
        .collect()
}

fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid, _) in processes() {
        children.entry(ppid).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            found.push(child);
            stack.push(child);
        }
    }
    found
}

/// A process that exists and is not a zombie.
fn alive(pid: u32) -> bool {
    processes()
        .iter()
        .any(|&(p, _, state)| p == pid && state != 'Z')
}

/// `cargo lambda invoke --data-file events/<fixture>`, as the README shows it.
async fn invoke(port: u16, fixture: &str, budget: Duration) -> Result<Output, String> {
    let mut cmd = tokio::process::Command::new(cargo());
    cmd.env("PATH", path_with_cargo_lambda())
        .args(["lambda", "invoke", "update-log-by-ref"])
        .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
        .arg(port.to_string())
        .args(["--data-file", &format!("events/{fixture}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(budget, cmd.output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("cannot run cargo lambda invoke: {e}")),
        Err(_) => Err(format!("cargo lambda invoke took over {budget:?}")),
    }
}

/// The Lambda response object `cargo lambda invoke` prints.
fn printed_response(out: &Output) -> Result<Value, String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "cargo lambda invoke failed ({}): {stdout} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let start = stdout.find('{').ok_or(format!("no JSON in {stdout:?}"))?;
    serde_json::from_str(stdout[start..].trim()).map_err(|e| format!("{e}: {stdout:?}"))
}

/// A header of a Lambda HTTP response object, single- or multi-value.
fn response_header<'a>(resp: &'a Value, name: &str) -> Option<&'a str> {
    resp["headers"][name]
        .as_str()
        .or_else(|| resp["multiValueHeaders"][name][0].as_str())
}

/// The README's no-Docker path: tables seeded with the README's `logs-admin` commands,
/// `cargo lambda watch`, then `cargo lambda invoke --data-file events/<success fixture>` prints the
/// Lambda response with the update; nothing cargo-lambda started survives the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_lambda_invoke_with_a_fixture_updates_the_log() {
    require_cargo_lambda();
    let expected = expected();
    let tables = Tables {
        logs: unique("watch-logs"),
        api_keys: unique("watch-keys"),
    };
    seed_with_logs_admin(&expected, &tables);

    let port = free_port();
    let started = Instant::now();
    let mut watch = Watch::start(port, &tables);
    let pgid = watch.pid();

    // Up: listening, then the function answers (the first invocation starts it, through
    // `cargo run`). The warm-up event is refused with 401 and writes nothing.
    let deadline = started + FIRST_INVOKE_BUDGET;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = watch.exited() {
            panic!(
                "cargo lambda watch exited ({status}):\n{}",
                watch.log_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on {port}:\n{}",
            watch.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loop {
        let budget = deadline.saturating_duration_since(Instant::now());
        let attempt = invoke(port, WARM_UP_FIXTURE, budget)
            .await
            .and_then(|out| printed_response(&out));
        match attempt {
            Ok(resp) if resp["statusCode"] == 401 => break,
            Ok(resp) => panic!("{WARM_UP_FIXTURE} answered {resp}, expected a 401"),
            Err(e) => {
                if let Some(status) = watch.exited() {
                    panic!(
                        "cargo lambda watch exited ({status}): {e}\n{}",
                        watch.log_tail()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "the function did not answer within {FIRST_INVOKE_BUDGET:?}: {e}\n{}",
                    watch.log_tail()
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    let out = invoke(port, INVOKED_FIXTURE, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", watch.log_tail()));
    let resp = printed_response(&out).unwrap_or_else(|e| panic!("{e}\n{}", watch.log_tail()));
    assert_eq!(resp["statusCode"], 200, "{resp}");
    assert_eq!(response_header(&resp, "etag"), Some("\"1\""), "{resp}");
    let body: Value = serde_json::from_str(resp["body"].as_str().expect("a text body"))
        .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {resp}"));
    let mut diffs = Vec::new();
    mismatches(
        "body",
        &expected.fixtures[INVOKED_FIXTURE].body,
        &body,
        &mut diffs,
    );
    assert!(diffs.is_empty(), "{diffs:?}: {body}");

    // The update reached the table the function was pointed at.
    let store = Store::new(client_for(endpoint(), &CallCounter::default()), tables);
    let stored = store
        .get_log(&expected.organization, "fixture-log-1")
        .await
        .expect("get log")
        .expect("the seed log");
    assert_eq!(stored.version, 1);
    assert_eq!(as_response(stored.log), body);

    // Nothing it started survives: not the function instance, not cargo.
    let found = watch.stop();
    assert!(
        found.len() >= 2,
        "the function instance was not seen: {found:?}"
    );
    let survivors: Vec<u32> = found.into_iter().filter(|p| alive(*p)).collect();
    assert!(survivors.is_empty(), "still running: {survivors:?}");
    // Zombies are dead: this container's init may be slow to reap orphans, or never does.
    let group = Command::new("pgrep")
        .args(["-g", &pgid.to_string()])
        .output()
        .expect("pgrep");
    let left: Vec<u32> = String::from_utf8_lossy(&group.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| alive(*p))
        .collect();
    assert!(left.is_empty(), "processes left in the group: {left:?}");
    let _ = fs::remove_file(&watch.log);
}
