//! Credential checks of Kong's `hmac-auth` plugin, without I/O.
//!
//! Mirrors `kong/plugins/hmac-auth/access.lua`: parsing the `hmac username=...` credentials,
//! the clock skew, `enforce_headers` and `algorithms` checks, the signing string, the signature
//! comparison and the `Digest` body validation. The request is read through [`HmacRequest`].
//!
//! Kong's flow, which the handler reproduces with these pieces:
//! 1. [`precheck`] (no credentials → `Unauthorized`, clock skew, parameters; it also says which
//!    header `hide_credentials` removes),
//! 2. the credential lookup by `username` (missing → [`HmacFailure::UnknownCredential`]),
//! 3. [`verify_request`] (signature), then [`check_body`] when `validate_request_body` is set.

use std::sync::LazyLock;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use regex::Regex;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Message when neither `Authorization` nor `Proxy-Authorization` is present.
pub const UNAUTHORIZED: &str = "Unauthorized";
/// Message for unparsable or disallowed credentials and unknown usernames.
pub const SIGNATURE_NOT_VALID: &str = "HMAC signature cannot be verified";
/// Message for a wrong signature or body digest.
pub const SIGNATURE_NOT_SAME: &str = "HMAC signature does not match";
/// Message when neither `X-Date` nor `Date` is a date within the allowed clock skew.
pub const DATE_REQUIRED: &str =
    "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication";

/// The digest algorithms of the plugin's `algorithms` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HmacAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HmacAlgorithm {
    /// Every algorithm, in the order of Kong's schema (also its default `algorithms`).
    pub const ALL: [HmacAlgorithm; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    /// Parses `hmac-sha1`, `hmac-sha256`, `hmac-sha384` or `hmac-sha512` (case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// The name used in headers and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "hmac-sha1",
            Self::Sha256 => "hmac-sha256",
            Self::Sha384 => "hmac-sha384",
            Self::Sha512 => "hmac-sha512",
        }
    }
}

/// Why the plugin rejects a request. `Display` is the message Kong sends (always with a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HmacFailure {
    /// Neither `Authorization` nor `Proxy-Authorization` is present.
    #[error("Unauthorized")]
    NoCredentials,
    /// No `X-Date`/`Date` within `clock_skew` seconds of now.
    #[error("HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication")]
    ClockSkew,
    /// Credentials unparsable, an enforced header unsigned, or an algorithm not allowed
    /// (the reason is what Kong logs at debug level).
    #[error("HMAC signature cannot be verified")]
    InvalidParams(ParamsError),
    /// No credential has this username.
    #[error("HMAC signature cannot be verified")]
    UnknownCredential,
    /// The signature differs from the one computed with the credential's secret.
    #[error("HMAC signature does not match")]
    SignatureMismatch,
    /// `validate_request_body` is set and the `Digest` header does not match the body.
    #[error("HMAC signature does not match")]
    DigestMismatch,
}

impl HmacFailure {
    /// HTTP status Kong answers with.
    pub fn status(&self) -> u16 {
        401
    }

    /// Kong's `message` (the body is `{"message": ...}`).
    pub fn message(&self) -> &'static str {
        match self {
            Self::NoCredentials => UNAUTHORIZED,
            Self::ClockSkew => DATE_REQUIRED,
            Self::InvalidParams(_) | Self::UnknownCredential => SIGNATURE_NOT_VALID,
            Self::SignatureMismatch | Self::DigestMismatch => SIGNATURE_NOT_SAME,
        }
    }
}

/// Why `validate_params` refuses the credentials (Kong's debug log text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// The header did not match Kong's pattern.
    #[error("username or signature missing")]
    Missing,
    /// A header of `enforce_headers` is not in the signed `headers`.
    #[error("enforced header not used for signature creation")]
    EnforcedHeader,
    /// The algorithm is not in the plugin's `algorithms`.
    #[error("algorithm {0} not supported")]
    Algorithm(String),
}

