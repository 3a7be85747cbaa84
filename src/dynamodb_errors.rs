//! DynamoDB's error codes, sorted by what they mean to a caller: throttled, or briefly unavailable.
//! Read by the store (503 or 500) and by the metrics (`DynamoDbThrottled`).

/// Error codes DynamoDB uses for "throttled".
pub const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Other error codes DynamoDB uses for "try again later". A replicated write conflict (a global
/// table in multi-Region strong consistency, another Region writing the same item) rejects the
/// write, which a retry can then make.
pub const TRANSIENT_CODES: [&str; 4] = [
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
];
