//! KongUpstreamPolicy → Kong upstream fields (KIC's `kongstate/kongupstreampolicy.go`) and the shape of Kong's
//! upstream healthchecks (go-kong's `Healthcheck`).

use serde_json::{Map, Value};

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Num,
    Bool,
    Str,
    IntList,
    Headers,
    Obj(&'static [Field]),
}

/// (source key, Kong key, kind)
type Field = (&'static str, &'static str, Kind);

const HEALTHY: &[Field] = &[
    ("httpStatuses", "http_statuses", Kind::IntList),
    ("interval", "interval", Kind::Int),
    ("successes", "successes", Kind::Int),
];
const UNHEALTHY: &[Field] = &[
    ("httpFailures", "http_failures", Kind::Int),
    ("httpStatuses", "http_statuses", Kind::IntList),
    ("tcpFailures", "tcp_failures", Kind::Int),
    ("timeouts", "timeouts", Kind::Int),
    ("interval", "interval", Kind::Int),
];
const ACTIVE: &[Field] = &[
    ("concurrency", "concurrency", Kind::Int),
    ("httpPath", "http_path", Kind::Str),
    ("httpsSni", "https_sni", Kind::Str),
    ("httpsVerifyCertificate", "https_verify_certificate", Kind::Bool),
    ("type", "type", Kind::Str),
    ("timeout", "timeout", Kind::Int),
    ("headers", "headers", Kind::Headers),
    ("healthy", "healthy", Kind::Obj(HEALTHY)),
    ("unhealthy", "unhealthy", Kind::Obj(UNHEALTHY)),
];
const PASSIVE: &[Field] = &[
    ("type", "type", Kind::Str),
    ("healthy", "healthy", Kind::Obj(HEALTHY)),
    ("unhealthy", "unhealthy", Kind::Obj(UNHEALTHY)),
];
const HEALTHCHECKS: &[Field] = &[
    ("active", "active", Kind::Obj(ACTIVE)),
    ("passive", "passive", Kind::Obj(PASSIVE)),
    ("threshold", "threshold", Kind::Num),
];

/// Copies the known fields of `src` (keys named by `use_src_keys` ? source : Kong names) into a Kong object,
/// dropping empty lists and maps as Go's `omitempty` does.
fn map_object(src: &Value, fields: &[Field], use_src_keys: bool) -> Value {
    let mut out = Map::new();
    for (src_key, kong_key, kind) in fields {
        let Some(v) = src.get(if use_src_keys { src_key } else { kong_key }).filter(|v| !v.is_null()) else {
            continue;
        };
        let mapped = match kind {
            Kind::Int => (v.is_i64() || v.is_u64()).then(|| v.clone()),
            Kind::Num => v.is_number().then(|| v.clone()),
            Kind::Bool => v.is_boolean().then(|| v.clone()),
            Kind::Str => v.is_string().then(|| v.clone()),
            Kind::IntList => v.as_array().filter(|a| !a.is_empty()).map(|a| Value::Array(a.clone())),
            Kind::Headers => v.as_object().filter(|m| !m.is_empty()).map(|m| Value::Object(m.clone())),
            Kind::Obj(inner) => v.is_object().then(|| map_object(v, inner, use_src_keys)),
        };
        if let Some(mapped) = mapped {
            out.insert(kong_key.to_string(), mapped);
        }
    }
    Value::Object(out)
}

/// A KongIngress `upstream.healthchecks` (already in Kong's field names) reduced to go-kong's `Healthcheck`.
pub(crate) fn filter_kong_healthchecks(h: &Value) -> Value {
    map_object(h, HEALTHCHECKS, false)
}

fn hash_on(h: &Value) -> Option<Value> {
    if let Some(input) = h.get("input").filter(|v| v.is_string()) {
        return Some(input.clone());
    }
    let kind = [("header", "header"), ("cookie", "cookie"), ("queryArg", "query_arg"), ("uriCapture", "uri_capture")]
        .into_iter()
        .find(|(k, _)| h.get(*k).is_some_and(|v| !v.is_null()))?
        .1;
    Some(Value::String(kind.to_string()))
}

fn string_of(h: Option<&Value>, key: &str) -> Option<Value> {
    h?.get(key).filter(|v| v.is_string()).cloned()
}

/// `TranslateKongUpstreamPolicy`: the Kong upstream fields set by the policy spec, in a fixed order.
pub(crate) fn translate_upstream_policy(spec: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(&str, Option<Value>)> = Vec::new();
    let on = spec.get("hashOn").filter(|v| v.is_object());
    let fallback = spec.get("hashOnFallback").filter(|v| v.is_object());
    out.push(("algorithm", spec.get("algorithm").filter(|v| v.is_string()).cloned()));
    out.push(("slots", spec.get("slots").filter(|v| v.is_i64() || v.is_u64()).cloned()));
    out.push((
        "healthchecks",
        spec.get("healthchecks").filter(|v| v.is_object()).map(|h| map_object(h, HEALTHCHECKS, true)),
    ));
    out.push(("hash_on", on.and_then(hash_on)));
    out.push(("hash_on_header", string_of(on, "header")));
    out.push(("hash_on_uri_capture", string_of(on, "uriCapture")));
    out.push(("hash_on_cookie", string_of(on, "cookie").or_else(|| string_of(fallback, "cookie"))));
    out.push(("hash_on_cookie_path", string_of(on, "cookiePath").or_else(|| string_of(fallback, "cookiePath"))));
    out.push(("hash_on_query_arg", string_of(on, "queryArg")));
    out.push(("hash_fallback", fallback.and_then(hash_on)));
    out.push(("hash_fallback_header", string_of(fallback, "header")));
    out.push(("hash_fallback_uri_capture", string_of(fallback, "uriCapture")));
    out.push(("hash_fallback_query_arg", string_of(fallback, "queryArg")));
    let sticky = spec.get("stickySessions").filter(|v| v.is_object());
    out.push((
        "sticky_sessions_cookie",
        sticky.map(|s| string_of(Some(s), "cookie").unwrap_or_else(|| Value::String(String::new()))),
    ));
    out.push(("sticky_sessions_cookie_path", string_of(sticky, "cookiePath")));
    out.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect()
}
