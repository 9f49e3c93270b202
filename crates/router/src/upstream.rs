//! `kong/router/utils.lua`: `sanitize_uri_postfix` and `get_upstream_uri_v0`, then `escape`.

use crate::normalize::escape;
use crate::Match;

/// Removes a leading `./` or `../` (or a lone `.`/`..`) from the part of the request after the prefix, so
/// stripping a prefix cannot climb above the service path.
pub fn sanitize_uri_postfix(postfix: &str) -> &str {
    if postfix == "." || postfix == ".." {
        return "";
    }
    if let Some(rest) = postfix.strip_prefix("./") {
        return rest;
    }
    postfix.strip_prefix("../").unwrap_or(postfix)
}

fn v0(strip_path: bool, postfix: &str, req_uri: &str, base: &str) -> String {
    if let Some(trimmed) = base.strip_suffix('/') {
        if strip_path {
            if postfix.is_empty() {
                if base == "/" {
                    return "/".to_owned();
                }
                if req_uri.ends_with('/') {
                    return base.to_owned();
                }
                return trimmed.to_owned();
            }
            if postfix.starts_with('/') {
                return format!("{trimmed}{postfix}");
            }
            return format!("{base}{postfix}");
        }
        return format!("{}{}", base, req_uri.get(1..).unwrap_or(""));
    }
    if strip_path {
        if postfix.is_empty() {
            if req_uri.len() > 1 && req_uri.ends_with('/') {
                return format!("{base}/");
            }
            return base.to_owned();
        }
        if postfix.starts_with('/') {
            return format!("{base}{postfix}");
        }
        return format!("{base}/{postfix}");
    }
    if req_uri == "/" {
        return base.to_owned();
    }
    format!("{base}{req_uri}")
}

/// `set_upstream_uri` of `atc.lua`: postfix = request after the matched prefix (or after `/`).
pub(crate) fn upstream_uri(m: &Match<'_>, service_path: Option<&str>, req_uri: &str) -> String {
    let prefix = m.prefix.as_deref().unwrap_or("/");
    let postfix = sanitize_uri_postfix(req_uri.get(prefix.len()..).unwrap_or(""));
    let base = service_path.unwrap_or("/");
    let uri = v0(m.route.strip_path, postfix, req_uri, base);
    match escape(&uri) {
        std::borrow::Cow::Borrowed(_) => uri,
        std::borrow::Cow::Owned(s) => s,
    }
}
