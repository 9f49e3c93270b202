//! Merging of the sources (defaults < file < `KONG_*` < `GATEHOUSE_*`) and construction of the
//! typed [`Config`].

use gatehouse_proxy::tls::TlsPolicy;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::error::{ConfigErrors, ConfigIssue};
use super::keys::{is_kong_only, lookup, ALIASES, KEYS};
use super::listener::Listener;
use super::settings::{Database, HeaderSet, LogLevel, PgSettings, PluginsSetting, RouterFlavor};
use super::size::HeaderBuffers;
use super::syntax::parse_text;
use super::value::{parse_value, Value};
use super::Config;

/// Where a raw value comes from.
#[derive(Clone, Debug)]
enum Origin {
    Default,
    File(usize),
    Env(String),
}

struct Raw {
    value: String,
    origin: Origin,
}

/// A configuration file's contents and the name used in error locations.
pub(crate) struct FileInput<'a> {
    pub origin: &'a str,
    pub text: &'a str,
}

/// Sort key of an issue: file problems by line, then environment, then the rest.
fn rank(origin: &Origin) -> (u8, usize) {
    match origin {
        Origin::File(line) => (0, *line),
        Origin::Env(_) => (1, 0),
        Origin::Default => (2, 0),
    }
}

fn location(origin: &Origin, file: &str) -> String {
    match origin {
        Origin::Default => "default".to_string(),
        Origin::File(line) => format!("{file}:{line}"),
        Origin::Env(var) => format!("env {var}"),
    }
}

/// Environment variable names for `key`, highest precedence first.
pub(crate) fn env_names(key: &str) -> [String; 2] {
    let upper = key.to_ascii_uppercase();
    [format!("GATEHOUSE_{upper}"), format!("KONG_{upper}")]
}

