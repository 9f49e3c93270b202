//! One sync: read the entities the gateway has with the managed tag, compare them with the desired ones,
//! and apply the difference with `PUT /{collection}/{id}` (idempotent upserts by id) and `DELETE`.
//!
//! Order: upserts by dependency level, parents first (certificates; upstreams, services, consumers; snis,
//! targets, routes, credentials; plugins); then deletes, children first; then the upserts that hit a unique
//! conflict (409) are retried, since the conflicting entity may just have been deleted (an entity renamed
//! under a new id). Each level runs with bounded concurrency. An entity the gateway rejects (4xx) is
//! reported with the Kubernetes object it came from, the entities depending on it are skipped, and
//! everything else is still applied. A 5xx or an unreachable gateway aborts the sync with an error.

use super::client::{AdminClient, AdminReply};
use super::compare::{difference, fields_of, fill_defaults, plugin_fields, prune, Fields};
use super::flatten::{config_hash, flatten, DesiredState};
use super::model::{
    label_of, references, Collection, Entity, EntityFailure, K8sObjectRef, Operation, SyncReport, MANAGED_TAG,
};
use super::SyncError;
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::stream::{self, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

type Key = (Collection, String);
type Object = Map<String, Value>;

/// The managed entities a gateway has, by collection and id.
pub type CurrentState = HashMap<Key, Object>;

/// Flattens `config` and syncs it (see the module documentation).
pub async fn sync_config(client: &AdminClient, config: &Value, concurrency: usize) -> Result<SyncReport, SyncError> {
    let desired = flatten(config)?;
    let mut report = sync_desired(client, &desired, concurrency).await?;
    report.desired_hash = config_hash(config);
    Ok(report)
}

/// Syncs already flattened entities.
pub async fn sync_desired(
    client: &AdminClient,
    desired: &DesiredState,
    concurrency: usize,
) -> Result<SyncReport, SyncError> {
    let current = read_current(client, concurrency).await?;
    let mut run = Run {
        client,
        concurrency: concurrency.max(1),
        report: SyncReport { warnings: desired.warnings.clone(), ..SyncReport::default() },
        states: HashMap::new(),
    };
    let plan = run.plan(desired, &current).await?;
    let indices: Vec<usize> = (0..plan.len()).collect();
    let deferred = run.upserts(&plan, indices, true).await?;
    let wanted: HashSet<Key> = desired.entities.iter().map(|e| (e.collection, e.id.clone())).collect();
    run.deletes(&current, &wanted).await?;
    if !deferred.is_empty() {
        run.upserts(&plan, deferred, false).await?;
    }
    let r = &run.report;
    tracing::info!(
        created = r.created,
        updated = r.updated,
        deleted = r.deleted,
        unchanged = r.unchanged,
        failures = r.failures.len(),
        skipped = r.skipped.len(),
        "sync done"
    );
    Ok(run.report)
}

/// Reads every entity carrying the managed tag (targets through their upstreams).
pub async fn read_current(client: &AdminClient, concurrency: usize) -> Result<CurrentState, SyncError> {
    let query = format!("?tags={MANAGED_TAG}&size=1000");
    let collections = Collection::ALL.into_iter().filter(|c| *c != Collection::Targets);
    let lists = bounded(
        collections
            .map(|c| {
                let path = format!("/{}{query}", c.path());
                async move { (c, client.list(&path).await) }.boxed()
            })
            .collect(),
        concurrency,
    )
    .await;
    let mut current = CurrentState::new();
    for (collection, listed) in lists {
        match listed? {
            Some(items) => insert_managed(&mut current, collection, items),
            None if collection.optional() => {}
            None => return Err(SyncError::Protocol(format!("the gateway has no /{collection} collection"))),
        }
    }
    let upstreams: Vec<String> =
        current.keys().filter(|(c, _)| *c == Collection::Upstreams).map(|(_, id)| id.clone()).collect();
    let targets = bounded(
        upstreams
            .into_iter()
            .map(|id| {
                let path = format!("/upstreams/{id}/targets{query}");
                async move { client.list(&path).await }.boxed()
            })
            .collect(),
        concurrency,
    )
    .await;
    for listed in targets {
        // `None`: the upstream was deleted meanwhile.
        insert_managed(&mut current, Collection::Targets, listed?.unwrap_or_default());
    }
    Ok(current)
}

/// Runs futures with at most `limit` in flight. They are boxed: closures inside stream adapters would make
/// the sync's futures fail rustc's `Send` inference when callers spawn them.
async fn bounded<T>(futures: Vec<BoxFuture<'_, T>>, limit: usize) -> Vec<T> {
    stream::iter(futures).buffer_unordered(limit.max(1)).collect().await
}

fn insert_managed(current: &mut CurrentState, collection: Collection, items: Vec<Object>) {
    for item in items {
        let managed = item.get("tags").and_then(Value::as_array).is_some_and(|t| t.iter().any(|t| t == MANAGED_TAG));
        if let (true, Some(id)) = (managed, item.get("id").and_then(Value::as_str)) {
            current.insert((collection, id.to_string()), item);
        }
    }
}

/// A desired entity ready to write: its body as sent, and whether it must be created or updated.
struct Planned<'a> {
    entity: &'a Entity,
    body: Value,
    operation: Option<Operation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Done,
    /// Rejected, or not applied: what depends on it is skipped.
    Failed,
    /// Conflicted (409); retried after the deletes.
    Deferred,
}

