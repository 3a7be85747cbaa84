//! `logs-admin migrate`: copies every log of an old-layout logs table (partition key
//! `reference_id`) into the current one (partition key `log_key`).
//!
//! Parallel `Scan` segments, page by page, strongly consistent. Each log is written by its own
//! conditional `PutItem` that never replaces a log at the same or a higher version, so a rerun,
//! an interrupted run or a run beside live traffic copies what is missing or older and leaves
//! newer logs alone. (`BatchWriteItem` takes no condition, so it could not promise that.)

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use tokio::task::JoinSet;

use super::{classify, Store};
use crate::error::StoreError;
use crate::model::{
    log_key, organization_id_problem, version_of, Item, LOG_KEY, ORGANIZATION_ID, REFERENCE_ID,
    VERSION,
};

/// Writes in flight per segment.
const WRITES_IN_FLIGHT: usize = 16;
/// Attempts per log when DynamoDB throttles or fails, beyond the SDK's own retries.
const WRITE_ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Written into the current table (new, or newer than the copy there).
    pub copied: u64,
    /// Already there at the same or a higher version.
    pub skipped: u64,
    /// Not copied: each with its reason (the old reference id, if any, and why).
    pub failures: Vec<String>,
}

impl MigrationReport {
    fn add(&mut self, other: MigrationReport) {
        self.copied += other.copied;
        self.skipped += other.skipped;
        self.failures.extend(other.failures);
    }
}

/// What became of one old log.
enum LogCopy {
    Copied,
    Skipped,
    Failed(String),
}

impl Store {
    /// Copies every log of `old_table` into the logs table, scanning in `segments` parallel
    /// segments. A failure to read the old table ends the run with an error; a log that cannot be
    /// copied is counted and reported, and the run goes on.
    pub async fn migrate_from(
        &self,
        old_table: &str,
        segments: i32,
    ) -> Result<MigrationReport, StoreError> {
        let mut tasks = JoinSet::new();
        for segment in 0..segments {
            let (store, old_table) = (self.clone(), old_table.to_owned());
            tasks.spawn(async move { store.migrate_segment(&old_table, segment, segments).await });
        }
        let mut report = MigrationReport::default();
        while let Some(done) = tasks.join_next().await {
            let segment = done.map_err(|e| StoreError::Internal(format!("segment task: {e}")))?;
            report.add(segment?);
        }
        Ok(report)
    }

    async fn migrate_segment(
        &self,
        old_table: &str,
        segment: i32,
        segments: i32,
    ) -> Result<MigrationReport, StoreError> {
        let mut report = MigrationReport::default();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(old_table)
                .segment(segment)
                .total_segments(segments)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Scan old logs", e))?;
            let mut items = page.items.unwrap_or_default().into_iter();
            loop {
                let mut writes = JoinSet::new();
                for item in items.by_ref().take(WRITES_IN_FLIGHT) {
                    let store = self.clone();
                    writes.spawn(async move { store.copy_log(item).await });
                }
                if writes.is_empty() {
                    break;
                }
                while let Some(done) = writes.join_next().await {
                    match done.unwrap_or_else(|e| LogCopy::Failed(format!("write task: {e}"))) {
                        LogCopy::Copied => report.copied += 1,
                        LogCopy::Skipped => report.skipped += 1,
                        LogCopy::Failed(why) => report.failures.push(why),
                    }
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(report),
            }
        }
    }

    /// Writes one old log under its new key unless the table holds it at the same or a higher
    /// version. Retries with back-off while DynamoDB throttles or fails.
    async fn copy_log(&self, mut item: Item) -> LogCopy {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let Some(reference_id) = text(REFERENCE_ID).filter(|r| !r.is_empty()) else {
            return LogCopy::Failed("an item without a reference_id".into());
        };
        let Some(organization_id) = text(ORGANIZATION_ID) else {
            return LogCopy::Failed(format!("{reference_id:?}: no organization_id"));
        };
        if let Some(problem) = organization_id_problem(&organization_id) {
            return LogCopy::Failed(format!("{reference_id:?}: {problem}"));
        }
        let version = version_of(&item);
        item.insert(
            LOG_KEY.into(),
            AttributeValue::S(log_key(&organization_id, &reference_id)),
        );
        // An absent version is 0: only a missing log is older than that.
        let condition = if version == 0 {
            "attribute_not_exists(#log_key)"
        } else {
            "attribute_not_exists(#log_key) OR attribute_not_exists(#version) OR #version < :version"
        };
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let mut put = self
                .client
                .put_item()
                .table_name(&self.tables.logs)
                .set_item(Some(item.clone()))
                .condition_expression(condition)
                .expression_attribute_names("#log_key", LOG_KEY);
            if version > 0 {
                put = put
                    .expression_attribute_names("#version", VERSION)
                    .expression_attribute_values(
                        ":version",
                        AttributeValue::N(version.to_string()),
                    );
            }
            match put.send().await {
                Ok(_) => return LogCopy::Copied,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    return LogCopy::Skipped
                }
                Err(e) => match classify("PutItem log", e) {
                    StoreError::Unavailable(_) if attempt < WRITE_ATTEMPTS => {
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                        attempt += 1;
                    }
                    err => return LogCopy::Failed(format!("{reference_id:?}: {err}")),
                },
            }
        }
    }
}
