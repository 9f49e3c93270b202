//! `oauth2` (`kong/plugins/oauth2/access.lua`): scopes, enabled flows and token lifetimes.

use serde::Deserialize;
use serde_json::Value;

/// `pkce`: when a Proof Key for Code Exchange is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pkce {
    /// Never required, even for public clients.
    None,
    /// Required for public clients.
    Lax,
    /// Required for every client.
    Strict,
}

#[derive(Debug)]
pub struct Config {
    /// The scopes a client may request; `None` accepts any.
    pub scopes: Option<Vec<String>>,
    pub mandatory_scope: bool,
    pub provision_key: Option<String>,
    /// Access token lifetime in seconds; `None` when tokens never expire (`token_expiration <= 0`).
    pub token_expiration: Option<u64>,
    pub enable_authorization_code: bool,
    pub enable_implicit_grant: bool,
    pub enable_client_credentials: bool,
    pub enable_password_grant: bool,
    pub hide_credentials: bool,
    pub accept_http_if_already_terminated: bool,
    pub anonymous: Option<String>,
    pub global_credentials: bool,
    pub auth_header_name: String,
    /// Seconds a refresh token lives; `None` when `refresh_token_ttl` is 0 (forever).
    pub refresh_token_ttl: Option<u64>,
    pub reuse_refresh_token: bool,
    pub pkce: Pkce,
    pub realm: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    scopes: Option<Vec<String>>,
    mandatory_scope: bool,
    provision_key: Option<String>,
    token_expiration: f64,
    enable_authorization_code: bool,
    enable_implicit_grant: bool,
    enable_client_credentials: bool,
    enable_password_grant: bool,
    hide_credentials: bool,
    accept_http_if_already_terminated: bool,
    anonymous: Option<String>,
    global_credentials: bool,
    auth_header_name: Option<String>,
    refresh_token_ttl: f64,
    reuse_refresh_token: bool,
    pkce: Option<Pkce>,
    realm: Option<String>,
}

/// Whole seconds of a positive lifetime (tokens store integer `expires_in`).
fn seconds(n: f64) -> Option<u64> {
    (n > 0.0).then_some(n as u64)
}

pub fn compile(config: &Value) -> Result<Config, String> {
    let raw = Raw::deserialize(config).map_err(|e| format!("invalid oauth2 config: {e}"))?;
    Ok(Config {
        scopes: raw.scopes,
        mandatory_scope: raw.mandatory_scope,
        provision_key: raw.provision_key,
        token_expiration: seconds(raw.token_expiration),
        enable_authorization_code: raw.enable_authorization_code,
        enable_implicit_grant: raw.enable_implicit_grant,
        enable_client_credentials: raw.enable_client_credentials,
        enable_password_grant: raw.enable_password_grant,
        hide_credentials: raw.hide_credentials,
        accept_http_if_already_terminated: raw.accept_http_if_already_terminated,
        anonymous: raw.anonymous,
        global_credentials: raw.global_credentials,
        auth_header_name: raw.auth_header_name.unwrap_or_else(|| "authorization".into()),
        refresh_token_ttl: seconds(raw.refresh_token_ttl),
        reuse_refresh_token: raw.reuse_refresh_token,
        pkce: raw.pkce.unwrap_or(Pkce::Lax),
        realm: raw.realm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    #[test]
    fn defaults() {
        // The schema needs at least one flow enabled.
        let c =
            compile(&validated("oauth2", json!({"provision_key": "key", "enable_authorization_code": true}))).unwrap();
        assert_eq!((c.token_expiration, c.refresh_token_ttl), (Some(7200), Some(1_209_600)));
        assert_eq!(
            (c.pkce, c.auth_header_name.as_str(), c.provision_key.as_deref()),
            (Pkce::Lax, "authorization", Some("key"))
        );
        assert!(c.enable_authorization_code && !c.enable_implicit_grant && !c.enable_client_credentials);
        assert!(!c.enable_password_grant && !c.mandatory_scope && !c.global_credentials && !c.reuse_refresh_token);
        assert_eq!((c.scopes, c.anonymous, c.realm), (None, None, None));
    }

    #[test]
    fn values() {
        let c = compile(&validated(
            "oauth2",
            json!({
                "scopes": ["email", "profile"], "mandatory_scope": true, "token_expiration": 0, "refresh_token_ttl": 0,
                "pkce": "strict", "auth_header_name": null, "anonymous": "anon", "realm": "kong",
                "enable_client_credentials": true, "hide_credentials": true, "global_credentials": true,
            }),
        ))
        .unwrap();
        assert_eq!(c.scopes, Some(vec!["email".to_string(), "profile".to_string()]));
        assert_eq!((c.token_expiration, c.refresh_token_ttl), (None, None));
        assert_eq!((c.pkce, c.auth_header_name.as_str()), (Pkce::Strict, "authorization"));
        assert_eq!((c.anonymous.as_deref(), c.realm.as_deref()), (Some("anon"), Some("kong")));
        assert!(c.mandatory_scope && c.enable_client_credentials && c.hide_credentials && c.global_credentials);
        let c = validated("oauth2", json!({"token_expiration": 90.7, "pkce": "none", "enable_password_grant": true}));
        assert_eq!(compile(&c).unwrap().token_expiration, Some(90));
        // Values the schema rejects.
        for (field, value) in [("pkce", json!("S256")), ("token_expiration", Value::Null)] {
            let mut bad = c.clone();
            bad[field] = value;
            assert!(compile(&bad).is_err(), "{field}");
        }
    }
}
