use super::*;

fn parse(text: &str, method: Method) -> Result<Option<ResponseHead>, CodecError> {
    let mut buf = BytesMut::from(text);
    parse_response(&mut buf, &method)
}

fn head(text: &str) -> ResponseHead {
    match parse(text, Method::GET) {
        Ok(Some(head)) => head,
        Ok(None) => panic!("incomplete head: {text:?}"),
        Err(e) => panic!("{e}: {text:?}"),
    }
}

#[test]
fn response_framing_follows_rfc_9112() {
    assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n").framing, Framing::Length(5));
    assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n").framing, Framing::Length(5));
    assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").framing, Framing::Empty);
    assert_eq!(head("HTTP/1.1 204 No Content\r\n\r\n").framing, Framing::Empty);
    assert_eq!(head("HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n").framing, Framing::Empty);
    let chunked = head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 3\r\n\r\n");
    assert_eq!(chunked.framing, Framing::Chunked);
    let unframed = head("HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(unframed.framing, Framing::UntilClose);
    assert!(!unframed.keep_alive, "a body read until close ends the connection");
    let head_request = parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", Method::HEAD);
    assert!(matches!(head_request, Ok(Some(h)) if h.framing == Framing::Empty));
}

#[test]
fn bad_lengths_and_oversized_heads_are_errors() {
    for bad in ["content-length: 5\r\ncontent-length: 6", "content-length: -1", "content-length: 1x", "content-length:"]
    {
        let text = format!("HTTP/1.1 200 OK\r\n{bad}\r\n\r\n");
        assert!(parse(&text, Method::GET).is_err(), "{bad} must be rejected");
    }
    assert!(parse("HTTP/1.1 200 OK\r\nx: y\r\n", Method::GET).is_ok_and(|h| h.is_none()), "partial head waits");
    let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES));
    assert!(matches!(parse(&huge, Method::GET), Err(CodecError::HeadTooLarge)));
    assert!(parse("HTTP/1.1 200 OK\r\nbad header\r\n\r\n", Method::GET).is_err());
}

#[test]
fn keep_alive_depends_on_version_and_connection() {
    assert!(head("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n").keep_alive);
    assert!(!head("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n").keep_alive);
    assert!(!head("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n").keep_alive);
    let kept = head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 1\r\n\r\n");
    assert!(kept.keep_alive);
    assert_eq!(kept.version, Version::HTTP_10);
}

#[test]
fn informational_responses_are_skipped_and_the_body_stays_in_the_buffer() {
    let mut buf = BytesMut::from(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nX-A: 1\r\nx-a: 2\r\ncontent-length: 4\r\n\r\nbody",
    );
    let head = parse_response(&mut buf, &Method::POST).ok().flatten();
    assert_eq!(head.as_ref().map(|h| h.status), Some(StatusCode::CREATED));
    let map = head.map(|h| h.fields.into_map()).unwrap_or_default();
    let values: Vec<_> = map.get_all("x-a").iter().cloned().collect();
    assert_eq!(values, ["1", "2"]);
    assert_eq!(&buf[..], b"body");
}

#[test]
fn chunked_bodies_decode_across_reads_with_trailers() {
    let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nx-checksum: abc\r\n\r\nNEXT";
    // Feed the bytes one at a time: every split point must work.
    let (mut state, mut buf, mut data, mut trailers) = (Chunked::Size, BytesMut::new(), Vec::new(), None);
    for &byte in wire.iter() {
        buf.extend_from_slice(&[byte]);
        loop {
            match state.decode(&mut buf) {
                Ok(Decoded::Data(d)) => data.extend_from_slice(&d),
                Ok(Decoded::Trailers(t)) => trailers = Some(t),
                Ok(Decoded::More) | Ok(Decoded::End) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert_eq!(data, b"Wikipedia");
    assert_eq!(trailers.and_then(|t| t.get("x-checksum").cloned()), Some(HeaderValue::from_static("abc")));
    assert_eq!(state, Chunked::Done);
    assert_eq!(&buf[..], b"NEXT", "bytes after the body are left for the next response");
}

#[test]
fn bad_chunks_are_errors() {
    for bad in [&b"zz\r\n"[..], b"4\r\nWikiXX", b"ffffffffffffffffff\r\n"] {
        let (mut state, mut buf) = (Chunked::Size, BytesMut::from(bad));
        let mut failed = false;
        for _ in 0..4 {
            match state.decode(&mut buf) {
                Err(_) => failed = true,
                Ok(Decoded::More) | Ok(Decoded::End) => break,
                Ok(_) => continue,
            }
            break;
        }
        assert!(failed, "{:?} must be rejected", String::from_utf8_lossy(bad));
    }
}

fn forwarded(trusted: bool) -> Forwarded<'static> {
    Forwarded {
        client_ip: "10.0.0.7".parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        peer_ip: "10.0.0.7".parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        trusted,
        scheme: "https",
        host: "api.test",
        port: 8443,
        path: "/v1/a",
        prefix: Some("/v1"),
        request_id: Some("0123abcd"),
        via: b"1.1 gatehouse/test",
    }
}

/// The header lines of an encoded head, as a map.
fn encoded_headers(head: &[u8]) -> HeaderMap {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut slots);
    assert!(matches!(request.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()));
    let mut map = HeaderMap::new();
    for h in request.headers.iter() {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(h.name.as_bytes()), HeaderValue::from_bytes(h.value)) {
            map.append(name, value);
        }
    }
    map
}

