//! A DNS server for tests: answers `A` queries over UDP from a table the test changes while it runs, with
//! a fixed TTL, so tests can watch the gateway follow new answers.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A running DNS server; it stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>>,
    queries: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    /// Answers with `ttl` seconds; names not in the table get NXDOMAIN.
    pub async fn start(ttl: u32) -> anyhow::Result<DnsServer> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let records: Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let (table, counter) = (records.clone(), queries.clone());
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else { continue };
                let Ok(request) = Message::from_vec(&buf[..n]) else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = answer(&request, &table, ttl);
                if let Ok(bytes) = answer.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Ok(DnsServer { addr, records, queries, task })
    }

    /// Makes `name` resolve to `ips` from now on.
    pub fn set(&self, name: &str, ips: &[Ipv4Addr]) {
        if let Ok(mut table) = self.records.lock() {
            table.insert(name.trim_end_matches('.').to_ascii_lowercase(), ips.to_vec());
        }
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

fn answer(request: &Message, table: &Mutex<HashMap<String, Vec<Ipv4Addr>>>, ttl: u32) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .add_queries(request.queries().to_vec());
    let mut code = ResponseCode::NoError;
    for query in request.queries() {
        let name = query.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let found = table.lock().ok().and_then(|t| t.get(&name).cloned());
        match found {
            None => code = ResponseCode::NXDomain,
            Some(ips) if query.query_type() == RecordType::A => {
                for ip in ips {
                    response.add_answer(Record::from_rdata(query.name().clone(), ttl, RData::A(A(ip))));
                }
            }
            Some(_) => {}
        }
    }
    response.set_response_code(code);
    response
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
