//! jwt (`kong/plugins/jwt/handler.lua`): a signed token from the query string, cookies or a `Bearer`
//! header, whose key claim names a `jwt_secrets` credential. The verification key is compiled when the
//! credential is cached, not per request.

use super::identity;
use crate::auth::jwt_token::{self, JwtError, VerifyKey};
use crate::cache::{own_header, Kind, Row, ThreadCopy};
use crate::context::{Credential, Exit, RequestCtx};
use crate::runtime::Plugin;
use http::header::{HeaderName, HeaderValue, COOKIE};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default)]
    uri_param_names: Vec<String>,
    #[serde(default)]
    cookie_names: Vec<String>,
    #[serde(default)]
    header_names: Vec<String>,
    key_claim_name: String,
    #[serde(default)]
    secret_is_base64: bool,
    claims_to_verify: Option<Vec<String>>,
    anonymous: Option<String>,
    #[serde(default = "yes")]
    run_on_preflight: bool,
    #[serde(default)]
    maximum_expiration: f64,
    realm: Option<String>,
}

fn yes() -> bool {
    true
}

/// A compiled jwt config.
#[derive(Debug)]
pub struct Jwt {
    config: Config,
    header_names: Vec<HeaderName>,
}

/// A jwt credential as cached, with its key compiled both ways (`secret_is_base64` is a plugin setting).
pub struct JwtCredential {
    id: Uuid,
    consumer_id: Uuid,
    identifier: HeaderValue,
    plain: VerifyKey,
    base64: VerifyKey,
}

impl ThreadCopy for JwtCredential {
    fn thread_copy(&self) -> Self {
        JwtCredential {
            identifier: own_header(&self.identifier),
            plain: self.plain.clone(),
            base64: self.base64.clone(),
            ..*self
        }
    }
}

fn build_credential(rows: &[Row]) -> Option<JwtCredential> {
    let row = rows.first()?;
    let text = |f: &str| row.get(f).and_then(Value::as_str);
    let algorithm = text("algorithm").unwrap_or("HS256");
    Some(JwtCredential {
        id: identity::id_of(row)?,
        consumer_id: identity::consumer_of(row)?,
        identifier: identity::identifier(text("key")?),
        plain: VerifyKey::new(algorithm, text("secret"), text("rsa_public_key"), false),
        base64: VerifyKey::new(algorithm, text("secret"), text("rsa_public_key"), true),
    })
}

/// Kong's `\s*[Bb]earer\s+(.+)`.
fn bearer(value: &str) -> Option<&str> {
    let trimmed = value.trim_start();
    let rest = trimmed.strip_prefix("Bearer").or_else(|| trimmed.strip_prefix("bearer"))?;
    if !rest.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let token = rest.trim_start();
    (!token.is_empty()).then_some(token)
}

fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

impl Jwt {
    pub fn compile(config: &Value) -> Result<Jwt, String> {
        let config: Config = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let header_names = config
            .header_names
            .iter()
            .filter_map(|n| HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok())
            .collect();
        Ok(Jwt { config, header_names })
    }

    /// Kong's `retrieve_tokens`: distinct non-empty tokens from query, cookies and headers.
    fn tokens(&self, ctx: &RequestCtx<'_>) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        if let Some(query) = ctx.parts.uri.query() {
            for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                if !v.is_empty() && self.config.uri_param_names.iter().any(|n| *n == k) {
                    set.insert(v.into_owned());
                }
            }
        }
        for name in &self.config.cookie_names {
            if let Some(v) = cookie(&ctx.parts.headers, name).filter(|v| !v.is_empty()) {
                set.insert(v.to_string());
            }
        }
        for name in &self.header_names {
            let value = ctx.parts.headers.get(name).and_then(|v| v.to_str().ok());
            if let Some(token) = value.and_then(bearer) {
                set.insert(token.to_string());
            }
        }
        set
    }

    fn reject(&self, error: JwtError) -> Exit {
        let mut exit = Exit::json(error.status(), error.body());
        if let Some(challenge) = error.www_authenticate(self.config.realm.as_deref()) {
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                exit = exit.with_header(identity::WWW_AUTHENTICATE.clone(), v);
            }
        }
        exit
    }

    async fn authenticate(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        let tokens = self.tokens(ctx);
        let raw = match tokens.len() {
            0 => return Err(self.reject(JwtError::NoToken)),
            1 => tokens.into_iter().next().unwrap_or_default(),
            _ => return Err(self.reject(JwtError::MultipleTokens)),
        };
        let token = jwt_token::parse(&raw).map_err(|e| self.reject(e))?;
        let key = token.key_claim(&self.config.key_claim_name).map_err(|e| self.reject(e))?.to_string();
        let found =
            ctx.cache.get_local(Kind::Jwt, &key, build_credential).await.map_err(|e| identity::lookup_failed(&e))?;
        let Some(credential) = found else {
            return Err(self.reject(JwtError::NoCredentials(self.config.key_claim_name.clone())));
        };
        let verify_key = if self.config.secret_is_base64 { &credential.base64 } else { &credential.plain };
        verify_key.verify(&token).map_err(|e| self.reject(e))?;
        let claims = self.config.claims_to_verify.as_deref().unwrap_or_default();
        token.verify_registered_claims(claims, ctx.now).map_err(|e| self.reject(e))?;
        if self.config.maximum_expiration > 0.0 {
            token.check_maximum_expiration(self.config.maximum_expiration, ctx.now).map_err(|e| self.reject(e))?;
        }
        let consumer =
            identity::consumer_by_id(ctx, &credential.consumer_id).await.map_err(|e| identity::lookup_failed(&e))?;
        let Some(consumer) = consumer else {
            let message = format!("Could not find consumer for '{}={key}'", self.config.key_claim_name);
            return Err(Exit::json(401, json!({ "message": message })));
        };
        let credential = Credential {
            id: credential.id,
            consumer_id: credential.consumer_id,
            identifier: credential.identifier.clone(),
        };
        identity::set_consumer(ctx, Some(consumer), Some(credential));
        ctx.shared.insert("authenticated_jwt_token", Value::String(raw));
        Ok(())
    }
}

impl Plugin for Jwt {
    async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        if !self.config.run_on_preflight && ctx.parts.method == http::Method::OPTIONS {
            return Ok(());
        }
        if self.config.anonymous.is_some() && ctx.credential.is_some() {
            return Ok(());
        }
        let outcome = self.authenticate(ctx).await;
        identity::with_anonymous(ctx, self.config.anonymous.as_deref(), outcome).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_cookie_extraction() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("  bearer   abc "), Some("abc "));
        assert_eq!(bearer("Bearerabc"), None);
        assert_eq!(bearer("Basic abc"), None);
        let mut headers = http::HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; jwt=tok"));
        assert_eq!(cookie(&headers, "jwt"), Some("tok"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
