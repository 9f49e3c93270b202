use super::*;
use crate::cache::{CacheSettings, NoRows};
use serde_json::json;

fn cache() -> Arc<EntityCache> {
    EntityCache::new(Arc::new(NoRows), CacheSettings::default())
}

const R: &str = "00000000-0000-4000-8000-00000000000a";
const S: &str = "00000000-0000-4000-8000-00000000000b";
const C: &str = "00000000-0000-4000-8000-00000000000c";

fn termination(status: u16, route: bool, service: bool, consumer: bool) -> Map<String, Value> {
    let reference = |on: bool, id: &str| if on { json!({ "id": id }) } else { Value::Null };
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "name": "request-termination",
        "enabled": true,
        "protocols": ["http", "https"],
        "route": reference(route, R),
        "service": reference(service, S),
        "consumer": reference(consumer, C),
        "config": {"status_code": status, "echo": false},
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// Which config (identified by its status code) wins for a request with these entities.
fn winner(set: &PluginSet, route: bool, service: bool, consumer: bool) -> Option<u16> {
    let id = |on: bool, s: &str| on.then(|| Uuid::parse_str(s).unwrap());
    let slot = set.slots.first()?;
    let index = slot.resolve(id(route, R), id(service, S), id(consumer, C))?;
    match &set.instance(index)?.handler {
        Handler::RequestTermination(t) => Some(t.status_code()),
        _ => None,
    }
}

#[test]
fn precedence_is_kongs() {
    // Every combination configured: each request picks the most specific one Kong would.
    let combos = [
        (507, true, true, true),
        (506, true, false, true),
        (505, false, true, true),
        (504, false, false, true),
        (503, true, true, false),
        (502, true, false, false),
        (501, false, true, false),
        (500, false, false, false),
    ];
    let rows: Vec<_> = combos.iter().map(|(st, r, s, c)| termination(*st, *r, *s, *c)).collect();
    let (set, skipped) = PluginSet::build(&rows, &Registry::default(), cache());
    assert!(skipped.is_empty());
    assert_eq!(winner(&set, true, true, true), Some(507));
    assert_eq!(winner(&set, true, true, false), Some(503));
    assert_eq!(winner(&set, false, true, true), Some(505));
    assert_eq!(winner(&set, false, false, true), Some(504));
    assert_eq!(winner(&set, false, false, false), Some(500));
    // Removing the most specific ones one by one walks down Kong's list.
    let order = [507, 506, 505, 503, 504, 502, 501, 500];
    for (i, expected) in order.iter().enumerate() {
        let kept: Vec<_> = combos
            .iter()
            .filter(|c| !order[..i].contains(&c.0))
            .map(|(st, r, s, c)| termination(*st, *r, *s, *c))
            .collect();
        let (set, _) = PluginSet::build(&kept, &Registry::default(), cache());
        assert_eq!(winner(&set, true, true, true), Some(*expected), "after removing {:?}", &order[..i]);
    }
}

#[test]
fn disabled_unknown_and_invalid_configs_are_left_out() {
    let mut disabled = termination(500, false, false, false);
    disabled.insert("enabled".into(), json!(false));
    let mut unknown = termination(500, false, false, false);
    unknown.insert("name".into(), json!("no-such-plugin"));
    let mut invalid = termination(500, false, false, false);
    invalid.insert("config".into(), json!({"status_code": "x"}));
    let (set, skipped) = PluginSet::build(&[disabled, unknown, invalid], &Registry::default(), cache());
    assert!(set.is_empty());
    assert_eq!(skipped.len(), 2, "{skipped:?}");
}

#[test]
fn slots_run_in_priority_order() {
    let mut key_auth = termination(0, false, false, false);
    key_auth.insert("name".into(), json!("key-auth"));
    key_auth.insert("config".into(), json!({"key_names": ["apikey"]}));
    let mut acl = termination(0, false, false, false);
    acl.insert("name".into(), json!("acl"));
    acl.insert("config".into(), json!({"allow": ["a"]}));
    let rt = termination(503, false, false, false);
    let (set, _) = PluginSet::build(&[rt, acl, key_auth], &Registry::default(), cache());
    let names: Vec<&str> = set
        .slots
        .iter()
        .filter_map(|s| s.scopes.values().next())
        .filter_map(|i| set.instance(*i))
        .map(|i| &*i.name)
        .collect();
    assert_eq!(names, ["key-auth", "acl", "request-termination"]);
}
