//! Forwarding a lookup to the instance that owns its partition: one HTTP/1.1 GET per lookup (a POST per owner for a batch), with
//! the caller's `Authorization` (every instance has the same token) and a header that stops the
//! owner from forwarding again. Hand-written rather than a client crate: it is one request shape,
//! and its memory and time are bounded here.
//!
//! Lookups go over kept-alive connections: opening one per lookup cost the owner an accept and
//! both sides a handshake and a teardown, and a forwarded lookup's latency under load was twice a
//! local one's (docs/BENCHMARKS.md, "Lookups"). A batch, rare and large, opens its own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Marks a forwarded request (its value names the forwarding instance); an instance that gets
/// one for a partition it does not own answers instead of forwarding it on. The forwarding
/// instance's answer to its caller carries it too.
pub const FORWARDED_BY: &str = "x-sms-tracker-forwarded-by";

/// The whole exchange with the owner, connect to last byte.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer taken from an owner for one id (a view of 255 parts is far below).
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;
/// Largest answer taken from an owner for a batch: up to 1,000 views.
const MAX_BATCH_ANSWER_BYTES: u64 = 32 * 1024 * 1024;
/// The whole exchange of a forwarded batch: longer than the owner's own lookup timeout (2 s), so
/// that its per-id 503 entries arrive rather than a timeout for all of them.
pub const BATCH_FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// The owner's answer, passed on as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no answer from {address} within {timeout:?}")]
    TimedOut { address: String, timeout: Duration },
    #[error("cannot reach {address}: {source}")]
    Io { address: String, source: std::io::Error },
    #[error("{address} answered something that is not an HTTP/1.1 response of at most {limit} bytes")]
    Malformed { address: String, limit: u64 },
}

/// Largest response head taken from an owner (status line and headers).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Idle connections kept per owner; more are closed after use.
const MAX_IDLE_PER_OWNER: usize = 32;

thread_local! {
    /// Idle kept-alive connections, per owner address. Per thread, because a tokio `TcpStream`
    /// belongs to the runtime that opened it and every actix worker thread runs its own.
    static IDLE: RefCell<HashMap<String, Vec<TcpStream>>> = RefCell::new(HashMap::new());
}

/// `GET path` (as received: still percent-encoded) on the owner at `address`, over a kept-alive
/// connection when one is idle.
pub async fn get(address: &str, path: &str, authorization: Option<&[u8]>, me: &str) -> Result<Answer, ForwardError> {
    let request = Request { address, method: "GET", path, authorization, me, body: None };
    match tokio::time::timeout(FORWARD_TIMEOUT, get_kept_alive(&request)).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(Failure::Io(source) | Failure::ClosedBeforeAnswer(source))) => {
            Err(ForwardError::Io { address: address.to_owned(), source })
        }
        Ok(Err(Failure::Malformed)) => {
            Err(ForwardError::Malformed { address: address.to_owned(), limit: MAX_ANSWER_BYTES })
        }
        Err(_) => Err(ForwardError::TimedOut { address: address.to_owned(), timeout: FORWARD_TIMEOUT }),
    }
}

/// Why a kept-alive exchange failed.
#[derive(Debug)]
enum Failure {
    /// The connection ended before any byte of an answer: an owner closes idle connections after
    /// its keep-alive time, so a reused one may be gone.
    ClosedBeforeAnswer(std::io::Error),
    Io(std::io::Error),
    Malformed,
}

async fn get_kept_alive(request: &Request<'_>) -> Result<Answer, Failure> {
    let idle = IDLE.with(|idle| idle.borrow_mut().get_mut(request.address).and_then(Vec::pop));
    if let Some(stream) = idle {
        match exchange_kept_alive(stream, request).await {
            // A lookup changes nothing: asking again on a fresh connection is safe.
            Err(Failure::ClosedBeforeAnswer(_)) => {}
            done => return done,
        }
    }
    let stream = TcpStream::connect(request.address).await.map_err(Failure::Io)?;
    // A request goes out in one write; Nagle's algorithm could hold it back for an acknowledgement.
    stream.set_nodelay(true).map_err(Failure::Io)?;
    exchange_kept_alive(stream, request).await.map_err(|failure| match failure {
        // On a fresh connection that is an owner going away, not a stale connection.
        Failure::ClosedBeforeAnswer(source) => Failure::Io(source),
        other => other,
    })
}

