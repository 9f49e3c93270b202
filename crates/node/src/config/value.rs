//! Typed property values: parsing of one raw string according to its [`Kind`], and JSON output.

use serde_json::json;
use uuid::Uuid;

use super::keys::{KeyDef, Kind};
use super::listener::{parse_listeners, Listener};
use super::settings::valid_trusted_ip;
use super::size::{parse_size, parse_time, HeaderBuffers};

/// The typed value of one property.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Strings and enum words.
    Str(String),
    Bool(bool),
    /// Non-integer-typed numbers (TTLs, frequencies; seconds).
    Number(f64),
    /// Integers (ports, counts, milliseconds).
    Int(u64),
    /// An nginx size as written and in bytes.
    Size {
        text: String,
        bytes: u64,
    },
    HeaderBuffers(HeaderBuffers),
    /// An nginx time as written and as a duration.
    Time {
        text: String,
        duration: std::time::Duration,
    },
    /// Comma separated lists (items trimmed, empty items dropped).
    List(Vec<String>),
    /// Listener lists (empty = `off`).
    Listeners(Vec<Listener>),
    Uuid(Uuid),
}

impl Value {
    /// JSON form: numbers as numbers, booleans as booleans, lists as arrays, listeners as their
    /// strings (`["off"]` when disabled), sizes as written.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => json!(s),
            Value::Bool(b) => json!(b),
            Value::Number(n) => number_json(*n),
            Value::Int(n) => json!(n),
            Value::Size { text, .. } | Value::Time { text, .. } => json!(text),
            Value::HeaderBuffers(b) => json!(b.to_string()),
            Value::List(items) => json!(items),
            Value::Listeners(list) if list.is_empty() => json!(["off"]),
            Value::Listeners(list) => {
                json!(list.iter().map(|l| l.text.as_str()).collect::<Vec<_>>())
            }
            Value::Uuid(u) => json!(u.to_string()),
        }
    }
}

fn number_json(n: f64) -> serde_json::Value {
    // Integral values print as integers (`5`, not `5.0`).
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// Splits a comma separated list, trimming items and dropping empty ones.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Parses a non-empty, trimmed raw value. The error is the full message (key name included).
pub(crate) fn parse_value(def: &KeyDef, raw: &str) -> Result<Value, String> {
    let name = def.name;
    match def.kind {
        Kind::Str => Ok(Value::Str(raw.to_string())),
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "on" | "true" => Ok(Value::Bool(true)),
            "off" | "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{name}: expected a boolean (on/off), got '{raw}'")),
        },
        Kind::Number { positive } => {
            let n = raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| format!("{name}: expected a number, got '{raw}'"))?;
            if positive && n <= 0.0 {
                Err(format!("{name}: must be greater than 0, got '{raw}'"))
            } else if n < 0.0 {
                Err(format!("{name}: must not be negative, got '{raw}'"))
            } else {
                Ok(Value::Number(n))
            }
        }
        Kind::Int { min, max } => parse_int(name, raw, min, max).map(Value::Int),
        Kind::Size => parse_size(raw)
            .map(|bytes| Value::Size { text: raw.to_string(), bytes })
            .ok_or_else(|| format!("{name}: expected a size (e.g. 512, 8k, 10m, 1g), got '{raw}'")),
        Kind::Time => parse_time(raw)
            .map(|duration| Value::Time { text: raw.to_string(), duration })
            .ok_or_else(|| format!("{name}: expected a time (e.g. 60s, 1m30s, 500ms), got '{raw}'")),
        Kind::HeaderBuffers => HeaderBuffers::parse(raw)
            .map(Value::HeaderBuffers)
            .ok_or_else(|| format!("{name}: expected '<number> <size>' (e.g. '4 8k'), got '{raw}'")),
        Kind::Enum(allowed) => {
            if allowed.contains(&raw) {
                Ok(Value::Str(raw.to_string()))
            } else if name == "database" && raw == "cassandra" {
                Err("Cassandra as a datastore for Kong is not supported in versions 3.4 and above. \
                     Please use Postgres."
                    .to_string())
            } else {
                Err(format!("{name} has an invalid value: '{raw}' ({})", allowed.join(", ")))
            }
        }
        Kind::List => Ok(Value::List(split_list(raw))),
        Kind::Listen => parse_listeners(name, raw).map(Value::Listeners),
        Kind::Plugins => parse_plugins(raw).map(Value::List),
        Kind::Headers(allowed) => parse_words(name, raw, allowed, true).map(Value::List),
        Kind::Words(allowed) => parse_words(name, raw, allowed, false).map(Value::List),
        Kind::TrustedIps => {
            let items = split_list(raw);
            match items.iter().find(|item| !valid_trusted_ip(item)) {
                Some(bad) => Err(format!(
                    "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 \
                     address or CIDR block or 'unix:', got '{bad}'"
                )),
                None => Ok(Value::List(items)),
            }
        }
        Kind::Uuid => Uuid::parse_str(raw).map(Value::Uuid).map_err(|_| format!("{name} must be a valid UUID")),
        Kind::CpuAffinity => gatehouse_proxy::CpuAffinity::parse(raw)
            .map(|_| Value::Str(raw.to_string()))
            .map_err(|e| format!("{name}: {e}")),
        Kind::Workers => match raw {
            "auto" => Ok(Value::Str(raw.to_string())),
            _ => raw
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .map(Value::Int)
                .ok_or_else(|| format!("{name}: expected 'auto' or a number of workers (1 to 1024), got '{raw}'")),
        },
    }
}

