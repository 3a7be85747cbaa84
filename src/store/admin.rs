//! The operator's writes and reads (`logs-admin`): tables, API keys, and whole logs.

use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;

use super::{classify, version_condition, Store, UpdateExpression};
use crate::error::StoreError;
use crate::model::{
    log_key, version_of, Item, Log, StoredLog, EXPIRES_AT, LOG_KEY, ORGANIZATION_ID, VERSION,
};

/// Conditional writes `put_log` tries before it gives up on a log that keeps changing.
const PUT_LOG_ATTEMPTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("no such API key")]
    UnknownKey,
    #[error("this API key is already registered")]
    KeyExists,
}

/// How long `create_table` waits for a table to become ACTIVE. The waiter polls at once, then
/// every 20 s or more: DynamoDB Local's tables are ACTIVE at once, AWS's within seconds.
const TABLE_WAIT: Duration = Duration::from_secs(120);

/// What `create_tables` found or did for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableStatus {
    Created(String),
    AlreadyExists(String),
}

impl Store {
    /// Creates both tables (on-demand billing) unless they exist; safe to run again.
    pub async fn create_tables(&self) -> Result<Vec<TableStatus>, StoreError> {
        let mut report = Vec::new();
        for (table, key) in [
            (&self.tables.logs, LOG_KEY),
            (&self.tables.api_keys, "key_hash"),
        ] {
            report.push(self.create_table(table, key).await?);
        }
        Ok(report)
    }

