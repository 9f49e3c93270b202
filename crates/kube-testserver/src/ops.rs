//! The API operations on stored objects: create, get, list, update, status update, patch, delete and
//! delete-collection, with the API server's server-set fields, preconditions and cascades.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::patch::{self, PatchKind};
use crate::resources::ResourceType;
use crate::status::{ApiError, ApiResult};
use crate::store::{resource_version, Inner, ObjKey};
use crate::util;

/// What a request addresses: a type in one of its versions, and the namespace from the URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub ty: Arc<ResourceType>,
    pub version: String,
    pub namespace: Option<String>,
}

impl Target {
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.ty.group, &self.ty.plural, name)
    }

    fn invalid(&self, name: &str, field: &str, problem: &str) -> ApiError {
        ApiError::invalid(&self.ty.kind, &self.ty.group, name, field, problem)
    }
}

/// An object as returned for the requested version (only `apiVersion` differs between versions).
pub fn present(obj: &Value, ty: &ResourceType, version: &str) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        m.insert("apiVersion".into(), json!(ty.api_version(version)));
        m.insert("kind".into(), json!(ty.kind));
    }
    out
}

fn metadata(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"].as_object_mut().expect("metadata is an object")
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

/// Checks `apiVersion`/`kind` against the URL, fills them in and moves the object to the storage version.
fn prepare_type_meta(t: &Target, obj: &mut Value) -> ApiResult<()> {
    let ty = &t.ty;
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    };
    let expected = ty.api_version(&t.version);
    if let Some(av) = map.get("apiVersion").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        let served = ty.versions.iter().any(|v| ty.api_version(v) == av);
        if !served {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({expected})"
            )));
        }
    }
    if let Some(kind) = map.get("kind").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        if kind != ty.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                ty.kind
            )));
        }
    }
    map.insert("apiVersion".into(), json!(ty.api_version(&ty.storage_version)));
    map.insert("kind".into(), json!(ty.kind));
    Ok(())
}

/// Defaults the namespace from the URL (rejecting a different one) or clears it for cluster-scoped kinds.
fn fix_namespace(t: &Target, obj: &mut Value) -> ApiResult<()> {
    let meta = metadata(obj);
    if t.ty.namespaced {
        let url_ns = t.ns();
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(url_ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

fn validate_name(t: &Target, name: &str) -> ApiResult<()> {
    let ok = if t.ty.is_namespace() { util::is_dns_label(name) } else { util::is_dns_subdomain(name) };
    if ok {
        return Ok(());
    }
    let what = if t.ty.is_namespace() { "RFC 1123 label" } else { "RFC 1123 subdomain" };
    Err(t.invalid(
        name,
        "metadata.name",
        &format!(
            "Invalid value: \"{name}\": a lowercase {what} must consist of lower case alphanumeric characters, '-' \
             or '.', and must start and end with an alphanumeric character"
        ),
    ))
}

/// Kind-specific server behaviour: Secret `stringData`, Namespace labels and phase, CRD conditions.
fn normalize(t: &Target, obj: &mut Value) {
    if t.ty.is_secret() {
        if let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
            if !obj["data"].is_object() {
                obj["data"] = json!({});
            }
            for (k, v) in string_data {
                let s = v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
                obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
            }
        }
        if obj.get("type").is_none_or(Value::is_null) {
            obj["type"] = json!("Opaque");
        }
    } else if t.ty.is_namespace() {
        let name = meta_str(obj, "name").to_string();
        let meta = metadata(obj);
        if !meta.get("labels").is_some_and(Value::is_object) {
            meta.insert("labels".into(), json!({}));
        }
        meta["labels"]["kubernetes.io/metadata.name"] = json!(name);
        if obj.pointer("/status/phase").is_none() {
            obj["status"] = json!({"phase": "Active"});
        }
    } else if t.ty.is_crd() {
        let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
        let storage = obj
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .and_then(|vs| vs.iter().find(|v| v.get("storage").and_then(Value::as_bool) == Some(true)))
            .and_then(|v| v.get("name").cloned());
        let since =
            obj.pointer("/status/conditions/0/lastTransitionTime").cloned().unwrap_or(json!(util::now_rfc3339()));
        let mut accepted = names.clone();
        if let Some(kind) = names.get("kind").and_then(Value::as_str) {
            if accepted.get("singular").is_none() {
                accepted["singular"] = json!(kind.to_lowercase());
            }
            if accepted.get("listKind").is_none() {
                accepted["listKind"] = json!(format!("{kind}List"));
            }
        }
        obj["status"] = json!({
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": since},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": since}
            ],
            "acceptedNames": accepted,
            "storedVersions": storage.map(|s| vec![s]).unwrap_or_default(),
        });
    }
}

