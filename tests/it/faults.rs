//! DynamoDB misbehaving: unreachable, stalled, dropping connections, failing, throttling,
//! missing tables, access denied. Each ends in a timely JSON answer, and the instance recovers.

use std::time::{Duration, Instant};

use serde_json::json;
use update_log_by_ref::config::MAX_ATTEMPTS;
use update_log_by_ref::edge::App;
use update_log_by_ref::store::Store;

use crate::proxy::{Fault, FaultProxy};
use crate::support::{
    capture_logs, client_for, endpoint, free_port, sample_log, CallCounter, Env, Event, Source,
};

/// Lambda's timeout in template.yaml: a fault must be answered well before it.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(10);

fn retryable_faults() -> Vec<(&'static str, Fault)> {
    vec![
        ("stalled past every timeout", Fault::Stall),
        ("connection reset", Fault::Reset),
        (
            "HTTP 500",
            Fault::Error(500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
        ),
        ("ProvisionedThroughputExceeded", Fault::throttled()),
        (
            "ThrottlingException",
            Fault::Error(400, "com.amazon.coral.availability#ThrottlingException"),
        ),
        (
            "RequestLimitExceeded",
            Fault::Error(400, "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded"),
        ),
    ]
}

fn update(reference: &str, key: &str, output: &str) -> lambda_http::Request {
    Event::patch(Source::HttpV2)
        .reference(reference)
        .key(key)
        .json(json!({ "output": output }))
        .request()
}

#[tokio::test]
async fn retryable_faults_become_a_timely_503_and_the_warm_instance_recovers() {
    let proxy = FaultProxy::start(endpoint()).await;
    let env = Env::via(&proxy.url).await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("f")).await;
    assert_eq!(env.send(update("f", &key, "warm")).await.0, 200);

    for (name, fault) in retryable_faults() {
        let before = env.stored("acme", "f").await.unwrap();
        proxy.set(fault);
        let sent = proxy.requests();
        let started = Instant::now();
        let ((status, body, resp), logs) =
            capture_logs(env.send(update("f", &key, "during fault"))).await;
        let took = started.elapsed();
        let attempts = proxy.requests() - sent;
        proxy.set(Fault::Pass);

        assert_eq!(status, 503, "{name}: {body}");
        assert_eq!(resp.headers()["retry-after"], "1", "{name}");
        assert_eq!(
            body["detail"],
            "The log store is temporarily unavailable; the update may or may not have been applied. Retry later with the same Idempotency-Key to apply it exactly once."
        );
        assert!(took < LAMBDA_TIMEOUT / 2, "{name}: answered after {took:?}");
        assert!(
            (1..=MAX_ATTEMPTS as usize).contains(&attempts),
            "{name}: {attempts} attempts"
        );
        assert!(logs.contains("DynamoDB unavailable"), "{name}: {logs}");
        if !matches!(name, "stalled past every timeout" | "connection reset") {
            assert_eq!(
                env.stored("acme", "f").await.unwrap(),
                before,
                "{name}: nothing written"
            );
        }

        let (status, body, _) = env.send(update("f", &key, name)).await;
        assert_eq!(status, 200, "recovers after {name}: {body}");
        assert_eq!(body["output"], name);
        eprintln!(
            "fault {name:<32} -> 503 in {took:>9.1?} after {attempts} attempt(s); next request 200"
        );
    }
}

#[tokio::test]
async fn a_fault_during_the_key_lookup_is_a_503_too() {
    let proxy = FaultProxy::start(endpoint()).await;
    let env = Env::via(&proxy.url).await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("cold")).await;
    proxy.set(Fault::throttled());
    let (status, _, resp) = env.send(update("cold", &key, "x")).await;
    assert_eq!(status, 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    proxy.set(Fault::Pass);
    // The failed lookup was not cached as "unknown key".
    assert_eq!(env.send(update("cold", &key, "x")).await.0, 200);
}

#[tokio::test]
async fn unreachable_dynamodb_is_a_503_until_it_comes_back() {
    let seeded = Env::new().await;
    let key = seeded.api_key("acme").await;
    seeded.put_log("acme", sample_log("gone")).await;
    let port = free_port();
    let store = Store::new(
        client_for(&format!("http://127.0.0.1:{port}"), &CallCounter::default()),
        seeded.store.tables().clone(),
    );
    let app = App::new(store);

    let started = Instant::now();
    let Ok(resp) = app.handle(update("gone", &key, "x")).await;
    assert_eq!(resp.status(), 503);
    assert!(started.elapsed() < LAMBDA_TIMEOUT / 2);

    // DynamoDB comes back on that address: the same instance serves again.
    let _proxy = FaultProxy::start_on(port, endpoint()).await;
    let Ok(resp) = app.handle(update("gone", &key, "back")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        seeded
            .stored("acme", "gone")
            .await
            .unwrap()
            .log
            .output
            .as_deref(),
        Some("back")
    );
}

#[tokio::test]
async fn missing_table_is_a_500_that_leaks_nothing_and_logs_the_cause() {
    let seeded = Env::new().await;
    let key = seeded.api_key("acme").await;
    let mut tables = seeded.store.tables().clone();
    tables.logs = "no-such-table".into();
    let app = App::new(Store::new(
        client_for(endpoint(), &CallCounter::default()),
        tables,
    ));

    let (resp, logs) = capture_logs(app.handle(update("any", &key, "secret-output"))).await;
    let Ok(resp) = resp;
    assert_eq!(resp.status(), 500);
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(body, json!({"detail": "Internal server error."}));
    assert!(logs.contains("ResourceNotFoundException"), "{logs}");
    assert!(
        !logs.contains("secret-output") && !logs.contains(&key),
        "{logs}"
    );
}

#[tokio::test]
async fn access_denied_is_a_500_that_leaks_nothing_and_logs_the_cause() {
    let proxy = FaultProxy::start(endpoint()).await;
    let env = Env::via(&proxy.url).await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("denied")).await;
    assert_eq!(env.send(update("denied", &key, "warm")).await.0, 200);
    proxy.set(Fault::Error(
        400,
        "com.amazon.coral.service#AccessDeniedException",
    ));
    let sent = proxy.requests();
    let ((status, body, _), logs) = capture_logs(env.send(update("denied", &key, "x"))).await;
    assert_eq!(status, 500);
    assert_eq!(body, json!({"detail": "Internal server error."}));
    assert_eq!(proxy.requests() - sent, 1, "access denied is not retried");
    assert!(logs.contains("AccessDeniedException"), "{logs}");
}
