//! URL and path helpers reproducing LuaSocket 3.0-rc1 `socket.url.parse` and Kong's `kong/tools/uri.lua`
//! `normalize`, which the `url` typedef, the service `url` shorthand and router paths rely on.

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

/// Kong's `normalize(uri, merge_slashes)`: decodes `%XX` of non-reserved characters, upper-cases the
/// reserved ones, removes dot segments and (optionally) merges repeated slashes.
pub fn normalize(uri: &str, merge_slashes: bool) -> String {
    if uri.is_empty() || uri == "/" {
        return uri.to_string();
    }
    let mut bytes = uri.as_bytes().to_vec();
    if bytes.contains(&b'%') {
        bytes = percent_decode_unreserved(&bytes);
    }
    if !bytes.contains(&b'.') && (!merge_slashes || !bytes.windows(2).any(|w| w == b"//")) {
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let mut output: Vec<Vec<u8>> = Vec::new();
    let mut rest: &[u8] = &bytes;
    while !rest.is_empty() {
        let at = |i: usize| rest.get(i).copied();
        if rest == b"/." {
            rest = b"/";
        } else if rest == b"/.." {
            rest = b"/";
            output.pop();
        } else if rest == b"." || rest == b".." {
            rest = b"";
        } else if at(0) == Some(b'.') && at(1) == Some(b'.') && at(2) == Some(b'/') {
            rest = &rest[3..];
        } else if (at(0) == Some(b'.') && at(1) == Some(b'/'))
            || (at(0) == Some(b'/') && at(1) == Some(b'.') && at(2) == Some(b'/'))
        {
            // `./` is dropped; `/./` becomes `/`.
            rest = &rest[2..];
        } else if at(0) == Some(b'/') && at(1) == Some(b'.') && at(2) == Some(b'.') && at(3) == Some(b'/') {
            rest = &rest[3..];
            output.pop();
        } else if merge_slashes && at(0) == Some(b'/') && at(1) == Some(b'/') {
            rest = &rest[1..];
        } else {
            match rest.iter().skip(1).position(|b| *b == b'/') {
                Some(p) => {
                    output.push(rest[..p + 1].to_vec());
                    rest = &rest[p + 1..];
                }
                None => {
                    output.push(rest.to_vec());
                    rest = b"";
                }
            }
        }
    }
    String::from_utf8_lossy(&output.concat()).into_owned()
}

fn percent_decode_unreserved(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = if bytes[i] == b'%' && i + 2 < bytes.len() { hex_pair(bytes[i + 1], bytes[i + 2]) } else { None };
        if let Some(n) = pair {
            if RESERVED.contains(&n) {
                out.push(b'%');
                out.push(bytes[i + 1].to_ascii_uppercase());
                out.push(bytes[i + 2].to_ascii_uppercase());
            } else {
                out.push(n);
            }
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_pair(a: u8, b: u8) -> Option<u8> {
    let h = |c: u8| (c as char).to_digit(16);
    Some((h(a)? * 16 + h(b)?) as u8)
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
