//! Kong's error responses, shared by plugin exits and the proxy's own errors: the body template is chosen
//! from the request's `Accept` header (`kong/tools/http.lua` `get_response_type`), and gRPC requests get
//! `grpc-status`/`grpc-message` headers on an empty body instead (`kong/pdk/response.lua`). Nothing here
//! runs unless a request is answered with an error, so the hot path only keeps two header handles.

use crate::forward::{full, ProxyBody};
use hyper::body::Body;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// The error body formats Kong has templates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Json,
    Html,
    Xml,
    Plain,
    /// `application/grpc`: no template, an empty body.
    Grpc,
}

impl ErrorType {
    /// The `error_default_type` setting's values (`kong.conf`).
    pub fn from_setting(value: &str) -> Option<ErrorType> {
        Some(match value {
            "application/json" => ErrorType::Json,
            "text/html" => ErrorType::Html,
            "application/xml" => ErrorType::Xml,
            "text/plain" => ErrorType::Plain,
            _ => return None,
        })
    }

    /// Kong's `MIME_TYPES` table.
    fn known(key: &str) -> Option<ErrorType> {
        Some(match key {
            "application/grpc" => ErrorType::Grpc,
            "text/html" => ErrorType::Html,
            "application/json" | "application" | "default" => ErrorType::Json,
            "text/plain" | "text" => ErrorType::Plain,
            "application/xml" => ErrorType::Xml,
            _ => return None,
        })
    }

    fn content_type(self) -> Option<&'static str> {
        match self {
            ErrorType::Json => Some("application/json; charset=utf-8"),
            ErrorType::Html => Some("text/html; charset=utf-8"),
            ErrorType::Xml => Some("application/xml; charset=utf-8"),
            ErrorType::Plain => Some("text/plain; charset=utf-8"),
            ErrorType::Grpc => None,
        }
    }

    /// Kong's `ERROR_TEMPLATES`, filled as `string.format` does (the message is not escaped).
    fn render(self, message: &str, request_id: &str) -> String {
        match self {
            ErrorType::Json => format!("{{\n  \"message\":\"{message}\",\n  \"request_id\":\"{request_id}\"\n}}"),
            ErrorType::Html => format!(
                "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  \
                 </head>\n  <body>\n    <h1>Error</h1>\n    <p>{message}.</p>\n    <p>request_id: {request_id}</p>\n  \
                 </body>\n</html>\n"
            ),
            ErrorType::Xml => format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>{message}</message>\n  \
                 <requestid>{request_id}</requestid>\n</error>\n"
            ),
            ErrorType::Plain => format!("{message}\nrequest_id: {request_id}\n"),
            ErrorType::Grpc => String::new(),
        }
    }
}

/// Replacements for the built-in templates (Kong's `error_template_html`, `_json`, `_xml`, `_plain`), read
/// once at start; each has two `%s`, the message and the request id, filled as Lua's `string.format` does.
#[derive(Debug, Clone, Default)]
pub struct ErrorTemplates {
    pub html: Option<String>,
    pub json: Option<String>,
    pub xml: Option<String>,
    pub plain: Option<String>,
}

impl ErrorTemplates {
    fn get(&self, kind: ErrorType) -> Option<&str> {
        match kind {
            ErrorType::Html => self.html.as_deref(),
            ErrorType::Json => self.json.as_deref(),
            ErrorType::Xml => self.xml.as_deref(),
            ErrorType::Plain => self.plain.as_deref(),
            ErrorType::Grpc => None,
        }
    }
}

/// `string.format(template, message, request_id)` for a custom template: `%s` takes the next value, `%%`
/// is a `%`; anything else is copied as written.
fn fill(template: &str, message: &str, request_id: &str) -> String {
    let mut out = String::with_capacity(template.len() + message.len() + request_id.len());
    let mut values = [message, request_id].into_iter();
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after.as_bytes().first() {
            Some(b's') => out.push_str(values.next().unwrap_or_default()),
            Some(b'%') => out.push('%'),
            _ => {
                out.push('%');
                rest = after;
                continue;
            }
        }
        rest = &after[1..];
    }
    out.push_str(rest);
    out
}

impl ErrorType {
    /// The body for this type: the custom template when configured, else Kong's.
    fn body(self, message: &str, request_id: &str, templates: &ErrorTemplates) -> String {
        match templates.get(self) {
            Some(template) => fill(template, message, request_id),
            None => self.render(message, request_id),
        }
    }
}

/// Kong's `get_mime_type(media_type)` with the default: `type/*` maps by type, unknown types to JSON.
fn mime_type(media: &str) -> ErrorType {
    let media = media.trim();
    let media = media.split(';').next().unwrap_or(media);
    let mut entries = media.split('/');
    let (first, second) = (entries.next(), entries.next());
    let found = match (first, second) {
        (Some("*"), Some("*")) => None,
        (Some(kind), Some("*")) => ErrorType::known(kind),
        (_, Some(_)) => ErrorType::known(media),
        _ => None,
    };
    found.unwrap_or(ErrorType::Json)
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-!#$&^_+.".contains(&b)
}

