//! The table of known properties: name, kind and default. Adding a property is one line in
//! [`KEYS`] (plus, optionally, a typed field in `Config`).

/// How the value of a property is parsed and validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Any string (kept as written, quotes included, like Kong).
    Str,
    /// `on`/`off`/`true`/`false`.
    Bool,
    /// Finite non-negative number; `positive` also rejects 0.
    Number { positive: bool },
    /// Integer in `min..=max`.
    Int { min: u64, max: u64 },
    /// nginx size: `512`, `8k`, `10m`, `1g`.
    Size,
    /// nginx `large_client_header_buffers` syntax: `<count> <size>`.
    HeaderBuffers,
    /// nginx time: `60s`, `1m30s`, `500ms`, or plain seconds.
    Time,
    /// One of the listed words (exact match).
    Enum(&'static [&'static str]),
    /// Comma separated list of free strings.
    List,
    /// Comma separated listeners (`*_listen`).
    Listen,
    /// Comma separated plugin names, `bundled` keyword, or `off`.
    Plugins,
    /// Comma separated header tokens from the allowed set (case-insensitive), or `off`.
    Headers(&'static [&'static str]),
    /// Comma separated words from the allowed set (case-insensitive, no `off`).
    Words(&'static [&'static str]),
    /// Comma separated IPs / CIDR blocks / `unix:`.
    TrustedIps,
    /// A UUID.
    Uuid,
    /// `auto` or a count from 1 (nginx's `worker_processes`).
    Workers,
    /// nginx's `worker_cpu_affinity` (`auto`, `auto <mask>`, masks) or `off`.
    CpuAffinity,
}

/// One known property.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyDef {
    pub name: &'static str,
    pub kind: Kind,
    /// `None` = unset by default.
    pub default: Option<&'static str>,
}

const fn k(name: &'static str, kind: Kind, default: Option<&'static str>) -> KeyDef {
    KeyDef { name, kind, default }
}

const PORT: Kind = Kind::Int { min: 1, max: 65535 };
const U32_POS: Kind = Kind::Int { min: 1, max: u32::MAX as u64 };
const U32: Kind = Kind::Int { min: 0, max: u32::MAX as u64 };
const U64: Kind = Kind::Int { min: 0, max: u64::MAX };
const U64_POS: Kind = Kind::Int { min: 1, max: u64::MAX };
const NUM: Kind = Kind::Number { positive: false };
const NUM_POS: Kind = Kind::Number { positive: true };

/// Accepted values of `database` (Gatehouse adds `sqlite`, its default).
pub(crate) const DATABASES: &[&str] = &["sqlite", "postgres", "off"];
/// Accepted values of `log_level`, most verbose first.
pub(crate) const LOG_LEVELS: &[&str] = &["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"];
/// Accepted values of `router_flavor`.
pub(crate) const ROUTER_FLAVORS: &[&str] = &["traditional", "traditional_compatible", "expressions"];
/// Accepted values of `error_default_type`.
pub(crate) const ERROR_TYPES: &[&str] = &["application/json", "application/xml", "text/html", "text/plain"];
/// Accepted entries of `headers` (Kong's `HEADER_KEY_TO_NAME`).
pub(crate) const HEADER_TOKENS: &[&str] = &[
    "server_tokens",
    "latency_tokens",
    "via",
    "server",
    "x-kong-proxy-latency",
    "x-kong-response-latency",
    "x-kong-admin-latency",
    "x-kong-upstream-latency",
    "x-kong-upstream-status",
    "x-kong-request-id",
];
/// Accepted entries of `headers_upstream`.
pub(crate) const UPSTREAM_HEADER_TOKENS: &[&str] = &["x-kong-request-id"];
/// `dns_order`'s words (Kong's conf_loader accepts them in any case).
pub(crate) const DNS_RECORD_TYPES: &[&str] = &["last", "srv", "a", "aaaa", "cname"];

