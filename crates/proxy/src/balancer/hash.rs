//! Hash inputs (Kong's `get_value_to_hash`), xxhash32 (the hash Kong's continuum uses) and the construction
//! of the round-robin wheel and the consistent-hashing ring.

use super::config::{HashSource, UpstreamConfig};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

/// A request-data lookup by name (header, cookie, query argument or URI capture); returning borrowed
/// text keeps `pick` free of allocations.
pub type Lookup<'a> = &'a (dyn Fn(&str) -> Option<&'a str> + 'a);

/// The request data consistent hashing may use; every field is optional so callers fill only what they have.
#[derive(Clone, Copy, Default)]
pub struct HashInput<'a> {
    /// Client address as Kong's `remote_addr` (after trusted-IP processing), for `hash_on = ip`.
    pub client_ip: Option<IpAddr>,
    /// Authenticated consumer id, or the credential id when there is no consumer, for `hash_on = consumer`.
    pub consumer_id: Option<&'a str>,
    /// Request header by lower-case name; several headers of one name should be joined with ", " as nginx does.
    pub header: Option<Lookup<'a>>,
    /// Request cookie by name.
    pub cookie: Option<Lookup<'a>>,
    /// Normalised request path (nginx `$uri`), for `hash_on = path`.
    pub path: &'a str,
    /// Query argument by name; Kong turns a bare `?flag` into "true" and joins repeated args sorted with ",".
    pub query_arg: Option<Lookup<'a>>,
    /// Router URI capture by group name or number.
    pub uri_capture: Option<Lookup<'a>>,
}

const P1: u32 = 2_654_435_761;
const P2: u32 = 2_246_822_519;
const P3: u32 = 3_266_489_917;
const P4: u32 = 668_265_263;
const P5: u32 = 374_761_393;

fn read32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

fn round(acc: u32, input: u32) -> u32 {
    acc.wrapping_add(input.wrapping_mul(P2)).rotate_left(13).wrapping_mul(P1)
}