/// The part of an object whose changes bump `metadata.generation`.
fn generation_relevant(obj: &Value, status_subresource: bool) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if status_subresource {
            m.remove("status");
        }
    }
    v
}

/// resourceVersion and uid preconditions of an update body against the stored object.
fn check_preconditions(t: &Target, old: &Value, new: &Value) -> ApiResult<()> {
    let name = meta_str(old, "name");
    let rv = resource_version(new);
    if !rv.is_empty() && rv != resource_version(old) {
        return Err(ApiError::conflict(&t.ty.group, &t.ty.plural, name));
    }
    let uid = meta_str(new, "uid");
    if !uid.is_empty() && uid != meta_str(old, "uid") {
        let why =
            format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", meta_str(old, "uid"));
        return Err(ApiError::conflict_because(&t.ty.group, &t.ty.plural, name, &why));
    }
    Ok(())
}

pub fn get(inner: &Inner, t: &Target, name: &str) -> ApiResult<Arc<Value>> {
    inner.get(&t.ty.key(), t.ns(), name).ok_or_else(|| t.not_found(name))
}

pub fn create(inner: &mut Inner, t: &Target, mut obj: Value, dry_run: bool) -> ApiResult<Arc<Value>> {
    prepare_type_meta(t, &mut obj)?;
    fix_namespace(t, &mut obj)?;
    let key = t.ty.key();
    let mut name = meta_str(&obj, "name").to_string();
    if name.is_empty() {
        let prefix = meta_str(&obj, "generateName").to_string();
        if prefix.is_empty() {
            return Err(t.invalid("", "metadata.name", "Required value: name or generateName is required"));
        }
        name = format!("{prefix}{}", util::random_suffix());
        for _ in 0..16 {
            if !inner.contains(&key, t.ns(), &name) {
                break;
            }
            name = format!("{prefix}{}", util::random_suffix());
        }
        metadata(&mut obj).insert("name".into(), json!(name));
    }
    validate_name(t, &name)?;
    if t.ty.namespaced {
        let ns = inner.get(&(String::new(), "namespaces".into()), "", t.ns());
        if ns.is_some_and(|ns| ns.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null())) {
            let gr = crate::status::group_resource(&t.ty.group, &t.ty.plural);
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{gr} \"{name}\" is forbidden: unable to create new content in namespace {} because it is being \
                     terminated",
                    t.ns()
                ),
            ));
        }
    }
    if inner.contains(&key, t.ns(), &name) {
        return Err(ApiError::already_exists(&t.ty.group, &t.ty.plural, &name));
    }
    let meta = metadata(&mut obj);
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(util::now_rfc3339()));
    if t.ty.has_generation() {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    for field in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
        meta.remove(field);
    }
    if t.ty.status_subresource {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    normalize(t, &mut obj);
    if t.ty.is_crd() {
        let mut registry = inner.registry.clone();
        registry.apply_crd(&obj)?;
        if !dry_run {
            inner.registry = registry;
        }
    }
    if dry_run {
        return Ok(Arc::new(obj));
    }
    Ok(inner.put(&key, obj))
}

