//! The vocabulary of a sync: the Admin API collections the controller manages (their paths, schema names,
//! dependency levels and foreign keys), a flattened entity, the Kubernetes object an entity came from (its
//! `k8s-*` tags), and what a sync reports.

use serde::Serialize;
use serde_json::{Map, Value};

/// KIC's filter tag in DB mode: every entity the controller writes carries it, and only entities carrying
/// it are ever updated or deleted.
pub const MANAGED_TAG: &str = "managed-by-ingress-controller";

/// The Admin API collections a sync manages, in the order parents are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    Certificates,
    CaCertificates,
    Upstreams,
    Services,
    Consumers,
    Snis,
    Targets,
    Routes,
    KeyAuths,
    BasicAuths,
    Jwts,
    HmacAuths,
    Acls,
    Oauth2,
    Plugins,
}

impl Collection {
    pub const ALL: [Collection; 15] = [
        Collection::Certificates,
        Collection::CaCertificates,
        Collection::Upstreams,
        Collection::Services,
        Collection::Consumers,
        Collection::Snis,
        Collection::Targets,
        Collection::Routes,
        Collection::KeyAuths,
        Collection::BasicAuths,
        Collection::Jwts,
        Collection::HmacAuths,
        Collection::Acls,
        Collection::Oauth2,
        Collection::Plugins,
    ];

    /// Number of dependency levels: creates run level 0 first, deletes the last level first.
    pub const LEVELS: usize = 4;

    /// The top-level Admin API collection (`/key-auths`); targets have none (`/upstreams/{u}/targets`).
    pub fn path(self) -> &'static str {
        match self {
            Collection::Certificates => "certificates",
            Collection::CaCertificates => "ca_certificates",
            Collection::Upstreams => "upstreams",
            Collection::Services => "services",
            Collection::Consumers => "consumers",
            Collection::Snis => "snis",
            Collection::Targets => "targets",
            Collection::Routes => "routes",
            Collection::KeyAuths => "key-auths",
            Collection::BasicAuths => "basic-auths",
            Collection::Jwts => "jwts",
            Collection::HmacAuths => "hmac-auths",
            Collection::Acls => "acls",
            Collection::Oauth2 => "oauth2",
            Collection::Plugins => "plugins",
        }
    }

    /// The entity (schema) name, also the key of the collection in a declarative configuration.
    pub fn schema_name(self) -> &'static str {
        match self {
            Collection::KeyAuths => "keyauth_credentials",
            Collection::BasicAuths => "basicauth_credentials",
            Collection::Jwts => "jwt_secrets",
            Collection::HmacAuths => "hmacauth_credentials",
            Collection::Oauth2 => "oauth2_credentials",
            other => other.path(),
        }
    }

    pub fn from_schema_name(name: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.schema_name() == name)
    }

    /// 0: certificates; 1: upstreams, services, consumers; 2: their children; 3: plugins.
    pub fn level(self) -> usize {
        match self {
            Collection::Certificates | Collection::CaCertificates => 0,
            Collection::Upstreams | Collection::Services | Collection::Consumers => 1,
            Collection::Plugins => 3,
            _ => 2,
        }
    }

    /// Whether this is a consumer credential collection.
    pub fn is_credential(self) -> bool {
        matches!(
            self,
            Collection::KeyAuths
                | Collection::BasicAuths
                | Collection::Jwts
                | Collection::HmacAuths
                | Collection::Acls
                | Collection::Oauth2
        )
    }

    /// Foreign-key fields and the collection each references.
    pub fn foreign_fields(self) -> &'static [(&'static str, Collection)] {
        const CERT: &[(&str, Collection)] = &[("client_certificate", Collection::Certificates)];
        match self {
            Collection::Services | Collection::Upstreams => CERT,
            Collection::Snis => &[("certificate", Collection::Certificates)],
            Collection::Targets => &[("upstream", Collection::Upstreams)],
            Collection::Routes => &[("service", Collection::Services)],
            Collection::Plugins => {
                &[("service", Collection::Services), ("route", Collection::Routes), ("consumer", Collection::Consumers)]
            }
            c if c.is_credential() => &[("consumer", Collection::Consumers)],
            _ => &[],
        }
    }

    /// The field naming an entity for people (`name`, `username`, `target`, ...), if any.
    pub fn label_field(self) -> &'static str {
        match self {
            Collection::Consumers | Collection::BasicAuths | Collection::HmacAuths => "username",
            Collection::Targets => "target",
            Collection::Acls => "group",
            Collection::KeyAuths | Collection::Jwts => "key",
            Collection::Oauth2 => "client_id",
            _ => "name",
        }
    }

    /// Collections a gateway may lack (Gatehouse has no oauth2 credentials): a 404 listing means "none".
    pub fn optional(self) -> bool {
        self == Collection::Oauth2
    }
}

