//! HTTP/1.1 framing for upstream connections: the request head as sent, the response head as parsed with
//! RFC 9112's rules for the body length, and chunked bodies both ways. Parsing is httparse's; a response
//! head's fields are kept as its own lines ([`RawFields`]), and a map built from them shares their bytes.

use crate::headers::{self, FieldKind, Forwarded, CONNECTION_INDEX, FORWARDED_LINE_STARTS, TRANSFER_ENCODING_INDEX};
use crate::raw_fields::RawFields;
use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use hyper::{Method, StatusCode, Version};
use std::io::Write as _;
use std::mem::MaybeUninit;

/// Most headers accepted in a response head (hyper's client default).
pub(crate) const MAX_HEADERS: usize = 100;
/// Largest response head accepted (hyper's client default buffer limit).
pub(crate) const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;

/// Why an upstream message cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("invalid response head from upstream: {0}")]
    Parse(#[from] httparse::Error),
    #[error("upstream response head is larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("invalid upstream response: {0}")]
    Invalid(&'static str),
    #[error("invalid chunked framing in upstream body")]
    ChunkSize,
}

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection (no length given).
    UntilClose,
}

/// How the request body goes out: the framing, and the header announcing it when the request had none.
pub(crate) fn request_framing(
    headers: &HeaderMap,
    body_ended: bool,
    exact_size: Option<u64>,
) -> (Framing, &'static [u8]) {
    if body_ended {
        return (Framing::Empty, b"");
    }
    if let Some(length) = content_length(headers).ok().flatten() {
        return (Framing::Length(length), b"");
    }
    match exact_size {
        // The header is written by the caller, which knows the number.
        Some(length) => (Framing::Length(length), b"content-length: "),
        None => (Framing::Chunked, b"transfer-encoding: chunked\r\n"),
    }
}

/// What the request line and the client's headers come from.
pub(crate) struct Head<'a> {
    pub method: &'a Method,
    /// Origin form, with the query.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
}

/// Writes the request line and headers: the request's own, but those `forwarded` replaces, then
/// `forwarded`'s. `extra` is a framing header the request did not carry; a `content-length: ` prefix is
/// completed with `length`.
pub(crate) fn encode_request_head(
    dst: &mut Vec<u8>,
    head: &Head<'_>,
    forwarded: &Forwarded<'_>,
    (extra, length): (&[u8], u64),
) {
    dst.extend_from_slice(head.method.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(if head.path.is_empty() { b"/" } else { head.path.as_bytes() });
    dst.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in head.headers {
        if !forwarded.replaces(head.headers, name) {
            dst.extend_from_slice(name.as_str().as_bytes());
            dst.extend_from_slice(b": ");
            dst.extend_from_slice(value.as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
    }
    forwarded.each(head.headers, |i, value| {
        if let Some(value) = value {
            dst.extend_from_slice(FORWARDED_LINE_STARTS[i]);
            dst.extend_from_slice(value);
            dst.extend_from_slice(b"\r\n");
        }
    });
    if !extra.is_empty() {
        dst.extend_from_slice(extra);
        if extra.starts_with(b"content-length") {
            let _ = write!(dst, "{length}\r\n");
        }
    }
    dst.extend_from_slice(b"\r\n");
}

/// Frames one piece of a chunked body: the size line before the data (the data itself goes as it is).
pub(crate) fn chunk_prefix(dst: &mut Vec<u8>, len: usize) {
    let _ = write!(dst, "{len:x}\r\n");
}

/// A parsed response head.
pub(crate) struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    /// The fields, without hop-by-hop headers: the proxy frames the client's response itself.
    pub fields: RawFields,
    pub framing: Framing,
    /// The connection may carry another request once this response is read.
    pub keep_alive: bool,
}

/// Parses a response head at the start of `buf`, removing it from the buffer. `Ok(None)` means more
/// bytes are needed. Informational responses (1xx other than 101) are skipped, as a client should.
pub(crate) fn parse_response(buf: &mut BytesMut, method: &Method) -> Result<Option<ResponseHead>, CodecError> {
    let mut spans = Spans::new();
    loop {
        let Some((length, status, version)) = parse_one(buf, &mut spans)? else { return Ok(None) };
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            buf.advance(length);
            continue;
        }
        let spans = &spans[..];
        let mut framing_headers = FramingHeaders::default();
        // A 101's hop-by-hop headers are the tunnel's and stay.
        let strip = status != StatusCode::SWITCHING_PROTOCOLS;
        let classified = RawFields::classify(&buf[..length], spans, strip, &mut framing_headers);
        let framing = framing_headers.response_framing(method, status)?;
        let keep_alive = match version {
            Version::HTTP_11 => !framing_headers.close,
            _ => !framing_headers.close && framing_headers.keep_alive,
        } && framing != Framing::UntilClose
            && status != StatusCode::SWITCHING_PROTOCOLS;
        // RFC 9112 §6.3: a Content-Length beside Transfer-Encoding is not forwarded.
        let content_length = match framing_headers.chunked {
            Some(_) => None,
            None => framing_headers.content_length().ok().flatten(),
        };
        let fields = RawFields::take(buf, length, spans, &classified, content_length);
        return Ok(Some(ResponseHead { status, version, fields, framing, keep_alive }));
    }
}

/// Where a piece of a head (a header's name or value, a request target) lies in the buffer it was parsed
/// from, so that the head can be split off as shared bytes and the pieces sliced from it. Heads are far
/// below 4 GiB.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span(u32, u32);

impl Span {
    /// The span of `piece`, a slice of the buffer that starts at address `base`.
    pub fn of(base: usize, piece: &[u8]) -> Span {
        let start = piece.as_ptr() as usize - base;
        Span(start as u32, (start + piece.len()) as u32)
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.0 as usize..self.1 as usize
    }
}

/// Byte ranges of a header's name and value in the head.
pub(crate) type HeaderIndices = (Span, Span);

/// The header spans of one head: most heads have few headers, kept without zeroing room for a hundred.
pub(crate) type Spans = smallvec::SmallVec<[HeaderIndices; 16]>;

/// The header at `spans` in `head` (its value shares `head`'s bytes), or which part `http` refuses.
pub(crate) fn header_at(head: &Bytes, (name, value): HeaderIndices) -> Result<(HeaderName, HeaderValue), &'static str> {
    let name = HeaderName::from_bytes(&head[name.range()]).map_err(|_| "header name")?;
    let value = HeaderValue::from_maybe_shared(head.slice(value.range())).map_err(|_| "header value")?;
    Ok((name, value))
}

