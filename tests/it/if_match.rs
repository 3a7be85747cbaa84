//! `If-Match` as RFC 9110 defines it: `*` or a list of entity tags, compared strongly.

use serde_json::json;

use crate::support::{sample_log, Env, Event, SOURCES};

/// A log at version 1 (one update made) and a key for it.
async fn at_version_one() -> (Env, String) {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("etag")).await;
    let (status, _, _) = env.send(update(&key, "etag", &[], "v1")).await;
    assert_eq!(status, 200);
    (env, key)
}

fn update(key: &str, reference: &str, if_match: &[&str], output: &str) -> lambda_http::Request {
    let mut event = Event::patch(SOURCES[1]).reference(reference).key(key);
    for line in if_match {
        event = event.header("If-Match", line);
    }
    event.json(json!({ "output": output })).request()
}

#[tokio::test]
async fn a_list_matches_when_any_strong_tag_names_the_current_version() {
    let (env, key) = at_version_one().await;
    let cases: [fn(u64) -> Vec<String>; 6] = [
        |c| vec![format!("\"{c}\"")],
        |c| vec![format!("\"1000\", \"{c}\", \"1001\"")],
        |c| vec![format!("\"abc\", W/\"{c}\", \"{c}\"")],
        |c| vec![format!(", \"{c}\" ,, \"1000\",")],
        |c| vec!["\"1000\"".into(), format!("\"{c}\"")],
        |_| vec!["*".into()],
    ];
    for (current, case) in (1..).zip(cases) {
        let lines = case(current);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (status, body, resp) = env.send(update(&key, "etag", &lines, "next")).await;
        assert_eq!(status, 200, "{lines:?}: {body}");
        assert_eq!(
            resp.headers()["etag"],
            format!("\"{}\"", current + 1),
            "{lines:?}"
        );
    }
}

#[tokio::test]
async fn tags_that_name_no_current_version_are_a_412_with_the_current_etag() {
    let (env, key) = at_version_one().await;
    let before = env.stored("acme", "etag").await.unwrap();
    for if_match in [
        vec!["\"abc\""],
        vec!["\"0\""],
        vec!["\"2\", \"3\""],
        vec!["W/\"1\""],
        vec!["W/\"1\", W/\"2\""],
        vec!["\"01\""],
        vec!["\"+1\""],
        vec!["\"\""],
        vec!["\"0\"", "\"2\""],
        vec![","],
    ] {
        let (status, body, resp) = env.send(update(&key, "etag", &if_match, "no")).await;
        assert_eq!(status, 412, "{if_match:?}: {body}");
        assert_eq!(resp.headers()["etag"], "\"1\"", "{if_match:?}");
        assert!(body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("nothing was changed")));
        assert_eq!(
            env.stored("acme", "etag").await.unwrap(),
            before,
            "{if_match:?}"
        );
    }
}

#[tokio::test]
async fn only_a_header_that_is_no_entity_tag_list_is_a_422() {
    let (env, key) = at_version_one().await;
    let before = env.stored("acme", "etag").await.unwrap();
    let hundred_and_one = (0..101)
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    for if_match in [
        "1",
        "abc",
        "\"1",
        "\"1\" \"2\"",
        "*, \"1\"",
        "W/1",
        "w/\"1\"",
        "\"a\"b\"",
        "\"tab\there\"",
        hundred_and_one.as_str(),
    ] {
        let (status, body, _) = env.send(update(&key, "etag", &[if_match], "no")).await;
        assert_eq!(status, 422, "{if_match:?}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["header", "if-match"]));
        assert_eq!(
            env.stored("acme", "etag").await.unwrap(),
            before,
            "{if_match:?}"
        );
    }
}

#[tokio::test]
async fn an_unknown_or_foreign_reference_is_a_404_whatever_if_match_says() {
    let (env, key) = at_version_one().await;
    let other = env.api_key("globex").await;
    for if_match in ["\"1\"", "\"abc\"", "W/\"1\"", "*", "\"0\", \"1\""] {
        let (status, body, _) = env.send(update(&key, "nobody", &[if_match], "x")).await;
        assert_eq!(status, 404, "{if_match}: {body}");
        let (status, body, _) = env.send(update(&other, "etag", &[if_match], "x")).await;
        assert_eq!(status, 404, "{if_match}: {body}");
    }
    assert!(env.stored("acme", "nobody").await.is_none(), "no upsert");
    assert!(env.stored("globex", "etag").await.is_none(), "no upsert");
    assert_eq!(env.stored("acme", "etag").await.unwrap().version, 1);
}
