//! Kong's typedefs (`kong/db/schema/typedefs.lua`): reusable field definitions with their validators and
//! exact messages.

use crate::entities::hostnames::{normalize_ip, HostKind};
use crate::entities::{pem, uri};
use crate::schema::{Check, Field, Kind};
use serde_json::Value;

/// `id`: a UUID generated on insert.
pub fn id() -> Field {
    Field::string("id").auto().check(Check::Uuid).annotate("uuid", Value::Bool(true))
}

/// `created_at`/`updated_at`: integer seconds set by the store.
pub fn timestamp(name: &'static str) -> Field {
    Field::integer(name).auto().annotate("timestamp", Value::Bool(true))
}

/// The `tags` set.
pub fn tags() -> Field {
    Field::set("tags", Field::element(Kind::String).required().check(Check::Custom(validate_tag)))
}

/// Kong's tag rule: printable ASCII except `,` and `/`, or valid UTF-8.
pub fn validate_tag(value: &Value) -> Result<(), String> {
    let Some(tag) = value.as_str() else {
        return Ok(());
    };
    let ok = tag.chars().all(|c| {
        let n = c as u32;
        n >= 0x80 || (n == 0x20) || ((0x21..=0x7e).contains(&n) && c != ',' && c != '/')
    });
    if ok {
        Ok(())
    } else {
        Err(format!("invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"))
    }
}

/// The fields every entity starts with.
pub fn common_fields() -> Vec<Field> {
    vec![id(), timestamp("created_at"), timestamp("updated_at")]
}

/// Kong's `PROTOCOLS`, sorted.
pub const PROTOCOLS: &[&str] = &["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"];

/// Runs a string validator on string values only (other types were already rejected by the type check).
macro_rules! string_validator {
    ($(#[$doc:meta])* $name:ident, $inner:ident) => {
        $(#[$doc])*
        pub fn $name(value: &Value) -> Result<(), String> {
            match value.as_str() {
                Some(s) => $inner(s),
                None => Ok(()),
            }
        }
    };
}

fn host_str(host: &str) -> Result<(), String> {
    match normalize_ip(host) {
        Ok(n) if n.port.is_none() => Ok(()),
        Ok(_) => Err("must not have a port".into()),
        Err(e) if e == "invalid port number" => Err("must not have a port".into()),
        Err(_) => Err(format!("invalid value: {host}")),
    }
}

fn host_with_optional_port_str(host: &str) -> Result<(), String> {
    normalize_ip(host).map(|_| ())
}

fn sni_str(host: &str) -> Result<(), String> {
    match normalize_ip(host) {
        Err(e) if e != "invalid port number" => Err(format!("invalid value: {host}")),
        Ok(n) if n.kind != HostKind::Name => Err("must not be an IP".into()),
        Ok(n) if n.port.is_none() => Ok(()),
        _ => Err("must not have a port".into()),
    }
}

fn wildcard_host_str(host: &str) -> Result<(), String> {
    if let Some(idx) = host.find('*') {
        if idx != 0 && idx != host.len() - 1 {
            return Err("wildcard must be leftmost or rightmost character".into());
        }
        if host.matches('*').count() > 1 {
            return Err("only one wildcard must be specified".into());
        }
        return sni_str(&host.replace('*', "wildcard"));
    }
    sni_str(host)
}

fn ip_str(s: &str) -> Result<(), String> {
    if s.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!("not an ip address: {s}"))
    }
}

fn ip_or_cidr_str(s: &str) -> Result<(), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let max = match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => return Err(format!("invalid ip or cidr range: '{s}'")),
    };
    match prefix.map(|p| p.parse::<u32>()) {
        None => Ok(()),
        Some(Ok(n)) if n <= max => Ok(()),
        Some(_) => Err(format!("invalid ip or cidr range: '{s}'")),
    }
}

fn cidr_v4_str(s: &str) -> Result<(), String> {
    let (addr, prefix) = s.split_once('/').unwrap_or((s, "32"));
    let ok = addr.parse::<std::net::Ipv4Addr>().is_ok() && prefix.parse::<u32>().is_ok_and(|n| n <= 32);
    if ok {
        Ok(())
    } else {
        Err(format!("invalid ipv4 cidr range: '{s}'"))
    }
}

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-~/%:@!$&'()*+,;=".contains(&b)
}

/// Kong's `validate_path`: RFC 3986 characters, then well-formed percent escapes.
/// Returns the error and whether it is the percent-encoding one (which router paths keep).
fn path_custom(path: &str) -> Result<(), (String, bool)> {
    if !path.starts_with('/') || !path.bytes().all(is_path_char) {
        let msg = format!("invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)");
        return Err((msg, false));
    }
    let b = path.as_bytes();
    let mut masked = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
            masked.extend_from_slice(b"___");
            i += 3;
        } else {
            masked.push(b[i]);
            i += 1;
        }
    }
    if let Some(pos) = masked.iter().position(|c| *c == b'%') {
        let end = (pos + 3).min(masked.len());
        let snippet = String::from_utf8_lossy(&masked[pos..end]);
        return Err((format!("invalid url-encoded value: '{snippet}'"), true));
    }
    Ok(())
}

