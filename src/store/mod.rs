//! Every DynamoDB call the service makes. The request path makes two kinds: a `GetItem` on the
//! API keys table (auth, cached) and the one conditional `UpdateItem` on the logs table below.

mod admin;

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use crate::config::Tables;
use crate::error::{ApiError, StoreError};
use crate::model::{Change, LogUpdate, StoredLog, ORGANIZATION_ID, REFERENCE_ID, VERSION};

pub use admin::{AdminError, TableStatus};

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

    /// Opens the connection to DynamoDB during init, so the first invocation does not pay for
    /// it (on AWS: a TLS handshake). One `GetItem` for a hash no key can have; its outcome is
    /// irrelevant, a failure only means the first request connects instead.
    pub async fn warm_up(&self) {
        if let Err(err) = self.api_key_organization("warm-up").await {
            tracing::warn!(cause = %err, "DynamoDB warm-up failed");
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

    /// Applies `update` to the caller's log in one conditional `UpdateItem` that also stamps
    /// `updated_at` and increments `version`, and returns the log as it now stands.
    ///
    /// The condition requires the item to exist, to belong to `organization_id` and, with
    /// `expected_version`, to still be at that version. A log of another organization is
    /// reported exactly like a missing one.
    pub async fn update_log(
        &self,
        reference_id: &str,
        organization_id: &str,
        update: &LogUpdate,
        expected_version: Option<u64>,
    ) -> Result<StoredLog, ApiError> {
        let mut expr = UpdateExpression::default();
        expr.name("#reference_id", REFERENCE_ID);
        expr.name("#organization_id", ORGANIZATION_ID);
        expr.name("#version", VERSION);
        expr.value(":org", AttributeValue::S(organization_id.to_owned()));
        expr.value(":zero", AttributeValue::N("0".into()));
        expr.value(":one", AttributeValue::N("1".into()));
        expr.set(
            "updated_at",
            AttributeValue::S(crate::model::timestamp_now()),
        );
        expr.sets
            .push("#version = if_not_exists(#version, :zero) + :one".into());
        expr.change("output", &update.output, |s| AttributeValue::S(s.clone()));
        expr.change("error", &update.error, |s| AttributeValue::S(s.clone()));
        expr.change("duration", &update.duration, |d| {
            AttributeValue::N(format_number(*d))
        });

        let mut condition =
            String::from("attribute_exists(#reference_id) AND #organization_id = :org");
        if let Some(expected) = expected_version {
            expr.value(":expected", AttributeValue::N(expected.to_string()));
            condition.push_str(if expected == 0 {
                " AND (attribute_not_exists(#version) OR #version = :expected)"
            } else {
                " AND #version = :expected"
            });
        }

        let result = self
            .client
            .update_item()
            .table_name(&self.tables.logs)
            .key(REFERENCE_ID, AttributeValue::S(reference_id.to_owned()))
            .update_expression(expr.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;

        match result {
            Ok(out) => Ok(StoredLog::from_item(out.attributes.unwrap_or_default())?),
            Err(err) => Err(update_failure(err, organization_id)),
        }
    }
}

/// Why an `UpdateItem` failed, told apart so that only DynamoDB's own trouble becomes a 5xx.
fn update_failure(err: SdkError<UpdateItemError>, organization_id: &str) -> ApiError {
    if let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = err.as_service_error() {
        // The old item tells a version conflict from "not yours or not there".
        let old = failed.item().cloned().map(StoredLog::from_item);
        return match old {
            Some(Ok(old)) if old.organization_id.as_deref() == Some(organization_id) => {
                ApiError::PreconditionFailed {
                    current_version: old.version,
                }
            }
            _ => ApiError::LogNotFound,
        };
    }
    if err.code() == Some("ValidationException")
        && err
            .message()
            .is_some_and(|m| m.contains("exceeded the maximum allowed size"))
    {
        return ApiError::ItemTooLarge;
    }
    ApiError::Store(classify("UpdateItem log", err))
}

/// Error codes DynamoDB uses for "try again later".
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
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
            err.code().is_some_and(|c| RETRYABLE_CODES.contains(&c))
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