/// Parses one response head at the start of `buf` into `spans` (positions in `buf`): the head's length,
/// status and version. The head stays in the buffer.
fn parse_one(buf: &BytesMut, spans: &mut Spans) -> Result<Option<(usize, StatusCode, Version)>, CodecError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let base = buf.as_ptr() as usize;
    let parsed =
        match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut slots)? {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial if buf.len() >= MAX_HEAD_BYTES => return Err(CodecError::HeadTooLarge),
            httparse::Status::Partial => return Ok(None),
        };
    let status = response.code.and_then(|c| StatusCode::from_u16(c).ok()).ok_or(CodecError::Invalid("status"))?;
    let version = if response.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
    spans.clear();
    spans.extend(response.headers.iter().map(|h| (Span::of(base, h.name.as_bytes()), Span::of(base, h.value))));
    Ok(Some((parsed, status, version)))
}

/// What a head's framing headers say, noted as its headers are read, so that no lookups follow.
#[derive(Default)]
pub(crate) struct FramingHeaders {
    /// Whether the final coding of the last `Transfer-Encoding` is `chunked`; `None` without the header.
    chunked: Option<bool>,
    /// The `Content-Length`: every value (and list item) must be the same number.
    length: Option<u64>,
    bad_length: bool,
    /// `Connection` lists `close`, or `keep-alive`.
    close: bool,
    keep_alive: bool,
    /// `Connection` names other headers (which are hop-by-hop then).
    pub names_others: bool,
}

