//! Reading an invocation's event. The function takes the event as raw JSON, so that nothing about
//! it can fail before this module has looked at it, and reads it once into `lambda_http`'s
//! request types. Before `lambda_http` turns it into an `http::Request`, every part it would
//! build the URI from is made safe: its conversion panics on a URI it cannot build, and the
//! release build aborts on a panic. Every event then gets a deliberate answer: a request is
//! served, an HTTP request that cannot be represented is a 400 in its source's response shape,
//! anything else is refused with an error naming what arrived (docs/reliability.md).

use std::convert::Infallible;

use base64::Engine;
use lambda_http::aws_lambda_events::alb::AlbTargetGroupRequest;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::header::HOST;
use lambda_http::http::{HeaderMap, HeaderName};
use lambda_http::lambda_runtime::{Diagnostic, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Request, RequestExt, Service};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::response::Finished;
use super::{answer, App};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// An invocation's payload, as the Runtime API delivered it.
pub type RawEvent = Box<RawValue>;

/// The `error_type` of the error an event the function does not serve is refused with.
pub const UNSERVED: &str = "UnsupportedEvent";

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// The longest URI `http` accepts (`u16::MAX - 1` bytes).
const MAX_URI_BYTES: usize = u16::MAX as usize - 1;
/// What a URI holds besides its path and query: `https://`, a host of at most 253 bytes, a port
/// and the `?`.
const AUTHORITY_BYTES: usize = 8 + 253 + 6 + 1;

const BAD_HTTP: &str =
    "Bad request: the method, a header or another part of the request is not valid HTTP.";
const BAD_PATH: &str = "Bad request: the path does not start with '/'.";
const BAD_BASE64: &str = "Bad request: the body is marked base64-encoded but is not valid base64.";
const BAD_QUERY: &str = "Bad request: a query parameter has an empty list of values.";
const TOO_LONG: &str = "Bad request: the path and query are too long.";

