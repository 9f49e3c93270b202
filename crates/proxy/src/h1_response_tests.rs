use super::*;
use crate::forward::full;
use http_body_util::StreamBody;

fn response(status: u16, headers: &[(&str, &str)], body: ProxyBody) -> Response<ProxyBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).expect("status");
    for (name, value) in headers {
        response.headers_mut().append(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            hyper::header::HeaderValue::from_str(value).expect("value"),
        );
    }
    response
}

/// A body of unknown length.
fn streamed(parts: &[&'static str]) -> ProxyBody {
    let frames: Vec<Result<hyper::body::Frame<Bytes>, crate::upstream::BoxError>> =
        parts.iter().map(|p| Ok(hyper::body::Frame::data(Bytes::from_static(p.as_bytes())))).collect();
    BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

/// The encoded head (with the date line taken out, as it changes), the framing and the close flag.
fn encode(response: &Response<ProxyBody>, is_head: bool, keep_alive: bool) -> (String, BodyOut, bool) {
    let mut dst = Vec::new();
    let (out, close) = encode_head(&mut dst, response, is_head, keep_alive);
    let text = String::from_utf8(dst).expect("utf-8");
    let date = text.lines().find(|l| l.starts_with("date: ")).expect("a date line").to_string();
    assert_eq!(date.len(), "date: Sun, 06 Nov 1994 08:49:37 GMT".len(), "{date}");
    (text.replace(&format!("{date}\r\n"), ""), out, close)
}

#[test]
fn a_known_length_is_announced() {
    let (head, out, close) = encode(&response(200, &[("x-a", "1")], full("ok")), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n");
    assert_eq!((out, close), (BodyOut::Length(2), false));
    let (head, out, _) = encode(&response(404, &[("content-length", "2")], full("no")), false, true);
    assert_eq!(head, "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n");
    assert_eq!(out, BodyOut::Length(2));
}

#[test]
fn an_unknown_length_is_chunked() {
    let (head, out, _) = encode(&response(200, &[], streamed(&["a", "b"])), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    assert_eq!(out, BodyOut::Chunked);
    // A length the upstream announced frames a body that does not know its own.
    let (head, out, _) = encode(&response(200, &[("content-length", "2")], streamed(&["ab"])), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
    assert_eq!(out, BodyOut::Length(2));
    // A coding a plugin set is kept, with chunked last.
    let (head, out, _) = encode(&response(200, &[("transfer-encoding", "gzip")], streamed(&["x"])), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n");
    assert_eq!(out, BodyOut::Chunked);
}

#[test]
fn bodiless_responses_send_no_body() {
    // HEAD keeps the length the upstream announced, and sends nothing.
    let head_response = response(200, &[("content-length", "10")], full(Bytes::new()));
    let (head, out, _) = encode(&head_response, true, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
    assert_eq!(out, BodyOut::Nothing);
    let (head, out, _) = encode(&response(204, &[], full(Bytes::new())), false, true);
    assert_eq!(head, "HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(out, BodyOut::Nothing);
    let (head, out, _) = encode(&response(304, &[("etag", "\"e\"")], full(Bytes::new())), false, true);
    assert_eq!(head, "HTTP/1.1 304 Not Modified\r\netag: \"e\"\r\n\r\n");
    assert_eq!(out, BodyOut::Nothing);
    let (head, out, _) = encode(&response(200, &[], full(Bytes::new())), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(out, BodyOut::Nothing);
}

#[test]
fn closing_is_announced() {
    let (head, _, close) = encode(&response(200, &[], full("ok")), false, false);
    assert_eq!(head, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n");
    assert!(close);
    let (head, _, close) = encode(&response(413, &[("connection", "close")], full("")), false, true);
    assert_eq!(head, "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    assert!(close, "a response that says close ends the connection");
}

#[test]
fn a_date_from_upstream_is_kept() {
    let upstream_date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let mut dst = Vec::new();
    encode_head(&mut dst, &response(200, &[("date", upstream_date)], full("ok")), false, true);
    let text = String::from_utf8(dst).expect("utf-8");
    assert_eq!(text.matches("date: ").count(), 1, "{text}");
    assert!(text.contains(upstream_date));
}
