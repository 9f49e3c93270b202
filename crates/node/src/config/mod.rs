//! Configuration loader of the gateway node (Kong 3.9 `kong.conf` compatible).
//!
//! Sources, lowest to highest precedence: built-in defaults, the configuration file (only when
//! given explicitly, e.g. `-c`; no default path is searched), `KONG_<KEY>` and then
//! `GATEHOUSE_<KEY>` environment variables (key upper-cased). The environment is passed in as a
//! map so that callers (and tests) control it.
//!
//! Deliberate differences from Kong:
//! - `database` defaults to `sqlite` (file `<prefix>/gatehouse.db`); `postgres` and `off` are
//!   accepted.
//! - Unknown properties, duplicate properties, malformed lines and bad values are errors, all
//!   collected and reported as `<file>:<line>: <message>` (or `env <VAR>: <message>`). Unknown
//!   environment variables are ignored (the process environment holds unrelated `KONG_*`).
//! - An empty value (`pg_password =`) means the property's default (unset when it has none).
//!
//! The properties are listed in one table, `keys::KEYS` (name, kind, default). Secrets
//! (any name containing `password`, and `*ssl_cert_key`) never appear in [`Config`]'s `Debug`
//! output nor in [`Config::to_sanitized_json`].

mod build;
mod error;
mod keys;
mod listener;
mod settings;
mod size;
mod syntax;
mod value;

#[cfg(test)]
mod tests_listen;
#[cfg(test)]
mod tests_load;
#[cfg(test)]
mod tests_values;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use error::{ConfigErrors, ConfigIssue};
pub use keys::is_secret;
pub use listener::{first_listener, Listener};
pub use settings::{Database, HeaderSet, LogLevel, PgSettings, PluginsSetting, RouterFlavor};
pub use size::{format_size, parse_size, parse_time, HeaderBuffers};
pub use value::Value;

/// Replacement text for secret values.
pub const REDACTED: &str = "******";

/// Name of the SQLite database file inside the prefix.
pub const SQLITE_FILE: &str = "gatehouse.db";

/// Paths of custom error body templates (Kong's `error_template_*`); unset ones keep Kong's built-in template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorTemplatePaths {
    pub html: Option<String>,
    pub json: Option<String>,
    pub xml: Option<String>,
    pub plain: Option<String>,
}

