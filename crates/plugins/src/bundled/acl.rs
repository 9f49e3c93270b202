//! acl (`kong/plugins/acl/handler.lua`): allows or denies the authenticated consumer by its groups, and
//! tells the upstream which groups it has.

use super::identity;
use crate::cache::{own_header, Kind, Row, ThreadCopy};
use crate::context::{Exit, RequestCtx};
use crate::runtime::Plugin;
use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;

static CONSUMER_GROUPS: HeaderName = HeaderName::from_static("x-consumer-groups");
static AUTHENTICATED_GROUPS: HeaderName = HeaderName::from_static("x-authenticated-groups");
const FORBIDDEN: &str = "You cannot consume this service";

#[derive(Debug, Deserialize)]
struct Config {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    #[serde(default)]
    hide_groups_header: bool,
    #[serde(default)]
    always_use_authenticated_groups: bool,
}

/// A compiled acl config.
#[derive(Debug)]
pub struct Acl {
    deny: bool,
    groups: HashSet<String>,
    hide_groups_header: bool,
    always_use_authenticated_groups: bool,
}

/// A consumer's groups as cached, with the header value rendered once.
#[derive(Debug)]
pub struct Groups {
    names: HashSet<String>,
    header: Option<HeaderValue>,
}

impl ThreadCopy for Groups {
    fn thread_copy(&self) -> Self {
        Groups { names: self.names.clone(), header: self.header.as_ref().map(own_header) }
    }
}

fn build_groups(rows: &[Row]) -> Option<Groups> {
    let list: Vec<&str> = rows.iter().filter_map(|r| r.get("group").and_then(Value::as_str)).collect();
    if list.is_empty() {
        return None;
    }
    Some(Groups {
        header: HeaderValue::from_str(&list.join(", ")).ok(),
        names: list.into_iter().map(str::to_string).collect(),
    })
}

impl Acl {
    pub fn compile(config: &Value) -> Result<Acl, String> {
        let c: Config = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let deny_list = c.deny.unwrap_or_default();
        let deny = !deny_list.is_empty();
        let groups = if deny { deny_list } else { c.allow.unwrap_or_default() };
        Ok(Acl {
            deny,
            groups: groups.into_iter().collect(),
            hide_groups_header: c.hide_groups_header,
            always_use_authenticated_groups: c.always_use_authenticated_groups,
        })
    }

    fn blocked(&self, in_group: bool) -> bool {
        if self.deny {
            in_group
        } else {
            !in_group
        }
    }

    fn set_header(&self, ctx: &mut RequestCtx<'_>, name: &HeaderName, value: Option<HeaderValue>) {
        if !self.hide_groups_header {
            if let Some(v) = value {
                ctx.parts.headers.insert(name.clone(), v);
            }
        }
    }

    /// Decides on groups an authentication plugin established (no consumer entity involved).
    fn check_authenticated(&self, ctx: &mut RequestCtx<'_>, groups: &[String]) -> Result<(), Exit> {
        let in_group = groups.iter().any(|g| self.groups.contains(g));
        if self.blocked(in_group) {
            return Err(Exit::new(403, FORBIDDEN));
        }
        let value = HeaderValue::from_str(&groups.join(", ")).ok();
        self.set_header(ctx, &AUTHENTICATED_GROUPS, value);
        Ok(())
    }
}

impl Plugin for Acl {
    async fn access(&self, ctx: &mut RequestCtx<'_>) -> Result<(), Exit> {
        let consumer_id = ctx.consumer.as_ref().map(|c| c.id).or(ctx.credential.as_ref().map(|c| c.consumer_id));
        let Some(consumer_id) = consumer_id else {
            return match ctx.authenticated_groups.clone() {
                Some(groups) => self.check_authenticated(ctx, &groups),
                None if ctx.credential.is_some() => Err(Exit::new(403, FORBIDDEN)),
                None => Err(Exit::new(401, "Unauthorized")),
            };
        };
        if ctx.credential.is_none() || self.always_use_authenticated_groups {
            if let Some(groups) = ctx.authenticated_groups.clone() {
                return self.check_authenticated(ctx, &groups);
            }
        }
        let mut buffer = uuid::Uuid::encode_buffer();
        let key = consumer_id.hyphenated().encode_lower(&mut buffer);
        let groups =
            ctx.cache.get_local(Kind::AclGroups, key, build_groups).await.map_err(|e| identity::lookup_failed(&e))?;
        let Some(groups) = groups else {
            if self.deny {
                return Ok(());
            }
            return Err(if ctx.credential.is_some() {
                Exit::new(403, FORBIDDEN)
            } else {
                Exit::new(401, "Unauthorized")
            });
        };
        let in_group = self.groups.iter().any(|g| groups.names.contains(g));
        if self.blocked(in_group) {
            return Err(Exit::new(403, FORBIDDEN));
        }
        self.set_header(ctx, &CONSUMER_GROUPS, groups.header.clone());
        Ok(())
    }
}
