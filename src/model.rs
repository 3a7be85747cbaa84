//! The Log as the v4 API shows it, and its mapping to and from a DynamoDB item.
//!
//! Every field is stored under its JSON name in its natural DynamoDB type; `serde_dynamo` does the
//! mapping both ways, so `Log` is the one place that says what a stored log looks like.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::StoreError;

pub type Object = Map<String, Value>;
pub type Item = HashMap<String, AttributeValue>;

/// Attributes this service keeps beside the Log fields. They never appear in a response.
/// The logs table's partition key: `<organization_id>#<reference_id>`.
pub const LOG_KEY: &str = "log_key";
pub const ORGANIZATION_ID: &str = "organization_id";
pub const VERSION: &str = "version";
pub const REFERENCE_ID: &str = "reference_id";
/// The token and digest of the request that made the current version (see `idempotency`).
pub const REQUEST_TOKEN: &str = "request_token";
pub const REQUEST_DIGEST: &str = "request_digest";
/// When the log expires, in epoch seconds (N, optional): DynamoDB's TTL deletes it some time
/// after, and from that second on no update applies to it.
pub const EXPIRES_AT: &str = "expires_at";

/// Organization ids: 1 to 64 bytes of `A-Z a-z 0-9 _ . : -`. No `#`, so the first `#` of a
/// `log_key` always ends the organization and no two (organization, reference) pairs share a key.
pub const MAX_ORGANIZATION_ID_BYTES: usize = 64;
/// DynamoDB's limit for a partition key value, in UTF-8 bytes.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// The longest reference id that fits the key beside the longest organization id: 1983 bytes.
pub const MAX_REFERENCE_ID_BYTES: usize = MAX_PARTITION_KEY_BYTES - MAX_ORGANIZATION_ID_BYTES - 1;

/// Why an organization id breaks the rules above, or `None` if it keeps them.
pub fn organization_id_problem(organization_id: &str) -> Option<String> {
    if organization_id.is_empty() || organization_id.len() > MAX_ORGANIZATION_ID_BYTES {
        return Some(format!(
            "organization id must be 1 to {MAX_ORGANIZATION_ID_BYTES} bytes"
        ));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-');
    if !organization_id.bytes().all(allowed) {
        return Some("organization id may hold only A-Z a-z 0-9 _ . : -".into());
    }
    None
}

/// Why a reference id cannot address a log, as FastAPI's error `type` and `msg`; `None` if it can.
pub fn reference_id_problem(reference_id: &str) -> Option<(&'static str, String)> {
    if reference_id.is_empty() {
        return Some((
            "string_too_short",
            "String should have at least 1 character".into(),
        ));
    }
    if reference_id.len() > MAX_REFERENCE_ID_BYTES {
        return Some((
            "string_too_long",
            format!("String should have at most {MAX_REFERENCE_ID_BYTES} bytes (UTF-8)"),
        ));
    }
    // U+FFFD is what undecodable percent-escapes turn into: the caller meant some other id.
    if reference_id
        .chars()
        .any(|c| c.is_control() || c == char::REPLACEMENT_CHARACTER)
    {
        return Some((
            "value_error",
            "Value error, reference_id must be valid UTF-8 without control characters".into(),
        ));
    }
    None
}

/// The partition key of an organization's log.
pub fn log_key(organization_id: &str, reference_id: &str) -> String {
    format!("{organization_id}#{reference_id}")
}

/// `LogResponse` of the v4 spec, fields in the spec's order. `None` is JSON `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Log {
    pub project: Option<String>,
    pub project_id: Option<String>,
    pub session_id: Option<String>,
    pub session_reference_id: Option<String>,
    pub parent_id: Option<String>,
    pub parent_reference_id: Option<String>,
    pub inputs: Option<Object>,
    pub source: Option<String>,
    pub metadata: Option<Object>,
    pub save: Option<bool>,
    pub source_datapoint_id: Option<String>,
    pub id: Option<String>,
    pub reference_id: Option<String>,
    pub messages: Option<Vec<Object>>,
    pub output: Option<String>,
    pub judgment: Option<Judgment>,
    pub config_id: Option<String>,
    pub config: Option<Object>,
    pub environment: Option<String>,
    pub feedback: Option<Vec<Object>>,
    pub created_at: Option<String>,
    pub error: Option<String>,
    pub stdout: Option<String>,
    pub duration: Option<f64>,
    pub output_message: Option<Object>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub prompt_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub provider_request: Option<Object>,
    pub provider_response: Option<Object>,
    pub user: Option<String>,
    pub provider_latency: Option<f64>,
    pub tokens: Option<i64>,
    pub raw_output: Option<String>,
    pub finish_reason: Option<String>,
    pub tools: Option<Vec<Object>>,
    pub tool_choice: Option<ToolChoice>,
    pub evaluation_results: Option<Vec<Object>>,
    pub observability_status: Option<ObservabilityStatus>,
    pub updated_at: Option<String>,
    pub batch_ids: Option<Vec<String>>,
}

