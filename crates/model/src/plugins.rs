//! The registry of bundled plugins (`kong/constants.lua`), with Kong's PRIORITY values. Plugin names in the
//! Admin API are checked against it; the `plugins` configuration property selects from it.

/// A bundled plugin: its name, Kong's execution priority (higher runs first) and version.
#[derive(Debug, Clone, Copy)]
pub struct PluginInfo {
    pub name: &'static str,
    pub priority: i64,
    pub version: &'static str,
}

const fn p(name: &'static str, priority: i64) -> PluginInfo {
    PluginInfo { name, priority, version: crate::KONG_COMPAT_VERSION }
}

/// Every plugin Kong 3.9 OSS bundles, sorted by descending priority.
pub const BUNDLED: &[PluginInfo] = &[
    p("pre-function", 1_000_000),
    p("correlation-id", 100_001),
    p("zipkin", 100_000),
    p("bot-detection", 2500),
    p("cors", 2000),
    p("session", 1900),
    p("acme", 1705),
    p("jwt", 1450),
    p("oauth2", 1400),
    p("key-auth", 1250),
    p("ldap-auth", 1200),
    p("basic-auth", 1100),
    p("hmac-auth", 1030),
    p("grpc-gateway", 998),
    p("ip-restriction", 990),
    p("request-size-limiting", 951),
    p("acl", 950),
    p("rate-limiting", 910),
    p("response-ratelimiting", 900),
    p("request-transformer", 801),
    p("response-transformer", 800),
    p("redirect", 779),
    p("ai-request-transformer", 777),
    p("ai-prompt-template", 773),
    p("ai-prompt-decorator", 772),
    p("ai-prompt-guard", 771),
    p("ai-proxy", 770),
    p("ai-response-transformer", 768),
    p("standard-webhooks", 760),
    p("aws-lambda", 750),
    p("azure-functions", 749),
    p("proxy-cache", 100),
    p("opentelemetry", 14),
    p("prometheus", 13),
    p("http-log", 12),
    p("statsd", 11),
    p("datadog", 10),
    p("file-log", 9),
    p("udp-log", 8),
    p("tcp-log", 7),
    p("loggly", 6),
    p("syslog", 4),
    p("grpc-web", 3),
    p("request-termination", 2),
    p("post-function", -1000),
];

/// Looks up a bundled plugin by name.
pub fn bundled(name: &str) -> Option<&'static PluginInfo> {
    BUNDLED.iter().find(|p| p.name == name)
}