/// Every known property. Names are Kong's (`kong.conf`) where Kong has one.
#[rustfmt::skip]
pub(crate) const KEYS: &[KeyDef] = &[
    k("database", Kind::Enum(DATABASES), Some("sqlite")),
    k("prefix", Kind::Str, Some("./gatehouse")),
    k("pg_host", Kind::Str, Some("127.0.0.1")),
    k("pg_port", PORT, Some("5432")),
    k("pg_user", Kind::Str, Some("kong")),
    k("pg_password", Kind::Str, None),
    k("pg_database", Kind::Str, Some("kong")),
    k("pg_schema", Kind::Str, None),
    k("pg_ssl", Kind::Bool, Some("off")),
    k("pg_ssl_verify", Kind::Bool, Some("off")),
    k("pg_timeout", U64_POS, Some("5000")),
    k("pg_max_concurrent_queries", U64, Some("0")),
    k("pg_pool_size", U32_POS, Some("10")),
    k("pg_ro_host", Kind::Str, None),
    k("pg_ro_port", PORT, None),
    k("pg_ro_user", Kind::Str, None),
    k("pg_ro_password", Kind::Str, None),
    k("pg_ro_database", Kind::Str, None),
    k("pg_ro_schema", Kind::Str, None),
    k("pg_ro_ssl", Kind::Bool, None),
    k("pg_ro_ssl_verify", Kind::Bool, None),
    k("pg_ro_timeout", U64_POS, None),
    k("pg_ro_max_concurrent_queries", U64, None),
    k("pg_ro_pool_size", U32_POS, None),
    k("proxy_listen", Kind::Listen, Some("0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384")),
    k("admin_listen", Kind::Listen, Some("127.0.0.1:8001 reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384")),
    k("status_listen", Kind::Listen, Some("127.0.0.1:8007 reuseport backlog=16384")),
    k("log_level", Kind::Enum(LOG_LEVELS), Some("notice")),
    k("db_update_frequency", NUM_POS, Some("5")),
    k("db_update_propagation", NUM, Some("0")),
    k("db_cache_ttl", NUM, Some("0")),
    k("db_cache_neg_ttl", NUM, None),
    k("db_resurrect_ttl", NUM, Some("30")),
    k("plugins", Kind::Plugins, Some("bundled")),
    k("trusted_ips", Kind::TrustedIps, None),
    k("headers", Kind::Headers(HEADER_TOKENS), Some("server_tokens, latency_tokens, x-kong-request-id")),
    k("headers_upstream", Kind::Headers(UPSTREAM_HEADER_TOKENS), Some("x-kong-request-id")),
    k("router_flavor", Kind::Enum(ROUTER_FLAVORS), Some("traditional_compatible")),
    k("client_max_body_size", Kind::Size, Some("0")),
    k("client_body_buffer_size", Kind::Size, Some("8k")),
    k("large_client_header_buffers", Kind::HeaderBuffers, Some("4 8k")),
    k("client_header_timeout", Kind::Time, Some("60s")),
    k("client_body_timeout", Kind::Time, Some("60s")),
    k("nginx_admin_client_max_body_size", Kind::Size, Some("10m")),
    k("nginx_worker_processes", Kind::Workers, Some("auto")),
    k("worker_cpu_affinity", Kind::CpuAffinity, None),
    k("mem_cache_size", Kind::Size, Some("128m")),
    k("worker_state_update_frequency", NUM_POS, Some("5")),
    k("real_ip_header", Kind::Str, Some("X-Real-IP")),
    k("real_ip_recursive", Kind::Bool, Some("off")),
    k("ssl_cert", Kind::List, None),
    k("ssl_cert_key", Kind::List, None),
    k("admin_ssl_cert", Kind::List, None),
    k("admin_ssl_cert_key", Kind::List, None),
    k("status_ssl_cert", Kind::List, None),
    k("status_ssl_cert_key", Kind::List, None),
    k("node_id", Kind::Uuid, None),
    k("error_default_type", Kind::Enum(ERROR_TYPES), Some("text/plain")),
    k("error_template_html", Kind::Str, None),
    k("error_template_json", Kind::Str, None),
    k("error_template_xml", Kind::Str, None),
    k("error_template_plain", Kind::Str, None),
    k("allow_debug_header", Kind::Bool, Some("off")),
    k("upstream_keepalive_pool_size", U32, Some("512")),
    k("lua_ssl_trusted_certificate", Kind::List, Some("system")),
    k("dns_resolver", Kind::List, None),
    k("dns_hostsfile", Kind::Str, Some("/etc/hosts")),
    k("dns_valid_ttl", NUM_POS, None),
    k("dns_stale_ttl", NUM, Some("3600")),
    k("dns_not_found_ttl", NUM, Some("30")),
    k("dns_error_ttl", NUM, Some("1")),
    k("dns_cache_size", U32_POS, Some("10000")),
    k("dns_order", Kind::Words(DNS_RECORD_TYPES), Some("LAST,SRV,A,CNAME")),
    k("ssl_cipher_suite", Kind::Enum(&["modern", "intermediate", "old", "fips", "custom"]), Some("intermediate")),
    k("ssl_protocols", Kind::Str, Some("TLSv1.2 TLSv1.3")),
    k("ssl_ciphers", Kind::Str, None),
    k("ssl_prefer_server_ciphers", Kind::Bool, Some("on")),
    k("ssl_session_tickets", Kind::Bool, Some("on")),
    k("ssl_session_cache_size", Kind::Size, Some("10m")),
    k("lua_ssl_verify_depth", Kind::Int { min: 0, max: 100 }, Some("1")),
    k("upstream_keepalive_max_requests", U64, Some("10000")),
    k("upstream_keepalive_idle_timeout", U64, Some("60")),
    k("proxy_access_log", Kind::Str, Some("logs/access.log")),
    k("proxy_error_log", Kind::Str, Some("logs/error.log")),
    k("admin_access_log", Kind::Str, Some("logs/admin_access.log")),
];

