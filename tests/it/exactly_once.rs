//! Exactly-once updates through lost answers: DynamoDB applies a write and its answer never
//! arrives, so the SDK (or the client) retries. A retry is recognised by the request's token:
//! never applied twice, never a false 412. `Idempotency-Key` extends that to the client's retries.

use std::collections::BTreeSet;
use std::sync::Arc;

use lambda_http::Request;
use serde_json::{json, Value};
use update_log_by_ref::config::MAX_ATTEMPTS;
use update_log_by_ref::edge::App;
use update_log_by_ref::store::Store;

use crate::proxy::{Fault, FaultProxy};
use crate::support::{endpoint, patient_client_for, sample_log, CallCounter, Env, Event, Source};

fn update(key: &str, output: &str, headers: &[(&str, &str)]) -> Request {
    let mut event = Event::patch(Source::HttpV2)
        .reference("once")
        .key(key)
        .json(json!({ "output": output }));
    for (name, value) in headers {
        event = event.header(name, value);
    }
    event.request()
}

/// A log behind a fault proxy, and a key whose lookup is already cached (so every later
/// DynamoDB call of a request is its `UpdateItem`). The log is at version 1. The function's
/// retries with patient timeouts: a lost answer fails at once, and a loaded machine must not
/// turn a slow retry into a timeout that is not this test's subject.
async fn through_proxy() -> (FaultProxy, Env, String) {
    let proxy = FaultProxy::start(endpoint()).await;
    let env = Env::via_patient(&proxy.url).await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("once")).await;
    assert_eq!(env.send(update(&key, "warm", &[])).await.0, 200);
    (proxy, env, key)
}

fn etag(resp: &lambda_http::Response<lambda_http::Body>) -> String {
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

fn replayed(resp: &lambda_http::Response<lambda_http::Body>) -> bool {
    resp.headers().get("idempotent-replayed").is_some()
}

#[tokio::test]
async fn one_lost_answer_with_if_match_is_a_200_with_the_new_etag() {
    let (proxy, env, key) = through_proxy().await;
    proxy.set(Fault::LoseUpdateAnswers(1));
    let (status, body, resp) = env
        .send(update(&key, "landed once", &[("If-Match", "\"1\"")]))
        .await;
    assert_eq!(proxy.lost_answers(), 1, "the fault fired");
    assert_eq!(status, 200, "{body}");
    assert_eq!(etag(&resp), "\"2\"");
    assert!(
        replayed(&resp),
        "the answer is the replay of the landed attempt"
    );
    let stored = env.stored("acme", "once").await.unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.log.output.as_deref(), Some("landed once"));
    assert_eq!(body["output"], "landed once");
}

#[tokio::test]
async fn one_lost_answer_without_if_match_counts_once() {
    let (proxy, env, key) = through_proxy().await;
    proxy.set(Fault::LoseUpdateAnswers(1));
    let (status, body, resp) = env.send(update(&key, "counted once", &[])).await;
    assert_eq!(proxy.lost_answers(), 1);
    assert_eq!(status, 200, "{body}");
    assert_eq!(etag(&resp), "\"2\"");
    assert_eq!(env.stored("acme", "once").await.unwrap().version, 2);
}