impl FramingHeaders {
    /// Notes a header by its kind (told once per header, for this and the relay decision alike).
    pub fn note(&mut self, kind: FieldKind, value: &[u8]) {
        match kind {
            FieldKind::ContentLength => {
                for item in value.split(|&b| b == b',') {
                    match decimal(item.trim_ascii()) {
                        Some(n) if self.length.is_none_or(|l| l == n) => self.length = Some(n),
                        _ => self.bad_length = true,
                    }
                }
            }
            FieldKind::HopByHop(TRANSFER_ENCODING_INDEX) => {
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                self.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
            // Most values are one of the two tokens alone.
            FieldKind::HopByHop(CONNECTION_INDEX) if value.eq_ignore_ascii_case(b"keep-alive") => {
                self.keep_alive = true
            }
            FieldKind::HopByHop(CONNECTION_INDEX) if value.eq_ignore_ascii_case(b"close") => self.close = true,
            FieldKind::HopByHop(CONNECTION_INDEX) => {
                self.close |= has_token(value, b"close");
                self.keep_alive |= has_token(value, b"keep-alive");
                self.names_others |= headers::connection_tokens(value).next().is_some();
            }
            _ => {}
        }
    }

    /// The `Content-Length`, when present and valid.
    fn content_length(&self) -> Result<Option<u64>, CodecError> {
        match self.bad_length {
            true => Err(CodecError::Invalid("content-length")),
            false => Ok(self.length),
        }
    }

    /// RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; a final `chunked` coding; else `Content-Length`
    /// (conflicting values are an error); else until the connection closes.
    fn response_framing(&self, method: &Method, status: StatusCode) -> Result<Framing, CodecError> {
        if method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(Framing::Empty);
        }
        if let Some(chunked) = self.chunked {
            return Ok(if chunked { Framing::Chunked } else { Framing::UntilClose });
        }
        Ok(match self.content_length()? {
            Some(0) => Framing::Empty,
            Some(length) => Framing::Length(length),
            None => Framing::UntilClose,
        })
    }
}

/// The `Content-Length` of a header map, when present: every value (and list item) must be the same number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, CodecError> {
    let mut noted = FramingHeaders::default();
    for value in headers.get_all(CONTENT_LENGTH) {
        noted.note(FieldKind::ContentLength, value.as_bytes());
    }
    noted.content_length()
}

/// A non-empty run of ASCII digits as a number (`None` for anything else, or past `u64::MAX`).
fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// Whether a comma-separated header value lists `token` (case-insensitively).
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    // A value that is just one token (the usual `Connection` header) needs no splitting.
    if !value.contains(&b',') {
        return value.trim_ascii().eq_ignore_ascii_case(token);
    }
    value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Where a chunked body's reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data, expecting its CRLF.
    DataEnd,
    /// After the last chunk: trailer fields up to an empty line.
    Trailers,
    Done,
}

/// One step of decoding from `buf`.
pub(crate) enum Decoded {
    Data(Bytes),
    Trailers(HeaderMap),
    /// Needs more bytes.
    More,
    End,
}

impl Chunked {
    /// Decodes what `buf` holds, consuming it; `Decoded::More` when a whole step is not there yet.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, CodecError> {
        loop {
            match *self {
                Chunked::Size => match httparse::parse_chunk_size(buf).map_err(|_| CodecError::ChunkSize)? {
                    httparse::Status::Complete((used, size)) => {
                        buf.advance(used);
                        *self = if size == 0 { Chunked::Trailers } else { Chunked::Data(size) };
                    }
                    httparse::Status::Partial if buf.len() > 4096 => return Err(CodecError::ChunkSize),
                    httparse::Status::Partial => return Ok(Decoded::More),
                },
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let left = left - take as u64;
                    *self = if left == 0 { Chunked::DataEnd } else { Chunked::Data(left) };
                    return Ok(Decoded::Data(buf.split_to(take).freeze()));
                }
                Chunked::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(CodecError::ChunkSize);
                    }
                    buf.advance(2);
                    *self = Chunked::Size;
                }
                Chunked::Trailers => return self.trailers(buf),
                Chunked::Done => return Ok(Decoded::End),
            }
        }
    }

    fn trailers(&mut self, buf: &mut BytesMut) -> Result<Decoded, CodecError> {
        if buf.starts_with(b"\r\n") {
            buf.advance(2);
            *self = Chunked::Done;
            return Ok(Decoded::End);
        }
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let (used, fields) = match httparse::parse_headers(buf, &mut slots)? {
            httparse::Status::Complete(done) => done,
            httparse::Status::Partial if buf.len() > MAX_HEAD_BYTES => return Err(CodecError::HeadTooLarge),
            httparse::Status::Partial => return Ok(Decoded::More),
        };
        let mut trailers = HeaderMap::with_capacity(fields.len());
        for field in fields {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(field.name.as_bytes()), HeaderValue::from_bytes(field.value))
            {
                trailers.append(name, value);
            }
        }
        buf.advance(used);
        *self = Chunked::Done;
        Ok(Decoded::Trailers(trailers))
    }
}

#[cfg(test)]
#[path = "h1_codec_tests.rs"]
mod tests;
