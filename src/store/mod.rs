//! Every DynamoDB call the service makes. The request path makes two kinds: a `GetItem` on the
//! API keys table (auth, cached) and the one conditional `UpdateItem` on the logs table below.

mod admin;
mod migrate;

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use crate::config::Tables;
use crate::error::{ApiError, StoreError};
use crate::idempotency::ring_attribute;
use crate::model::{
    epoch_seconds_now, log_key, Change, Precondition, StoredLog, UpdateCommand, EXPIRES_AT,
    LOG_KEY, ORGANIZATION_ID, REQUEST_DIGEST, REQUEST_TOKEN, VERSION,
};

pub use admin::{AdminError, TableStatus};
pub use migrate::MigrationReport;

/// The DynamoDB tables of the service, behind one SDK client built once per instance.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    tables: Tables,
}

impl Store {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Opens the connection to DynamoDB during init and runs both of the request path's
    /// operations once, so the first invocation pays neither the connection (on AWS: a TLS
    /// handshake) nor the one-time setup of each operation (its first serializing, signing and
    /// parsing). Both calls run at once: init grows by one round trip, not two. Outcomes are
    /// irrelevant: a failure only means the first request pays instead.
    pub async fn warm_up(&self) {
        let (key, log) = tokio::join!(self.api_key_organization("warm-up"), self.touch_no_log());
        for err in [key.err(), log.err()].into_iter().flatten() {
            tracing::warn!(cause = %err, "DynamoDB warm-up failed");
        }
    }

    /// The request path's conditional `UpdateItem`, for a key no log has: an empty organization
    /// (organization ids are never empty), so the condition fails and nothing is written. A failed
    /// condition still consumes one write capacity unit: one per cold start.
    async fn touch_no_log(&self) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.logs)
            .key(LOG_KEY, AttributeValue::S(log_key("", "warm-up")))
            .update_expression("SET #version = :zero")
            .condition_expression("attribute_exists(#log_key)")
            .expression_attribute_names("#log_key", LOG_KEY)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Err(err) if !is_condition_failure(&err) => Err(classify("UpdateItem warm-up", err)),
            _ => Ok(()),
        }
    }

    /// The organization owning the key with this hash; `None` if unknown or revoked.
    pub async fn api_key_organization(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.api_keys)
            .key("key_hash", AttributeValue::S(key_hash.to_owned()))
            .projection_expression("#org, #revoked")
            .expression_attribute_names("#org", ORGANIZATION_ID)
            .expression_attribute_names("#revoked", "revoked")
            .send()
            .await
            .map_err(|e| classify("GetItem api key", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        if matches!(item.get("revoked"), Some(AttributeValue::Bool(true))) {
            return Ok(None);
        }
        Ok(item
            .get(ORGANIZATION_ID)
            .and_then(|v| v.as_s().ok())
            .filter(|org| !org.is_empty())
            .cloned())
    }

    /// Applies a request to the caller's log in one conditional `UpdateItem` that also stamps
    /// `updated_at`, increments `version` and records the request's token, and returns the log
    /// as it now stands.
    ///
    /// The condition requires the log to exist (its key holds the caller's organization, so
    /// another organization's log is simply not there) and not to have expired (DynamoDB's TTL
    /// deletes an expired log only eventually), the token to be new, and the version to meet
    /// `If-Match`. A failed condition whose old item carries this request's token means an
    /// earlier attempt of this request landed: that is a replay, answered like the first.
    pub async fn update_log(
        &self,
        organization_id: &str,
        command: &UpdateCommand,
    ) -> Result<Updated, ApiError> {
        let update = &command.update;
        let mark = command.token.mark();
        let now = epoch_seconds_now();
        let mut expr = UpdateExpression::default();
        expr.name("#log_key", LOG_KEY);
        expr.name("#version", VERSION);
        expr.name("#expires_at", EXPIRES_AT);
        expr.value(":now", AttributeValue::N(now.to_string()));
        expr.value(":zero", AttributeValue::N("0".into()));
        expr.value(":one", AttributeValue::N("1".into()));
        expr.set(
            "updated_at",
            AttributeValue::S(crate::model::timestamp_now()),
        );
        expr.sets
            .push("#version = if_not_exists(#version, :zero) + :one".into());
        expr.set(REQUEST_TOKEN, AttributeValue::S(mark.token.clone()));
        expr.set(REQUEST_DIGEST, AttributeValue::S(mark.digest.clone()));
        if let Some(slot) = ring_slot(&command.precondition) {
            expr.set(&slot, AttributeValue::S(command.token.fingerprint()));
        }
        expr.change("output", &update.output, |s| AttributeValue::S(s.clone()));
        expr.change("error", &update.error, |s| AttributeValue::S(s.clone()));
        expr.change("duration", &update.duration, |d| {
            AttributeValue::N(format_number(*d))
        });

        let mut condition = String::from(
            "attribute_exists(#log_key) \
             AND (attribute_not_exists(#expires_at) OR #expires_at > :now) \
             AND (attribute_not_exists(#request_token) OR #request_token <> :request_token)",
        );
        if let Precondition::OneOf(versions) = &command.precondition {
            condition.push_str(&version_condition(&mut expr, versions));
        }

        let result = self
            .client
            .update_item()
            .table_name(&self.tables.logs)
            .key(
                LOG_KEY,
                AttributeValue::S(log_key(organization_id, &command.reference_id)),
            )
            .update_expression(expr.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;

        match result {
            Ok(out) => Ok(Updated {
                log: StoredLog::from_item(out.attributes.unwrap_or_default())?,
                replayed: false,
            }),
            Err(err) => update_failure(err, command, now),
        }
    }
}

/// The outcome of an update: the log as it stands, and whether this request's update had
/// already landed on an earlier attempt (a replay).
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    pub log: StoredLog,
    pub replayed: bool,
}

