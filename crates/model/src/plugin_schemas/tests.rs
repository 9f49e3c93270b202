use super::*;

#[test]
fn every_schema_is_for_a_bundled_plugin() {
    for p in plugin_schemas() {
        assert!(crate::plugins::bundled(p.name).is_some(), "{}", p.name);
        assert!(entity_schema(p.name).is_some());
    }
}