/// `WWW-Authenticate` value Kong sends: `hmac` or `hmac realm="<realm>"`.
pub fn www_authenticate(realm: Option<&str>) -> String {
    match realm {
        Some(realm) => format!("hmac realm=\"{realm}\""),
        None => "hmac".to_owned(),
    }
}

/// What the plugin reads from a request.
pub trait HmacRequest {
    /// The method as received (`GET`, ...).
    fn method(&self) -> &str;
    /// The request target as received, path and query, not normalized (nginx's `$request_uri`).
    fn request_uri(&self) -> &str;
    /// The HTTP version of the request.
    fn http_version(&self) -> http::Version;
    /// The first value of a header, looked up case-insensitively; `None` for invalid names.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl HmacRequest for http::request::Parts {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn request_uri(&self) -> &str {
        self.uri.path_and_query().map_or("/", |pq| pq.as_str())
    }

    fn http_version(&self) -> http::Version {
        self.version
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(http::HeaderValue::as_bytes)
    }
}

/// Credentials parsed from an `Authorization` or `Proxy-Authorization` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacParams<'a> {
    /// The credential's username.
    pub username: &'a str,
    /// The algorithm name as sent (checked by [`validate_params`]).
    pub algorithm: &'a str,
    /// The signed header names, as sent (split on single spaces like Penlight's `split`).
    pub headers: Vec<&'a str>,
    /// The base64 signature as sent (decoded when compared).
    pub signature: &'a str,
}

/// Kong's pattern: PCRE `\s` is ASCII whitespace (with VT); `.` is anything but `\n`; greedy
/// captures with backtracking, unanchored.
static HMAC_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    let s = r"[\t\n\x0B\x0C\r ]*";
    Regex::new(&format!(r#"{s}[Hh]mac{s}username="(.+)",{s}algorithm="(.+)",{s}headers="(.+)",{s}signature="(.+)""#))
        .expect("valid pattern")
});

/// `pl.stringx.split(s, " ")`: empty fields are kept, a trailing separator adds an empty field.
fn split_headers(value: &str) -> Vec<&str> {
    let mut fields: Vec<&str> = value.split(' ').collect();
    if fields.last() == Some(&"") {
        fields.pop();
        if fields.len() == 1 && fields[0].is_empty() {
            fields.clear();
        }
        fields.push("");
    }
    fields
}

/// `retrieve_hmac_fields`: `hmac username="..", algorithm="..", headers="..", signature=".."`.
pub fn parse_authorization(value: &str) -> Option<HmacParams<'_>> {
    let captures = HMAC_PATTERN.captures(value)?;
    let field = |i| captures.get(i).map_or("", |m| m.as_str());
    Some(HmacParams { username: field(1), algorithm: field(2), headers: split_headers(field(3)), signature: field(4) })
}

/// Which header holds the credentials, i.e. the one `hide_credentials` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialHeader {
    /// `Authorization`.
    Authorization,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
}

impl CredentialHeader {
    /// The lowercase header name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::ProxyAuthorization => "proxy-authorization",
        }
    }
}

/// Parses `Proxy-Authorization` first, then `Authorization` (Kong's order). The header returned
/// is the one to clear with `hide_credentials`: `Authorization` whenever `Proxy-Authorization`
/// did not parse, even if neither did.
pub fn select_params<'a>(
    authorization: Option<&'a str>,
    proxy_authorization: Option<&'a str>,
) -> (Option<HmacParams<'a>>, CredentialHeader) {
    match proxy_authorization.and_then(parse_authorization) {
        Some(params) => (Some(params), CredentialHeader::ProxyAuthorization),
        None => (authorization.and_then(parse_authorization), CredentialHeader::Authorization),
    }
}

