//! Kubernetes Services behind Kong services (`populateServices`), upstreams and targets from EndpointSlices
//! (`translate_upstreams.go`), and upstream overrides from KongIngress, KongUpstreamPolicy and `host-header`.

use super::certs::SecretSnis;
use super::ingress::{KService, PortDef};
use super::meta::{ann, annotations, comma_list, ns_of, obj_ref, parse_go_bool, tags_for, Ctx};
use super::ObjectRef;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;

/// A Kong target.
#[derive(Debug, Clone)]
pub(crate) struct KTarget {
    pub target: String,
    pub weight: Option<i64>,
}

/// A Kong upstream; `fields` holds the overridable Kong fields (algorithm, hashing, healthchecks, …).
#[derive(Debug, Clone)]
pub(crate) struct KUpstream {
    pub name: String,
    pub tags: Vec<String>,
    pub targets: Vec<KTarget>,
    pub fields: Map<String, Value>,
    /// The Kong service this upstream was made for.
    pub service: String,
}

fn svc_ref(svc: &Service) -> ObjectRef {
    obj_ref::<Service>(&svc.metadata)
}

fn placeholder_tags() -> Vec<String> {
    [
        "k8s-name:UNKNOWN",
        "k8s-namespace:UNKNOWN",
        "k8s-kind:Service",
        "k8s-uid:00000000-0000-0000-0000-000000000000",
        "k8s-group:core",
        "k8s-version:v1",
    ]
    .map(String::from)
    .to_vec()
}

fn non_tls_protocol(p: &str) -> bool {
    matches!(p, "http" | "grpc" | "tcp" | "tls_passthrough" | "udp" | "ws")
}

/// `populateServices` for one Kong service: resolve its Kubernetes Services, client and CA certificates, tags.
pub(crate) fn populate_service<'a>(ctx: &Ctx<'a>, service: &mut KService<'a>, snis: &mut SecretSnis) {
    let mut found = Vec::new();
    for b in &service.backends {
        match ctx.service(&b.namespace, &b.name) {
            Some(svc) => found.push(svc),
            None => ctx.fail(
                &service.parent,
                format!(
                    "failed to resolve Kubernetes Service for backend: failed to fetch Service {0}/{1}: Service \
                     {0}/{1} not found",
                    b.namespace, b.name
                ),
            ),
        }
    }
    for svc in &found {
        let anns = annotations(&svc.metadata);
        let ns = ns_of(&svc.metadata);
        let protocol = ann(anns, "protocol").filter(|p| !p.is_empty()).unwrap_or("http");
        // konghq.com/client-cert
        if let Some(secret_name) = ann(anns, "client-cert").filter(|s| !s.is_empty()) {
            let key = format!("{ns}/{secret_name}");
            match ctx.secret(ns, secret_name) {
                None => ctx.fail(&svc_ref(svc), format!("Failed to fetch secret '{key}': Secret {key} not found")),
                Some(_) if non_tls_protocol(protocol) => ctx.fail(
                    &svc_ref(svc),
                    format!("Client certificate requested for incompatible service protocol '{}'", service.protocol),
                ),
                Some(secret) => {
                    snis.add_parent(&key, svc_ref(svc));
                    service.client_certificate = Some(secret.metadata.uid.clone().unwrap_or_default());
                }
            }
        }
        // konghq.com/ca-certificates-secrets (ConfigMaps are not among the translator's inputs).
        let ca_secrets = anns.get("konghq.com/ca-certificates-secrets").map(|v| comma_list(v)).unwrap_or_default();
        let ca_config_maps =
            anns.get("konghq.com/ca-certificates-configmaps").map(|v| comma_list(v)).unwrap_or_default();
        if !ca_secrets.is_empty() || !ca_config_maps.is_empty() {
            if ann(anns, "tls-verify").and_then(parse_go_bool) != Some(true) {
                ctx.fail(&svc_ref(svc), "CA certificates requested for service without TLS verification enabled");
            } else if non_tls_protocol(protocol) {
                ctx.fail(
                    &svc_ref(svc),
                    format!("CA certificates requested for incompatible service protocol '{protocol}'"),
                );
            } else {
                for name in &ca_secrets {
                    let key = format!("{ns}/{name}");
                    let Some(secret) = ctx.secret(ns, name) else {
                        ctx.fail(
                            &svc_ref(svc),
                            format!("Failed to fetch secret for CA Certificate '{key}': Secret {key} not found"),
                        );
                        continue;
                    };
                    match secret.data.as_ref().and_then(|d| d.get("id")) {
                        Some(id) => service.ca_certificates.push(String::from_utf8_lossy(&id.0).into_owned()),
                        None => ctx.fail_all(
                            &[obj_ref::<k8s_openapi::api::core::v1::Secret>(&secret.metadata), svc_ref(svc)],
                            &format!("Invalid CA certificate '{key}': missing 'id' field in data"),
                        ),
                    }
                }
                for name in &ca_config_maps {
                    let key = format!("{ns}/{name}");
                    ctx.fail(
                        &svc_ref(svc),
                        format!("Failed to fetch configmap for CA Certificate '{key}': ConfigMap {key} not found"),
                    );
                }
            }
        }
        service.k8s_services.insert(format!("{ns}/{}", super::meta::name_of(&svc.metadata)), svc);
    }
    service.tags = match found.len() {
        0 => placeholder_tags(),
        1 => tags_for(&svc_ref(found[0]), annotations(&found[0].metadata)),
        _ => Vec::new(),
    };
}

