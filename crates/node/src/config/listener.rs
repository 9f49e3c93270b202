//! Listener syntax of `proxy_listen`, `admin_listen` and `status_listen` (Kong's `listeners.lua`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One parsed listener entry, e.g. `0.0.0.0:8443 http2 ssl reuseport backlog=16384`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// The entry as written (whitespace collapsed), e.g. `0.0.0.0:8000 reuseport backlog=16384`.
    pub text: String,
    /// Host part: an IP (IPv6 without brackets), a hostname, or `*`.
    pub host: String,
    /// Port (0 = let the OS choose).
    pub port: u16,
    /// Socket address when `host` is an IP address (`*` means `0.0.0.0`); `None` for hostnames.
    pub addr: Option<SocketAddr>,
    pub ssl: bool,
    pub http2: bool,
    pub proxy_protocol: bool,
    pub deferred: bool,
    pub bind: bool,
    pub reuseport: bool,
    /// `backlog=N`.
    pub backlog: Option<u32>,
    /// `ipv6only=on|off`.
    pub ipv6only: Option<bool>,
    /// `so_keepalive=on|off|<idle>:<interval>:<count>`, value after `=`.
    pub so_keepalive: Option<String>,
}

impl Listener {
    /// Parses one entry (without commas). Returns `None` when it is not a valid listener.
    pub fn parse(entry: &str) -> Option<Listener> {
        let mut listener = Listener {
            text: entry.split_whitespace().collect::<Vec<_>>().join(" "),
            host: String::new(),
            port: 0,
            addr: None,
            ssl: false,
            http2: false,
            proxy_protocol: false,
            deferred: false,
            bind: false,
            reuseport: false,
            backlog: None,
            ipv6only: None,
            so_keepalive: None,
        };
        let mut address = None;
        for token in entry.split_whitespace() {
            match token {
                "ssl" => listener.ssl = true,
                "http2" => listener.http2 = true,
                "proxy_protocol" => listener.proxy_protocol = true,
                "deferred" => listener.deferred = true,
                "bind" => listener.bind = true,
                "reuseport" => listener.reuseport = true,
                "ipv6only=on" => listener.ipv6only = Some(true),
                "ipv6only=off" => listener.ipv6only = Some(false),
                _ => {
                    if let Some(n) = token.strip_prefix("backlog=") {
                        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                            return None;
                        }
                        listener.backlog = Some(n.parse().ok()?);
                    } else if let Some(v) = token.strip_prefix("so_keepalive=") {
                        if !valid_keepalive(v) {
                            return None;
                        }
                        listener.so_keepalive = Some(v.to_string());
                    } else if address.replace(token).is_some() {
                        return None;
                    }
                }
            }
        }
        let (host, port, ip) = parse_address(address?)?;
        listener.addr = ip.map(|ip| SocketAddr::new(ip, port));
        listener.host = host;
        listener.port = port;
        Some(listener)
    }

    /// Whether the host is an IP address (or `*`), i.e. [`Listener::addr`] is known.
    pub fn is_ip(&self) -> bool {
        self.addr.is_some()
    }

    /// `host:port` with IPv6 hosts bracketed, e.g. `[::1]:8001`.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Listener {
    /// Canonical form: address then flags in Kong's order (`ssl http2 proxy_protocol deferred
    /// bind reuseport backlog= ipv6only= so_keepalive=`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())?;
        let flags = [
            (self.ssl, "ssl"),
            (self.http2, "http2"),
            (self.proxy_protocol, "proxy_protocol"),
            (self.deferred, "deferred"),
            (self.bind, "bind"),
            (self.reuseport, "reuseport"),
        ];
        for (on, name) in flags {
            if on {
                write!(f, " {name}")?;
            }
        }
        if let Some(backlog) = self.backlog {
            write!(f, " backlog={backlog}")?;
        }
        if let Some(v6) = self.ipv6only {
            write!(f, " ipv6only={}", if v6 { "on" } else { "off" })?;
        }
        if let Some(ka) = &self.so_keepalive {
            write!(f, " so_keepalive={ka}")?;
        }
        Ok(())
    }
}

/// Kong's error message for an invalid `<name>` listener list.
pub fn listen_error(name: &str) -> String {
    format!(
        "{name} must be of form: [off] | <ip>:<port> [ssl] [http2] [proxy_protocol] [deferred] \
         [bind] [reuseport] [backlog=%d+] [ipv6only=on] [ipv6only=off] [so_keepalive=on] \
         [so_keepalive=off] [so_keepalive=%w*:%w*:%d*], [... next entry ...]"
    )
}

/// Parses a comma separated listener list; `off` as first entry gives an empty list.
pub fn parse_listeners(name: &str, value: &str) -> Result<Vec<Listener>, String> {
    let entries: Vec<&str> = value.split(',').map(str::trim).collect();
    if entries.first() == Some(&"off") {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        match Listener::parse(entry) {
            Some(listener) => out.push(listener),
            None => return Err(listen_error(name)),
        }
    }
    Ok(out)
}

/// First listener of `list` with the given `ssl` flag.
pub fn first_listener(list: &[Listener], ssl: bool) -> Option<&Listener> {
    list.iter().find(|l| l.ssl == ssl)
}

fn valid_keepalive(v: &str) -> bool {
    if v == "on" || v == "off" {
        return true;
    }
    let parts: Vec<&str> = v.split(':').collect();
    parts.len() == 3
        && parts[0].chars().all(|c| c.is_ascii_alphanumeric())
        && parts[1].chars().all(|c| c.is_ascii_alphanumeric())
        && parts[2].chars().all(|c| c.is_ascii_digit())
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `ip:port`, `[ipv6]:port`, `hostname:port` or `*:port`.
fn parse_address(address: &str) -> Option<(String, u16, Option<IpAddr>)> {
    if let Some(rest) = address.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        return Some((ip.to_string(), parse_port(port)?, Some(IpAddr::V6(ip))));
    }
    let (host, port) = address.rsplit_once(':')?;
    let port = parse_port(port)?;
    if host == "*" {
        return Some((host.to_string(), port, Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
    }
    if host.is_empty() || host.contains(':') {
        return None;
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let ip: Ipv4Addr = host.parse().ok()?;
        return Some((ip.to_string(), port, Some(IpAddr::V4(ip))));
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if host.len() > 253 || !host.split('.').all(valid_label) {
        return None;
    }
    Some((host.to_string(), port, None))
}
