//! Header names as Kong writes them on HTTP/1.1. nginx sends its own headers capitalised
//! (`Content-Length`, `Date`) and Kong's constants spell its own (`X-Kong-Upstream-Latency`,
//! `X-Consumer-ID`, `X-RateLimit-Remaining`), so `curl -i | grep X-Kong-Request-Id` finds them. Header
//! maps hold names in lower case; they are written back in that spelling, not as stored. Relayed upstream
//! fields keep the upstream's own spelling and never come here.

/// Names whose spelling is not the capitalised form of their words.
const SPELLINGS: &[(&str, &str)] = &[
    ("etag", "ETag"),
    ("www-authenticate", "WWW-Authenticate"),
    ("x-consumer-id", "X-Consumer-ID"),
    ("x-consumer-custom-id", "X-Consumer-Custom-ID"),
    ("x-real-ip", "X-Real-IP"),
    ("content-md5", "Content-MD5"),
    ("te", "TE"),
    ("x-xss-protection", "X-XSS-Protection"),
];

/// Appends `name`, a lower-case header name, as Kong writes it: each word capitalised, `ratelimit` as
/// `RateLimit` (the rate-limiting plugins' `X-RateLimit-Limit-Minute`, `RateLimit-Reset`), and the
/// names of [`SPELLINGS`] as listed.
pub(crate) fn extend_name(dst: &mut Vec<u8>, name: &str) {
    if let Some((_, spelled)) = SPELLINGS.iter().find(|(lower, _)| *lower == name) {
        dst.extend_from_slice(spelled.as_bytes());
        return;
    }
    for (i, word) in name.split('-').enumerate() {
        if i > 0 {
            dst.push(b'-');
        }
        if word == "ratelimit" {
            dst.extend_from_slice(b"RateLimit");
            continue;
        }
        let bytes = word.as_bytes();
        if let Some((first, rest)) = bytes.split_first() {
            dst.push(first.to_ascii_uppercase());
            dst.extend_from_slice(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::extend_name;

    fn spelled(name: &str) -> String {
        let mut dst = Vec::new();
        extend_name(&mut dst, name);
        String::from_utf8(dst).expect("utf-8")
    }

    #[test]
    fn names_are_spelled_as_kong_and_nginx_spell_them() {
        let cases = [
            ("content-type", "Content-Type"),
            ("x-kong-upstream-latency", "X-Kong-Upstream-Latency"),
            ("x-kong-request-id", "X-Kong-Request-Id"),
            ("via", "Via"),
            ("x-consumer-id", "X-Consumer-ID"),
            ("x-ratelimit-remaining-minute", "X-RateLimit-Remaining-Minute"),
            ("ratelimit-reset", "RateLimit-Reset"),
            ("www-authenticate", "WWW-Authenticate"),
            ("etag", "ETag"),
            ("x-custom--odd-", "X-Custom--Odd-"),
            ("1-a", "1-A"),
        ];
        for (lower, expected) in cases {
            assert_eq!(spelled(lower), expected, "{lower}");
        }
    }
}