fn path_str(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("should start with: /".into());
    }
    if path.contains("//") {
        return Err("must not have empty segments".into());
    }
    path_custom(path).map_err(|(e, _)| e)
}

fn router_path_str(path: &str) -> Result<(), String> {
    if path.contains("//") {
        return Err("must not have empty segments".into());
    }
    if !path.starts_with('/') && !path.starts_with("~/") {
        return Err("should start with: / (fixed path) or ~/ (regex path)".into());
    }
    if let Err((e, true)) = path_custom(path) {
        return Err(e);
    }
    match path.strip_prefix('~') {
        None => {
            let normalized = uri::normalize(path, true);
            if normalized != path {
                return Err(format!("non-normalized path, consider use '{normalized}' instead"));
            }
            Ok(())
        }
        // Regex validity is checked by `router_regex_error` in the route's entity check, so that patterns
        // PCRE accepts but the router's regex engine does not are reported the way Kong's router does.
        Some(_) => Ok(()),
    }
}

/// A regex path (`~/...`) that the router's regex engine rejects: the regex (without `~`) and the error.
pub fn router_regex_error(path: &str) -> Option<(String, String)> {
    let re = path.strip_prefix('~')?;
    regex::Regex::new(re).err().map(|e| (re.to_string(), e.to_string()))
}

/// Route `hosts` elements: at most one wildcard, leftmost or rightmost label, then `host_with_optional_port`.
fn route_host_str(host: &str) -> Result<(), String> {
    if host.matches('*').count() > 1 {
        return Err("invalid wildcard: must have at most one wildcard".into());
    }
    if host.contains('*') && !host.starts_with("*.") && !host.ends_with(".*") {
        return Err("invalid wildcard: must be placed at leftmost or rightmost label".into());
    }
    host_with_optional_port_str(&host.replace('*', "abc"))
}

fn url_str(url: &str) -> Result<(), String> {
    let Some(parsed) = uri::parse_url(url) else {
        return Err("could not parse url. invalid url".into());
    };
    if parsed.host.is_none() {
        return Err("missing host in url".into());
    }
    if parsed.scheme.is_none() {
        return Err("missing scheme in url".into());
    }
    Ok(())
}

fn header_name_str(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("no header name provided".into());
    }
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(format!("bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"))
    }
}

fn cookie_name_str(name: &str) -> Result<(), String> {
    let bad =
        |c: char| (c as u32) < 32 || c as u32 == 127 || c.is_ascii_whitespace() || "()<>@,;:\\\"/?={}[]".contains(c);
    if name.is_empty() || name.chars().any(bad) {
        return Err("contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and \
                    the characters ()<>@,;:\\\"/?={}[] are not allowed."
            .into());
    }
    Ok(())
}

fn name_str(v: &str) -> Result<(), String> {
    if v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~')) {
        Ok(())
    } else {
        Err(format!("invalid value '{v}': it must only contain alphanumeric and '., -, _, ~' characters"))
    }
}

fn utf8_name_str(v: &str) -> Result<(), String> {
    if v.chars().all(|c| !c.is_ascii() || c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~')) {
        Ok(())
    } else {
        Err(format!("invalid value '{v}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"))
    }
}

fn http_method_str(v: &str) -> Result<(), String> {
    if v.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!("invalid value: {v}"))
    }
}

fn certificate_str(v: &str) -> Result<(), String> {
    if pem::is_vault_reference(v) {
        return Ok(());
    }
    pem::parse_certificate(v).map(|_| ()).map_err(|e| format!("invalid certificate: {e}"))
}

fn key_str(v: &str) -> Result<(), String> {
    if pem::is_vault_reference(v) {
        return Ok(());
    }
    pem::parse_key(v).map(|_| ()).map_err(|e| format!("invalid key: {e}"))
}

string_validator!(/// `host`: a hostname or IP without a port.
    validate_host, host_str);
string_validator!(/// `host_with_optional_port`: `normalize_ip`'s own error.
    validate_host_with_optional_port, host_with_optional_port_str);
string_validator!(/// `sni`: a hostname, not an IP, without a port.
    validate_sni, sni_str);
string_validator!(/// `wildcard_host`: an SNI with at most one leading or trailing `*`.
    validate_wildcard_host, wildcard_host_str);
string_validator!(/// `ip`.
    validate_ip, ip_str);
string_validator!(/// `ip_or_cidr`.
    validate_ip_or_cidr, ip_or_cidr_str);
string_validator!(/// `cidr_v4`.
    validate_cidr_v4, cidr_v4_str);
