//! Object storage: every object by type and `(namespace, name)`, one global resourceVersion counter, and a
//! bounded history of change events that watches replay and follow.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::resources::{Registry, TypeKey};

/// Key of an object within its type: `(namespace, name)`; the namespace is empty for cluster-scoped kinds.
pub type ObjKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub ty: TypeKey,
    pub kind: EventType,
    /// The object after the change (for deletes: its last state, with the delete's resourceVersion).
    pub object: Arc<Value>,
    /// The object before a modification, so that selector watches can turn it into ADDED/DELETED.
    pub previous: Option<Arc<Value>>,
}

/// The mutable state behind the store's lock.
pub struct Inner {
    pub registry: Registry,
    rv: u64,
    objects: HashMap<TypeKey, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Every event with a resourceVersion up to this one may have been dropped from the history.
    compacted: u64,
    events: broadcast::Sender<Arc<Event>>,
}

/// Thread-safe storage shared by all requests.
pub struct Store {
    inner: Mutex<Inner>,
}

pub fn obj_key(obj: &Value) -> ObjKey {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    (s("/metadata/namespace"), s("/metadata/name"))
}

pub fn resource_version(obj: &Value) -> &str {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("")
}

impl Store {
    pub fn new(history_limit: usize) -> Store {
        let (events, _) = broadcast::channel(history_limit.clamp(1024, 65_536));
        Store {
            inner: Mutex::new(Inner {
                registry: Registry::default(),
                rv: 0,
                objects: HashMap::new(),
                history: VecDeque::new(),
                history_limit,
                compacted: 0,
                events,
            }),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, ty: &TypeKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects.get(ty)?.get(&(ns.to_string(), name.to_string())).cloned()
    }

    pub fn contains(&self, ty: &TypeKey, ns: &str, name: &str) -> bool {
        self.objects.get(ty).is_some_and(|m| m.contains_key(&(ns.to_string(), name.to_string())))
    }

    /// Objects of a type in key order, optionally in one namespace, starting after `after`.
    pub fn iter<'a>(
        &'a self,
        ty: &TypeKey,
        ns: Option<&'a str>,
        after: Option<ObjKey>,
    ) -> impl Iterator<Item = (&'a ObjKey, &'a Arc<Value>)> + 'a {
        use std::ops::Bound;
        let lower = match after {
            Some(k) => Bound::Excluded(k),
            None => match ns {
                Some(ns) => Bound::Included((ns.to_string(), String::new())),
                None => Bound::Unbounded,
            },
        };
        self.objects
            .get(ty)
            .into_iter()
            .flat_map(move |m| m.range((lower.clone(), Bound::Unbounded)))
            .take_while(move |(k, _)| ns.is_none_or(|ns| k.0 == ns))
    }

    /// Types that have stored objects.
    pub fn stored_types(&self) -> Vec<TypeKey> {
        self.objects.iter().filter(|(_, m)| !m.is_empty()).map(|(k, _)| k.clone()).collect()
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, event: Event) {
        let event = Arc::new(event);
        let _ = self.events.send(event.clone());
        self.history.push_back(event);
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = self.compacted.max(dropped.rv);
            }
        }
    }

    /// Stores an object (created or replaced), assigning the next resourceVersion, and records the event.
    pub fn put(&mut self, ty: &TypeKey, mut obj: Value) -> Arc<Value> {
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = obj_key(&obj);
        let obj = Arc::new(obj);
        let previous = self.objects.entry(ty.clone()).or_default().insert(key, obj.clone());
        let kind = if previous.is_some() { EventType::Modified } else { EventType::Added };
        self.record(Event { rv, ty: ty.clone(), kind, object: obj.clone(), previous });
        obj
    }

    /// Removes an object, recording a DELETED event with the delete's resourceVersion.
    pub fn remove(&mut self, ty: &TypeKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        let old = self.objects.get_mut(ty)?.remove(&(ns.to_string(), name.to_string()))?;
        let rv = self.next_rv();
        let mut last = (*old).clone();
        last["metadata"]["resourceVersion"] = json!(rv.to_string());
        let last = Arc::new(last);
        self.record(Event { rv, ty: ty.clone(), kind: EventType::Deleted, object: last.clone(), previous: Some(old) });
        Some(last)
    }

    /// Drops the whole event history: watches resuming from any earlier resourceVersion get `410 Gone`.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Retained events after `rv`, or `Err(oldest retained rv)` when some of them were dropped.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, u64> {
        if rv < self.compacted {
            return Err(self.history.front().map(|e| e.rv).unwrap_or(self.rv + 1));
        }
        Ok(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded() {
        let store = Store::new(3);
        let mut inner = store.lock();
        let ty = (String::new(), "configmaps".to_string());
        for i in 0..5 {
            inner.put(&ty, json!({"metadata": {"name": format!("c{i}"), "namespace": "default"}}));
        }
        assert_eq!(inner.current_rv(), 5);
        assert_eq!(inner.events_since(1).err(), Some(3));
        assert_eq!(inner.events_since(2).unwrap().len(), 3);
        let names: Vec<_> = inner.iter(&ty, Some("default"), None).map(|(k, _)| k.1.clone()).collect();
        assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
        assert_eq!(inner.iter(&ty, Some("other"), None).count(), 0);
        let gone = inner.remove(&ty, "default", "c0").unwrap();
        assert_eq!(resource_version(&gone), "6");
        inner.compact();
        assert!(inner.events_since(5).is_err());
        assert!(inner.events_since(6).unwrap().is_empty());
    }
}
