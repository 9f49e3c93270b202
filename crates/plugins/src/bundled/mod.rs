//! The plugins Gatehouse executes, and the dispatch from a configured plugin to its code. Bundled plugins
//! are dispatched statically (no boxing on the request path); plugins registered at run time go through
//! `DynPlugin`.

pub mod acl;
pub mod basic_auth;
pub mod body;
pub mod hmac_auth;
pub mod identity;
pub mod jwt;
pub mod key_auth;
pub mod request_termination;

use crate::configs::{self, CompiledConfig};
use crate::context::{ClientHelloInfo, Exit, LogRecord, RequestCtx, ServerCertificate};
use crate::runtime::{DynPlugin, Phases, Plugin};
use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;
use std::sync::Arc;

/// The code behind one configured plugin. Each lives once per config in an `Arc`, so variant sizes
/// do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Handler {
    KeyAuth(key_auth::KeyAuth),
    BasicAuth(basic_auth::BasicAuth),
    Jwt(jwt::Jwt),
    HmacAuth(hmac_auth::HmacAuth),
    Acl(acl::Acl),
    RequestTermination(request_termination::RequestTermination),
    /// A bundled plugin whose config is validated and compiled but which this version does not execute.
    Inert(Option<CompiledConfig>),
    Custom(Arc<dyn DynPlugin>),
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $call:expr, $inert:expr) => {
        match $self {
            Handler::KeyAuth($p) => $call,
            Handler::BasicAuth($p) => $call,
            Handler::Jwt($p) => $call,
            Handler::HmacAuth($p) => $call,
            Handler::Acl($p) => $call,
            Handler::RequestTermination($p) => $call,
            Handler::Inert(_) => $inert,
            Handler::Custom(custom) => {
                let $p: &dyn DynPlugin = &**custom;
                $call
            }
        }
    };
}

impl Handler {
    /// Compiles a bundled plugin's validated config.
    pub fn compile(name: &str, config: &Value) -> Result<Handler, String> {
        Ok(match name {
            "key-auth" => Handler::KeyAuth(key_auth::KeyAuth::compile(config)?),
            "basic-auth" => Handler::BasicAuth(basic_auth::BasicAuth::compile(config)?),
            "jwt" => Handler::Jwt(jwt::Jwt::compile(config)?),
            "hmac-auth" => Handler::HmacAuth(hmac_auth::HmacAuth::compile(config)?),
            "acl" => Handler::Acl(acl::Acl::compile(config)?),
            "request-termination" => {
                Handler::RequestTermination(request_termination::RequestTermination::compile(config)?)
            }
            other => match configs::compile(other, config) {
                Some(compiled) => {
                    tracing::warn!(plugin = other, "plugin is configured but not executed by this version");
                    Handler::Inert(Some(compiled?))
                }
                None => Handler::Inert(None),
            },
        })
    }

    pub fn phases(&self) -> Phases {
        dispatch!(self, p => DynPlugin::phases(p), Phases::default())
    }
    pub fn needs_body(&self) -> bool {
        dispatch!(self, p => DynPlugin::needs_body(p), false)
    }
    pub fn certificate(&self, hello: &ClientHelloInfo<'_>) -> Option<ServerCertificate> {
        dispatch!(self, p => DynPlugin::certificate(p, hello), None)
    }
    pub fn rewrite(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        dispatch!(self, p => DynPlugin::rewrite(p, ctx), Ok(()))
    }
    pub async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        match self {
            Handler::KeyAuth(p) => Plugin::access(p, ctx).await,
            Handler::BasicAuth(p) => Plugin::access(p, ctx).await,
            Handler::Jwt(p) => Plugin::access(p, ctx).await,
            Handler::HmacAuth(p) => Plugin::access(p, ctx).await,
            Handler::Acl(p) => Plugin::access(p, ctx).await,
            Handler::RequestTermination(p) => Plugin::access(p, ctx).await,
            Handler::Inert(_) => Ok(()),
            Handler::Custom(p) => p.access(ctx).await,
        }
    }
    pub fn response_headers(&self, status: u16, headers: &mut HeaderMap) {
        dispatch!(self, p => DynPlugin::response_headers(p, status, headers), ())
    }
    pub fn response_body(&self, chunk: Bytes, eof: bool) -> Bytes {
        dispatch!(self, p => DynPlugin::response_body(p, chunk, eof), chunk)
    }
    pub fn log(&self, record: &LogRecord) {
        dispatch!(self, p => DynPlugin::log(p, record), ())
    }
}