#[tokio::test]
async fn every_answer_lost_is_a_503_and_the_keyed_retry_replays_it() {
    let (proxy, env, key) = through_proxy().await;
    let idempotency = [("Idempotency-Key", "retry-after-503")];
    proxy.set(Fault::LoseUpdateAnswers(usize::MAX));
    let (status, body, resp) = env.send(update(&key, "applied once", &idempotency)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(proxy.lost_answers(), MAX_ATTEMPTS as usize);
    let after_503 = env.stored("acme", "once").await.unwrap();
    assert_eq!(
        after_503.version, 2,
        "applied once, not {MAX_ATTEMPTS} times"
    );
    assert_eq!(after_503.log.output.as_deref(), Some("applied once"));

    // DynamoDB is back; the client retries as Retry-After invites, with the same key.
    proxy.set(Fault::Pass);
    let (status, body, resp) = env.send(update(&key, "applied once", &idempotency)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(etag(&resp), "\"2\"");
    assert!(replayed(&resp));
    assert_eq!(env.stored("acme", "once").await.unwrap(), after_503);
    assert_eq!(body["output"], "applied once");

    // The same key with another body: a 422, nothing changed.
    let (status, body, _) = env.send(update(&key, "something else", &idempotency)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["header", "idempotency-key"])
    );
    assert_eq!(env.stored("acme", "once").await.unwrap(), after_503);
}

#[tokio::test]
async fn a_key_is_remembered_until_the_next_update_of_the_log() {
    let (_proxy, env, key) = through_proxy().await;
    let keyed = [("Idempotency-Key", "k-1")];
    let (status, first, resp) = env.send(update(&key, "keyed", &keyed)).await;
    assert_eq!(
        (status, etag(&resp), replayed(&resp)),
        (200, "\"2\"".into(), false)
    );
    let (status, again, resp) = env.send(update(&key, "keyed", &keyed)).await;
    assert_eq!(
        (status, etag(&resp), replayed(&resp)),
        (200, "\"2\"".into(), true)
    );
    assert_eq!(again, first, "answered exactly as the first time");
    // Another writer updates the log: the key's retry after that is a new update.
    assert_eq!(env.send(update(&key, "other", &[])).await.0, 200);
    let (status, _, resp) = env.send(update(&key, "keyed", &keyed)).await;
    assert_eq!(
        (status, etag(&resp), replayed(&resp)),
        (200, "\"4\"".into(), false)
    );
    // The same key on another log is another request.
    env.put_log("acme", sample_log("twin")).await;
    let twin = Event::patch(Source::RestV1)
        .reference("twin")
        .key(&key)
        .header("Idempotency-Key", "k-1")
        .json(json!({"output": "keyed"}))
        .request();
    let (status, _, resp) = env.send(twin).await;
    assert_eq!(
        (status, etag(&resp), replayed(&resp)),
        (200, "\"1\"".into(), false)
    );
}

#[tokio::test]
async fn idempotency_keys_are_1_to_255_printable_ascii_characters() {
    let (_proxy, env, key) = through_proxy().await;
    let before = env.stored("acme", "once").await.unwrap();
    let longest = "k".repeat(255);
    let too_long = "k".repeat(256);
    // (Control characters and non-ASCII never get this far: an event carrying them in a header
    // is not a valid HTTP request, and lambda_http refuses it before the handler runs.)
    for bad in ["", "   ", too_long.as_str()] {
        let (status, body, _) = env
            .send(update(&key, "x", &[("Idempotency-Key", bad)]))
            .await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["header", "idempotency-key"])
        );
    }
    // Two different keys, where an event source delivers both: an ALB with multi-value headers.
    let two = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},
        "httpMethod": "PATCH",
        "path": "/logs",
        "multiValueQueryStringParameters": {"reference_id": ["once"]},
        "multiValueHeaders": {"x-api-key": [key], "idempotency-key": ["a", "b"]},
        "body": "{\"output\": \"x\"}",
        "isBase64Encoded": false
    });
    let two = lambda_http::request::from_str(&two.to_string()).expect("an ALB event");
    let (status, body, _) = env.send(two).await;
    assert_eq!(status, 422, "two different keys: {body}");
    assert_eq!(env.stored("acme", "once").await.unwrap(), before);
    for good in [
        longest.as_str(),
        "~ !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}",
        "1",
    ] {
        let (status, body, _) = env
            .send(update(&key, "x", &[("Idempotency-Key", good)]))
            .await;
        assert_eq!(status, 200, "{good:?}: {body}");
    }
}

/// Twenty writers race on one log with `If-Match`, through several instances, while every third
/// `UpdateItem` answer is lost. Each writer takes the ETag of a 412 and tries again with a new
/// key (a 412 says nothing changed), and retries a 503 with the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_if_match_writers_with_lost_answers_apply_each_update_once() {
    const WRITERS: usize = 20;
    const INSTANCES: usize = 4;
    let (proxy, env, key) = through_proxy().await;
    let start = env.stored("acme", "once").await.unwrap().version;
    let instances: Vec<Arc<App>> = (0..INSTANCES)
        .map(|_| {
            let store = Store::new(
                patient_client_for(&proxy.url, &CallCounter::default()),
                env.store.tables().clone(),
            );
            Arc::new(App::new(store))
        })
        .collect();
    proxy.set(Fault::lose_every_nth_update_answer(3));

    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (app, key) = (instances[w % INSTANCES].clone(), key.clone());
            tokio::spawn(async move {
                let mut if_match = format!("\"{start}\"");
                let mut attempt = 0;
                for _ in 0..400 {
                    let idempotency_key = format!("writer-{w}-{attempt}");
                    let req = update(
                        &key,
                        &format!("writer {w}"),
                        &[
                            ("If-Match", &if_match),
                            ("Idempotency-Key", &idempotency_key),
                        ],
                    );
                    let Ok(resp) = app.handle(req).await;
                    match resp.status().as_u16() {
                        200 => {
                            let body: Value = serde_json::from_slice(resp.body()).unwrap();
                            return (etag(&resp), replayed(&resp), body);
                        }
                        412 => {
                            if_match = etag(&resp);
                            attempt += 1;
                        }
                        503 => {}
                        other => panic!("writer {w}: unexpected {other}"),
                    }
                }
                panic!("writer {w} never got its update in");
            })
        })
        .collect();
    let mut fresh = BTreeSet::new();
    let mut all = Vec::new();
    for (w, task) in tasks.into_iter().enumerate() {
        let (etag, replayed, body) = task.await.expect("no panic");
        let version: u64 = etag.trim_matches('"').parse().unwrap();
        assert!(
            (start + 1..=start + WRITERS as u64).contains(&version),
            "writer {w}: ETag {etag} outside the versions written"
        );
        if !replayed {
            assert!(
                fresh.insert(version),
                "two fresh 200s for version {version}"
            );
            assert_eq!(
                body["output"],
                format!("writer {w}"),
                "a fresh 200 shows its own write"
            );
        }
        all.push(version);
    }
    assert!(proxy.lost_answers() > 0, "the fault fired");
    let stored = env.stored("acme", "once").await.unwrap();
    // Every writer's update applied exactly once: no retry counted twice, and no 412 for a write
    // that had landed (its writer would have applied it again under a new key).
    assert_eq!(stored.version, start + WRITERS as u64, "versions: {all:?}");
    println!(
        "{WRITERS} If-Match writers, {} answers lost: {} fresh 200s, {} replays",
        proxy.lost_answers(),
        fresh.len(),
        WRITERS - fresh.len()
    );
}