/// Stores `new` in place of `old` unless nothing changed; deletes it when its last finalizer went away
/// during a pending deletion.
fn commit_update(inner: &mut Inner, t: &Target, old: Arc<Value>, mut new: Value, dry_run: bool) -> Arc<Value> {
    metadata(&mut new).insert("resourceVersion".into(), json!(resource_version(&old)));
    if new == *old {
        return old;
    }
    if dry_run {
        return Arc::new(new);
    }
    let key = t.ty.key();
    let deleting = new.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    let stored = inner.put(&key, new);
    if deleting && has_finalizers(&old) && !has_finalizers(&stored) {
        let name = meta_str(&stored, "name").to_string();
        remove_with_cascade(inner, t, &name);
    }
    stored
}

pub fn update(inner: &mut Inner, t: &Target, name: &str, mut obj: Value, dry_run: bool) -> ApiResult<Arc<Value>> {
    prepare_type_meta(t, &mut obj)?;
    fix_namespace(t, &mut obj)?;
    match meta_str(&obj, "name") {
        "" => {
            metadata(&mut obj).insert("name".into(), json!(name));
        }
        n if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        _ => {}
    }
    let old = get(inner, t, name)?;
    check_preconditions(t, &old, &obj)?;
    let old_meta = old["metadata"].as_object().cloned().unwrap_or_default();
    let meta = metadata(&mut obj);
    for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
        match old_meta.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    if t.ty.status_subresource {
        match old.get("status") {
            Some(s) => obj["status"] = s.clone(),
            None => {
                if let Some(m) = obj.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    normalize(t, &mut obj);
    if t.ty.has_generation()
        && generation_relevant(&obj, t.ty.status_subresource) != generation_relevant(&old, t.ty.status_subresource)
    {
        let generation = old_meta.get("generation").and_then(Value::as_i64).unwrap_or(0) + 1;
        metadata(&mut obj).insert("generation".into(), json!(generation));
    }
    if t.ty.is_crd() {
        if obj.pointer("/spec/scope") != old.pointer("/spec/scope") {
            return Err(t.invalid(name, "spec.scope", "Invalid value: field is immutable"));
        }
        let mut registry = inner.registry.clone();
        registry.apply_crd(&obj)?;
        if !dry_run {
            inner.registry = registry;
        }
    }
    Ok(commit_update(inner, t, old, obj, dry_run))
}

/// PUT on `/status`: only `.status` of the body is taken.
pub fn update_status(inner: &mut Inner, t: &Target, name: &str, body: Value, dry_run: bool) -> ApiResult<Arc<Value>> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    let body_name = meta_str(&body, "name");
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let old = get(inner, t, name)?;
    check_preconditions(t, &old, &body)?;
    let mut obj = (*old).clone();
    match body.get("status") {
        Some(s) if !s.is_null() => obj["status"] = s.clone(),
        _ => {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
    }
    Ok(commit_update(inner, t, old, obj, dry_run))
}

/// PATCH of the object or its `/status`. Server-side apply creates a missing object. Returns whether it
/// was created.
pub fn patch(
    inner: &mut Inner,
    t: &Target,
    name: &str,
    kind: PatchKind,
    body: &[u8],
    status: bool,
    dry_run: bool,
) -> ApiResult<(Arc<Value>, bool)> {
    let Some(old) = inner.get(&t.ty.key(), t.ns(), name) else {
        if kind == PatchKind::Apply && !status {
            let mut obj = patch::parse_body(body, true)?;
            if !obj.is_object() {
                return Err(ApiError::bad_request("the apply patch must be an object"));
            }
            let body_name = meta_str(&obj, "name");
            if !body_name.is_empty() && body_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
            metadata(&mut obj).insert("name".into(), json!(name));
            return Ok((create(inner, t, obj, dry_run)?, true));
        }
        return Err(t.not_found(name));
    };
    let patched = patch::apply(&present(&old, &t.ty, &t.version), kind, body)?;
    let out = if status {
        update_status(inner, t, name, patched, dry_run)?
    } else {
        update(inner, t, name, patched, dry_run)?
    };
    Ok((out, false))
}

/// Options of a DELETE.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_body(body: &[u8], dry_run: bool) -> ApiResult<DeleteOptions> {
        let mut o = DeleteOptions { dry_run, ..Default::default() };
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(o);
        }
        let v: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("DeleteOptions: {e}")))?;
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
        o.uid = s("/preconditions/uid");
        o.resource_version = s("/preconditions/resourceVersion");
        if v.get("dryRun").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            o.dry_run = true;
        }
        Ok(o)
    }
}

fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
}

/// Completes the deletion of a Terminating namespace: deletes its objects (finalizers notwithstanding),
/// then the namespace itself unless it still has finalizers.
pub fn finalize_namespace(inner: &mut Inner, name: &str) {
    let Some(ty) = inner.registry.find("", "v1", "namespaces") else { return };
    let t = Target { ty, version: "v1".into(), namespace: None };
    let Some(ns) = inner.get(&t.ty.key(), "", name) else { return };
    if ns.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null) {
        return;
    }
    remove_namespace_contents(inner, name);
    if !has_finalizers(&ns) {
        inner.remove(&t.ty.key(), "", name);
    }
}

fn remove_namespace_contents(inner: &mut Inner, namespace: &str) {
    for key in inner.stored_types() {
        if inner.registry.get(&key).is_some_and(|ty| ty.namespaced) {
            let names: Vec<ObjKey> = inner.iter(&key, Some(namespace), None).map(|(k, _)| k.clone()).collect();
            for (ns, n) in names {
                inner.remove(&key, &ns, &n);
            }
        }
    }
}

/// Removes an object and what goes with it: a Namespace's objects, a CRD's custom objects and type.
fn remove_with_cascade(inner: &mut Inner, t: &Target, name: &str) -> Option<Arc<Value>> {
    let last = inner.remove(&t.ty.key(), t.ns(), name)?;
    if t.ty.is_namespace() {
        remove_namespace_contents(inner, name);
    } else if t.ty.is_crd() {
        if let Some(ty) = inner.registry.remove_crd(&last) {
            let key = ty.key();
            let names: Vec<ObjKey> = inner.iter(&key, None, None).map(|(k, _)| k.clone()).collect();
            for (ns, n) in names {
                inner.remove(&key, &ns, &n);
            }
        }
    }
    Some(last)
}

/// DELETE of one object. Objects with finalizers get a `deletionTimestamp` and stay until their finalizers
/// are removed. Returns the object and whether it is gone.
pub fn delete(inner: &mut Inner, t: &Target, name: &str, opts: &DeleteOptions) -> ApiResult<(Arc<Value>, bool)> {
    let old = get(inner, t, name)?;
    if let Some(uid) = &opts.uid {
        if uid != meta_str(&old, "uid") {
            let why = format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&old, "uid")
            );
            return Err(ApiError::conflict_because(&t.ty.group, &t.ty.plural, name, &why));
        }
    }
    if let Some(rv) = &opts.resource_version {
        if rv != resource_version(&old) {
            let why = format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                resource_version(&old)
            );
            return Err(ApiError::conflict_because(&t.ty.group, &t.ty.plural, name, &why));
        }
    }
    // Namespaces go Terminating; `finalize_namespace` removes them and their objects a moment later.
    if has_finalizers(&old) || t.ty.is_namespace() {
        let mut obj = (*old).clone();
        let meta = metadata(&mut obj);
        if meta.get("deletionTimestamp").is_none_or(Value::is_null) {
            meta.insert("deletionTimestamp".into(), json!(util::now_rfc3339()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        }
        if t.ty.is_namespace() {
            obj["status"]["phase"] = json!("Terminating");
        }
        return Ok((commit_update(inner, t, old, obj, opts.dry_run), false));
    }
    if opts.dry_run {
        return Ok((old, true));
    }
    Ok((remove_with_cascade(inner, t, name).unwrap_or(old), true))
}
