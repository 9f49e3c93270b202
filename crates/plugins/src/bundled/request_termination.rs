//! request-termination (`kong/plugins/request-termination/handler.lua`): answers with a fixed status and
//! body instead of proxying, optionally only when a trigger header or query argument is present, or echoes
//! the request back for debugging.

use crate::context::{Exit, RequestCtx};
use crate::runtime::Plugin;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Debug, Deserialize)]
struct Config {
    status_code: u16,
    message: Option<String>,
    content_type: Option<String>,
    body: Option<String>,
    #[serde(default)]
    echo: bool,
    trigger: Option<String>,
}

/// A compiled request-termination config.
#[derive(Debug)]
pub struct RequestTermination {
    config: Config,
    trigger: Option<HeaderName>,
}

fn default_message(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "Unauthorized",
        404 => "Not found",
        405 => "Method not allowed",
        500 => "An unexpected error occurred",
        502 => "Bad Gateway",
        503 => "Service unavailable",
        _ => return None,
    })
}

impl RequestTermination {
    pub fn compile(config: &Value) -> Result<RequestTermination, String> {
        let config: Config = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let trigger = match &config.trigger {
            Some(t) => Some(HeaderName::from_bytes(t.to_ascii_lowercase().as_bytes()).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(RequestTermination { config, trigger })
    }

    fn echo(&self, ctx: &RequestCtx<'_>, message: Option<&str>) -> Value {
        let headers: Map<String, Value> = ctx
            .parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned())))
            .collect();
        let query: Map<String, Value> = ctx
            .parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "message": message,
            "request": {
                "scheme": if matches!(ctx.protocol.name(), "https" | "grpcs") { "https" } else { "http" },
                "host": ctx.header("host").map(|h| h.split(':').next().unwrap_or(h)),
                "headers": headers,
                "query": query,
                "raw_body": ctx.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
                "method": ctx.parts.method.as_str(),
                "path": ctx.parts.uri.path(),
            },
            "matched_route": ctx.route,
            "matched_service": ctx.service,
        })
    }
}

impl Plugin for RequestTermination {
    async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        let c = &self.config;
        if let (Some(trigger), Some(name)) = (&self.trigger, &c.trigger) {
            let in_query = super::body::query_value(ctx.parts.uri.query(), name) != super::body::FormValue::Missing;
            if !ctx.parts.headers.contains_key(trigger) && !in_query {
                return Ok(());
            }
        }
        let message = c.message.as_deref().or(default_message(c.status_code));
        if c.echo {
            return Err(Exit::json(c.status_code, self.echo(ctx, message)));
        }
        if let Some(body) = &c.body {
            let mut exit = Exit::raw(c.status_code, body.clone());
            if let Some(v) = c.content_type.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
                exit = exit.with_header(CONTENT_TYPE, v);
            }
            return Err(exit);
        }
        Err(match message {
            Some(m) => Exit::json(c.status_code, json!({ "message": m })),
            None => Exit::raw(c.status_code, String::new()),
        })
    }
}

impl RequestTermination {
    /// The configured status, for diagnostics and tests.
    pub fn status_code(&self) -> u16 {
        self.config.status_code
    }
}
