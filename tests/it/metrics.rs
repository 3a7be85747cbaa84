//! The real binary's CloudWatch metrics: one valid Embedded Metric Format document per
//! invocation, on stdout, through every kind of answer, with the counts docs/operations.md
//! promises, `ColdStart` once per process, and nothing secret in it.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::Unit;
use serde_json::{json, Value};
use update_log_by_ref::metrics::{
    CLIENT_ERROR, COLD_START, DEFAULT_NAMESPACE, DIMENSION, DYNAMODB_LATENCY, DYNAMODB_THROTTLED,
    LATENCY, METRICS, SERVER_ERROR, UPDATED,
};

use crate::function::{assert_holds_none, is_emf, Function, Setup};
use crate::proxy::Fault;
use crate::runtime_api::RuntimeApi;
use crate::support::{endpoint, Env, Event, Source};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// Checks `doc` is valid EMF in `namespace` and returns its metric values by name (each a number,
/// or the array of numbers a histogram holds).
fn metric_values(doc: &Value, namespace: &str, window: (u64, u64)) -> BTreeMap<String, Vec<f64>> {
    let aws = &doc["_aws"];
    let timestamp = aws["Timestamp"].as_u64().expect("an integer Timestamp");
    assert!(
        (window.0..=window.1).contains(&timestamp),
        "Timestamp {timestamp} is not milliseconds within the test's run {window:?}"
    );
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert_eq!(directives.len(), 1, "{doc}");
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], namespace, "{doc}");
    // One bounded dimension, whose value is a top-level string.
    assert_eq!(directive["Dimensions"], json!([[DIMENSION]]), "{doc}");
    assert_eq!(doc[DIMENSION], "update-log-by-ref", "{doc}");

    let mut values = BTreeMap::new();
    for definition in directive["Metrics"].as_array().expect("Metrics") {
        let name = definition["Name"].as_str().expect("a metric Name");
        let unit = definition["Unit"].as_str().expect("a metric Unit");
        let (_, want_unit) = METRICS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not one of the documented metrics"));
        let cloudwatch_unit = match want_unit {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            other => panic!("{name}: no CloudWatch unit for {other:?} in this test"),
        };
        assert_eq!(unit, cloudwatch_unit, "unit of {name}");
        let numbers = match &doc[name] {
            Value::Number(n) => vec![n.as_f64().expect("finite")],
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_f64().expect("a number"))
                .collect(),
            other => panic!("{name}: the value must be top-level and numeric, got {other}"),
        };
        assert!(!numbers.is_empty() && numbers.len() <= 100, "{name}: {doc}");
        values.insert(name.to_owned(), numbers);
    }
    // Nothing else rides along: no payload, key or identifier beyond the request id.
    let expected_keys: Vec<&str> = ["_aws", DIMENSION, "RequestId"]
        .into_iter()
        .chain(values.keys().map(String::as_str))
        .collect();
    for key in doc.as_object().expect("an object").keys() {
        assert!(
            expected_keys.contains(&key.as_str()),
            "unexpected {key}: {doc}"
        );
    }
    let request_id = doc["RequestId"].as_str().expect("a RequestId property");
    assert_eq!(request_id.len(), 36, "{doc}");
    values
}

fn single(values: &BTreeMap<String, Vec<f64>>, name: &str) -> f64 {
    match values.get(name).map(Vec::as_slice) {
        Some([value]) => *value,
        other => panic!("{name}: one value expected, got {other:?}"),
    }
}

