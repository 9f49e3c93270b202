//! Kong's `normalize_ip` (`kong/tools/ip.lua`): classifies a `host[:port]` string as an IPv4 address, an
//! IPv6 address or a hostname, validates it and returns its normalised parts with Kong's error strings.

/// What kind of host a string names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    Ipv4,
    Ipv6,
    Name,
}

/// A validated host: IPv4 without leading zeros, IPv6 as 8 zero-padded lower-case groups without brackets,
/// or a hostname with its case preserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedHost {
    pub kind: HostKind,
    pub host: String,
    pub port: Option<u16>,
}

const INVALID_PORT: &str = "invalid port number";

/// Kong's `hostname_type`: more than one `:` is IPv6, digits and dots (after removing a single `:`) IPv4.
pub fn hostname_type(s: &str) -> HostKind {
    let colons = s.matches(':').count();
    if colons > 1 {
        return HostKind::Ipv6;
    }
    let rest: String = s.chars().filter(|c| *c != ':').collect();
    if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.') {
        HostKind::Ipv4
    } else {
        HostKind::Name
    }
}

/// Kong's `normalize_ip`: the error is one of `invalid ipv4 address: <s>`, `invalid ipv6 address: <s>`,
/// `invalid ipv6 address`, `invalid hostname: <s>` or `invalid port number`.
pub fn normalize_ip(s: &str) -> Result<NormalizedHost, String> {
    let kind = hostname_type(s);
    let (host, port) = match kind {
        HostKind::Ipv4 => normalize_ipv4(s)?,
        HostKind::Ipv6 => normalize_ipv6(s)?,
        HostKind::Name => check_hostname(s)?,
    };
    Ok(NormalizedHost { kind, host, port })
}

/// A decimal port; values above 65535 (including ones too long to parse) are `invalid port number`.
fn parse_port(digits: &str) -> Result<u16, String> {
    match digits.parse::<u64>() {
        Ok(n) if n <= 65535 => Ok(n as u16),
        _ => Err(INVALID_PORT.to_string()),
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn normalize_ipv4(s: &str) -> Result<(String, Option<u16>), String> {
    let invalid = || format!("invalid ipv4 address: {s}");
    let (addr, port) = match s.split_once(':') {
        Some((a, p)) if is_digits(p) => (a, Some(p)),
        Some(_) => return Err(invalid()),
        None => (s, None),
    };
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() != 4 || octets.iter().any(|o| !is_digits(o) || o.len() > 3) {
        return Err(invalid());
    }
    let mut values = [0u16; 4];
    for (v, o) in values.iter_mut().zip(&octets) {
        *v = o.parse().map_err(|_| invalid())?;
        if *v > 255 {
            return Err(invalid());
        }
    }
    let port = port.map(parse_port).transpose()?;
    Ok((format!("{}.{}.{}.{}", values[0], values[1], values[2], values[3]), port))
}

fn normalize_ipv6(s: &str) -> Result<(String, Option<u16>), String> {
    let (mut check, port) = match bracketed(s) {
        Some((inner, rest)) => {
            let port = if rest.is_empty() {
                None
            } else {
                match rest.strip_prefix(':') {
                    Some(p) if is_digits(p) => Some(parse_port(p)?),
                    _ => return Err("invalid ipv6 address".to_string()),
                }
            };
            (inner.to_string(), port)
        }
        None => (s.to_string(), None),
    };
    if check.starts_with(':') {
        check.insert(0, '0');
    }
    if check.ends_with(':') {
        check.push('0');
    }
    if check.contains("::") {
        let count = check.matches(':').count();
        let insert = format!(":{}", "0:".repeat(8usize.saturating_sub(count)));
        check = check.replacen("::", &insert, 1);
    }
    let groups: Vec<&str> = check.split(':').collect();
    let valid = groups.len() == 8
        && groups.iter().all(|g| (1..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(format!("invalid ipv6 address: {s}"));
    }
    let padded: Vec<String> = groups.iter().map(|g| format!("{:0>4}", g.to_ascii_lowercase())).collect();
    Ok((padded.join(":"), port))
}

/// Lua's `^(%b[])(.-)$`: a leading balanced `[...]` and whatever follows it.
fn bracketed(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with('[') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

fn check_hostname(s: &str) -> Result<(String, Option<u16>), String> {
    let mut name = s;
    let mut port = None;
    if let Some((head, tail)) = s.rsplit_once(':') {
        if is_digits(tail) {
            name = head;
            port = Some(parse_port(tail)?);
        }
    }
    let invalid = || format!("invalid hostname: {s}");
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        return Err(invalid());
    }
    let segments: Vec<&str> = name.split('.').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if segment.ends_with('-') || (segment.is_empty() && i != last) {
            return Err(invalid());
        }
    }
    Ok((name.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (HostKind, String, Option<u16>) {
        let n = normalize_ip(s).unwrap();
        (n.kind, n.host, n.port)
    }

    #[test]
    fn ipv4_drops_leading_zeros_and_checks_ranges() {
        assert_eq!(ok("001.002.003.004"), (HostKind::Ipv4, "1.2.3.4".into(), None));
        assert_eq!(ok("10.0.0.1:8080"), (HostKind::Ipv4, "10.0.0.1".into(), Some(8080)));
        assert_eq!(normalize_ip("1.2.3.256").unwrap_err(), "invalid ipv4 address: 1.2.3.256");
        assert_eq!(normalize_ip("1.2.3").unwrap_err(), "invalid ipv4 address: 1.2.3");
        assert_eq!(normalize_ip("1.2.3.4:70000").unwrap_err(), "invalid port number");
    }

    #[test]
    fn ipv6_is_expanded() {
        assert_eq!(ok("::1"), (HostKind::Ipv6, "0000:0000:0000:0000:0000:0000:0000:0001".into(), None));
        assert_eq!(
            ok("[2001:DB8::]:443"),
            (HostKind::Ipv6, "2001:0db8:0000:0000:0000:0000:0000:0000".into(), Some(443))
        );
        assert_eq!(normalize_ip("[::1]x").unwrap_err(), "invalid ipv6 address");
        assert_eq!(normalize_ip("[::1]:99999").unwrap_err(), "invalid port number");
        assert_eq!(normalize_ip("::g").unwrap_err(), "invalid ipv6 address: ::g");
    }

    #[test]
    fn hostnames_keep_case_and_reject_bad_segments() {
        assert_eq!(ok("Example.COM:80"), (HostKind::Name, "Example.COM".into(), Some(80)));
        assert_eq!(ok("example.com."), (HostKind::Name, "example.com.".into(), None));
        assert_eq!(normalize_ip("a..b").unwrap_err(), "invalid hostname: a..b");
        assert_eq!(normalize_ip("ab-.c").unwrap_err(), "invalid hostname: ab-.c");
        assert_eq!(normalize_ip("exa^mple").unwrap_err(), "invalid hostname: exa^mple");
        assert_eq!(normalize_ip("example.com:65536").unwrap_err(), "invalid port number");
    }
}