/// `validate_params`: credentials present, every `enforce_headers` entry signed, and the
/// algorithm listed in `algorithms`.
pub fn validate_params(
    params: Option<&HmacParams<'_>>,
    enforce_headers: &[impl AsRef<str>],
    algorithms: &[impl AsRef<str>],
) -> Result<HmacAlgorithm, ParamsError> {
    let params = params.ok_or(ParamsError::Missing)?;
    if enforce_headers.iter().any(|enforced| !params.headers.contains(&enforced.as_ref())) {
        return Err(ParamsError::EnforcedHeader);
    }
    algorithms
        .iter()
        .find(|allowed| allowed.as_ref() == params.algorithm)
        .and_then(|allowed| HmacAlgorithm::from_name(allowed.as_ref()))
        .ok_or_else(|| ParamsError::Algorithm(params.algorithm.to_owned()))
}

/// `ngx_parse_http_time`: RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) dates, as leniently
/// as nginx (the weekday and the zone are not checked). Returns seconds since the epoch.
pub fn parse_http_time(value: &[u8]) -> Option<i64> {
    const MDAY: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    #[derive(PartialEq)]
    enum Fmt {
        Unknown,
        Rfc822,
        Rfc850,
        Isoc,
    }
    let end = value.len();
    let at = |i: usize| value.get(i).copied().unwrap_or(0);
    let digits = |i: usize, n: usize| -> Option<i64> {
        (i..i + n).try_fold(0, |acc, j| at(j).is_ascii_digit().then(|| acc * 10 + i64::from(at(j) - b'0')))
    };
    let mut fmt = Fmt::Unknown;
    let mut p = value.iter().position(|&c| c == b',' || c == b' ').unwrap_or(end);
    if at(p) == b' ' {
        fmt = Fmt::Isoc;
    }
    p += 1;
    while p < end && value[p] == b' ' {
        p += 1;
    }
    if end.saturating_sub(p) < 18 {
        return None;
    }
    let mut day = 0;
    if fmt != Fmt::Isoc {
        day = digits(p, 2)?;
        p += 2;
        fmt = match at(p) {
            b' ' if end.saturating_sub(p) >= 18 => Fmt::Rfc822,
            b'-' => Fmt::Rfc850,
            _ => return None,
        };
        p += 1;
    }
    let month: i64 = match at(p) {
        b'J' if at(p + 1) == b'a' => 0,
        b'J' if at(p + 2) == b'n' => 5,
        b'J' => 6,
        b'F' => 1,
        b'M' if at(p + 2) == b'r' => 2,
        b'M' => 4,
        b'A' if at(p + 1) == b'p' => 3,
        b'A' => 7,
        b'S' => 8,
        b'O' => 9,
        b'N' => 10,
        b'D' => 11,
        _ => return None,
    };
    p += 3;
    if (fmt == Fmt::Rfc822 && at(p) != b' ') || (fmt == Fmt::Rfc850 && at(p) != b'-') {
        return None;
    }
    p += 1;
    let mut year = 0;
    if fmt == Fmt::Rfc822 {
        year = digits(p, 4)?;
        p += 4;
    } else if fmt == Fmt::Rfc850 {
        year = digits(p, 2)?;
        year += if year < 70 { 2000 } else { 1900 };
        p += 2;
    } else {
        if at(p) == b' ' {
            p += 1;
        }
        day = digits(p, 1)?;
        p += 1;
        if at(p) != b' ' {
            day = day * 10 + digits(p, 1)?;
            p += 1;
        }
        if end.saturating_sub(p) < 14 {
            return None;
        }
    }
    if at(p) != b' ' {
        return None;
    }
    let hour = digits(p + 1, 2)?;
    let min = if at(p + 3) == b':' { digits(p + 4, 2)? } else { return None };
    let sec = if at(p + 6) == b':' { digits(p + 7, 2)? } else { return None };
    if fmt == Fmt::Isoc {
        if at(p + 9) != b' ' {
            return None;
        }
        year = digits(p + 10, 4)?;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    if day == 29 && month == 1 {
        if year % 4 != 0 || (year % 100 == 0 && year % 400 != 0) {
            return None;
        }
    } else if day > MDAY[month as usize] {
        return None;
    }
    // Gauss' formula, with the year starting on March 1 as in nginx.
    let (mut month, mut year) = (month - 1, year);
    if month <= 0 {
        month += 12;
        year -= 1;
    }
    let days = 365 * year + year / 4 - year / 100 + year / 400 + 367 * month / 12 - 30 + day - 1 - 719_527 + 31 + 28;
    Some(days * 86_400 + hour * 3_600 + min * 60 + sec)
}

/// `validate_clock_skew` on `X-Date`, then on `Date`: one must parse and be at most
/// `clock_skew` seconds away from `now`.
pub fn validate_clock_skew<R: HmacRequest + ?Sized>(req: &R, clock_skew: f64, now: i64) -> bool {
    ["x-date", "date"].into_iter().any(|name| {
        req.header(name).and_then(parse_http_time).is_some_and(|time| (now as f64 - time as f64).abs() <= clock_skew)
    })
}

/// The signing string: for each signed header, `name: value` (the name as listed, the first
/// value), `name:` when absent, or for the pseudo headers `request-line`
/// (`METHOD URI HTTP/1.1`) and `@request-target` (`method URI`) when no such header exists;
/// joined with `\n`.
pub fn signing_string<R: HmacRequest + ?Sized>(headers: &[&str], req: &R) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * headers.len());
    for (i, &name) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        match req.header(name) {
            Some(value) => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
            }
            None if name == "@request-target" => {
                out.extend_from_slice(b"@request-target: ");
                out.extend(req.method().bytes().map(|b| b.to_ascii_lowercase()));
                out.push(b' ');
                out.extend_from_slice(req.request_uri().as_bytes());
            }
            None if name == "request-line" => {
                let version = http_version_number(req.http_version());
                let line = format!("{} {} HTTP/{version}", req.method(), req.request_uri());
                out.extend_from_slice(line.as_bytes());
            }
            None => {
                out.extend_from_slice(name.as_bytes());
                out.push(b':');
            }
        }
    }
    out
}

