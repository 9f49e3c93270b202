use crate::h1_codec::parse_response;
use bytes::BytesMut;
use hyper::Method;

/// The fields of `text`'s head and what stays in the buffer after it.
fn parse(text: &str) -> (super::RawFields, Vec<u8>) {
    let mut buf = BytesMut::from(text);
    match parse_response(&mut buf, &Method::GET) {
        Ok(Some(head)) => (head.fields, buf.to_vec()),
        Ok(None) => panic!("incomplete head: {text:?}"),
        Err(e) => panic!("{e}: {text:?}"),
    }
}

fn lines(fields: &super::RawFields) -> &str {
    std::str::from_utf8(fields.lines()).unwrap_or("<not utf-8>")
}

#[test]
fn an_upstream_head_keeps_its_end_to_end_fields_in_order_and_case() {
    let (fields, rest) = parse(
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 23:00:00 GMT\r\nContent-Type: text/plain\r\n\
         Content-Length: 2\r\nConnection: keep-alive\r\nX-Multi: a\r\nx-multi: b\r\n\r\nok",
    );
    assert_eq!(
        lines(&fields),
        "Server: nginx\r\nDate: Thu, 26 Nov 2026 23:00:00 GMT\r\nContent-Type: text/plain\r\nX-Multi: a\r\nx-multi: b\r\n"
    );
    assert_eq!(fields.content_length(), Some(2), "the length is kept aside for the client's framing");
    assert!(fields.has_date() && !fields.has_kong_headers());
    assert_eq!(rest, b"ok", "the body stays in the buffer");
}

#[test]
fn hop_by_hop_fields_and_those_connection_names_are_left_out() {
    let (fields, _) = parse(
        "HTTP/1.1 200 OK\r\nX-Secret: 1\r\nConnection: X-Secret, keep-alive\r\nKeep-Alive: timeout=5\r\n\
         X-Keep: a\r\nTE: trailers\r\nTE: gzip\r\nProxy-Connection: x\r\nUpgrade: h2c\r\nTrailer: x-sum\r\n\
         Transfer-Encoding: chunked\r\nx-last:z\r\n\r\n",
    );
    assert_eq!(lines(&fields), "X-Keep: a\r\nTE: trailers\r\nx-last:z\r\n");
    assert!(!fields.has_date());
}

#[test]
fn bare_line_feeds_are_relayed_as_crlf() {
    let (fields, rest) = parse("HTTP/1.1 200 OK\nA:1\nB: 2  \nContent-Length: 1\n\nx");
    assert_eq!(lines(&fields), "A:1\r\nB: 2\r\n");
    assert_eq!(rest, b"x");
    let (mixed, _) = parse("HTTP/1.1 200 OK\r\nX: 1\r\nA:1\nB:2\n\r\n");
    assert_eq!(lines(&mixed), "X: 1\r\nA:1\r\nB:2\r\n", "lines placed before a bare LF are kept");
    let (moved, _) = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nA:1\nB:2\n\r\n");
    assert_eq!(lines(&moved), "A:1\r\nB:2\r\n", "room left by a dropped line takes the CRLFs");
    let (none, _) = parse("HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(lines(&none), "");
}

#[test]
fn kong_headers_from_the_upstream_are_flagged() {
    let (fields, _) = parse("HTTP/1.1 200 OK\r\nX-Kong-Upstream-Latency: 3\r\nContent-Length: 0\r\n\r\n");
    assert!(fields.has_kong_headers());
    let (other, _) = parse("HTTP/1.1 200 OK\r\nX-Kongish: 3\r\nx-kong: 1\r\n\r\n");
    assert!(!other.has_kong_headers(), "only the `X-Kong-` prefix counts");
}

#[test]
fn a_map_is_built_on_demand_with_shared_values() {
    let (fields, _) = parse(
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nEmpty:\r\nSet-Cookie: b=2\r\nX-Colon: a:b\r\nContent-Length: 5, 5\r\n\r\n",
    );
    let map = fields.into_map();
    let cookies: Vec<_> = map.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(map["empty"], "");
    assert_eq!(map["x-colon"], "a:b");
    assert_eq!(map["content-length"], "5");
    assert_eq!(map.len(), 5);
}

#[test]
fn a_length_beside_transfer_encoding_is_not_forwarded() {
    let (fields, _) = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n");
    assert_eq!(fields.content_length(), None);
    assert!(fields.into_map().get("content-length").is_none());
}
