use super::*;
use hyper::body::Body as _;

fn parse(text: &[u8]) -> (Parsed, BytesMut) {
    let mut buf = BytesMut::from(text);
    let parsed = parse_request(&mut buf, 8192);
    (parsed, buf)
}

fn served(text: &[u8]) -> (Request<RequestBody>, bool, BytesMut) {
    match parse(text) {
        (Parsed::Request(request, keep_alive), rest) => (request, keep_alive, rest),
        _ => panic!("not served here: {:?}", String::from_utf8_lossy(text)),
    }
}

fn handed_over(text: &[u8]) -> bool {
    matches!(parse(text).0, Parsed::HandOver)
}

#[test]
fn a_bodiless_request_is_parsed_in_place() {
    let (request, keep_alive, rest) =
        served(b"GET /a/b?x=1 HTTP/1.1\r\nHost: example.test\r\nX-Two: 1\r\nx-two: 2\r\n\r\nGET /next");
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri().path(), "/a/b");
    assert_eq!(request.uri().query(), Some("x=1"));
    assert_eq!(request.headers()["host"], "example.test");
    assert_eq!(request.headers().get_all("x-two").iter().count(), 2, "repeated headers are all kept");
    assert!(keep_alive);
    assert!(request.body().is_end_stream());
    assert_eq!(&rest[..], b"GET /next", "a pipelined request stays in the buffer");
}

#[test]
fn connection_close_and_a_zero_length_are_honoured() {
    let (_, keep_alive, _) = served(b"GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n");
    assert!(!keep_alive);
    let (request, keep_alive, _) = served(b"DELETE /x HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    assert!(keep_alive);
    assert_eq!(request.method(), Method::DELETE);
}

#[test]
fn anything_else_goes_to_hyper() {
    assert!(handed_over(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), "a body");
    assert!(handed_over(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), "a chunked body");
    assert!(handed_over(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"), "an upgrade");
    assert!(handed_over(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\ncontent-length: 0\r\n\r\n"), "Expect");
    assert!(handed_over(b"GET / HTTP/1.0\r\n\r\n"), "HTTP/1.0");
    assert!(handed_over(b"CONNECT a.test:443 HTTP/1.1\r\n\r\n"), "CONNECT");
    assert!(handed_over(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "h2c's preface");
    assert!(handed_over(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), "a malformed head");
    let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
    assert!(handed_over(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()), "too many headers (hyper: 431)");
}

#[test]
fn a_partial_head_waits_for_more() {
    for text in [&b"GE"[..], b"GET / HTTP/1.1\r\nHost: a", b"GET / HTTP/1.1\r\nHost: a\r\n"] {
        let (parsed, rest) = parse(text);
        assert!(matches!(parsed, Parsed::Partial), "{text:?}");
        assert_eq!(&rest[..], text, "nothing is consumed");
    }
}

#[test]
fn a_target_nginx_takes_but_the_uri_type_refuses_is_escaped() {
    // httparse and nginx take these targets, `http::Uri` does not: served with Kong's escaping.
    let (request, _, _) = served("GET /a<b>/`x`/café?q=é<&r=\"^\\ HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes());
    assert_eq!(request.uri().path(), "/a%3Cb%3E/%60x%60/caf%C3%A9");
    assert_eq!(request.uri().query(), Some("q=%C3%A9%3C&r=%22%5E%5C"));
    // Targets the URI type takes keep their bytes as they came.
    let (request, _, _) = served("GET /a|b/café?q={}| HTTP/1.1\r\n\r\n".as_bytes());
    assert_eq!(request.uri().path(), "/a|b/caf\u{e9}");
    assert_eq!(request.uri().query(), Some("q={}|"));
    // Neither origin nor absolute form: 400 (nginx's too).
    assert!(matches!(parse(b"GET a/b HTTP/1.1\r\n\r\n").0, Parsed::Invalid));
    assert!(matches!(parse(b"GET host HTTP/1.1\r\n\r\n").0, Parsed::Invalid));
    let (request, _, _) = served(b"GET http://a.test/x?y HTTP/1.1\r\n\r\n");
    assert_eq!((request.uri().host(), request.uri().path()), (Some("a.test"), "/x"));
}

#[test]
fn a_header_line_longer_than_one_buffer_is_too_large() {
    let long = format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n", "c".repeat(8200));
    assert!(matches!(parse(long.as_bytes()).0, Parsed::TooLarge));
    // As large in all, but in lines that each fit: served.
    let lines: String = (0..3).map(|i| format!("x-{i}: {}\r\n", "v".repeat(3000))).collect();
    let (request, _, _) = served(format!("GET / HTTP/1.1\r\nHost: x\r\n{lines}\r\n").as_bytes());
    assert_eq!(request.headers().len(), 4);
}