pub(crate) fn build(
    file: Option<FileInput<'_>>,
    env: &HashMap<String, String>,
    source: Option<PathBuf>,
) -> Result<Config, ConfigErrors> {
    let mut issues: Vec<((u8, usize), ConfigIssue)> = Vec::new();
    let mut warnings: Vec<ConfigIssue> = Vec::new();
    let file_name = file.as_ref().map_or("", |f| f.origin).to_string();

    // 1. defaults
    let mut raw: BTreeMap<&'static str, Raw> = BTreeMap::new();
    for def in KEYS {
        if let Some(default) = def.default {
            raw.insert(def.name, Raw { value: default.to_string(), origin: Origin::Default });
        }
    }

    // 2. file
    if let Some(file) = &file {
        let (lines, syntax_errors) = parse_text(file.text);
        let mut problems: Vec<(usize, String)> = syntax_errors;
        let mut seen: HashMap<&'static str, usize> = HashMap::new();
        for line in lines {
            let Some(def) = lookup(&line.key) else {
                if is_kong_only(&line.key) {
                    warnings.push(ConfigIssue::new(
                        format!("{}:{}", file.origin, line.line),
                        format!(
                            "property '{}' is a Kong setting with no effect in Gatehouse; ignored",
                            line.written_key
                        ),
                    ));
                } else {
                    problems.push((line.line, format!("unknown property '{}'", line.written_key)));
                }
                continue;
            };
            if let Some(first) = seen.insert(def.name, line.line) {
                problems.push((line.line, format!("duplicate property '{}' (first set on line {first})", def.name)));
                continue;
            }
            raw.insert(def.name, Raw { value: line.value, origin: Origin::File(line.line) });
        }
        issues.extend(
            problems
                .into_iter()
                .map(|(line, msg)| ((0, line), ConfigIssue::new(format!("{}:{line}", file.origin), msg))),
        );
    }

    // 3. environment: GATEHOUSE_X wins over KONG_X, and both over Kong's alias names (`KONG_NGINX_HTTP_*`,
    // as Kong's container images are configured)
    for def in KEYS {
        let aliases = ALIASES.iter().filter(|(_, target)| *target == def.name).flat_map(|(alias, _)| env_names(alias));
        if let Some((var, value)) =
            env_names(def.name).into_iter().chain(aliases).find_map(|var| env.get(&var).map(|v| (var, v.clone())))
        {
            raw.insert(def.name, Raw { value, origin: Origin::Env(var) });
        }
    }

    // 4. typing; an empty value means "the default" (unset when there is none)
    let mut values: BTreeMap<&'static str, Value> = BTreeMap::new();
    let mut origins: HashMap<&'static str, Origin> = HashMap::new();
    for def in KEYS {
        let Some(entry) = raw.get(def.name) else {
            continue;
        };
        let mut text = entry.value.trim();
        if text.is_empty() {
            match def.default {
                Some(default) => text = default,
                None => continue,
            }
        }
        match parse_value(def, text) {
            Ok(value) => {
                values.insert(def.name, value);
                origins.insert(def.name, entry.origin.clone());
            }
            Err(message) => {
                issues.push((rank(&entry.origin), ConfigIssue::new(location(&entry.origin, &file_name), message)))
            }
        }
    }

    // 5. cross-property checks
    for prefix in ["", "admin_", "status_"] {
        let cert = format!("{prefix}ssl_cert");
        let key = format!("{prefix}ssl_cert_key");
        let count = |name: &str| match values.get(name) {
            Some(Value::List(items)) => items.len(),
            _ => 0,
        };
        let (certs, keys) = (count(&cert), count(&key));
        let mut report = |name: &str, message: String| {
            let origin = origins.get(name).cloned().unwrap_or(Origin::Default);
            let issue = ConfigIssue::new(location(&origin, &file_name), message);
            issues.push((rank(&origin), issue));
        };
        if certs > 0 && keys == 0 {
            report(&cert, format!("{key} must be specified"));
        } else if keys > 0 && certs == 0 {
            report(&key, format!("{cert} must be specified"));
        } else if certs != keys {
            report(&key, format!("{cert} was specified {certs} times while {key} was specified {keys} times"));
        }
    }

    // The listeners' TLS policy: a named suite decides, the others count only with `custom` (as Kong).
    let text = |name: &str| match values.get(name) {
        Some(Value::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    let suite = text("ssl_cipher_suite").unwrap_or("intermediate");
    let prefer = matches!(values.get("ssl_prefer_server_ciphers"), Some(Value::Bool(true)));
    let protocols = text("ssl_protocols").unwrap_or_default();
    let mut tls_policy = match TlsPolicy::from_settings(suite, protocols, text("ssl_ciphers"), prefer) {
        Ok((policy, notes)) => {
            let origin = origins.get("ssl_cipher_suite").cloned().unwrap_or(Origin::Default);
            warnings.extend(notes.into_iter().map(|note| ConfigIssue::new(location(&origin, &file_name), note)));
            policy
        }
        Err(message) => {
            let name = if message.starts_with("Undefined") { "ssl_cipher_suite" } else { "ssl_protocols" };
            let origin = origins.get(name).cloned().unwrap_or(Origin::Default);
            issues.push((rank(&origin), ConfigIssue::new(location(&origin, &file_name), message)));
            TlsPolicy::default()
        }
    };
    tls_policy.session_tickets = !matches!(values.get("ssl_session_tickets"), Some(Value::Bool(false)));
    if let Some(Value::Size { bytes, .. }) = values.get("ssl_session_cache_size") {
        // nginx: one megabyte holds about 4,000 sessions.
        tls_policy.session_cache = usize::try_from(bytes.saturating_mul(4_000) >> 20).unwrap_or(usize::MAX);
    }

    if let Err(message) = gatehouse_proxy::RealIpSource::parse(text("real_ip_header").unwrap_or("X-Real-IP")) {
        let origin = origins.get("real_ip_header").cloned().unwrap_or(Origin::Default);
        issues.push((rank(&origin), ConfigIssue::new(location(&origin, &file_name), message)));
    }

    if !issues.is_empty() {
        issues.sort_by_key(|(rank, _)| *rank);
        return Err(ConfigErrors(issues.into_iter().map(|(_, i)| i).collect()));
    }
    let mut config = typed(values, source);
    config.warnings = warnings;
    config.tls_policy = tls_policy;
    Ok(config)
}

/// Typed accessors over the parsed values. Every key with a default is present (defaults are
/// checked by the tests), so the fallbacks below are never used in practice.
struct Get<'a>(&'a BTreeMap<&'static str, Value>);

impl Get<'_> {
    fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }
    fn bool(&self, key: &str) -> Option<bool> {
        match self.0.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    fn num(&self, key: &str) -> Option<f64> {
        match self.0.get(key) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }
    fn int(&self, key: &str) -> Option<u64> {
        match self.0.get(key) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        }
    }
    fn u32(&self, key: &str) -> Option<u32> {
        self.int(key).and_then(|n| u32::try_from(n).ok())
    }
    fn u16(&self, key: &str) -> Option<u16> {
        self.int(key).and_then(|n| u16::try_from(n).ok())
    }
    fn size(&self, key: &str) -> u64 {
        match self.0.get(key) {
            Some(Value::Size { bytes, .. }) => *bytes,
            _ => 0,
        }
    }
    fn list(&self, key: &str) -> Vec<String> {
        match self.0.get(key) {
            Some(Value::List(items)) => items.clone(),
            _ => Vec::new(),
        }
    }
    fn listeners(&self, key: &str) -> Vec<Listener> {
        match self.0.get(key) {
            Some(Value::Listeners(list)) => list.clone(),
            _ => Vec::new(),
        }
    }
}

