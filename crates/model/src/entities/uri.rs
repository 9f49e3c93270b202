//! URL and path helpers reproducing LuaSocket 3.0-rc1 `socket.url.parse` and Kong's `kong/tools/uri.lua`
//! `normalize`, which the `url` typedef, the service `url` shorthand and router paths rely on.

use std::borrow::Cow;

/// The parts LuaSocket's `url.parse` extracts. Query, params, fragment and userinfo are parsed and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedUrl {
    pub scheme: Option<String>,
    pub host: Option<String>,
    /// The raw port text after the last `:` of the authority (may be empty or non-numeric).
    pub port: Option<String>,
    pub path: Option<String>,
}

/// LuaSocket's `url.parse`, step by step (no whitespace stripping). `None` only for an empty string.
pub fn parse_url(url: &str) -> Option<ParsedUrl> {
    if url.is_empty() {
        return None;
    }
    let mut parsed = ParsedUrl::default();
    // Fragment: everything from the first `#`.
    let mut rest = match url.find('#') {
        Some(i) => &url[..i],
        None => url,
    };
    // Scheme: `^([%w][%w%+%-%.]*):`.
    if let Some(i) = rest.find(':') {
        let candidate = &rest[..i];
        let mut bytes = candidate.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
        if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
            parsed.scheme = Some(candidate.to_string());
            rest = &rest[i + 1..];
        }
    }
    // Authority: `^//([^/]*)`.
    let mut authority = None;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        authority = Some(&after[..end]);
        rest = &after[end..];
    }
    // Query, then params.
    if let Some(i) = rest.find('?') {
        rest = &rest[..i];
    }
    if let Some(i) = rest.find(';') {
        rest = &rest[..i];
    }
    if !rest.is_empty() {
        parsed.path = Some(rest.to_string());
    }
    let Some(mut authority) = authority else {
        return Some(parsed);
    };
    // Userinfo: `^([^@]*)@`.
    if let Some(i) = authority.find('@') {
        authority = &authority[i + 1..];
    }
    // Port: `:([^:%]]*)$`.
    if let Some(i) = authority.rfind(':') {
        let tail = &authority[i + 1..];
        if !tail.contains(']') {
            parsed.port = Some(tail.to_string());
            authority = &authority[..i];
        }
    }
    if !authority.is_empty() {
        let inner = authority.strip_prefix('[').and_then(|a| a.strip_suffix(']')).filter(|a| !a.is_empty());
        parsed.host = Some(inner.unwrap_or(authority).to_string());
    }
    Some(parsed)
}

/// Lua's `tonumber` on a port string, for the decimal forms that occur in URLs.
pub fn lua_tonumber(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    t.parse::<f64>().ok()
}

/// RFC 3986 reserved characters (plus `%`), which `normalize` keeps percent-encoded.
const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `%XX` except reserved characters, whose triplet is upper-cased. With `ascii_only`, bytes
/// >= 0x80 stay encoded too (used when full decoding would not be UTF-8).
fn decode(raw: &str, ascii_only: bool) -> Vec<u8> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let v = h * 16 + l;
                if RESERVED.contains(&v) || (ascii_only && v >= 0x80) {
                    out.push(b'%');
                    out.push(b[i + 1].to_ascii_uppercase());
                    out.push(b[i + 2].to_ascii_uppercase());
                } else {
                    out.push(v);
                }
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// RFC 3986 dot-segment removal, exactly as Kong's loop (segments keep their leading `/`); with
/// `merge_slashes`, `//` collapses to `/`.
fn remove_dots(mut uri: &[u8], merge_slashes: bool) -> Vec<u8> {
    let mut segs: Vec<&[u8]> = Vec::new();
    while !uri.is_empty() {
        let at = |i: usize| uri.get(i).copied();
        if uri == b"/." {
            uri = b"/";
        } else if uri == b"/.." {
            uri = b"/";
            segs.pop();
        } else if uri == b"." || uri == b".." {
            uri = b"";
        } else if uri.starts_with(b"../") {
            uri = &uri[3..];
        } else if uri.starts_with(b"./") || uri.starts_with(b"/./") {
            // `./x` → `x`, `/./x` → `/x`: both drop two bytes.
            uri = &uri[2..];
        } else if uri.starts_with(b"/../") {
            uri = &uri[3..];
            segs.pop();
        } else if merge_slashes && at(0) == Some(b'/') && at(1) == Some(b'/') {
            uri = &uri[1..];
        } else {
            match uri.iter().skip(1).position(|&c| c == b'/') {
                Some(p) => {
                    segs.push(&uri[..p + 1]);
                    uri = &uri[p + 1..];
                }
                None => {
                    segs.push(uri);
                    uri = b"";
                }
            }
        }
    }
    segs.concat()
}

