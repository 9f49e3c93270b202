//! What every authentication plugin shares: loading consumers through the entity cache, the upstream
//! identity headers (`X-Consumer-ID`, ...), and the `anonymous` fallback.

use crate::cache::{Kind, LookupError, Row};
use crate::context::{Consumer, Credential, Exit, RequestCtx};
use http::header::{HeaderName, HeaderValue};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

pub static CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
pub static CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
pub static CONSUMER_USERNAME: HeaderName = HeaderName::from_static("x-consumer-username");
pub static CREDENTIAL_IDENTIFIER: HeaderName = HeaderName::from_static("x-credential-identifier");
pub static ANONYMOUS: HeaderName = HeaderName::from_static("x-anonymous-consumer");
pub static WWW_AUTHENTICATE: HeaderName = HeaderName::from_static("www-authenticate");

/// Builds the cached consumer from its row, rendering its header values once.
pub fn build_consumer(rows: &[Row]) -> Option<Consumer> {
    let row = rows.first()?;
    let id = Uuid::parse_str(row.get("id")?.as_str()?).ok()?;
    let text = |f: &str| row.get(f).and_then(Value::as_str).map(str::to_string);
    let header = |v: &Option<String>| v.as_deref().and_then(|s| HeaderValue::from_str(s).ok());
    let (username, custom_id) = (text("username"), text("custom_id"));
    Some(Consumer {
        id,
        id_header: HeaderValue::from_str(&id.to_string()).ok()?,
        username_header: header(&username),
        custom_id_header: header(&custom_id),
        username,
        custom_id,
    })
}

/// The consumer a credential belongs to.
pub async fn consumer_by_id(ctx: &RequestCtx<'_>, id: &Uuid) -> Result<Option<Arc<Consumer>>, LookupError> {
    let mut buffer = Uuid::encode_buffer();
    let key = id.hyphenated().encode_lower(&mut buffer);
    ctx.cache.get_local(Kind::ConsumerById, key, build_consumer).await
}

/// Kong's `kong.client.load_consumer(key, true)`: by id, then by username.
pub async fn consumer_by_id_or_username(ctx: &RequestCtx<'_>, key: &str) -> Result<Option<Arc<Consumer>>, LookupError> {
    if let Ok(id) = Uuid::parse_str(key) {
        if let Some(found) = consumer_by_id(ctx, &id).await? {
            return Ok(Some(found));
        }
    }
    ctx.cache.get_local(Kind::ConsumerByUsername, key, build_consumer).await
}

/// Kong's `set_consumer` of the authentication plugins: authenticates the request and sets or clears the
/// identity headers sent upstream.
pub fn set_consumer(ctx: &mut RequestCtx<'_>, consumer: Option<Arc<Consumer>>, credential: Option<Credential>) {
    let headers = &mut ctx.parts.headers;
    let mut set = |name: &HeaderName, value: Option<&HeaderValue>| match value {
        Some(v) => {
            headers.insert(name.clone(), v.clone());
        }
        None => {
            headers.remove(name);
        }
    };
    set(&CONSUMER_ID, consumer.as_ref().map(|c| &c.id_header));
    set(&CONSUMER_CUSTOM_ID, consumer.as_ref().and_then(|c| c.custom_id_header.as_ref()));
    set(&CONSUMER_USERNAME, consumer.as_ref().and_then(|c| c.username_header.as_ref()));
    set(&CREDENTIAL_IDENTIFIER, credential.as_ref().map(|c| &c.identifier));
    if credential.is_some() {
        headers.remove(&ANONYMOUS);
    } else {
        headers.insert(ANONYMOUS.clone(), HeaderValue::from_static("true"));
    }
    ctx.authenticate(consumer, credential);
}

/// Authenticates as the consumer of credential `id`, identified upstream by `identifier`; fails with 500
/// when the consumer cannot be loaded.
pub async fn authenticate(
    ctx: &mut RequestCtx<'_>,
    id: Uuid,
    consumer_id: Uuid,
    identifier: &HeaderValue,
) -> Result<(), Exit> {
    let credential = Credential { id, consumer_id, identifier: identifier.clone() };
    let consumer = consumer_by_id(ctx, &credential.consumer_id).await.map_err(|e| lookup_failed(&e))?;
    set_consumer(ctx, consumer, Some(credential));
    Ok(())
}

/// Runs an authentication with Kong's `anonymous` semantics: without `anonymous`, a failure answers the
/// client; with it, a request that already has a credential is left alone and a failure continues as the
/// anonymous consumer.
pub async fn with_anonymous<'c, 'r>(
    ctx: &'c mut RequestCtx<'r>,
    anonymous: Option<&str>,
    outcome: Result<(), Exit>,
) -> Result<(), Exit> {
    match (outcome, anonymous) {
        (Ok(()), _) => Ok(()),
        // Server-side failures are not a reason to fall back to the anonymous consumer.
        (Err(exit), None) => Err(exit),
        (Err(exit), Some(_)) if exit.status >= 500 => Err(exit),
        (Err(_), Some(anonymous)) => {
            let consumer = consumer_by_id_or_username(ctx, anonymous).await.map_err(|e| lookup_failed(&e))?;
            set_consumer(ctx, consumer, None);
            Ok(())
        }
    }
}

/// The 500 Kong answers when the database cannot be reached for a lookup that is not cached.
pub fn lookup_failed(error: &LookupError) -> Exit {
    tracing::error!(%error, "credential lookup failed");
    Exit::unexpected()
}

/// `401` with a `WWW-Authenticate` challenge.
pub fn unauthorized(message: &'static str, challenge: &HeaderValue) -> Exit {
    Exit::new(401, message).with_header(WWW_AUTHENTICATE.clone(), challenge.clone())
}

/// A credential id rendered for `X-Credential-Identifier`.
pub fn identifier(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The consumer id a credential row points at.
pub fn consumer_of(row: &Row) -> Option<Uuid> {
    row.get("consumer").and_then(|c| c.get("id")).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

/// The row's own id.
pub fn id_of(row: &Row) -> Option<Uuid> {
    row.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}
