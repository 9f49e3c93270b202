//! basic-auth (`kong/plugins/basic-auth/access.lua`): `Authorization`/`Proxy-Authorization: Basic`,
//! verified against Kong's stored form `sha1_hex(password .. consumer_id)` so credentials imported from
//! Kong keep working.

use super::identity::{self, unauthorized};
use crate::cache::{own_header, Kind, Row, ThreadCopy};
use crate::context::{Exit, RequestCtx};
use crate::runtime::Plugin;
use base64::Engine;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, PROXY_AUTHORIZATION};
use serde::Deserialize;
use serde_json::Value;
use sha1::{Digest, Sha1};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct Config {
    anonymous: Option<String>,
    #[serde(default)]
    hide_credentials: bool,
    #[serde(default = "default_realm")]
    realm: String,
}

fn default_realm() -> String {
    "service".into()
}

/// A compiled basic-auth config.
#[derive(Debug)]
pub struct BasicAuth {
    anonymous: Option<String>,
    hide_credentials: bool,
    challenge: HeaderValue,
}

/// A basic-auth credential as cached.
#[derive(Debug)]
pub struct BasicCredential {
    id: Uuid,
    consumer_id: Uuid,
    /// The stored hex digest.
    password: String,
    identifier: HeaderValue,
}

impl ThreadCopy for BasicCredential {
    fn thread_copy(&self) -> Self {
        BasicCredential { password: self.password.clone(), identifier: own_header(&self.identifier), ..*self }
    }
}

fn build_credential(rows: &[Row]) -> Option<BasicCredential> {
    let row = rows.first()?;
    Some(BasicCredential {
        id: identity::id_of(row)?,
        consumer_id: identity::consumer_of(row)?,
        password: row.get("password")?.as_str()?.to_string(),
        identifier: identity::identifier(row.get("username")?.as_str()?),
    })
}

impl BasicCredential {
    fn verifies(&self, password: &str) -> bool {
        let mut hasher = Sha1::new();
        hasher.update(password.as_bytes());
        let mut buffer = Uuid::encode_buffer();
        hasher.update(self.consumer_id.hyphenated().encode_lower(&mut buffer).as_bytes());
        let digest = hasher.finalize();
        let mut hex = [0u8; 40];
        if hex::encode_to_slice(digest, &mut hex).is_err() {
            return false;
        }
        // Constant-time comparison of the digests.
        let stored = self.password.as_bytes();
        stored.len() == hex.len() && stored.iter().zip(hex.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Kong's parsing: `\s*[Bb]asic\s*(.+)`, base64, then `([^:]+):(.*)`.
fn parse(value: &str) -> Option<(String, String)> {
    let trimmed = value.trim_start();
    let rest = trimmed.strip_prefix("Basic").or_else(|| trimmed.strip_prefix("basic"))?;
    let encoded = rest.trim();
    if encoded.is_empty() {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_string(), password.to_string()))
}

impl BasicAuth {
    pub fn compile(config: &Value) -> Result<BasicAuth, String> {
        let c: Config = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{}\"", c.realm)).map_err(|e| e.to_string())?;
        Ok(BasicAuth { anonymous: c.anonymous, hide_credentials: c.hide_credentials, challenge })
    }

    /// Kong's `retrieve_credentials`: the header's username and password; hides the header if configured.
    fn retrieve(&self, ctx: &mut RequestCtx<'_>, header: &HeaderName) -> Option<(String, String)> {
        let found = ctx.parts.headers.get(header).and_then(|v| v.to_str().ok()).and_then(parse);
        if self.hide_credentials {
            ctx.parts.headers.remove(header);
        }
        found
    }

    async fn lookup(
        &self,
        ctx: &RequestCtx<'_>,
        username: &str,
    ) -> Result<Option<std::sync::Arc<BasicCredential>>, Exit> {
        ctx.cache.get_local(Kind::BasicAuth, username, build_credential).await.map_err(|e| identity::lookup_failed(&e))
    }

    async fn authenticate(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        let fail = || unauthorized("Unauthorized", &self.challenge);
        if !ctx.parts.headers.contains_key(AUTHORIZATION) && !ctx.parts.headers.contains_key(PROXY_AUTHORIZATION) {
            return Err(fail());
        }
        let mut credential = None;
        let mut given = self.retrieve(ctx, &PROXY_AUTHORIZATION);
        if let Some((user, _)) = &given {
            credential = self.lookup(ctx, user).await?;
        }
        if credential.is_none() {
            given = self.retrieve(ctx, &AUTHORIZATION);
            match &given {
                Some((user, _)) => credential = self.lookup(ctx, user).await?,
                None => return Err(fail()),
            }
        }
        let (Some(credential), Some((_, password))) = (credential, given) else { return Err(fail()) };
        if !credential.verifies(&password) {
            return Err(fail());
        }
        identity::authenticate(ctx, credential.id, credential.consumer_id, &credential.identifier).await
    }
}

impl Plugin for BasicAuth {
    async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        if self.anonymous.is_some() && ctx.credential.is_some() {
            return Ok(());
        }
        let outcome = self.authenticate(ctx).await;
        identity::with_anonymous(ctx, self.anonymous.as_deref(), outcome).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_kong() {
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(parse(&format!("Basic {}", encode("bob:pa:ss"))), Some(("bob".into(), "pa:ss".into())));
        assert_eq!(parse(&format!("  basic {}", encode("bob:"))), Some(("bob".into(), String::new())));
        assert_eq!(parse(&format!("Basic {}", encode(":pw"))), None);
        assert_eq!(parse("Basic !!!"), None);
        assert_eq!(parse("Bearer abc"), None);
    }

    #[test]
    fn verifies_kongs_stored_digest() {
        let consumer_id = Uuid::parse_str("6b0a5b3e-0bbf-4c8b-9a2f-2f4c1a3e9d10").unwrap();
        let stored = gatehouse_model::entities::credentials::basic_auth_password_hash(&consumer_id.to_string(), "pw");
        let credential = BasicCredential {
            id: Uuid::nil(),
            consumer_id,
            password: stored,
            identifier: HeaderValue::from_static("u"),
        };
        assert!(credential.verifies("pw"));
        assert!(!credential.verifies("pw2"));
    }
}