/// One request and its answer on `stream`, which goes back to the idle ones if the owner keeps it
/// open.
async fn exchange_kept_alive(mut stream: TcpStream, request: &Request<'_>) -> Result<Answer, Failure> {
    stream.write_all(&request.bytes(false)).await.map_err(Failure::ClosedBeforeAnswer)?;
    let mut buffer = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Err(Failure::Malformed);
        }
        let read = stream.read_buf(&mut buffer).await;
        match read {
            Ok(0) if buffer.is_empty() => {
                return Err(Failure::ClosedBeforeAnswer(std::io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(0) => return Err(Failure::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(error) if buffer.is_empty() => return Err(Failure::ClosedBeforeAnswer(error)),
            Err(error) => return Err(Failure::Io(error)),
        }
    };
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| Failure::Malformed)?;
    let head = parse_head(head).ok_or(Failure::Malformed)?;
    // Kept alive only with a length to read to; without one the answer ends with the connection,
    // as a batch's does.
    let Some(length) = head.content_length else {
        stream.take(MAX_ANSWER_BYTES + 1).read_to_end(&mut buffer).await.map_err(Failure::Io)?;
        return parse(&buffer, MAX_ANSWER_BYTES).ok_or(Failure::Malformed);
    };
    if length as u64 > MAX_ANSWER_BYTES {
        return Err(Failure::Malformed);
    }
    let mut body = buffer.split_off(head_end + 4);
    if body.len() > length {
        // More than the answer: not a connection to use again, nor an answer to trust.
        return Err(Failure::Malformed);
    }
    let already = body.len();
    body.resize(length, 0);
    stream.read_exact(&mut body[already..]).await.map_err(Failure::Io)?;
    if !head.close {
        IDLE.with(|idle| {
            let mut idle = idle.borrow_mut();
            let streams = idle.entry(request.address.to_owned()).or_default();
            if streams.len() < MAX_IDLE_PER_OWNER {
                streams.push(stream);
            }
        });
    }
    Ok(Answer { status: head.status, retry_after: head.retry_after, body })
}

/// `POST path` with a JSON `body` on the owner at `address` (a batch of its ids).
pub async fn post_json(
    address: &str,
    path: &str,
    authorization: Option<&[u8]>,
    me: &str,
    body: &[u8],
) -> Result<Answer, ForwardError> {
    let request = Request { address, method: "POST", path, authorization, me, body: Some(body) };
    send(request, BATCH_FORWARD_TIMEOUT, MAX_BATCH_ANSWER_BYTES).await
}

struct Request<'a> {
    address: &'a str,
    method: &'static str,
    path: &'a str,
    authorization: Option<&'a [u8]>,
    me: &'a str,
    /// Sent as `application/json`.
    body: Option<&'a [u8]>,
}

async fn send(request: Request<'_>, timeout: Duration, limit: u64) -> Result<Answer, ForwardError> {
    let address = request.address;
    match tokio::time::timeout(timeout, exchange(&request, limit)).await {
        Ok(Ok(raw)) => parse(&raw, limit).ok_or_else(|| ForwardError::Malformed { address: address.to_owned(), limit }),
        Ok(Err(source)) => Err(ForwardError::Io { address: address.to_owned(), source }),
        Err(_) => Err(ForwardError::TimedOut { address: address.to_owned(), timeout }),
    }
}

impl Request<'_> {
    /// The request as sent; `close` asks the owner to end the connection after its answer.
    fn bytes(&self, close: bool) -> Vec<u8> {
        let Request { address, method, path, authorization, me, body } = self;
        let connection = if close { "Connection: close\r\n" } else { "" };
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\n{connection}{FORWARDED_BY}: {me}\r\n").into_bytes();
        if let Some(authorization) = authorization {
            request.extend_from_slice(b"Authorization: ");
            request.extend_from_slice(authorization);
            request.extend_from_slice(b"\r\n");
        }
        if let Some(body) = body {
            request.extend_from_slice(
                format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()).as_bytes(),
            );
        }
        request.extend_from_slice(b"\r\n");
        if let Some(body) = body {
            request.extend_from_slice(body);
        }
        request
    }
}

async fn exchange(r: &Request<'_>, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(r.address).await?;
    stream.write_all(&r.bytes(true)).await?;
    let mut raw = Vec::new();
    // One byte more than allowed tells a too-long answer from one exactly at the limit.
    stream.take(limit + 1).read_to_end(&mut raw).await?;
    Ok(raw)
}

/// Status, Retry-After and body of a complete HTTP/1.1 response read to the connection's end.
fn parse(raw: &[u8], limit: u64) -> Option<Answer> {
    if raw.len() as u64 > limit {
        return None;
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = parse_head(std::str::from_utf8(&raw[..split]).ok()?)?;
    let mut body = raw[split + 4..].to_vec();
    if let Some(length) = head.content_length {
        body.truncate(length);
    }
    Some(Answer { status: head.status, retry_after: head.retry_after, body })
}

/// What the forwarding side reads from a response head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    retry_after: Option<String>,
    content_length: Option<usize>,
    /// The owner closes the connection after this answer.
    close: bool,
}

fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let mut parsed = Head { status, retry_after: None, content_length: None, close: false };
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "retry-after" => parsed.retry_after = Some(value.to_owned()),
            "content-length" => parsed.content_length = Some(value.parse().ok()?),
            // The API never answers chunked; refuse rather than pass on chunk framing.
            "transfer-encoding" => return None,
            "connection" => parsed.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Some(parsed)
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
