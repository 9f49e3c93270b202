//! Plain HTTP/1.1 client connections against the real proxy listener: a client that sends its head too
//! slowly, or keeps an idle connection, is cut off after the header timeout; a stopping proxy closes
//! idle connections and returns.

use gatehouse_proxy::{Proxy, ProxyOptions};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// A proxy with no routes (every request gets Kong's 404) and the given header timeout.
async fn serve(header_timeout: Duration) -> (u16, tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let options = ProxyOptions { header_timeout, ..ProxyOptions::default() };
    let proxy = Proxy::new(options).expect("proxy");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(proxy.serve(listener, (None, false), stop));
    (port, stop_tx, served)
}

/// Reads until the proxy closes the connection (bounded by `limit`); returns what came and when it closed.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, Option<Instant>) {
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&text).into_owned(), Some(Instant::now())),
            Ok(Ok(n)) => text.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&text).into_owned(), None),
        }
    }
}

#[tokio::test]
async fn a_slow_head_is_cut_off_after_the_header_timeout() {
    let (port, _stop, _served) = serve(HEADER_TIMEOUT).await;
    let mut client = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let started = Instant::now();
    client.write_all(b"GET / HTTP/1.1\r\nHo").await.expect("write");
    let (text, closed) = read_to_close(&mut client, Duration::from_secs(5)).await;
    let closed = closed.expect("the proxy closes a connection whose head does not come");
    assert!(text.is_empty(), "no response to half a head: {text:?}");
    assert!(closed - started >= HEADER_TIMEOUT - Duration::from_millis(50), "closed after {:?}", closed - started);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let (port, _stop, _served) = serve(HEADER_TIMEOUT).await;
    let mut client = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    client.write_all(b"GET /none HTTP/1.1\r\nHost: a.test\r\n\r\n").await.expect("write");
    let started = Instant::now();
    let (text, closed) = read_to_close(&mut client, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
    assert!(text.contains("no Route matched with those values"), "{text}");
    let closed = closed.expect("an idle connection is closed");
    assert!(closed - started >= HEADER_TIMEOUT - Duration::from_millis(50), "closed after {:?}", closed - started);
}

#[tokio::test]
async fn stopping_closes_idle_connections_and_returns() {
    // A long header timeout: only the stop can close the idle connection in time.
    let (port, stop, served) = serve(Duration::from_secs(60)).await;
    let mut idle = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    idle.write_all(b"GET /none HTTP/1.1\r\nHost: a.test\r\n\r\n").await.expect("write");
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.expect("a response");
    assert_eq!(&head, b"HTTP/1.1 404");
    stop.send(true).expect("stop");
    let (_, closed) = read_to_close(&mut idle, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a stopping proxy closes idle connections");
    let returned = tokio::time::timeout(Duration::from_secs(5), served).await;
    assert!(returned.is_ok(), "serve returns once its connections are closed");
}
