//! Lists (with selectors, `limit`/`continue` and resourceVersion checks) and collection deletes.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::ops::{delete, present, DeleteOptions, Target};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::store::{Inner, ObjKey};

/// Options of a list (and of the initial state of a watch).
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

impl ListOptions {
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    let raw = json!({"rv": rv, "ns": key.0, "name": key.1}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<ObjKey> {
    let bad = || ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from).ok_or_else(bad);
    Ok((s("ns")?, s("name")?))
}

/// Matching objects (in the target namespace, or all namespaces) for a list.
pub fn list(inner: &Inner, t: &Target, opts: &ListOptions) -> ApiResult<Value> {
    let current = inner.current_rv();
    if let Some(rv) = opts.resource_version.as_deref().filter(|rv| !rv.is_empty() && *rv != "0") {
        let n: u64 = rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        if opts.resource_version_match.as_deref() == Some("Exact") && n != current {
            return Err(ApiError::expired(n, current));
        }
    }
    let after = opts.continue_token.as_deref().filter(|c| !c.is_empty()).map(decode_continue).transpose()?;
    let mut items = Vec::new();
    let mut last_key = None;
    let mut remaining = 0usize;
    for (key, obj) in inner.iter(&t.ty.key(), t.namespace.as_deref(), after) {
        if !opts.matches(obj) {
            continue;
        }
        if opts.limit.is_some_and(|l| l > 0 && items.len() >= l) {
            remaining += 1;
            continue;
        }
        items.push(present(obj, &t.ty, &t.version));
        last_key = Some(key.clone());
    }
    let mut meta = json!({"resourceVersion": current.to_string()});
    if remaining > 0 {
        if let Some(k) = &last_key {
            meta["continue"] = json!(encode_continue(current, k));
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    Ok(json!({
        "kind": t.ty.list_kind,
        "apiVersion": t.ty.api_version(&t.version),
        "metadata": meta,
        "items": items,
    }))
}

/// DELETE on a collection: deletes every matching object; returns the list of them.
pub fn delete_collection(inner: &mut Inner, t: &Target, opts: &ListOptions, dry_run: bool) -> ApiResult<Value> {
    if t.ty.namespaced && t.namespace.is_none() {
        // Like the API server: no collection delete across all namespaces.
        return Err(ApiError::method_not_allowed());
    }
    let names: Vec<String> = inner
        .iter(&t.ty.key(), t.namespace.as_deref(), None)
        .filter(|(_, o)| opts.matches(o))
        .map(|(k, _)| k.1.clone())
        .collect();
    let mut items = Vec::new();
    for name in names {
        if let Ok((obj, _)) = delete(inner, t, &name, &DeleteOptions { dry_run, ..Default::default() }) {
            items.push(present(&obj, &t.ty, &t.version));
        }
    }
    Ok(json!({
        "kind": t.ty.list_kind,
        "apiVersion": t.ty.api_version(&t.version),
        "metadata": {"resourceVersion": inner.current_rv().to_string()},
        "items": items,
    }))
}
