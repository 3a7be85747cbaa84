//! A log replaced whole (`logs-admin put-log`) continues its version sequence: no entity tag
//! issued for the old log matches the new one. `put-log --expires-at` sets the expiry.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use crate::admin_cli::Admin;
use crate::expiry::raw_item;
use crate::support::{sample_log, Env, Event, SOURCES};

const LOG_KEY: &str = "acme#replaced";

fn update(key: &str, if_match: Option<&str>, output: &str) -> lambda_http::Request {
    let mut event = Event::patch(SOURCES[1]).reference("replaced").key(key);
    if let Some(tags) = if_match {
        event = event.header("If-Match", tags);
    }
    event.json(json!({ "output": output })).request()
}

/// `logs-admin put-log` of acme's log `replaced` (with `extra` arguments); the version it reports.
fn put_log(admin: &Admin, output: &str, extra: &[&str]) -> String {
    let mut log = sample_log("replaced");
    log["output"] = json!(output);
    let mut args = vec!["put-log", "--organization", "acme"];
    args.extend_from_slice(extra);
    let out = admin.run(&args, Some(&log.to_string()));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "put-log failed: {stderr}");
    stderr.trim().to_owned()
}

#[tokio::test]
async fn an_etag_of_the_replaced_log_is_a_412_with_the_current_etag() {
    let env = Env::new().await;
    let admin = Admin::new(env.store.tables().clone());
    let key = env.api_key("acme").await;
    assert_eq!(put_log(&admin, "first", &[]), "version: 0");
    for (n, etag) in [(1, "\"1\""), (2, "\"2\""), (3, "\"3\"")] {
        let (status, body, resp) = env.send(update(&key, None, &format!("update {n}"))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(resp.headers()["etag"], etag);
    }

    assert_eq!(put_log(&admin, "second", &[]), "version: 4");
    let replaced = raw_item(&env, LOG_KEY).await;
    assert_eq!(replaced["output"], AttributeValue::S("second".into()));
    // The old log's bookkeeping went with it.
    assert!(!replaced.contains_key("request_token"), "{replaced:?}");

    let (status, body, resp) = env.send(update(&key, Some("\"3\""), "stale")).await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(resp.headers()["etag"], "\"4\"");
    assert_eq!(
        raw_item(&env, LOG_KEY).await,
        replaced,
        "the 412 changed the log"
    );

    // The new log's own ETag does match.
    let (status, body, resp) = env.send(update(&key, Some("\"4\""), "fresh")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(resp.headers()["etag"], "\"5\"");
}

#[tokio::test]
async fn put_log_sets_the_expiry_and_a_replacement_without_one_has_none() {
    let env = Env::new().await;
    let admin = Admin::new(env.store.tables().clone());
    put_log(&admin, "first", &["--expires-at", "4102444800"]);
    let stored = raw_item(&env, LOG_KEY).await;
    assert_eq!(stored["expires_at"], AttributeValue::N("4102444800".into()));
    assert!(
        !stored.contains_key("version"),
        "a new log starts at 0: {stored:?}"
    );
    let got = admin.run(&["get-log", "--organization", "acme", "replaced"], None);
    let stderr = String::from_utf8(got.stderr).unwrap();
    assert!(stderr.contains("expires_at: 4102444800"), "{stderr}");

    assert_eq!(put_log(&admin, "second", &[]), "version: 1");
    assert!(!raw_item(&env, LOG_KEY).await.contains_key("expires_at"));

    let refused = admin.fails(
        &["put-log", "--organization", "acme", "--expires-at", "soon"],
        None,
    );
    assert!(refused.contains("--expires-at"), "{refused}");
}
