//! The HTTP contract: updates, routing, methods, ownership.

use serde_json::{json, Value};

use crate::support::{sample_log, Env, Event, SOURCES};

/// LogResponse's property names, from the spec in ../shared.
pub fn spec_log_fields() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/humanloop-v4-update-by-ref.openapi.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let spec: Value = serde_json::from_str(&text).expect("spec JSON");
    spec["components"]["schemas"]["LogResponse"]["properties"]
        .as_object()
        .expect("LogResponse properties")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn full_update_returns_the_whole_log_and_stores_it() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    for source in SOURCES {
        let reference = format!("full-{source:?}");
        env.put_log("acme", sample_log(&reference)).await;
        let (status, body, resp) = env
            .send(
                Event::patch(source)
                    .reference(&reference)
                    .key(&key)
                    .json(json!({"output": "4", "error": "none", "duration": 0.25}))
                    .request(),
            )
            .await;
        assert_eq!(status, 200, "{source:?}: {body}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["etag"], "\"1\"");
        assert_eq!(body["output"], "4");
        assert_eq!(body["error"], "none");
        assert_eq!(body["duration"], 0.25);
        assert_eq!(body["reference_id"], reference.as_str());
        assert_eq!(body["project"], "demo");
        assert_eq!(body["prompt_tokens"], 7);
        assert!(body["id"].as_str().unwrap().starts_with("data_"));
        assert!(["pending", "running", "completed", "failed"]
            .contains(&body["observability_status"].as_str().unwrap()));
        let updated_at = body["updated_at"].as_str().unwrap();
        assert_ne!(updated_at, "2026-01-01T00:00:00Z");
        assert!(updated_at.ends_with('Z') && updated_at.contains('T'));

        let stored = env.stored("acme", &reference).await.unwrap();
        assert_eq!(stored.version, 1);
        assert_eq!(stored.log.output.as_deref(), Some("4"));
        assert_eq!(stored.log.error.as_deref(), Some("none"));
        assert_eq!(stored.log.duration, Some(0.25));
        assert_eq!(stored.log.updated_at.as_deref(), Some(updated_at));
    }
}

#[tokio::test]
async fn every_spec_field_is_present_and_nothing_else() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", json!({"reference_id": "bare", "id": "data_bare"}))
        .await;
    let (status, body, _) = env
        .send(
            Event::patch(SOURCES[0])
                .reference("bare")
                .key(&key)
                .request(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut got: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
    let mut want = spec_log_fields();
    got.sort();
    want.sort();
    assert_eq!(got, want, "response keys must be exactly the spec's");
    // Spec defaults for absent values, null for the rest.
    assert_eq!(body["inputs"], json!({}));
    assert_eq!(body["save"], json!(true));
    assert_eq!(body["evaluation_results"], json!([]));
    assert_eq!(body["output"], Value::Null);
    assert_eq!(body["config"], Value::Null);
    assert!(body.get("organization_id").is_none() && body.get("version").is_none());
}

#[tokio::test]
async fn partial_update_leaves_other_fields_alone() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    for source in SOURCES {
        let reference = format!("partial-{source:?}");
        env.put_log("acme", sample_log(&reference)).await;
        let (status, body, _) = env
            .send(
                Event::patch(source)
                    .reference(&reference)
                    .key(&key)
                    .json(json!({"output": "only output"}))
                    .request(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"], "only output");
        assert_eq!(body["error"], "old error");
        assert_eq!(body["duration"], 1.5);
        let stored = env.stored("acme", &reference).await.unwrap();
        assert_eq!(stored.log.error.as_deref(), Some("old error"));
        assert_eq!(stored.log.duration, Some(1.5));
    }
}

#[tokio::test]
async fn explicit_null_clears_a_field() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("clear")).await;
    let (status, body, _) = env
        .send(
            Event::patch(SOURCES[1])
                .reference("clear")
                .key(&key)
                .json(json!({"error": null, "duration": null}))
                .request(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["duration"], Value::Null);
    assert_eq!(body["output"], "draft");
    let stored = env.stored("acme", "clear").await.unwrap();
    assert_eq!(stored.log.error, None);
    assert_eq!(stored.log.duration, None);
    assert_eq!(stored.log.output.as_deref(), Some("draft"));
}

#[tokio::test]
async fn empty_body_and_empty_object_change_only_updated_at() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("noop")).await;
    let before = env.stored("acme", "noop").await.unwrap();
    for (i, body) in [None, Some("{}"), Some("  \n")].into_iter().enumerate() {
        let mut event = Event::patch(SOURCES[i % 2]).reference("noop").key(&key);
        if let Some(body) = body {
            event = event.body(body);
        }
        let (status, resp_body, _) = env.send(event.request()).await;
        assert_eq!(status, 200, "body {body:?}: {resp_body}");
        let after = env.stored("acme", "noop").await.unwrap();
        assert_eq!(after.version, i as u64 + 1);
        let mut expected = before.log.clone();
        expected.updated_at = after.log.updated_at.clone();
        assert_eq!(after.log, expected, "only updated_at may change");
        assert_ne!(after.log.updated_at, before.log.updated_at);
    }
}

