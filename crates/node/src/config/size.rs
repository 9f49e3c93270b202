//! nginx size syntax (`512`, `8k`, `10m`, `1g`), time syntax (`60s`, `1m30s`, `500ms`) and
//! `large_client_header_buffers` (`4 8k`).

use std::fmt;
use std::time::Duration;

/// Parses an nginx size into bytes: plain bytes, or a number followed by `k`, `m` or `g`
/// (case-insensitive, powers of 1024). Returns `None` for anything else or on overflow.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, multiplier) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1024u64),
        b'm' | b'M' => (&text[..text.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&text[..text.len() - 1], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// Parses an nginx time (`ngx_parse_time`): numbers each followed by a unit — `ms`, `s`, `m`, `h`,
/// `d`, `w`, `M` (30 days) or `y` (365 days) — or a plain number of seconds; `1h 30m` and `1m30s` add
/// up. Returns `None` for anything else or on overflow.
pub fn parse_time(text: &str) -> Option<Duration> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    let (mut total, mut at) = (0u64, 0usize);
    while at < bytes.len() {
        let digits = bytes[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = text[at..at + digits].parse().ok()?;
        at += digits;
        let unit = &text[at..];
        let (millis, unit_len): (u64, usize) = if unit.starts_with("ms") {
            (1, 2)
        } else {
            match unit.as_bytes().first() {
                // A plain number only as the whole value.
                None if digits == bytes.len() => (1000, 0),
                Some(b's') => (1000, 1),
                Some(b'm') => (60_000, 1),
                Some(b'h') => (3_600_000, 1),
                Some(b'd') => (86_400_000, 1),
                Some(b'w') => (7 * 86_400_000, 1),
                Some(b'M') => (30 * 86_400_000, 1),
                Some(b'y') => (365 * 86_400_000, 1),
                _ => return None,
            }
        };
        total = total.checked_add(n.checked_mul(millis)?)?;
        at += unit_len;
        at += bytes[at..].iter().take_while(|b| **b == b' ').count();
    }
    Some(Duration::from_millis(total))
}

/// `large_client_header_buffers`: number and size of the buffers for large request headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderBuffers {
    /// Number of buffers (at least 1).
    pub count: u32,
    /// Size of each buffer in bytes; also the maximum length of the request line and of one header.
    pub size: u64,
}

impl HeaderBuffers {
    /// Parses nginx syntax `<count> <size>`, e.g. `4 8k`.
    pub fn parse(text: &str) -> Option<HeaderBuffers> {
        let mut parts = text.split_whitespace();
        let count = parts.next()?.parse::<u32>().ok().filter(|c| *c > 0)?;
        let size = parse_size(parts.next()?).filter(|s| *s > 0)?;
        if parts.next().is_some() {
            return None;
        }
        Some(HeaderBuffers { count, size })
    }
}

impl fmt::Display for HeaderBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.count, format_size(self.size))
    }
}

/// Formats a byte count with the largest exact nginx unit (`8192` → `8k`).
pub fn format_size(bytes: u64) -> String {
    // Units are powers of two, so `bytes & (unit - 1) == 0` tests divisibility.
    const UNITS: [(u64, &str); 3] = [(1 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")];
    for (unit, suffix) in UNITS {
        if bytes != 0 && bytes & (unit - 1) == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}