/// `[a-z0-9][a-z0-9-!#$&^_+.]+ | \*` at the start of `s` (case-insensitive); the length matched.
fn token_or_star(s: &[u8]) -> Option<usize> {
    if s.first().is_some_and(|b| b.is_ascii_alphanumeric()) {
        let len = 1 + s[1..].iter().take_while(|b| is_token_char(**b)).count();
        if len >= 2 {
            return Some(len);
        }
    }
    (s.first() == Some(&b'*')).then_some(1)
}

fn skip_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

/// `q=(1(\.0{0,3})?|0(\.\d{0,3})?)` at the start of `s`: the value and the rest.
fn quality(s: &[u8]) -> Option<(f64, &[u8])> {
    let rest = s.strip_prefix(b"q=").or_else(|| s.strip_prefix(b"Q="))?;
    let (whole, rest) = rest.split_first()?;
    let digits_allowed = |b: u8| if *whole == b'1' { b == b'0' } else { b.is_ascii_digit() };
    if *whole != b'0' && *whole != b'1' {
        return None;
    }
    let mut value = f64::from(whole - b'0');
    let Some(fraction) = rest.strip_prefix(b".") else { return Some((value, rest)) };
    let n = fraction.iter().take(3).take_while(|b| digits_allowed(**b)).count();
    let mut scale = 0.1;
    for digit in &fraction[..n] {
        value += f64::from(digit - b'0') * scale;
        scale /= 10.0;
    }
    Some((value, &fraction[n..]))
}

/// One `Accept` element matched as Kong's anchored regex does: the media type and its quality (1 when absent).
fn accept_value(value: &[u8]) -> Option<(&[u8], f64)> {
    let major = token_or_star(value)?;
    let rest = value[major..].strip_prefix(b"/")?;
    let minor = token_or_star(rest)?;
    let media = &value[..major + 1 + minor];
    let mut rest = &rest[minor..];
    let mut q = None;
    // `(\s*;\s*(q=… | token(=[^;]*)?))*`: each parameter in turn, stopping at the first that does not fit.
    while let Some(after) = skip_space(rest).strip_prefix(b";") {
        let after = skip_space(after);
        if let Some((value, tail)) = quality(after) {
            q = Some(value);
            rest = tail;
            continue;
        }
        match token_or_star(after) {
            Some(n) if after[0] != b'*' => {
                let tail = &after[n..];
                rest = match tail.strip_prefix(b"=") {
                    Some(v) => &v[v.iter().position(|b| *b == b';').unwrap_or(v.len())..],
                    None => tail,
                };
            }
            _ => break,
        }
    }
    Some((media, q.unwrap_or(1.0)))
}

/// Kong's `get_response_type`: the highest-quality `Accept` element names the format (the first one on
/// ties); JSON when none does.
pub fn response_type(accept: Option<&[u8]>) -> ErrorType {
    let mut chosen = ErrorType::Json;
    let mut best = 0.0;
    for element in accept.unwrap_or_default().split(|b| *b == b',') {
        let element = element.trim_ascii();
        if let Some((media, q)) = accept_value(element) {
            if q > best {
                best = q;
                chosen = std::str::from_utf8(media).map(mime_type).unwrap_or(ErrorType::Json);
            }
        }
    }
    chosen
}

/// Kong's `HTTP_TO_GRPC_STATUS`, with its fallbacks by status class.
fn grpc_status(status: u16) -> u8 {
    match status {
        401 => 16,
        403 => 7,
        404 => 5,
        409 => 6,
        429 => 8,
        499 => 1,
        501 => 12,
        503 => 14,
        504 => 4,
        500..=599 => 13,
        400..=499 => 3,
        200..=299 => 0,
        _ => 2,
    }
}

/// Kong's `GRPC_MESSAGES`.
fn grpc_message(code: u8) -> &'static str {
    const MESSAGES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    MESSAGES.get(usize::from(code)).copied().unwrap_or("Unknown")
}

/// What an error response depends on besides its status and message: handles on the request's `Accept` and
/// `Content-Type` values (no copy) and whether it is gRPC over HTTP/2, plus `error_default_type` and the
/// custom templates.
#[derive(Debug, Clone)]
pub struct ErrorRequest<'a> {
    accept: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    http2: bool,
    default_type: ErrorType,
    templates: &'a ErrorTemplates,
}

