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
    let date = text.lines().find(|l| l.starts_with("Date: ")).expect("a date line").to_string();
    assert_eq!(date.len(), "Date: Sun, 06 Nov 1994 08:49:37 GMT".len(), "{date}");
    (text.replace(&format!("{date}\r\n"), ""), out, close)
}

#[test]
fn a_known_length_is_announced() {
    let (head, out, close) = encode(&response(200, &[("x-a", "1")], full("ok")), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n");
    assert_eq!((out, close), (BodyOut::Length(2), false));
    let (head, out, _) = encode(&response(404, &[("content-length", "2")], full("no")), false, true);
    assert_eq!(head, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(out, BodyOut::Length(2));
}

#[test]
fn an_unknown_length_is_chunked() {
    let (head, out, _) = encode(&response(200, &[], streamed(&["a", "b"])), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(out, BodyOut::Chunked);
    // A length the upstream announced frames a body that does not know its own.
    let (head, out, _) = encode(&response(200, &[("content-length", "2")], streamed(&["ab"])), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(out, BodyOut::Length(2));
    // A coding a plugin set is kept, with chunked last.
    let (head, out, _) = encode(&response(200, &[("transfer-encoding", "gzip")], streamed(&["x"])), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(out, BodyOut::Chunked);
}

#[test]
fn bodiless_responses_send_no_body() {
    // HEAD keeps the length the upstream announced, and sends nothing.
    let head_response = response(200, &[("content-length", "10")], full(Bytes::new()));
    let (head, out, _) = encode(&head_response, true, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
    assert_eq!(out, BodyOut::Nothing);
    let (head, out, _) = encode(&response(204, &[], full(Bytes::new())), false, true);
    assert_eq!(head, "HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(out, BodyOut::Nothing);
    let (head, out, _) = encode(&response(304, &[("etag", "\"e\"")], full(Bytes::new())), false, true);
    assert_eq!(head, "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n");
    assert_eq!(out, BodyOut::Nothing);
    let (head, out, _) = encode(&response(200, &[], full(Bytes::new())), false, true);
    assert_eq!(head, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(out, BodyOut::Nothing);
}

#[test]
fn closing_is_announced() {
    let (head, _, close) = encode(&response(200, &[], full("ok")), false, false);
    assert_eq!(head, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
    assert!(close);
    let (head, _, close) = encode(&response(413, &[("connection", "close")], full("")), false, true);
    assert_eq!(head, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(close, "a response that says close ends the connection");
}

#[test]
fn a_date_from_upstream_is_kept() {
    let upstream_date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let mut dst = Vec::new();
    encode_head(&mut dst, &response(200, &[("date", upstream_date)], full("ok")), false, true);
    let text = String::from_utf8(dst).expect("utf-8");
    assert_eq!(text.matches("Date: ").count(), 1, "{text}");
    assert!(text.contains(upstream_date));
}

/// The head's lines with names lowercased, sorted, and the date line out: what a client can tell apart.
fn normalized(head: &[u8]) -> Vec<String> {
    let text = String::from_utf8(head.to_vec()).expect("utf-8");
    let mut lines: Vec<String> = text
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("date:"))
        .map(|l| match l.split_once(':') {
            Some((name, value)) => format!("{}: {}", name.to_ascii_lowercase(), value.trim()),
            None => l.to_string(),
        })
        .collect();
    lines.sort();
    let status = text.lines().next().unwrap_or_default().to_string();
    std::iter::once(status).chain(lines).collect()
}

/// An upstream head, whether the request was HEAD, whether the connection stays open, and the body.
type RelayCase = (&'static str, bool, bool, fn() -> ProxyBody);

#[test]
fn a_relayed_head_reads_as_the_same_response_encoded_from_a_map() {
    let cases: [RelayCase; 5] = [
        ("HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n", false, true, || full("ok")),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: 1\r\nx-a: 2\r\n\r\n", true, true, || full(Bytes::new())),
        ("HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 9\r\n\r\n", false, false, || full(Bytes::new())),
        ("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nVia: 1.1 inner\r\n\r\n", false, true, || streamed(&["a", "b"])),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", false, true, || streamed(&["ab"])),
    ];
    for (text, is_head, keep_alive, body) in cases {
        let method = if is_head { hyper::Method::HEAD } else { hyper::Method::GET };
        let relayed = || {
            let mut buf = bytes::BytesMut::from(text);
            let head = crate::h1_codec::parse_response(&mut buf, &method).ok().flatten().expect("a head");
            let shown = crate::ResponseHeaders { upstream_status: true, ..Default::default() };
            let latencies = (std::time::Duration::from_millis(3), std::time::Duration::from_micros(1500));
            let kong = crate::kong_headers::KongHeaders::new(shown, "test");
            Relayed {
                status: head.status,
                version: hyper::Version::HTTP_11,
                added: kong.proxied(latencies, false, head.status, head.fields.has_server()),
                fields: head.fields,
                request_id: Some(crate::forward::new_request_id()),
                body: body(),
            }
        };
        let first = relayed();
        let mut raw = Vec::new();
        let raw_framing = encode_relayed_head(&mut raw, &first, is_head, keep_alive);
        let response = Reply::Relayed(Relayed { request_id: first.request_id, ..relayed() }).into_response();
        let mut mapped = Vec::new();
        let map_framing = encode_head(&mut mapped, &response, is_head, keep_alive);
        assert_eq!(normalized(&raw), normalized(&mapped), "{text:?}");
        assert_eq!(raw_framing, map_framing, "{text:?}");
        let raw_text = String::from_utf8_lossy(&raw);
        assert_eq!(raw_text.to_ascii_lowercase().matches("date: ").count(), 1, "{raw_text}");
    }
}
