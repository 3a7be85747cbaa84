//! Hostile input, generated: arbitrary methods, paths, query strings, header names and cases,
//! and bodies (huge, deeply nested, wrong types, invalid UTF-8). The handler must never panic,
//! never answer 5xx, and never change the stored log on a 4xx.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::support::{sample_log, Env, Event, Source};

const CASES: u32 = 500;
const REFERENCE: &str = "hostile";

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Text(String),
    /// Arbitrary bytes, delivered base64-encoded as API Gateway does for binary bodies.
    Bytes(Vec<u8>),
    Deep(usize),
    Huge(usize),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["output", "error", "duration", "referenceId", "version", "organization_id"])
            .prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        2 => Just(Body::None),
        6 => prop::collection::btree_map(field_name(), json_value(), 0..5)
            .prop_map(|m| Body::Json(Value::Object(m.into_iter().collect()))),
        2 => json_value().prop_map(Body::Json),
        2 => ".{0,60}".prop_map(Body::Text),
        2 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Body::Bytes),
        1 => (100usize..3000).prop_map(Body::Deep),
        1 => (300_000usize..700_000).prop_map(Body::Huge),
    ]
}

fn header_case(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

#[derive(Debug, Clone)]
struct Case {
    v2: bool,
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    key_header: Option<(String, u8)>,
    headers: Vec<(String, String)>,
    body: Body,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop_oneof![
            12 => Just("PATCH"),
            1 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "OPTIONS", "patch"]),
        ],
        prop_oneof![
            12 => prop::sample::select(vec!["/logs", "/v4/logs", "/Prod/logs/"]).prop_map(str::to_owned),
            1 => "/[a-zA-Z0-9%./-]{0,16}",
        ],
        prop::collection::vec(
            (
                prop_oneof![6 => Just("reference_id".to_owned()), 1 => "[a-zA-Z_\\[\\]]{0,14}"],
                prop_oneof![6 => Just(REFERENCE.to_owned()), 1 => ".{0,20}", 1 => "\\PC{2000,2100}"],
            ),
            0..3,
        ),
        prop::option::weighted(0.95, (header_case("x-api-key"), 0u8..7)),
        prop::collection::vec(("[a-zA-Z][a-zA-Z0-9-]{0,15}", "[ -~]{0,30}"), 0..4),
        body(),
    )
        .prop_map(|(v2, method, path, query, key_header, headers, body)| Case {
            v2,
            method,
            path,
            query,
            key_header,
            headers,
            body,
        })
}

impl Case {
    fn event(&self, key: &str) -> Event {
        let mut event = Event::patch(if self.v2 {
            Source::HttpV2
        } else {
            Source::RestV1
        })
        .method(self.method)
        .path(&self.path);
        event.query = self.query.clone();
        if let Some((name, variant)) = &self.key_header {
            let value = match variant {
                0..=4 => key.to_owned(),
                5 => key.to_uppercase(),
                _ => format!("{key} "),
            };
            event = event.header(name, &value);
        }
        for (name, value) in &self.headers {
            event = event.header(name, value);
        }
        match &self.body {
            Body::None => event,
            Body::Json(v) => event.json(v.clone()),
            Body::Text(t) => event.body(t.clone()),
            Body::Bytes(b) => {
                let mut event = event.body(base64::engine::general_purpose::STANDARD.encode(b));
                event.base64 = true;
                event
            }
            Body::Deep(depth) => {
                event.body(format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)))
            }
            Body::Huge(len) => event.json(json!({ "output": "h".repeat(*len) })),
        }
    }
}

#[test]
fn hostile_requests_never_panic_5xx_or_change_data_on_4xx() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = rt.block_on(Env::new());
    let key = rt.block_on(env.api_key("acme"));
    rt.block_on(env.put_log("acme", sample_log(REFERENCE)));
    // The runner takes a `Fn`: the running state lives in cells.
    let snapshot = RefCell::new(rt.block_on(env.stored("acme", REFERENCE)).unwrap());
    let statuses = RefCell::new(BTreeMap::<u16, u32>::new());
    let skipped = Cell::new(0u32);

    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        let event = case.event(&key);
        // What API Gateway could never deliver (an invalid header value, say) is not a case.
        let Ok(req) = lambda_http::request::from_str(&event.to_event().to_string()) else {
            skipped.set(skipped.get() + 1);
            return Ok(());
        };
        let (status, body, _) = rt.block_on(env.send(req));
        *statuses.borrow_mut().entry(status).or_default() += 1;
        prop_assert!(status < 500, "{status}: {body}");
        let stored = rt.block_on(env.stored("acme", REFERENCE)).unwrap();
        let mut snapshot = snapshot.borrow_mut();
        if status == 200 {
            prop_assert_eq!(stored.version, snapshot.version + 1);
            *snapshot = stored;
        } else {
            prop_assert!(
                body["detail"].is_string() || body["detail"].is_array(),
                "{}",
                body
            );
            prop_assert_eq!(&stored, &*snapshot, "a {} changed the log", status);
        }
        Ok(())
    });
    let (statuses, skipped) = (statuses.into_inner(), skipped.get());
    eprintln!("hostile: {CASES} generated cases ({skipped} not deliverable as Lambda events), statuses {statuses:?}");
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        statuses.get(&200).copied().unwrap_or(0) > 0,
        "some cases reach a real update"
    );
    assert!(
        statuses.get(&422).copied().unwrap_or(0) > 0,
        "some cases reach validation"
    );
}