/// The version ring slot an `If-Match` update with one version writes: the version it makes.
fn ring_slot(precondition: &Precondition) -> Option<String> {
    match precondition {
        Precondition::OneOf(versions) => match versions.as_slice() {
            [expected] => Some(ring_attribute(expected.wrapping_add(1))),
            _ => None,
        },
        _ => None,
    }
}

/// ` AND <the version is one of versions>`. No version at all can never match, and an absent
/// version counts as 0.
fn version_condition(expr: &mut UpdateExpression, versions: &[u64]) -> String {
    if versions.is_empty() {
        // Contradicts `attribute_exists(#log_key)`: an existing log fails (412), a missing one 404.
        return " AND attribute_not_exists(#log_key)".into();
    }
    let placeholders: Vec<String> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let placeholder = format!(":v{i}");
            expr.value(&placeholder, AttributeValue::N(v.to_string()));
            placeholder
        })
        .collect();
    let listed = format!("#version IN ({})", placeholders.join(", "));
    if versions.contains(&0) {
        format!(" AND (attribute_not_exists(#version) OR {listed})")
    } else {
        format!(" AND {listed}")
    }
}

/// Why an `UpdateItem` at `now` failed, told apart so that only DynamoDB's own trouble becomes a
/// 5xx; or the replay of an attempt that did land.
fn update_failure(
    err: SdkError<UpdateItemError>,
    command: &UpdateCommand,
    now: u64,
) -> Result<Updated, ApiError> {
    if let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = err.as_service_error() {
        let Some(item) = failed.item() else {
            return Err(ApiError::LogNotFound);
        };
        let old = StoredLog::from_item(item.clone())?;
        // An expired log is gone to its callers, whatever else the condition found: no replay,
        // no 412 (both would show a log that no longer exists).
        if old.expired_at(now) {
            return Err(ApiError::LogNotFound);
        }
        let landed_earlier = ring_slot(&command.precondition).is_some_and(|slot| {
            item.get(&slot).and_then(|v| v.as_s().ok()) == Some(&command.token.fingerprint())
        });
        let mark = command.token.mark();
        return match &old.request {
            Some(last) if last.token == mark.token && last.digest != mark.digest => {
                Err(ApiError::IdempotencyKeyReused)
            }
            Some(last) if last.token == mark.token => Ok(Updated {
                log: old,
                replayed: true,
            }),
            // Landed, then other writers updated the log: the answer is the log as it is now.
            _ if landed_earlier => Ok(Updated {
                log: old,
                replayed: true,
            }),
            _ => Err(ApiError::PreconditionFailed {
                current_version: old.version,
            }),
        };
    }
    if err.code() == Some("ValidationException")
        && err
            .message()
            .is_some_and(|m| m.contains("exceeded the maximum allowed size"))
    {
        return Err(ApiError::ItemTooLarge);
    }
    Err(ApiError::Store(classify("UpdateItem log", err)))
}

fn is_condition_failure(err: &SdkError<UpdateItemError>) -> bool {
    matches!(
        err.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
}

/// Error codes DynamoDB uses for "throttled" (the metrics count them too).
pub const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Other error codes DynamoDB uses for "try again later".
const TRANSIENT_CODES: [&str; 3] = [
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
];

/// Sorts an SDK failure into retryable (503) or not (500), keeping a message for the log line.
/// The message is the SDK's error chain: codes and DynamoDB's text, never an item or a key.
pub(crate) fn classify<E>(operation: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = format!("{operation}: {}", DisplayErrorContext(&err));
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            err.code()
                .is_some_and(|c| THROTTLING_CODES.contains(&c) || TRANSIENT_CODES.contains(&c))
                || service.raw().status().is_server_error()
        }
        _ => false,
    };
    if retryable {
        StoreError::Unavailable(message)
    } else {
        StoreError::Internal(message)
    }
}

/// A DynamoDB number for an `f64`: exponent form, so that no value is spelled with more digits
/// than DynamoDB's 38 (`1e30` rather than thirty zeros).
pub(crate) fn format_number(n: f64) -> String {
    format!("{n:e}")
}

/// Builds `SET … REMOVE …` with its placeholder maps.
#[derive(Default)]
struct UpdateExpression {
    sets: Vec<String>,
    removes: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl UpdateExpression {
    fn name(&mut self, placeholder: &str, attribute: &str) {
        self.names.insert(placeholder.into(), attribute.into());
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) {
        self.values.insert(placeholder.into(), value);
    }

    fn set(&mut self, attribute: &str, value: AttributeValue) {
        self.name(&format!("#{attribute}"), attribute);
        self.value(&format!(":{attribute}"), value);
        self.sets.push(format!("#{attribute} = :{attribute}"));
    }

    /// An explicit `null` removes the attribute: absent and null read back the same.
    fn change<T>(
        &mut self,
        attribute: &str,
        change: &Change<T>,
        to_value: impl Fn(&T) -> AttributeValue,
    ) {
        match change {
            Change::Keep => {}
            Change::Clear => {
                self.name(&format!("#{attribute}"), attribute);
                self.removes.push(format!("#{attribute}"));
            }
            Change::Set(v) => self.set(attribute, to_value(v)),
        }
    }

    fn expression(&self) -> String {
        let mut expr = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            expr.push_str(" REMOVE ");
            expr.push_str(&self.removes.join(", "));
        }
        expr
    }
}