fn pg_settings(get: &Get<'_>) -> PgSettings {
    PgSettings {
        host: get.str("pg_host").unwrap_or_default(),
        port: get.u16("pg_port").unwrap_or(5432),
        user: get.str("pg_user").unwrap_or_default(),
        password: get.str("pg_password"),
        database: get.str("pg_database").unwrap_or_default(),
        schema: get.str("pg_schema"),
        ssl: get.bool("pg_ssl").unwrap_or(false),
        ssl_verify: get.bool("pg_ssl_verify").unwrap_or(false),
        timeout_ms: get.int("pg_timeout").unwrap_or(5000),
        max_concurrent_queries: get.int("pg_max_concurrent_queries").unwrap_or(0),
        pool_size: get.u32("pg_pool_size").unwrap_or(10),
    }
}

/// The replica: present when any `pg_ro_*` is set; unset `pg_ro_*` values inherit `pg_*` (Kong).
fn pg_ro_settings(get: &Get<'_>, pg: &PgSettings) -> Option<PgSettings> {
    if !get.0.keys().any(|k| k.starts_with("pg_ro_")) {
        return None;
    }
    Some(PgSettings {
        host: get.str("pg_ro_host").unwrap_or_else(|| pg.host.clone()),
        port: get.u16("pg_ro_port").unwrap_or(pg.port),
        user: get.str("pg_ro_user").unwrap_or_else(|| pg.user.clone()),
        password: get.str("pg_ro_password").or_else(|| pg.password.clone()),
        database: get.str("pg_ro_database").unwrap_or_else(|| pg.database.clone()),
        schema: get.str("pg_ro_schema").or_else(|| pg.schema.clone()),
        ssl: get.bool("pg_ro_ssl").unwrap_or(pg.ssl),
        ssl_verify: get.bool("pg_ro_ssl_verify").unwrap_or(pg.ssl_verify),
        timeout_ms: get.int("pg_ro_timeout").unwrap_or(pg.timeout_ms),
        max_concurrent_queries: get.int("pg_ro_max_concurrent_queries").unwrap_or(pg.max_concurrent_queries),
        pool_size: get.u32("pg_ro_pool_size").unwrap_or(pg.pool_size),
    })
}

