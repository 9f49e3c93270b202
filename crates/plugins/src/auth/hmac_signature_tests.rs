//! Tests of [`super`]. Expected signatures come from `openssl dgst -hmac` and RFC 2202/4231.

use super::*;
use http::{Request, Version};

/// `Thu, 01 Jan 2026 00:00:00 GMT`.
const NOW: i64 = 1_767_225_600;
const DATE: &str = "Thu, 01 Jan 2026 00:00:00 GMT";
const ALL: [&str; 4] = ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"];
const NONE: [&str; 0] = [];

/// `printf 'date: Thu, 01 Jan 2026 00:00:00 GMT\nGET /requests?a=1&b=%20 HTTP/1.1' |
/// openssl dgst -<alg> -hmac secret -binary | base64`.
const DATE_AND_REQUEST_LINE: [(&str, &str); 4] = [
    ("hmac-sha1", "JG4JiD+qrcZ74o5abmTsGhU756k="),
    ("hmac-sha256", "qlOUbQma62ardRPIU5rijYTsHX2OLUo5ZI2nIavN78g="),
    ("hmac-sha384", "SVlxR2IYmoWsKWZ88a40dcJCueUOhkK2/MEKbF7vd27RXeL7tQh/oYMsKI+YMeEE"),
    ("hmac-sha512", "spd9Rim9o4vHsB6kLH/BGZkg2YNZVNfUSB8D21nQorgSQznkigTICvhxpyEHxuyNC0+zJDCqmYAwo/iVog3uAw=="),
];

/// `openssl dgst -sha256 -binary` of `hello world`, base64.
const HELLO_DIGEST: &str = "SHA-256=uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";