#[test]
fn request_heads_carry_the_framing_they_need() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("a.test"));
    let plain = Forwarded { request_id: None, ..forwarded(false) };
    assert_eq!(request_framing(&headers, true, Some(0)), (Framing::Empty, &b""[..]));
    let (framing, extra) = request_framing(&headers, false, None);
    assert_eq!(framing, Framing::Chunked);
    let mut out = Vec::new();
    let post = Head { method: &Method::POST, path: "/a?b=1", headers: &headers };
    encode_request_head(&mut out, &post, &plain, (extra, 0));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("POST /a?b=1 HTTP/1.1\r\nhost: a.test\r\n"), "{text}");
    assert!(text.ends_with("\r\ntransfer-encoding: chunked\r\n\r\n"), "{text}");
    let (framing, extra) = request_framing(&headers, false, Some(12));
    assert_eq!(framing, Framing::Length(12));
    out.clear();
    encode_request_head(&mut out, &Head { method: &Method::PUT, path: "", ..post }, &plain, (extra, 12));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("PUT / HTTP/1.1\r\n") && text.ends_with("\r\ncontent-length: 12\r\n\r\n"), "{text}");
    headers.insert("content-length", HeaderValue::from_static("7"));
    assert_eq!(request_framing(&headers, false, None), (Framing::Length(7), &b""[..]));
    out.clear();
    chunk_prefix(&mut out, 255);
    assert_eq!(out, b"ff\r\n");
}

#[test]
fn encoded_forwarding_headers_match_the_header_map_path() {
    for trusted in [false, true] {
        let mut client = HeaderMap::new();
        client.insert("host", HeaderValue::from_static("api.test"));
        client.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        client.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        client.insert("x-kong-request-id", HeaderValue::from_static("spoofed"));
        client.insert("x-forwarded-prefix", HeaderValue::from_static("/spoofed"));
        client.insert("x-other", HeaderValue::from_static("kept"));
        client.insert("via", HeaderValue::from_static("1.0 fred"));
        let f = forwarded(trusted);
        let mut out = Vec::new();
        encode_request_head(&mut out, &Head { method: &Method::GET, path: "/", headers: &client }, &f, (b"", 0));
        let encoded = encoded_headers(&out);
        let mut mapped = client.clone();
        crate::headers::set_forwarded(&mut mapped, &f);
        assert_eq!(encoded, mapped, "trusted = {trusted}");
        assert_eq!(encoded["x-forwarded-for"], "1.2.3.4, 10.0.0.7", "extended either way, as Kong does");
        assert_eq!(encoded["x-forwarded-proto"], if trusted { "http" } else { "https" });
        assert_eq!(encoded["x-forwarded-prefix"], if trusted { "/spoofed" } else { "/v1" });
        assert_eq!(encoded["x-forwarded-port"], "8443");
        assert_eq!(encoded["x-real-ip"], "10.0.0.7");
        assert_eq!(encoded["x-kong-request-id"], "0123abcd", "the proxy's request id replaces the client's");
        assert_eq!(encoded.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(encoded["x-other"], "kept");
        assert_eq!(encoded["via"], "1.0 fred, 1.1 gatehouse/test", "Kong 3.8+ adds itself to Via");
    }
}

#[test]
fn hop_by_hop_headers_stop_at_the_parser() {
    let parsed = head(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nx-hop: 1\r\nx-keep: 1\r\n\
         Transfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n",
    );
    assert_eq!(parsed.fields.lines(), b"x-keep: 1\r\n", "what the Connection header lists goes too");
    assert_eq!(parsed.framing, Framing::Chunked, "framing is read before the headers go");
    assert!(parsed.keep_alive);
    let closing = head("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    assert!(!closing.keep_alive && closing.fields.lines().is_empty());
    let switching = head("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(switching.fields.into_map().len(), 2, "a tunnel's headers stay");
}
