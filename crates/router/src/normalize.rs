//! `kong/tools/uri.lua` as the router uses it: `normalize` (with slash merging) and `escape`.

use std::borrow::Cow;

/// Kong's request-path normalisation before routing (`normalize(uri, true)`): upper-case reserved `%XX`,
/// decode the others, remove dot segments, merge slashes. The model owns the one implementation, which route
/// validation uses too; borrows when nothing changes.
pub fn normalize_path(raw: &str) -> Cow<'_, str> {
    gatehouse_model::entities::uri::normalize(raw, true)
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
