//! What the proxy's plugin tests share: publishing a snapshot with compiled plugins, and serving the real
//! proxy listener on a loopback port.

use gatehouse_plugins::cache::NoRows;
use gatehouse_plugins::{CacheSettings, EntityCache, PluginSet, Registry};
use gatehouse_proxy::{Proxy, Snapshot};
use serde_json::{Map, Value};
use std::sync::Arc;

pub fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Compiles the plugin entities `rows` (every one must compile) into `snapshot` and publishes it.
pub fn publish_with_plugins(proxy: &Proxy, mut snapshot: Snapshot, registry: &Registry, rows: &[Map<String, Value>]) {
    let cache = EntityCache::new(Arc::new(NoRows), CacheSettings::default());
    let (set, skipped) = PluginSet::build(rows.iter(), registry, cache);
    assert!(skipped.is_empty(), "{skipped:?}");
    snapshot.plugins = Arc::new(set);
    proxy.publish(snapshot);
}

/// Serves `proxy` (over TLS with HTTP/2 offered when `tls`) on a loopback port until the test ends.
pub async fn listen(proxy: &Arc<Proxy>, tls: bool) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    // Never stopped: the listener lives as long as the test.
    std::mem::forget(stop_tx);
    let acceptor = tls.then(|| proxy.tls_acceptor(true).unwrap());
    tokio::spawn(proxy.clone().serve(listener, (acceptor, false), stop));
    port
}