/// `findPort`.
fn find_port(svc: &Service, want: &PortDef) -> Result<ServicePort, String> {
    let spec = svc.spec.as_ref();
    let external = spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName");
    let ports: &[ServicePort] = spec.and_then(|s| s.ports.as_deref()).unwrap_or(&[]);
    match want {
        PortDef::Number(n) => {
            if external {
                return Ok(ServicePort { port: *n, target_port: Some(IntOrString::Int(*n)), ..Default::default() });
            }
            if let Some(p) = ports.iter().find(|p| p.port == *n) {
                return Ok(p.clone());
            }
        }
        PortDef::Name(name) => {
            if external {
                return Err("rules with an ExternalName service must specify numeric ports".into());
            }
            let matches = |p: &&ServicePort| {
                p.name.as_deref().unwrap_or("") == name
                    || matches!(&p.target_port, Some(IntOrString::String(t)) if t == name)
            };
            if let Some(p) = ports.iter().find(matches) {
                return Ok(p.clone());
            }
        }
        PortDef::Implicit => {
            if external {
                return Err("rules with an ExternalName service must specify numeric ports".into());
            }
            if ports.len() != 1 {
                return Err(format!("in implicit mode, service must have exactly 1 port, has {}", ports.len()));
            }
            return Ok(ports[0].clone());
        }
    }
    Err("no suitable port found".into())
}

/// (address, port, terminating)
type Endpoint = (String, String, bool);