/// What arrived, read once.
#[derive(Debug)]
enum Event {
    /// A request from a source the function serves, safe to convert.
    Request(LambdaRequest),
    /// An HTTP request from a source the function serves that cannot be represented: an empty
    /// request of the same source (so that the answer takes its shape), and what is wrong.
    Malformed(LambdaRequest, &'static str),
    /// Anything else, named.
    Unserved(String),
}

/// One invocation: the event read, then answered through `lambda_http`'s conversions (which add
/// the Lambda context and X-Ray trace id, and shape the response for the event's source).
/// Metrics wrap every HTTP answer; an event the function does not serve is an error.
pub async fn serve(
    app: &App,
    metrics: &Metrics,
    event: LambdaEvent<RawEvent>,
) -> Result<impl Serialize, Diagnostic> {
    let LambdaEvent { payload, context } = event;
    let (request, mut refusal) = match Event::read(&payload) {
        Event::Request(request) => (request, None),
        Event::Malformed(empty, problem) => (empty, Some(ApiError::BadRequest(problem))),
        Event::Unserved(what) => {
            return Err(Diagnostic {
                error_type: UNSERVED.into(),
                error_message: format!(
                    "update-log-by-ref serves HTTP requests from API Gateway REST and HTTP APIs, \
                     Lambda function URLs and Application Load Balancers; it received {what}"
                ),
            })
        }
    };
    drop(payload);
    let respond = service_fn(|req: Request| {
        let request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
        let refusal = refusal.take();
        let handled = metrics.invocation(request_id, async move {
            match refusal {
                Some(err) => Ok::<_, Infallible>(answer(Err(err))),
                None => app.handle(req).await,
            }
        });
        async { handled.await.map(Finished) }
    });
    let Ok(response) = Adapter::from(respond)
        .call(LambdaEvent::new(request, context))
        .await;
    Ok(response)
}

impl Event {
    /// Reads the event the way `lambda_http`'s own deserializer does (the same types, in the
    /// same order) but from the text already read, then makes the request safe to convert.
    fn read(raw: &RawValue) -> Self {
        let json = raw.get();
        let mut request = if let Ok(rest) = serde_json::from_str(json) {
            // A WebSocket API's event can read as a REST request: its request context tells.
            if json.contains("\"connectionId\"") {
                if let unserved @ Event::Unserved(_) = classify(json) {
                    return unserved;
                }
            }
            LambdaRequest::ApiGatewayV1(rest)
        } else if let Ok(http) = serde_json::from_str(json) {
            LambdaRequest::ApiGatewayV2(http)
        } else if let Ok(alb) = serde_json::from_str(json) {
            LambdaRequest::Alb(alb)
        } else {
            return classify(json);
        };
        match make_safe(&mut request) {
            Ok(()) => Event::Request(request),
            Err(problem) => Event::Malformed(empty_like(&request), problem),
        }
    }
}

/// Makes every input of `lambda_http`'s URI building safe (its `build_request_uri` and the
/// `expect("failed to build request")` after it), or says why the request cannot be served:
/// - the authority, from `Host` or else the request context's domain name, and the scheme, from
///   `X-Forwarded-Proto`, play no part in serving this endpoint: one `url` might reject is removed;
/// - the path must be absolute (`url` would read anything else as part of the authority);
/// - an HTTP API's raw query is copied into the URI as is: bytes `http` rejects are
///   percent-encoded, which changes none of the parameters read from it;
/// - a REST API's or ALB's query maps must have a value for every parameter (`query_map` panics
///   iterating one without);
/// - the URI must fit `http`'s length limit (`url` percent-encodes a byte into at most three);
/// - a body marked base64-encoded must decode (`aws_lambda_events` expects it to).
fn make_safe(request: &mut LambdaRequest) -> Result<(), &'static str> {
    match request {
        LambdaRequest::ApiGatewayV1(rest) => {
            neutralise_authority(&mut rest.headers, Some(&mut rest.multi_value_headers));
            drop_unless_plain_host(&mut rest.request_context.domain_name);
            let query = uri_query_len(
                &rest.multi_value_query_string_parameters,
                &rest.query_string_parameters,
            )?;
            check_target(
                rest.path.as_deref(),
                rest.request_context.stage.as_deref(),
                query,
            )?;
            check_body(rest.is_base64_encoded, rest.body.as_deref())
        }
        LambdaRequest::ApiGatewayV2(http) => {
            neutralise_authority(&mut http.headers, None);
            drop_unless_plain_host(&mut http.request_context.domain_name);
            if let Some(query) = &mut http.raw_query_string {
                escape_query(query);
            }
            check_target(
                http.raw_path.as_deref(),
                http.request_context.stage.as_deref(),
                http.raw_query_string.as_ref().map_or(0, String::len),
            )?;
            check_body(http.is_base64_encoded, http.body.as_deref())
        }
        LambdaRequest::Alb(alb) => {
            neutralise_authority(&mut alb.headers, Some(&mut alb.multi_value_headers));
            let query = uri_query_len(
                &alb.multi_value_query_string_parameters,
                &alb.query_string_parameters,
            )?;
            check_target(alb.path.as_deref(), None, query)?;
            check_body(alb.is_base64_encoded, alb.body.as_deref())
        }
        // `LambdaRequest` is non-exhaustive; `Event::read` builds no other variant.
        _ => Ok(()),
    }
}

/// Removes `Host` unless it is a plain `host[:port]`, and `X-Forwarded-Proto` unless it is
/// `http` or `https`. `lambda_http` reads both from the single-value headers; REST APIs and ALBs
/// repeat them in the multi-value headers, which become the request's headers.
fn neutralise_authority(headers: &mut HeaderMap, mut multi: Option<&mut HeaderMap>) {
    let host_unsafe = text(headers, &HOST).is_some_and(|h| !is_plain_host(h));
    let scheme_unsafe = text(headers, &X_FORWARDED_PROTO)
        .is_some_and(|s| !s.eq_ignore_ascii_case("https") && !s.eq_ignore_ascii_case("http"));
    for (name, is_unsafe) in [(HOST, host_unsafe), (X_FORWARDED_PROTO, scheme_unsafe)] {
        if is_unsafe {
            headers.remove(&name);
            if let Some(multi) = multi.as_deref_mut() {
                multi.remove(&name);
            }
        }
    }
}

