//! An upstream response's header fields as they came over a pooled connection, without a header map:
//! the lines the client is to see, moved together inside the head's own buffer. Relaying them costs one
//! copy, where building a map cost a name parse, a hash and an insert per header and the map's
//! allocation (about a seventh of a proxied request's instructions). A map is built only when something
//! needs one: plugins, a balancer's cookie, hyper's server.

use crate::h1_codec::{header_at, FramingHeaders, HeaderIndices, Span, MAX_HEADERS};
use crate::headers::{connection_tokens, field_kind, is_te_trailers, FieldKind, CONNECTION_INDEX, TE_INDEX};
use bytes::{Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH};

/// The fields of one response head, hop-by-hop headers and `Content-Length` left out.
#[derive(Debug, Default)]
pub(crate) struct RawFields {
    /// `name: value` lines as the upstream wrote them, each ending in CRLF.
    lines: Bytes,
    /// The announced length, sent again by whoever frames the client's response.
    content_length: Option<u64>,
    has_date: bool,
    has_server: bool,
    /// Some field is an `X-Kong-*` header, which the proxy may have to replace.
    has_kong_headers: bool,
}

/// What is known of each header of a head before its fields are moved.
pub(crate) struct Classified {
    /// Whether each header stays (indexed as the head's headers).
    keep: [bool; MAX_HEADERS],
    has_date: bool,
    has_server: bool,
    has_kong_headers: bool,
}

impl RawFields {
    /// Which headers of a parsed head stay: all but `Content-Length` and, when `strip`, the hop-by-hop
    /// ones and those a `Connection` header names (`TE: trailers` stays). The framing headers are noted
    /// into `framing` on the way.
    pub fn classify(head: &[u8], spans: &[HeaderIndices], strip: bool, framing: &mut FramingHeaders) -> Classified {
        let mut classified =
            Classified { keep: [false; MAX_HEADERS], has_date: false, has_server: false, has_kong_headers: false };
        for (keep, &(name, value)) in classified.keep.iter_mut().zip(spans) {
            let kind = field_kind(&head[name.range()]);
            let value = &head[value.range()];
            framing.note(kind, value);
            *keep = match kind {
                FieldKind::ContentLength => false,
                FieldKind::HopByHop(_) if !strip => true,
                FieldKind::HopByHop(i) => i == TE_INDEX && is_te_trailers(value),
                FieldKind::Date => {
                    classified.has_date = true;
                    true
                }
                FieldKind::Server => {
                    classified.has_server = true;
                    true
                }
                FieldKind::Kong => {
                    classified.has_kong_headers = true;
                    true
                }
                FieldKind::Other => true,
            };
        }
        if strip && framing.names_others {
            // Rare: `Connection` names headers of its own, whose lines go too.
            let is_connection = |name: Span| field_kind(&head[name.range()]) == FieldKind::HopByHop(CONNECTION_INDEX);
            let connections: Vec<&[u8]> =
                spans.iter().filter(|(name, _)| is_connection(*name)).map(|(_, value)| &head[value.range()]).collect();
            for (keep, &(name, _)) in classified.keep.iter_mut().zip(spans) {
                let name = &head[name.range()];
                if connections.iter().any(|value| connection_tokens(value).any(|t| t.eq_ignore_ascii_case(name))) {
                    *keep = false;
                }
            }
        }
        classified
    }

    /// Takes the head (its first `length` bytes) out of `buf` with the kept fields moved together, each
    /// line ending in CRLF. Lines move towards the start of the head, so nothing unread is overwritten;
    /// a line whose CRLF would not fit (a head with bare LF line ends) sends the rest to a new buffer.
    pub fn take(
        buf: &mut BytesMut,
        length: usize,
        spans: &[HeaderIndices],
        classified: &Classified,
        content_length: Option<u64>,
    ) -> RawFields {
        let fields_end = length - if buf[..length].ends_with(b"\r\n") { 2 } else { 1 };
        let first = spans.first().map_or(fields_end, |(name, _)| name.range().start);
        let mut cursor = first;
        let mut spilled: Option<Vec<u8>> = None;
        for (i, &(name, value)) in spans.iter().enumerate() {
            if !classified.keep[i] {
                continue;
            }
            let line = name.range().start..value.range().end;
            let next = spans.get(i + 1).map_or(fields_end, |(name, _)| name.range().start);
            match &mut spilled {
                Some(out) => {
                    out.extend_from_slice(&buf[line]);
                    out.extend_from_slice(b"\r\n");
                }
                None if cursor + line.len() + 2 <= next => {
                    let len = line.len();
                    buf.copy_within(line, cursor);
                    buf[cursor + len..cursor + len + 2].copy_from_slice(b"\r\n");
                    cursor += len + 2;
                }
                None => {
                    let mut out = Vec::with_capacity(length);
                    out.extend_from_slice(&buf[first..cursor]);
                    out.extend_from_slice(&buf[line]);
                    out.extend_from_slice(b"\r\n");
                    spilled = Some(out);
                }
            }
        }
        let head = buf.split_to(length).freeze();
        let lines = match spilled {
            Some(out) => Bytes::from(out),
            None => head.slice(first..cursor),
        };
        RawFields {
            lines,
            content_length,
            has_date: classified.has_date,
            has_server: classified.has_server,
            has_kong_headers: classified.has_kong_headers,
        }
    }

    /// The lines to relay, each ending in CRLF.
    pub fn lines(&self) -> &[u8] {
        &self.lines
    }

    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    pub fn has_date(&self) -> bool {
        self.has_date
    }

    pub fn has_server(&self) -> bool {
        self.has_server
    }

    pub fn has_kong_headers(&self) -> bool {
        self.has_kong_headers
    }

    /// The fields as a header map (values share the head's bytes), `Content-Length` last.
    pub fn into_map(self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.lines.split(|&b| b == b'\n').count() + 6);
        let base = self.lines.as_ptr() as usize;
        for line in self.lines.split(|&b| b == b'\n').filter_map(|l| l.strip_suffix(b"\r")) {
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            let spans = (Span::of(base, &line[..colon]), Span::of(base, line[colon + 1..].trim_ascii_start()));
            // httparse admitted exactly the bytes `http` does, so this does not fail.
            if let Ok((name, value)) = header_at(&self.lines, spans) {
                map.append(name, value);
            }
        }
        if let Some(length) = self.content_length {
            map.insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        map
    }
}

#[cfg(test)]
#[path = "raw_fields_tests.rs"]
mod tests;
