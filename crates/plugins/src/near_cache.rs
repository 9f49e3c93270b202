//! A per-thread front for the entity cache. Proxy workers run one thread each, so a hit here is a plain
//! hash lookup: no lock, no atomic read-op log, no allocation. Correctness rests on the cache's epoch: every
//! invalidation moves it, and an entry is only trusted under the epoch read before it was fetched, so a
//! change clears every thread's front on its next lookup.

use crate::cache::KINDS;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// What the front keeps of an entry: the built value (`None` for a cached miss) and when it expires.
#[derive(Clone)]
pub(crate) struct NearEntry {
    pub value: Option<Arc<dyn Any + Send + Sync>>,
    pub expires: Option<Instant>,
}

type Map = HashMap<Box<str>, NearEntry, foldhash::fast::RandomState>;

struct Near {
    /// The cache this thread's entries came from (tests run several in one process).
    cache_id: u64,
    epoch: u64,
    /// One map per cache kind.
    maps: [Map; KINDS],
}

thread_local! {
    static NEAR: RefCell<Option<Near>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's maps for `cache_id` at `epoch`, emptying them first if they belong to another
/// cache or an older epoch.
fn with_maps<R>(cache_id: u64, epoch: u64, f: impl FnOnce(&mut [Map; KINDS]) -> R) -> Option<R> {
    NEAR.try_with(|cell| {
        let mut slot = cell.try_borrow_mut().ok()?;
        let near = slot.get_or_insert_with(|| Near { cache_id, epoch, maps: Default::default() });
        if near.cache_id != cache_id || near.epoch != epoch {
            near.cache_id = cache_id;
            near.epoch = epoch;
            near.maps.iter_mut().for_each(Map::clear);
        }
        Some(f(&mut near.maps))
    })
    .ok()
    .flatten()
}

/// The entry for `key` of kind `kind` when this thread holds a fresh one under `epoch`.
pub(crate) fn get(cache_id: u64, epoch: u64, kind: usize, key: &str) -> Option<NearEntry> {
    with_maps(cache_id, epoch, |maps| {
        let entry = maps.get(kind)?.get(key)?;
        entry.expires.is_none_or(|at| Instant::now() < at).then(|| entry.clone())
    })
    .flatten()
}

/// Keeps `entry` for `key` under `epoch` (the epoch read before the entry was fetched). A full map is
/// emptied first: the shared cache behind it keeps the recency order, this front only has to be bounded.
pub(crate) fn put(cache_id: u64, epoch: u64, kind: usize, key: &str, entry: NearEntry, cap: usize) {
    with_maps(cache_id, epoch, |maps| {
        if let Some(map) = maps.get_mut(kind) {
            if map.len() >= cap {
                map.clear();
            }
            map.insert(key.into(), entry);
        }
    });
}