/// Kong's names for properties Gatehouse calls by the nginx directive they set.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("nginx_http_client_max_body_size", "client_max_body_size"),
    ("nginx_http_client_body_buffer_size", "client_body_buffer_size"),
    ("nginx_http_large_client_header_buffers", "large_client_header_buffers"),
    ("nginx_proxy_large_client_header_buffers", "large_client_header_buffers"),
    ("nginx_http_client_header_timeout", "client_header_timeout"),
    ("nginx_proxy_client_header_timeout", "client_header_timeout"),
    ("nginx_http_client_body_timeout", "client_body_timeout"),
    ("nginx_proxy_client_body_timeout", "client_body_timeout"),
    ("nginx_proxy_real_ip_header", "real_ip_header"),
    ("nginx_proxy_real_ip_recursive", "real_ip_recursive"),
    ("nginx_main_worker_processes", "nginx_worker_processes"),
    ("nginx_main_worker_cpu_affinity", "worker_cpu_affinity"),
];

/// Kong 3.9 properties (`kong/templates/kong_defaults.lua`) that configure parts Gatehouse does not have
/// (nginx workers, DNS client internals, Lua, hybrid mode, wasm, ...). A kong.conf that sets them must
/// still load, so they are accepted with a warning instead of being reported as unknown.
const KONG_ONLY: &[&str] = &[
    "proxy_stream_access_log",
    "proxy_stream_error_log",
    "admin_error_log",
    "admin_gui_access_log",
    "admin_gui_error_log",
    "status_access_log",
    "status_error_log",
    "vaults",
    "port_maps",
    "host_ports",
    "anonymous_reports",
    "proxy_server",
    "proxy_server_ssl_verify",
    "stream_listen",
    "admin_gui_listen",
    "cluster_listen",
    "cluster_control_plane",
    "cluster_cert",
    "cluster_cert_key",
    "cluster_mtls",
    "cluster_ca_cert",
    "cluster_server_name",
    "cluster_data_plane_purge_delay",
    "cluster_ocsp",
    "cluster_max_payload",
    "cluster_use_proxy",
    "cluster_dp_labels",
    "cluster_rpc",
    "cluster_incremental_sync",
    "cluster_cjson",
    "lmdb_environment_path",
    "lmdb_map_size",
    "worker_events_max_payload",
    "client_ssl",
    "client_ssl_cert",
    "client_ssl_cert_key",
    "ssl_dhparam",
    "ssl_session_timeout",
    "admin_gui_ssl_cert",
    "admin_gui_ssl_cert_key",
    "pg_semaphore_timeout",
    "pg_keepalive_timeout",
    "pg_backlog",
    "_debug_pg_ttl_cleanup_interval",
    "pg_ro_semaphore_timeout",
    "pg_ro_keepalive_timeout",
    "pg_ro_backlog",
    "declarative_config",
    "declarative_config_string",
    "db_cache_warmup_entities",
    "dns_no_sync",
    "new_dns_client",
    "resolver_address",
    "resolver_hosts_file",
    "resolver_family",
    "resolver_valid_ttl",
    "resolver_stale_ttl",
    "resolver_lru_cache_size",
    "resolver_mem_cache_size",
    "resolver_error_ttl",
    "dedicated_config_processing",
    "worker_consistency",
    "lua_socket_pool_size",
    "lua_ssl_protocols",
    "lua_package_path",
    "lua_package_cpath",
    "lua_max_req_headers",
    "lua_max_resp_headers",
    "lua_max_uri_args",
    "lua_max_post_args",
    "role",
    "kic",
    "untrusted_lua",
    "admin_gui_path",
    "admin_gui_api_url",
    "admin_gui_url",
    "opentelemetry_tracing",
    "opentelemetry_tracing_sampling_rate",
    "tracing_instrumentations",
    "tracing_sampling_rate",
    "wasm",
    "wasm_filters_path",
    "wasm_dynamic_module",
    "wasm_filters",
    "request_debug",
    "request_debug_token",
];

/// Prefixes under which Kong accepts any property (injected nginx directives, plugin servers, vaults).
const KONG_ONLY_PREFIXES: &[&str] = &["nginx_", "pluginserver_", "vault_"];

/// Looks a property up by (normalised) name, accepting Kong's aliases.
pub(crate) fn lookup(name: &str) -> Option<&'static KeyDef> {
    let name = ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, target)| target);
    KEYS.iter().find(|def| def.name == name)
}

/// Whether `name` is a Kong property without an effect in Gatehouse (accepted with a warning).
pub(crate) fn is_kong_only(name: &str) -> bool {
    KONG_ONLY.contains(&name) || KONG_ONLY_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether the value of a property must never be shown (logs, `GET /`, `Debug`).
pub fn is_secret(name: &str) -> bool {
    name.contains("password") || name.ends_with("cert_key")
}