struct Run<'a> {
    client: &'a AdminClient,
    concurrency: usize,
    report: SyncReport,
    states: HashMap<Key, State>,
}

/// The Admin API path of one entity.
fn entity_path(collection: Collection, id: &str, body: &Object) -> String {
    match (collection, body.get("upstream").and_then(|u| u.get("id")).and_then(Value::as_str)) {
        (Collection::Targets, Some(upstream)) => format!("/upstreams/{upstream}/targets/{id}"),
        _ => format!("/{}/{id}", collection.path()),
    }
}

impl<'a> Run<'a> {
    /// Loads the schemas and decides, for each desired entity, what to send and whether it differs.
    async fn plan<'d>(
        &mut self,
        desired: &'d DesiredState,
        current: &CurrentState,
    ) -> Result<Vec<Planned<'d>>, SyncError> {
        let schemas = self.schemas(desired).await?;
        let mut plan = Vec::with_capacity(desired.entities.len());
        for entity in &desired.entities {
            let fields: Option<Fields> = if entity.collection == Collection::Plugins {
                let name = entity.body.get("name").and_then(Value::as_str).unwrap_or_default();
                let generic = schemas.get(Collection::Plugins.schema_name()).cloned().flatten();
                let specific = schemas.get(&format!("plugins/{name}")).cloned().flatten();
                plugin_fields(generic.as_deref(), specific.as_deref())
            } else {
                schemas.get(entity.collection.schema_name()).cloned().flatten().and_then(|s| fields_of(&s))
            };
            let mut body = entity.body.clone();
            if let Some(fields) = &fields {
                for field in prune(entity.collection, &mut body, fields) {
                    self.report.warnings.push(format!(
                        "dropped field '{field}' of {} {} (from {}): the gateway does not know it",
                        entity.collection,
                        entity.id,
                        entity.object()
                    ));
                }
            }
            let operation = match current.get(&(entity.collection, entity.id.clone())) {
                None => Some(Operation::Create),
                Some(actual) => {
                    let mut complete = body.clone();
                    if let Some(fields) = &fields {
                        fill_defaults(fields, &mut complete);
                    }
                    let diff = difference(entity.collection, fields.as_ref(), &complete, actual);
                    if let Some(path) = &diff {
                        tracing::debug!(collection = %entity.collection, id = %entity.id, field = %path, "differs");
                    }
                    diff.map(|_| Operation::Update)
                }
            };
            plan.push(Planned { entity, body: Value::Object(body), operation });
        }
        Ok(plan)
    }

    /// The entity schemas of the desired collections and the plugin schemas of the desired plugins.
    async fn schemas(&self, desired: &DesiredState) -> Result<HashMap<String, Option<Arc<Value>>>, SyncError> {
        let mut names: Vec<String> = Vec::new();
        for entity in &desired.entities {
            let mut wanted = vec![entity.collection.schema_name().to_string()];
            if entity.collection == Collection::Plugins {
                if let Some(name) = entity.body.get("name").and_then(Value::as_str) {
                    wanted.push(format!("plugins/{name}"));
                }
            }
            for name in wanted {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let client = self.client;
        let loads = names.into_iter().map(|name| {
            async move {
                let schema = match name.strip_prefix("plugins/") {
                    Some(plugin) => client.plugin_schema(plugin).await,
                    None => client.entity_schema(&name).await,
                };
                (name, schema)
            }
            .boxed()
        });
        let loaded = bounded(loads.collect(), self.concurrency).await;
        loaded.into_iter().map(|(name, schema)| Ok((name, schema?))).collect()
    }

    fn failure(
        &mut self,
        collection: Collection,
        id: &str,
        body: &Object,
        operation: Operation,
        reply: Option<&AdminReply>,
        message: String,
    ) -> EntityFailure {
        EntityFailure {
            collection,
            id: id.to_string(),
            label: label_of(collection, body),
            object: K8sObjectRef::from_entity(body),
            operation,
            status: reply.map(|r| r.status.as_u16()),
            message,
            details: reply.map(|r| r.body.clone()).filter(|b| !b.is_null()),
        }
    }

    /// Why an entity cannot be written yet: a dependency that failed, or one that is deferred.
    fn blocked_by(&self, entity: &Entity) -> Option<(State, Key)> {
        let state = |dep: &Key| self.states.get(dep).copied();
        let failed = entity.deps.iter().find(|d| state(d) == Some(State::Failed));
        let deferred = entity.deps.iter().find(|d| state(d) == Some(State::Deferred));
        failed.map(|d| (State::Failed, d.clone())).or_else(|| deferred.map(|d| (State::Deferred, d.clone())))
    }

    /// Applies the upserts of `indices` level by level; returns those deferred to after the deletes.
    async fn upserts(
        &mut self,
        plan: &[Planned<'_>],
        indices: Vec<usize>,
        first: bool,
    ) -> Result<Vec<usize>, SyncError> {
        let mut deferred = Vec::new();
        for level in 0..Collection::LEVELS {
            let mut jobs = Vec::new();
            for &i in indices.iter().filter(|&&i| plan[i].entity.collection.level() == level) {
                let (entity, key) = (plan[i].entity, (plan[i].entity.collection, plan[i].entity.id.clone()));
                let operation = plan[i].operation.unwrap_or(Operation::Update);
                if let Some(problem) = &entity.problem {
                    let failure =
                        self.failure(entity.collection, &entity.id, &entity.body, operation, None, problem.clone());
                    self.report.failures.push(failure);
                    self.states.insert(key, State::Failed);
                    continue;
                }
                // Already as desired: nothing to write, whatever happens to its parents.
                if plan[i].operation.is_none() {
                    self.report.unchanged += 1;
                    self.states.insert(key, State::Done);
                    continue;
                }
                match self.blocked_by(entity) {
                    Some((State::Deferred, _)) if first => {
                        self.states.insert(key, State::Deferred);
                        deferred.push(i);
                        continue;
                    }
                    Some((_, (collection, id))) => {
                        let message = format!("not applied: depends on {collection} {id}, which was not applied");
                        let failure =
                            self.failure(entity.collection, &entity.id, &entity.body, operation, None, message);
                        self.report.skipped.push(failure);
                        self.states.insert(key, State::Failed);
                        continue;
                    }
                    None => {}
                }
                jobs.push(i);
            }
            let client = self.client;
            let writes = jobs.into_iter().map(|i| {
                let e = plan[i].entity;
                let path = entity_path(e.collection, &e.id, &e.body);
                async move { (i, client.request(Method::PUT, &path, Some(&plan[i].body)).await) }.boxed()
            });
            let results = bounded(writes.collect(), self.concurrency).await;
            let mut fatal = None;
            for (i, result) in results {
                let (entity, operation) = (plan[i].entity, plan[i].operation.unwrap_or(Operation::Update));
                let key = (entity.collection, entity.id.clone());
                let reply = match result {
                    Ok(reply) => reply,
                    Err(e) => {
                        fatal.get_or_insert(e);
                        continue;
                    }
                };
                if reply.status.is_success() {
                    self.record_seq(reply.seq);
                    match operation {
                        Operation::Create => self.report.created += 1,
                        _ => self.report.updated += 1,
                    }
                    self.states.insert(key, State::Done);
                } else if reply.status == StatusCode::CONFLICT && first {
                    tracing::debug!(collection = %entity.collection, id = %entity.id, "conflict; retrying after deletes");
                    self.states.insert(key, State::Deferred);
                    deferred.push(i);
                } else {
                    let message = match reply.status {
                        StatusCode::NOT_FOUND if entity.collection.optional() => {
                            format!("the gateway does not support {}", entity.collection.schema_name())
                        }
                        _ => reply.message(),
                    };
                    let failure =
                        self.failure(entity.collection, &entity.id, &entity.body, operation, Some(&reply), message);
                    tracing::warn!(%failure, "the gateway rejected an entity");
                    self.report.failures.push(failure);
                    self.states.insert(key, State::Failed);
                }
            }
            if let Some(e) = fatal {
                return Err(e);
            }
        }
        Ok(deferred)
    }

    /// Deletes the managed entities that are not desired, children first. A parent whose child could not
    /// be deleted is kept.
    async fn deletes(&mut self, current: &CurrentState, wanted: &HashSet<Key>) -> Result<(), SyncError> {
        let mut blocked: HashSet<Key> = HashSet::new();
        for level in (0..Collection::LEVELS).rev() {
            let mut jobs = Vec::new();
            for (key, actual) in current.iter().filter(|(k, _)| k.0.level() == level && !wanted.contains(*k)) {
                if blocked.contains(key) {
                    let message = "not deleted: an entity that references it could not be deleted".to_string();
                    let failure = self.failure(key.0, &key.1, actual, Operation::Delete, None, message);
                    self.report.skipped.push(failure);
                    blocked.extend(references(key.0, actual));
                    continue;
                }
                jobs.push((key, actual));
            }
            let client = self.client;
            let writes = jobs.into_iter().map(|(key, actual)| {
                let path = entity_path(key.0, &key.1, actual);
                async move { (key, actual, client.request(Method::DELETE, &path, None).await) }.boxed()
            });
            let results = bounded(writes.collect(), self.concurrency).await;
            let mut fatal = None;
            for (key, actual, result) in results {
                match result {
                    Err(e) => {
                        fatal.get_or_insert(e);
                    }
                    Ok(reply) if reply.status.is_success() => {
                        self.record_seq(reply.seq);
                        self.report.deleted += 1;
                    }
                    // Already gone (deleted with its parent, or by someone else).
                    Ok(reply) if reply.status == StatusCode::NOT_FOUND => {}
                    Ok(reply) => {
                        let message = reply.message();
                        let failure = self.failure(key.0, &key.1, actual, Operation::Delete, Some(&reply), message);
                        tracing::warn!(%failure, "the gateway refused a delete");
                        self.report.failures.push(failure);
                        blocked.extend(references(key.0, actual));
                    }
                }
            }
            if let Some(e) = fatal {
                return Err(e);
            }
        }
        Ok(())
    }

    fn record_seq(&mut self, seq: Option<i64>) {
        if let Some(seq) = seq {
            self.report.max_seq = Some(self.report.max_seq.map_or(seq, |m| m.max(seq)));
        }
    }
}
