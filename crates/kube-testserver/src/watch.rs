//! Watches: newline-delimited JSON `WatchEvent`s from a resourceVersion, with bookmarks, streaming-list
//! initial events, selectors, timeouts and `410 Gone` for history that is no longer retained.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::list::ListOptions;
use crate::ops::{present, Target};
use crate::server::Shared;
use crate::status::{ApiError, ApiResult};
use crate::store::{Event, EventType};

/// Parameters of a watch request.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub target: Target,
    pub filter: ListOptions,
    pub resource_version: Option<String>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut out = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

fn error_line(err: &ApiError) -> Bytes {
    line("ERROR", &err.to_status())
}

impl WatchRequest {
    fn in_scope(&self, obj: &Value) -> bool {
        let ns_ok = match &self.target.namespace {
            Some(ns) => obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns.as_str()),
            None => true,
        };
        ns_ok && self.filter.matches(obj)
    }

    /// The event as this watch sees it: selector changes turn modifications into ADDED or DELETED.
    fn convert(&self, ev: &Event) -> Option<Bytes> {
        if ev.ty != self.target.ty.key() {
            return None;
        }
        let now = self.in_scope(&ev.object);
        let kind = match ev.kind {
            EventType::Added | EventType::Deleted => now.then_some(ev.kind)?,
            EventType::Modified => match (ev.previous.as_deref().is_some_and(|p| self.in_scope(p)), now) {
                (true, true) => EventType::Modified,
                (false, true) => EventType::Added,
                (true, false) => EventType::Deleted,
                (false, false) => return None,
            },
        };
        Some(line(kind.as_str(), &present(&ev.object, &self.target.ty, &self.target.version)))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let t = &self.target;
        line("BOOKMARK", &json!({"kind": t.ty.kind, "apiVersion": t.ty.api_version(&t.version), "metadata": meta}))
    }
}

/// Starts a watch: computes the initial events under the store lock (subscribing to live events in the
/// same critical section, so nothing is missed or repeated) and streams the rest from a task.
pub fn start(shared: Arc<Shared>, req: WatchRequest) -> ApiResult<mpsc::Receiver<Bytes>> {
    let rv = match req.resource_version.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?),
    };
    let mut initial = Vec::new();
    let mut gone = false;
    let (rx, start_rv) = {
        let inner = shared.store.lock();
        let current = inner.current_rv();
        match rv {
            Some(n) if n > 0 && !req.send_initial_events => match inner.events_since(n) {
                Ok(events) => initial.extend(events.iter().filter_map(|e| req.convert(e))),
                Err(oldest) => {
                    initial.push(error_line(&ApiError::expired(n, oldest)));
                    gone = true;
                }
            },
            _ => {
                let ns = req.target.namespace.as_deref();
                for (_, obj) in inner.iter(&req.target.ty.key(), ns, None) {
                    if req.filter.matches(obj) {
                        initial.push(line("ADDED", &present(obj, &req.target.ty, &req.target.version)));
                    }
                }
            }
        }
        if req.send_initial_events && !gone {
            initial.push(req.bookmark(current, true));
        }
        (inner.subscribe(), current)
    };
    let (tx, body) = mpsc::channel(64);
    tokio::spawn(run(shared, req, initial, gone, rx, start_rv, tx));
    Ok(body)
}

async fn run(
    shared: Arc<Shared>,
    req: WatchRequest,
    initial: Vec<Bytes>,
    gone: bool,
    mut rx: broadcast::Receiver<Arc<Event>>,
    mut last_rv: u64,
    tx: mpsc::Sender<Bytes>,
) {
    let mut closer = shared.watch_closer();
    for l in initial {
        shared.wait_while_stalled().await;
        if tx.send(l).await.is_err() {
            return;
        }
    }
    if gone {
        return;
    }
    let deadline = req.timeout.map(|t| Instant::now() + t);
    let interval = shared.options.bookmark_interval.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    loop {
        let out = tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) if ev.rv <= last_rv => continue,
                Ok(ev) => {
                    last_rv = ev.rv;
                    match req.convert(&ev) {
                        Some(l) => vec![l],
                        None => continue,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = tx.send(error_line(&ApiError::expired(last_rv, last_rv + 1))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if req.bookmarks => {
                // Catch up first, so the bookmark's resourceVersion covers everything sent before it.
                let mut out = Vec::new();
                loop {
                    match rx.try_recv() {
                        Ok(ev) if ev.rv <= last_rv => {}
                        Ok(ev) => {
                            last_rv = ev.rv;
                            out.extend(req.convert(&ev));
                        }
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(_) => return,
                    }
                }
                out.push(req.bookmark(last_rv, false));
                out
            }
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => return,
            _ = closer.changed() => return,
            _ = tx.closed() => return,
        };
        for l in out {
            shared.wait_while_stalled().await;
            if tx.send(l).await.is_err() {
                return;
            }
        }
    }
}
