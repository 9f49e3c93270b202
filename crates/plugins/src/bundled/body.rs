//! Reading and rewriting credentials in the query string and the request body (urlencoded form, JSON or
//! multipart form data), as Kong's `kong.request.get_query`/`get_body` and
//! `kong.service.request.clear_query_arg`/`set_body`.

use crate::context::RequestCtx;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Map, Value};

/// A lookup result: absent, one value, or several (Kong hands plugins a table then).
#[derive(Debug, PartialEq, Eq)]
pub enum FormValue {
    Missing,
    One(String),
    Many,
}

/// The decoded value of `name` in a query string.
pub fn query_value(query: Option<&str>, name: &str) -> FormValue {
    let Some(query) = query else { return FormValue::Missing };
    pairs_value(form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())), name)
}

fn pairs_value(pairs: impl Iterator<Item = (String, String)>, name: &str) -> FormValue {
    let mut found = FormValue::Missing;
    for (key, value) in pairs {
        if key == name {
            found = match found {
                FormValue::Missing => FormValue::One(value),
                _ => return FormValue::Many,
            };
        }
    }
    found
}

/// Removes every `name` argument from the request's query string, keeping the others as sent.
pub fn remove_query_arg(parts: &mut http::request::Parts, name: &str) {
    let Some(query) = parts.uri.query() else { return };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k != name).unwrap_or(!key.is_empty())
        })
        .collect();
    let path = parts.uri.path();
    let rebuilt = if kept.is_empty() { path.to_string() } else { format!("{path}?{}", kept.join("&")) };
    let mut builder = http::Uri::builder();
    if let Some(scheme) = parts.uri.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = parts.uri.authority() {
        builder = builder.authority(authority.clone());
    }
    if let Ok(uri) = builder.path_and_query(rebuilt).build() {
        parts.uri = uri;
    }
}

/// A parsed request body.
pub enum BodyForm {
    None,
    Form(Vec<(String, String)>),
    Json(Map<String, Value>),
    /// `multipart/form-data` fields (name, content) and the boundary, for re-encoding.
    Multipart(Vec<(String, String)>, String),
}

/// `set_body` cannot encode the remaining arguments: Kong raises an error (a 500) for a multipart body
/// with a repeated field, since multipart values must be strings.
#[derive(Debug, thiserror::Error)]
#[error("repeated multipart field {0:?} cannot be re-encoded")]
pub struct Unencodable(pub String);

/// The named fields of a multipart body, read with `multer` as Kong's `multipart(body, content_type)`
/// does; `None` when the body is not valid multipart (Kong then reads no arguments).
fn multipart_fields(content_type: &str, body: &Bytes) -> Option<(Vec<(String, String)>, String)> {
    use futures_util::FutureExt;
    let boundary = multer::parse_boundary(content_type).ok()?;
    let chunk = body.clone();
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(chunk) });
    let mut parts = multer::Multipart::new(stream, boundary.clone());
    let read = async move {
        let mut fields = Vec::new();
        while let Some(field) = parts.next_field().await.ok()? {
            let Some(name) = field.name().map(str::to_string) else { continue };
            let value = field.bytes().await.ok()?;
            fields.push((name, String::from_utf8_lossy(&value).into_owned()));
        }
        Some(fields)
    };
    // The whole body is already in memory, so every step above completes on the first poll.
    read.now_or_never().flatten().map(|fields| (fields, boundary))
}

impl BodyForm {
    /// Parses the body by its content type; anything else reads as no arguments.
    pub fn parse(headers: &HeaderMap, body: Option<&Bytes>) -> BodyForm {
        let Some(body) = body else { return BodyForm::None };
        let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/x-www-form-urlencoded" => {
                BodyForm::Form(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
            }
            "application/json" => match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => BodyForm::Json(map),
                _ => BodyForm::None,
            },
            "multipart/form-data" => match multipart_fields(content_type, body) {
                Some((fields, boundary)) => BodyForm::Multipart(fields, boundary),
                None => BodyForm::None,
            },
            _ => BodyForm::None,
        }
    }

    /// The string value of `name`; non-string JSON values read as absent, as in Kong (`type(v) == "string"`).
    pub fn value(&self, name: &str) -> FormValue {
        match self {
            BodyForm::None => FormValue::Missing,
            BodyForm::Form(pairs) | BodyForm::Multipart(pairs, _) => pairs_value(pairs.iter().cloned(), name),
            BodyForm::Json(map) => match map.get(name) {
                Some(Value::String(s)) => FormValue::One(s.clone()),
                Some(Value::Array(_)) => FormValue::Many,
                _ => FormValue::Missing,
            },
        }
    }

    /// The body re-encoded without `name` as Kong's `set_body` does (form and multipart keys in
    /// lexicographical order), or `None` when there is nothing to rewrite.
    pub fn without(&self, name: &str) -> Result<Option<Bytes>, Unencodable> {
        Ok(match self {
            BodyForm::None => None,
            BodyForm::Form(pairs) => {
                let mut out = form_urlencoded::Serializer::new(String::new());
                for (k, v) in sorted_without(pairs, name) {
                    out.append_pair(k, v);
                }
                Some(Bytes::from(out.finish()))
            }
            BodyForm::Json(map) => {
                let mut map = map.clone();
                map.shift_remove(name);
                serde_json::to_vec(&Value::Object(map)).ok().map(Bytes::from)
            }
            BodyForm::Multipart(fields, boundary) => {
                let kept = sorted_without(fields, name);
                if let Some(pair) = kept.windows(2).find(|w| w[0].0 == w[1].0) {
                    return Err(Unencodable(pair[0].0.to_string()));
                }
                let mut out = String::new();
                for (k, v) in kept {
                    out.push_str(&format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                    ));
                }
                out.push_str(&format!("--{boundary}--\r\n"));
                Some(Bytes::from(out))
            }
        })
    }
}

