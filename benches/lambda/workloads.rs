//! What the function is asked to do: three sizes of log, seeded in the tables, the events that
//! update them, and the raw `GetItem` and `UpdateItem` the function sends for them, which the
//! floors replay.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use update_log_by_ref::auth::key_hash;
use update_log_by_ref::config::Tables;
use update_log_by_ref::model::{self, LOG_KEY};

use crate::process::Process;
use crate::runtime_api::Answer;
use crate::support::{Env, Event, Source};
use crate::update_item::{self, CONDITION_EXPRESSION, NAMES, UPDATE_EXPRESSION};
use crate::{because, Fallible};

pub const ORGANIZATION: &str = "bench-org";
/// Seeded logs per size; invocations and raw `UpdateItem`s rotate over them.
pub const LOGS: usize = 64;
/// The body every invocation sends.
const PATCH: &str = r#"{"output": "4", "duration": 0.42}"#;

/// One size of log, in LogResponse shape.
pub struct Workload {
    /// Short name, for `BENCH_LOGS` and file names.
    pub slug: &'static str,
    pub title: &'static str,
    log: Value,
}

impl Workload {
    /// The three sizes, or those `BENCH_LOGS` (comma-separated slugs) names.
    pub fn selected() -> Fallible<Vec<Self>> {
        let seed: Value = serde_json::from_str(include_str!("../../events/seed-log.json"))
            .map_err(because("events/seed-log.json"))?;
        let all = vec![
            Self {
                slug: "seed",
                title: "seed log",
                log: seed,
            },
            Self {
                slug: "every-field",
                title: "every-field log",
                log: every_field_log(),
            },
            Self {
                slug: "chat",
                title: "chat log",
                log: chat_log(),
            },
        ];
        let Ok(wanted) = std::env::var("BENCH_LOGS") else {
            return Ok(all);
        };
        let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
        if let Some(unknown) = wanted.iter().find(|w| !all.iter().any(|l| l.slug == **w)) {
            return Err(format!(
                "BENCH_LOGS: no log size {unknown:?} (seed, every-field, chat)"
            ));
        }
        Ok(all
            .into_iter()
            .filter(|l| wanted.contains(&l.slug))
            .collect())
    }

    /// The log's size as the API returns it (compact JSON).
    pub fn bytes(&self) -> usize {
        self.log.to_string().len()
    }

    /// `seed log (0.5 KB)`.
    pub fn label(&self) -> String {
        format!("{} ({:.1} KB)", self.title, self.bytes() as f64 / 1000.0)
    }
}

