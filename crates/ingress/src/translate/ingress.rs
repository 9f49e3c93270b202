//! Ingress → Kong services and routes (KIC's `translate_ingress.go` and `subtranslator/ingress.go`).

use super::certs::SecretSnis;
use super::expression;
use super::meta::{ann, annotations, is_plain_legacy_path, name_of, ns_of, obj_ref, tags_for, Ctx};
use super::ObjectRef;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress, ServiceBackendPort};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub(crate) const DEFAULT_TIMEOUT: i64 = 60_000;
pub(crate) const DEFAULT_RETRIES: i64 = 5;
pub(crate) const DEFAULT_HTTP_PORT: i32 = 80;
/// The controller's regex path marker (`ControllerPathRegexPrefix`).
pub(crate) const REGEX_PREFIX: &str = "/~";

/// How an Ingress backend names its Service port (`kongstate.PortDef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortDef {
    Number(i32),
    Name(String),
    Implicit,
}

impl PortDef {
    pub(crate) fn from_backend_port(p: Option<&ServiceBackendPort>) -> PortDef {
        match p {
            Some(p) if p.number.unwrap_or(0) != 0 => PortDef::Number(p.number.unwrap_or(0)),
            Some(p) if !p.name.as_deref().unwrap_or("").is_empty() => PortDef::Name(p.name.clone().unwrap_or_default()),
            _ => PortDef::Implicit,
        }
    }

    /// `CanonicalString`: the number, the name, or `implicitPort`.
    pub(crate) fn canonical(&self) -> String {
        match self {
            PortDef::Number(n) => n.to_string(),
            PortDef::Name(n) => n.clone(),
            PortDef::Implicit => "implicitPort".to_string(),
        }
    }
}

/// A Kubernetes Service behind a Kong service.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    pub namespace: String,
    pub name: String,
    pub port: PortDef,
}

/// A Kong route and the Ingress it comes from.
#[derive(Debug, Clone)]
pub(crate) struct KRoute<'a> {
    pub name: String,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub headers: BTreeMap<String, Vec<String>>,
    pub methods: Vec<String>,
    pub protocols: Vec<String>,
    pub snis: Vec<String>,
    pub strip_path: Option<bool>,
    pub preserve_host: Option<bool>,
    pub regex_priority: Option<i64>,
    pub request_buffering: Option<bool>,
    pub response_buffering: Option<bool>,
    pub https_redirect_status_code: Option<i64>,
    pub path_handling: Option<String>,
    pub expression: Option<String>,
    pub priority: Option<u64>,
    pub tags: Vec<String>,
    /// Plugins nested in the route (the `konghq.com/rewrite` request-transformer).
    pub plugins: Vec<Value>,
    pub ingress: &'a Ingress,
    pub expression_routes: bool,
}

impl<'a> KRoute<'a> {
    fn base(name: String, ingress: &'a Ingress, tags: Vec<String>, expression_routes: bool) -> KRoute<'a> {
        KRoute {
            name,
            hosts: Vec::new(),
            paths: Vec::new(),
            headers: BTreeMap::new(),
            methods: Vec::new(),
            protocols: Vec::new(),
            snis: Vec::new(),
            strip_path: Some(false),
            preserve_host: Some(true),
            regex_priority: None,
            request_buffering: Some(true),
            response_buffering: Some(true),
            https_redirect_status_code: None,
            path_handling: None,
            expression: None,
            priority: None,
            tags,
            plugins: Vec::new(),
            ingress,
            expression_routes,
        }
    }

    pub(crate) fn annotations(&self) -> &'a BTreeMap<String, String> {
        annotations(&self.ingress.metadata)
    }
}

/// A Kong service with its routes and the Kubernetes objects behind it.
#[derive(Debug, Clone)]
pub(crate) struct KService<'a> {
    pub name: String,
    pub host: String,
    pub port: i32,
    pub protocol: String,
    pub path: Option<String>,
    pub connect_timeout: i64,
    pub read_timeout: i64,
    pub write_timeout: i64,
    pub retries: i64,
    pub tags: Vec<String>,
    pub client_certificate: Option<String>,
    pub ca_certificates: Vec<String>,
    pub tls_verify: Option<bool>,
    pub tls_verify_depth: Option<i64>,
    pub routes: Vec<KRoute<'a>>,
    pub backends: Vec<Backend>,
    /// The resolved Kubernetes Services, keyed `namespace/name`.
    pub k8s_services: BTreeMap<String, &'a Service>,
    /// The object whose translation created this service (the Ingress).
    pub parent: ObjectRef,
}