    /// Creates a table keyed by the string attribute `key` unless it exists, and waits for it.
    pub async fn create_table(&self, table: &str, key: &str) -> Result<TableStatus, StoreError> {
        let created = self
            .client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?,
            )
            .send()
            .await;
        let status = match created {
            Ok(_) => TableStatus::Created(table.to_owned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                TableStatus::AlreadyExists(table.to_owned())
            }
            Err(e) => return Err(classify("CreateTable", e)),
        };
        self.wait_active(table).await?;
        Ok(status)
    }

    /// Waits, with the SDK's table waiter, until the table is ACTIVE.
    async fn wait_active(&self, table: &str) -> Result<(), StoreError> {
        let waited = self
            .client
            .wait_until_table_exists()
            .table_name(table)
            .wait(TABLE_WAIT)
            .await;
        match waited {
            Ok(_) => Ok(()),
            Err(WaiterError::ExceededMaxWait(_)) => Err(StoreError::Unavailable(format!(
                "table {table} did not become ACTIVE within {} s",
                TABLE_WAIT.as_secs()
            ))),
            Err(WaiterError::OperationFailed(failed)) => {
                Err(classify("DescribeTable", failed.into_error()))
            }
            Err(WaiterError::FailureState(failed)) => Err(StoreError::Internal(
                match failed.final_poll().as_result() {
                    Err(err) => format!("DescribeTable: {}", DisplayErrorContext(err)),
                    Ok(_) => format!("table {table} cannot become ACTIVE"),
                },
            )),
            Err(err) => Err(StoreError::Internal(format!("DescribeTable waiter: {err}"))),
        }
    }

    /// Stores a new API key by its hash; the raw key is never stored. A key already registered
    /// with this organization and creation time is this call's own earlier attempt (a retry
    /// after a lost answer), not a duplicate.
    pub async fn put_api_key(
        &self,
        key_hash: &str,
        organization_id: &str,
        created_at: &str,
    ) -> Result<(), AdminError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.api_keys)
            .item("key_hash", AttributeValue::S(key_hash.to_owned()))
            .item(
                ORGANIZATION_ID,
                AttributeValue::S(organization_id.to_owned()),
            )
            .item("created_at", AttributeValue::S(created_at.to_owned()))
            .condition_expression("attribute_not_exists(key_hash)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let old = failed.item().unwrap_or(&Item::new()).clone();
                    let same = |name: &str, want: &str| {
                        old.get(name)
                            .and_then(|v| v.as_s().ok())
                            .map(String::as_str)
                            == Some(want)
                    };
                    if same(ORGANIZATION_ID, organization_id) && same("created_at", created_at) {
                        Ok(())
                    } else {
                        Err(AdminError::KeyExists)
                    }
                }
                _ => Err(classify("PutItem api key", e).into()),
            },
        }
    }

    /// Marks a key revoked; instances that cached it stop accepting it within the cache TTL.
    pub async fn revoke_api_key(&self, key_hash: &str, revoked_at: &str) -> Result<(), AdminError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.api_keys)
            .key("key_hash", AttributeValue::S(key_hash.to_owned()))
            .update_expression("SET revoked = :t, revoked_at = :at")
            .condition_expression("attribute_exists(key_hash)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":at", AttributeValue::S(revoked_at.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(AdminError::UnknownKey)
            }
            Err(e) => Err(classify("UpdateItem api key", e).into()),
        }
    }

    /// Writes a whole log for `organization_id`, expiring at `expires_at` (epoch seconds) if
    /// given, and returns its version. Another organization's log with the same reference id is
    /// another item.
    ///
    /// A log replacing one continues its version sequence (the old version + 1), so that no
    /// entity tag issued for the old log matches the new one; a new log starts at version 0
    /// (absent). Each write is conditional on the version it replaces: a concurrent update makes
    /// it fail, and the next attempt replaces the log as that update left it.
    pub async fn put_log(
        &self,
        organization_id: &str,
        log: &Log,
        expires_at: Option<u64>,
    ) -> Result<u64, AdminError> {
        let reference_id = log.reference_id.as_deref().unwrap_or_default();
        let mut item = log.to_item()?;
        item.insert(
            LOG_KEY.into(),
            AttributeValue::S(log_key(organization_id, reference_id)),
        );
        item.insert(
            ORGANIZATION_ID.into(),
            AttributeValue::S(organization_id.to_owned()),
        );
        if let Some(at) = expires_at {
            item.insert(EXPIRES_AT.into(), AttributeValue::N(at.to_string()));
        }
        // The version of the log being replaced; first assume there is none.
        let mut replacing: Option<u64> = None;
        for _ in 0..PUT_LOG_ATTEMPTS {
            let new_version = replacing.map_or(0, |old| old + 1);
            let put = self
                .client
                .put_item()
                .table_name(&self.tables.logs)
                .expression_attribute_names("#log_key", LOG_KEY)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let put = match replacing {
                None => put
                    .set_item(Some(item.clone()))
                    .condition_expression("attribute_not_exists(#log_key)"),
                Some(old) => {
                    let mut next = item.clone();
                    next.insert(VERSION.into(), AttributeValue::N(new_version.to_string()));
                    // The update's own version condition: the log still at `old` (absent is 0).
                    let mut expr = UpdateExpression::default();
                    let same_version = version_condition(&mut expr, &[old]);
                    put.set_item(Some(next))
                        .condition_expression(format!("attribute_exists(#log_key){same_version}"))
                        .expression_attribute_names("#version", VERSION)
                        .set_expression_attribute_values(Some(expr.values))
                }
            };
            match put.send().await {
                Ok(_) => return Ok(new_version),
                Err(e) => match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                        replacing = failed.item().map(version_of);
                    }
                    _ => return Err(classify("PutItem log", e).into()),
                },
            }
        }
        Err(StoreError::Unavailable(format!(
            "the log kept changing during {PUT_LOG_ATTEMPTS} attempts to replace it; try again"
        ))
        .into())
    }

    /// Reads a log with its owner and version (strongly consistent: an operator checks writes).
    pub async fn get_log(
        &self,
        organization_id: &str,
        reference_id: &str,
    ) -> Result<Option<StoredLog>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.logs)
            .key(
                LOG_KEY,
                AttributeValue::S(log_key(organization_id, reference_id)),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem log", e))?;
        out.item.map(StoredLog::from_item).transpose()
    }
}