fn parse_int(name: &str, raw: &str, min: u64, max: u64) -> Result<u64, String> {
    let bounded = max < u64::from(u32::MAX);
    let too_small = || match min {
        _ if bounded => format!("{name}: must be between {min} and {max}, got '{raw}'"),
        0 => format!("{name}: must not be negative, got '{raw}'"),
        1 => format!("{name}: must be an integer greater than 0, got '{raw}'"),
        _ => format!("{name}: must be between {min} and {max}, got '{raw}'"),
    };
    let too_big = || format!("{name}: must be between {min} and {max}, got '{raw}'");
    match raw.parse::<u64>() {
        Ok(n) if n < min => Err(too_small()),
        Ok(n) if n > max => Err(too_big()),
        Ok(n) => Ok(n),
        Err(_) => match raw.parse::<i128>() {
            Ok(n) if n < 0 => Err(too_small()),
            Ok(_) => Err(too_big()),
            Err(_) if raw.parse::<f64>().is_ok_and(f64::is_finite) => {
                Err(format!("{name}: expected an integer, got '{raw}'"))
            }
            Err(_) => Err(format!("{name}: expected a number, got '{raw}'")),
        },
    }
}

/// `plugins`: `off`, or names and the `bundled` keyword (deduplicated, order kept).
fn parse_plugins(raw: &str) -> Result<Vec<String>, String> {
    let items = split_list(raw);
    if items.iter().any(|i| i == "off") {
        if items.len() > 1 {
            return Err("plugins: 'off' cannot be combined with other entries".to_string());
        }
        return Ok(items);
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let valid = item.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!("plugins: invalid entry '{item}'"));
        }
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

/// Tokens from `allowed` (case-insensitive, lower-cased), and `off` where `off_allowed` (`headers`,
/// `headers_upstream`; not `dns_order`).
fn parse_words(name: &str, raw: &str, allowed: &[&str], off_allowed: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in split_list(raw) {
        let lower = item.to_ascii_lowercase();
        let off = off_allowed && lower == "off";
        if !off && !allowed.contains(&lower.as_str()) {
            return Err(format!("{name}: invalid entry '{item}'"));
        }
        out.push(lower);
    }
    Ok(out)
}