impl<'a> KService<'a> {
    fn new(name: String, host: String, path: Option<String>, backend: Backend, parent: ObjectRef) -> KService<'a> {
        KService {
            name,
            host,
            port: DEFAULT_HTTP_PORT,
            protocol: "http".to_string(),
            path,
            connect_timeout: DEFAULT_TIMEOUT,
            read_timeout: DEFAULT_TIMEOUT,
            write_timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            tags: Vec::new(),
            client_certificate: None,
            ca_certificates: Vec::new(),
            tls_verify: None,
            tls_verify_depth: None,
            routes: Vec::new(),
            backends: vec![backend],
            k8s_services: BTreeMap::new(),
            parent,
        }
    }
}

/// One Kong route in the making: all paths of one (Ingress, host, Service, port) combination.
struct RouteMeta<'a> {
    ingress: &'a Ingress,
    host: String,
    tags: Vec<String>,
    backend: Backend,
    paths: Vec<(String, String)>,
    /// The regex marker in force for the Ingress that created this entry (`konghq.com/regex-prefix`).
    regex_prefix: String,
}

fn ingress_ref(ing: &Ingress) -> ObjectRef {
    obj_ref::<Ingress>(&ing.metadata)
}

/// Collapses runs of `/` (`flattenMultipleSlashes`).
fn flatten_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// KIC's `PathsFromIngressPaths` (traditional router).
pub(crate) fn paths_from_ingress_path(path: &str, path_type: &str) -> Vec<String> {
    match path_type {
        "Prefix" => {
            let base = path.trim_matches('/');
            if base.is_empty() {
                vec!["/".to_string()]
            } else {
                vec![format!("/{base}/"), format!("~/{base}$")]
            }
        }
        "Exact" => vec![format!("~/{}$", path.trim_start_matches('/'))],
        "ImplementationSpecific" => vec![if path.is_empty() { "/".to_string() } else { path.to_string() }],
        _ => Vec::new(),
    }
}

/// KIC's `MaybePrependRegexPrefix`.
pub(crate) fn maybe_prepend_regex_prefix(path: &str, prefix: &str, legacy: bool) -> String {
    if let Some(rest) = path.strip_prefix(prefix) {
        format!("~{rest}")
    } else if legacy && !is_plain_legacy_path(path) && !path.starts_with('~') {
        format!("~{path}")
    } else {
        path.to_string()
    }
}

fn backend_of(ctx: &Ctx, ing: &Ingress, p: &HTTPIngressPath) -> Result<Backend, String> {
    if let Some(svc) = &p.backend.service {
        return Ok(Backend {
            namespace: ns_of(&ing.metadata).to_string(),
            name: svc.name.clone(),
            port: PortDef::from_backend_port(svc.port.as_ref()),
        });
    }
    if let Some(res) = &p.backend.resource {
        let group = res.api_group.as_deref().unwrap_or("");
        if res.kind == "KongServiceFacade" && group == "incubator.ingress-controller.konghq.com" {
            return Err(
                "KongServiceFacade is not enabled, please set the \"KongServiceFacade\" feature gate to 'true' \
                        to enable it"
                    .to_string(),
            );
        }
        let gk = if res.api_group.is_some() { format!("{group}/{}", res.kind) } else { res.kind.clone() };
        return Err(format!("unknown resource type {gk}"));
    }
    let _ = ctx;
    Err("no Service or Resource specified for Ingress path".to_string())
}

