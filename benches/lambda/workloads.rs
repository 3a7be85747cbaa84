//! What the function is asked to do: the seeded tables, the events, and the raw `UpdateItem`
//! the function sends for each, which the floor replays.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::process::Process;
use crate::runtime_api::Answer;
use crate::support::{Env, Event, Source};
use crate::{because, Fallible};

pub const ORGANIZATION: &str = "bench-org";
/// Seeded logs; invocations and raw `UpdateItem`s rotate over them.
pub const LOGS: usize = 64;

/// The seeded tables and the events that update them.
pub struct Fixture {
    pub env: Env,
    /// One Lambda event (HTTP API, payload v2) per seeded log, serialized once.
    pub events: Vec<Bytes>,
    /// The raw `UpdateItem` body the function sends for each event, for the floor.
    pub update_items: Vec<Bytes>,
}

impl Fixture {
    pub async fn seed() -> Fallible<Self> {
        let env = Env::new().await;
        let key = env.api_key(ORGANIZATION).await;
        let seed: Value = serde_json::from_str(include_str!("../../events/seed-log.json"))
            .map_err(because("events/seed-log.json"))?;
        let mut events = Vec::with_capacity(LOGS);
        let mut update_items = Vec::with_capacity(LOGS);
        for i in 0..LOGS {
            let reference = format!("bench-log-{i:03}");
            let mut log = seed.clone();
            log["reference_id"] = json!(reference);
            log["id"] = json!(format!("data_bench{i:022}"));
            env.put_log(ORGANIZATION, log).await;
            let event = Event::patch(Source::HttpV2)
                .reference(&reference)
                .key(&key)
                .json(json!({"output": "4", "duration": 0.42}))
                .to_event();
            events.push(Bytes::from(event.to_string()));
            update_items.push(update_item_body(&env.store.tables().logs, &reference));
        }
        Ok(Self {
            env,
            events,
            update_items,
        })
    }

    pub fn event(&self, i: usize) -> Bytes {
        self.events[i % self.events.len()].clone()
    }

    /// The function's environment on Lambda, with DynamoDB at `dynamodb`.
    pub fn function_env<'a>(&'a self, api: &'a str, dynamodb: &'a str) -> Vec<(&'a str, &'a str)> {
        let tables = self.env.store.tables();
        let mut env = lambda_env(api, "update-log-by-ref");
        env.extend([
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
            ("LOGS_TABLE_NAME", tables.logs.as_str()),
            ("API_KEYS_TABLE_NAME", tables.api_keys.as_str()),
        ]);
        env
    }
}

/// What Lambda's runtime client needs. Log format and level are left at their defaults (text,
/// INFO), as in production.
pub fn lambda_env<'a>(api: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ]
}

/// The `UpdateItem` the function sends for `{"output": "4", "duration": 0.42}`, as DynamoDB's
/// JSON protocol carries it.
pub fn update_item_body(table: &str, reference: &str) -> Bytes {
    let body = json!({
        "TableName": table,
        "Key": {"reference_id": {"S": reference}},
        "UpdateExpression": "SET #updated_at = :updated_at, \
            #version = if_not_exists(#version, :zero) + :one, #output = :output, \
            #duration = :duration",
        "ConditionExpression": "attribute_exists(#reference_id) AND #organization_id = :org",
        "ExpressionAttributeNames": {
            "#reference_id": "reference_id",
            "#organization_id": "organization_id",
            "#version": "version",
            "#updated_at": "updated_at",
            "#output": "output",
            "#duration": "duration"
        },
        "ExpressionAttributeValues": {
            ":org": {"S": ORGANIZATION},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":updated_at": {"S": "2026-01-01T00:00:00.000000Z"},
            ":output": {"S": "4"},
            ":duration": {"N": "4.2e-1"}
        },
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"
    });
    Bytes::from(body.to_string())
}

/// The HTTP status in an API Gateway response document.
pub fn expect_ok(answer: &Answer, process: &Process) -> Fallible<()> {
    let status = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("statusCode").and_then(Value::as_u64));
    if !answer.error && status == Some(200) {
        return Ok(());
    }
    Err(format!(
        "the function answered {} instead of a 200: {}\nits output began:\n{}",
        if answer.error {
            "an error"
        } else {
            "a response"
        },
        String::from_utf8_lossy(&answer.body),
        process.output.head()
    ))
}
