//! The record types Kong's DNS client tries, in `dns_order` (default `LAST,SRV,A,CNAME`), and what an SRV
//! answer means: Consul and Kubernetes publish services as SRV records, whose entries carry a port and a
//! weight. Kong (`kong/resty/dns/client.lua`) tries each type in turn: an empty answer or a name that does
//! not exist moves on to the next type, any other failure ends the lookup; `LAST` is the type that last
//! answered for the name; an SRV answer whose every entry points back at the name itself (what Kubernetes
//! publishes for each pod) counts as no answer; a CNAME is followed.

use std::net::IpAddr;

/// One word of `dns_order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The type that last gave an answer for the name (skipped before any did).
    Last,
    Srv,
    A,
    Aaaa,
    Cname,
}

impl RecordKind {
    /// Kong's default `dns_order`.
    pub const DEFAULT_ORDER: [RecordKind; 4] = [RecordKind::Last, RecordKind::Srv, RecordKind::A, RecordKind::Cname];

    /// A `dns_order` word, case-insensitive as Kong reads it.
    pub fn parse(word: &str) -> Option<RecordKind> {
        const WORDS: [(&str, RecordKind); 5] = [
            ("last", RecordKind::Last),
            ("srv", RecordKind::Srv),
            ("a", RecordKind::A),
            ("aaaa", RecordKind::Aaaa),
            ("cname", RecordKind::Cname),
        ];
        WORDS.iter().find(|(text, _)| text.eq_ignore_ascii_case(word.trim())).map(|&(_, kind)| kind)
    }

    pub(crate) fn record_type(self) -> hickory_resolver::proto::rr::RecordType {
        use hickory_resolver::proto::rr::RecordType;
        match self {
            RecordKind::Srv => RecordType::SRV,
            RecordKind::Aaaa => RecordType::AAAA,
            RecordKind::Cname => RecordType::CNAME,
            RecordKind::A | RecordKind::Last => RecordType::A,
        }
    }
}

/// One entry of an SRV answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvEntry {
    /// A host name or an IP literal, without the trailing dot.
    pub target: Box<str>,
    /// 0 means "use the port the service or target names", as Kong reads it.
    pub port: u16,
    pub weight: u16,
    pub priority: u16,
}

impl SrvEntry {
    /// The entry's share in weighted round-robin: Kong counts a weight of 0 as 1, so such an entry is
    /// picked rarely rather than never.
    pub fn effective_weight(&self) -> u32 {
        u32::from(self.weight.max(1))
    }

    /// The port to connect to: the entry's own, or `fallback` when the entry says 0.
    pub fn port_or(&self, fallback: u16) -> u16 {
        if self.port == 0 {
            fallback
        } else {
            self.port
        }
    }
}

/// What a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Records {
    /// Addresses (A/AAAA, the hosts file, or a CNAME's target's).
    Ips(Vec<IpAddr>),
    /// Only the entries of the lowest priority value: Kong never uses the others.
    Srv(Vec<SrvEntry>),
}

/// The entries of the best (lowest) priority, in the order the server gave them; none when every entry
/// points back at `name` (Kubernetes' per-pod records) or says "no service" (target `.`).
pub(crate) fn usable_srv(name: &str, mut entries: Vec<SrvEntry>) -> Vec<SrvEntry> {
    entries.retain(|e| !e.target.is_empty());
    if entries.iter().all(|e| e.target.eq_ignore_ascii_case(name)) {
        return Vec::new();
    }
    let best = entries.iter().map(|e| e.priority).min().unwrap_or(0);
    entries.retain(|e| e.priority == best);
    entries
}

/// A weighted round-robin over SRV entries without locks: a shared counter walks the cumulative weights,
/// so entry i takes weight(i) of every total-weight consecutive picks.
#[derive(Debug)]
pub(crate) struct WeightedTurns {
    /// Cumulative weights: entry i owns the counter values `ends[i-1]..ends[i]` (mod the total).
    ends: Vec<u64>,
}

impl WeightedTurns {
    pub(crate) fn new(entries: &[SrvEntry]) -> WeightedTurns {
        let mut total = 0u64;
        let ends = entries
            .iter()
            .map(|e| {
                total += u64::from(e.effective_weight());
                total
            })
            .collect();
        WeightedTurns { ends }
    }

    /// The index of the entry whose turn `counter` is; `None` only for no entries.
    pub(crate) fn index(&self, counter: usize) -> Option<usize> {
        let total = *self.ends.last()?;
        let position = counter as u64 % total;
        Some(self.ends.partition_point(|&end| end <= position))
    }
}

/// The name as written in answers and compared with SRV targets: lower case, no trailing dot.
pub(crate) fn bare_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: &str, port: u16, weight: u16, priority: u16) -> SrvEntry {
        SrvEntry { target: target.into(), port, weight, priority }
    }

    #[test]
    fn dns_order_words_are_read_case_insensitively() {
        assert_eq!(RecordKind::parse("LAST"), Some(RecordKind::Last));
        assert_eq!(RecordKind::parse("srv"), Some(RecordKind::Srv));
        assert_eq!(RecordKind::parse(" Aaaa "), Some(RecordKind::Aaaa));
        assert_eq!(RecordKind::parse("cname"), Some(RecordKind::Cname));
        assert_eq!(RecordKind::parse("MX"), None);
    }

    #[test]
    fn only_the_best_priority_counts_and_self_pointing_answers_are_none() {
        let entries = vec![entry("a.svc", 80, 1, 20), entry("b.svc", 81, 1, 10), entry("c.svc", 82, 5, 10)];
        let kept = usable_srv("name.svc", entries);
        assert_eq!(kept, vec![entry("b.svc", 81, 1, 10), entry("c.svc", 82, 5, 10)]);
        let pods = vec![entry("pod.svc", 80, 1, 0), entry("POD.svc", 81, 1, 0)];
        assert!(usable_srv("pod.svc", pods).is_empty());
        assert!(usable_srv("x.svc", vec![entry("", 0, 0, 0)]).is_empty());
    }

    #[test]
    fn turns_follow_the_weights_and_zero_counts_as_one() {
        let turns = WeightedTurns::new(&[entry("a", 1, 3, 0), entry("b", 2, 1, 0), entry("c", 3, 0, 0)]);
        let picks: Vec<usize> = (0..10).filter_map(|i| turns.index(i)).collect();
        assert_eq!(picks, vec![0, 0, 0, 1, 2, 0, 0, 0, 1, 2]);
        assert_eq!(WeightedTurns::new(&[]).index(3), None);
        assert_eq!(entry("a", 0, 1, 0).port_or(8080), 8080);
        assert_eq!(entry("a", 9000, 1, 0).port_or(8080), 9000);
    }
}
