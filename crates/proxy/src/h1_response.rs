//! Responses on the connections [`crate::h1_server`] serves: the head encoded with hyper's server rules
//! (the same framing choices, `Date` and `Connection: close`), so a client cannot tell the two apart, and
//! the body streamed with as few writes as it allows — a small response goes out in one.

use crate::client_io::ClientIo;
use crate::forward::ProxyBody;
use crate::h1_codec::{chunk_prefix, has_token};
use crate::reply::{Relayed, Reply};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body;
use hyper::header::{CONNECTION, CONTENT_LENGTH, DATE, TRAILER, TRANSFER_ENCODING};
use hyper::{Response, StatusCode};
use std::io::IoSlice;
use std::pin::Pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;

/// Data frames up to this size are copied behind what is pending into one write; larger ones are written
/// from where they are.
const COPY_LIMIT: usize = 16 * 1024;

/// How the body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyOut {
    /// No body (HEAD, 204, 304, a zero length), or nothing more after the trailers.
    Nothing,
    /// This many bytes still to send.
    Length(u64),
    Chunked,
}

/// What the body says of its size before it is read.
#[derive(Clone, Copy)]
enum Size {
    Ended,
    Known(u64),
    Unknown,
}

/// Writes the status line and headers of a response with a header map into `dst`. Returns how the body
/// goes out and whether the connection closes after it (the client asked, the node is stopping, or the
/// response says `Connection: close`).
pub(crate) fn encode_head(
    dst: &mut Vec<u8>,
    response: &Response<ProxyBody>,
    is_head: bool,
    keep_alive: bool,
) -> (BodyOut, bool) {
    let status = response.status();
    status_line(dst, status);
    let can_have_body = can_have_body(status, is_head);
    // The framing headers are noted on the way through rather than looked up after.
    let mut noted = Noted::default();
    for (name, value) in response.headers() {
        match *name {
            CONTENT_LENGTH => {
                noted.length.get_or_insert(value.as_bytes());
                continue;
            }
            TRANSFER_ENCODING => {
                noted.codings.push(value.as_bytes());
                continue;
            }
            CONNECTION => {
                noted.connection.push(value.as_bytes());
                continue;
            }
            TRAILER if !can_have_body => continue,
            DATE => noted.date = true,
            _ => {}
        }
        named_line(dst, name, value);
    }
    end_head(dst, (status, response.body()), noted, is_head, keep_alive)
}

/// [`encode_head`] for an upstream response relayed with its fields as received: they go out in one
/// copy, followed by the headers the proxy adds.
pub(crate) fn encode_relayed_head(
    dst: &mut Vec<u8>,
    relayed: &Relayed,
    is_head: bool,
    keep_alive: bool,
) -> (BodyOut, bool) {
    status_line(dst, relayed.status);
    dst.extend_from_slice(relayed.fields.lines());
    relayed.added.each(|name, value| line(dst, name, &[value]));
    if let Some(id) = &relayed.request_id {
        line(dst, b"X-Kong-Request-Id", &[id.as_bytes()]);
    }
    let mut number = itoa::Buffer::new();
    let noted = Noted {
        length: relayed.fields.content_length().map(|n| number.format(n).as_bytes()),
        date: relayed.fields.has_date(),
        ..Noted::default()
    };
    end_head(dst, (relayed.status, &relayed.body), noted, is_head, keep_alive)
}

/// What a response's framing headers said, noted as its fields were written.
#[derive(Default)]
struct Noted<'a> {
    /// The first `Content-Length` value.
    length: Option<&'a [u8]>,
    codings: Vec<&'a [u8]>,
    connection: Vec<&'a [u8]>,
    date: bool,
}

