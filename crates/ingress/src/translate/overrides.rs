//! Annotation overrides: Ingress annotations on Kong routes (`kongstate/route.go`) and Service annotations on
//! Kong services (`kongstate/service.go`).

use super::expression::{extract_headers, host_aliases};
use super::ingress::{KRoute, KService};
use super::meta::{ann, annotations, comma_list, is_valid_host, is_valid_sni, parse_go_bool, parse_go_int, Ctx};

/// Kong's protocol names accepted by KIC (`util.ValidateProtocol`); the empty string counts as valid.
pub(crate) fn valid_protocol(p: &str) -> bool {
    matches!(p, "" | "http" | "https" | "grpc" | "grpcs" | "ws" | "wss" | "tls" | "tcp" | "tls_passthrough")
}

fn bool_ann(value: Option<&str>) -> Option<bool> {
    match value?.to_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `Route.Override`: annotations first, then protocol normalisation.
pub(crate) fn override_route(r: &mut KRoute) {
    let anns = r.annotations();
    if let Some(v) = bool_ann(ann(anns, "strip-path")) {
        r.strip_path = Some(v);
    }
    // HTTPS redirect: force-ssl-redirect first, then the explicit status code.
    if anns.get("ingress.kubernetes.io/force-ssl-redirect").is_some_and(|v| v == "true") {
        r.https_redirect_status_code = Some(302);
        use_ssl_protocol(r);
    }
    if let Some(code) = ann(anns, "https-redirect-status-code").and_then(parse_go_int) {
        if matches!(code, 426 | 301 | 302 | 307 | 308) {
            r.https_redirect_status_code = Some(code);
        }
    }
    if let Some(v) = bool_ann(ann(anns, "preserve-host")) {
        r.preserve_host = Some(v);
    }
    if let Some(v) = ann(anns, "request-buffering").and_then(|v| parse_go_bool(&v.to_lowercase())) {
        r.request_buffering = Some(v);
    }
    if let Some(v) = ann(anns, "response-buffering").and_then(|v| parse_go_bool(&v.to_lowercase())) {
        r.response_buffering = Some(v);
    }
    let protocols = comma_list(ann(anns, "protocols").unwrap_or(""));
    if !protocols.is_empty() && protocols.iter().all(|p| valid_protocol(p)) {
        r.protocols = protocols;
    }
    if !r.expression_routes {
        if let Some(p) = ann(anns, "regex-priority").and_then(parse_go_int) {
            r.regex_priority = Some(p);
        }
        let methods: Vec<String> =
            comma_list(ann(anns, "methods").unwrap_or("")).iter().map(|m| m.to_uppercase()).collect();
        if !methods.is_empty() && methods.iter().all(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase())) {
            r.methods = methods;
        }
        if let Some(snis) = ann(anns, "snis") {
            let snis = comma_list(snis);
            if snis.iter().all(|s| is_valid_sni(s)) {
                r.snis = snis;
            }
        }
        if let Some(aliases) = host_aliases(anns) {
            if aliases.iter().all(|h| is_valid_host(h)) {
                for alias in aliases {
                    if !r.hosts.contains(&alias) {
                        r.hosts.push(alias);
                    }
                }
            }
        }
        let headers = extract_headers(anns);
        if !headers.is_empty() {
            r.headers = headers;
        }
        if let Some(v) = ann(anns, "path-handling") {
            if is_path_handling(v) {
                r.path_handling = Some(v.to_string());
            }
        }
    }
    normalize_protocols(r);
}

/// The unanchored regular expression `v\d`.
fn is_path_handling(v: &str) -> bool {
    v.as_bytes().windows(2).any(|w| w[0] == b'v' && w[1].is_ascii_digit())
}

/// `useSSLProtocol`: http(s) → https, grpc(s) → grpcs, anything else → https.
fn use_ssl_protocol(r: &mut KRoute) {
    let grpc = r.protocols.iter().any(|p| p.contains("grpc"));
    let http = r.protocols.iter().any(|p| p.contains("http"));
    let mut protocols = Vec::new();
    if grpc {
        protocols.push("grpcs".to_string());
    }
    if http || !grpc {
        protocols.push("https".to_string());
    }
    r.protocols = protocols;
}

/// `normalizeProtocols`: grpc mixed with http becomes [http, https]; grpc routes lose strip_path.
fn normalize_protocols(r: &mut KRoute) {
    if r.expression_routes {
        return;
    }
    let (mut http, mut grpc) = (false, false);
    for p in &r.protocols {
        if p.contains("grpc") {
            grpc = true;
        }
        if p.contains("http") || !valid_protocol(p) {
            http = true;
        }
    }
    if grpc && http {
        r.protocols = vec!["http".to_string(), "https".to_string()];
    }
    if grpc {
        r.strip_path = None;
    }
}

/// `Service.override`: the annotations of every backing Kubernetes Service (sorted by namespace/name).
pub(crate) fn override_service(ctx: &Ctx, s: &mut KService) {
    let mut invalid = None;
    for svc in s.k8s_services.values() {
        let anns = annotations(&svc.metadata);
        let protocol = ann(anns, "protocol").unwrap_or("");
        if !protocol.is_empty() && valid_protocol(protocol) {
            s.protocol = protocol.to_string();
        }
        if let Some(path) = ann(anns, "path").filter(|p| p.starts_with('/')) {
            s.path = Some(path.to_string());
        }
        let int = |key: &str| ann(anns, key).and_then(parse_go_int);
        if let Some(v) = int("connect-timeout") {
            s.connect_timeout = v;
        }
        if let Some(v) = int("write-timeout") {
            s.write_timeout = v;
        }
        if let Some(v) = int("read-timeout") {
            s.read_timeout = v;
        }
        if let Some(v) = int("retries") {
            s.retries = v;
        }
        if let Some(v) = ann(anns, "tls-verify").and_then(parse_go_bool) {
            s.tls_verify = Some(v);
        }
        if let Some(v) = int("tls-verify-depth") {
            s.tls_verify_depth = Some(v);
        }
        if !valid_protocol(protocol) {
            invalid = Some(format!("konghq.com/protocol annotation has invalid value: {protocol}"));
            break;
        }
    }
    if let Some(message) = invalid {
        let refs: Vec<_> = s
            .k8s_services
            .values()
            .map(|svc| super::meta::obj_ref::<k8s_openapi::api::core::v1::Service>(&svc.metadata))
            .collect();
        ctx.fail_all(&refs, &message);
        return;
    }
    if s.protocol == "grpc" || s.protocol == "grpcs" {
        s.path = None;
    }
}
