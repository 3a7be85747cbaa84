//! The CPU floor under a warm invocation of the function: the `UpdateItem` the function sends
//! for the benchmark's events, signed and sent by the same SDK client with the same settings
//! (`config::dynamodb_config()`, without the function's metrics interceptor), in a loop, and
//! nothing else: no runtime, no event, no mapping of the answer. `benches/lambda/` runs it beside
//! the function; a warm invocation cannot cost less CPU than this call plus the no-op function's
//! invocation.
//!
//! `bare-update <warm-up calls> <timed calls> <organization> <reference id>...`, in the function's
//! environment (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`, `LOGS_TABLE_NAME`). The calls
//! rotate over the reference ids. Prints one JSON line: the timed calls, their on-CPU time as the
//! benchmark reads the function's (schedstat, every live thread), the threads, and each call's
//! latency in nanoseconds.

#[path = "../benches/lambda/schedstat.rs"]
mod schedstat;
#[path = "../benches/lambda/update_item.rs"]
mod update_item;

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use update_log_by_ref::config::{dynamodb_config, Tables};
use update_log_by_ref::model::{epoch_seconds_now, log_key, LOG_KEY};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

const USAGE: &str =
    "usage: bare-update <warm-up calls> <timed calls> <organization> <reference id>...";

/// The function's `UpdateItem`, on a rotation of logs.
struct Update {
    client: Client,
    table: String,
    keys: Vec<String>,
    now: u64,
    /// Request tokens count up from here: unique across runs, so no call is refused as a replay.
    tokens_from: u128,
}

impl Update {
    async fn call(&self, i: usize) -> Fallible<()> {
        let key = &self.keys[i % self.keys.len()];
        let token = format!("r{:032x}", self.tokens_from + i as u128);
        let names = update_item::NAMES
            .iter()
            .map(|(placeholder, name)| (placeholder.to_string(), name.to_string()));
        let values =
            update_item::values(self.now, token)
                .into_iter()
                .map(|(placeholder, (kind, text))| {
                    let value = match kind {
                        "N" => AttributeValue::N(text),
                        _ => AttributeValue::S(text),
                    };
                    (placeholder.to_owned(), value)
                });
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(LOG_KEY, AttributeValue::S(key.clone()))
            .update_expression(update_item::UPDATE_EXPRESSION)
            .condition_expression(update_item::CONDITION_EXPRESSION)
            .set_expression_attribute_names(Some(names.collect::<HashMap<_, _>>()))
            .set_expression_attribute_values(Some(values.collect::<HashMap<_, _>>()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await?;
        // DynamoDB answered with the whole log, as it does the function.
        match out.attributes().and_then(|log| log.get(LOG_KEY)) {
            Some(_) => Ok(()),
            None => Err(format!("UpdateItem of {key} returned no log").into()),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [warm_up, calls, organization, references @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let (warm_up, calls): (usize, usize) = (warm_up.parse()?, calls.parse()?);
    if references.is_empty() || calls == 0 {
        return Err(USAGE.into());
    }
    let update = Update {
        client: Client::from_conf(dynamodb_config().await.build()),
        table: Tables::from_env().logs,
        keys: references
            .iter()
            .map(|r| log_key(organization, r))
            .collect(),
        now: epoch_seconds_now(),
        tokens_from: SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos(),
    };
    for i in 0..warm_up {
        update.call(i).await?;
    }
    let (before, _) = schedstat::on_cpu("self")?;
    let mut latencies = Vec::with_capacity(calls);
    for i in warm_up..warm_up + calls {
        let started = Instant::now();
        update.call(i).await?;
        latencies.push(started.elapsed().as_nanos() as u64);
    }
    let (after, threads) = schedstat::on_cpu("self")?;
    let report = serde_json::json!({
        "calls": calls,
        "on_cpu_ns": after - before,
        "threads": threads,
        "latencies_ns": latencies,
    });
    println!("{report}");
    Ok(())
}