/// A header's first value, if it is visible ASCII (`lambda_http` ignores one that is not).
fn text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn drop_unless_plain_host(domain_name: &mut Option<String>) {
    if domain_name.as_deref().is_some_and(|d| !is_plain_host(d)) {
        *domain_name = None;
    }
}

/// A DNS name (letters, digits and hyphens, no `xn--` label, the last label starting with a
/// letter) with an optional port: what `url` always accepts as an authority. Anything else an
/// endpoint could be reached by (an IP address, an internationalised name) is not needed here.
fn is_plain_host(authority: &str) -> bool {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    };
    let last_starts_with_letter = host
        .rsplit('.')
        .next()
        .and_then(|label| label.bytes().next())
        .is_some_and(|b| b.is_ascii_alphabetic());
    port_ok && host.len() <= 253 && host.split('.').all(label_ok) && last_starts_with_letter
}

/// The URI's query comes from one map: `lambda_http` takes the multi-value map unless it is empty,
/// else the single-value one (the other is only read by lookups, which cannot panic).
fn uri_query_len(multi: &QueryMap, single: &QueryMap) -> Result<usize, &'static str> {
    encoded_len(if multi.is_empty() { single } else { multi })
}

/// An upper bound of a query map's length in the URI (form-encoded, `&` and `=` included), read
/// from its serialization: iterating a map with a multi-value parameter that has no value panics
/// (`query_map` indexes its first value), and `lambda_http` iterates the map to build the URI.
fn encoded_len(query: &QueryMap) -> Result<usize, &'static str> {
    if query.is_empty() {
        return Ok(0);
    }
    let Ok(Value::Object(parameters)) = serde_json::to_value(query) else {
        return Err(BAD_QUERY);
    };
    let mut len = 0;
    for (name, values) in &parameters {
        let values = values
            .as_array()
            .filter(|v| !v.is_empty())
            .ok_or(BAD_QUERY)?;
        for value in values {
            len += 3 * (name.len() + value.as_str().map_or(0, str::len)) + 2;
        }
    }
    Ok(len)
}

fn check_target(path: Option<&str>, stage: Option<&str>, query: usize) -> Result<(), &'static str> {
    let path = path.unwrap_or_default();
    if !(path.is_empty() || path.starts_with('/')) {
        return Err(BAD_PATH);
    }
    let longest = AUTHORITY_BYTES + 3 * (1 + stage.map_or(0, str::len) + path.len()) + query;
    if longest > MAX_URI_BYTES {
        return Err(TOO_LONG);
    }
    Ok(())
}

/// Percent-encodes the bytes `http` refuses in a query: controls, space, `"`, `<`, `>` and DEL.
fn escape_query(query: &mut String) {
    let refused = |b: u8| b <= b' ' || matches!(b, b'"' | b'<' | b'>' | 0x7f);
    if !query.bytes().any(refused) {
        return;
    }
    let mut escaped = String::with_capacity(query.len() + 16);
    for c in query.chars() {
        match u8::try_from(c) {
            Ok(b) if refused(b) => escaped.push_str(&format!("%{b:02X}")),
            _ => escaped.push(c),
        }
    }
    *query = escaped;
}

fn check_body(base64: bool, body: Option<&str>) -> Result<(), &'static str> {
    match body {
        Some(body)
            if base64
                && base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .is_err() =>
        {
            Err(BAD_BASE64)
        }
        _ => Ok(()),
    }
}