/// Every `LogResponse` field set: `judgment` as a list, `tool_choice` as an object, integers and
/// floats; about 3 KB.
fn every_field_log() -> Value {
    let message = |role: &str, content: &str| json!({"role": role, "content": content});
    json!({
        "project": "support-bot",
        "project_id": "pr_3f9a0c1b2d4e5f60718293a4",
        "session_id": "sess_0c1b2d4e5f60718293a43f9a",
        "session_reference_id": "ticket-48213",
        "parent_id": "log_9a43f90c1b2d4e5f60718293",
        "parent_reference_id": "ticket-48213-turn-3",
        "inputs": {"customer": "Ada", "plan": "team", "seats": 12, "discount": 0.15},
        "source": "sdk",
        "metadata": {"region": "eu-west-1", "build": 4182, "ab_bucket": "b", "score": 0.93},
        "save": true,
        "source_datapoint_id": "dp_18293a43f90c1b2d4e5f6071",
        "id": "data_every_field_log_00001",
        "reference_id": "every-field",
        "messages": [
            message("system", "You are a helpful support agent for a SaaS billing product."),
            message("user", "My invoice shows 12 seats but we only use 9. Can you fix it?"),
            message("assistant", "I can help. Let me look up the seat history on your account."),
            message("user", "Thanks. Also, will the unused seats from this month be credited?"),
            message("assistant", "Yes: the 3 unused seats are credited pro rata on the next invoice."),
        ],
        "output": "I have reduced the plan to 9 seats from the next billing cycle.",
        "judgment": ["helpful", "accurate"],
        "config_id": "config_5f60718293a43f90c1b2d4e",
        "config": {"model": "gpt-4o", "temperature": 0.2, "max_tokens": 512, "top_p": 1},
        "environment": "production",
        "feedback": [
            {"type": "rating", "value": "good", "user": "agent-7"},
            {"type": "comment", "value": "Resolved in one turn.", "user": "lead-2"}
        ],
        "created_at": "2026-01-15T10:29:58.123456Z",
        "error": "retried once after a provider timeout",
        "stdout": "lookup_seats(account=81723) -> 9 active\nupdate_plan(seats=9) -> ok",
        "duration": 2.375,
        "output_message": {"role": "assistant", "content": "I have reduced the plan to 9 seats."},
        "prompt_tokens": 412,
        "output_tokens": 57,
        "prompt_cost": 0.00206,
        "output_cost": 0.000855,
        "provider_request": {"model": "gpt-4o", "temperature": 0.2, "n": 1, "stream": false},
        "provider_response": {"id": "chatcmpl-8xYz", "object": "chat.completion", "created": 1768473000,
            "usage": {"prompt_tokens": 412, "completion_tokens": 57, "total_tokens": 469}},
        "user": "agent-7@example.com",
        "provider_latency": 1.982,
        "tokens": 469,
        "raw_output": "I have reduced the plan to 9 seats from the next billing cycle.",
        "finish_reason": "stop",
        "tools": [{
            "name": "update_plan",
            "description": "Change the number of seats on a customer's plan.",
            "parameters": {"type": "object", "properties": {
                "account": {"type": "integer"}, "seats": {"type": "integer", "minimum": 1}
            }, "required": ["account", "seats"]}
        }, {
            "name": "lookup_seats",
            "description": "Count the active seats on a customer's account.",
            "parameters": {"type": "object", "properties": {
                "account": {"type": "integer"}, "include_pending": {"type": "boolean"}
            }, "required": ["account"]}
        }],
        "tool_choice": {"type": "function", "function": {"name": "update_plan"}},
        "evaluation_results": [
            {"evaluator": "tone", "score": 4.5, "passed": true},
            {"evaluator": "correctness", "score": 1, "passed": true, "latency": 0.031}
        ],
        "observability_status": "completed",
        "updated_at": "2026-01-15T10:30:02.000000Z",
        "batch_ids": ["batch_2026_01_15_a", "batch_2026_01_15_b"],
    })
}

/// A chat turn with a long history, and the provider's request and response that carried it:
/// about 30 KB.
fn chat_log() -> Value {
    let paragraph =
        "The quarterly report shows revenue growing in every region, with the strongest \
        gains in the enterprise segment, while support costs fell after the new self-service \
        portal launched; churn stayed flat and the sales cycle shortened by nine days. ";
    let messages: Vec<Value> = (0..24)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            json!({"role": role, "content": paragraph.repeat(2 + i % 3)})
        })
        .collect();
    json!({
        "project": "analyst-chat",
        "id": "data_chat_log_000000000001",
        "reference_id": "chat",
        "session_id": "sess_chat_0000000000000001",
        "inputs": {"topic": "quarterly report"},
        "messages": messages,
        "output": paragraph.repeat(3),
        "created_at": "2026-01-15T10:29:58Z",
        "updated_at": "2026-01-15T10:29:58Z",
        "prompt_tokens": 6_150,
        "output_tokens": 240,
        "duration": 7.25,
        "provider_request": {"model": "gpt-4o", "temperature": 0.7, "messages": messages[..10]},
        "provider_response": {
            "id": "chatcmpl-chat",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": paragraph.repeat(8)}}],
            "usage": {"prompt_tokens": 6_150, "completion_tokens": 240, "total_tokens": 6_390},
        },
        "finish_reason": "stop",
        "observability_status": "completed",
    })
}

/// The logs of one size in the tables, the events that update them, and the raw DynamoDB
/// requests the function makes for them.
pub struct Fixture {
    logs_table: String,
    api_keys_table: String,
    /// One Lambda event (HTTP API, payload v2) per seeded log, serialized once.
    events: Vec<Bytes>,
    /// The seeded logs' reference ids, in the events' order: the floor's `UpdateItem`s.
    references: Vec<String>,
    /// The raw `GetItem` of the key lookup, for the first invocation's floor.
    pub get_item: Bytes,
}

