//! hmac-auth (`kong/plugins/hmac-auth/access.lua`): requests signed with a shared secret, checked for
//! clock skew, enforced headers, allowed algorithms and, optionally, the body digest.

use super::identity;
use crate::auth::hmac_signature::{self as hmac, HmacFailure};
use crate::cache::{own_header, Kind, Row, ThreadCopy};
use crate::context::{Exit, RequestCtx};
use crate::runtime::Plugin;
use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default)]
    hide_credentials: bool,
    #[serde(default = "default_skew")]
    clock_skew: f64,
    anonymous: Option<String>,
    #[serde(default)]
    validate_request_body: bool,
    #[serde(default)]
    enforce_headers: Vec<String>,
    #[serde(default)]
    algorithms: Vec<String>,
    realm: Option<String>,
}

fn default_skew() -> f64 {
    300.0
}

/// A compiled hmac-auth config.
#[derive(Debug)]
pub struct HmacAuth {
    config: Config,
    challenge: HeaderValue,
}

/// An hmac-auth credential as cached.
#[derive(Debug)]
pub struct HmacCredential {
    id: Uuid,
    consumer_id: Uuid,
    secret: Vec<u8>,
    identifier: HeaderValue,
}

impl ThreadCopy for HmacCredential {
    fn thread_copy(&self) -> Self {
        HmacCredential { secret: self.secret.clone(), identifier: own_header(&self.identifier), ..*self }
    }
}

fn build_credential(rows: &[Row]) -> Option<HmacCredential> {
    let row = rows.first()?;
    Some(HmacCredential {
        id: identity::id_of(row)?,
        consumer_id: identity::consumer_of(row)?,
        secret: row.get("secret").and_then(Value::as_str).unwrap_or_default().as_bytes().to_vec(),
        identifier: identity::identifier(row.get("username")?.as_str()?),
    })
}

impl HmacAuth {
    pub fn compile(config: &Value) -> Result<HmacAuth, String> {
        let config: Config = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let challenge =
            HeaderValue::from_str(&hmac::www_authenticate(config.realm.as_deref())).map_err(|e| e.to_string())?;
        Ok(HmacAuth { config, challenge })
    }

    fn reject(&self, failure: HmacFailure) -> Exit {
        tracing::debug!(%failure, "hmac-auth rejected a request");
        identity::unauthorized(failure.message(), &self.challenge)
    }

    async fn authenticate(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        let c = &self.config;
        let check = hmac::precheck(&*ctx.parts, c.clock_skew, &c.enforce_headers, &c.algorithms, ctx.now);
        let hide = check.credential_header.map(|h| h.name());
        let (params, algorithm) = check.result.map_err(|f| self.reject(f))?;
        let cache = ctx.cache;
        let found = cache.get_local(Kind::HmacAuth, params.username, build_credential).await;
        let Some(credential) = found.map_err(|e| identity::lookup_failed(&e))? else {
            return Err(self.reject(HmacFailure::UnknownCredential));
        };
        hmac::verify_request(&params, algorithm, &credential.secret, &*ctx.parts).map_err(|f| self.reject(f))?;
        if c.validate_request_body {
            hmac::check_body(&*ctx.parts, ctx.body.as_deref()).map_err(|f| self.reject(f))?;
        }
        if c.hide_credentials {
            if let Some(name) = hide.and_then(|n| HeaderName::from_bytes(n.as_bytes()).ok()) {
                ctx.parts.headers.remove(name);
            }
        }
        identity::authenticate(ctx, credential.id, credential.consumer_id, &credential.identifier).await
    }
}

impl Plugin for HmacAuth {
    fn needs_body(&self) -> bool {
        self.config.validate_request_body
    }

    async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        if self.config.anonymous.is_some() && ctx.credential.is_some() {
            return Ok(());
        }
        let outcome = self.authenticate(ctx).await;
        identity::with_anonymous(ctx, self.config.anonymous.as_deref(), outcome).await
    }
}
