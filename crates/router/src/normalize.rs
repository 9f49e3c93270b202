//! `kong/tools/uri.lua`: `normalize` (as called by the router, with slash merging) and `escape`.

use std::borrow::Cow;

/// RFC 3986 reserved characters plus `%`: Kong keeps them percent-encoded (upper-cased).
const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
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

/// RFC 3986 dot-segment removal with `//` merged, exactly as Kong's loop (segments keep their leading `/`).
fn remove_dots(mut uri: &[u8]) -> Vec<u8> {
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
        } else if at(0) == Some(b'/') && at(1) == Some(b'/') {
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

/// Kong's request-path normalisation before routing: upper-case reserved `%XX`, decode the others, remove
/// dot segments, merge slashes. Borrows when nothing changes (the usual case), so routing does not allocate.
/// Deviation: when decoding would yield invalid UTF-8, bytes >= 0x80 stay percent-encoded.
pub fn normalize_path(raw: &str) -> Cow<'_, str> {
    if raw.is_empty() || raw == "/" {
        return Cow::Borrowed(raw);
    }
    let has_pct = raw.contains('%');
    let needs_dots = raw.contains('.') || raw.contains("//");
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
    let has_dots = decoded.contains(&b'.') || decoded.windows(2).any(|w| w == b"//");
    let out = if has_dots { remove_dots(&decoded) } else { decoded.into_owned() };
    match String::from_utf8(out) {
        Ok(s) if s == raw => Cow::Borrowed(raw),
        Ok(s) => Cow::Owned(s),
        // Segments split on ASCII `/` only, so valid input stays valid; keep the raw path if not.
        Err(_) => Cow::Borrowed(raw),
    }
}

/// Kong's `escape` applied to the upstream URI: every byte outside
/// `!#$&'()*+,/:;=?@[]A-Za-z0-9-_.~%` is percent-encoded.
pub fn escape(uri: &str) -> Cow<'_, str> {
    fn keep(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@[]-_.~%".contains(&b)
    }
    if uri.bytes().all(keep) {
        return Cow::Borrowed(uri);
    }
    let mut out = String::with_capacity(uri.len() + 8);
    for b in uri.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    Cow::Owned(out)
}
