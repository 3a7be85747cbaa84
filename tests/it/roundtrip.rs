//! Every Log field survives storage with its type, and internal attributes never leak.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::support::{capture_logs, client_for, endpoint, CallCounter, Env, Event, SOURCES};

fn full_log(reference_id: &str, judgment: Value, tool_choice: Value) -> Value {
    json!({
        "project": "demo",
        "project_id": "pr_1",
        "session_id": "sesh_1",
        "session_reference_id": "my-session",
        "parent_id": "data_parent",
        "parent_reference_id": "my-parent",
        "inputs": {"question": "2+2?", "n": 3, "nested": {"deep": [1, 2.5, "three", null, true]}},
        "source": "sdk",
        "metadata": {"user_tier": "gold", "retries": 0, "ratio": 0.75},
        "save": false,
        "source_datapoint_id": "dp_1",
        "id": "data_full",
        "reference_id": reference_id,
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":2}"}}]}
        ],
        "output": "4",
        "judgment": judgment,
        "config_id": "config_1",
        "config": {"id": "config_1", "type": "model", "model": "gpt-4o", "temperature": 0.7, "max_tokens": 256},
        "environment": "production",
        "feedback": [{"type": "rating", "value": "good", "id": "fb_1"}],
        "created_at": "2026-01-01T00:00:00Z",
        "error": "",
        "stdout": "debug line",
        "duration": 2,
        "output_message": {"role": "assistant", "content": "4"},
        "prompt_tokens": 12,
        "output_tokens": 1,
        "prompt_cost": 0.00012,
        "output_cost": 1e-05,
        "provider_request": {"model": "gpt-4o", "n": 1},
        "provider_response": {"id": "resp_1", "choices": [{"index": 0}]},
        "user": "someone@example.com",
        "provider_latency": 0.5,
        "tokens": 13,
        "raw_output": "4",
        "finish_reason": "stop",
        "tools": [{"id": "tool_1", "name": "add", "result": {"sum": 4}}],
        "tool_choice": tool_choice,
        "evaluation_results": [{"id": "ev_1", "value": true}],
        "observability_status": "completed",
        "updated_at": "2026-01-01T00:00:00Z",
        "batch_ids": ["batch_1", "batch_2"]
    })
}