/// XXH32 with seed 0, as `luaxxhash`, so keys land on the same ring positions as in Kong.
pub fn xxhash32(input: &[u8]) -> u32 {
    let len = input.len();
    let mut rest = input;
    let mut h = if len >= 16 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u32.wrapping_sub(P1)];
        while rest.len() >= 16 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, read32(&rest[i * 4..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        P5
    };
    h = h.wrapping_add(len as u32);
    while rest.len() >= 4 {
        h = h.wrapping_add(read32(rest).wrapping_mul(P3)).rotate_left(17).wrapping_mul(P4);
        rest = &rest[4..];
    }
    for &byte in rest {
        h = h.wrapping_add(u32::from(byte).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

fn lookup<'a>(f: Option<Lookup<'a>>, name: &str) -> Option<&'a str> {
    f.and_then(|f| f(name))
}

/// The hash of the request's key and, when a hash cookie had to be invented, the `Set-Cookie` value.
pub(crate) fn request_hash(cfg: &UpstreamConfig, input: &HashInput<'_>) -> (u32, Option<String>) {
    for source in [&cfg.hash_on, &cfg.hash_fallback] {
        let found = match source {
            HashSource::None => break,
            HashSource::Consumer => input.consumer_id,
            HashSource::Ip => {
                if let Some(ip) = input.client_ip {
                    let mut buf = [0u8; 64];
                    let mut cursor = &mut buf[..];
                    let written = match write!(cursor, "{ip}") {
                        Ok(()) => 64 - cursor.len(),
                        Err(_) => 0,
                    };
                    return (xxhash32(&buf[..written]), None);
                }
                None
            }
            HashSource::Header(name) => lookup(input.header, name),
            HashSource::Cookie => match lookup(input.cookie, &cfg.cookie_name) {
                Some(value) => Some(value),
                None => {
                    // Kong invents the key and asks the client to send it back on later requests.
                    let value = uuid::Uuid::new_v4().to_string();
                    let cookie =
                        format!("{}={}; Path={}; Same-Site=Lax; HttpOnly", cfg.cookie_name, value, cfg.cookie_path);
                    return (xxhash32(value.as_bytes()), Some(cookie));
                }
            },
            HashSource::Path => Some(input.path),
            HashSource::QueryArg(name) => lookup(input.query_arg, name),
            HashSource::UriCapture(name) => lookup(input.uri_capture, name),
        };
        if let Some(value) = found {
            return (xxhash32(value.as_bytes()), None);
        }
    }
    // Kong hashes the empty string when no value was found.
    (xxhash32(b""), None)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Largest wheel built; bigger weight ratios are scaled down proportionally (each address keeps ≥ 1 slot).
const MAX_WHEEL: u64 = 1 << 20;

/// Builds the round-robin wheel: each address appears `weight / gcd` times, spread evenly (an address with
/// `p` points sits at fractions (2k+1)/2p of the cycle, ties by address order) so the order is smooth and
/// deterministic, and any `sum(points)` consecutive picks follow the weights exactly.
pub(crate) fn build_wheel(weights: &[(usize, u32)]) -> Vec<u32> {
    let divisor = weights.iter().fold(0u64, |g, &(_, w)| gcd(g, u64::from(w)));
    if divisor == 0 {
        return Vec::new();
    }
    let mut points: Vec<(usize, u64)> = weights.iter().map(|&(i, w)| (i, u64::from(w) / divisor)).collect();
    let total: u64 = points.iter().map(|p| p.1).sum();
    if total > MAX_WHEEL {
        for p in &mut points {
            p.1 = (p.1 * MAX_WHEEL / total).max(1);
        }
    }
    // (numerator, denominator, order, entry index)
    let mut slots: Vec<(u64, u64, usize, usize)> = Vec::new();
    for (order, &(index, count)) in points.iter().enumerate() {
        for k in 0..count {
            slots.push((2 * k + 1, 2 * count, order, index));
        }
    }
    slots.sort_by(|a, b| {
        (u128::from(a.0) * u128::from(b.1)).cmp(&(u128::from(b.0) * u128::from(a.1))).then(a.2.cmp(&b.2))
    });
    slots.into_iter().map(|s| s.3 as u32).collect()
}

/// Marks an empty ring position.
pub(crate) const EMPTY: u32 = u32::MAX;

/// One address as the continuum sees it.
pub(crate) struct RingMember<'a> {
    pub index: usize,
    pub target_name: &'a str,
    pub target_port: u16,
    pub addr: SocketAddr,
    pub weight: u32,
}

fn ip_text(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// Kong's continuum: `points` positions; each address gets `floor(weight/total * targets * 160)` (≥ 1)
/// points at `xxhash32("<ip>::<port> <i>") % points`, collisions pushing the problem forward. Members are
/// sorted by target name/port and then by "ip:port" text first, as Kong does, so the ring is stable.
pub(crate) fn build_ring(members: &mut [RingMember<'_>], targets_count: usize, points: usize) -> Vec<u32> {
    const SERVER_POINTS: f64 = 160.0;
    let mut ring = vec![EMPTY; points];
    let total: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
    if total == 0 || points == 0 {
        return ring;
    }
    members.sort_by(|a, b| {
        (a.target_name, a.target_port).cmp(&(b.target_name, b.target_port)).then_with(|| {
            format!("{}:{}", ip_text(&a.addr), a.addr.port()).cmp(&format!("{}:{}", ip_text(&b.addr), b.addr.port()))
        })
    });
    let mut used = 0usize;
    'members: for m in members.iter() {
        let share = f64::from(m.weight) / total as f64;
        let mut entries = (share * targets_count as f64 * SERVER_POINTS).floor() as usize;
        if m.weight > 0 && entries == 0 {
            entries = 1;
        }
        let prefix = format!("{}::{} ", ip_text(&m.addr), m.addr.port());
        let mut i = 1usize;
        while i <= entries {
            if used >= points || i > points {
                tracing::error!("consistent-hashing ring is too small for the targets; increase `slots`");
                break 'members;
            }
            let name = format!("{prefix}{i}");
            let pos = (xxhash32(name.as_bytes()) as usize) % points;
            if ring[pos] == EMPTY {
                ring[pos] = m.index as u32;
                used += 1;
            } else {
                entries += 1;
            }
            i += 1;
        }
    }
    ring
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balancer_xxhash32_reference_vectors() {
        assert_eq!(xxhash32(b""), 0x02CC_5D05);
        assert_eq!(xxhash32(b"a"), 0x550D_7456);
        assert_eq!(xxhash32(b"abc"), 0x32D1_53FF);
        assert_eq!(xxhash32(b"Nobody inspects the spammish repetition"), 0xE229_3B2F);
    }

    #[test]
    fn balancer_wheel_is_smooth() {
        let wheel = build_wheel(&[(0, 100), (1, 200), (2, 300)]);
        assert_eq!(wheel, vec![2, 1, 0, 2, 1, 2]);
    }
}