fn status_line(dst: &mut Vec<u8>, status: StatusCode) {
    if status == StatusCode::OK {
        dst.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        dst.extend_from_slice(b"HTTP/1.1 ");
        dst.extend_from_slice(status.as_str().as_bytes());
        dst.push(b' ');
        dst.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
}

fn is_bodiless(status: StatusCode) -> bool {
    status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
}

fn can_have_body(status: StatusCode, is_head: bool) -> bool {
    !is_head && !is_bodiless(status)
}

/// The framing headers, `Connection` and `Date`, chosen as hyper's server does, and the end of the head.
fn end_head(
    dst: &mut Vec<u8>,
    (status, body): (StatusCode, &ProxyBody),
    noted: Noted<'_>,
    is_head: bool,
    keep_alive: bool,
) -> (BodyOut, bool) {
    let Noted { length: length_header, mut codings, mut connection, date } = noted;
    let size = match (body.is_end_stream(), body.size_hint().exact()) {
        (true, _) => Size::Ended,
        (false, Some(n)) => Size::Known(n),
        (false, None) => Size::Unknown,
    };
    let can_have_body = can_have_body(status, is_head);
    let mut out = None;
    if can_have_body && !codings.is_empty() {
        // A body the proxy frames itself: chunked must be the final coding.
        let last = codings.last().and_then(|v| v.rsplit(|&b| b == b',').next()).map(<[u8]>::trim_ascii);
        if !last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
            codings.push(b"chunked");
        }
        line(dst, b"Transfer-Encoding", &codings);
        out = Some(BodyOut::Chunked);
    } else if let Some(value) = length_header {
        // As hyper: the body's own size wins over the header; a body already ended takes the implicit
        // zero below, except on a HEAD response, which keeps the length the upstream announced.
        let length = match size {
            Size::Ended if !is_head => None,
            Size::Ended => Some(0),
            Size::Known(n) => Some(n),
            Size::Unknown => std::str::from_utf8(value).ok().and_then(|v| v.trim().parse::<u64>().ok()),
        };
        if let Some(length) = length {
            line(dst, b"Content-Length", &[value]);
            out = Some(BodyOut::Length(length));
        }
    }
    let out = match (out, size) {
        (Some(out), _) => out,
        (None, Size::Unknown) if can_have_body => {
            dst.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            BodyOut::Chunked
        }
        (None, Size::Unknown) => BodyOut::Nothing,
        (None, Size::Ended | Size::Known(0)) => {
            if can_have_body {
                dst.extend_from_slice(b"Content-Length: 0\r\n");
            }
            BodyOut::Nothing
        }
        (None, Size::Known(n)) => {
            if is_bodiless(status) {
                BodyOut::Nothing
            } else {
                line(dst, b"Content-Length", &[itoa::Buffer::new().format(n).as_bytes()]);
                BodyOut::Length(n)
            }
        }
    };
    let out = if can_have_body && out != BodyOut::Length(0) { out } else { BodyOut::Nothing };
    let says_close = connection.iter().any(|v| has_token(v, b"close"));
    if !keep_alive && !says_close {
        connection.push(b"close");
    }
    if !connection.is_empty() {
        line(dst, b"Connection", &connection);
    }
    if !date {
        dst.extend_from_slice(b"Date: ");
        extend_date(dst);
        dst.extend_from_slice(b"\r\n");
    }
    dst.extend_from_slice(b"\r\n");
    (out, !keep_alive || says_close)
}

/// A header line from a map, its name spelled as Kong spells it.
fn named_line(dst: &mut Vec<u8>, name: &hyper::header::HeaderName, value: &hyper::header::HeaderValue) {
    crate::header_case::extend_name(dst, name.as_str());
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value.as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// One header line; several values are joined with commas.
fn line(dst: &mut Vec<u8>, name: &[u8], values: &[&[u8]]) {
    dst.extend_from_slice(name);
    dst.extend_from_slice(b": ");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            dst.extend_from_slice(b", ");
        }
        dst.extend_from_slice(value);
    }
    dst.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `Date` value of the current second, rendered once per second per thread.
    static CURRENT_DATE: std::cell::RefCell<(u64, [u8; 29])> = const { std::cell::RefCell::new((u64::MAX, [0; 29])) };
}

/// Appends the current time as an HTTP date.
fn extend_date(dst: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    CURRENT_DATE.with_borrow_mut(|(at, text)| {
        if *at != second {
            let rendered = httpdate::fmt_http_date(now);
            if rendered.len() == text.len() {
                text.copy_from_slice(rendered.as_bytes());
                *at = second;
            }
        }
        dst.extend_from_slice(text);
    });
}

/// Writes responses on one connection, reusing its buffer.
#[derive(Default)]
pub(crate) struct ResponseWriter {
    buf: Vec<u8>,
}

