//! `update-log-by-ref`: the Humanloop v4 "Update Log By Reference" endpoint on DynamoDB.

pub mod auth;
pub mod config;
pub mod dynamodb_errors;
pub mod edge;
pub mod error;
pub mod idempotency;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod store;

#[cfg(test)]
mod layers;