/// Kong's `normalize(uri, merge_slashes)` (`kong/tools/uri.lua`): decodes `%XX` of non-reserved characters,
/// upper-cases the reserved ones, removes dot segments and (optionally) merges repeated slashes. The router
/// normalises every request path with it and route validation checks configured paths against it, so both
/// agree by construction. Borrows when nothing changes (the usual case), so routing does not allocate.
/// Deviation: when decoding would yield invalid UTF-8, bytes >= 0x80 stay percent-encoded.
pub fn normalize(raw: &str, merge_slashes: bool) -> Cow<'_, str> {
    if raw.is_empty() || raw == "/" {
        return Cow::Borrowed(raw);
    }
    // One pass tells whether anything can change (most paths need nothing).
    let (mut has_pct, mut needs_dots, mut previous) = (false, false, 0u8);
    for &b in raw.as_bytes() {
        has_pct |= b == b'%';
        needs_dots |= b == b'.' || (merge_slashes && b == b'/' && previous == b'/');
        previous = b;
    }
    if !has_pct && !needs_dots {
        return Cow::Borrowed(raw);
    }
    let decoded: Cow<'_, [u8]> = if has_pct {
        let d = decode(raw, false);
        if std::str::from_utf8(&d).is_ok() {
            Cow::Owned(d)
        } else {
            Cow::Owned(decode(raw, true))
        }
    } else {
        Cow::Borrowed(raw.as_bytes())
    };
    let has_dots = decoded.contains(&b'.') || (merge_slashes && decoded.windows(2).any(|w| w == b"//"));
    let out = if has_dots { remove_dots(&decoded, merge_slashes) } else { decoded.into_owned() };
    match String::from_utf8(out) {
        Ok(s) if s == raw => Cow::Borrowed(raw),
        Ok(s) => Cow::Owned(s),
        // Segments split on ASCII `/` only, so valid input stays valid; keep the raw path if not.
        Err(_) => Cow::Borrowed(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_luasocket() {
        let p = parse_url("https://user@example.com:8443/a/b;x?q=1#frag").unwrap();
        assert_eq!(p.scheme.as_deref(), Some("https"));
        assert_eq!(p.host.as_deref(), Some("example.com"));
        assert_eq!(p.port.as_deref(), Some("8443"));
        assert_eq!(p.path.as_deref(), Some("/a/b"));
        let v6 = parse_url("http://[::1]:80").unwrap();
        assert_eq!((v6.host.as_deref(), v6.port.as_deref(), v6.path), (Some("::1"), Some("80"), None));
        let bare = parse_url("example.com").unwrap();
        assert_eq!((bare.scheme, bare.host, bare.path.as_deref()), (None, None, Some("example.com")));
        assert_eq!(parse_url("http://h:/").unwrap().port.as_deref(), Some(""));
    }

    #[test]
    fn normalizes_like_kong() {
        assert_eq!(normalize("/a/./b/../c", true), "/a/c");
        assert_eq!(normalize("/a//b", true), "/a/b");
        assert_eq!(normalize("/%7euser/%2f", true), "/~user/%2F");
        assert_eq!(normalize("/a/..", true), "/");
        assert_eq!(normalize("/a/b/", true), "/a/b/");
        assert_eq!(normalize("/..", true), "/");
    }
}
