//! A Lambda function that does nothing: it answers every event at once with the same small
//! API Gateway response. `benches/lambda/` runs it under its Runtime API emulator to measure
//! the emulator's own round trip (the floor under every invocation of the real function).
//!
//! Same runtime as the real function (lambda_runtime through lambda_http's re-export, a
//! current-thread tokio), but no tracing subscriber, no SDK and no event parsing beyond
//! skipping over the JSON.

use lambda_http::lambda_runtime::{self, service_fn, Error, LambdaEvent};
use serde::de::IgnoredAny;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fixed {
    status_code: u16,
    headers: Headers,
    body: &'static str,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
struct Headers {
    #[serde(rename = "content-type")]
    content_type: &'static str,
}

const RESPONSE: Fixed = Fixed {
    status_code: 200,
    headers: Headers {
        content_type: "application/json",
    },
    body: "{}",
    is_base64_encoded: false,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<IgnoredAny>| async {
        Ok::<_, Error>(RESPONSE)
    }))
    .await
}