impl std::fmt::Display for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.path())
    }
}

/// One entity for an Admin API collection, with foreign keys as `{"id": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub collection: Collection,
    pub id: String,
    /// The fields to write, without `id`.
    pub body: Map<String, Value>,
    /// Entities this one references (parents and certificates); they are written first.
    pub deps: Vec<(Collection, String)>,
    /// Why the entity cannot be written (e.g. it references a route that is not in the configuration).
    pub problem: Option<String>,
}

impl Entity {
    /// The Kubernetes object the entity came from, from its tags.
    pub fn object(&self) -> K8sObjectRef {
        K8sObjectRef::from_entity(&self.body)
    }

    /// The name, username, ... when the entity has one.
    pub fn label(&self) -> Option<String> {
        label_of(self.collection, &self.body)
    }
}

pub(crate) fn label_of(collection: Collection, body: &Map<String, Value>) -> Option<String> {
    body.get(collection.label_field()).and_then(Value::as_str).map(str::to_string)
}

/// Ids referenced through the collection's foreign-key fields of an entity body.
pub(crate) fn references(collection: Collection, body: &Map<String, Value>) -> Vec<(Collection, String)> {
    collection
        .foreign_fields()
        .iter()
        .filter_map(|(field, target)| {
            let id = body.get(*field)?.get("id")?.as_str()?;
            Some((*target, id.to_string()))
        })
        .collect()
}

/// The Kubernetes object an entity was translated from, as KIC records it in the entity's tags
/// (`k8s-kind:Ingress`, `k8s-namespace:default`, `k8s-name:echo`, `k8s-uid:...`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct K8sObjectRef {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
    pub group: Option<String>,
    pub version: Option<String>,
}

impl K8sObjectRef {
    pub fn from_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> K8sObjectRef {
        let mut object = K8sObjectRef::default();
        for tag in tags {
            let Some((key, value)) = tag.split_once(':') else { continue };
            let slot = match key {
                "k8s-kind" => &mut object.kind,
                "k8s-namespace" => &mut object.namespace,
                "k8s-name" => &mut object.name,
                "k8s-uid" => &mut object.uid,
                "k8s-group" => &mut object.group,
                "k8s-version" => &mut object.version,
                _ => continue,
            };
            *slot = Some(value.to_string());
        }
        object
    }

    /// From the `tags` array of an entity.
    pub fn from_entity(entity: &Map<String, Value>) -> K8sObjectRef {
        let tags = entity.get("tags").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        K8sObjectRef::from_tags(tags.iter().filter_map(Value::as_str))
    }

    pub fn is_empty(&self) -> bool {
        self.kind.is_none() && self.name.is_none()
    }
}

impl std::fmt::Display for K8sObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.kind.as_deref().unwrap_or("object");
        match (&self.namespace, &self.name) {
            (Some(ns), Some(name)) => write!(f, "{kind} {ns}/{name}"),
            (None, Some(name)) => write!(f, "{kind} {name}"),
            _ => write!(f, "{kind} (unknown)"),
        }
    }
}

/// What was attempted on an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// An entity the gateway rejected, or one not applied because an entity it depends on was rejected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityFailure {
    pub collection: Collection,
    pub id: String,
    /// The entity's name (or username, target, ...).
    pub label: Option<String>,
    /// The Kubernetes object the entity came from.
    pub object: K8sObjectRef,
    pub operation: Operation,
    /// The gateway's HTTP status; `None` when the entity was not sent.
    pub status: Option<u16>,
    /// The gateway's error message, or why the entity was not sent.
    pub message: String,
    /// The gateway's whole error body (Kong's `{"code", "name", "message", "fields"}`).
    pub details: Option<Value>,
}

impl std::fmt::Display for EntityFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = self.label.as_deref().unwrap_or(&self.id);
        write!(f, "{} {what} (from {}): {}", self.collection, self.object, self.message)
    }
}

/// The outcome of one sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Entities the gateway rejected (4xx), or that could not be sent (unresolvable references).
    pub failures: Vec<EntityFailure>,
    /// Entities not applied because an entity they depend on failed.
    pub skipped: Vec<EntityFailure>,
    /// The highest `X-Gatehouse-Change-Seq` of the sync's writes: wait for it with
    /// [`super::AdminClient::wait_propagated`]. `None` when nothing was written (or the gateway is Kong).
    pub max_seq: Option<i64>,
    /// The hash of the desired configuration that was pushed.
    pub desired_hash: String,
    /// Fields removed because the gateway would reject them, and other notes.
    pub warnings: Vec<String>,
}

impl SyncReport {
    /// Whether the sync wrote anything.
    pub fn writes(&self) -> usize {
        self.created + self.updated + self.deleted
    }

    /// Whether every desired entity is on the gateway as desired.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty() && self.skipped.is_empty()
    }
}
