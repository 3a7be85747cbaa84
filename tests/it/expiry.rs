//! Logs that expire: from its `expires_at` second on, a log is gone to the API (404, nothing
//! changed) even while it waits for DynamoDB's TTL to delete it; before that it updates as any
//! other, and no update moves or clears its expiry.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::Request;
use serde_json::{json, Value};
use update_log_by_ref::model::{epoch_seconds_now, Item, Log};

use crate::support::{client_for, endpoint, sample_log, CallCounter, Env, Event, Source};

const REFERENCE: &str = "expiring";

fn update(key: &str, headers: &[(&str, &str)]) -> Request {
    let mut event = Event::patch(Source::HttpV2)
        .reference(REFERENCE)
        .key(key)
        .json(json!({ "output": "changed" }));
    for (name, value) in headers {
        event = event.header(name, value);
    }
    event.request()
}

/// A fresh table holding acme's log `expiring` with `expires_at` (epoch seconds), and a key.
async fn log_expiring_at(expires_at: Option<u64>) -> (Env, String) {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    let log: Log = serde_json::from_value(sample_log(REFERENCE)).unwrap();
    env.store
        .put_log("acme", &log, expires_at)
        .await
        .expect("put log");
    (env, key)
}

/// The stored item, every attribute as DynamoDB holds it.
pub async fn raw_item(env: &Env, log_key: &str) -> Item {
    client_for(endpoint(), &CallCounter::default())
        .get_item()
        .table_name(&env.store.tables().logs)
        .key("log_key", AttributeValue::S(log_key.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
        .expect("the item is there")
}

/// Sets attributes of the stored item directly, as another writer (or time) would.
async fn set_attribute(env: &Env, name: &str, value: AttributeValue) {
    client_for(endpoint(), &CallCounter::default())
        .update_item()
        .table_name(&env.store.tables().logs)
        .key("log_key", AttributeValue::S(format!("acme#{REFERENCE}")))
        .update_expression("SET #a = :v")
        .expression_attribute_names("#a", name)
        .expression_attribute_values(":v", value)
        .send()
        .await
        .expect("update item");
}

#[tokio::test]
async fn an_expired_log_is_a_404_and_stays_byte_for_byte_as_it_was() {
    let (env, key) = log_expiring_at(Some(epoch_seconds_now() - 60)).await;
    let before = raw_item(&env, "acme#expiring").await;
    assert!(before.contains_key("expires_at"), "{before:?}");
    for headers in [
        vec![],
        vec![("If-Match", "*")],
        // The version the log is at: without the expiry this would apply.
        vec![("If-Match", "\"0\"")],
        // A version it is not at: without the expiry this would be a 412.
        vec![("If-Match", "\"7\"")],
        vec![("Idempotency-Key", "expired-1")],
    ] {
        let (status, body, _) = env.send(update(&key, &headers)).await;
        assert_eq!(status, 404, "{headers:?}: {body}");
        assert_eq!(
            body["detail"], "No log with this reference_id.",
            "{headers:?}"
        );
        assert_eq!(raw_item(&env, "acme#expiring").await, before, "{headers:?}");
    }
}

#[tokio::test]
async fn a_retry_after_the_log_expired_is_a_404_never_a_replay() {
    let (env, key) = log_expiring_at(None).await;
    let request = [("Idempotency-Key", "k-expire"), ("If-Match", "\"0\"")];
    let (status, _, first) = env.send(update(&key, &request)).await;
    assert_eq!(status, 200);
    assert_eq!(first.headers()["etag"], "\"1\"");
    // While the log lives, the retry is recognised as the same request.
    let (status, _, retry) = env.send(update(&key, &request)).await;
    assert_eq!(status, 200);
    assert!(retry.headers().get("idempotent-replayed").is_some());

    set_attribute(
        &env,
        "expires_at",
        AttributeValue::N((epoch_seconds_now() - 1).to_string()),
    )
    .await;
    let before = raw_item(&env, "acme#expiring").await;
    let (status, body, _) = env.send(update(&key, &request)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(raw_item(&env, "acme#expiring").await, before);
}

#[tokio::test]
async fn a_log_expiring_later_updates_normally_and_keeps_its_expiry() {
    let expires_at = epoch_seconds_now() + 3600;
    let (env, key) = log_expiring_at(Some(expires_at)).await;
    for (headers, etag) in [(vec![], "\"1\""), (vec![("If-Match", "\"1\"")], "\"2\"")] {
        let (status, body, resp) = env.send(update(&key, &headers)).await;
        assert_eq!(status, 200, "{headers:?}: {body}");
        assert_eq!(body["output"], "changed");
        assert_eq!(resp.headers()["etag"], etag);
        // Internal attributes stay internal.
        assert!(body.get("expires_at").is_none(), "{body}");
    }
    let stored = raw_item(&env, "acme#expiring").await;
    assert_eq!(
        stored["expires_at"],
        AttributeValue::N(expires_at.to_string())
    );
    assert_eq!(stored["output"], AttributeValue::S("changed".into()));
}

#[tokio::test]
async fn an_expiry_that_is_no_number_is_a_500_and_changes_nothing() {
    let (env, key) = log_expiring_at(None).await;
    set_attribute(&env, "expires_at", AttributeValue::S("tomorrow".into())).await;
    let before = raw_item(&env, "acme#expiring").await;
    let (status, body, _) = env.send(update(&key, &[])).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(raw_item(&env, "acme#expiring").await, before);
    let detail: &Value = &body["detail"];
    assert!(!detail.to_string().contains("tomorrow"), "{body}");
}