impl ResponseWriter {
    /// Sends the response; `Ok(true)` when the connection can carry another request. A body that fails or
    /// ends short of its length is an error: the connection closes, as the client must not take a cut
    /// body for a whole one.
    pub async fn write<S: ClientIo>(
        &mut self,
        stream: &mut S,
        reply: Reply,
        is_head: bool,
        keep_alive: bool,
    ) -> std::io::Result<bool> {
        self.buf.clear();
        let (mut out, close, mut body) = match reply {
            Reply::Full(response) => {
                let (out, close) = encode_head(&mut self.buf, &response, is_head, keep_alive);
                (out, close, response.into_body())
            }
            Reply::Relayed(relayed) => {
                let (out, close) = encode_relayed_head(&mut self.buf, &relayed, is_head, keep_alive);
                (out, close, relayed.body)
            }
        };
        while out != BodyOut::Nothing {
            // Whatever the body has ready joins the head in one write; the buffer goes out before a wait.
            let frame = match std::future::poll_fn(|cx| Poll::Ready(poll_now(&mut body, cx))).await {
                Some(frame) => frame,
                None => {
                    self.flush(stream).await?;
                    body.frame().await
                }
            };
            let Some(frame) = frame else { break };
            let frame = frame.map_err(std::io::Error::other)?;
            match frame.into_data() {
                Ok(data) => {
                    self.data(stream, &mut out, data).await?;
                    if body.is_end_stream() {
                        break;
                    }
                }
                Err(frame) => {
                    if let (Ok(trailers), BodyOut::Chunked) = (frame.into_trailers(), out) {
                        self.buf.extend_from_slice(b"0\r\n");
                        for (name, value) in &trailers {
                            named_line(&mut self.buf, name, value);
                        }
                        self.buf.extend_from_slice(b"\r\n");
                        out = BodyOut::Nothing;
                    }
                }
            }
        }
        match out {
            BodyOut::Chunked => self.buf.extend_from_slice(b"0\r\n\r\n"),
            BodyOut::Length(left) if left > 0 => {
                self.flush(stream).await?;
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "response body ended early"));
            }
            _ => {}
        }
        drop(body);
        self.flush(stream).await?;
        if close {
            let _ = stream.shutdown().await;
        }
        Ok(!close)
    }

    /// hyper's answer to a head it cannot parse: 400 with no body, then the connection closes.
    pub async fn bad_request<S: ClientIo>(&mut self, stream: &mut S) -> std::io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nDate: ");
        extend_date(&mut self.buf);
        self.buf.extend_from_slice(b"\r\n\r\n");
        self.flush(stream).await?;
        stream.shutdown().await
    }

    async fn data<S: ClientIo>(&mut self, stream: &mut S, out: &mut BodyOut, data: Bytes) -> std::io::Result<()> {
        match out {
            BodyOut::Nothing => Ok(()),
            BodyOut::Length(left) => {
                let Some(rest) = left.checked_sub(data.len() as u64) else {
                    return Err(std::io::Error::other("response body longer than its length"));
                };
                *left = rest;
                self.push(stream, &data).await
            }
            BodyOut::Chunked if data.is_empty() => Ok(()),
            BodyOut::Chunked => {
                chunk_prefix(&mut self.buf, data.len());
                self.push(stream, &data).await?;
                self.buf.extend_from_slice(b"\r\n");
                Ok(())
            }
        }
    }

    /// Queues small data behind the buffer; writes large data together with the buffer.
    async fn push<S: ClientIo>(&mut self, stream: &mut S, data: &[u8]) -> std::io::Result<()> {
        if data.len() <= COPY_LIMIT {
            self.buf.extend_from_slice(data);
            return Ok(());
        }
        let (mut first, mut second) = (&self.buf[..], data);
        while !first.is_empty() || !second.is_empty() {
            let n = stream.write_vectored(&[IoSlice::new(first), IoSlice::new(second)]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            let from_first = n.min(first.len());
            first = &first[from_first..];
            second = &second[n - from_first..];
        }
        self.buf.clear();
        Ok(())
    }

    /// Writes the buffer: straight away while the connection takes it (see [`ClientIo::try_write_now`]:
    /// letting tasks the request spawned, such as the log phase, go first would delay the response), then
    /// as the connection allows.
    async fn flush<S: ClientIo>(&mut self, stream: &mut S) -> std::io::Result<()> {
        let mut sent = 0;
        while sent < self.buf.len() {
            match stream.try_write_now(&self.buf[sent..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    stream.write_all(&self.buf[sent..]).await?;
                    stream.flush().await?;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        Ok(())
    }
}

/// The body's next frame if it is ready now (`None` when it is not).
#[allow(clippy::type_complexity)]
fn poll_now(
    body: &mut ProxyBody,
    cx: &mut std::task::Context<'_>,
) -> Option<Option<Result<hyper::body::Frame<Bytes>, crate::upstream::BoxError>>> {
    match Pin::new(body).poll_frame(cx) {
        Poll::Ready(frame) => Some(frame),
        Poll::Pending => None,
    }
}

#[cfg(test)]
#[path = "h1_response_tests.rs"]
mod tests;
