//! CloudWatch metrics: one Embedded Metric Format (EMF) document per invocation, one JSON line on
//! stdout, which Lambda sends to CloudWatch Logs and CloudWatch turns into metrics. No request
//! content, key, hash or identifier is ever a dimension or a value (docs/operations.md).

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use metrics::{Counter, Histogram, Unit};
use metrics_cloudwatch_embedded::{Builder, Collector};

use crate::dynamodb_errors::THROTTLING_CODES;

pub const DEFAULT_NAMESPACE: &str = "UpdateLogByRef";
/// The one dimension: which deployment (function) emitted the document. Bounded: one value per stack.
pub const DIMENSION: &str = "FunctionName";

pub const UPDATED: &str = "Updated";
pub const CLIENT_ERROR: &str = "ClientError";
pub const SERVER_ERROR: &str = "ServerError";
pub const LATENCY: &str = "Latency";
pub const DYNAMODB_LATENCY: &str = "DynamoDbLatency";
pub const DYNAMODB_THROTTLED: &str = "DynamoDbThrottled";
pub const COLD_START: &str = "ColdStart";

/// Every metric the function emits, with its unit. Counts are counters (emitted every invocation,
/// zeros included); milliseconds are histograms (emitted only when recorded).
pub const METRICS: [(&str, Unit); 7] = [
    (UPDATED, Unit::Count),
    (CLIENT_ERROR, Unit::Count),
    (SERVER_ERROR, Unit::Count),
    (LATENCY, Unit::Milliseconds),
    (DYNAMODB_LATENCY, Unit::Milliseconds),
    (DYNAMODB_THROTTLED, Unit::Count),
    (COLD_START, Unit::Count),
];

/// The instance's metrics: the EMF collector (the `metrics` crate's global recorder) and handles.
pub struct Metrics {
    collector: &'static Collector,
    updated: Counter,
    client_error: Counter,
    server_error: Counter,
    dynamodb_throttled: Counter,
    latency: Histogram,
    dynamodb_latency: Histogram,
}

impl Metrics {
    /// Installs the recorder: namespace `METRICS_NAMESPACE` (default `UpdateLogByRef`), dimension
    /// `FunctionName` from `AWS_LAMBDA_FUNCTION_NAME`. Call once per process, at init: the first
    /// document then carries `ColdStart` 1, every later one 0.
    pub fn install() -> Result<Self, lambda_http::Error> {
        let env = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let collector = Builder::new()
            .cloudwatch_namespace(env("METRICS_NAMESPACE", DEFAULT_NAMESPACE))
            .with_dimension(
                DIMENSION,
                env("AWS_LAMBDA_FUNCTION_NAME", "update-log-by-ref"),
            )
            .emit_zeros(true)
            .init()?;
        for (name, unit) in METRICS {
            if unit == Unit::Count {
                metrics::describe_counter!(name, unit, "");
            } else {
                metrics::describe_histogram!(name, unit, "");
            }
        }
        metrics::counter!(COLD_START).increment(1);
        Ok(Self {
            collector,
            updated: metrics::counter!(UPDATED),
            client_error: metrics::counter!(CLIENT_ERROR),
            server_error: metrics::counter!(SERVER_ERROR),
            dynamodb_throttled: metrics::counter!(DYNAMODB_THROTTLED),
            latency: metrics::histogram!(LATENCY),
            dynamodb_latency: metrics::histogram!(DYNAMODB_LATENCY),
        })
    }

    /// Runs one invocation's handler, then writes its document (tagged with the Lambda request id,
    /// a property: not a dimension).
    pub async fn invocation(
        &self,
        request_id: Option<String>,
        handle: impl Future<Output = Result<Response<Body>, Infallible>>,
    ) -> Result<Response<Body>, Infallible> {
        // Calls made outside an invocation (the warm-up at init) belong to none.
        DYNAMODB.take();
        let started = Instant::now();
        let Ok(resp) = handle.await;
        self.record(resp.status(), started.elapsed(), DYNAMODB.take());
        match request_id {
            Some(id) => self.collector.set_property("RequestId", id),
            None => self.collector.remove_property("RequestId"),
        };
        self.flush();
        Ok(resp)
    }

    fn record(&self, status: StatusCode, latency: Duration, dynamodb: DynamoDbUse) {
        self.updated.increment(u64::from(status == StatusCode::OK));
        self.client_error
            .increment(u64::from(status.is_client_error()));
        self.server_error
            .increment(u64::from(status.is_server_error()));
        self.latency.record(millis(latency));
        if dynamodb.calls > 0 {
            self.dynamodb_latency.record(millis(dynamodb.time));
        }
        self.dynamodb_throttled.increment(dynamodb.throttled);
    }

    /// One `write` of the whole line, so nothing interleaves with it; a failed write costs the
    /// metrics of one invocation, never the answer.
    fn flush(&self) {
        let written = self
            .document()
            .and_then(|line| std::io::stdout().lock().write_all(&line));
        if let Err(err) = written {
            tracing::warn!(cause = %err, "metrics not written");
        }
    }

    /// The document of what was recorded since the last one, as one line.
    fn document(&self) -> std::io::Result<Vec<u8>> {
        let mut line = Vec::with_capacity(768);
        self.collector.flush(&mut line)?;
        Ok(line)
    }
}

/// Milliseconds to the microsecond: finer says nothing and lengthens every line.
fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// DynamoDB use since the last `take`, gathered by [`DynamoDbMetrics`].
struct DynamoDbUse {
    calls: u64,
    time: Duration,
    throttled: u64,
}

