//! A snapshot that layers recent route changes over an older base router must answer every request
//! exactly as a snapshot built from scratch with the same routes.

use gatehouse_proxy::Snapshot;
use gatehouse_router::{NoHeaders, Request, RouteSpec};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// A small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const HOSTS: &[&str] = &["a.test", "b.test", "*.wild.test", "api.*"];
const PATHS: &[&str] = &["/", "/a", "/a/b", "/b", "~/a/[0-9]+$", "~/b/.*", "/a/b/c"];
const METHODS: &[&str] = &["GET", "POST"];

fn random_route(rng: &mut Rng, id: Uuid) -> Arc<RouteSpec> {
    let mut r = RouteSpec::new(id);
    if rng.next().is_multiple_of(2) {
        r.hosts = vec![rng.pick(HOSTS).to_string()];
        r.hosts_is_array = true;
    }
    r.paths = vec![rng.pick(PATHS).to_string()];
    if rng.next().is_multiple_of(3) {
        r.paths.push(rng.pick(PATHS).to_string());
    }
    if rng.next().is_multiple_of(4) {
        r.methods = vec![rng.pick(METHODS).to_string()];
    }
    r.regex_priority = (rng.next() % 3) as i64;
    Arc::new(r)
}

fn answer(snapshot: &Snapshot, host: &str, path: &str, method: &str) -> Option<Uuid> {
    let request = Request { method, host, path, scheme: "http", port: 8000, headers: &NoHeaders, sni: None };
    snapshot.find(&request).map(|m| m.route.id)
}

#[test]
fn layered_snapshots_answer_like_full_rebuilds() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut routes: HashMap<Uuid, Arc<RouteSpec>> = HashMap::new();
        for _ in 0..150 {
            let id = Uuid::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next()));
            routes.insert(id, random_route(&mut rng, id));
        }
        let base = Snapshot::from_shared(routes.values().cloned().collect(), Default::default(), 1);
        let mut changed: HashSet<Uuid> = HashSet::new();
        let ids: Vec<Uuid> = routes.keys().copied().collect();
        for id in ids.iter().take(30) {
            routes.insert(*id, random_route(&mut rng, *id));
            changed.insert(*id);
        }
        for id in ids.iter().skip(30).take(15) {
            routes.remove(id);
            changed.insert(*id);
        }
        for _ in 0..20 {
            let id = Uuid::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next()));
            routes.insert(id, random_route(&mut rng, id));
            changed.insert(id);
        }
        let layer: Vec<Arc<RouteSpec>> = changed.iter().filter_map(|id| routes.get(id).cloned()).collect();
        let layered = base.layered(layer, changed, Default::default(), 2);
        let full = Snapshot::from_shared(routes.values().cloned().collect(), Default::default(), 2);
        let (mut matched, mut differs_from_base) = (0, 0);
        let hosts = ["a.test", "b.test", "x.wild.test", "api.io", "none.test"];
        let paths = ["/", "/a", "/a/1", "/a/b", "/a/b/c/d", "/b", "/b/x", "/c", "/a/12"];
        for host in hosts {
            for path in paths {
                for method in METHODS {
                    let expected = answer(&full, host, path, method);
                    assert_eq!(answer(&layered, host, path, method), expected, "seed {seed}: {method} {host}{path}");
                    matched += usize::from(expected.is_some());
                    differs_from_base += usize::from(answer(&base, host, path, method) != expected);
                }
            }
        }
        assert!(matched > 0 && differs_from_base > 0, "seed {seed}: the case must exercise the layer");
    }
}
