//! DynamoDB's error codes, sorted by what they mean to a caller: throttled, or briefly unavailable.
//! Read by the store (503 or 500) and by the metrics (`DynamoDbThrottled`).

/// Error codes DynamoDB uses for "throttled".
pub const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Other error codes DynamoDB uses for "try again later".
pub const TRANSIENT_CODES: [&str; 3] = [
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
];
