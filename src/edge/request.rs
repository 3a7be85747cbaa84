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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use lambda_http::http::header::HeaderName;
    use lambda_http::Body;
    use proptest::prelude::*;

    use super::*;

    /// A request with these `reference_id` values, header lines and body.
    fn request(references: &[&str], headers: &[(&str, &[u8])], body: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder();
        for (name, value) in headers {
            builder = builder.header(HeaderName::from_bytes(name.as_bytes()).unwrap(), *value);
        }
        let query: HashMap<String, Vec<String>> = if references.is_empty() {
            HashMap::new()
        } else {
            let values = references.iter().map(|r| (*r).to_owned()).collect();
            HashMap::from([("reference_id".to_owned(), values)])
        };
        builder
            .body(Body::from(body))
            .unwrap()
            .with_query_string_parameters(query)
    }

    fn if_match_of(lines: &[&str]) -> Result<Precondition, ValidationError> {
        let headers: Vec<(&str, &[u8])> =
            lines.iter().map(|l| ("if-match", l.as_bytes())).collect();
        if_match(&request(&["r"], &headers, ""))
    }

    fn kinds(errors: &[ValidationError]) -> Vec<&'static str> {
        errors.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn an_empty_or_blank_body_changes_nothing() {
        for body in ["", "  \n\t"] {
            assert_eq!(parse_body(body.as_bytes()).unwrap(), LogUpdate::default());
        }
    }

    #[test]
    fn absent_keeps_null_clears_a_value_sets_and_unknown_fields_are_ignored() {
        let update =
            parse_body(br#"{"output": "o", "error": null, "extra": [1], "duration": 2}"#).unwrap();
        assert_eq!(
            update,
            LogUpdate {
                output: Change::Set("o".into()),
                error: Change::Clear,
                duration: Change::Set(2.0),
            }
        );
        assert_eq!(
            parse_body(br#"{"duration": -0.0}"#).unwrap().duration,
            Change::Set(0.0)
        );
        assert!(matches!(
            parse_body(br#"{"duration": -0.0}"#).unwrap().duration,
            Change::Set(d) if d.is_sign_positive()
        ));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = parse_body(br#"{"output": 1, "error": true, "duration": "1"}"#).unwrap_err();
        assert_eq!(kinds(&errors), ["string_type", "string_type", "float_type"]);
        assert_eq!(errors[2].loc, [Loc::Name("body"), Loc::Name("duration")]);
    }

    #[test]
    fn durations_keep_to_what_dynamodb_can_store() {
        for (duration, kind) in [
            ("-1", Some("greater_than_equal")),
            ("1e126", Some("less_than_equal")),
            ("1e-131", Some("value_error")),
            ("0", None),
            ("1e-130", None),
            ("1e125", None),
            ("12.5", None),
        ] {
            let body = format!(r#"{{"duration": {duration}}}"#);
            let result = parse_body(body.as_bytes());
            assert_eq!(
                result.err().map(|e| kinds(&e)),
                kind.map(|k| vec![k]),
                "{duration}"
            );
        }
        assert!(duration(Value::from(f64::INFINITY)).is_err());
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_refused_with_where() {
        let errors = parse_body(b"[1]").unwrap_err();
        assert_eq!(kinds(&errors), ["model_attributes_type"]);
        let errors = parse_body(b"{\"output\": \"x\",\n \"error\" 1}").unwrap_err();
        assert_eq!(kinds(&errors), ["json_invalid"]);
        // Line 2, column 10 (the `1`): after the 16 bytes of line 1 and its newline.
        assert_eq!(errors[0].loc, [Loc::Name("body"), Loc::Index(25)]);
        // A truncated body fails at its end.
        let errors = parse_body(b"{\"output\": ").unwrap_err();
        assert_eq!(errors[0].loc, [Loc::Name("body"), Loc::Index(11)]);
    }

    #[test]
    fn if_match_reads_star_lists_and_several_lines() {
        assert_eq!(if_match_of(&[]).unwrap(), Precondition::None);
        assert_eq!(if_match_of(&[" * "]).unwrap(), Precondition::Exists);
        assert_eq!(
            if_match_of(&[r#""3", W/"4" ,, "5""#, r#""3", "x", "07""#]).unwrap(),
            Precondition::OneOf(vec![3, 5])
        );
        // Tags this API never issued match nothing; an empty list is a list.
        assert_eq!(
            if_match_of(&[r#"W/"1", "abc", "-1""#]).unwrap(),
            Precondition::OneOf(vec![])
        );
        assert_eq!(if_match_of(&[" , "]).unwrap(), Precondition::OneOf(vec![]));
    }

    #[test]
    fn if_match_refuses_what_is_not_a_list_of_entity_tags() {
        for lines in [
            &["3"][..],
            &[r#""3" "4""#],
            &[r#""3"#],
            &["*, \"3\""],
            &["*", "*"],
            &["\"a b\""],
            &["w/\"3\""],
        ] {
            let err = if_match_of(lines).unwrap_err();
            assert_eq!(
                err.loc,
                [Loc::Name("header"), Loc::Name("if-match")],
                "{lines:?}"
            );
        }
        let many: Vec<String> = (0..=MAX_IF_MATCH_VERSIONS as u64)
            .map(|v| format!("\"{v}\""))
            .collect();
        assert!(if_match_of(&[&many.join(",")]).is_err());
        assert!(if_match_of(&[&many[1..].join(",")]).is_ok());
    }

    #[test]
    fn idempotency_keys_are_one_printable_ascii_value() {
        let key_of = |lines: &[&[u8]]| {
            let headers: Vec<(&str, &[u8])> =
                lines.iter().map(|l| ("idempotency-key", *l)).collect();
            idempotency_key(&request(&["r"], &headers, "")).map(|k| k.map(str::to_owned))
        };
        assert_eq!(key_of(&[]).unwrap(), None);
        assert_eq!(key_of(&[b" k-1 "]).unwrap().as_deref(), Some("k-1"));
        assert_eq!(key_of(&[b"k", b"k"]).unwrap().as_deref(), Some("k"));
        let longest = "k".repeat(MAX_KEY_CHARS);
        assert!(key_of(&[longest.as_bytes()]).is_ok());
        let too_long = "k".repeat(MAX_KEY_CHARS + 1);
        for bad in [
            &[&b"k"[..], b"l"][..],
            &[b""],
            &[b"   "],
            &[too_long.as_bytes()],
            &[b"caf\xc3\xa9"],
        ] {
            assert!(key_of(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_reference_id_is_required_once_and_must_keep_the_rules() {
        let reference = |values: &[&str]| reference_id(&request(values, &[], ""));
        assert_eq!(reference(&["a#b"]).unwrap(), "a#b");
        assert_eq!(reference(&[]).unwrap_err().kind, "missing");
        assert_eq!(reference(&["a", "b"]).unwrap_err().kind, "value_error");
        assert_eq!(reference(&[""]).unwrap_err().kind, "string_too_short");
        assert_eq!(reference(&["a\u{1}"]).unwrap_err().kind, "value_error");
    }

    #[test]
    fn a_request_gets_every_problem_reported_at_once_or_its_command() {
        let bad = request(
            &[],
            &[("if-match", b"nope"), ("idempotency-key", b"")],
            r#"{"output": 1}"#,
        );
        let Err(ApiError::Validation(errors)) = parse(&bad) else {
            panic!("a validation error");
        };
        let locs: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(
            locs,
            [
                Loc::Name("reference_id"),
                Loc::Name("output"),
                Loc::Name("if-match"),
                Loc::Name("idempotency-key")
            ]
        );
        let good = request(
            &["r-1"],
            &[("if-match", b"\"2\""), ("idempotency-key", b"k")],
            r#"{"output": "o"}"#,
        );
        let command = parse(&good).unwrap();
        assert_eq!(command.reference_id, "r-1");
        assert_eq!(command.precondition, Precondition::OneOf(vec![2]));
        assert_eq!(command.token, RequestToken::for_key("k", &command.update));
    }

    proptest! {
        /// No body, however broken, panics; whatever parses is an object's fields.
        #[test]
        fn any_body_parses_or_is_refused(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Err(errors) = parse_body(&body) {
                prop_assert!(!errors.is_empty());
                for error in errors {
                    if let Some(Loc::Index(at)) = error.loc.get(1) {
                        prop_assert!(*at <= body.len());
                    }
                }
            }
        }

        /// Any JSON string is a valid output, and reads back as itself.
        #[test]
        fn any_string_output_is_set_as_it_is(output in ".*") {
            let body = serde_json::json!({ "output": output }).to_string();
            prop_assert_eq!(parse_body(body.as_bytes()).unwrap().output, Change::Set(output));
        }

        /// A list of this API's ETags, however spaced and split over lines, names its versions.
        #[test]
        fn etag_lists_name_their_versions(
            versions in proptest::collection::vec(0u64..1_000_000, 1..20),
            split in 0usize..20,
            spaces in "[ \t]{0,2}",
        ) {
            let tags: Vec<String> = versions.iter().map(|v| format!("{spaces}\"{v}\"{spaces}")).collect();
            let split = split.min(tags.len());
            let (first, second) = tags.split_at(split);
            let lines: Vec<String> = [first.join(","), second.join(",")]
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect();
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let mut expected = Vec::new();
            for v in versions {
                if !expected.contains(&v) {
                    expected.push(v);
                }
            }
            prop_assert_eq!(if_match_of(&lines).unwrap(), Precondition::OneOf(expected));
        }

        /// No `If-Match` line, however broken, panics.
        #[test]
        fn any_if_match_line_parses_or_is_refused(line in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = entity_tags(&line);
        }
    }
}
