//! 422s in FastAPI's shape: every problem listed, nothing stored.

use serde_json::{json, Value};
use update_log_by_ref::model::{
    log_key, MAX_ORGANIZATION_ID_BYTES, MAX_PARTITION_KEY_BYTES, MAX_REFERENCE_ID_BYTES,
};

use crate::support::{sample_log, Env, Event, SOURCES};

/// Sends `event` (with the key) and checks 422, the `loc`s in order, and that nothing changed.
async fn assert_422(env: &Env, event: Event, want_locs: Value) -> Value {
    let before = env.stored("acme", "v").await.unwrap();
    let (status, body, resp) = env.send(event.request()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let detail = body["detail"].as_array().expect("detail is a list");
    let locs: Vec<Value> = detail.iter().map(|d| d["loc"].clone()).collect();
    assert_eq!(Value::Array(locs), want_locs, "{body}");
    for d in detail {
        assert!(d["msg"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
        assert!(d["type"].as_str().is_some_and(|t| !t.is_empty()), "{d}");
    }
    assert_eq!(
        env.stored("acme", "v").await.unwrap(),
        before,
        "a 422 changes nothing"
    );
    body
}

#[tokio::test]
async fn query_parameter_problems() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("v")).await;
    let loc = json!([["query", "reference_id"]]);
    for source in SOURCES {
        let base = || Event::patch(source).key(&key).json(json!({"output": "x"}));
        let body = assert_422(&env, base(), loc.clone()).await;
        assert_eq!(body["detail"][0]["type"], "missing");
        let body = assert_422(&env, base().reference(""), loc.clone()).await;
        assert_eq!(body["detail"][0]["type"], "string_too_short");
        let too_long = "r".repeat(MAX_REFERENCE_ID_BYTES + 1);
        let body = assert_422(&env, base().reference(&too_long), loc.clone()).await;
        assert_eq!(body["detail"][0]["type"], "string_too_long");
        // Multi-byte characters count in bytes, as DynamoDB counts them.
        let two_byte = "é".repeat(MAX_REFERENCE_ID_BYTES / 2 + 1);
        assert_422(&env, base().reference(&two_byte), loc.clone()).await;
        assert_422(&env, base().reference("v").reference("v"), loc.clone()).await;
        assert_422(&env, base().reference("line\nbreak"), loc.clone()).await;
    }
}

/// The longest reference id fills DynamoDB's 2048-byte partition key beside the longest
/// organization id; one byte more is a 422 before any write.
#[tokio::test]
async fn longest_reference_id_is_accepted_with_the_longest_organization_id() {
    let env = Env::new().await;
    let org = "o".repeat(MAX_ORGANIZATION_ID_BYTES);
    let key = env.api_key(&org).await;
    // 2-byte characters and one 1-byte: every byte counts, not characters.
    let longest = format!("{}x", "é".repeat((MAX_REFERENCE_ID_BYTES - 1) / 2));
    assert_eq!(longest.len(), MAX_REFERENCE_ID_BYTES);
    assert_eq!(
        log_key(&org, &longest).len(),
        MAX_PARTITION_KEY_BYTES,
        "exactly DynamoDB's limit"
    );
    env.put_log(&org, sample_log(&longest)).await;
    let send = |reference: &str| {
        Event::patch(SOURCES[0])
            .reference(reference)
            .key(&key)
            .json(json!({"output": "fits"}))
            .request()
    };
    let (status, body, _) = env.send(send(&longest)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reference_id"], longest.as_str());
    let (status, body, _) = env.send(send(&format!("{longest}y"))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["type"], "string_too_long");
}

#[tokio::test]
async fn body_field_problems() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("v")).await;
    let cases = [
        (
            json!({"output": 5}),
            json!([["body", "output"]]),
            "string_type",
        ),
        (
            json!({"error": ["x"]}),
            json!([["body", "error"]]),
            "string_type",
        ),
        (
            json!({"duration": "1.5"}),
            json!([["body", "duration"]]),
            "float_type",
        ),
        (
            json!({"duration": true}),
            json!([["body", "duration"]]),
            "float_type",
        ),
        (
            json!({"duration": -0.001}),
            json!([["body", "duration"]]),
            "greater_than_equal",
        ),
        (
            json!({"duration": 1e200}),
            json!([["body", "duration"]]),
            "less_than_equal",
        ),
        (
            json!({"duration": 1e-200}),
            json!([["body", "duration"]]),
            "value_error",
        ),
        (
            json!([{"output": "x"}]),
            json!([["body"]]),
            "model_attributes_type",
        ),
        (json!("output"), json!([["body"]]), "model_attributes_type"),
        (json!(null), json!([["body"]]), "model_attributes_type"),
    ];
    for source in SOURCES {
        for (body, locs, kind) in &cases {
            let event = Event::patch(source)
                .reference("v")
                .key(&key)
                .json(body.clone());
            let resp = assert_422(&env, event, locs.clone()).await;
            assert_eq!(resp["detail"][0]["type"], *kind, "{body}");
        }
    }
}

#[tokio::test]
async fn malformed_json_reports_the_byte_offset() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("v")).await;
    for (body, offset) in [
        ("{\"output\": ", 11),
        ("{\n  \"output\": x}", 14),
        ("NaN", 0),
        ("{\"duration\": 1e999}", 17),
    ] {
        let event = Event::patch(SOURCES[0]).reference("v").key(&key).body(body);
        let resp = assert_422(&env, event, json!([["body", offset]])).await;
        assert_eq!(resp["detail"][0]["type"], "json_invalid", "{body}");
    }
}

#[tokio::test]
async fn all_problems_are_listed_together() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("v")).await;
    for source in SOURCES {
        let event = Event::patch(source)
            .key(&key)
            .json(json!({"output": 1, "error": false, "duration": -1}));
        assert_422(
            &env,
            event,
            json!([
                ["query", "reference_id"],
                ["body", "output"],
                ["body", "error"],
                ["body", "duration"]
            ]),
        )
        .await;
    }
}

#[tokio::test]
async fn durations_round_trip_exactly_and_the_range_edges_hold() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("v")).await;
    let send = |raw: &str| {
        Event::patch(SOURCES[1])
            .reference("v")
            .key(&key)
            .body(format!("{{\"duration\": {raw}}}"))
            .request()
    };
    for (raw, want) in [
        ("1e-130", Some(1e-130_f64)),
        ("1e125", Some(1e125)),
        ("120.88995980580641", Some(120.88995980580641)),
        ("9.014274576114835e-20", Some(9.014274576114835e-20)),
        ("-0.0", Some(0.0)),
        ("9.999999999999999e-131", None),
        ("1.0000000000000001e125", None),
    ] {
        let (status, body, _) = env.send(send(raw)).await;
        match want {
            Some(d) => {
                assert_eq!(status, 200, "{raw}: {body}");
                let got = body["duration"].as_f64().unwrap();
                assert_eq!(got.to_bits(), d.to_bits(), "{raw} came back as {got:?}");
                let stored = env.stored("acme", "v").await.unwrap().log.duration.unwrap();
                assert_eq!(stored.to_bits(), d.to_bits(), "{raw} stored as {stored:?}");
            }
            None => {
                assert_eq!(status, 422, "{raw}: {body}");
                assert_eq!(body["detail"][0]["loc"], json!(["body", "duration"]));
            }
        }
    }
}
