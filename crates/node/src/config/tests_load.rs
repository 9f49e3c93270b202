//! Tests: sources, precedence, file syntax, errors with locations, JSON output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn load(text: &str) -> Config {
    match Config::from_str(text, "gh.conf", &no_env()) {
        Ok(c) => c,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn errors(text: &str, env: &HashMap<String, String>) -> Vec<String> {
    match Config::from_str(text, "gh.conf", env) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_default_parses_and_matches_the_spec() {
    let c = Config::load(None, &no_env()).expect("defaults are valid");
    assert_eq!(c.source, None);
    assert_eq!(c.database, Database::Sqlite);
    assert_eq!(c.prefix, PathBuf::from("./gatehouse"));
    assert_eq!(c.sqlite_path(), Path::new("./gatehouse").join("gatehouse.db"));
    assert_eq!(c.pg.host, "127.0.0.1");
    assert_eq!(c.pg.port, 5432);
    assert_eq!(c.pg.user, "kong");
    assert_eq!(c.pg.password, None);
    assert_eq!(c.pg.database, "kong");
    assert_eq!(c.pg.schema, None);
    assert!(!c.pg.ssl && !c.pg.ssl_verify);
    assert_eq!(c.pg.timeout_ms, 5000);
    assert_eq!(c.pg.max_concurrent_queries, 0);
    assert_eq!(c.pg.pool_size, 10);
    assert!(c.pg_ro.is_none());
    assert_eq!(c.proxy_listen.len(), 2);
    assert_eq!(c.admin_listen.len(), 2);
    assert_eq!(c.status_listen.len(), 1);
    assert_eq!(c.log_level, LogLevel::Notice);
    assert_eq!(c.db_update_frequency, 5.0);
    assert_eq!(c.db_update_propagation, 0.0);
    assert_eq!(c.db_cache_ttl, 0.0);
    assert_eq!(c.db_cache_neg_ttl, None);
    assert_eq!(c.effective_db_cache_neg_ttl(), 0.0);
    assert_eq!(c.db_resurrect_ttl, 30.0);
    assert!(c.plugins.bundled && c.plugins.custom.is_empty());
    assert!(c.trusted_ips.is_empty());
    assert_eq!(c.headers.entries, ["server_tokens", "latency_tokens", "x-kong-request-id"]);
    assert_eq!(c.headers_upstream.entries, ["x-kong-request-id"]);
    assert_eq!(c.router_flavor, RouterFlavor::TraditionalCompatible);
    assert_eq!(c.client_max_body_size, 0);
    assert_eq!(c.client_body_buffer_size, 8 * 1024);
    assert_eq!(c.large_client_header_buffers, HeaderBuffers { count: 4, size: 8192 });
    assert_eq!(c.nginx_admin_client_max_body_size, 10 * 1024 * 1024);
    assert_eq!(c.mem_cache_size, 128 * 1024 * 1024);
    assert_eq!(c.worker_state_update_frequency, 5.0);
    assert_eq!(c.real_ip_header, "X-Real-IP");
    assert!(!c.real_ip_recursive);
    assert!(c.ssl_cert.is_empty() && c.ssl_cert_key.is_empty());
    assert_eq!(c.node_id, None);
    assert_eq!(c.error_default_type, "text/plain");
    assert!(!c.allow_debug_header);
    assert_eq!(c.upstream_keepalive_pool_size, 512);
    assert_eq!(c.upstream_keepalive_max_requests, 10000);
    assert_eq!(c.upstream_keepalive_idle_timeout, 60);
    assert_eq!(c.proxy_access_log.as_deref(), Some("logs/access.log"));
    assert_eq!(c.prefixed("logs/error.log"), Path::new("./gatehouse/logs/error.log"));
    assert_eq!(c.prefixed("/var/log/x"), Path::new("/var/log/x"));
}

#[test]
fn every_table_default_is_valid_for_its_kind() {
    for def in keys::KEYS {
        if let Some(default) = def.default {
            assert!(value::parse_value(def, default).is_ok(), "default of {} is invalid", def.name);
        }
        assert!(keys::lookup(def.name).is_some());
    }
    let mut names: Vec<_> = keys::KEYS.iter().map(|d| d.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), keys::KEYS.len(), "duplicate key in table");
}

#[test]
fn comments_blank_lines_and_escapes() {
    let c = load(
        "# full line comment\n\
         \n\
         ; semicolon comment\n\
         \x20  # indented comment\n\
         pg_host = db.internal   # inline comment\n\
         pg_password = abc\\#def#real comment\n\
         real_ip_header=X-Forwarded-For\n\
         pg-user = admin\n",
    );
    assert_eq!(c.pg.host, "db.internal");
    assert_eq!(c.pg.password.as_deref(), Some("abc#def"));
    assert_eq!(c.real_ip_header, "X-Forwarded-For");
    assert_eq!(c.pg.user, "admin", "non-alphanumeric key characters become '_'");
}

#[test]
fn quotes_are_kept_and_values_split_at_first_equal_sign() {
    let c = load("pg_password = \"a=b\"\n");
    assert_eq!(c.pg.password.as_deref(), Some("\"a=b\""));
}

#[test]
fn continuation_lines_are_joined() {
    let c = load("trusted_ips = 10.0.0.0/8, \\\n    192.168.0.1\nlog_level = debug\n");
    assert_eq!(c.trusted_ips, ["10.0.0.0/8", "192.168.0.1"]);
    assert_eq!(c.log_level, LogLevel::Debug);
}

#[test]
fn empty_value_means_default_or_unset() {
    let c = load("pg_port =\npg_password =   # nothing\n");
    assert_eq!(c.pg.port, 5432);
    assert_eq!(c.pg.password, None);
    assert!(c.get("pg_password").is_none());
}

#[test]
fn file_values_are_typed() {
    let c = load(
        "database = postgres\nprefix = /var/run/gh\npg_port = 6543\npg_ssl = on\n\
         pg_ssl_verify = true\npg_timeout = 1500\npg_pool_size = 3\ndb_update_frequency = 0.5\n\
         db_cache_neg_ttl = 60\nplugins = bundled, my-plugin\nrouter_flavor = expressions\n\
         client_max_body_size = 1k\nlarge_client_header_buffers = 2 16k\n\
         node_id = 6a7bb4b4-7d5c-4f3d-9c52-0f2b5cd2f1f0\nerror_default_type = application/json\n\
         allow_debug_header = on\nreal_ip_recursive = on\nerror_template_plain = /etc/gh/plain.txt\n",
    );
    assert_eq!(c.database, Database::Postgres);
    assert_eq!(c.sqlite_path(), Path::new("/var/run/gh/gatehouse.db"));
    assert_eq!(c.pg.port, 6543);
    assert!(c.pg.ssl && c.pg.ssl_verify);
    assert_eq!(c.pg.timeout_ms, 1500);
    assert_eq!(c.pg.pool_size, 3);
    assert_eq!(c.db_update_frequency, 0.5);
    assert_eq!(c.db_cache_neg_ttl, Some(60.0));
    assert!(c.plugins.bundled);
    assert_eq!(c.plugins.custom, ["my-plugin"]);
    assert_eq!(c.router_flavor, RouterFlavor::Expressions);
    assert_eq!(c.client_max_body_size, 1024);
    assert_eq!(c.large_client_header_buffers.count, 2);
    assert_eq!(c.large_client_header_buffers.size, 16384);
    assert_eq!(c.node_id.map(|u| u.to_string()).as_deref(), Some("6a7bb4b4-7d5c-4f3d-9c52-0f2b5cd2f1f0"));
    assert_eq!(c.error_default_type, "application/json");
    assert_eq!(c.error_templates.plain.as_deref(), Some("/etc/gh/plain.txt"));
    assert_eq!(c.error_templates.html, None);
    assert!(c.allow_debug_header && c.real_ip_recursive);
}

#[test]
fn env_overrides_file_and_gatehouse_wins_over_kong() {
    let text = "pg_host = from-file\npg_port = 1111\npg_user = file-user\n";
    let e = env(&[
        ("KONG_PG_HOST", "from-kong"),
        ("GATEHOUSE_PG_HOST", "from-gatehouse"),
        ("KONG_PG_PORT", "2222"),
        ("KONG_UNRELATED_THING", "ignored"),
        ("GATEHOUSE_NOT_A_KEY", "ignored too"),
    ]);
    let c = Config::from_str(text, "gh.conf", &e).expect("valid");
    assert_eq!(c.pg.host, "from-gatehouse");
    assert_eq!(c.pg.port, 2222);
    assert_eq!(c.pg.user, "file-user");
}

#[test]
fn env_applies_without_a_file_and_values_are_trimmed() {
    let e = env(&[("GATEHOUSE_DATABASE", " postgres "), ("KONG_LOG_LEVEL", "warn")]);
    let c = Config::load(None, &e).expect("valid");
    assert_eq!(c.database, Database::Postgres);
    assert_eq!(c.log_level, LogLevel::Warn);
}

#[test]
fn env_does_not_strip_hash_characters() {
    let e = env(&[("KONG_PG_PASSWORD", "p#ss")]);
    let c = Config::load(None, &e).expect("valid");
    assert_eq!(c.pg.password.as_deref(), Some("p#ss"));
}

#[test]
fn env_error_reports_variable_name_of_the_winning_source() {
    let e = env(&[("KONG_PG_PORT", "5433"), ("GATEHOUSE_PG_PORT", "abc")]);
    let errs = errors("pg_port = 5432\n", &e);
    assert_eq!(errs, ["env GATEHOUSE_PG_PORT: pg_port: expected a number, got 'abc'"]);
}

#[test]
fn env_override_hides_a_bad_file_value() {
    let e = env(&[("KONG_PG_PORT", "5433")]);
    let c = Config::from_str("pg_port = abc\n", "gh.conf", &e).expect("env wins");
    assert_eq!(c.pg.port, 5433);
}

#[test]
fn all_errors_are_collected_with_line_numbers() {
    let text = "# header\n\
                foo = 1\n\
                pg_port = abc\n\
                log_level = loud\n\
                this line has no equal sign\n\
                [section]\n\
                pg_ssl = yes\n\
                pg_port = 1\n\
                = nothing\n";
    let errs = errors(text, &no_env());
    assert_eq!(
        errs,
        [
            "gh.conf:2: unknown property 'foo'",
            "gh.conf:3: pg_port: expected a number, got 'abc'",
            "gh.conf:4: log_level has an invalid value: 'loud' (debug, info, notice, warn, error, crit, alert, emerg)",
            "gh.conf:5: expected 'key = value', got 'this line has no equal sign'",
            "gh.conf:6: expected 'key = value', got '[section]'",
            "gh.conf:7: pg_ssl: expected a boolean (on/off), got 'yes'",
            "gh.conf:8: duplicate property 'pg_port' (first set on line 3)",
            "gh.conf:9: missing property name in '= nothing'",
        ]
    );
}

#[test]
fn errors_display_one_per_line() {
    let err = Config::from_str("a = 1\nb = 2\n", "x.conf", &no_env()).expect_err("unknown keys");
    assert_eq!(err.to_string(), "x.conf:1: unknown property 'a'\nx.conf:2: unknown property 'b'");
    assert_eq!(err.issues()[1].location, "x.conf:2");
    assert_eq!(err.issues()[1].message, "unknown property 'b'");
}

#[test]
fn error_after_continuation_reports_first_line() {
    let errs = errors("\npg_port = \\\n  12x\n", &no_env());
    assert_eq!(errs, ["gh.conf:2: pg_port: expected a number, got '12x'"]);
}

#[test]
fn value_error_kinds() {
    let cases = [
        ("pg_port = 70000", "pg_port: must be between 1 and 65535, got '70000'"),
        ("pg_port = 0", "pg_port: must be between 1 and 65535, got '0'"),
        ("pg_port = 1.5", "pg_port: expected an integer, got '1.5'"),
        ("pg_pool_size = 0", "pg_pool_size: must be an integer greater than 0, got '0'"),
        ("pg_max_concurrent_queries = -1", "pg_max_concurrent_queries: must not be negative, got '-1'"),
        ("db_update_frequency = 0", "db_update_frequency: must be greater than 0, got '0'"),
        ("db_cache_ttl = -5", "db_cache_ttl: must not be negative, got '-5'"),
        ("db_cache_ttl = soon", "db_cache_ttl: expected a number, got 'soon'"),
        ("mem_cache_size = 12x", "mem_cache_size: expected a size (e.g. 512, 8k, 10m, 1g), got '12x'"),
        ("large_client_header_buffers = 8k", "large_client_header_buffers: expected '<number> <size>' (e.g. '4 8k'), got '8k'"),
        ("database = mysql", "database has an invalid value: 'mysql' (sqlite, postgres, off)"),
        ("database = cassandra", "Cassandra as a datastore for Kong is not supported in versions 3.4 and above. Please use Postgres."),
        ("router_flavor = fast", "router_flavor has an invalid value: 'fast' (traditional, traditional_compatible, expressions)"),
        ("error_default_type = text/csv", "error_default_type has an invalid value: 'text/csv' (application/json, application/xml, text/html, text/plain)"),
        ("node_id = 1234", "node_id must be a valid UUID"),
        ("headers = via, x-foo", "headers: invalid entry 'x-foo'"),
        ("headers_upstream = via", "headers_upstream: invalid entry 'via'"),
        ("dns_order = LAST,MX", "dns_order: invalid entry 'MX'"),
        ("dns_order = off", "dns_order: invalid entry 'off'"),
        ("ssl_cipher_suite = strong", "ssl_cipher_suite has an invalid value: 'strong' (modern, intermediate, old, fips, custom)"),
        ("plugins = off, cors", "plugins: 'off' cannot be combined with other entries"),
        ("plugins = bundled, bad name!", "plugins: invalid entry 'bad name!'"),
        ("trusted_ips = 10.0.0.0/8, 999.1.1.1", "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 address or CIDR block or 'unix:', got '999.1.1.1'"),
        ("trusted_ips = 10.0.0.0/33", "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 address or CIDR block or 'unix:', got '10.0.0.0/33'"),
        ("ssl_cert = /a.crt", "ssl_cert_key must be specified"),
        ("admin_ssl_cert_key = /a.key", "admin_ssl_cert must be specified"),
    ];
    for (line, expected) in cases {
        let errs = errors(&format!("\n{line}\n"), &no_env());
        assert_eq!(errs, [format!("gh.conf:2: {expected}")], "for {line}");
    }
}

#[test]
fn cert_and_key_counts_must_match() {
    let errs = errors("status_ssl_cert = a.crt, b.crt\nstatus_ssl_cert_key = a.key\n", &no_env());
    assert_eq!(
        errs,
        ["gh.conf:2: status_ssl_cert was specified 2 times while status_ssl_cert_key was specified 1 times"]
    );
    let c = load("ssl_cert = a.crt, b.crt\nssl_cert_key = a.key, b.key\n");
    assert_eq!(c.ssl_cert, ["a.crt", "b.crt"]);
    assert_eq!(c.ssl_cert_key, ["a.key", "b.key"]);
}

#[test]
fn replica_appears_when_any_pg_ro_key_is_set_and_inherits() {
    let c = load("pg_host = primary\npg_password = pw\npg_ro_host = replica\npg_ro_port = 5433\n");
    let ro = c.pg_ro.expect("replica configured");
    assert_eq!(ro.host, "replica");
    assert_eq!(ro.port, 5433);
    assert_eq!(ro.user, "kong");
    assert_eq!(ro.password.as_deref(), Some("pw"));
    assert_eq!(ro.pool_size, 10);
    let e = env(&[("KONG_PG_RO_TIMEOUT", "100")]);
    let c = Config::load(None, &e).expect("valid");
    assert_eq!(c.pg_ro.map(|r| r.timeout_ms), Some(100));
}

#[test]
fn load_reads_a_file_and_reports_missing_files() {
    let dir = std::env::temp_dir().join(format!("gh-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("gatehouse.conf");
    std::fs::write(&path, "log_level = error\nbogus = 1\n").expect("write");
    let err = Config::load(Some(&path), &no_env()).expect_err("unknown key");
    assert_eq!(err.to_string(), format!("{}:2: unknown property 'bogus'", path.display()));
    std::fs::write(&path, "log_level = error\n").expect("write");
    let c = Config::load(Some(&path), &no_env()).expect("valid");
    assert_eq!(c.log_level, LogLevel::Error);
    assert_eq!(c.source.as_deref(), Some(path.as_path()));
    let missing = dir.join("missing.conf");
    let err = Config::load(Some(&missing), &no_env()).expect_err("missing");
    assert_eq!(err.0[0].message, format!("no file at: {}", missing.display()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sanitized_json_is_typed_and_hides_secrets() {
    let text = "pg_password = hunter2\npg_ro_password = hunter3\nssl_cert = /c.crt\n\
                ssl_cert_key = /c.key\nadmin_ssl_cert = /a.crt\nadmin_ssl_cert_key = /a.key\n\
                status_ssl_cert = /s.crt\nstatus_ssl_cert_key = /s.key\nstatus_listen = off\n";
    let c = load(text);
    let json = c.to_sanitized_json();
    for key in ["pg_password", "pg_ro_password", "ssl_cert_key", "admin_ssl_cert_key", "status_ssl_cert_key"] {
        assert_eq!(json[key], "******", "{key}");
    }
    let rendered = json.to_string();
    for secret in ["hunter2", "hunter3", "/c.key", "/a.key", "/s.key"] {
        assert!(!rendered.contains(secret), "{secret} leaked");
    }
    assert_eq!(json["ssl_cert"], serde_json::json!(["/c.crt"]));
    assert_eq!(json["pg_port"], 5432);
    assert_eq!(json["db_update_frequency"], 5);
    assert_eq!(json["pg_ssl"], false);
    assert_eq!(json["database"], "sqlite");
    assert_eq!(json["mem_cache_size"], "128m");
    assert_eq!(json["large_client_header_buffers"], "4 8k");
    assert_eq!(json["plugins"], serde_json::json!(["bundled"]));
    assert_eq!(
        json["proxy_listen"],
        serde_json::json!(["0.0.0.0:8000 reuseport backlog=16384", "0.0.0.0:8443 http2 ssl reuseport backlog=16384"])
    );
    assert_eq!(json["status_listen"], serde_json::json!(["off"]));
    assert!(json.get("pg_schema").is_none(), "unset keys are omitted");
    assert!(json.get("db_cache_neg_ttl").is_none());
}

#[test]
fn debug_output_hides_secrets() {
    let e = env(&[("GATEHOUSE_PG_PASSWORD", "s3cret-value"), ("KONG_PG_RO_PASSWORD", "ro-s3cret")]);
    let c = Config::from_str("admin_ssl_cert = /x.crt\nadmin_ssl_cert_key = /x-secret.key\n", "f", &e).expect("valid");
    let debug = format!("{c:?} {:?} {:?}", c.pg, c.pg_ro);
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(!debug.contains("x-secret"), "{debug}");
    assert!(debug.contains("******"));
    assert!(debug.contains("pg_host"));
}

#[test]
fn secret_names() {
    for name in [
        "pg_password",
        "pg_ro_password",
        "ssl_cert_key",
        "admin_ssl_cert_key",
        "status_ssl_cert_key",
        "anything_password_x",
    ] {
        assert!(is_secret(name), "{name}");
    }
    for name in ["ssl_cert", "pg_user", "admin_listen"] {
        assert!(!is_secret(name), "{name}");
    }
}

#[test]
fn kong_only_properties_load_with_a_warning_and_aliases_apply() {
    let text =
        "nginx_events_worker_connections = 4\nlua_ssl_protocols = TLSv1.3\nnginx_http_client_max_body_size = 2m\n";
    let config = Config::from_str(text, "kong.conf", &HashMap::new()).expect("a Kong file loads");
    assert_eq!(config.client_max_body_size, 2 * 1024 * 1024);
    let warned: Vec<&str> = config.warnings.iter().map(|w| w.location.as_str()).collect();
    assert_eq!(warned, vec!["kong.conf:1", "kong.conf:2"]);
    assert!(config.warnings[0].message.contains("nginx_events_worker_connections"));
    let typo = Config::from_str("pg_hots = db\n", "kong.conf", &HashMap::new()).unwrap_err();
    assert_eq!(typo.to_string(), "kong.conf:1: unknown property 'pg_hots'");
}

#[test]
fn client_header_timeout_takes_kongs_injected_directive_names() {
    let load = |text: &str| Config::from_str(text, "kong.conf", &HashMap::new());
    assert_eq!(load("").expect("defaults").client_header_timeout, std::time::Duration::from_secs(60));
    for line in [
        "client_header_timeout = 10s\n",
        "nginx_http_client_header_timeout = 10s\n",
        "nginx_proxy_client_header_timeout = 10000ms\n",
    ] {
        let c = load(line).expect(line);
        assert_eq!(c.client_header_timeout, std::time::Duration::from_secs(10), "{line}");
    }
    let from_env = |pairs: &[(&str, &str)]| Config::from_str("", "kong.conf", &env(pairs)).expect("env");
    let kong_image = from_env(&[("KONG_NGINX_HTTP_CLIENT_HEADER_TIMEOUT", "5s")]);
    assert_eq!(kong_image.client_header_timeout, std::time::Duration::from_secs(5), "Kong's env name");
    let both = from_env(&[("KONG_NGINX_HTTP_CLIENT_HEADER_TIMEOUT", "5s"), ("KONG_CLIENT_HEADER_TIMEOUT", "7s")]);
    assert_eq!(both.client_header_timeout, std::time::Duration::from_secs(7), "the canonical name wins");
    let error = load("nginx_http_client_header_timeout = soon\n").err().map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("kong.conf:1: client_header_timeout: expected a time (e.g. 60s, 1m30s, 500ms), got 'soon'")
    );
}

#[test]
fn client_body_timeout_takes_kongs_injected_directive_names() {
    let load = |text: &str| Config::from_str(text, "kong.conf", &HashMap::new()).expect(text);
    assert_eq!(load("").client_body_timeout, std::time::Duration::from_secs(60));
    for line in [
        "client_body_timeout = 3s\n",
        "nginx_http_client_body_timeout = 3s\n",
        "nginx_proxy_client_body_timeout = 3000ms\n",
    ] {
        let c = load(&format!("client_header_timeout = 9s\n{line}"));
        assert_eq!(c.client_body_timeout, std::time::Duration::from_secs(3), "{line}");
        assert_eq!(c.client_header_timeout, std::time::Duration::from_secs(9), "{line}: the other timeout is its own");
    }
    let kong_image = Config::from_str("", "kong.conf", &env(&[("KONG_NGINX_HTTP_CLIENT_BODY_TIMEOUT", "2s")]));
    assert_eq!(kong_image.expect("env").client_body_timeout, std::time::Duration::from_secs(2), "Kong's env name");
}

#[test]
fn worker_cpu_affinity_takes_kongs_injected_directive_name() {
    use gatehouse_proxy::CpuAffinity;
    let load = |text: &str| Config::from_str(text, "kong.conf", &HashMap::new());
    assert_eq!(load("").expect("defaults").worker_cpu_affinity, CpuAffinity::Off, "Kong sets no affinity");
    let auto = load("nginx_main_worker_cpu_affinity = auto\n").expect("Kong's name");
    assert_eq!(auto.worker_cpu_affinity, CpuAffinity::Auto(None));
    let masks = load("worker_cpu_affinity = 01 10\n").expect("masks");
    assert_eq!(masks.worker_cpu_affinity, CpuAffinity::Masks(vec![vec![0], vec![1]]));
    let kong_image = Config::from_str("", "kong.conf", &env(&[("KONG_NGINX_MAIN_WORKER_CPU_AFFINITY", "auto 10")]));
    assert_eq!(kong_image.expect("env").worker_cpu_affinity, CpuAffinity::Auto(Some(vec![1])), "Kong's env name");
    let bad = load("nginx_main_worker_cpu_affinity = 0x3\n").unwrap_err().to_string();
    assert!(bad.contains("worker_cpu_affinity") && bad.contains("'0x3'"), "{bad}");
}

#[test]
fn nginx_worker_processes_sets_the_proxy_workers() {
    let load = |text: &str| Config::from_str(text, "kong.conf", &HashMap::new());
    assert_eq!(load("").expect("defaults").worker_processes, None, "auto by default");
    assert_eq!(load("nginx_worker_processes = auto\n").expect("auto").worker_processes, None);
    assert_eq!(load("nginx_worker_processes = 3\n").expect("3").worker_processes, Some(3));
    assert_eq!(load("nginx_main_worker_processes = 2\n").expect("Kong's alias").worker_processes, Some(2));
    let zero = load("nginx_worker_processes = 0\n").unwrap_err();
    assert_eq!(
        zero.to_string(),
        "kong.conf:1: nginx_worker_processes: expected 'auto' or a number of workers (1 to 1024), got '0'"
    );
}
