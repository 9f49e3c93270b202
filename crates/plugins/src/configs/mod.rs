//! Plugin configs that are accepted, validated and compiled now but executed by a later version: each
//! module turns a config already validated by its schema (`gatehouse_model::plugin_schemas`) into a typed,
//! compiled form (regexes, CIDR lists, templates) once per snapshot, so a bad config is caught when it is
//! loaded rather than on the request path.

pub mod correlation_id;
pub mod cors;
pub mod ip_restriction;
pub mod oauth2;
pub mod prometheus;
pub mod rate_limiting;
pub mod request_size_limiting;
pub mod request_transformer;
pub mod response_transformer;

use serde_json::Value;

/// A compiled config of one of the plugins above.
#[derive(Debug)]
pub enum CompiledConfig {
    CorrelationId(correlation_id::Config),
    Cors(cors::Config),
    IpRestriction(ip_restriction::Config),
    Oauth2(oauth2::Config),
    Prometheus(prometheus::Config),
    RateLimiting(rate_limiting::Config),
    RequestSizeLimiting(request_size_limiting::Config),
    RequestTransformer(request_transformer::Config),
    ResponseTransformer(response_transformer::Config),
}

/// Compiles the config of `name`; `None` when `name` is not one of these plugins.
pub fn compile(name: &str, config: &Value) -> Option<Result<CompiledConfig, String>> {
    Some(match name {
        "correlation-id" => correlation_id::compile(config).map(CompiledConfig::CorrelationId),
        "cors" => cors::compile(config).map(CompiledConfig::Cors),
        "ip-restriction" => ip_restriction::compile(config).map(CompiledConfig::IpRestriction),
        "oauth2" => oauth2::compile(config).map(CompiledConfig::Oauth2),
        "prometheus" => prometheus::compile(config).map(CompiledConfig::Prometheus),
        "rate-limiting" => rate_limiting::compile(config).map(CompiledConfig::RateLimiting),
        "request-size-limiting" => request_size_limiting::compile(config).map(CompiledConfig::RequestSizeLimiting),
        "request-transformer" => request_transformer::compile(config).map(CompiledConfig::RequestTransformer),
        "response-transformer" => response_transformer::compile(config).map(CompiledConfig::ResponseTransformer),
        _ => return None,
    })
}

/// The `config` of a `plugin` entity as the Admin API stores it: `config` run through the plugin's schema
/// (`gatehouse_model::plugin_schemas`), with every default filled in. Panics with the schema violation when
/// the schema rejects it.
#[cfg(test)]
pub(crate) fn validated(plugin: &str, config: Value) -> Value {
    let schema = gatehouse_model::plugin_schemas::entity_schema(plugin).expect("a plugin with a schema");
    let input = serde_json::json!({"name": plugin, "config": config}).as_object().cloned().unwrap();
    match schema.prepare(input, gatehouse_model::schema::Context::Insert, None, 0) {
        Ok(mut entity) => entity.remove("config").unwrap(),
        Err(e) => panic!("invalid {plugin} config: {}", e.summary()),
    }
}
