//! Active health checks: periodic probes (lua-resty-healthcheck's `run_single_check`). Healthy addresses
//! are probed every `healthy.interval` seconds and unhealthy ones every `unhealthy.interval` (0 = off),
//! `concurrency` probes at a time, each step bounded by `timeout`.

use super::config::{ActiveConfig, ProbeKind};
use super::health::Outcome;
use super::{Balancer, ProbeItem};
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// TLS client settings for `https` probes, built once per node.
#[derive(Clone)]
pub struct ProbeTls {
    /// `https_verify_certificate = true`: verified against `lua_ssl_trusted_certificate` (`None` when it
    /// names no certificate, so such probes fail their handshake, as in Kong).
    pub verified: Option<Arc<rustls::ClientConfig>>,
    /// `https_verify_certificate = false`.
    pub unverified: Arc<rustls::ClientConfig>,
}

/// What one probe found.
enum Probe {
    /// TCP connect succeeded (tcp probes).
    Connected,
    /// HTTP status line received (0 when it could not be parsed).
    Status(u16),
    Failed(Outcome),
}

impl Balancer {
    /// Starts the active checks of this balancer on the current tokio runtime. They stop when `stop`
    /// turns true (or its sender is dropped) or when the balancer itself is dropped, so a rebuilt
    /// configuration can simply start the checks of the new balancer.
    pub fn spawn_active_checks(self: &Arc<Self>, stop: watch::Receiver<bool>, tls: ProbeTls) {
        let active = &self.cfg.active;
        for (interval, probe_healthy) in [(active.healthy_interval, true), (active.unhealthy_interval, false)] {
            if interval.is_zero() {
                continue;
            }
            let weak = Arc::downgrade(self);
            let stop = stop.clone();
            tokio::spawn(check_loop(weak, stop, interval, probe_healthy, tls.clone()));
        }
    }
}

async fn check_loop(
    weak: Weak<Balancer>,
    mut stop: watch::Receiver<bool>,
    interval: Duration,
    probe_healthy: bool,
    tls: ProbeTls,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let Some(balancer) = weak.upgrade() else { return };
        let list: Vec<_> =
            balancer.probe_list().into_iter().filter(|(_, _, state)| state.is_healthy() == probe_healthy).collect();
        if list.is_empty() {
            continue;
        }
        let active = Arc::new(balancer.cfg.active.clone());
        let host_header: Option<Arc<str>> = balancer.cfg.host_header.as_deref().map(Arc::from);
        drop(balancer);
        // Work packages as lua-resty-healthcheck deals them out: item i goes to package i % concurrency.
        let packages = active.concurrency.min(list.len()).max(1);
        let mut work: Vec<Vec<ProbeItem>> = (0..packages).map(|_| Vec::new()).collect();
        for (i, item) in list.into_iter().enumerate() {
            work[i % packages].push(item);
        }
        let mut set = tokio::task::JoinSet::new();
        for package in work {
            let active = Arc::clone(&active);
            let host_header = host_header.clone();
            let tls = tls.clone();
            set.spawn(async move {
                for (addr, host, state) in package {
                    let header_host = host_header.as_deref().unwrap_or(&host);
                    match probe(&active, &tls, addr, header_host).await {
                        Probe::Connected => state.observe_success(&active.counters),
                        Probe::Status(status) => state.observe(Outcome::HttpStatus(status), &active.counters),
                        Probe::Failed(outcome) => state.observe(outcome, &active.counters),
                    }
                }
            });
        }
        tokio::select! {
            _ = async { while set.join_next().await.is_some() {} } => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

fn io_outcome(error: &std::io::Error) -> Outcome {
    if error.kind() == std::io::ErrorKind::TimedOut {
        Outcome::Timeout
    } else {
        Outcome::TcpFailure
    }
}

async fn probe(active: &ActiveConfig, tls: &ProbeTls, addr: SocketAddr, host: &str) -> Probe {
    let limit = if active.timeout.is_zero() { Duration::from_secs(1) } else { active.timeout };
    let stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => return Probe::Failed(Outcome::Timeout),
        Ok(Err(e)) => return Probe::Failed(io_outcome(&e)),
        Ok(Ok(stream)) => stream,
    };
    match active.kind {
        ProbeKind::Tcp => Probe::Connected,
        ProbeKind::Http => http_probe(active, stream, host, limit).await,
        ProbeKind::Https => {
            // lua-resty-healthcheck: the server name is `https_sni`, else the Host; a failed handshake
            // counts as a TCP failure.
            let config =
                if active.https_verify_certificate { tls.verified.clone() } else { Some(tls.unverified.clone()) };
            let name = active.https_sni.as_deref().unwrap_or(host);
            let name = super::resolve::unbracketed(name);
            let (Some(config), Ok(name)) = (config, rustls::pki_types::ServerName::try_from(name.to_owned())) else {
                return Probe::Failed(Outcome::TcpFailure);
            };
            let connector = tokio_rustls::TlsConnector::from(config);
            match tokio::time::timeout(limit, connector.connect(name, stream)).await {
                Err(_) => Probe::Failed(Outcome::Timeout),
                Ok(Err(_)) => Probe::Failed(Outcome::TcpFailure),
                Ok(Ok(stream)) => http_probe(active, stream, host, limit).await,
            }
        }
    }
}

/// Sends the probe's `GET` over an open connection and reads the status line.
async fn http_probe<S>(active: &ActiveConfig, mut stream: S, host: &str, limit: Duration) -> Probe
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut request = format!("GET {} HTTP/1.1\r\nConnection: close\r\n", active.http_path);
    for (name, value) in &active.headers {
        request.push_str(name);
        request.push_str(": ");
        request.push_str(value);
        request.push_str("\r\n");
    }
    request.push_str("Host: ");
    request.push_str(host);
    request.push_str("\r\n\r\n");
    match tokio::time::timeout(limit, stream.write_all(request.as_bytes())).await {
        Err(_) => return Probe::Failed(Outcome::Timeout),
        Ok(Err(e)) => return Probe::Failed(io_outcome(&e)),
        Ok(Ok(())) => {}
    }
    let read_line = async {
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return if buf.is_empty() {
                    Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
                } else {
                    Ok(buf)
                };
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.contains(&b'\n') || buf.len() > 8192 {
                return Ok(buf);
            }
        }
    };
    let line = match tokio::time::timeout(limit, read_line).await {
        Err(_) => return Probe::Failed(Outcome::Timeout),
        Ok(Err(e)) => return Probe::Failed(io_outcome(&e)),
        Ok(Ok(line)) => line,
    };
    Probe::Status(parse_status(&line))
}

/// Status code of `HTTP/x.y NNN ...`, or 0 for anything else (reported as an HTTP failure, as Kong does).
fn parse_status(line: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split_ascii_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") && code.len() == 3 => code.parse().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_status;

    #[test]
    fn balancer_status_line() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), 200);
        assert_eq!(parse_status(b"HTTP/1.0 503\r\n"), 503);
        assert_eq!(parse_status(b"garbage\r\n"), 0);
    }
}