/// `judgment`: boolean, number, list of strings or string. Numbers keep their JSON form (5 stays 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Judgment {
    Bool(bool),
    Number(serde_json::Number),
    Strings(Vec<String>),
    String(String),
}

/// `tool_choice`: `"none"`, `"auto"`, `"required"` or a `ToolChoice` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(ToolChoiceMode),
    Function(Object),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    None,
    Auto,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObservabilityStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

impl Log {
    /// Fills the defaults the spec gives (`inputs` `{}`, `save` `true`, `evaluation_results` `[]`).
    pub fn with_spec_defaults(mut self) -> Self {
        self.inputs.get_or_insert_with(Object::new);
        self.save.get_or_insert(true);
        self.evaluation_results.get_or_insert_with(Vec::new);
        self
    }

    /// Reads a stored item. Internal and unknown attributes are dropped: only spec fields survive.
    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        // The decoder's message may quote the stored value: keep it out of the log.
        serde_dynamo::from_item(item).map_err(|_| {
            StoreError::Internal(
                "stored log does not match the Log model: a field has the wrong type".into(),
            )
        })
    }

    /// The item for this log, with `null` fields left out (absent and NULL mean the same).
    pub fn to_item(&self) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(self)
            .map_err(|e| StoreError::Internal(format!("log cannot be stored: {e}")))?;
        item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
        Ok(item)
    }
}

/// How a request touches one field: leave it, clear it (`null`), or set it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

/// The body of `PATCH /logs` (`UpdateLogRequest`), already validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogUpdate {
    pub output: Change<String>,
    pub error: Change<String>,
    pub duration: Change<f64>,
}

/// What `If-Match` asks of the log's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: last write wins.
    None,
    /// `If-Match: *`: any existing log.
    Exists,
    /// A list of entity tags: the log must be at one of these versions. Empty when no tag of the
    /// list is a strong ETag of this API: then nothing matches.
    OneOf(Vec<u64>),
}

/// A log as stored: the Log, its owner, its version, the request that made that version and
/// when it expires.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLog {
    pub log: Log,
    pub organization_id: Option<String>,
    pub version: u64,
    pub request: Option<RequestMark>,
    pub expires_at: Option<f64>,
}

/// What an update leaves on the log about the request that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMark {
    pub token: String,
    pub digest: String,
}

impl StoredLog {
    pub fn from_item(mut item: Item) -> Result<Self, StoreError> {
        // Taken out of the item rather than copied: the Log has no such fields.
        let mut text = |name: &str| match item.remove(name) {
            Some(AttributeValue::S(text)) => Some(text),
            _ => None,
        };
        let organization_id = text(ORGANIZATION_ID);
        let request = text(REQUEST_TOKEN).map(|token| RequestMark {
            token,
            digest: text(REQUEST_DIGEST).unwrap_or_default(),
        });
        let version = version_of(&item);
        let expires_at = match item.get(EXPIRES_AT) {
            None => None,
            Some(value) => Some(value.as_n().ok().and_then(|n| n.parse().ok()).ok_or_else(
                || StoreError::Internal(format!("stored log's {EXPIRES_AT} is not a number")),
            )?),
        };
        Ok(Self {
            log: Log::from_item(item)?,
            organization_id,
            version,
            request,
            expires_at,
        })
    }