impl Fixture {
    pub async fn seed(env: &Env, key: &str, workload: &Workload) -> Self {
        let tables = env.store.tables();
        let mut events = Vec::with_capacity(LOGS);
        let mut references = Vec::with_capacity(LOGS);
        for i in 0..LOGS {
            let reference = format!("bench-{}-{i:03}", workload.slug);
            let mut log = workload.log.clone();
            log["reference_id"] = json!(reference);
            log["id"] = json!(format!("data_bench{i:022}"));
            env.put_log(ORGANIZATION, log).await;
            let mut event = Event::patch(Source::HttpV2)
                .reference(&reference)
                .key(key)
                .body(PATCH)
                .to_event();
            // API Gateway sends the parsed query too; the peer reads it there.
            event["queryStringParameters"] = json!({"reference_id": reference});
            events.push(Bytes::from(event.to_string()));
            references.push(reference);
        }
        Self {
            logs_table: tables.logs.clone(),
            api_keys_table: tables.api_keys.clone(),
            events,
            references,
            get_item: get_item_body(&tables.api_keys, &key_hash(key.as_bytes())),
        }
    }

    pub fn event(&self, i: usize) -> Bytes {
        self.events[i % self.events.len()].clone()
    }

    /// The `UpdateItem` the function sends for the `i`th event, with a request token of its own
    /// (a repeated token is a replay, which the condition refuses).
    pub fn update_item(&self, i: usize) -> Bytes {
        let reference = &self.references[i % self.references.len()];
        update_item_body(&self.logs_table, reference, i)
    }

    /// The seeded logs' reference ids.
    pub fn references(&self) -> &[String] {
        &self.references
    }

    /// A function's environment on Lambda, with DynamoDB at `dynamodb`.
    pub fn function_env<'a>(
        &'a self,
        api: &'a str,
        name: &'a str,
        dynamodb: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        let mut env = lambda_env(api, name);
        env.extend(self.dynamodb_env(dynamodb));
        env
    }

    /// What the SDK and the function need to reach these tables at `dynamodb`.
    pub fn dynamodb_env<'a>(&'a self, dynamodb: &'a str) -> [(&'a str, &'a str); 7] {
        [
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
            ("LOGS_TABLE_NAME", self.logs_table.as_str()),
            ("API_KEYS_TABLE_NAME", self.api_keys_table.as_str()),
        ]
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

/// The logs table's key of one of the bench's logs, as DynamoDB's JSON protocol carries it.
fn log_key(reference: &str) -> Value {
    json!({ LOG_KEY: {"S": model::log_key(ORGANIZATION, reference)} })
}

/// The `UpdateItem` the function sends for `PATCH` (`update_item.rs`), as DynamoDB's JSON
/// protocol carries it; its request token and digest as long as the function's.
fn update_item_body(table: &str, reference: &str, call: usize) -> Bytes {
    let names: Map<String, Value> = NAMES
        .iter()
        .map(|(placeholder, name)| (placeholder.to_string(), json!(name)))
        .collect();
    let values: Map<String, Value> =
        update_item::values(model::epoch_seconds_now(), format!("r{call:032x}"))
            .into_iter()
            .map(|(placeholder, (kind, text))| (placeholder.to_owned(), json!({ kind: text })))
            .collect();
    let body = json!({
        "TableName": table,
        "Key": log_key(reference),
        "UpdateExpression": UPDATE_EXPRESSION,
        "ConditionExpression": CONDITION_EXPRESSION,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"
    });
    Bytes::from(body.to_string())
}

/// The `GetItem` of the function's key lookup.
fn get_item_body(table: &str, key_hash: &str) -> Bytes {
    let body = json!({
        "TableName": table,
        "Key": {"key_hash": {"S": key_hash}},
        "ProjectionExpression": "#org, #revoked",
        "ExpressionAttributeNames": {"#org": "organization_id", "#revoked": "revoked"}
    });
    Bytes::from(body.to_string())
}

/// Reads of both fresh tables, to warm them up in DynamoDB Local.
pub fn warm_up_requests(tables: &Tables) -> Vec<(&'static str, Bytes)> {
    let logs = json!({"TableName": tables.logs, "Key": log_key("warm-up")});
    vec![
        ("GetItem", Bytes::from(logs.to_string())),
        ("GetItem", get_item_body(&tables.api_keys, "warm-up")),
    ]
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
