use lambda_http::{service_fn, Error, Request, RequestExt};
use update_log_by_ref::config::{dynamodb_config, Tables};
use update_log_by_ref::edge::App;
use update_log_by_ref::metrics::{DynamoDbMetrics, Metrics};
use update_log_by_ref::store::Store;

// One invocation at a time per instance: a single-threaded runtime does the work with less CPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let metrics = Metrics::install()?;
    // The interceptor feeds the DynamoDbLatency and DynamoDbThrottled metrics.
    let config = dynamodb_config().await.interceptor(DynamoDbMetrics).build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let app = App::new(Store::new(client, Tables::from_env()));
    app.store.warm_up().await;
    lambda_http::run(service_fn(|req: Request| {
        let request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
        metrics.invocation(request_id, app.handle(req))
    }))
    .await
}
