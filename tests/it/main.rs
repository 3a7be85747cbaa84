//! Behaviour tests, all through the real handler against DynamoDB Local.

// The full-Log fixture is one large json! literal.
#![recursion_limit = "256"]

pub mod admin_cli;
mod auth;
mod contract;
mod events;
mod exactly_once;
mod expiry;
mod faults;
mod fixtures;
mod function;
mod hostile;
mod if_match;
mod isolation;
mod limits;
mod logging;
mod metrics;
mod migrate;
mod proxy;
mod race;
mod replace;
mod roundtrip;
mod runtime_api;
mod support;
mod validation;
