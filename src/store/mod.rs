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
use crate::dynamodb_errors::{THROTTLING_CODES, TRANSIENT_CODES};
use crate::error::{ApiError, StoreError};
use crate::idempotency::{after_failed_condition, ring_slot, Refusing, RequestToken, Verdict};
use crate::model::{
    epoch_seconds_now, log_key, Change, LogUpdate, Precondition, StoredLog, EXPIRES_AT, LOG_KEY,
    ORGANIZATION_ID, REQUEST_DIGEST, REQUEST_TOKEN, VERSION,
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
    /// `If-Match`. What a failed condition means (an earlier attempt of this request landed: a
    /// replay, answered like the first; or a refusal) is `idempotency::after_failed_condition`.
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
            Err(err) => failed_update_outcome(err, command, now),
        }
    }
}

/// What a valid request asks for: which log, what change, on what condition, and the token
/// that makes it exactly-once.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateCommand {
    pub reference_id: String,
    pub update: LogUpdate,
    pub precondition: Precondition,
    pub token: RequestToken,
}

/// The outcome of an update: the log as it stands, and whether this request's update had
/// already landed on an earlier attempt (a replay).
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    pub log: StoredLog,
    pub replayed: bool,
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

/// What a failed `UpdateItem` at `now` means: the replay of an attempt that did land (`Ok`), or a
/// failure told apart so that only DynamoDB's own trouble becomes a 5xx.
fn failed_update_outcome(
    err: SdkError<UpdateItemError>,
    command: &UpdateCommand,
    now: u64,
) -> Result<Updated, ApiError> {
    if let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = err.as_service_error() {
        let old = failed
            .item()
            .map(|item| StoredLog::from_item(item.clone()))
            .transpose()?;
        let ring_entry = ring_slot(&command.precondition)
            .as_ref()
            .and_then(|slot| failed.item()?.get(slot)?.as_s().ok())
            .map(String::as_str);
        let refusing = old.as_ref().map(|old| Refusing {
            expired: old.expired_at(now),
            last_request: old.request.as_ref(),
            ring_entry,
        });
        let verdict = after_failed_condition(
            refusing,
            &command.token,
            &command.update,
            &command.precondition,
        );
        return match (verdict, old) {
            // Possibly landed before other writers updated the log: the answer is the log now.
            (Verdict::Replay, Some(log)) => Ok(Updated {
                log,
                replayed: true,
            }),
            (Verdict::PreconditionFailed, Some(old)) => Err(ApiError::PreconditionFailed {
                current_version: old.version,
            }),
            (Verdict::KeyReused, _) => Err(ApiError::IdempotencyKeyReused),
            (Verdict::NotFound, _) | (_, None) => Err(ApiError::LogNotFound),
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

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_types::body::SdkBody;

    use super::*;
    use crate::model::{Item, Log, RequestMark};

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.into())
    }

    #[test]
    fn the_update_expression_sets_removes_and_names_every_attribute() {
        let mut expr = UpdateExpression::default();
        expr.set("updated_at", AttributeValue::S("t".into()));
        expr.change("output", &Change::Set("o".to_owned()), |s| {
            AttributeValue::S(s.clone())
        });
        expr.change("error", &Change::<String>::Clear, |s| {
            AttributeValue::S(s.clone())
        });
        expr.change("duration", &Change::<f64>::Keep, |d| n(&format_number(*d)));
        assert_eq!(
            expr.expression(),
            "SET #updated_at = :updated_at, #output = :output REMOVE #error"
        );
        assert_eq!(expr.names.len(), 3);
        assert_eq!(expr.names["#error"], "error");
        assert_eq!(expr.values.len(), 2);
        assert_eq!(expr.values[":output"], AttributeValue::S("o".into()));
        assert!(!expr.names.contains_key("#duration"));
    }

    #[test]
    fn the_version_condition_lists_the_versions_and_counts_absent_as_zero() {
        let mut expr = UpdateExpression::default();
        assert_eq!(
            version_condition(&mut expr, &[3, 9]),
            " AND #version IN (:v0, :v1)"
        );
        assert_eq!(
            (&expr.values[":v0"], &expr.values[":v1"]),
            (&n("3"), &n("9"))
        );
        let mut expr = UpdateExpression::default();
        assert_eq!(
            version_condition(&mut expr, &[0]),
            " AND (attribute_not_exists(#version) OR #version IN (:v0))"
        );
        // No version can match: the condition contradicts the log's existence.
        let mut expr = UpdateExpression::default();
        assert_eq!(
            version_condition(&mut expr, &[]),
            " AND attribute_not_exists(#log_key)"
        );
        assert!(expr.values.is_empty());
    }

    #[test]
    fn numbers_are_written_in_exponent_form_within_dynamodbs_digits() {
        assert_eq!(format_number(1.5), "1.5e0");
        assert_eq!(format_number(0.0), "0e0");
        assert_eq!(format_number(1e30), "1e30");
        assert_eq!(format_number(1e125).parse::<f64>().unwrap(), 1e125);
        let digits = format_number(0.1 + 0.2);
        assert_eq!(digits.parse::<f64>().unwrap(), 0.1 + 0.2);
        assert!(digits.len() <= 38 + 6, "{digits}");
    }

    fn service_error(code: &str, status: u16) -> SdkError<UpdateItemError, HttpResponse> {
        let error = UpdateItemError::generic(ErrorMetadata::builder().code(code).build());
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(error, raw)
    }

    #[test]
    fn only_dynamodbs_passing_trouble_is_retryable() {
        let retryable = |err| matches!(classify("op", err), StoreError::Unavailable(_));
        assert!(retryable(SdkError::timeout_error("slow")));
        assert!(retryable(service_error("ThrottlingException", 400)));
        assert!(retryable(service_error(
            "TransactionConflictException",
            400
        )));
        assert!(retryable(service_error("SomethingNew", 503)));
        assert!(!retryable(service_error("ResourceNotFoundException", 400)));
        assert!(!retryable(service_error("AccessDeniedException", 400)));
        let StoreError::Internal(message) = classify("GetItem x", service_error("Oops", 400))
        else {
            panic!("internal");
        };
        assert!(message.starts_with("GetItem x: "), "{message}");
    }

    fn command(key: &str, output: &str, precondition: Precondition) -> UpdateCommand {
        let update = LogUpdate {
            output: Change::Set(output.into()),
            ..LogUpdate::default()
        };
        UpdateCommand {
            reference_id: "r".into(),
            token: RequestToken::for_key(key, &update),
            update,
            precondition,
        }
    }

    fn condition_failed(item: Option<Item>) -> SdkError<UpdateItemError, HttpResponse> {
        let failed = ConditionalCheckFailedException::builder()
            .set_item(item)
            .build();
        let raw = HttpResponse::new(400.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(
            UpdateItemError::ConditionalCheckFailedException(failed),
            raw,
        )
    }

    fn item(version: &str, last: Option<&RequestMark>, ring: Option<(&str, String)>) -> Item {
        let mut item = Log {
            output: Some("now".into()),
            ..Log::default()
        }
        .to_item()
        .unwrap();
        item.insert(VERSION.into(), n(version));
        if let Some(mark) = last {
            item.insert(REQUEST_TOKEN.into(), AttributeValue::S(mark.token.clone()));
            item.insert(
                REQUEST_DIGEST.into(),
                AttributeValue::S(mark.digest.clone()),
            );
        }
        if let Some((slot, entry)) = ring {
            item.insert(slot.into(), AttributeValue::S(entry));
        }
        item
    }

    #[test]
    fn a_failed_condition_is_answered_from_the_log_it_returned() {
        let retry = command("k", "x", Precondition::OneOf(vec![4]));
        let outcome = |item| failed_update_outcome(condition_failed(item), &retry, 1000);
        assert!(matches!(outcome(None), Err(ApiError::LogNotFound)));
        let replay = outcome(Some(item("5", Some(retry.token.mark()), None))).unwrap();
        assert!(replay.replayed);
        assert_eq!(replay.log.version, 5);
        assert_eq!(replay.log.log.output.as_deref(), Some("now"));
        let other = command("k", "y", Precondition::None);
        assert!(matches!(
            outcome(Some(item("5", Some(other.token.mark()), None))),
            Err(ApiError::IdempotencyKeyReused)
        ));
        let later = command("later", "z", Precondition::None);
        let ring = Some(("rr5", retry.token.fingerprint()));
        let covered = outcome(Some(item("9", Some(later.token.mark()), ring))).unwrap();
        assert!(covered.replayed);
        assert_eq!(covered.log.version, 9);
        assert!(matches!(
            outcome(Some(item("9", Some(later.token.mark()), None))),
            Err(ApiError::PreconditionFailed { current_version: 9 })
        ));
        // Expired at its second or before: not found, even for the request that made it.
        for expires_at in ["1000", "999"] {
            let mut expired = item("5", Some(retry.token.mark()), None);
            expired.insert(EXPIRES_AT.into(), n(expires_at));
            assert!(matches!(outcome(Some(expired)), Err(ApiError::LogNotFound)));
        }
        let mut alive = item("5", Some(retry.token.mark()), None);
        alive.insert(EXPIRES_AT.into(), n("1001"));
        assert!(outcome(Some(alive)).unwrap().replayed);
    }

    #[test]
    fn an_item_over_the_size_limit_is_a_client_error() {
        let error = UpdateItemError::generic(
            ErrorMetadata::builder()
                .code("ValidationException")
                .message("Item size to update has exceeded the maximum allowed size")
                .build(),
        );
        let raw = HttpResponse::new(400.try_into().unwrap(), SdkBody::empty());
        let command = command("k", "x", Precondition::None);
        assert!(matches!(
            failed_update_outcome(SdkError::service_error(error, raw), &command, 1000),
            Err(ApiError::ItemTooLarge)
        ));
    }
}