    /// Whether the log has expired at `now` (epoch seconds): the same test as the update's
    /// condition, which refuses a log whose expiry is not after now.
    pub fn expired_at(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now as f64)
    }
}

/// The version of a stored item: absent (or not a whole number) means 0.
pub fn version_of(item: &Item) -> u64 {
    item.get(VERSION)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Now, in epoch seconds: the unit of `expires_at`.
pub fn epoch_seconds_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Now, as RFC 3339 in UTC: the form of `created_at` and `updated_at`.
pub fn timestamp_now() -> String {
    use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
    DateTime::from(std::time::SystemTime::now())
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn item(attributes: &[(&str, AttributeValue)]) -> Item {
        attributes
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect()
    }

    #[test]
    fn a_log_expires_at_its_second_and_not_before() {
        let stored =
            StoredLog::from_item(item(&[(EXPIRES_AT, AttributeValue::N("100".into()))])).unwrap();
        assert_eq!(stored.expires_at, Some(100.0));
        assert!(!stored.expired_at(99));
        assert!(stored.expired_at(100));
        assert!(stored.expired_at(101));
        let never = StoredLog::from_item(Item::new()).unwrap();
        assert!(!never.expired_at(u64::MAX));
    }

    #[test]
    fn an_expiry_that_is_no_number_is_refused() {
        for value in [
            AttributeValue::S("100".into()),
            AttributeValue::N("soon".into()),
        ] {
            assert!(StoredLog::from_item(item(&[(EXPIRES_AT, value)])).is_err());
        }
    }

    #[test]
    fn an_absent_or_unreadable_version_is_zero() {
        assert_eq!(version_of(&Item::new()), 0);
        assert_eq!(
            version_of(&item(&[(VERSION, AttributeValue::N("7".into()))])),
            7
        );
        assert_eq!(
            version_of(&item(&[(VERSION, AttributeValue::S("7".into()))])),
            0
        );
    }

    #[test]
    fn organization_ids_are_short_and_never_hold_a_hash() {
        for good in [
            "acme",
            "A-Z_a.z:0-9",
            &"o".repeat(MAX_ORGANIZATION_ID_BYTES),
        ] {
            assert_eq!(organization_id_problem(good), None, "{good}");
        }
        let too_long = "o".repeat(MAX_ORGANIZATION_ID_BYTES + 1);
        for bad in ["", "acme#x", "a b", "é", "a/b", &too_long] {
            assert!(organization_id_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn reference_ids_fit_the_key_and_hold_no_control_character() {
        let longest = "r".repeat(MAX_REFERENCE_ID_BYTES);
        assert_eq!(reference_id_problem(&longest), None);
        assert_eq!(reference_id_problem("a#b/ c?é🙂"), None);
        let kind = |id: &str| reference_id_problem(id).map(|(kind, _)| kind);
        assert_eq!(kind(""), Some("string_too_short"));
        assert_eq!(kind(&format!("{longest}r")), Some("string_too_long"));
        // A multi-byte character counts its bytes.
        assert_eq!(
            kind(&format!("{}é", &longest[1..])),
            Some("string_too_long")
        );
        assert_eq!(kind("a\nb"), Some("value_error"));
        assert_eq!(kind("a\u{7f}"), Some("value_error"));
        assert_eq!(kind("a\u{fffd}"), Some("value_error"));
        // The longest pair still fits DynamoDB's partition key.
        let key = log_key(&"o".repeat(MAX_ORGANIZATION_ID_BYTES), &longest);
        assert_eq!(key.len(), MAX_PARTITION_KEY_BYTES);
    }

    proptest! {
        /// Two different (organization, reference) pairs never share a key.
        #[test]
        fn log_keys_never_collide(
            a in "[A-Za-z0-9_.:-]{1,8}", b in "[A-Za-z0-9_.:-]{1,8}",
            x in "[^\u{0}]{1,8}", y in "[^\u{0}]{1,8}",
        ) {
            prop_assert_eq!(log_key(&a, &x) == log_key(&b, &y), a == b && x == y);
        }

        /// A reference id is refused exactly when it is empty, too long, or holds a control
        /// character or U+FFFD.
        #[test]
        fn reference_id_rule(id in ".{0,40}") {
            let bad = id.is_empty()
                || id.len() > MAX_REFERENCE_ID_BYTES
                || id.chars().any(|c| c.is_control() || c == '\u{fffd}');
            prop_assert_eq!(reference_id_problem(&id).is_some(), bad);
        }
    }

    #[test]
    fn a_log_maps_to_an_item_without_nulls_and_back() {
        let log: Log = serde_json::from_value(json!({
            "reference_id": "r",
            "output": "o",
            "duration": 1.5,
            "prompt_tokens": 3,
            "judgment": 5,
            "tool_choice": "auto",
            "inputs": {"a": [1, null]},
            "error": null,
        }))
        .unwrap();
        let item = log.to_item().unwrap();
        assert!(!item.contains_key("error"));
        assert_eq!(item["prompt_tokens"], AttributeValue::N("3".into()));
        assert_eq!(item["tool_choice"], AttributeValue::S("auto".into()));
        assert_eq!(Log::from_item(item).unwrap(), log);
    }

    #[test]
    fn a_stored_field_of_the_wrong_type_is_an_internal_error_that_quotes_nothing() {
        let item = Item::from([("output".to_owned(), AttributeValue::N("12345".into()))]);
        let Err(StoreError::Internal(message)) = Log::from_item(item) else {
            panic!("an internal error");
        };
        assert!(!message.contains("12345"), "{message}");
    }

    #[test]
    fn a_stored_log_reads_its_owner_version_and_latest_request() {
        let s = |v: &str| AttributeValue::S(v.into());
        let item = Item::from([
            (LOG_KEY.to_owned(), s("acme#r")),
            (ORGANIZATION_ID.to_owned(), s("acme")),
            (VERSION.to_owned(), AttributeValue::N("41".into())),
            (REQUEST_TOKEN.to_owned(), s("kabc")),
            (REQUEST_DIGEST.to_owned(), s("d1")),
            ("output".to_owned(), s("o")),
            ("rr3".to_owned(), s("f")),
        ]);
        let stored = StoredLog::from_item(item).unwrap();
        assert_eq!(stored.organization_id.as_deref(), Some("acme"));
        assert_eq!(stored.version, 41);
        assert_eq!(
            stored.request,
            Some(RequestMark {
                token: "kabc".into(),
                digest: "d1".into()
            })
        );
        assert_eq!(stored.log.output.as_deref(), Some("o"));
        // A log a whole-item writer made: version 0, no request.
        let bare = StoredLog::from_item(Item::from([("output".to_owned(), s("o"))])).unwrap();
        assert_eq!(
            (bare.version, bare.request, bare.organization_id),
            (0, None, None)
        );
    }

    #[test]
    fn the_spec_defaults_fill_only_what_is_missing() {
        let log = Log::default().with_spec_defaults();
        assert_eq!(log.inputs, Some(Object::new()));
        assert_eq!(log.save, Some(true));
        assert_eq!(log.evaluation_results, Some(vec![]));
        let kept = Log {
            save: Some(false),
            ..Log::default()
        }
        .with_spec_defaults();
        assert_eq!(kept.save, Some(false));
    }

    #[test]
    fn timestamps_are_rfc_3339_in_utc() {
        use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
        let now = timestamp_now();
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert!(
            DateTime::from_str(&now, DateTimeFormat::DateTime).is_ok(),
            "{now}"
        );
    }
}