#[tokio::test]
async fn every_field_round_trips_with_its_type() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    let variants = [
        (json!(true), json!("none")),
        (json!(4), json!("auto")),
        (json!(0.5), json!("required")),
        (
            json!(["good", "concise"]),
            json!({"type": "function", "function": {"name": "add"}}),
        ),
        (json!("correct"), json!("none")),
    ];
    for (i, (judgment, tool_choice)) in variants.into_iter().enumerate() {
        let reference = format!("full-{i}");
        let log = full_log(&reference, judgment, tool_choice);
        env.put_log("acme", log.clone()).await;
        let (status, body, _) = env
            .send(
                Event::patch(SOURCES[i % 2])
                    .reference(&reference)
                    .key(&key)
                    .body("{}")
                    .request(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let mut expected = log.clone();
        expected["updated_at"] = body["updated_at"].clone();
        // Durations are doubles: 2 is stored as a number and read back as 2.0.
        expected["duration"] = json!(2.0);
        assert_eq!(body, expected, "variant {i}");
        // Integers stay integers, also inside maps.
        assert!(body["prompt_tokens"].is_i64() && body["inputs"]["n"].is_i64());
        assert!(body["metadata"]["ratio"].is_f64());
    }
}

#[tokio::test]
async fn stored_items_use_natural_dynamodb_types() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log(
        "acme",
        full_log(
            "types",
            json!(["a"]),
            json!({"type": "function", "function": {"name": "f"}}),
        ),
    )
    .await;
    let (status, _, _) = env
        .send(
            Event::patch(SOURCES[0])
                .reference("types")
                .key(&key)
                .json(json!({"duration": 3.25}))
                .request(),
        )
        .await;
    assert_eq!(status, 200);
    let raw = client_for(endpoint(), &CallCounter::default())
        .get_item()
        .table_name(&env.store.tables().logs)
        .key("log_key", AttributeValue::S("acme#types".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let kind = |name: &str| match &raw[name] {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::M(_) => "M",
        AttributeValue::L(_) => "L",
        AttributeValue::Null(_) => "NULL",
        _ => "other",
    };
    for (field, want) in [
        ("reference_id", "S"),
        ("inputs", "M"),
        ("metadata", "M"),
        ("save", "BOOL"),
        ("messages", "L"),
        ("judgment", "L"),
        ("tool_choice", "M"),
        ("config", "M"),
        ("prompt_tokens", "N"),
        ("duration", "N"),
        ("batch_ids", "L"),
        ("organization_id", "S"),
        ("log_key", "S"),
        ("version", "N"),
        ("request_token", "S"),
        ("request_digest", "S"),
        ("updated_at", "S"),
    ] {
        assert_eq!(kind(field), want, "{field}");
    }
    assert_eq!(
        raw["duration"].as_n().unwrap().parse::<f64>().unwrap(),
        3.25
    );
    assert_eq!(raw["version"].as_n().unwrap(), "1");
    assert_eq!(raw["prompt_tokens"].as_n().unwrap(), "12");
}

#[tokio::test]
async fn items_written_by_other_services_are_read_as_they_are() {
    // Another writer may store nulls as NULL and extra attributes of its own.
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    put_raw(
        &env,
        "foreign",
        [
            ("id", AttributeValue::S("data_foreign".into())),
            ("output", AttributeValue::Null(true)),
            ("judgment", AttributeValue::N("3".into())),
            (
                "inputs",
                AttributeValue::M([("k".to_string(), AttributeValue::N("1.50".into()))].into()),
            ),
            ("writer_internal_flag", AttributeValue::Bool(true)),
        ],
    )
    .await;
    let (status, body, resp) = env
        .send(
            Event::patch(SOURCES[1])
                .reference("foreign")
                .key(&key)
                .json(json!({"error": "boom"}))
                .request(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        resp.headers()["etag"],
        "\"1\"",
        "absent version counts as 0"
    );
    assert_eq!(body["output"], Value::Null);
    assert_eq!(body["judgment"], json!(3));
    assert_eq!(body["inputs"], json!({"k": 1.5}));
    assert_eq!(body["error"], "boom");
    assert!(body.get("writer_internal_flag").is_none());
    assert!(body.get("organization_id").is_none());
}

#[tokio::test]
async fn a_wrongly_typed_stored_field_is_a_500_whose_log_quotes_nothing() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    put_raw(
        &env,
        "bad-type",
        [("tokens", AttributeValue::S("SECRET-STORED-TEXT".into()))],
    )
    .await;
    let event = Event::patch(SOURCES[0])
        .reference("bad-type")
        .key(&key)
        .json(json!({"output": "x"}));
    let ((status, body, _), logs) = capture_logs(env.send(event.request())).await;
    assert_eq!(status, 500);
    assert_eq!(body, json!({"detail": "Internal server error."}));
    assert!(logs.contains("does not match the Log model"), "{logs}");
    assert!(!logs.contains("SECRET-STORED-TEXT"), "{logs}");
}

/// Writes an item as another service might, bypassing the Log model: acme's log `reference`
/// with `attributes`.
async fn put_raw<const N: usize>(
    env: &Env,
    reference: &str,
    attributes: [(&str, AttributeValue); N],
) {
    let mut put = client_for(endpoint(), &CallCounter::default())
        .put_item()
        .table_name(&env.store.tables().logs)
        .item("log_key", AttributeValue::S(format!("acme#{reference}")))
        .item("reference_id", AttributeValue::S(reference.into()))
        .item("organization_id", AttributeValue::S("acme".into()));
    for (name, value) in attributes {
        put = put.item(name, value);
    }
    put.send().await.expect("raw put");
}