/// Translates the Ingresses (already class-filtered and sorted) into Kong services keyed by name, registering
/// their TLS sections and adding the default backend of the oldest Ingress that has one.
pub(crate) fn translate_ingresses<'a>(
    ctx: &Ctx<'a>,
    ingresses: &[&'a Ingress],
    snis: &mut SecretSnis,
) -> BTreeMap<String, KService<'a>> {
    let mut default_backends = Vec::new();
    for ing in ingresses {
        let spec = ing.spec.as_ref();
        if spec.and_then(|s| s.default_backend.as_ref()).is_some() {
            default_backends.push(*ing);
        }
        snis.add_from_ingress_tls(ing);
    }

    // The index: one entry per Kong route name.
    let mut index: BTreeMap<String, RouteMeta<'a>> = BTreeMap::new();
    for ing in ingresses {
        let anns = annotations(&ing.metadata);
        let regex_prefix = ann(anns, "regex-prefix").unwrap_or(REGEX_PREFIX).to_string();
        let (ns, name) = (ns_of(&ing.metadata), name_of(&ing.metadata));
        for rule in ing.spec.as_ref().and_then(|s| s.rules.as_ref()).into_iter().flatten() {
            let Some(http) = rule.http.as_ref().filter(|h| !h.paths.is_empty()) else { continue };
            let host = rule.host.clone().unwrap_or_default();
            for p in &http.paths {
                let mut path = flatten_slashes(p.path.as_deref().unwrap_or(""));
                if path.is_empty() {
                    path = "/".to_string();
                }
                let path_type = if p.path_type.is_empty() { "ImplementationSpecific" } else { p.path_type.as_str() };
                let backend = match backend_of(ctx, ing, p) {
                    Ok(b) => b,
                    Err(e) => {
                        ctx.fail(&ingress_ref(ing), format!("failed to get backend for ingress path {path:?}: {e}"));
                        continue;
                    }
                };
                let route_name = format!("{ns}.{name}.{}.{host}.{}", backend.name, backend.port.canonical());
                let meta = index.entry(route_name).or_insert_with(|| RouteMeta {
                    ingress: ing,
                    host: host.clone(),
                    tags: tags_for(&ingress_ref(ing), anns),
                    backend,
                    paths: Vec::new(),
                    regex_prefix: regex_prefix.clone(),
                });
                meta.ingress = ing;
                meta.paths.push((path, path_type.to_string()));
            }
        }
    }

    let mut services: BTreeMap<String, KService<'a>> = BTreeMap::new();
    for meta in index.values() {
        let ns = ns_of(&meta.ingress.metadata);
        let b = &meta.backend;
        let service_name = format!("{ns}.{}.{}", b.name, b.port.canonical());
        if !services.contains_key(&service_name) {
            if b.name.is_empty() || ns.is_empty() {
                let e = if ns.is_empty() { "namespace cannot be empty" } else { "name cannot be empty" };
                ctx.fail(
                    &ingress_ref(meta.ingress),
                    format!(
                        "failed to translate Ingress into Kong Service: failed to create ServiceBackend for \
                         Kubernetes Service {:?}: {e}",
                        b.name
                    ),
                );
                continue;
            }
            let host = format!("{}.{ns}.{}.svc", b.name, b.port.canonical());
            let svc = KService::new(service_name.clone(), host, Some("/".into()), b.clone(), ingress_ref(meta.ingress));
            services.insert(service_name.clone(), svc);
        }
        let route = if ctx.settings.expression_routes { expression_route(meta) } else { traditional_route(ctx, meta) };
        if let Some(svc) = services.get_mut(&service_name) {
            svc.routes.push(route);
        }
    }

    // konghq.com/rewrite: a request-transformer plugin per route, or the whole service is dropped.
    services.retain(|_, svc| match maybe_rewrite_uri(svc, ctx.settings.rewrite_uris) {
        Ok(()) => true,
        Err(e) => {
            ctx.fail(&svc.parent, e);
            false
        }
    });

    if let Some(default) = default_backend_service(ctx, default_backends) {
        match services.get_mut(&default.name) {
            Some(existing) => existing.routes.extend(default.routes),
            None => {
                services.insert(default.name.clone(), default);
            }
        }
    }
    services
}

fn route_name_host(host: &str) -> String {
    host.replace('*', "_")
}

/// KIC's route name: `<namespace>.<ingress>.<service>.<host>.<port>`.
fn route_name(meta: &RouteMeta<'_>) -> String {
    let ing = meta.ingress;
    let b = &meta.backend;
    format!(
        "{}.{}.{}.{}.{}",
        ns_of(&ing.metadata),
        name_of(&ing.metadata),
        b.name,
        route_name_host(&meta.host),
        b.port.canonical()
    )
}

fn traditional_route<'a>(ctx: &Ctx<'a>, meta: &RouteMeta<'a>) -> KRoute<'a> {
    let ing = meta.ingress;
    let name = route_name(meta);
    let mut route = KRoute::base(name, ing, meta.tags.clone(), false);
    route.protocols = ingress_route_protocols(annotations(&ing.metadata));
    route.regex_priority = Some(0);
    if !meta.host.is_empty() {
        route.hosts.push(meta.host.clone());
    }
    for (path, path_type) in &meta.paths {
        for p in paths_from_ingress_path(path, path_type) {
            route.paths.push(maybe_prepend_regex_prefix(
                &p,
                &meta.regex_prefix,
                ctx.settings.enable_legacy_regex_detection,
            ));
        }
    }
    route
}

fn expression_route<'a>(meta: &RouteMeta<'a>) -> KRoute<'a> {
    let ing = meta.ingress;
    let name = route_name(meta);
    let anns = annotations(&ing.metadata);
    let mut route = KRoute::base(name, ing, meta.tags.clone(), true);
    route.protocols = ingress_route_protocols(anns);
    let (expr, priority) = expression::ingress_expression(&meta.host, &meta.paths, anns);
    route.expression = Some(expr);
    route.priority = Some(priority);
    route
}

