//! A DNS server for tests: answers `A` and `SRV` queries over UDP from tables the test changes while it
//! runs, with a fixed TTL, so tests can watch the gateway follow new answers. A name in either table
//! exists (other types get an empty answer); any other name gets NXDOMAIN.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One SRV entry: target name (or IP), port, weight, priority.
pub type SrvEntry = (String, u16, u16, u16);

/// The answers a server gives, by lower-case name without the trailing dot.
#[derive(Default)]
struct Tables {
    a: HashMap<String, Vec<Ipv4Addr>>,
    srv: HashMap<String, Vec<SrvEntry>>,
}

/// A running DNS server; it stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    records: Arc<Mutex<Tables>>,
    queries: Arc<AtomicUsize>,
    /// Every question asked, in order.
    asked: Arc<Mutex<Vec<(String, RecordType)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    /// Answers with `ttl` seconds; names not in the table get NXDOMAIN.
    pub async fn start(ttl: u32) -> anyhow::Result<DnsServer> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let records: Arc<Mutex<Tables>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let asked: Arc<Mutex<Vec<(String, RecordType)>>> = Arc::default();
        let (table, counter, log) = (records.clone(), queries.clone(), asked.clone());
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else { continue };
                let Ok(request) = Message::from_vec(&buf[..n]) else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut log) = log.lock() {
                    log.extend(request.queries().iter().map(|q| (key(&q.name().to_ascii()), q.query_type())));
                }
                let answer = answer(&request, &table, ttl);
                if let Ok(bytes) = answer.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Ok(DnsServer { addr, records, queries, asked, task })
    }

    /// Makes `name` resolve to `ips` from now on.
    pub fn set(&self, name: &str, ips: &[Ipv4Addr]) {
        if let Ok(mut table) = self.records.lock() {
            table.a.insert(key(name), ips.to_vec());
        }
    }

    /// Makes `name` answer SRV queries with `entries` from now on.
    pub fn set_srv(&self, name: &str, entries: &[SrvEntry]) {
        if let Ok(mut table) = self.records.lock() {
            table.srv.insert(key(name), entries.to_vec());
        }
    }

    /// Queries received so far for `name` and record type `kind` (`"A"`, `"SRV"`).
    pub fn queries_for(&self, name: &str, kind: &str) -> usize {
        let matches = |(n, k): &&(String, RecordType)| *n == key(name) && k.to_string() == kind;
        let asked = self.asked.lock().map(|a| a.iter().filter(matches).count());
        asked.unwrap_or(0)
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn answer(request: &Message, tables: &Mutex<Tables>, ttl: u32) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .add_queries(request.queries().to_vec());
    let mut code = ResponseCode::NoError;
    let Ok(tables) = tables.lock() else { return response };
    for query in request.queries() {
        let name = key(&query.name().to_ascii());
        let (a, srv) = (tables.a.get(&name), tables.srv.get(&name));
        if a.is_none() && srv.is_none() {
            code = ResponseCode::NXDomain;
        }
        let owner = query.name().clone();
        match query.query_type() {
            RecordType::A => {
                for ip in a.into_iter().flatten() {
                    response.add_answer(Record::from_rdata(owner.clone(), ttl, RData::A(A(*ip))));
                }
            }
            RecordType::SRV => {
                for (target, port, weight, priority) in srv.into_iter().flatten() {
                    let Ok(target) = Name::from_ascii(format!("{target}.")) else { continue };
                    let data = RData::SRV(SRV::new(*priority, *weight, *port, target));
                    response.add_answer(Record::from_rdata(owner.clone(), ttl, data));
                }
            }
            _ => {}
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
