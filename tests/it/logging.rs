//! The real binary, run as Lambda runs it (Runtime API, JSON log format), through successes,
//! client errors and DynamoDB faults: its log never holds a key, a key hash or a payload, and
//! every line carries the request id.

use std::time::Duration;

use serde_json::{json, Value};

use crate::function::{assert_holds_none, is_emf, Function, Setup};
use crate::proxy::Fault;
use crate::support::{Event, Source};

#[tokio::test]
async fn logs_hold_no_secrets_and_every_line_has_the_request_id() {
    let Setup {
        proxy,
        env,
        key,
        mut api,
    } = Setup::new("logged").await;

    let at_spawn = proxy.requests();
    let function = Function::start(&api, &env, &proxy.url, &[]);

    // Init warms up with exactly the request path's two operations (key lookup, conditional
    // update), before the first poll.
    api.first_poll().await.expect("the function finished init");
    assert_eq!(
        proxy.requests() - at_spawn,
        2,
        "two warm-up requests during init"
    );
    // ... at the same time, so that init waits for one round trip, not two.
    let warm_up = proxy.exchanges();
    let mut operations: Vec<&str> = warm_up.iter().map(|e| e.operation.as_str()).collect();
    operations.sort_unstable();
    assert_eq!(operations, ["GetItem", "UpdateItem"]);
    assert!(
        warm_up[1].arrived < warm_up[0].returned,
        "the second warm-up request was sent before the first was answered: {warm_up:#?}"
    );
    // The proxy's timings, which the benchmark splits invocations by, are in order.
    for e in &warm_up {
        let (forwarded, answered) = e.upstream;
        assert!(e.arrived <= forwarded && forwarded < answered && answered <= e.returned);
    }

    let secret_output = "SECRET-OUTPUT-7f3a";
    let secret_error = "SECRET-ERROR-91bc";
    let secret_body = "SECRET-BODY-c0de";
    let wrong_key = "hl_SECRET-WRONG-KEY-5e5e";
    let req = |e: Event| e.to_event();
    let ok = || Event::patch(Source::HttpV2).reference("logged").key(&key);
    let cases: Vec<(&str, Value, u16, Option<Fault>)> = vec![
        (
            "update",
            req(ok().json(json!({"output": secret_output, "error": secret_error, "duration": 1}))),
            200,
            None,
        ),
        (
            "wrong type",
            req(ok().json(json!({"output": 5, "error": secret_error, "note": secret_body}))),
            422,
            None,
        ),
        (
            "malformed",
            req(ok().body(format!("{{\"output\": \"{secret_body}"))),
            422,
            None,
        ),
        (
            "no reference",
            req(Event::patch(Source::RestV1)
                .key(&key)
                .json(json!({"output": secret_output}))),
            422,
            None,
        ),
        (
            "wrong key",
            req(ok().header("x-api-key", "x").key(wrong_key)),
            401,
            None,
        ),
        (
            "unknown key",
            req(Event::patch(Source::HttpV2)
                .reference("logged")
                .key(wrong_key)),
            401,
            None,
        ),
        (
            "unknown log",
            req(Event::patch(Source::HttpV2)
                .reference(secret_body)
                .key(&key)),
            404,
            None,
        ),
        ("GET", req(ok().method("GET")), 405, None),
        (
            "huge",
            req(ok().json(json!({"output": secret_output.repeat(40_000)}))),
            413,
            None,
        ),
        (
            "throttled",
            req(ok().json(json!({"output": secret_output}))),
            503,
            Some(Fault::throttled()),
        ),
        (
            "reset",
            req(ok().json(json!({"error": secret_error}))),
            503,
            Some(Fault::Reset),
        ),
        (
            "denied",
            req(ok().json(json!({"output": secret_output}))),
            500,
            Some(Fault::Error(
                400,
                "com.amazon.coral.service#AccessDeniedException",
            )),
        ),
    ];
    for (name, event, want, fault) in cases {
        proxy.set(fault.unwrap_or(Fault::Pass));
        let answer = api
            .invoke(event.to_string().into())
            .await
            .expect("an answer");
        let response: Value = serde_json::from_slice(&answer.body).expect("a JSON response");
        assert!(
            !answer.error,
            "{name}: a response, not a runtime error: {response}"
        );
        assert!(
            answer.latency() < Duration::from_secs(10),
            "{name}: answered within the deadline"
        );
        proxy.set(Fault::Pass);
        assert_eq!(response["statusCode"], want, "{name}: {response}");
    }
    // The metrics documents are checked in tests/it/metrics.rs.
    let lines: Vec<String> = function
        .stop()
        .await
        .into_iter()
        .filter(|line| !is_emf(line))
        .collect();
    assert!(
        lines.len() >= 11,
        "a line for each of the 11 refusals at least: {lines:#?}"
    );
    let text = lines.join("\n");
    assert_holds_none(
        &text,
        &[&key, wrong_key],
        &[secret_output, secret_error, secret_body],
    );
    for line in &lines {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let request_id = parsed["span"]["requestId"].as_str();
        assert!(
            request_id.is_some_and(|id| id.len() == 36),
            "no request id: {line}"
        );
    }
    assert!(
        text.contains("AccessDeniedException"),
        "the 500's cause is logged"
    );
    eprintln!(
        "logging: {} lines from 12 invocations; no key, hash or payload; all carry a request id",
        lines.len()
    );
}
