//! `ip-restriction`: the allow and deny lists parsed into networks once, and the rejection Kong sends
//! (`kong/plugins/ip-restriction/handler.lua`).

use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

/// What a blocked request gets: `kong.response.error(status or 403, message or default)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The status (403 unless configured) and the configured message; `None` means Kong's
    /// `IP address not allowed: <remote_addr>`.
    Error { status: u16, message: Option<String> },
    /// A configured status outside 400-599 (or not an integer): Kong's PDK raises
    /// `code must be a number between 400 and 599`, so the request fails with a 500.
    InvalidStatus,
}

#[derive(Debug)]
pub struct Config {
    /// Checked first; an empty list (or null) denies nothing.
    pub deny: Vec<IpNet>,
    /// When non-empty, only these networks pass.
    pub allow: Vec<IpNet>,
    pub rejection: Rejection,
}

impl Config {
    /// Kong's order: a denied address is blocked, then a non-empty allow list must match.
    pub fn allows(&self, addr: IpAddr) -> bool {
        if self.deny.iter().any(|n| n.contains(&addr)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&addr))
    }
}

/// A `typedefs.ip_or_cidr` value as a network: single addresses become /32 or /128, host bits are cleared.
pub fn parse_ip_or_cidr(s: &str) -> Result<IpNet, String> {
    let bad = || format!("invalid ip or cidr range: '{s}'");
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p.parse::<u8>().ok().filter(|n| *n <= max).ok_or_else(bad)?,
    };
    IpNet::new(addr, prefix).map(|n| n.trunc()).map_err(|_| bad())
}

fn parse_list(config: &Value, field: &str) -> Result<Vec<IpNet>, String> {
    match config.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| format!("{field}: expected a string")).and_then(parse_ip_or_cidr))
            .collect(),
        Some(_) => Err(format!("{field}: expected an array")),
    }
}

fn rejection(config: &Value) -> Result<Rejection, String> {
    let message = match config.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("message: expected a string".into()),
    };
    let status = match config.get("status") {
        None | Some(Value::Null) => 403.0,
        Some(v) => v.as_f64().ok_or("status: expected a number")?,
    };
    if status.fract() != 0.0 || !(400.0..=599.0).contains(&status) {
        return Ok(Rejection::InvalidStatus);
    }
    Ok(Rejection::Error { status: status as u16, message })
}

pub fn compile(config: &Value) -> Result<Config, String> {
    Ok(Config { deny: parse_list(config, "deny")?, allow: parse_list(config, "allow")?, rejection: rejection(config)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    fn config(config: Value) -> Config {
        compile(&validated("ip-restriction", config)).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_addresses_and_ranges() {
        assert_eq!(parse_ip_or_cidr("10.0.0.1").unwrap().to_string(), "10.0.0.1/32");
        assert_eq!(parse_ip_or_cidr("::1").unwrap().to_string(), "::1/128");
        assert_eq!(parse_ip_or_cidr("127.0.0.1/8").unwrap().to_string(), "127.0.0.0/8");
        assert_eq!(parse_ip_or_cidr("::/0").unwrap().to_string(), "::/0");
        for bad in ["hello", "0.0.0.0/33", "0.0.0.0/-1", "::/129", "::1/a", "1.2.3.4/"] {
            assert_eq!(parse_ip_or_cidr(bad).unwrap_err(), format!("invalid ip or cidr range: '{bad}'"));
        }
    }

    #[test]
    fn deny_wins_then_allow_must_match() {
        let c = config(json!({"allow": ["10.0.0.0/8"], "deny": ["10.1.0.0/16"]}));
        assert!(c.allows(ip("10.2.3.4")));
        assert!(!c.allows(ip("10.1.3.4")));
        assert!(!c.allows(ip("192.168.0.1")));
        assert_eq!(c.rejection, Rejection::Error { status: 403, message: None });

        let deny_only = config(json!({"allow": null, "deny": ["::1", "127.0.0.1"]}));
        assert!(!deny_only.allows(ip("127.0.0.1")));
        assert!(!deny_only.allows(ip("::1")));
        assert!(deny_only.allows(ip("127.0.0.2")));
        assert!(config(json!({"allow": [], "deny": ["::1"]})).allows(ip("1.2.3.4")));
    }

    #[test]
    fn rejection_status() {
        let c = config(json!({"allow": ["1.2.3.4"], "status": 401, "message": "go away"}));
        assert_eq!(c.rejection, Rejection::Error { status: 401, message: Some("go away".into()) });
        let float = config(json!({"allow": ["1.2.3.4"], "status": 451.0}));
        assert_eq!(float.rejection, Rejection::Error { status: 451, message: None });
        for status in [json!(200), json!(600), json!(403.5)] {
            let c = config(json!({"allow": ["1.2.3.4"], "status": status}));
            assert_eq!(c.rejection, Rejection::InvalidStatus, "{status}");
        }
        // Lists the schema rejects.
        for allow in [json!(["nope"]), json!("1.2.3.4")] {
            assert!(compile(&json!({"allow": allow})).is_err(), "{allow}");
        }
    }
}