/// An empty request of the same source: it converts without fail, and the answer to it has the
/// source's response shape.
fn empty_like(request: &LambdaRequest) -> LambdaRequest {
    match request {
        LambdaRequest::ApiGatewayV2(_) => {
            LambdaRequest::ApiGatewayV2(ApiGatewayV2httpRequest::default())
        }
        LambdaRequest::Alb(_) => LambdaRequest::Alb(AlbTargetGroupRequest::default()),
        _ => LambdaRequest::ApiGatewayV1(ApiGatewayProxyRequest::default()),
    }
}

/// An event none of the served request types could read, by its shape: an HTTP request of a
/// served source whose method or headers cannot be represented (a 400), or something else.
fn classify(json: &str) -> Event {
    let Ok(event) = serde_json::from_str::<Value>(json) else {
        return Event::Unserved("an event that is not JSON".into());
    };
    let context = &event["requestContext"];
    let has = |value: &Value, field| value.get(field).is_some();
    let empty = if has(context, "connectionId") || has(context, "eventType") {
        return Event::Unserved("an API Gateway WebSocket API event".into());
    } else if has(context, "serviceNetworkArn") || has(&event, "raw_path") {
        return Event::Unserved("a VPC Lattice event".into());
    } else if has(context, "elb") {
        LambdaRequest::Alb(AlbTargetGroupRequest::default())
    } else if event["version"] == "2.0" && has(context, "http") {
        LambdaRequest::ApiGatewayV2(ApiGatewayV2httpRequest::default())
    } else if has(&event, "httpMethod") && context.is_object() {
        LambdaRequest::ApiGatewayV1(ApiGatewayProxyRequest::default())
    } else {
        return Event::Unserved(describe(&event));
    };
    Event::Malformed(empty, BAD_HTTP)
}