string_validator!(/// `path`: starts with `/`, no empty segments, RFC 3986 characters, valid escapes.
    validate_path, path_str);
string_validator!(/// `router_path`: fixed paths must be normalised; regex paths are checked by the route.
    validate_router_path, router_path_str);
string_validator!(/// An element of route `hosts`.
    validate_route_host, route_host_str);
string_validator!(/// `url`.
    validate_url, url_str);
string_validator!(/// `header_name`.
    validate_header_name, header_name_str);
string_validator!(/// `cookie_name` (an HTTP token).
    validate_cookie_name, cookie_name_str);
string_validator!(/// `name`.
    validate_name, name_str);
string_validator!(/// `utf8_name`.
    validate_utf8_name, utf8_name_str);
string_validator!(/// `http_method`: upper-case letters.
    validate_http_method, http_method_str);
string_validator!(/// `certificate`: a PEM certificate (or a vault reference).
    validate_certificate, certificate_str);
string_validator!(/// `key`: a PEM private key (or a vault reference).
    validate_key, key_str);

fn custom_string(name: &'static str, f: fn(&Value) -> Result<(), String>) -> Field {
    Field::string(name).check(Check::Custom(f))
}

pub fn name(field: &'static str) -> Field {
    custom_string(field, validate_name).unique()
}
pub fn utf8_name(field: &'static str) -> Field {
    custom_string(field, validate_utf8_name).unique()
}
pub fn host(field: &'static str) -> Field {
    custom_string(field, validate_host)
}
pub fn host_with_optional_port(field: &'static str) -> Field {
    custom_string(field, validate_host_with_optional_port)
}
pub fn sni(field: &'static str) -> Field {
    custom_string(field, validate_sni)
}
pub fn wildcard_host(field: &'static str) -> Field {
    custom_string(field, validate_wildcard_host)
}
pub fn ip(field: &'static str) -> Field {
    custom_string(field, validate_ip)
}
pub fn ip_or_cidr(field: &'static str) -> Field {
    custom_string(field, validate_ip_or_cidr)
}
pub fn path(field: &'static str) -> Field {
    custom_string(field, validate_path)
}
pub fn url(field: &'static str) -> Field {
    custom_string(field, validate_url)
}
pub fn header_name(field: &'static str) -> Field {
    custom_string(field, validate_header_name)
}
pub fn cookie_name(field: &'static str) -> Field {
    custom_string(field, validate_cookie_name)
}
pub fn certificate(field: &'static str) -> Field {
    custom_string(field, validate_certificate).annotate("referenceable", Value::Bool(true))
}
pub fn key(field: &'static str) -> Field {
    custom_string(field, validate_key)
        .annotate("referenceable", Value::Bool(true))
        .annotate("encrypted", Value::Bool(true))
}
pub fn port(field: &'static str) -> Field {
    Field::integer(field).check(Check::Between(0, 65535))
}
pub fn timeout(field: &'static str) -> Field {
    Field::integer(field).check(Check::Between(0, 2_147_483_646))
}
pub fn protocol(field: &'static str) -> Field {
    Field::string(field).check(Check::OneOf(PROTOCOLS))
}

/// `protocols`: a required set of protocols defaulting to the HTTP-subsystem ones.
pub fn protocols() -> Field {
    Field::set("protocols", Field::element(Kind::String).required().check(Check::OneOf(PROTOCOLS)))
        .required()
        .default(serde_json::json!(["grpc", "grpcs", "http", "https"]))
}

/// `headers`: header names mapped to arrays of strings.
pub fn headers(field: &'static str) -> Field {
    Field::map(
        field,
        Field::element(Kind::String).check(Check::Custom(validate_header_name)),
        Field::element(Kind::Array(Box::new(Field::element(Kind::String).required()))),
    )
}

/// Route `hosts`.
pub fn hosts() -> Field {
    Field::array("hosts", Field::element(Kind::String).required().check(Check::Custom(validate_route_host)))
}

/// Route `paths` (`router_paths`).
pub fn router_paths() -> Field {
    Field::array("paths", Field::element(Kind::String).required().check(Check::Custom(validate_router_path)))
}

/// Route `methods`.
pub fn methods() -> Field {
    Field::set("methods", Field::element(Kind::String).required().check(Check::Custom(validate_http_method)))
}

/// `sources`/`destinations`: sets of `{ip, port}` records. Their `at_least_one_of {ip, port}` record check
/// is reported by the route (`{"@entity": [...]}` per element), as records here have no entity checks.
pub fn ip_port_set(field: &'static str) -> Field {
    Field::set(field, Field::new("", Kind::Record(vec![ip_or_cidr("ip"), port("port")])).required())
}

/// Kong's `is_nonempty` used by `at_least_one_of`: not null, not an empty array/object/string.
pub fn is_nonempty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

#[cfg(test)]
#[path = "entities/typedefs_tests.rs"]
mod tests;