/// `ingressRouteProtocols`: the `konghq.com/protocols` values, sorted.
fn ingress_route_protocols(anns: &BTreeMap<String, String>) -> Vec<String> {
    let mut protocols = super::meta::comma_list(ann(anns, "protocols").unwrap_or(""));
    protocols.sort();
    protocols
}

/// KIC's `getDefaultBackendService`: the oldest Ingress with a default backend wins.
fn default_backend_service<'a>(ctx: &Ctx<'a>, mut candidates: Vec<&'a Ingress>) -> Option<KService<'a>> {
    candidates.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
    let ing = *candidates.first()?;
    let backend = ing.spec.as_ref()?.default_backend.as_ref()?;
    let (ns, name) = (ns_of(&ing.metadata), name_of(&ing.metadata));
    let tags = tags_for(&ingress_ref(ing), annotations(&ing.metadata));
    let mut route = KRoute::base(format!("{ns}.{name}"), ing, tags, ctx.settings.expression_routes);
    if ctx.settings.expression_routes {
        route.expression = Some(r#"http.path ^= "/""#.to_string());
        route.priority = Some(0);
    } else {
        route.paths = vec!["/".to_string()];
        route.regex_priority = Some(0);
    }
    let Some(svc) = backend.service.as_ref() else {
        let msg = match backend.resource.as_ref() {
            Some(r) if r.kind == "KongServiceFacade" => "default backend: KongServiceFacade is not enabled, please \
                                                         set the \"KongServiceFacade\" feature gate to 'true' to \
                                                         enable it"
                .to_string(),
            Some(r) => {
                let gk = r.api_group.as_ref().map(|g| format!("{g}/{}", r.kind)).unwrap_or_else(|| r.kind.clone());
                format!("default backend: unsupported resource type {gk}")
            }
            None => "default backend: no Service or Resource specified".to_string(),
        };
        ctx.fail(&ingress_ref(ing), msg);
        return None;
    };
    let port = PortDef::from_backend_port(svc.port.as_ref());
    if svc.name.is_empty() || ns.is_empty() {
        ctx.fail(&ingress_ref(ing), "failed to create ServiceBackend for default backend: name cannot be empty");
        return None;
    }
    let service_name = format!("{ns}.{}.{}", svc.name, port.canonical());
    let host = format!("{}.{ns}.{}.svc", svc.name, port.canonical());
    let backend = Backend { namespace: ns.to_string(), name: svc.name.clone(), port };
    let mut service = KService::new(service_name, host, None, backend, ingress_ref(ing));
    service.routes.push(route);
    Some(service)
}

/// KIC's `MaybeRewriteURI`.
fn maybe_rewrite_uri(svc: &mut KService, enabled: bool) -> Result<(), String> {
    for route in &mut svc.routes {
        let Some(rewrite) = ann(route.annotations(), "rewrite") else { continue };
        if !enabled {
            return Err("konghq.com/rewrite annotation not supported when rewrite uris disabled".to_string());
        }
        let rewrite = if rewrite.is_empty() { "/" } else { rewrite };
        let uri = rewrite_uri_config(rewrite)?;
        route.plugins.push(json!({"name": "request-transformer", "config": {"replace": {"uri": uri}}}));
    }
    Ok(())
}

/// KIC's `generateRewriteURIConfig`: `$N` becomes `$(uri_captures[N])`, `\$` a literal `$`.
pub(crate) fn rewrite_uri_config(uri: &str) -> Result<String, String> {
    #[derive(PartialEq)]
    enum St {
        Escape,
        Mark,
        Digit,
        Plain,
    }
    let mut out = String::new();
    let mut st = St::Plain;
    for (i, c) in uri.char_indices() {
        match st {
            St::Escape => {
                if c != '$' {
                    return Err(format!("unexpected {c} at pos {i}"));
                }
                out.push(c);
                st = St::Plain;
            }
            St::Mark => {
                if !c.is_numeric() {
                    return Err(format!("unexpected {c} at pos {i}"));
                }
                out.push_str("$(uri_captures[");
                out.push(c);
                st = St::Digit;
            }
            St::Digit => {
                if c.is_numeric() {
                    out.push(c);
                } else {
                    out.push_str("])");
                    match c {
                        '$' => st = St::Mark,
                        '\\' => st = St::Escape,
                        _ => {
                            out.push(c);
                            st = St::Plain;
                        }
                    }
                }
            }
            St::Plain => match c {
                '$' => st = St::Mark,
                '\\' => st = St::Escape,
                _ => out.push(c),
            },
        }
    }
    if st == St::Digit {
        out.push_str("])");
        st = St::Plain;
    }
    if st != St::Plain {
        return Err("unexpected end of string".to_string());
    }
    Ok(out)
}