/// The loaded, validated configuration. `Debug` hides secrets.
#[derive(Clone)]
pub struct Config {
    /// The file the configuration was read from (`None`: defaults and environment only).
    pub source: Option<PathBuf>,
    /// Kong properties that were accepted but have no effect here, with where they were set.
    pub warnings: Vec<ConfigIssue>,
    /// Protocols and ciphers of every TLS listener, from `ssl_cipher_suite`, `ssl_protocols`,
    /// `ssl_ciphers` and `ssl_prefer_server_ciphers`.
    pub tls_policy: gatehouse_proxy::tls::TlsPolicy,
    pub database: Database,
    /// `prefix`: working directory of the node (default `./gatehouse`).
    pub prefix: PathBuf,
    /// `pg_*`.
    pub pg: PgSettings,
    /// Read replica: `Some` when any `pg_ro_*` is set; unset `pg_ro_*` values inherit `pg_*`.
    pub pg_ro: Option<PgSettings>,
    /// `proxy_listen` (empty = `off`).
    pub proxy_listen: Vec<Listener>,
    /// `admin_listen` (empty = `off`).
    pub admin_listen: Vec<Listener>,
    /// `status_listen` (empty = `off`).
    pub status_listen: Vec<Listener>,
    pub log_level: LogLevel,
    /// Seconds.
    pub db_update_frequency: f64,
    /// Seconds.
    pub db_update_propagation: f64,
    /// Seconds; 0 = no expiry.
    pub db_cache_ttl: f64,
    /// Seconds; `None` = same as `db_cache_ttl`.
    pub db_cache_neg_ttl: Option<f64>,
    /// Seconds.
    pub db_resurrect_ttl: f64,
    pub plugins: PluginsSetting,
    /// IPs, CIDR blocks or `unix:` (see [`Config::is_trusted_ip`]).
    pub trusted_ips: Vec<String>,
    pub headers: HeaderSet,
    pub headers_upstream: HeaderSet,
    pub router_flavor: RouterFlavor,
    /// Bytes; 0 = unlimited.
    pub client_max_body_size: u64,
    /// Bytes.
    pub client_body_buffer_size: u64,
    pub large_client_header_buffers: HeaderBuffers,
    /// How long a client may take to send a request head (nginx's `client_header_timeout`, set in Kong
    /// through `nginx_http_client_header_timeout`); idle keep-alive connections close after it too.
    pub client_header_timeout: std::time::Duration,
    /// How long a client may pause while sending a request body (nginx's `client_body_timeout`, set in
    /// Kong through `nginx_http_client_body_timeout`); a request whose body stalls longer gets 408.
    pub client_body_timeout: std::time::Duration,
    /// Bytes; 0 = unlimited.
    pub nginx_admin_client_max_body_size: u64,
    /// Bytes.
    pub mem_cache_size: u64,
    /// Seconds.
    pub worker_state_update_frequency: f64,
    pub real_ip_header: String,
    pub real_ip_recursive: bool,
    pub ssl_cert: Vec<String>,
    /// Secret.
    pub ssl_cert_key: Vec<String>,
    pub admin_ssl_cert: Vec<String>,
    /// Secret.
    pub admin_ssl_cert_key: Vec<String>,
    pub status_ssl_cert: Vec<String>,
    /// Secret.
    pub status_ssl_cert_key: Vec<String>,
    pub node_id: Option<uuid::Uuid>,
    /// `application/json`, `application/xml`, `text/html` or `text/plain`.
    pub error_default_type: String,
    /// `error_template_html`, `_json`, `_xml`, `_plain`: files replacing Kong's error body templates.
    pub error_templates: ErrorTemplatePaths,
    pub allow_debug_header: bool,
    pub upstream_keepalive_pool_size: u32,
    /// CA certificates for the node's own TLS clients (active `https` health checks): `system`, file paths,
    /// PEM text or base64 PEM, as Kong's cosockets use them.
    pub lua_ssl_trusted_certificate: Vec<String>,
    /// Intermediates allowed in chains verified against `lua_ssl_trusted_certificate`.
    pub lua_ssl_verify_depth: u32,
    /// Name servers (`ip[:port]`) for upstream host names; empty: the system's.
    pub dns_resolver: Vec<String>,
    pub dns_hostsfile: Option<String>,
    /// Seconds; replaces record TTLs when set.
    pub dns_valid_ttl: Option<f64>,
    /// Seconds an expired answer is still used while it is refreshed.
    pub dns_stale_ttl: f64,
    /// Seconds.
    pub dns_not_found_ttl: f64,
    /// Seconds.
    pub dns_error_ttl: f64,
    pub dns_cache_size: u32,
    /// `dns_order`, lower-cased record type words.
    pub dns_order: Vec<String>,
    pub upstream_keepalive_max_requests: u64,
    /// Seconds.
    pub upstream_keepalive_idle_timeout: u64,
    /// Proxy workers (`nginx_worker_processes`); `None` for `auto`, one per available core.
    pub worker_processes: Option<usize>,
    /// Which CPUs proxy workers run on (`worker_cpu_affinity`, Kong's `nginx_main_worker_cpu_affinity`);
    /// unset, as in Kong, they are left to the scheduler.
    pub worker_cpu_affinity: gatehouse_proxy::CpuAffinity,
    /// Relative paths are relative to `prefix`.
    pub proxy_access_log: Option<String>,
    pub proxy_error_log: Option<String>,
    pub admin_access_log: Option<String>,
    /// Every set property, typed (source of [`Config::get`] and the JSON output).
    values: BTreeMap<&'static str, Value>,
}