/// `getEndpoints` for one protocol.
fn endpoints(ctx: &Ctx, svc: &Service, port: &ServicePort, proto: &str) -> Vec<Endpoint> {
    let (ns, name) = (ns_of(&svc.metadata), super::meta::name_of(&svc.metadata));
    let anns = annotations(&svc.metadata);
    if ctx.settings.service_upstream || anns.get("ingress.kubernetes.io/service-upstream").is_some_and(|v| v == "true")
    {
        let mut host = format!("{name}.{ns}.svc");
        if !ctx.settings.cluster_domain.is_empty() {
            host = format!("{host}.{}", ctx.settings.cluster_domain);
        }
        return vec![(host, port.port.to_string(), false)];
    }
    let spec = svc.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        let target = match &port.target_port {
            Some(IntOrString::Int(n)) => n.to_string(),
            Some(IntOrString::String(s)) => s.clone(),
            None => "0".to_string(),
        };
        let external = spec.and_then(|s| s.external_name.clone()).unwrap_or_default();
        return vec![(external, target, false)];
    }
    let port_name = port.name.as_deref().unwrap_or("");
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for slice in ctx.slices.get(&(ns, name)).into_iter().flatten() {
        for p in slice.ports.as_deref().unwrap_or(&[]) {
            let Some(number) = p.port.filter(|n| *n >= 0) else { continue };
            if p.protocol.as_deref().unwrap_or("TCP") != proto || p.name.as_deref().unwrap_or("") != port_name {
                continue;
            }
            for ep in &slice.endpoints {
                let conditions = ep.conditions.as_ref();
                let terminating = conditions.and_then(|c| c.terminating) == Some(true);
                let ready = conditions.and_then(|c| c.ready) != Some(false);
                if !ready && (!terminating || !ctx.settings.enable_drain_support) {
                    continue;
                }
                let Some(address) = ep.addresses.first() else { continue };
                let e = (address.clone(), number.to_string(), terminating && ctx.settings.enable_drain_support);
                if seen.insert(e.clone()) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// `targetsForEndpoints`: IPv6 addresses are bracketed; terminating endpoints get weight 0.
fn target_for(e: &Endpoint) -> KTarget {
    let addr = match e.0.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => format!("[{}]", e.0),
        _ => e.0.clone(),
    };
    KTarget { target: format!("{addr}:{}", e.1), weight: e.2.then_some(0) }
}

/// `getUpstreams`: one upstream per Kong service host, with the targets of its backends. Resolves the Kong
/// service ports to the Kubernetes Service ports.
pub(crate) fn get_upstreams(ctx: &Ctx, services: &mut BTreeMap<String, KService>) -> Vec<KUpstream> {
    let mut seen = HashSet::new();
    let mut upstreams = Vec::new();
    for service in services.values_mut() {
        if !seen.insert(service.host.clone()) {
            continue;
        }
        let mut targets: BTreeMap<String, KTarget> = BTreeMap::new();
        for b in service.backends.clone() {
            let Some(svc) = service.k8s_services.get(&format!("{}/{}", b.namespace, b.name)).copied() else {
                ctx.fail(
                    &service.parent,
                    format!("can't add target for backend {}: no kubernetes service found", b.name),
                );
                continue;
            };
            let port = match find_port(svc, &b.port) {
                Ok(p) => p,
                Err(e) => {
                    let msg = format!("can't find port for backend kubernetes service: {e}");
                    ctx.fail_all(&[svc_ref(svc), service.parent.clone()], &msg);
                    continue;
                }
            };
            service.port = port.port;
            let mut protocols = BTreeSet::from(["TCP".to_string()]);
            for p in svc.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or(&[]) {
                if let Some(proto) = p.protocol.as_ref().filter(|p| !p.is_empty()) {
                    protocols.insert(proto.clone());
                }
            }
            for proto in &protocols {
                for e in endpoints(ctx, svc, &port, proto) {
                    let t = target_for(&e);
                    match targets.get_mut(&t.target) {
                        Some(existing) => {
                            existing.weight = Some(existing.weight.unwrap_or(100) + t.weight.unwrap_or(100));
                        }
                        None => {
                            targets.insert(t.target.clone(), t);
                        }
                    }
                }
            }
        }
        upstreams.push(KUpstream {
            name: service.host.clone(),
            tags: service.tags.clone(),
            targets: targets.into_values().collect(),
            fields: Map::new(),
            service: service.name.clone(),
        });
    }
    upstreams
}

/// `FillUpstreamOverrides` for one upstream: KongIngress `upstream` + `konghq.com/host-header`, then the
/// KongUpstreamPolicy.
pub(crate) fn override_upstream(ctx: &Ctx, up: &mut KUpstream, services: &BTreeMap<String, KService>) {
    let Some(service) = services.get(&up.service) else { return };
    let group: Vec<&Service> = service.k8s_services.values().copied().collect();
    let refs: Vec<ObjectRef> = group.iter().map(|s| svc_ref(s)).collect();

    // KongIngress: the first Service of the group that names one.
    let mut kong_ingress = Ok(None);
    for svc in &group {
        let Some(name) = ann(annotations(&svc.metadata), "override").filter(|n| !n.is_empty()) else { continue };
        kong_ingress = match ctx.kong_ingresses.get(&(ns_of(&svc.metadata).to_string(), name.to_string())) {
            Some(upstream) => Ok(Some(upstream)),
            None => Err(format!("failed to get KongIngress: KongIngress {name} not found")),
        };
        break;
    }
    match kong_ingress {
        Err(e) => ctx.fail_all(&refs, &e),
        Ok(ki) => {
            for svc in &group {
                if let Some(upstream) = ki {
                    apply_kong_ingress(&mut up.fields, upstream);
                }
                if let Some(host) = ann(annotations(&svc.metadata), "host-header").filter(|h| !h.is_empty()) {
                    up.fields.insert("host_header".into(), Value::String(host.to_string()));
                }
            }
        }
    }

    if group.is_empty() {
        return;
    }
    let names: BTreeSet<Option<&str>> =
        group.iter().map(|s| annotations(&s.metadata).get("konghq.com/upstream-policy").map(String::as_str)).collect();
    if names.len() > 1 {
        let list: Vec<String> =
            group.iter().map(|s| format!("{}/{}", ns_of(&s.metadata), super::meta::name_of(&s.metadata))).collect();
        ctx.fail_all(&refs, &format!("inconsistent KongUpstreamPolicy configuration for services {}", list.join(", ")));
        return;
    }
    let Some(Some(name)) = names.into_iter().next() else { return };
    let ns = ns_of(&group[0].metadata);
    let Some((meta, spec)) = ctx.policies.get(&(ns.to_string(), name.to_string())) else {
        let msg = format!("failed fetching KongUpstreamPolicy: KongUpstreamPolicy {ns}/{name} not found");
        ctx.fail_all(&refs, &msg);
        return;
    };
    if spec.get("algorithm").and_then(Value::as_str) == Some("sticky-sessions")
        && ctx.settings.kong_version < (3, 11, 0)
    {
        let msg = format!(
            "sticky sessions algorithm specified in KongUpstreamPolicy '{}' is not supported with Kong Gateway \
             versions < 3.11.0",
            meta.r.name
        );
        ctx.fail_all(&refs, &msg);
        return;
    }
    for (k, v) in super::policy::translate_upstream_policy(spec) {
        up.fields.insert(k, v);
    }
}

/// The KongIngress `upstream` fields KIC copies onto the upstream (`overrideByKongIngress`).
fn apply_kong_ingress(fields: &mut Map<String, Value>, upstream: &Value) {
    const STRINGS: [&str; 12] = [
        "host_header",
        "algorithm",
        "hash_on",
        "hash_fallback",
        "hash_on_header",
        "hash_fallback_header",
        "hash_on_cookie",
        "hash_on_cookie_path",
        "hash_on_query_arg",
        "hash_fallback_query_arg",
        "hash_on_uri_capture",
        "hash_fallback_uri_capture",
    ];
    for key in STRINGS {
        if let Some(v) = upstream.get(key).filter(|v| v.is_string()) {
            fields.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = upstream.get("slots").filter(|v| v.is_i64() || v.is_u64()) {
        fields.insert("slots".into(), v.clone());
    }
    if let Some(h) = upstream.get("healthchecks").filter(|v| v.is_object()) {
        fields.insert("healthchecks".into(), super::policy::filter_kong_healthchecks(h));
    }
}
