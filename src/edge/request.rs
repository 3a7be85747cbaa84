//! Reading a `PATCH /logs` request: the query parameter, the body and `If-Match`, validated the
//! way FastAPI would, with every problem of a request reported at once.

use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::error::{ApiError, Loc, ValidationError};
use crate::model::{Change, LogUpdate};

/// A request body larger than this is refused with 413 before anything else: no log can hold it
/// (DynamoDB items stop at 400 KB).
pub const MAX_BODY_BYTES: usize = 400 * 1024;
/// DynamoDB's limit for a partition key value, in UTF-8 bytes.
pub const MAX_REFERENCE_ID_BYTES: usize = 2048;
/// DynamoDB numbers stop at 9.99…e125 and cannot be smaller than 1e-130 except 0.
const MAX_DURATION: f64 = 1e125;
const MIN_POSITIVE_DURATION: f64 = 1e-130;

/// What a valid request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateCommand {
    pub reference_id: String,
    pub update: LogUpdate,
    pub expected_version: Option<u64>,
}

/// Everything of a request that is not authentication, validated.
pub fn parse(req: &Request) -> Result<UpdateCommand, ApiError> {
    let mut errors = Vec::new();
    let reference_id = reference_id(req).map_err(|e| errors.push(e)).ok();
    let update = parse_body(req.body().as_ref())
        .map_err(|e| errors.extend(e))
        .ok();
    let expected_version = if_match(req).map_err(|e| errors.push(e)).ok();
    match (reference_id, update, expected_version) {
        (Some(reference_id), Some(update), Some(expected_version)) => Ok(UpdateCommand {
            reference_id,
            update,
            expected_version,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn reference_id(req: &Request) -> Result<String, ValidationError> {
    let loc = || vec![Loc::Name("query"), Loc::Name("reference_id")];
    let values = req
        .query_string_parameters_ref()
        .and_then(|q| q.all("reference_id"))
        .unwrap_or_default();
    let value = match values.as_slice() {
        [] => return Err(ValidationError::new(loc(), "missing", "Field required")),
        [one] => *one,
        _ => {
            return Err(ValidationError::new(
                loc(),
                "value_error",
                "Value error, reference_id must be given once",
            ))
        }
    };
    if value.is_empty() {
        return Err(ValidationError::new(
            loc(),
            "string_too_short",
            "String should have at least 1 character",
        ));
    }
    if value.len() > MAX_REFERENCE_ID_BYTES {
        return Err(ValidationError::new(
            loc(),
            "string_too_long",
            format!("String should have at most {MAX_REFERENCE_ID_BYTES} bytes (UTF-8)"),
        ));
    }
    // U+FFFD is what undecodable percent-escapes turn into: the caller meant some other id.
    if value
        .chars()
        .any(|c| c.is_control() || c == char::REPLACEMENT_CHARACTER)
    {
        return Err(ValidationError::new(
            loc(),
            "value_error",
            "Value error, reference_id must be valid UTF-8 without control characters",
        ));
    }
    Ok(value.to_owned())
}

/// The body as a `LogUpdate`. An empty body is an update that changes nothing.
pub fn parse_body(body: &[u8]) -> Result<LogUpdate, Vec<ValidationError>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(LogUpdate::default());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        vec![ValidationError::new(
            vec![Loc::Name("body"), Loc::Index(byte_offset(body, &e))],
            "json_invalid",
            format!("JSON decode error: {e}"),
        )]
    })?;
    let Value::Object(mut fields) = value else {
        return Err(vec![ValidationError::new(
            vec![Loc::Name("body")],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        )]);
    };
    let mut errors = Vec::new();
    let update = LogUpdate {
        output: field(&mut fields, &mut errors, "output", string),
        error: field(&mut fields, &mut errors, "error", string),
        duration: field(&mut fields, &mut errors, "duration", duration),
    };
    if errors.is_empty() {
        Ok(update)
    } else {
        Err(errors)
    }
}

/// A field's change: absent keeps it, `null` clears it, a valid value sets it. Fields the
/// request model does not know are ignored, as FastAPI does.
fn field<T>(
    fields: &mut serde_json::Map<String, Value>,
    errors: &mut Vec<ValidationError>,
    name: &'static str,
    check: fn(Value) -> Result<T, FieldError>,
) -> Change<T> {
    match fields.remove(name) {
        None => Change::Keep,
        Some(Value::Null) => Change::Clear,
        Some(value) => check(value).map(Change::Set).unwrap_or_else(|(kind, msg)| {
            errors.push(ValidationError::new(
                vec![Loc::Name("body"), Loc::Name(name)],
                kind,
                msg,
            ));
            Change::Keep
        }),
    }
}

/// A field's error: FastAPI's `type` and `msg`.
type FieldError = (&'static str, String);

fn string(value: Value) -> Result<String, FieldError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(("string_type", "Input should be a valid string".into())),
    }
}

fn duration(value: Value) -> Result<f64, FieldError> {
    let d = value
        .as_f64()
        .ok_or(("float_type", "Input should be a valid number".to_owned()))?;
    if !d.is_finite() {
        return Err(("finite_number", "Input should be a finite number".into()));
    }
    if d < 0.0 {
        return Err((
            "greater_than_equal",
            "Input should be greater than or equal to 0".into(),
        ));
    }
    if d > MAX_DURATION {
        return Err((
            "less_than_equal",
            format!("Input should be less than or equal to {MAX_DURATION:e}"),
        ));
    }
    if d > 0.0 && d < MIN_POSITIVE_DURATION {
        return Err((
            "value_error",
            format!("Value error, duration must be 0 or at least {MIN_POSITIVE_DURATION:e}"),
        ));
    }
    // -0 is a valid 0; store it as 0 so that no client reads back a negative-looking duration.
    Ok(if d == 0.0 { 0.0 } else { d })
}

/// Where the JSON went wrong, as FastAPI reports it: an offset, the body's end for a truncated
/// body. serde_json gives a 1-based line and column.
fn byte_offset(body: &[u8], error: &serde_json::Error) -> usize {
    if error.is_eof() {
        return body.len();
    }
    let line_start: usize = body
        .split(|b| *b == b'\n')
        .take(error.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + error.column().saturating_sub(1)).min(body.len())
}

/// `If-Match: "N"` (an ETag this API gave) asks for version N; `*` or no header asks for none.
fn if_match(req: &Request) -> Result<Option<u64>, ValidationError> {
    let Some(header) = req.headers().get(lambda_http::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let value = header.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(None);
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ValidationError::new(
                vec![Loc::Name("header"), Loc::Name("if-match")],
                "value_error",
                "Value error, If-Match must be \"*\" or an ETag returned by this API",
            )
        })
}
