//! The HTTP/1.1 accept loop and the state shared by all connections, including simulated outages.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::store::Store;
use crate::ServerOptions;

/// How the server answers, for simulating API server outages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Availability {
    /// Normal operation.
    #[default]
    Available,
    /// Every API request gets `503 ServiceUnavailable`; open watches are ended.
    Unavailable,
    /// Requests (and events on open watches) hang until the availability changes.
    Stall,
    /// New connections are closed right after being accepted and open ones are dropped.
    Refuse,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Unavailable => "unavailable",
            Availability::Stall => "stall",
            Availability::Refuse => "refuse",
        }
    }
}

impl std::str::FromStr for Availability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "available" | "up" => Ok(Availability::Available),
            "unavailable" | "503" => Ok(Availability::Unavailable),
            "stall" | "hang" => Ok(Availability::Stall),
            "refuse" | "down" => Ok(Availability::Refuse),
            other => Err(format!("unknown availability {other:?} (available, unavailable, stall, refuse)")),
        }
    }
}

/// State shared by every connection and request.
pub struct Shared {
    pub store: Store,
    pub options: ServerOptions,
    pub address: SocketAddr,
    availability: watch::Sender<Availability>,
    /// Bumped to drop every open connection.
    connections: watch::Sender<u64>,
    /// Bumped to end every open watch.
    watches: watch::Sender<u64>,
}

impl Shared {
    pub fn new(options: ServerOptions, address: SocketAddr) -> Shared {
        Shared {
            store: Store::new(options.history_limit),
            options,
            address,
            availability: watch::Sender::new(Availability::Available),
            connections: watch::Sender::new(0),
            watches: watch::Sender::new(0),
        }
    }

    pub fn availability(&self) -> Availability {
        *self.availability.borrow()
    }

    pub fn set_availability(&self, a: Availability) {
        let previous = self.availability.send_replace(a);
        if previous == a {
            return;
        }
        match a {
            Availability::Refuse => self.close_connections(),
            Availability::Unavailable => self.close_watches(),
            _ => {}
        }
    }

    /// Waits while the server is stalled.
    pub async fn wait_while_stalled(&self) {
        let mut rx = self.availability.subscribe();
        let _ = rx.wait_for(|a| *a != Availability::Stall).await;
    }

    pub fn close_watches(&self) {
        self.watches.send_modify(|n| *n += 1);
    }

    pub fn close_connections(&self) {
        self.connections.send_modify(|n| *n += 1);
        self.close_watches();
    }

    pub fn watch_closer(&self) -> watch::Receiver<u64> {
        let mut rx = self.watches.subscribe();
        rx.mark_unchanged();
        rx
    }
}

/// Accepts connections until the listener fails.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) if is_transient(&e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if shared.availability() == Availability::Refuse {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut closer = shared.connections.subscribe();
        closer.mark_unchanged();
        tokio::spawn(async move {
            let svc_shared = shared.clone();
            let service = service_fn(move |req| crate::handlers::handle(svc_shared.clone(), req));
            let conn = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                res = conn => {
                    if let Err(e) = res {
                        tracing::debug!("connection from {peer}: {e}");
                    }
                }
                _ = closer.changed() => tracing::debug!("dropping connection from {peer}"),
            }
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock) || e.raw_os_error() == Some(24)
}
