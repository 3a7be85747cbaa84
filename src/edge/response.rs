//! Turning outcomes into HTTP responses: always JSON, always with a `detail` on errors.

use lambda_http::http::header::{ALLOW, CONTENT_TYPE, ETAG, RETRY_AFTER};
use lambda_http::http::{HeaderName, HeaderValue, StatusCode};
use std::future::Future;
use std::pin::Pin;

use lambda_http::{Body, IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::error::{ApiError, Loc, StoreError, ValidationError};
use crate::store::Updated;

use super::request::MAX_BODY_BYTES;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The strong ETag of a log version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// Marks a 200 whose update had landed on an earlier attempt of the same request.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// 200 with the LogResponse (spec defaults filled) and the version's ETag.
pub fn updated(updated: Updated) -> Response<Body> {
    let mut resp = json_response(StatusCode::OK, &updated.log.log.with_spec_defaults());
    insert(&mut resp, ETAG, &etag(updated.log.version));
    if updated.replayed {
        insert(
            &mut resp,
            HeaderName::from_static(IDEMPOTENT_REPLAYED),
            "true",
        );
    }
    resp
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::RouteNotFound | ApiError::LogNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge | ApiError::ItemTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MissingApiKey | ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::Validation(_) | ApiError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(StoreError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response a client sees. Store failures say nothing of their cause: that goes to the log.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let detail = match &self {
            ApiError::Validation(errors) => {
                return json_response(status, &json!({ "detail": errors }))
            }
            ApiError::IdempotencyKeyReused => {
                let error = ValidationError::new(
                    vec![Loc::Name("header"), Loc::Name("idempotency-key")],
                    "value_error",
                    "Value error, this Idempotency-Key was used for another update of this log; \
                     nothing was changed",
                );
                return json_response(status, &json!({ "detail": [error] }));
            }
            ApiError::BadRequest(problem) => (*problem).to_owned(),
            ApiError::RouteNotFound => "Not Found".to_owned(),
            ApiError::MethodNotAllowed => "Method Not Allowed".to_owned(),
            ApiError::PayloadTooLarge => {
                format!("Request body is larger than the limit of {MAX_BODY_BYTES} bytes.")
            }
            ApiError::MissingApiKey => "Missing API key: send it in the X-API-KEY header.".into(),
            ApiError::InvalidApiKey => "Invalid API key.".into(),
            ApiError::LogNotFound => "No log with this reference_id.".into(),
            ApiError::PreconditionFailed { .. } => {
                "No entity tag of If-Match matches the log's current version; nothing was changed."
                    .into()
            }
            ApiError::ItemTooLarge => "The update would make the log larger than DynamoDB's \
                 400 KB item limit; nothing was changed."
                .into(),
            ApiError::Store(StoreError::Unavailable(_)) => {
                "The log store is temporarily unavailable; the update may or may not have been \
                 applied. Retry later with the same Idempotency-Key to apply it exactly once."
                    .into()
            }
            ApiError::Store(StoreError::Internal(_)) => "Internal server error.".into(),
        };
        let mut resp = json_response(status, &json!({ "detail": detail }));
        match self {
            ApiError::MethodNotAllowed => insert(&mut resp, ALLOW, "PATCH"),
            ApiError::PreconditionFailed { current_version } => {
                insert(&mut resp, ETAG, &etag(current_version))
            }
            ApiError::Store(StoreError::Unavailable(_)) => {
                insert(&mut resp, RETRY_AFTER, &RETRY_AFTER_SECONDS.to_string())
            }
            _ => {}
        }
        resp
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serializing our own types to a String cannot fail; an empty object is the safe fallback.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = status;
    insert(&mut resp, CONTENT_TYPE, "application/json");
    resp
}

fn insert(resp: &mut Response<Body>, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, value);
    }
}

/// A response handed to lambda_http as it is. For a plain `Response<Body>`, lambda_http reads the
/// body back and decodes it again by its `Content-Type`'s charset (encoding_rs), copying the
/// headers too; every body here is already UTF-8 JSON text, so that pass costs CPU on every
/// invocation and keeps encoding_rs in the binary for nothing (docs/performance.md).
pub struct Finished(pub Response<Body>);