struct DynamoDbTally {
    calls: AtomicU64,
    nanos: AtomicU64,
    throttled: AtomicU64,
}

impl DynamoDbTally {
    fn take(&self) -> DynamoDbUse {
        DynamoDbUse {
            calls: self.calls.swap(0, Ordering::Relaxed),
            time: Duration::from_nanos(self.nanos.swap(0, Ordering::Relaxed)),
            throttled: self.throttled.swap(0, Ordering::Relaxed),
        }
    }
}

/// Process-wide, like the recorder: the interceptor lives in the SDK client, the document in main.
static DYNAMODB: DynamoDbTally = DynamoDbTally {
    calls: AtomicU64::new(0),
    nanos: AtomicU64::new(0),
    throttled: AtomicU64::new(0),
};

/// An SDK interceptor on the function's DynamoDB client: times each operation (retries and
/// backoff included) and counts every attempt DynamoDB answered with a throttling error.
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamoDbMetrics;

#[derive(Debug, Clone, Copy)]
struct OperationStart(Instant);

impl Storable for OperationStart {
    type Storer = StoreReplace<Self>;
}

impl Intercept for DynamoDbMetrics {
    fn name(&self) -> &'static str {
        "DynamoDbMetrics"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(OperationStart(Instant::now()));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        // The orchestrator has read the body into memory by now.
        if response.status().is_client_error()
            && response.body().bytes().is_some_and(is_throttling_error)
        {
            DYNAMODB.throttled.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(OperationStart(started)) = cfg.load::<OperationStart>() {
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            DYNAMODB.nanos.fetch_add(nanos, Ordering::Relaxed);
            DYNAMODB.calls.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// A DynamoDB error body (`{"__type": "com.amazonaws.dynamodb.v20120810#<Code>", ...}`) whose code
/// is a throttling one.
fn is_throttling_error(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct ErrorBody<'a> {
        #[serde(rename = "__type", borrow)]
        kind: Option<&'a str>,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|e| e.kind)
        .and_then(|kind| kind.rsplit('#').next())
        .is_some_and(|code| THROTTLING_CODES.contains(&code))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// The one test that installs the process-wide recorder: an outcome's document, twice.
    #[test]
    fn each_outcome_makes_one_document_with_its_counts() {
        let metrics = Metrics::install().expect("the first recorder");
        let document = |metrics: &Metrics| -> Value {
            let line = metrics.document().unwrap();
            assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            serde_json::from_slice(&line).unwrap()
        };
        let dynamodb = DynamoDbUse {
            calls: 2,
            time: Duration::from_micros(3_250),
            throttled: 1,
        };
        metrics.record(StatusCode::OK, Duration::from_micros(4_500), dynamodb);
        metrics.collector.set_property("RequestId", "req-1");
        let doc = document(&metrics);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([[DIMENSION]]));
        let declared: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(declared.len(), METRICS.len(), "{doc}");
        assert_eq!(doc["RequestId"], "req-1");
        for (name, value) in [
            (UPDATED, json!(1)),
            (CLIENT_ERROR, json!(0)),
            (SERVER_ERROR, json!(0)),
            (COLD_START, json!(1)),
            (DYNAMODB_THROTTLED, json!(1)),
            (LATENCY, json!([4.5])),
            (DYNAMODB_LATENCY, json!([3.25])),
        ] {
            assert_eq!(doc[name], value, "{name} in {doc}");
        }
        // A refusal that made no DynamoDB call, on a warm instance.
        let none = DynamoDbUse {
            calls: 0,
            time: Duration::ZERO,
            throttled: 0,
        };
        metrics.record(StatusCode::NOT_FOUND, Duration::from_micros(700), none);
        let doc = document(&metrics);
        for (name, value) in [
            (UPDATED, json!(0)),
            (CLIENT_ERROR, json!(1)),
            (SERVER_ERROR, json!(0)),
            (COLD_START, json!(0)),
            (DYNAMODB_THROTTLED, json!(0)),
            (LATENCY, json!([0.7])),
        ] {
            assert_eq!(doc[name], value, "{name} in {doc}");
        }
        assert!(doc.get(DYNAMODB_LATENCY).is_none(), "{doc}");
        let failed = DynamoDbUse {
            calls: 1,
            time: Duration::from_millis(2500),
            throttled: 0,
        };
        metrics.record(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(2501),
            failed,
        );
        let doc = document(&metrics);
        assert_eq!(
            (&doc[SERVER_ERROR], &doc[CLIENT_ERROR]),
            (&json!(1), &json!(0))
        );
    }

    #[test]
    fn milliseconds_keep_microseconds() {
        assert_eq!(millis(Duration::from_nanos(1_234_567)), 1.234);
    }

    #[test]
    fn throttling_codes_are_recognised_and_others_are_not() {
        for (body, throttled) in [
            (
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"x"}"#,
                true,
            ),
            (
                r#"{"__type":"com.amazon.coral.availability#ThrottlingException"}"#,
                true,
            ),
            (
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#RequestLimitExceeded"}"#,
                true,
            ),
            (
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}"#,
                false,
            ),
            (
                r#"{"__type":"com.amazon.coral.service#AccessDeniedException"}"#,
                false,
            ),
            (r#"{"message":"ThrottlingException"}"#, false),
            ("not json ThrottlingException", false),
        ] {
            assert_eq!(is_throttling_error(body.as_bytes()), throttled, "{body}");
        }
    }
}
