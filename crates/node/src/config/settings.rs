//! Typed setting groups and enums used by [`super::Config`].

use std::fmt;
use std::net::IpAddr;

/// `database`: the datastore. Gatehouse defaults to `sqlite` (Kong: `postgres`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Database {
    /// SQLite file `<prefix>/gatehouse.db` (see [`super::Config::sqlite_path`]).
    #[default]
    Sqlite,
    Postgres,
    /// DB-less; accepted by the loader, the node may reject it as unsupported.
    Off,
}

impl Database {
    /// The configuration word (`sqlite`, `postgres`, `off`).
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres => "postgres",
            Database::Off => "off",
        }
    }

    pub(crate) fn from_word(word: &str) -> Option<Self> {
        match word {
            "sqlite" => Some(Database::Sqlite),
            "postgres" => Some(Database::Postgres),
            "off" => Some(Database::Off),
            _ => None,
        }
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `log_level` (nginx levels), ordered from most to least verbose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Debug,
    Info,
    #[default]
    Notice,
    Warn,
    Error,
    Crit,
    Alert,
    Emerg,
}

impl LogLevel {
    /// The configuration word (`debug`, …, `emerg`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Crit => "crit",
            LogLevel::Alert => "alert",
            LogLevel::Emerg => "emerg",
        }
    }

    pub(crate) fn from_word(word: &str) -> Option<Self> {
        [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Notice,
            LogLevel::Warn,
            LogLevel::Error,
            LogLevel::Crit,
            LogLevel::Alert,
            LogLevel::Emerg,
        ]
        .into_iter()
        .find(|l| l.as_str() == word)
    }

    /// Closest `tracing` filter directive (`notice` → `info`, `crit`/`alert`/`emerg` → `error`).
    pub fn tracing_directive(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info | LogLevel::Notice => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error | LogLevel::Crit | LogLevel::Alert | LogLevel::Emerg => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `router_flavor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RouterFlavor {
    Traditional,
    #[default]
    TraditionalCompatible,
    Expressions,
}

impl RouterFlavor {
    /// The configuration word.
    pub fn as_str(self) -> &'static str {
        match self {
            RouterFlavor::Traditional => "traditional",
            RouterFlavor::TraditionalCompatible => "traditional_compatible",
            RouterFlavor::Expressions => "expressions",
        }
    }

    pub(crate) fn from_word(word: &str) -> Option<Self> {
        match word {
            "traditional" => Some(RouterFlavor::Traditional),
            "traditional_compatible" => Some(RouterFlavor::TraditionalCompatible),
            "expressions" => Some(RouterFlavor::Expressions),
            _ => None,
        }
    }
}

impl fmt::Display for RouterFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// PostgreSQL connection settings (`pg_*`, or `pg_ro_*` for the read replica).
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub schema: Option<String>,
    pub ssl: bool,
    pub ssl_verify: bool,
    /// `pg_timeout`, milliseconds.
    pub timeout_ms: u64,
    /// `pg_max_concurrent_queries`; 0 = unlimited.
    pub max_concurrent_queries: u64,
    /// `pg_pool_size`: maximum connections of this node.
    pub pool_size: u32,
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| super::REDACTED))
            .field("database", &self.database)
            .field("schema", &self.schema)
            .field("ssl", &self.ssl)
            .field("ssl_verify", &self.ssl_verify)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_concurrent_queries", &self.max_concurrent_queries)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// `plugins`: `bundled` and/or custom plugin names, or `off` (nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginsSetting {
    /// The `bundled` keyword is present.
    pub bundled: bool,
    /// Other names, in order, deduplicated.
    pub custom: Vec<String>,
}

impl PluginsSetting {
    pub(crate) fn from_entries(entries: &[String]) -> Self {
        PluginsSetting {
            bundled: entries.iter().any(|e| e == "bundled"),
            custom: entries.iter().filter(|e| *e != "bundled" && *e != "off").cloned().collect(),
        }
    }

    /// No plugin enabled (`plugins = off`).
    pub fn is_off(&self) -> bool {
        !self.bundled && self.custom.is_empty()
    }

    /// Whether plugin `name` is enabled, given the names of the bundled plugins.
    pub fn is_enabled(&self, name: &str, bundled: &[&str]) -> bool {
        (self.bundled && bundled.contains(&name)) || self.custom.iter().any(|c| c == name)
    }

    /// The enabled names: `bundled` expanded with `bundled`, then custom names (deduplicated).
    pub fn resolve(&self, bundled: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if self.bundled {
            out.extend(bundled.iter().map(|s| s.to_string()));
        }
        for name in &self.custom {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }
}

/// `headers` / `headers_upstream`: the entries as configured (lower-cased).
/// `off` as the first entry disables everything (Kong).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HeaderSet {
    pub entries: Vec<String>,
}

const LATENCY_HEADERS: [&str; 4] =
    ["x-kong-proxy-latency", "x-kong-response-latency", "x-kong-admin-latency", "x-kong-upstream-latency"];

impl HeaderSet {
    /// Whether response header `header` (case-insensitive, e.g. `X-Kong-Admin-Latency`, `Via`)
    /// is enabled. `server_tokens` enables `Via` and `Server`; `latency_tokens` enables the four
    /// `X-Kong-*-Latency` headers.
    pub fn enabled(&self, header: &str) -> bool {
        if self.entries.first().is_some_and(|e| e == "off") {
            return false;
        }
        let header = header.to_ascii_lowercase();
        self.entries.iter().any(|e| {
            *e == header
                || (e == "server_tokens" && (header == "via" || header == "server"))
                || (e == "latency_tokens" && LATENCY_HEADERS.contains(&header.as_str()))
        })
    }
}

/// `unix:`, an IPv4/IPv6 address, or a CIDR block.
pub(crate) fn valid_trusted_ip(entry: &str) -> bool {
    entry == "unix:" || parse_cidr(entry).is_some()
}

/// Parses `ip` or `ip/prefix` into (network address, prefix length).
pub(crate) fn parse_cidr(entry: &str) -> Option<(IpAddr, u8)> {
    let (ip, prefix) = match entry.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (entry, None),
    };
    let ip: IpAddr = ip.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
    };
    (prefix <= max).then_some((ip, prefix))
}

/// Whether `ip` is inside `network/prefix`.
pub(crate) fn cidr_contains(network: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (network, ip.to_canonical()) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}
