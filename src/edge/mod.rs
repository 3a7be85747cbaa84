//! The HTTP edge: route, authenticate, validate, update, respond.

pub mod event;
pub mod request;
pub mod response;

use std::convert::Infallible;

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::auth::Authenticator;
use crate::error::{ApiError, StoreError};
use crate::store::Store;

/// What a warm instance keeps between invocations: the store (one SDK client) and the key cache.
pub struct App {
    pub store: Store,
    pub auth: Authenticator,
}

impl App {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            auth: Authenticator::default(),
        }
    }

    /// Answers one request. Every outcome, including DynamoDB failures, is a response: an `Err`
    /// would reach the client as an opaque 502 from API Gateway.
    pub async fn handle(&self, req: Request) -> Result<Response<Body>, Infallible> {
        Ok(answer(self.update(&req).await))
    }

    async fn update(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        if !is_logs_path(req.raw_http_path()) {
            return Err(ApiError::RouteNotFound);
        }
        if req.method() != Method::PATCH {
            return Err(ApiError::MethodNotAllowed);
        }
        if req.body().len() > request::MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let caller = self
            .auth
            .authenticate(&self.store, &presented_keys(req))
            .await?;
        let command = request::parse(req)?;
        let updated = self
            .store
            .update_log(&caller.organization_id, &command)
            .await?;
        Ok(response::updated(updated))
    }
}

/// The response to an outcome, logged: successes are the bulk and need no line each (X-Ray and
/// API Gateway see them); every refusal gets one, so a client's mistakes can be traced.
fn answer(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    let resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            log_failure(&err);
            err.into_response()
        }
    };
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        tracing::debug!(status, "request handled");
    } else {
        tracing::info!(status, "request refused");
    }
    resp
}

/// Every `X-API-KEY` value of a request (header names are case-insensitive).
pub fn presented_keys(req: &Request) -> Vec<&[u8]> {
    req.headers()
        .get_all("x-api-key")
        .iter()
        .map(|v| v.as_bytes())
        .collect()
}

/// Any path whose last segment is `logs`: `/logs`, `/v4/logs`, a stage (`/Prod/logs`) or
/// `cargo lambda watch`'s `/lambda-url/<name>/logs`. The API in front decides what reaches us.
fn is_logs_path(path: &str) -> bool {
    path.trim_end_matches('/').rsplit('/').next() == Some("logs")
}

/// One line per failure that is ours, with what went wrong but never a key, hash or payload.
fn log_failure(err: &ApiError) {
    match err {
        ApiError::Store(StoreError::Unavailable(cause)) => {
            tracing::warn!(cause = %cause, "DynamoDB unavailable, answered 503")
        }
        ApiError::Store(StoreError::Internal(cause)) => {
            tracing::error!(cause = %cause, "DynamoDB failure, answered 500")
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;

    use super::*;

    #[test]
    fn any_path_ending_in_logs_is_the_logs_path() {
        for path in [
            "/logs",
            "/logs/",
            "/v4/logs",
            "/Prod/logs",
            "/lambda-url/f/logs",
            "logs",
        ] {
            assert!(is_logs_path(path), "{path}");
        }
        for path in ["/", "", "/log", "/logs/x", "/v4/logsx", "/xlogs"] {
            assert!(!is_logs_path(path), "{path}");
        }
    }

    #[test]
    fn every_api_key_line_is_presented_whatever_the_case_of_its_name() {
        let req = lambda_http::http::Request::builder()
            .header("X-API-KEY", "a")
            .header("x-api-key", "b")
            .header("X-Api-Key", "a")
            .header("api-key", "c")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(presented_keys(&req), [b"a", b"b", b"a"]);
    }
}