#[tokio::test]
async fn unknown_body_fields_are_ignored() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("unknown")).await;
    let (status, body, _) = env
        .send(
            Event::patch(SOURCES[0])
                .reference("unknown")
                .key(&key)
                .json(json!({"referenceId": "unknown", "output": "x", "project": "hijack", "organization_id": "evil", "version": 99}))
                .request(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"], "x");
    assert_eq!(body["project"], "demo");
    let stored = env.stored("acme", "unknown").await.unwrap();
    assert_eq!(stored.organization_id.as_deref(), Some("acme"));
    assert_eq!(stored.version, 1);
}

#[tokio::test]
async fn another_organizations_log_is_indistinguishable_from_a_missing_one() {
    let env = Env::new().await;
    let acme = env.api_key("acme").await;
    let globex = env.api_key("globex").await;
    env.put_log("acme", sample_log("mine")).await;
    let before = env.stored("acme", "mine").await.unwrap();
    for source in SOURCES {
        let (foreign, foreign_body, foreign_resp) = env
            .send(
                Event::patch(source)
                    .reference("mine")
                    .key(&globex)
                    .json(json!({"output": "stolen"}))
                    .request(),
            )
            .await;
        let (missing, missing_body, missing_resp) = env
            .send(
                Event::patch(source)
                    .reference("nobody-has-this")
                    .key(&acme)
                    .json(json!({"output": "x"}))
                    .request(),
            )
            .await;
        assert_eq!(foreign, 404);
        assert_eq!(missing, 404);
        assert_eq!(foreign_body, missing_body);
        assert!(foreign_body["detail"].is_string());
        assert_eq!(foreign_resp.headers(), missing_resp.headers());
    }
    assert_eq!(
        env.stored("acme", "mine").await.unwrap(),
        before,
        "a 404 changes nothing"
    );
    assert!(
        env.stored("acme", "nobody-has-this").await.is_none(),
        "no upsert"
    );
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("m")).await;
    let before = env.stored("acme", "m").await.unwrap();
    for source in SOURCES {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let (status, body, resp) = env
                .send(
                    Event::patch(source)
                        .method(method)
                        .reference("m")
                        .key(&key)
                        .json(json!({"output": "x"}))
                        .request(),
                )
                .await;
            assert_eq!(status, 405, "{method}");
            assert_eq!(resp.headers()["allow"], "PATCH");
            assert!(body["detail"].is_string());
        }
    }
    assert_eq!(env.stored("acme", "m").await.unwrap(), before);
}

#[tokio::test]
async fn logs_path_with_stage_v4_and_local_prefixes() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("paths")).await;
    for source in SOURCES {
        for path in [
            "/logs",
            "/logs/",
            "/v4/logs",
            "/Prod/v4/logs",
            "/lambda-url/update-log-by-ref/logs",
        ] {
            let (status, body, _) = env
                .send(
                    Event::patch(source)
                        .path(path)
                        .reference("paths")
                        .key(&key)
                        .request(),
                )
                .await;
            assert_eq!(status, 200, "{source:?} {path}: {body}");
        }
        for path in ["/", "/log", "/logs/extra", "/v4/projects"] {
            let (status, body, _) = env
                .send(
                    Event::patch(source)
                        .path(path)
                        .reference("paths")
                        .key(&key)
                        .request(),
                )
                .await;
            assert_eq!(status, 404, "{source:?} {path}");
            assert_eq!(body["detail"], "Not Found");
        }
    }
}

#[tokio::test]
async fn base64_encoded_body_is_decoded() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("b64")).await;
    for source in SOURCES {
        // {"output":"from base64"}
        let mut event = Event::patch(source)
            .reference("b64")
            .key(&key)
            .body("eyJvdXRwdXQiOiJmcm9tIGJhc2U2NCJ9");
        event.base64 = true;
        let (status, body, _) = env.send(event.request()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"], "from base64");
    }
}
