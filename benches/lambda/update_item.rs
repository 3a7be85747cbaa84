//! The `UpdateItem` the function sends for the benchmark's events (`{"output": "4", "duration":
//! 0.42}`, neither `If-Match` nor `Idempotency-Key`), as `Store::update_log` builds it
//! (src/store/mod.rs): spelled once for both floors that replay it, the raw one
//! (`workloads.rs`, DynamoDB's JSON) and the bare SDK one (`examples/bare-update.rs`).

use update_log_by_ref::model::{EXPIRES_AT, LOG_KEY, REQUEST_DIGEST, REQUEST_TOKEN, VERSION};

pub const UPDATE_EXPRESSION: &str = "SET #updated_at = :updated_at, \
    #version = if_not_exists(#version, :zero) + :one, #request_token = :request_token, \
    #request_digest = :request_digest, #output = :output, #duration = :duration";

pub const CONDITION_EXPRESSION: &str = "attribute_exists(#log_key) \
    AND (attribute_not_exists(#expires_at) OR #expires_at > :now) \
    AND (attribute_not_exists(#request_token) OR #request_token <> :request_token)";

pub const NAMES: [(&str, &str); 8] = [
    ("#log_key", LOG_KEY),
    ("#version", VERSION),
    ("#expires_at", EXPIRES_AT),
    ("#updated_at", "updated_at"),
    ("#request_token", REQUEST_TOKEN),
    ("#request_digest", REQUEST_DIGEST),
    ("#output", "output"),
    ("#duration", "duration"),
];

/// A DynamoDB value: its type (`S`, `N`) and its text.
pub type Typed = (&'static str, String);

/// The placeholders' values at `now` (epoch seconds) with a request token of the function's
/// form (`r` and 32 hex digits): one that the log does not carry yet, or the condition refuses
/// the update as a replay. `updated_at` and the digest have the function's lengths.
pub fn values(now: u64, token: String) -> [(&'static str, Typed); 8] {
    [
        (":now", ("N", now.to_string())),
        (":zero", ("N", "0".into())),
        (":one", ("N", "1".into())),
        (":updated_at", ("S", "2026-01-01T00:00:00.000000Z".into())),
        (":request_token", ("S", token)),
        (":request_digest", ("S", format!("{:032x}", 0))),
        (":output", ("S", "4".into())),
        // `format_number(0.42)`.
        (":duration", ("N", "4.2e-1".into())),
    ]
}
