//! The PROXY protocol header (HAProxy's, versions 1 and 2) that a load balancer such as AWS's NLB sends
//! before a connection's first byte, on listeners with Kong's `proxy_protocol` flag. As nginx: a
//! connection without a valid header is closed; the header's source address is what
//! `real_ip_header = proxy_protocol` names as the client (see [`crate::real_ip`]).
//!
//! The header is taken off the socket exactly (peeked, parsed, then read to its end), so what follows —
//! an HTTP request or a TLS handshake — is read by the usual path as if the header had never been there.

use ppp::{v1, v2, HeaderResult, PartialResult};
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Room for a version 2 header with a few TLVs (what balancers send); a version 1 header is at most 107.
const PEEK_BYTES: usize = 1024;
/// How long to wait for more bytes of a header that came in pieces (rare: balancers send it in one
/// segment).
const PIECE_WAIT: Duration = Duration::from_millis(5);

/// Why a connection on a `proxy_protocol` listener was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyProtocolError {
    #[error("no complete PROXY protocol header within {0:?}")]
    Timeout(Duration),
    #[error("broken PROXY protocol header: {0}")]
    Broken(String),
    #[error("connection closed before its PROXY protocol header")]
    Closed,
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Takes the PROXY header off `stream` within `timeout`: the client's source address, or `None` when the
/// header names none (`UNKNOWN`, a `LOCAL` health check, a UNIX socket).
pub async fn read_header(stream: &mut TcpStream, timeout: Duration) -> Result<Option<IpAddr>, ProxyProtocolError> {
    let deadline = Instant::now() + timeout;
    let mut buffer = [0u8; PEEK_BYTES];
    loop {
        let peeked = match tokio::time::timeout_at(deadline, stream.peek(&mut buffer)).await {
            Err(_) => return Err(ProxyProtocolError::Timeout(timeout)),
            Ok(Ok(0)) => return Err(ProxyProtocolError::Closed),
            Ok(result) => result?,
        };
        let parsed = HeaderResult::parse(&buffer[..peeked]);
        if parsed.is_incomplete() && peeked < PEEK_BYTES {
            // `peek` keeps the socket readable, so waiting for more is a pause, not a readiness wait.
            if Instant::now() + PIECE_WAIT > deadline {
                return Err(ProxyProtocolError::Timeout(timeout));
            }
            tokio::time::sleep(PIECE_WAIT).await;
            continue;
        }
        let (length, source) = match parsed {
            HeaderResult::V1(Ok(header)) => (header.header.len(), v1_source(&header.addresses)),
            HeaderResult::V2(Ok(header)) => (header.len(), v2_source(&header)),
            HeaderResult::V1(Err(e)) => return Err(ProxyProtocolError::Broken(e.to_string())),
            HeaderResult::V2(Err(e)) => return Err(ProxyProtocolError::Broken(e.to_string())),
        };
        stream.read_exact(&mut buffer[..length]).await?;
        return Ok(source);
    }
}

fn v1_source(addresses: &v1::Addresses) -> Option<IpAddr> {
    match addresses {
        v1::Addresses::Tcp4(a) => Some(a.source_address.into()),
        v1::Addresses::Tcp6(a) => Some(a.source_address.into()),
        v1::Addresses::Unknown => None,
    }
}

fn v2_source(header: &v2::Header<'_>) -> Option<IpAddr> {
    if header.command == v2::Command::Local {
        return None;
    }
    match header.addresses {
        v2::Addresses::IPv4(a) => Some(a.source_address.into()),
        v2::Addresses::IPv6(a) => Some(a.source_address.into()),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A connected pair: what the test writes arrives at the returned server side.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.expect("connect"), accepted.expect("accept").0)
    }

    #[tokio::test]
    async fn both_versions_leave_the_request_in_place() {
        let wait = Duration::from_secs(2);
        let (mut client, mut server) = pair().await;
        client.write_all(b"PROXY TCP4 192.168.0.1 10.0.0.2 56324 8000\r\nGET / HTTP/1.1\r\n").await.expect("write");
        assert_eq!(read_header(&mut server, wait).await.ok().flatten(), Some("192.168.0.1".parse().expect("ip")));
        let mut rest = [0u8; 16];
        server.read_exact(&mut rest).await.expect("read");
        assert_eq!(&rest, b"GET / HTTP/1.1\r\n");

        let (mut client, mut server) = pair().await;
        let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 12, 203, 0, 113, 7, 10, 0, 0, 2, 0xdb, 0xc4, 0x1f, 0x40]);
        // Sent in two pieces.
        client.write_all(&v2[..10]).await.expect("write");
        let (read, ()) = tokio::join!(read_header(&mut server, wait), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            client.write_all(&v2[10..]).await.expect("write");
            client.write_all(b"hi").await.expect("write");
        });
        assert_eq!(read.ok().flatten(), Some("203.0.113.7".parse().expect("ip")));
        let mut rest = [0u8; 2];
        server.read_exact(&mut rest).await.expect("read");
        assert_eq!(&rest, b"hi");

        let (mut client, mut server) = pair().await;
        client.write_all(b"PROXY UNKNOWN\r\n").await.expect("write");
        assert!(matches!(read_header(&mut server, wait).await, Ok(None)));

        let (mut client, mut server) = pair().await;
        client.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await.expect("write");
        assert!(matches!(read_header(&mut server, wait).await, Err(ProxyProtocolError::Broken(_))));
    }
}
