use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{service_fn, Error};
use update_log_by_ref::config::{dynamodb_config, Tables};
use update_log_by_ref::edge::event::{serve, RawEvent};
use update_log_by_ref::edge::App;
use update_log_by_ref::logging;
use update_log_by_ref::metrics::{DynamoDbMetrics, Metrics};
use update_log_by_ref::store::Store;

// One invocation at a time per instance: a single-threaded runtime does the work with less CPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let metrics = Metrics::install()?;
    // The interceptor feeds the DynamoDbLatency and DynamoDbThrottled metrics.
    let config = dynamodb_config().await.interceptor(DynamoDbMetrics).build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let app = App::new(Store::new(client, Tables::from_env()));
    app.store.warm_up().await;
    // The event arrives as raw JSON, so that no event can fail before the edge reads it
    // (src/edge/event.rs); `lambda_http::run` would convert it first.
    lambda_runtime::run(service_fn(|event: LambdaEvent<RawEvent>| {
        serve(&app, &metrics, event)
    }))
    .await
}
