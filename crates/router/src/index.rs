//! Candidate index: matchers are filed by host (exact map, wildcard suffix/prefix maps keyed by the literal
//! part) and, inside each host bucket, by plain path prefix (map keyed by the prefix, probed once per
//! distinct prefix length). Every list holds matcher ranks in ascending order (= descending priority), so a
//! lookup scans each relevant list only up to its first match or the best rank found so far.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::compile::{Ctx, HostKind, Matcher, Paths};

/// FxHash-style hasher: the keys are short trusted strings from the configuration, probed on every request.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
    fn write_usize(&mut self, i: usize) {
        self.write(&(i as u64).to_le_bytes());
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Matchers sharing one host key (or having no host), sub-indexed by plain path prefix.
#[derive(Default)]
pub(crate) struct Bucket {
    lens: Vec<usize>,
    by_prefix: FxMap<Box<[u8]>, Vec<u32>>,
    other: Vec<u32>,
}

fn push(list: &mut Vec<u32>, rank: u32) {
    if list.last() != Some(&rank) {
        list.push(rank);
    }
}

impl Bucket {
    fn add(&mut self, m: &Matcher, rank: u32) {
        match &m.paths {
            Paths::Plain(ps) => {
                for p in ps {
                    push(self.by_prefix.entry(p.as_bytes().into()).or_default(), rank);
                    if let Err(i) = self.lens.binary_search(&p.len()) {
                        self.lens.insert(i, p.len());
                    }
                }
            }
            Paths::Any | Paths::Regex(_) => push(&mut self.other, rank),
        }
    }

    fn visit(&self, path: &str, scan: &mut impl FnMut(&[u32])) {
        let bytes = path.as_bytes();
        for &l in &self.lens {
            let Some(key) = bytes.get(..l) else { break };
            if let Some(list) = self.by_prefix.get(key) {
                scan(list);
            }
        }
        scan(&self.other);
    }
}

/// All buckets plus the distinct wildcard lengths to probe.
#[derive(Default)]
pub(crate) struct Index {
    exact: FxMap<Box<str>, Bucket>,
    suffix: FxMap<Box<str>, Bucket>,
    suffix_lens: Vec<usize>,
    prefix: FxMap<Box<str>, Bucket>,
    prefix_lens: Vec<usize>,
    any_host: Bucket,
}

fn add_len(lens: &mut Vec<usize>, l: usize) {
    if let Err(i) = lens.binary_search(&l) {
        lens.insert(i, l);
    }
}

impl Index {
    /// Files every matcher; `matchers` must already be in priority order.
    pub(crate) fn build(matchers: &[Matcher]) -> Index {
        let mut ix = Index::default();
        for (rank, m) in matchers.iter().enumerate() {
            let rank = rank as u32;
            if m.hosts.is_empty() {
                ix.any_host.add(m, rank);
                continue;
            }
            for h in &m.hosts {
                let bucket = match h.kind {
                    HostKind::Exact => ix.exact.entry(h.value.clone()).or_default(),
                    HostKind::Suffix => {
                        add_len(&mut ix.suffix_lens, h.value.len());
                        ix.suffix.entry(h.value.clone()).or_default()
                    }
                    HostKind::Prefix => {
                        add_len(&mut ix.prefix_lens, h.value.len());
                        ix.prefix.entry(h.value.clone()).or_default()
                    }
                };
                bucket.add(m, rank);
            }
        }
        ix
    }

    /// Rank of the highest-priority matcher accepting the request and allowed by `allow` (given the rank).
    pub(crate) fn best(&self, matchers: &[Matcher], ctx: &Ctx<'_>, allow: &dyn Fn(usize) -> bool) -> Option<usize> {
        let mut best = usize::MAX;
        let mut scan = |list: &[u32]| {
            for &r in list {
                let r = r as usize;
                if r >= best {
                    break;
                }
                if matchers.get(r).is_some_and(|m| m.matches(ctx)) && allow(r) {
                    best = r;
                    break;
                }
            }
        };
        let host = ctx.host;
        if let Some(b) = self.exact.get(host) {
            b.visit(ctx.path, &mut scan);
        }
        for &l in &self.suffix_lens {
            let Some(key) = host.len().checked_sub(l).and_then(|s| host.get(s..)) else { continue };
            if let Some(b) = self.suffix.get(key) {
                b.visit(ctx.path, &mut scan);
            }
        }
        for &l in &self.prefix_lens {
            let Some(key) = host.get(..l) else { continue };
            if let Some(b) = self.prefix.get(key) {
                b.visit(ctx.path, &mut scan);
            }
        }
        self.any_host.visit(ctx.path, &mut scan);
        (best != usize::MAX).then_some(best)
    }
}