impl Config {
    /// Loads the configuration: defaults, then the file at `path` if given, then the environment.
    /// No default file location is searched. A missing file gives `no file at: <path>`.
    pub fn load(path: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        let Some(path) = path else {
            return build::build(None, env, None);
        };
        let shown = path.display().to_string();
        if !path.exists() {
            return Err(ConfigErrors(vec![ConfigIssue::new(shown.clone(), format!("no file at: {shown}"))]));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigIssue::new(shown.clone(), format!("could not load config file: {e}"))])
        })?;
        let file = build::FileInput { origin: &shown, text: &text };
        build::build(Some(file), env, Some(path.to_path_buf()))
    }

    /// Loads the configuration from file contents; `origin` names the file in error locations.
    /// [`Config::source`] is `None`.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, origin: &str, env: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        build::build(Some(build::FileInput { origin, text }), env, None)
    }

    /// The SQLite database file: `<prefix>/gatehouse.db`.
    pub fn sqlite_path(&self) -> PathBuf {
        self.prefix.join(SQLITE_FILE)
    }

    /// The typed value of any set property (secrets included), by Kong name.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Every set property as JSON (sorted by name), typed, secrets replaced by `"******"`,
    /// unset properties omitted. Suitable for logs and the `configuration` of `GET /`.
    pub fn to_sanitized_json(&self) -> serde_json::Value {
        let map = self
            .values
            .iter()
            .map(|(key, value)| {
                let json =
                    if is_secret(key) { serde_json::Value::String(REDACTED.to_string()) } else { value.to_json() };
                (key.to_string(), json)
            })
            .collect();
        serde_json::Value::Object(map)
    }

    /// First non-ssl `proxy_listen` entry.
    pub fn proxy_plain_listener(&self) -> Option<&Listener> {
        first_listener(&self.proxy_listen, false)
    }

    /// First ssl `proxy_listen` entry.
    pub fn proxy_ssl_listener(&self) -> Option<&Listener> {
        first_listener(&self.proxy_listen, true)
    }

    /// First non-ssl `admin_listen` entry.
    pub fn admin_plain_listener(&self) -> Option<&Listener> {
        first_listener(&self.admin_listen, false)
    }

    /// First ssl `admin_listen` entry.
    pub fn admin_ssl_listener(&self) -> Option<&Listener> {
        first_listener(&self.admin_listen, true)
    }

    /// First non-ssl `status_listen` entry.
    pub fn status_plain_listener(&self) -> Option<&Listener> {
        first_listener(&self.status_listen, false)
    }

    /// Whether `ip` matches `trusted_ips` (addresses or CIDR blocks; `unix:` never matches an IP).
    pub fn is_trusted_ip(&self, ip: IpAddr) -> bool {
        self.trusted_ips
            .iter()
            .filter_map(|entry| settings::parse_cidr(entry))
            .any(|(net, prefix)| settings::cidr_contains(net, prefix, ip))
    }

    /// Whether `trusted_ips` contains `unix:` (connections over unix sockets are trusted).
    pub fn trusts_unix_sockets(&self) -> bool {
        self.trusted_ips.iter().any(|e| e == "unix:")
    }

    /// `db_cache_neg_ttl`, falling back to `db_cache_ttl` (Kong).
    pub fn effective_db_cache_neg_ttl(&self) -> f64 {
        self.db_cache_neg_ttl.unwrap_or(self.db_cache_ttl)
    }

    /// Resolves a path setting (e.g. a log file) against `prefix` when it is relative.
    pub fn prefixed(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.prefix.join(p)
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Verbatim(String);
        impl fmt::Debug for Verbatim {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        f.debug_struct("Config")
            .field("source", &self.source)
            .field("settings", &Verbatim(self.to_sanitized_json().to_string()))
            .finish()
    }
}