impl<'a> ErrorRequest<'a> {
    /// For an answer given before a head could be read: the configured default format.
    pub fn without_head(options: &'a crate::ProxyOptions) -> ErrorRequest<'a> {
        ErrorRequest {
            accept: None,
            content_type: None,
            http2: false,
            default_type: options.error_default_type,
            templates: &options.error_templates,
        }
    }

    pub fn of(parts: &hyper::http::request::Parts, options: &'a crate::ProxyOptions) -> ErrorRequest<'a> {
        // One pass over the (few) headers costs less than two hashed lookups, on every request.
        let (mut accept, mut content_type) = (None, None);
        for (name, value) in &parts.headers {
            if *name == ACCEPT {
                accept.get_or_insert_with(|| value.clone());
            } else if *name == CONTENT_TYPE {
                content_type.get_or_insert_with(|| value.clone());
            }
        }
        ErrorRequest {
            accept,
            content_type,
            http2: parts.version == hyper::Version::HTTP_2,
            default_type: options.error_default_type,
            templates: &options.error_templates,
        }
    }

    /// Kong's `is_grpc_request`: an `application/grpc*` content type over HTTP/2.
    pub fn is_grpc(&self) -> bool {
        self.http2 && self.content_type.as_ref().is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
    }
}

/// A body for [`exit`], as `kong.response.exit` receives it.
pub enum ExitBody<'a> {
    /// A table: JSON, or its `message` alone as `grpc-message` for gRPC requests.
    Json(&'a serde_json::Value),
    /// A string sent as is (or as `grpc-message` for gRPC requests); empty means no body.
    Raw(String),
}

fn response(status: u16, body: String, headers: Vec<(HeaderName, HeaderValue)>) -> Response<ProxyBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// Sets `grpc-status` (and the generic `grpc-message` unless `message` is given) for a gRPC answer.
/// Answers without a body also say `Content-Length: 0`, as Kong does.
fn grpc_headers(response: &mut Response<ProxyBody>, message: Option<&str>) {
    let status = grpc_status(response.status().as_u16());
    let empty = response.body().is_end_stream();
    let headers = response.headers_mut();
    if !headers.contains_key("grpc-status") {
        headers.insert("grpc-status", HeaderValue::from(u16::from(status)));
    }
    if !headers.contains_key("grpc-message") {
        let text = message.unwrap_or(grpc_message(status));
        let value = HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("Unknown"));
        headers.insert("grpc-message", value);
    }
    if empty {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
    }
}

/// Kong's `kong.response.error`: the status's template for the `Accept` type (JSON by default), or for a
/// gRPC request an empty `application/grpc` answer carrying `grpc-status` and `grpc-message`.
pub fn error(
    status: u16,
    message: &str,
    headers: Vec<(HeaderName, HeaderValue)>,
    request: &ErrorRequest<'_>,
    request_id: &str,
) -> Response<ProxyBody> {
    let declared = headers.iter().find(|(n, _)| *n == CONTENT_TYPE).map(|(_, v)| v.clone());
    let kind = match &declared {
        Some(v) => v.to_str().map(mime_type).unwrap_or(ErrorType::Json),
        None if request.is_grpc() => ErrorType::Grpc,
        None => response_type(request.accept.as_ref().map(HeaderValue::as_bytes)),
    };
    let mut response = response(status, kind.body(message, request_id, request.templates), headers);
    if declared.is_none() {
        if let Some(content_type) = kind.content_type() {
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
    }
    if kind == ErrorType::Grpc {
        if declared.is_none() {
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        }
        grpc_headers(&mut response, None);
    }
    response
}

/// Kong's `kong.response.exit`: a table body as JSON, a string as is; gRPC requests get the message (or
/// the body string) as `grpc-message` on an empty body.
pub fn exit(
    status: u16,
    body: ExitBody<'_>,
    headers: Vec<(HeaderName, HeaderValue)>,
    request: &ErrorRequest<'_>,
) -> Response<ProxyBody> {
    // `Some(is gRPC)` when the exit sets its own content type.
    let declared =
        headers.iter().find(|(n, _)| *n == CONTENT_TYPE).map(|(_, v)| v.as_bytes().starts_with(b"application/grpc"));
    let grpc_output = declared == Some(true);
    let grpc = declared.unwrap_or_else(|| request.is_grpc());
    if grpc && !grpc_output {
        let message = match &body {
            ExitBody::Json(json) => json.get("message").and_then(|m| m.as_str()).map(str::to_string),
            ExitBody::Raw(raw) => (!raw.is_empty()).then(|| raw.clone()),
        };
        let mut response = response(status, String::new(), headers);
        grpc_headers(&mut response, message.as_deref());
        return response;
    }
    let (text, json) = match body {
        ExitBody::Json(json) => (json.to_string(), true),
        ExitBody::Raw(raw) => (raw, false),
    };
    let mut response = response(status, text, headers);
    if json && declared.is_none() {
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    }
    if grpc {
        grpc_headers(&mut response, None);
    }
    response
}

/// Kong's `error_handlers.lua` (nginx error pages: upstream failures, bad or oversized requests): the type
/// comes from `Accept`, else `Content-Type`, else `error_default_type`; gRPC gets `{message}` via `exit`.
pub fn error_page(status: u16, message: &str, request: &ErrorRequest<'_>, request_id: &str) -> Response<ProxyBody> {
    let source = request.accept.as_ref().or(request.content_type.as_ref()).map(HeaderValue::as_bytes);
    if source.is_some_and(|v| v.starts_with(b"application/grpc")) {
        let body = serde_json::json!({ "message": message });
        return exit(status, ExitBody::Json(&body), Vec::new(), request);
    }
    let kind = match source {
        Some(value) => response_type(Some(value)),
        None => request.default_type,
    };
    let mut response = response(status, kind.body(message, request_id, request.templates), Vec::new());
    if let Some(content_type) = kind.content_type() {
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

#[cfg(test)]
#[path = "error_page_tests.rs"]
mod tests;