#[tokio::test]
async fn every_invocation_writes_one_emf_document_with_its_counts() {
    let Setup {
        proxy,
        env,
        key,
        mut api,
    } = Setup::new("counted").await;
    let started_ms = now_ms();
    let function = Function::start(&api, &env, &proxy.url, &[]);
    api.first_poll().await.expect("the function finished init");

    let secret_output = "SECRET-OUTPUT-4d1e";
    let secret_reference = "SECRET-REFERENCE-77aa";
    let wrong_key = "hl_SECRET-WRONG-KEY-0b0b";
    let ok = || Event::patch(Source::HttpV2).reference("counted").key(&key);
    let update = || ok().json(json!({ "output": secret_output }));
    let cases: Vec<(&str, Event, u16, Fault)> = vec![
        ("update", update(), 200, Fault::Pass),
        (
            "unknown key",
            Event::patch(Source::HttpV2)
                .reference("counted")
                .key(wrong_key)
                .json(json!({})),
            401,
            Fault::Pass,
        ),
        (
            "unknown log",
            Event::patch(Source::RestV1)
                .reference(secret_reference)
                .key(&key)
                .json(json!({ "output": secret_output })),
            404,
            Fault::Pass,
        ),
        ("unknown route", update().path("/other"), 404, Fault::Pass),
        (
            "stale version",
            update().header("if-match", "\"999\""),
            412,
            Fault::Pass,
        ),
        (
            "wrong type",
            ok().json(json!({ "output": 5, "error": secret_output })),
            422,
            Fault::Pass,
        ),
        (
            "huge",
            ok().json(json!({ "output": secret_output.repeat(40_000) })),
            413,
            Fault::Pass,
        ),
        ("throttled", update(), 503, Fault::throttled()),
        (
            "denied",
            update(),
            500,
            Fault::Error(400, "com.amazon.coral.service#AccessDeniedException"),
        ),
        ("recovered", update(), 200, Fault::Pass),
    ];
    // Per invocation: the answer, and the DynamoDB requests the proxy saw (all throttled or not).
    let mut seen = Vec::new();
    for (name, event, want, fault) in &cases {
        let throttling = *fault == Fault::throttled();
        proxy.set(fault.clone());
        let before = proxy.requests();
        let answer = api
            .invoke(event.to_event().to_string().into())
            .await
            .expect("an answer");
        let requests = proxy.requests() - before;
        proxy.set(Fault::Pass);
        let response: Value = serde_json::from_slice(&answer.body).expect("a JSON response");
        assert_eq!(response["statusCode"], *want, "{name}: {response}");
        seen.push((*name, *want, requests, throttling));
    }
    let lines = function.stop().await;
    let window = (started_ms, now_ms());

    let documents: Vec<Value> = lines
        .iter()
        .filter(|line| is_emf(line))
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert_eq!(
        documents.len(),
        cases.len(),
        "one document per invocation:\n{}",
        lines.join("\n")
    );
    let mut request_ids = Vec::new();
    for (i, (doc, (name, status, requests, throttling))) in documents.iter().zip(&seen).enumerate()
    {
        let values = metric_values(doc, DEFAULT_NAMESPACE, window);
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        assert_eq!(single(&values, UPDATED), flag(*status == 200), "{name}");
        assert_eq!(
            single(&values, CLIENT_ERROR),
            flag((400..500).contains(status)),
            "{name}"
        );
        assert_eq!(
            single(&values, SERVER_ERROR),
            flag(*status >= 500),
            "{name}"
        );
        assert_eq!(single(&values, COLD_START), flag(i == 0), "{name}");
        assert!(single(&values, LATENCY) > 0.0, "{name}");
        // DynamoDB time is reported when a call was made, and is part of the invocation's time.
        match values.get(DYNAMODB_LATENCY) {
            Some(_) => {
                assert!(*requests > 0, "{name}: no DynamoDB call was made");
                let dynamodb = single(&values, DYNAMODB_LATENCY);
                assert!(
                    dynamodb > 0.0 && dynamodb <= single(&values, LATENCY),
                    "{name}: {doc}"
                );
            }
            None => assert_eq!(*requests, 0, "{name}: DynamoDbLatency missing"),
        }
        let throttled = if *throttling { *requests } else { 0 };
        assert_eq!(
            single(&values, DYNAMODB_THROTTLED),
            throttled as f64,
            "{name}: every throttled attempt counts, retries included"
        );
        request_ids.push(doc["RequestId"].clone());
    }
    request_ids.dedup();
    assert_eq!(request_ids.len(), cases.len(), "a request id per document");
    let throttled_attempts = seen.iter().find(|s| s.3).map(|s| s.2);
    assert!(
        throttled_attempts.is_some_and(|n| n > 1),
        "the throttled update was retried: {throttled_attempts:?}"
    );

    let text: String = documents.iter().map(Value::to_string).collect();
    assert_holds_none(
        &text,
        &[&key, wrong_key],
        &[secret_output, secret_reference, "acme"],
    );
    eprintln!(
        "metrics: {} EMF documents for {} invocations, e.g. {}",
        documents.len(),
        cases.len(),
        documents[0]
    );
}

/// `METRICS_NAMESPACE` overrides the namespace, and a new process is a new cold start.
#[tokio::test]
async fn the_namespace_is_configurable_and_each_process_starts_cold() {
    let env = Env::new().await;
    let mut api = RuntimeApi::start().await.expect("runtime API");
    let started_ms = now_ms();
    let function = Function::start(&api, &env, endpoint(), &[("METRICS_NAMESPACE", "Staging")]);
    api.first_poll().await.expect("the function finished init");
    for _ in 0..2 {
        let event = Event::patch(Source::HttpV2).path("/elsewhere").to_event();
        api.invoke(event.to_string().into())
            .await
            .expect("an answer");
    }
    let lines = function.stop().await;
    let documents: Vec<Value> = lines
        .iter()
        .filter(|line| is_emf(line))
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert_eq!(documents.len(), 2, "{lines:#?}");
    let cold: Vec<f64> = documents
        .iter()
        .map(|doc| {
            single(
                &metric_values(doc, "Staging", (started_ms, now_ms())),
                COLD_START,
            )
        })
        .collect();
    assert_eq!(cold, [1.0, 0.0]);
}