fn request(method: &str, uri: &str, version: Version, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = Request::builder().method(method).uri(uri).version(version);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

fn authorization(algorithm: &str, headers: &str, signature: &str) -> String {
    format!(r#"hmac username="bob", algorithm="{algorithm}", headers="{headers}", signature="{signature}""#)
}

/// Kong's whole flow with a credential `bob` / `secret`.
fn authenticate(req: &http::request::Parts, enforce: &[&str], body: Option<Option<&[u8]>>) -> Result<(), HmacFailure> {
    let (params, algorithm) = precheck(req, 300.0, enforce, &ALL, NOW).result?;
    if params.username != "bob" {
        return Err(HmacFailure::UnknownCredential);
    }
    verify_request(&params, algorithm, b"secret", req)?;
    body.map_or(Ok(()), |body| check_body(req, body))
}

#[test]
fn messages_and_statuses() {
    assert_eq!(HmacFailure::NoCredentials.message(), "Unauthorized");
    assert_eq!(HmacFailure::NoCredentials.to_string(), UNAUTHORIZED);
    assert_eq!(
        HmacFailure::ClockSkew.to_string(),
        "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
    );
    assert_eq!(HmacFailure::ClockSkew.message(), DATE_REQUIRED);
    let invalid = HmacFailure::InvalidParams(ParamsError::Missing);
    assert_eq!((invalid.message(), invalid.to_string().as_str()), (SIGNATURE_NOT_VALID, SIGNATURE_NOT_VALID));
    assert_eq!(HmacFailure::UnknownCredential.message(), "HMAC signature cannot be verified");
    assert_eq!(HmacFailure::SignatureMismatch.message(), "HMAC signature does not match");
    assert_eq!(HmacFailure::DigestMismatch.to_string(), SIGNATURE_NOT_SAME);
    assert_eq!(HmacFailure::DigestMismatch.status(), 401);
    assert_eq!(ParamsError::Algorithm("hmac-md5".into()).to_string(), "algorithm hmac-md5 not supported");
    assert_eq!(www_authenticate(None), "hmac");
    assert_eq!(www_authenticate(Some("test-realm")), r#"hmac realm="test-realm""#);
}

#[test]
fn parses_credentials() {
    let value = authorization("hmac-sha1", "date request-line", "c2ln");
    let params = parse_authorization(&value).unwrap();
    assert_eq!(
        params,
        HmacParams {
            username: "bob",
            algorithm: "hmac-sha1",
            headers: vec!["date", "request-line"],
            signature: "c2ln"
        }
    );
    // Spacing, case of "Hmac" and junk before the scheme are tolerated (the pattern is unanchored).
    for value in [
        r#"hmac username="bob",algorithm="hmac-sha1",headers="date",signature="c2ln""#,
        r#"Hmac   username="bob",  algorithm="hmac-sha1",	headers="date",  signature="c2ln""#,
        r#""hmac username="bob",algorithm="hmac-sha1",headers="date",signature="c2ln""#,
        r#"xhmacusername="bob",algorithm="hmac-sha1",headers="date",signature="c2ln"trailing"#,
    ] {
        let params = parse_authorization(value).unwrap_or_else(|| panic!("{value}"));
        assert_eq!((params.username, params.headers, params.signature), ("bob", vec!["date"], "c2ln"));
    }
    for value in [
        "hmac username",
        "hmac username=,algorithm,",
        r#"hmac username="", algorithm="hmac-sha1", headers="date", signature="c2ln""#,
        r#"hmac username="bob", algorithm="hmac-sha1", wrong_header="date", signature="c2ln""#,
        r#"hmac username="bob", algorithm="hmac-sha1", headers="date", wrong_signature="c2ln""#,
        r#"hmac username="bob", algorithm="hmac-sha1" headers="date", signature="c2ln""#,
        r#"hmac username="bob", algorithm="hmac-sha1", headers="date""#,
        r#"Basic username="bob", algorithm="hmac-sha1", headers="date", signature="c2ln""#,
        "hmac username=\"bob\",\nalgorithm=\"hmac-sha1\", headers=\"date\", signature=\"c2\nln\"",
    ] {
        assert_eq!(parse_authorization(value), None, "{value}");
    }
    // Greedy captures, as PCRE's: the first field takes everything it can.
    let doubled = format!("{}, {}", authorization("a", "b", "c"), authorization("x", "y", "z"));
    let params = parse_authorization(&doubled).unwrap();
    assert_eq!(params.username, r#"bob", algorithm="a", headers="b", signature="c", hmac username="bob"#);
    assert_eq!((params.algorithm, params.headers, params.signature), ("x", vec!["y"], "z"));
    let value = authorization("hmac-sha1", "date", r#"c2ln", extra="1"#);
    let params = parse_authorization(&value).unwrap();
    assert_eq!(params.signature, r#"c2ln", extra="1"#);
}

#[test]
fn splits_headers_like_penlight() {
    assert_eq!(split_headers("date"), ["date"]);
    assert_eq!(split_headers("date  request-line"), ["date", "", "request-line"]);
    assert_eq!(split_headers("date "), ["date", ""]);
    assert_eq!(split_headers("date  "), ["date", "", ""]);
    assert_eq!(split_headers(" date"), ["", "date"]);
    assert_eq!(split_headers(" "), [""]);
    assert_eq!(split_headers("  "), ["", "", ""]);
}

#[test]
fn proxy_authorization_comes_first() {
    let good = authorization("hmac-sha1", "date", "c2ln");
    let other = good.replace("bob", "alice");
    let (params, header) = select_params(Some(&good), Some(&other));
    assert_eq!((params.unwrap().username, header), ("alice", CredentialHeader::ProxyAuthorization));
    let (params, header) = select_params(Some(&good), Some("hmac username"));
    assert_eq!((params.unwrap().username, header), ("bob", CredentialHeader::Authorization));
    assert_eq!(select_params(None, Some("junk")), (None, CredentialHeader::Authorization));
    assert_eq!(CredentialHeader::ProxyAuthorization.name(), "proxy-authorization");
    assert_eq!(CredentialHeader::Authorization.name(), "authorization");
}

#[test]
fn validates_params() {
    let value = authorization("hmac-sha256", "date request-line", "c2ln");
    let params = parse_authorization(&value).unwrap();
    assert_eq!(validate_params(Some(&params), &NONE, &ALL), Ok(HmacAlgorithm::Sha256));
    assert_eq!(validate_params(None, &NONE, &ALL), Err(ParamsError::Missing));
    let enforced = ["date", "request-line"];
    assert_eq!(validate_params(Some(&params), &enforced, &ALL), Ok(HmacAlgorithm::Sha256));
    let enforced = vec!["date".to_owned(), "content-md5".to_owned()];
    assert_eq!(validate_params(Some(&params), &enforced, &ALL), Err(ParamsError::EnforcedHeader));
    // Header names are compared exactly.
    assert_eq!(validate_params(Some(&params), &["Date"], &ALL), Err(ParamsError::EnforcedHeader));
    let only_sha1 = ["hmac-sha1"];
    let err = validate_params(Some(&params), &NONE, &only_sha1).unwrap_err();
    assert_eq!(err.to_string(), "algorithm hmac-sha256 not supported");
    let value = authorization("hmac-sha", "date", "c2ln");
    let params = parse_authorization(&value).unwrap();
    assert_eq!(validate_params(Some(&params), &NONE, &ALL), Err(ParamsError::Algorithm("hmac-sha".into())));
    for alg in HmacAlgorithm::ALL {
        assert_eq!(HmacAlgorithm::from_name(alg.as_str()), Some(alg));
    }
    assert_eq!(HmacAlgorithm::from_name("HMAC-SHA1"), None);
}

#[test]
fn parses_http_dates_like_nginx() {
    let parse = |s: &str| parse_http_time(s.as_bytes());
    assert_eq!(parse(DATE), Some(NOW));
    assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
    assert_eq!(parse("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
    assert_eq!(parse("Sun Nov 06 08:49:37 1994"), Some(784_111_777));
    assert_eq!(parse("Thu, 29 Feb 2024 23:59:59 GMT"), Some(1_709_251_199));
    assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    // Weekday and zone are not checked; extra spaces after the comma are skipped.
    assert_eq!(parse("Xyz, 01 Jan 2026 00:00:00 UTC"), Some(NOW));
    assert_eq!(parse("Thu,    01 Jan 2026 00:00:00"), Some(NOW));
    for bad in [
        "",
        "wrong date",
        "Thu, 1 Jan 2026 00:00:00 GMT",
        "Thu, 01 Xan 2026 00:00:00 GMT",
        "Thu, 01 Jan 2026 24:00:00 GMT",
        "Thu, 01 Jan 2026 00:60:00 GMT",
        "Thu, 32 Jan 2026 00:00:00 GMT",
        "Sun, 29 Feb 2026 00:00:00 GMT",
        "Mon, 29 Feb 2100 00:00:00 GMT",
        "Thu, 01-Jan-2026 00:00:00 GMT",
        "Thu, 01 Jan 2026 00.00.00 GMT",
        "Thu, 01 Jan 2026 00:00",
        "2026-01-01T00:00:00Z",
    ] {
        assert_eq!(parse(bad), None, "{bad}");
    }
    // Cross-check with the strict parser on well-formed dates.
    for secs in [0u64, 784_111_777, 951_782_400, 1_709_251_199, 1_767_225_600, 4_102_444_800] {
        let text = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(parse(&text), Some(secs as i64), "{text}");
    }
}

#[test]
fn clock_skew_uses_x_date_then_date() {
    let skew =
        |headers: &[(&str, &str)]| validate_clock_skew(&request("GET", "/", Version::HTTP_11, headers), 300.0, NOW);
    assert!(skew(&[("date", DATE)]));
    assert!(skew(&[("x-date", DATE)]));
    assert!(skew(&[("x-date", "wrong date"), ("date", DATE)]));
    assert!(skew(&[("x-date", DATE), ("date", "wrong date")]));
    assert!(!skew(&[("date", "wrong date")]));
    assert!(!skew(&[]));
    assert!(skew(&[("date", "Wed, 31 Dec 2025 23:55:00 GMT")]));
    assert!(!skew(&[("date", "Wed, 31 Dec 2025 23:54:59 GMT")]));
    assert!(skew(&[("date", "Thu, 01 Jan 2026 00:05:00 GMT")]));
    assert!(!skew(&[("date", "Thu, 01 Jan 2026 00:05:01 GMT")]));
    // Only the first value of a repeated header counts.
    assert!(!skew(&[("date", "wrong date"), ("date", DATE)]));
}

#[test]
fn builds_the_signing_string() {
    let req = request(
        "POST",
        "/hello.HelloService/SayHello?x=%2F",
        Version::HTTP_2,
        &[("date", DATE), ("Content-MD5", "md5"), ("x-multi", "one"), ("x-multi", "two")],
    );
    let text = |headers: &[&str]| String::from_utf8(signing_string(headers, &req)).unwrap();
    assert_eq!(text(&["date"]), format!("date: {DATE}"));
    assert_eq!(text(&["Date", "content-md5"]), format!("Date: {DATE}\ncontent-md5: md5"));
    assert_eq!(text(&["request-line"]), "POST /hello.HelloService/SayHello?x=%2F HTTP/2.0");
    assert_eq!(text(&["@request-target"]), "@request-target: post /hello.HelloService/SayHello?x=%2F");
    assert_eq!(text(&["x-missing", "", "x-multi"]), "x-missing:\n:\nx-multi: one");
    let req = request("GET", "/", Version::HTTP_10, &[("request-line", "sent")]);
    assert_eq!(signing_string(&["request-line"], &req), b"request-line: sent");
    assert_eq!(http_version_number(Version::HTTP_11), "1.1");
    assert_eq!(http_version_number(Version::HTTP_10), "1.0");
    assert_eq!(http_version_number(Version::HTTP_09), "0.9");
    assert_eq!(http_version_number(Version::HTTP_3), "3.0");
}

#[test]
fn hmac_matches_rfc_vectors() {
    let data = b"what do ya want for nothing?";
    let cases = [
        (HmacAlgorithm::Sha1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (HmacAlgorithm::Sha256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (
            HmacAlgorithm::Sha384,
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            HmacAlgorithm::Sha512,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];
    for (alg, expected) in cases {
        let expected = hex::decode(expected).unwrap();
        assert_eq!(sign(alg, b"Jefe", data), expected);
        assert!(verify(alg, b"Jefe", data, &expected));
        assert!(!verify(alg, b"jefe", data, &expected));
        assert!(!verify(alg, b"Jefe", data, &expected[1..]));
    }
}

#[test]
fn decodes_signatures_like_ngx_decode_base64() {
    assert_eq!(decode_signature("c2ln").unwrap(), b"sig");
    assert_eq!(decode_signature("c2k=").unwrap(), b"si");
    assert_eq!(decode_signature("c2k").unwrap(), b"si");
    assert_eq!(decode_signature("c2k=ignored").unwrap(), b"si");
    assert_eq!(decode_signature("+/8=").unwrap(), [0xfb, 0xff]);
    assert_eq!(decode_signature("-_8"), None);
    assert_eq!(decode_signature("not really a base64 encoded value!!!"), None);
}

#[test]
fn accepts_valid_signatures_for_every_algorithm() {
    for (algorithm, signature) in DATE_AND_REQUEST_LINE {
        let value = authorization(algorithm, "date request-line", signature);
        for header in ["authorization", "proxy-authorization"] {
            let req = request("GET", "/requests?a=1&b=%20", Version::HTTP_11, &[("date", DATE), (header, &value)]);
            assert_eq!(authenticate(&req, &["date", "request-line"], None), Ok(()), "{algorithm} {header}");
            let pre = precheck(&req, 300.0, &NONE, &ALL, NOW);
            let hidden = if header == "authorization" {
                CredentialHeader::Authorization
            } else {
                CredentialHeader::ProxyAuthorization
            };
            assert_eq!(pre.credential_header, Some(hidden));
        }
        // The same signature does not hold for another request line, version or secret.
        let req = request("GET", "/requests?a=1&b=%21", Version::HTTP_11, &[("date", DATE), ("authorization", &value)]);
        assert_eq!(authenticate(&req, &NONE, None), Err(HmacFailure::SignatureMismatch));
        let req = request("GET", "/requests?a=1&b=%20", Version::HTTP_10, &[("date", DATE), ("authorization", &value)]);
        assert_eq!(authenticate(&req, &NONE, None), Err(HmacFailure::SignatureMismatch));
        let req = request("GET", "/requests?a=1&b=%20", Version::HTTP_11, &[("date", DATE), ("authorization", &value)]);
        let (params, alg) = precheck(&req, 300.0, &NONE, &ALL, NOW).result.unwrap();
        assert_eq!(verify_request(&params, alg, b"other", &req), Err(HmacFailure::SignatureMismatch));
    }
}

#[test]
fn rejects_each_failure_mode() {
    let sha1 = DATE_AND_REQUEST_LINE[0].1;
    let good = authorization("hmac-sha1", "date request-line", sha1);
    let run = |headers: &[(&str, &str)], enforce: &[&str]| {
        authenticate(&request("GET", "/requests?a=1&b=%20", Version::HTTP_11, headers), enforce, None)
    };
    assert_eq!(run(&[("date", DATE)], &[]), Err(HmacFailure::NoCredentials));
    assert_eq!(run(&[("authorization", &good)], &[]), Err(HmacFailure::ClockSkew));
    assert_eq!(
        run(&[("authorization", &good), ("date", "Thu, 01 Jan 2026 01:00:00 GMT")], &[]),
        Err(HmacFailure::ClockSkew)
    );
    let missing = Err(HmacFailure::InvalidParams(ParamsError::Missing));
    assert_eq!(run(&[("authorization", "hmac username"), ("date", DATE)], &[]), missing);
    assert_eq!(run(&[("proxy-authorization", "hmac username"), ("date", DATE)], &[]), missing);
    let enforced = Err(HmacFailure::InvalidParams(ParamsError::EnforcedHeader));
    assert_eq!(run(&[("authorization", &good), ("date", DATE)], &["date", "content-md5"]), enforced);
    let sha = authorization("hmac-sha", "date request-line", sha1);
    let unsupported = Err(HmacFailure::InvalidParams(ParamsError::Algorithm("hmac-sha".into())));
    assert_eq!(run(&[("authorization", &sha), ("date", DATE)], &[]), unsupported);
    let bobb = good.replace("\"bob\"", "\"bobb\"");
    assert_eq!(run(&[("authorization", &bobb), ("date", DATE)], &[]), Err(HmacFailure::UnknownCredential));
    let wrong_alg = authorization("hmac-sha256", "date request-line", sha1);
    assert_eq!(run(&[("authorization", &wrong_alg), ("date", DATE)], &[]), Err(HmacFailure::SignatureMismatch));
    let not_base64 = authorization("hmac-sha1", "date", "not really a base64 encoded value!!!");
    assert_eq!(run(&[("authorization", &not_base64), ("date", DATE)], &[]), Err(HmacFailure::SignatureMismatch));
    // The date is signed: an x-date that passes the skew check does not replace it.
    let headers = [("authorization", good.as_str()), ("date", "Thu, 01 Jan 2026 00:00:01 GMT")];
    assert_eq!(run(&headers, &[]), Err(HmacFailure::SignatureMismatch));
}

#[test]
fn validates_the_body_digest() {
    let hello: &[u8] = b"hello world";
    assert!(validate_body(None, Some(b"")));
    assert!(!validate_body(None, Some(hello)));
    assert!(!validate_body(None, None));
    assert!(validate_body(Some(HELLO_DIGEST.as_bytes()), Some(hello)));
    assert!(!validate_body(Some(HELLO_DIGEST.as_bytes()), Some(b"hello worlds")));
    assert!(!validate_body(Some(format!("{HELLO_DIGEST}spoofed").as_bytes()), Some(hello)));
    assert!(!validate_body(Some(HELLO_DIGEST.to_lowercase().as_bytes()), Some(hello)));
    assert!(!validate_body(Some(HELLO_DIGEST.as_bytes()), None));
    let empty = format!("SHA-256={}", STANDARD.encode(Sha256::digest(b"")));
    assert!(validate_body(Some(empty.as_bytes()), Some(b"")));

    // Full flow: x-date signed with content-md5, @request-target and the digest (openssl-computed).
    let signed = "x-date content-md5 @request-target digest";
    let value = authorization("hmac-sha256", signed, "0L+nI1dD0SDD7ICgNWkcZQ1JbeBXRzWkuD4rI02Am78=");
    let mut headers = vec![("x-date", DATE), ("content-md5", "md5"), ("authorization", &value)];
    let uri = "/hello.HelloService/SayHello";
    let req = request("POST", uri, Version::HTTP_2, &headers);
    assert_eq!(authenticate(&req, &[], None), Err(HmacFailure::SignatureMismatch));
    headers.push(("digest", HELLO_DIGEST));
    let req = request("POST", uri, Version::HTTP_2, &headers);
    assert_eq!(authenticate(&req, &["digest"], None), Ok(()));
    assert_eq!(authenticate(&req, &["digest"], Some(Some(hello))), Ok(()));
    assert_eq!(authenticate(&req, &[], Some(Some(b"tampered"))), Err(HmacFailure::DigestMismatch));
    assert_eq!(authenticate(&req, &[], Some(None)), Err(HmacFailure::DigestMismatch));
    assert_eq!(check_body(&request("GET", "/", Version::HTTP_11, &[]), Some(b"")), Ok(()));
    assert_eq!(check_body(&request("GET", "/", Version::HTTP_11, &[]), Some(hello)), Err(HmacFailure::DigestMismatch));
}