/// `ngx.req.http_version()` formatted with `%.01f`, as in Kong's request line.
pub fn http_version_number(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2.0",
        http::Version::HTTP_3 => "3.0",
        _ => "1.1",
    }
}

fn keyed<M: Mac + KeyInit>(secret: &[u8], data: &[u8]) -> M {
    let mut mac = <M as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac
}

/// The raw HMAC of `data` with `secret`.
pub fn sign(algorithm: HmacAlgorithm, secret: &[u8], data: &[u8]) -> Vec<u8> {
    match algorithm {
        HmacAlgorithm::Sha1 => keyed::<Hmac<Sha1>>(secret, data).finalize().into_bytes().to_vec(),
        HmacAlgorithm::Sha256 => keyed::<Hmac<Sha256>>(secret, data).finalize().into_bytes().to_vec(),
        HmacAlgorithm::Sha384 => keyed::<Hmac<Sha384>>(secret, data).finalize().into_bytes().to_vec(),
        HmacAlgorithm::Sha512 => keyed::<Hmac<Sha512>>(secret, data).finalize().into_bytes().to_vec(),
    }
}

/// Whether `signature` is the HMAC of `data` with `secret` (constant-time comparison).
pub fn verify(algorithm: HmacAlgorithm, secret: &[u8], data: &[u8], signature: &[u8]) -> bool {
    match algorithm {
        HmacAlgorithm::Sha1 => keyed::<Hmac<Sha1>>(secret, data).verify_slice(signature).is_ok(),
        HmacAlgorithm::Sha256 => keyed::<Hmac<Sha256>>(secret, data).verify_slice(signature).is_ok(),
        HmacAlgorithm::Sha384 => keyed::<Hmac<Sha384>>(secret, data).verify_slice(signature).is_ok(),
        HmacAlgorithm::Sha512 => keyed::<Hmac<Sha512>>(secret, data).verify_slice(signature).is_ok(),
    }
}