/// The pairs other than `name`, by key (stable, so repeated keys keep their order).
fn sorted_without<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<(&'a str, &'a str)> {
    let mut kept: Vec<(&str, &str)> =
        pairs.iter().filter(|(k, _)| k != name).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    kept.sort_by(|a, b| a.0.cmp(b.0));
    kept
}

/// Replaces the buffered request body and its `Content-Length`.
pub fn replace_body(ctx: &mut RequestCtx<'_>, body: Bytes) {
    ctx.parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    ctx.body = Some(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lookup_decodes_and_detects_duplicates() {
        assert_eq!(query_value(Some("apikey=a%20b&x=1"), "apikey"), FormValue::One("a b".into()));
        assert_eq!(query_value(Some("apikey=a&apikey=b"), "apikey"), FormValue::Many);
        assert_eq!(query_value(Some("x=1"), "apikey"), FormValue::Missing);
        assert_eq!(query_value(None, "apikey"), FormValue::Missing);
    }

    #[test]
    fn removing_a_query_arg_keeps_the_others_verbatim() {
        let (mut parts, _) = http::Request::get("/p?a=%2F&apikey=k&b").body(()).unwrap().into_parts();
        remove_query_arg(&mut parts, "apikey");
        assert_eq!(parts.uri.to_string(), "/p?a=%2F&b");
        remove_query_arg(&mut parts, "a");
        remove_query_arg(&mut parts, "b");
        assert_eq!(parts.uri.to_string(), "/p");
    }

    #[test]
    fn bodies_by_content_type() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        let body = Bytes::from_static(br#"{"apikey":"k","n":1,"list":["a"]}"#);
        let form = BodyForm::parse(&headers, Some(&body));
        assert_eq!(form.value("apikey"), FormValue::One("k".into()));
        assert_eq!(form.value("n"), FormValue::Missing);
        assert_eq!(form.value("list"), FormValue::Many);
        assert_eq!(form.without("apikey").unwrap().unwrap(), Bytes::from_static(br#"{"n":1,"list":["a"]}"#));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        let body = Bytes::from_static(b"z=1&apikey=k&x=a+b");
        let form = BodyForm::parse(&headers, Some(&body));
        assert_eq!(form.value("apikey"), FormValue::One("k".into()));
        assert_eq!(form.without("apikey").unwrap().unwrap(), Bytes::from_static(b"x=a+b&z=1"));
    }

    #[test]
    fn multipart_bodies_are_read_and_re_encoded_as_kong_does() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("multipart/form-data; boundary=XyZ"));
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nlast\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nk1\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\
              Content-Type: text/plain\r\n\r\nfile body\r\n--XyZ--\r\n",
        );
        let form = BodyForm::parse(&headers, Some(&body));
        assert_eq!(form.value("apikey"), FormValue::One("k1".into()));
        assert_eq!(form.value("f"), FormValue::One("file body".into()));
        assert_eq!(form.value("other"), FormValue::Missing);
        let rewritten = form.without("apikey").unwrap().unwrap();
        assert_eq!(
            rewritten,
            Bytes::from_static(
                b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nfile body\r\n\
                  --XyZ\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nlast\r\n--XyZ--\r\n"
            )
        );
        let twice = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n--XyZ--\r\n",
        );
        let form = BodyForm::parse(&headers, Some(&twice));
        assert_eq!(form.value("a"), FormValue::Many);
        assert!(form.without("apikey").is_err(), "repeated fields cannot be re-encoded");
        let broken = Bytes::from_static(b"not multipart at all");
        assert_eq!(BodyForm::parse(&headers, Some(&broken)).value("apikey"), FormValue::Missing);
    }
}
