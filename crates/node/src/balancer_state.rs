//! Upstreams and targets as the follower keeps them, so a change rebuilds only the balancers of the
//! upstreams it touched. (Rebuilding every balancer on every target change made bulk loads quadratic.)

use gatehouse_proxy::balancer::{Balancer, Resolve};
use gatehouse_proxy::Balancers;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

type Row = Map<String, Value>;

fn id_of(row: &Row) -> Option<Uuid> {
    row.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

fn upstream_of(target: &Row) -> Option<Uuid> {
    target.get("upstream").and_then(|u| u.get("id")).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

/// Every upstream and target row, indexed for incremental rebuilds.
#[derive(Default)]
pub struct BalancerState {
    upstreams: HashMap<Uuid, Row>,
    /// Target id -> (its upstream, the row).
    targets: HashMap<Uuid, (Uuid, Row)>,
    by_upstream: HashMap<Uuid, HashSet<Uuid>>,
    /// When the DNS answers of an upstream's hostname targets expire: it is rebuilt (re-resolved) then.
    dns_expiry: HashMap<Uuid, std::time::Instant>,
}

impl BalancerState {
    /// Replaces everything (resync).
    pub fn replace_all(&mut self, upstreams: Vec<Row>, targets: Vec<Row>) {
        *self = BalancerState::default();
        for row in upstreams {
            if let Some(id) = id_of(&row) {
                self.upstreams.insert(id, row);
            }
        }
        for row in targets {
            self.put_target(row);
        }
    }

    fn put_target(&mut self, row: Row) -> Option<Uuid> {
        let (id, upstream) = (id_of(&row)?, upstream_of(&row)?);
        if let Some((old_upstream, _)) = self.targets.insert(id, (upstream, row)) {
            if old_upstream != upstream {
                if let Some(set) = self.by_upstream.get_mut(&old_upstream) {
                    set.remove(&id);
                }
            }
        }
        self.by_upstream.entry(upstream).or_default().insert(id);
        Some(upstream)
    }

    fn remove_target(&mut self, id: &Uuid) -> Option<Uuid> {
        let (upstream, _) = self.targets.remove(id)?;
        if let Some(set) = self.by_upstream.get_mut(&upstream) {
            set.remove(id);
        }
        Some(upstream)
    }

    /// Applies changed upstreams (`rows`: those of `ids` that still exist); returns the upstreams affected.
    pub fn apply_upstreams(&mut self, ids: &[Uuid], rows: Vec<Row>) -> HashSet<Uuid> {
        for id in ids {
            self.upstreams.remove(id);
        }
        for row in rows {
            if let Some(id) = id_of(&row) {
                self.upstreams.insert(id, row);
            }
        }
        ids.iter().copied().collect()
    }

    /// Applies changed targets; returns the upstreams whose target lists changed.
    pub fn apply_targets(&mut self, ids: &[Uuid], rows: Vec<Row>) -> HashSet<Uuid> {
        let mut affected = HashSet::new();
        for id in ids {
            affected.extend(self.remove_target(id));
        }
        for row in rows {
            affected.extend(self.put_target(row));
        }
        affected
    }

    /// Upstreams whose hostname targets' DNS answers have expired by `now`.
    pub fn dns_due(&self, now: std::time::Instant) -> HashSet<Uuid> {
        self.dns_expiry.iter().filter(|(_, at)| **at <= now).map(|(id, _)| *id).collect()
    }

    /// New balancers: those of `affected` upstreams rebuilt (keeping health state from `previous`), the
    /// others shared with `previous`. Returns the balancers and the ones that were rebuilt. Resolves hostname
    /// targets with blocking calls: run it on a blocking thread.
    pub fn build(
        &mut self,
        previous: &Balancers,
        affected: Option<&HashSet<Uuid>>,
        resolver: &dyn Resolve,
    ) -> (Balancers, Vec<Arc<Balancer>>) {
        self.dns_expiry.retain(|id, _| self.upstreams.contains_key(id));
        let mut out = Balancers::default();
        let mut rebuilt = Vec::new();
        for (id, upstream) in &self.upstreams {
            let Some(name) = upstream.get("name").and_then(Value::as_str) else { continue };
            let reuse = affected.is_some_and(|a| !a.contains(id));
            let balancer = match previous.by_id.get(id).filter(|_| reuse) {
                Some(existing) => existing.clone(),
                None => {
                    let targets: Vec<Row> = self
                        .by_upstream
                        .get(id)
                        .into_iter()
                        .flatten()
                        .filter_map(|t| self.targets.get(t).map(|(_, row)| row.clone()))
                        .collect();
                    let prev = previous.by_id.get(id).map(|b| b.as_ref());
                    let balancer = Arc::new(Balancer::build_from_previous(prev, upstream, &targets, resolver));
                    match balancer.dns_expiry(resolver) {
                        Some(at) => self.dns_expiry.insert(*id, at),
                        None => self.dns_expiry.remove(id),
                    };
                    rebuilt.push(balancer.clone());
                    balancer
                }
            };
            out.by_name.insert(name.to_string(), balancer.clone());
            out.by_id.insert(*id, balancer);
        }
        (out, rebuilt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    /// Every target in these tests is an IP.
    struct NoDns;

    impl Resolve for NoDns {
        fn resolve(&self, _host: &str, _port: u16) -> gatehouse_proxy::balancer::Addresses {
            Vec::new()
        }
    }

    const U1: &str = "00000000-0000-4000-8000-000000000001";
    const U2: &str = "00000000-0000-4000-8000-000000000002";
    const T1: &str = "00000000-0000-4000-8000-0000000000a1";

    #[test]
    fn only_touched_upstreams_are_rebuilt() {
        let mut state = BalancerState::default();
        let upstreams = vec![row(json!({"id": U1, "name": "one"})), row(json!({"id": U2, "name": "two"}))];
        let targets = vec![row(json!({"id": T1, "upstream": {"id": U1}, "target": "10.0.0.1:80", "weight": 100}))];
        state.replace_all(upstreams, targets);
        let (first, rebuilt) = state.build(&Balancers::default(), None, &NoDns);
        assert_eq!((first.by_id.len(), rebuilt.len()), (2, 2));
        // The target moves to the other upstream: both are affected, and nothing else would be.
        let moved = row(json!({"id": T1, "upstream": {"id": U2}, "target": "10.0.0.1:80", "weight": 100}));
        let affected = state.apply_targets(&[Uuid::parse_str(T1).unwrap()], vec![moved]);
        assert_eq!(affected.len(), 2);
        let only_two: HashSet<Uuid> = [Uuid::parse_str(U2).unwrap()].into();
        let (second, rebuilt) = state.build(&first, Some(&only_two), &NoDns);
        assert_eq!(rebuilt.len(), 1);
        let u1 = Uuid::parse_str(U1).unwrap();
        assert!(Arc::ptr_eq(&first.by_id[&u1], &second.by_id[&u1]), "untouched balancers are shared");
        // Deleting an upstream drops its balancer.
        let gone = state.apply_upstreams(&[u1], Vec::new());
        let (third, _) = state.build(&second, Some(&gone), &NoDns);
        assert!(!third.by_id.contains_key(&u1) && !third.by_name.contains_key("one"));
    }
}