impl IntoResponse for Finished {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::model::{Log, StoredLog};

    fn body(resp: &Response<Body>) -> Value {
        match resp.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("a text body, not {other:?}"),
        }
    }

    fn header(resp: &Response<Body>, name: HeaderName) -> Option<&str> {
        resp.headers().get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn every_failure_has_its_status_and_a_json_detail() {
        let cases = [
            (ApiError::BadRequest("x"), 400),
            (ApiError::RouteNotFound, 404),
            (ApiError::MethodNotAllowed, 405),
            (ApiError::PayloadTooLarge, 413),
            (ApiError::MissingApiKey, 401),
            (ApiError::InvalidApiKey, 401),
            (ApiError::Validation(vec![]), 422),
            (ApiError::LogNotFound, 404),
            (ApiError::IdempotencyKeyReused, 422),
            (ApiError::PreconditionFailed { current_version: 7 }, 412),
            (ApiError::ItemTooLarge, 413),
            (ApiError::Store(StoreError::Unavailable("x".into())), 503),
            (ApiError::Store(StoreError::Internal("x".into())), 500),
        ];
        for (error, status) in cases {
            let what = format!("{error:?}");
            let resp = error.into_response();
            assert_eq!(resp.status().as_u16(), status, "{what}");
            assert_eq!(header(&resp, CONTENT_TYPE), Some("application/json"));
            assert!(!body(&resp)["detail"].is_null(), "{what}");
        }
    }

    #[test]
    fn a_store_failure_tells_nothing_of_its_cause() {
        for error in [
            StoreError::Unavailable("secret cause".into()),
            StoreError::Internal("secret cause".into()),
        ] {
            let resp = ApiError::Store(error).into_response();
            assert!(!body(&resp).to_string().contains("secret"));
        }
    }

    #[test]
    fn failures_carry_the_headers_their_status_calls_for() {
        let resp = ApiError::MethodNotAllowed.into_response();
        assert_eq!(header(&resp, ALLOW), Some("PATCH"));
        let resp = ApiError::PreconditionFailed { current_version: 7 }.into_response();
        assert_eq!(header(&resp, ETAG), Some("\"7\""));
        let resp = ApiError::Store(StoreError::Unavailable("x".into())).into_response();
        assert_eq!(header(&resp, RETRY_AFTER), Some("1"));
        let resp = ApiError::InvalidApiKey.into_response();
        assert_eq!(header(&resp, ETAG), None);
    }

    #[test]
    fn validation_errors_keep_fastapis_shape() {
        let error = ValidationError::new(
            vec![Loc::Name("body"), Loc::Index(3)],
            "json_invalid",
            "bad",
        );
        let resp = ApiError::Validation(vec![error]).into_response();
        assert_eq!(
            body(&resp),
            json!({"detail": [{"loc": ["body", 3], "msg": "bad", "type": "json_invalid"}]})
        );
        let resp = ApiError::IdempotencyKeyReused.into_response();
        assert_eq!(
            body(&resp)["detail"][0]["loc"],
            json!(["header", "idempotency-key"])
        );
    }

    #[test]
    fn an_update_answers_the_log_with_its_defaults_and_etag() {
        let stored = |replayed| Updated {
            log: StoredLog {
                log: Log {
                    output: Some("o".into()),
                    ..Log::default()
                },
                organization_id: Some("acme".into()),
                version: 12,
                request: None,
                expires_at: None,
            },
            replayed,
        };
        let resp = updated(stored(false));
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, ETAG), Some("\"12\""));
        assert_eq!(
            header(&resp, HeaderName::from_static(IDEMPOTENT_REPLAYED)),
            None
        );
        let log = body(&resp);
        assert_eq!(log["output"], "o");
        assert_eq!(log["save"], true);
        assert_eq!(log["inputs"], json!({}));
        assert!(log.get("organization_id").is_none());
        let resp = updated(stored(true));
        assert_eq!(
            header(&resp, HeaderName::from_static(IDEMPOTENT_REPLAYED)),
            Some("true")
        );
    }
}
