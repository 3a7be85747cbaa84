//! Reading a `PATCH /logs` request: the query parameter, the body, `If-Match` and
//! `Idempotency-Key`, validated the way FastAPI would, with every problem of a request reported
//! at once.

use lambda_http::http::header::IF_MATCH;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::error::{ApiError, Loc, ValidationError};
use crate::idempotency::{RequestToken, MAX_KEY_CHARS};
use crate::model::{reference_id_problem, Change, LogUpdate, Precondition};
use crate::store::UpdateCommand;

/// A request body larger than this is refused with 413 before anything else: no log can hold it
/// (DynamoDB items stop at 400 KB).
pub const MAX_BODY_BYTES: usize = 400 * 1024;
/// DynamoDB numbers stop at 9.99…e125 and cannot be smaller than 1e-130 except 0.
const MAX_DURATION: f64 = 1e125;
const MIN_POSITIVE_DURATION: f64 = 1e-130;
/// A condition can compare the version with at most 100 values (DynamoDB's `IN` limit).
pub const MAX_IF_MATCH_VERSIONS: usize = 100;

/// Everything of a request that is not authentication, validated.
pub fn parse(req: &Request) -> Result<UpdateCommand, ApiError> {
    let mut errors = Vec::new();
    let reference_id = reference_id(req).map_err(|e| errors.push(e)).ok();
    let update = parse_body(req.body().as_ref())
        .map_err(|e| errors.extend(e))
        .ok();
    let precondition = if_match(req).map_err(|e| errors.push(e)).ok();
    let key = idempotency_key(req).map_err(|e| errors.push(e)).ok();
    let (Some(reference_id), Some(update), Some(precondition), Some(key)) =
        (reference_id, update, precondition, key)
    else {
        return Err(ApiError::Validation(errors));
    };
    let token = match key {
        Some(key) => RequestToken::for_key(key, &update),
        None => RequestToken::random(&update)?,
    };
    Ok(UpdateCommand {
        reference_id,
        update,
        precondition,
        token,
    })
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
    if let Some((kind, msg)) = reference_id_problem(value) {
        return Err(ValidationError::new(loc(), kind, msg));
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

/// `If-Match` as RFC 9110 defines it: `*`, or a list of entity tags (several header lines form
/// one list). Only a strong tag spelled as this API spells its ETags (`"<version>"`) can match:
/// weak tags never match under the strong comparison If-Match requires, and a well-formed tag
/// this API never issued simply matches nothing.
fn if_match(req: &Request) -> Result<Precondition, ValidationError> {
    let lines: Vec<&[u8]> = req
        .headers()
        .get_all(IF_MATCH)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if lines.is_empty() {
        return Ok(Precondition::None);
    }
    let invalid = |msg: &str| {
        ValidationError::new(
            vec![Loc::Name("header"), Loc::Name("if-match")],
            "value_error",
            format!("Value error, {msg}"),
        )
    };
    if let [line] = lines.as_slice() {
        if line.trim_ascii() == b"*" {
            return Ok(Precondition::Exists);
        }
    }
    let mut versions = Vec::new();
    for line in lines {
        let tags = entity_tags(line).ok_or_else(|| {
            invalid("If-Match must be \"*\" or a comma-separated list of entity tags (\"…\")")
        })?;
        for (weak, opaque) in tags {
            let version = std::str::from_utf8(opaque)
                .ok()
                .and_then(|s| s.parse::<u64>().ok().filter(|v| v.to_string() == s));
            if let (false, Some(version)) = (weak, version) {
                if !versions.contains(&version) {
                    versions.push(version);
                }
            }
        }
    }
    if versions.len() > MAX_IF_MATCH_VERSIONS {
        return Err(invalid(&format!(
            "If-Match may name at most {MAX_IF_MATCH_VERSIONS} versions"
        )));
    }
    Ok(Precondition::OneOf(versions))
}

/// The entity tags of one `If-Match` line as (weak, opaque-tag content), or `None` if it is not
/// an RFC 9110 list of them (`#entity-tag`, empty elements allowed).
fn entity_tags(line: &[u8]) -> Option<Vec<(bool, &[u8])>> {
    let mut tags = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_ascii_start();
        // Empty list elements (`a, , b`) are allowed and ignored.
        while let Some(after) = rest.strip_prefix(b",") {
            rest = after.trim_ascii_start();
        }
        if rest.is_empty() {
            return Some(tags);
        }
        let (weak, quoted) = match rest.strip_prefix(b"W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let body = quoted.strip_prefix(b"\"")?;
        let end = body.iter().position(|&b| b == b'"')?;
        // etagc = %x21 / %x23-7E / obs-text
        if !body[..end]
            .iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        tags.push((weak, &body[..end]));
        rest = body[end + 1..].trim_ascii_start();
        match rest.first() {
            None | Some(b',') => {}
            Some(_) => return None,
        }
    }
}

/// `Idempotency-Key`: 1 to 255 printable ASCII characters, the same in every line it is sent in.
fn idempotency_key(req: &Request) -> Result<Option<&str>, ValidationError> {
    let invalid = |msg: &str| {
        ValidationError::new(
            vec![Loc::Name("header"), Loc::Name("idempotency-key")],
            "value_error",
            format!("Value error, {msg}"),
        )
    };
    let mut keys = req.headers().get_all("idempotency-key").iter();
    let Some(first) = keys.next() else {
        return Ok(None);
    };
    if keys.any(|other| other != first) {
        return Err(invalid("Idempotency-Key must be given once"));
    }
    // Not visible ASCII (`to_str` fails): refused like any other bad key.
    let key = first.to_str().unwrap_or_default().trim();
    if key.is_empty()
        || key.len() > MAX_KEY_CHARS
        || !key.bytes().all(|b| (b' '..=b'~').contains(&b))
    {
        return Err(invalid(&format!(
            "Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters"
        )));
    }
    Ok(Some(key))
}