/// What a non-HTTP event is, without repeating its content: the AWS service that sent it, if it
/// says so in the usual places.
fn describe(event: &Value) -> String {
    let named = |v: &Value| {
        v.as_str()
            .filter(|s| {
                (1..=64).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b))
            })
            .map(str::to_owned)
    };
    let record = &event["Records"][0];
    if let Some(source) = named(&record["eventSource"]).or_else(|| named(&record["EventSource"])) {
        return format!("an event from {source}");
    }
    if event.get("detail-type").is_some() {
        if let Some(source) = named(&event["source"]) {
            return format!("an EventBridge event from {source}");
        }
    }
    match event {
        Value::Object(_) => "a JSON object that is not an HTTP request event".into(),
        Value::Array(_) => "a JSON array".into(),
        Value::String(_) => "a JSON string".into(),
        Value::Number(_) => "a JSON number".into(),
        Value::Bool(_) => "a JSON boolean".into(),
        Value::Null => "null".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(event: Value) -> Event {
        Event::read(&RawValue::from_string(event.to_string()).unwrap())
    }

    fn rest(fields: Value) -> Value {
        let mut event = json!({
            "httpMethod": "PATCH",
            "path": "/logs",
            "headers": {"Host": "api.example.com"},
            "requestContext": {"httpMethod": "PATCH", "stage": "Prod"},
        });
        for (name, value) in fields.as_object().unwrap() {
            event[name] = value.clone();
        }
        event
    }

    #[test]
    fn a_request_keeps_what_it_can_and_names_what_it_cannot() {
        let Event::Request(LambdaRequest::ApiGatewayV1(kept)) = read(rest(json!({}))) else {
            panic!("a plain REST request")
        };
        assert_eq!(kept.headers[HOST], "api.example.com");
        let hostile = rest(json!({"headers": {"Host": "a{b}", "X-Forwarded-Proto": "h s"}}));
        let Event::Request(LambdaRequest::ApiGatewayV1(neutralised)) = read(hostile) else {
            panic!("a REST request with a hostile Host")
        };
        assert!(neutralised.headers.is_empty());
        for (fields, problem) in [
            (json!({"path": "logs"}), BAD_PATH),
            (
                json!({"isBase64Encoded": true, "body": "not base64!"}),
                BAD_BASE64,
            ),
            (
                json!({"multiValueQueryStringParameters": {"a": []}}),
                BAD_QUERY,
            ),
            (
                json!({"path": format!("/{}", "a".repeat(30_000))}),
                TOO_LONG,
            ),
            (json!({"headers": {"a": "b\nc"}}), BAD_HTTP),
            (json!({"headers": {"a b": "c"}}), BAD_HTTP),
            (json!({"httpMethod": "PAT CH"}), BAD_HTTP),
        ] {
            match read(rest(fields.clone())) {
                Event::Malformed(LambdaRequest::ApiGatewayV1(_), said) => {
                    assert_eq!(said, problem, "{fields}")
                }
                other => panic!("{fields}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_malformed_event_is_answered_in_its_sources_shape() {
        let http = json!({
            "version": "2.0",
            "headers": {"a": "\u{0}"},
            "requestContext": {"http": {"method": "GET"}},
        });
        let alb =
            json!({"httpMethod": "G T", "requestContext": {"elb": {"targetGroupArn": "arn"}}});
        assert!(matches!(
            read(http),
            Event::Malformed(LambdaRequest::ApiGatewayV2(_), BAD_HTTP)
        ));
        assert!(matches!(
            read(alb),
            Event::Malformed(LambdaRequest::Alb(_), BAD_HTTP)
        ));
    }

    #[test]
    fn other_events_are_named() {
        let named = |event: Value| match read(event) {
            Event::Unserved(what) => what,
            other => panic!("{other:?}"),
        };
        let websocket = rest(json!({"requestContext": {"httpMethod": "GET", "connectionId": "c"}}));
        assert_eq!(named(websocket), "an API Gateway WebSocket API event");
        assert_eq!(
            named(json!({"raw_path": "/", "method": "GET"})),
            "a VPC Lattice event"
        );
        assert_eq!(
            named(json!({"Records": [{"eventSource": "aws:sqs", "body": "secret"}]})),
            "an event from aws:sqs"
        );
        assert_eq!(
            named(json!({"detail-type": "x", "source": "aws.events"})),
            "an EventBridge event from aws.events"
        );
        assert_eq!(
            named(json!({"Records": [{"eventSource": "secret payload text"}]})),
            "a JSON object that is not an HTTP request event"
        );
        assert_eq!(named(json!(7)), "a JSON number");
    }

    #[test]
    fn plain_hosts_are_kept_and_others_are_not() {
        for host in [
            "example.com",
            "api.example.com:443",
            "1234567890.execute-api.us-east-1.amazonaws.com",
            "localhost:9000",
            "EXAMPLE.com",
        ] {
            assert!(is_plain_host(host), "{host}");
        }
        for host in [
            "",
            "a{b}",
            "1234567890.execute-api.{dns_suffix}",
            "exa mple.com",
            "ex\"ample",
            "%zz",
            "a|b",
            "[::1",
            "x<y>",
            "example.com:",
            "example.com:65536",
            "example.com:+80",
            "127.0.0.1",
            "a.0x1f",
            "xn--zz.com",
            "a..b",
            "example.com.",
            "user@example.com",
            "a:b:c",
        ] {
            assert!(!is_plain_host(host), "{host}");
        }
    }

    #[test]
    fn a_query_keeps_its_parameters_when_escaped() {
        let raw = "reference_id=a b\"<c>&x=%20\u{7f}é";
        let mut escaped = raw.to_owned();
        escape_query(&mut escaped);
        assert_eq!(escaped, "reference_id=a%20b%22%3Cc%3E&x=%20%7Fé");
        assert_eq!(
            raw.parse::<QueryMap>().unwrap(),
            escaped.parse::<QueryMap>().unwrap()
        );
    }
}
