//! Behaviour tests, all through the real handler against DynamoDB Local.

// The full-Log fixture is one large json! literal.
#![recursion_limit = "256"]

mod admin_cli;
mod auth;
mod contract;
mod roundtrip;
mod support;
mod validation;
