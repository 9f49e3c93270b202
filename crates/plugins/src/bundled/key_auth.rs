//! key-auth (`kong/plugins/key-auth/handler.lua`): an API key from a header, the query string or the body,
//! looked up through the entity cache.

use super::body::{BodyForm, FormValue};
use super::identity::{self, unauthorized};
use crate::cache::{own_header, Kind, Row, ThreadCopy};
use crate::context::{Exit, RequestCtx};
use crate::runtime::Plugin;
use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

const NO_API_KEY: &str = "No API key found in request";
const DUPLICATE_API_KEY: &str = "Duplicate API key found";
const INVALID: &str = "Unauthorized";

#[derive(Debug, Deserialize)]
struct Config {
    key_names: Vec<String>,
    #[serde(default)]
    hide_credentials: bool,
    anonymous: Option<String>,
    #[serde(default = "yes")]
    key_in_header: bool,
    #[serde(default = "yes")]
    key_in_query: bool,
    #[serde(default)]
    key_in_body: bool,
    #[serde(default = "yes")]
    run_on_preflight: bool,
    realm: Option<String>,
}

fn yes() -> bool {
    true
}

/// A compiled key-auth config.
#[derive(Debug)]
pub struct KeyAuth {
    /// Key names, with their header form where the name is a valid header name, and the form with
    /// dashes for underscores (nginx's header table finds `api-key` when asked for `api_key`).
    names: Vec<(String, Option<HeaderName>, Option<HeaderName>)>,
    hide_credentials: bool,
    anonymous: Option<String>,
    in_header: bool,
    in_query: bool,
    in_body: bool,
    run_on_preflight: bool,
    challenge: HeaderValue,
}

/// A key-auth credential as cached.
#[derive(Debug)]
pub struct KeyCredential {
    id: Uuid,
    consumer_id: Uuid,
    /// Epoch seconds after which the key no longer authenticates.
    expires: Option<i64>,
    identifier: HeaderValue,
}

impl ThreadCopy for KeyCredential {
    fn thread_copy(&self) -> Self {
        KeyCredential { identifier: own_header(&self.identifier), ..*self }
    }
}

fn build_credential(rows: &[Row]) -> Option<KeyCredential> {
    let row = rows.first()?;
    let id = identity::id_of(row)?;
    Some(KeyCredential {
        id,
        identifier: identity::identifier(&id.to_string()),
        consumer_id: identity::consumer_of(row)?,
        expires: row.get("ttl").and_then(Value::as_i64),
    })
}

impl KeyAuth {
    pub fn compile(config: &Value) -> Result<KeyAuth, String> {
        let c: Config = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let challenge = match &c.realm {
            Some(realm) => format!("Key realm=\"{realm}\""),
            None => "Key".to_string(),
        };
        Ok(KeyAuth {
            names: c
                .key_names
                .iter()
                .map(|n| {
                    let lower = n.to_ascii_lowercase();
                    let dashed = lower.contains('_').then(|| lower.replace('_', "-"));
                    let dashed = dashed.and_then(|d| HeaderName::from_bytes(d.as_bytes()).ok());
                    (n.clone(), HeaderName::from_bytes(lower.as_bytes()).ok(), dashed)
                })
                .collect(),
            hide_credentials: c.hide_credentials,
            anonymous: c.anonymous,
            in_header: c.key_in_header,
            in_query: c.key_in_query,
            in_body: c.key_in_body,
            run_on_preflight: c.run_on_preflight,
            challenge: HeaderValue::from_str(&challenge).map_err(|e| e.to_string())?,
        })
    }

    /// Finds the key: for each name in order, header, then query, then body. Several values for one name
    /// are Kong's "Duplicate API key found".
    fn find_key(&self, ctx: &mut RequestCtx<'_>) -> Result<Option<String>, Exit> {
        let mut body: Option<BodyForm> = None;
        for (name, header, dashed) in &self.names {
            let mut found: Option<String> = None;
            if let (true, Some(header)) = (self.in_header, header) {
                let headers = &ctx.parts.headers;
                let looked_up = match dashed {
                    Some(dashed) if !headers.contains_key(header) => dashed,
                    _ => header,
                };
                let mut values = headers.get_all(looked_up).iter();
                if let Some(first) = values.next() {
                    if values.next().is_some() {
                        return Err(unauthorized(DUPLICATE_API_KEY, &self.challenge));
                    }
                    found = Some(String::from_utf8_lossy(first.as_bytes()).into_owned());
                }
            }
            if found.is_none() && self.in_query {
                match super::body::query_value(ctx.parts.uri.query(), name) {
                    FormValue::One(v) => found = Some(v),
                    FormValue::Many => return Err(unauthorized(DUPLICATE_API_KEY, &self.challenge)),
                    FormValue::Missing => {}
                }
            }
            if found.is_none() && self.in_body {
                let form = body.get_or_insert_with(|| BodyForm::parse(&ctx.parts.headers, ctx.body.as_ref()));
                match form.value(name) {
                    FormValue::One(v) => found = Some(v),
                    FormValue::Many => return Err(unauthorized(DUPLICATE_API_KEY, &self.challenge)),
                    FormValue::Missing => {}
                }
            }
            if let Some(key) = found {
                if self.hide_credentials {
                    // Kong clears the header by its configured name only (`ngx.req.clear_header` does not map
                    // underscores), so a key sent as `api-key` for `api_key` still reaches the upstream.
                    if let Some(header) = header {
                        ctx.parts.headers.remove(header);
                    }
                    super::body::remove_query_arg(ctx.parts, name);
                    if self.in_body {
                        let form = body.get_or_insert_with(|| BodyForm::parse(&ctx.parts.headers, ctx.body.as_ref()));
                        if let Some(rewritten) = form.without(name).map_err(|e| {
                            tracing::error!(error = %e, "key-auth cannot rewrite the request body");
                            Exit::unexpected()
                        })? {
                            super::body::replace_body(ctx, rewritten);
                        }
                    }
                }
                return Ok(Some(key));
            }
        }
        Ok(None)
    }

    async fn authenticate(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        let key = match self.find_key(ctx)? {
            Some(key) if !key.is_empty() => key,
            _ => return Err(unauthorized(NO_API_KEY, &self.challenge)),
        };
        let found = ctx
            .cache
            .get_local(Kind::KeyAuth, &key, build_credential)
            .await
            .map_err(|e| identity::lookup_failed(&e))?;
        let credential = match found {
            Some(c) if c.expires.is_none_or(|at| at >= ctx.now) => c,
            _ => return Err(unauthorized(INVALID, &self.challenge)),
        };
        identity::authenticate(ctx, credential.id, credential.consumer_id, &credential.identifier).await
    }
}

impl Plugin for KeyAuth {
    fn needs_body(&self) -> bool {
        self.in_body
    }

    async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        if !self.run_on_preflight && ctx.parts.method == http::Method::OPTIONS {
            return Ok(());
        }
        if self.anonymous.is_some() && ctx.credential.is_some() {
            return Ok(());
        }
        let outcome = self.authenticate(ctx).await;
        identity::with_anonymous(ctx, self.anonymous.as_deref(), outcome).await
    }
}
