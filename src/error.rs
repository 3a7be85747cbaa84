//! Every failure a request can end in, and the HTTP answer each one gets.

use serde::Serialize;

/// One entry of FastAPI's `HTTPValidationError.detail`, so v4 clients parse our 422s unchanged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationError {
    pub loc: Vec<Loc>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A `loc` element: a field name or a position (FastAPI reports JSON decode errors by byte offset).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Loc {
    Name(&'static str),
    Index(usize),
}

impl ValidationError {
    pub fn new(loc: Vec<Loc>, kind: &'static str, msg: impl Into<String>) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind,
        }
    }
}

/// Why a request failed. Each variant maps to exactly one status code in `edge::response`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An HTTP request the edge cannot represent (a header that is not valid HTTP, say): why.
    #[error("bad request")]
    BadRequest(&'static str),
    #[error("not found")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("missing API key")]
    MissingApiKey,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("validation failed")]
    Validation(Vec<ValidationError>),
    #[error("log not found")]
    LogNotFound,
    #[error("idempotency key reused for another update")]
    IdempotencyKeyReused,
    #[error("version precondition failed")]
    PreconditionFailed { current_version: u64 },
    #[error("the update would make the log larger than DynamoDB's item limit")]
    ItemTooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A DynamoDB call that failed for a reason that is not the caller's: retryable or not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, connection failures and 5xx: worth retrying later.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    /// Missing table, access denied, a malformed stored item: an operator must act.
    #[error("DynamoDB failure: {0}")]
    Internal(String),
}
