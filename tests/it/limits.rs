//! Size limits: the request body cap and DynamoDB's 400 KB item limit.

use serde_json::json;
use update_log_by_ref::edge::request::MAX_BODY_BYTES;

use crate::support::{sample_log, Env, Event, Source, SOURCES};

#[tokio::test]
async fn a_body_over_the_cap_is_a_413_before_any_dynamodb_call() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("big")).await;
    let before = env.stored("acme", "big").await.unwrap();
    for source in SOURCES {
        let output = "x".repeat(MAX_BODY_BYTES);
        let calls = env.calls.get();
        let (status, body, _) = env
            .send(
                Event::patch(source)
                    .reference("big")
                    .key(&key)
                    .json(json!({ "output": output }))
                    .request(),
            )
            .await;
        assert_eq!(status, 413, "{body}");
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains(&MAX_BODY_BYTES.to_string()));
        assert_eq!(
            env.calls.get(),
            calls,
            "no DynamoDB call for an oversized body"
        );
    }
    assert_eq!(env.stored("acme", "big").await.unwrap(), before);
}

#[tokio::test]
async fn an_update_past_the_item_limit_is_a_413_and_changes_nothing() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    let mut log = sample_log("full");
    log["raw_output"] = json!("r".repeat(300 * 1024));
    env.put_log("acme", log).await;
    let before = env.stored("acme", "full").await.unwrap();
    let output = "o".repeat(150 * 1024);
    let (status, body, _) = env
        .send(
            Event::patch(Source::RestV1)
                .reference("full")
                .key(&key)
                .json(json!({ "output": output }))
                .request(),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("400 KB"),
        "{body}"
    );
    assert_eq!(env.stored("acme", "full").await.unwrap(), before);
    // A smaller update still fits.
    let (status, _, _) = env
        .send(
            Event::patch(Source::RestV1)
                .reference("full")
                .key(&key)
                .json(json!({"output": "fits"}))
                .request(),
        )
        .await;
    assert_eq!(status, 200);
}
