//! Proxy worker threads, run as nginx runs its workers: one single-threaded runtime each, with its own
//! `SO_REUSEPORT` listener and upstream pools, so a request never hops between threads; optionally pinned
//! to CPUs as nginx's `worker_cpu_affinity` pins them.

use crate::Proxy;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Which CPUs proxy workers run on: `worker_cpu_affinity`, which Kong users set as
/// `nginx_main_worker_cpu_affinity` (nginx's `worker_cpu_affinity` directive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CpuAffinity {
    /// Left to the scheduler: Kong's default, which sets no affinity.
    #[default]
    Off,
    /// nginx's `auto [mask]`: worker n on the nth CPU the node may use (of `mask` when given), wrapping
    /// around when there are more workers than CPUs.
    Auto(Option<Vec<usize>>),
    /// nginx's masks: worker n on the CPUs of mask n, the last mask for workers past the list.
    Masks(Vec<Vec<usize>>),
}

impl CpuAffinity {
    /// Parses nginx's syntax (`auto`, `auto 0101`, `0001 0010 ...`, a mask's rightmost digit being
    /// CPU 0) and `off`.
    pub fn parse(text: &str) -> Result<CpuAffinity, String> {
        let expected =
            || format!("expected 'auto', 'auto <mask>', CPU masks of 0 and 1 (e.g. '01 10') or 'off', got '{text}'");
        let mask = |word: &str| -> Result<Vec<usize>, String> {
            let digits = !word.is_empty() && word.len() <= 1024 && word.bytes().all(|b| b == b'0' || b == b'1');
            let cpus: Vec<usize> =
                word.bytes().rev().enumerate().filter(|(_, b)| *b == b'1').map(|(cpu, _)| cpu).collect();
            match digits && !cpus.is_empty() {
                true => Ok(cpus),
                false => Err(expected()),
            }
        };
        match text.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["off"] => Ok(CpuAffinity::Off),
            ["auto"] => Ok(CpuAffinity::Auto(None)),
            ["auto", only] => Ok(CpuAffinity::Auto(Some(mask(only)?))),
            [] => Err(expected()),
            masks => masks.iter().map(|word| mask(word)).collect::<Result<_, _>>().map(CpuAffinity::Masks),
        }
    }

    /// The CPUs each of `workers` workers is pinned to (empty: left to the scheduler), given the CPUs
    /// the node may use, ascending.
    pub(crate) fn placement(&self, workers: usize, usable: &[usize]) -> Vec<Vec<usize>> {
        let spread = |cpus: Vec<usize>| -> Vec<Vec<usize>> {
            match cpus.is_empty() {
                true => vec![Vec::new(); workers],
                false => (0..workers).map(|n| vec![cpus[n % cpus.len()]]).collect(),
            }
        };
        match self {
            CpuAffinity::Off => vec![Vec::new(); workers],
            CpuAffinity::Auto(None) => spread(usable.to_vec()),
            CpuAffinity::Auto(Some(mask)) => spread(usable.iter().copied().filter(|cpu| mask.contains(cpu)).collect()),
            CpuAffinity::Masks(masks) => {
                (0..workers).map(|n| masks.get(n).or(masks.last()).cloned().unwrap_or_default()).collect()
            }
        }
    }
}

/// The CPUs this process may run on (its cpuset), ascending.
#[cfg(target_os = "linux")]
fn usable_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count()).filter(|&cpu| set.is_set(cpu).unwrap_or(false)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Pins the calling thread to `cpus`.
#[cfg(target_os = "linux")]
fn pin_current_thread(cpus: &[usize]) -> std::io::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    Ok(nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?)
}

/// Elsewhere (`sched_setaffinity` is Linux's) `auto` pins nothing and masks are refused with a warning.
#[cfg(not(target_os = "linux"))]
fn usable_cpus() -> Vec<usize> {
    Vec::new()
}

#[cfg(not(target_os = "linux"))]
fn pin_current_thread(_cpus: &[usize]) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "CPU affinity is set on Linux only"))
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(16384)
}

impl Proxy {
    /// Serves `addr` with one single-threaded runtime per worker, each accepting on its own `SO_REUSEPORT`
    /// socket and keeping its own upstream pools, as nginx's workers do, and pinned to CPUs as
    /// `cpu_affinity` says; `tls` and `proxy_protocol` as [`Proxy::serve`]. Returns once every worker is
    /// listening; the threads end after `stop` turns true.
    pub fn serve_workers(
        self: &Arc<Self>,
        addr: SocketAddr,
        workers: usize,
        (tls, proxy_protocol): (Option<tokio_rustls::TlsAcceptor>, bool),
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
        let placement = self.options.cpu_affinity.placement(workers.max(1), &usable_cpus());
        let mut threads = Vec::new();
        for (n, cpus) in placement.into_iter().enumerate() {
            let proxy = self.sibling();
            let (stop, tls) = (stop.clone(), tls.clone());
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
            let thread = std::thread::Builder::new().name(format!("proxy-worker-{n}")).spawn(move || {
                // nginx logs a failed binding and runs the worker anyway.
                if let Err(e) = if cpus.is_empty() { Ok(()) } else { pin_current_thread(&cpus) } {
                    tracing::warn!(error = %e, ?cpus, "cannot pin proxy worker {n} to its CPUs");
                }
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match reuseport_listener(addr) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    proxy.serve(listener, (tls, proxy_protocol), stop).await;
                });
            })?;
            match ready_rx.recv() {
                Ok(Ok(())) => threads.push(thread),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("proxy worker exited before listening")),
            }
        }
        Ok(threads)
    }
}

#[cfg(test)]
#[path = "workers_tests.rs"]
mod tests;