fn typed(values: BTreeMap<&'static str, Value>, source: Option<PathBuf>) -> Config {
    let get = Get(&values);
    let word = |key: &str| get.str(key).unwrap_or_default();
    let pg = pg_settings(&get);
    let pg_ro = pg_ro_settings(&get, &pg);
    let large_client_header_buffers = match values.get("large_client_header_buffers") {
        Some(Value::HeaderBuffers(b)) => *b,
        _ => HeaderBuffers { count: 4, size: 8192 },
    };
    let time = |key: &str| match values.get(key) {
        Some(Value::Time { duration, .. }) => *duration,
        // Both time properties default to 60s.
        _ => std::time::Duration::from_secs(60),
    };
    let node_id = match values.get("node_id") {
        Some(Value::Uuid(u)) => Some(*u),
        _ => None,
    };
    Config {
        warnings: Vec::new(),
        tls_policy: TlsPolicy::default(),
        database: Database::from_word(&word("database")).unwrap_or_default(),
        prefix: PathBuf::from(word("prefix")),
        pg,
        pg_ro,
        proxy_listen: get.listeners("proxy_listen"),
        admin_listen: get.listeners("admin_listen"),
        status_listen: get.listeners("status_listen"),
        log_level: LogLevel::from_word(&word("log_level")).unwrap_or_default(),
        db_update_frequency: get.num("db_update_frequency").unwrap_or(5.0),
        db_update_propagation: get.num("db_update_propagation").unwrap_or(0.0),
        db_cache_ttl: get.num("db_cache_ttl").unwrap_or(0.0),
        db_cache_neg_ttl: get.num("db_cache_neg_ttl"),
        db_resurrect_ttl: get.num("db_resurrect_ttl").unwrap_or(30.0),
        plugins: PluginsSetting::from_entries(&get.list("plugins")),
        trusted_ips: get.list("trusted_ips"),
        headers: HeaderSet { entries: get.list("headers") },
        headers_upstream: HeaderSet { entries: get.list("headers_upstream") },
        router_flavor: RouterFlavor::from_word(&word("router_flavor")).unwrap_or_default(),
        client_max_body_size: get.size("client_max_body_size"),
        client_body_buffer_size: get.size("client_body_buffer_size"),
        large_client_header_buffers,
        client_header_timeout: time("client_header_timeout"),
        client_body_timeout: time("client_body_timeout"),
        nginx_admin_client_max_body_size: get.size("nginx_admin_client_max_body_size"),
        mem_cache_size: get.size("mem_cache_size"),
        worker_state_update_frequency: get.num("worker_state_update_frequency").unwrap_or(5.0),
        real_ip_header: word("real_ip_header"),
        real_ip_recursive: get.bool("real_ip_recursive").unwrap_or(false),
        ssl_cert: get.list("ssl_cert"),
        ssl_cert_key: get.list("ssl_cert_key"),
        admin_ssl_cert: get.list("admin_ssl_cert"),
        admin_ssl_cert_key: get.list("admin_ssl_cert_key"),
        status_ssl_cert: get.list("status_ssl_cert"),
        status_ssl_cert_key: get.list("status_ssl_cert_key"),
        node_id,
        error_default_type: word("error_default_type"),
        error_templates: super::ErrorTemplatePaths {
            html: get.str("error_template_html"),
            json: get.str("error_template_json"),
            xml: get.str("error_template_xml"),
            plain: get.str("error_template_plain"),
        },
        allow_debug_header: get.bool("allow_debug_header").unwrap_or(false),
        upstream_keepalive_pool_size: get.u32("upstream_keepalive_pool_size").unwrap_or(512),
        lua_ssl_trusted_certificate: get.list("lua_ssl_trusted_certificate"),
        lua_ssl_verify_depth: get.u32("lua_ssl_verify_depth").unwrap_or(1),
        dns_resolver: get.list("dns_resolver"),
        dns_hostsfile: get.str("dns_hostsfile"),
        dns_valid_ttl: get.num("dns_valid_ttl"),
        dns_stale_ttl: get.num("dns_stale_ttl").unwrap_or(3600.0),
        dns_not_found_ttl: get.num("dns_not_found_ttl").unwrap_or(30.0),
        dns_error_ttl: get.num("dns_error_ttl").unwrap_or(1.0),
        dns_cache_size: get.u32("dns_cache_size").unwrap_or(10_000),
        dns_order: get.list("dns_order"),
        upstream_keepalive_max_requests: get.int("upstream_keepalive_max_requests").unwrap_or(10000),
        upstream_keepalive_idle_timeout: get.int("upstream_keepalive_idle_timeout").unwrap_or(60),
        worker_processes: get.int("nginx_worker_processes").and_then(|n| usize::try_from(n).ok()),
        worker_cpu_affinity: get
            .str("worker_cpu_affinity")
            .and_then(|text| gatehouse_proxy::CpuAffinity::parse(&text).ok())
            .unwrap_or_default(),
        proxy_access_log: get.str("proxy_access_log"),
        proxy_error_log: get.str("proxy_error_log"),
        admin_access_log: get.str("admin_access_log"),
        source,
        values,
    }
}