/// `ngx.decode_base64`: standard alphabet, padding optional, input ends at the first `=`.
const NGX_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a signature like `ngx.decode_base64` (`None` where it returns `nil`).
pub fn decode_signature(signature: &str) -> Option<Vec<u8>> {
    let end = signature.find('=').unwrap_or(signature.len());
    NGX_BASE64.decode(&signature.as_bytes()[..end]).ok()
}

/// `validate_signature`: the decoded signature equals the HMAC of the signing string.
pub fn verify_signature<R: HmacRequest + ?Sized>(
    params: &HmacParams<'_>,
    algorithm: HmacAlgorithm,
    secret: &[u8],
    req: &R,
) -> bool {
    decode_signature(params.signature)
        .is_some_and(|signature| verify(algorithm, secret, &signing_string(&params.headers, req), &signature))
}

/// `validate_body`: without a `Digest` header the body must be empty; otherwise the header must
/// be exactly `SHA-256=<base64 of the body's SHA-256>`. `body` is `None` when it could not be
/// read (Kong's `get_raw_body` error), which fails.
pub fn validate_body(digest: Option<&[u8]>, body: Option<&[u8]>) -> bool {
    let Some(body) = body else { return false };
    match digest {
        None => body.is_empty(),
        Some(digest) => {
            let expected = STANDARD.encode(Sha256::digest(body));
            digest.strip_prefix(b"SHA-256=") == Some(expected.as_bytes())
        }
    }
}

/// Result of [`precheck`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precheck<'a> {
    /// The header `hide_credentials` clears; `None` when Kong stops before choosing one.
    pub credential_header: Option<CredentialHeader>,
    /// The accepted credentials and algorithm, or why the request fails.
    pub result: Result<(HmacParams<'a>, HmacAlgorithm), HmacFailure>,
}

/// Kong's steps before the credential lookup: credentials present, clock skew, parsing and
/// [`validate_params`]. `now` is the current time in seconds.
pub fn precheck<'a, R: HmacRequest + ?Sized>(
    req: &'a R,
    clock_skew: f64,
    enforce_headers: &[impl AsRef<str>],
    algorithms: &[impl AsRef<str>],
    now: i64,
) -> Precheck<'a> {
    let authorization = req.header(CredentialHeader::Authorization.name());
    let proxy_authorization = req.header(CredentialHeader::ProxyAuthorization.name());
    let fail = |failure| Precheck { credential_header: None, result: Err(failure) };
    if authorization.is_none() && proxy_authorization.is_none() {
        return fail(HmacFailure::NoCredentials);
    }
    if !validate_clock_skew(req, clock_skew, now) {
        return fail(HmacFailure::ClockSkew);
    }
    let text = |value: Option<&'a [u8]>| value.and_then(|v| std::str::from_utf8(v).ok());
    let (params, header) = select_params(text(authorization), text(proxy_authorization));
    let result = match params {
        Some(params) => validate_params(Some(&params), enforce_headers, algorithms).map(|alg| (params, alg)),
        None => Err(ParamsError::Missing),
    };
    let result = result.map_err(HmacFailure::InvalidParams);
    Precheck { credential_header: Some(header), result }
}

/// The signature check once the credential's `secret` is known.
pub fn verify_request<R: HmacRequest + ?Sized>(
    params: &HmacParams<'_>,
    algorithm: HmacAlgorithm,
    secret: &[u8],
    req: &R,
) -> Result<(), HmacFailure> {
    if verify_signature(params, algorithm, secret, req) {
        Ok(())
    } else {
        Err(HmacFailure::SignatureMismatch)
    }
}

/// The `validate_request_body` check, on the request's `Digest` header (see [`validate_body`]).
pub fn check_body<R: HmacRequest + ?Sized>(req: &R, body: Option<&[u8]>) -> Result<(), HmacFailure> {
    if validate_body(req.header("digest"), body) {
        Ok(())
    } else {
        Err(HmacFailure::DigestMismatch)
    }
}

#[cfg(test)]
#[path = "hmac_signature_tests.rs"]
mod tests;
