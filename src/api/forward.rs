//! Forwarding a lookup to the instance that owns its partition: one HTTP/1.1 GET per lookup (a POST per owner for a batch), with
//! the caller's `Authorization` (every instance has the same token) and a header that stops the
//! owner from forwarding again. Hand-written rather than a client crate: it is one request shape,
//! and its memory and time are bounded here.

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

/// `GET path` (as received: still percent-encoded) on the owner at `address`.
pub async fn get(address: &str, path: &str, authorization: Option<&[u8]>, me: &str) -> Result<Answer, ForwardError> {
    let request = Request { address, method: "GET", path, authorization, me, body: None };
    send(request, FORWARD_TIMEOUT, MAX_ANSWER_BYTES).await
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

async fn exchange(r: &Request<'_>, limit: u64) -> std::io::Result<Vec<u8>> {
    let Request { address, method, path, authorization, me, body } = r;
    let mut stream = TcpStream::connect(address).await?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{FORWARDED_BY}: {me}\r\n")
            .into_bytes();
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
    stream.write_all(&request).await?;
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
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let mut retry_after = None;
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "retry-after" => retry_after = Some(value.to_owned()),
            "content-length" => body.truncate(value.parse().ok()?),
            // The API never answers chunked; refuse rather than pass on chunk framing.
            "transfer-encoding" => return None,
            _ => {}
        }
    }
    Some(Answer { status, retry_after, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_read_with_its_status_retry_after_and_body() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nRetry-After: 5\r\n\r\n{}";
        assert_eq!(
            parse(raw, MAX_ANSWER_BYTES),
            Some(Answer { status: 503, retry_after: Some("5".into()), body: b"{}".to_vec() })
        );
        let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"a\":1}";
        assert_eq!(parse(ok, MAX_ANSWER_BYTES).map(|a| (a.status, a.body)), Some((200, b"{\"a\":1}".to_vec())));
    }

    #[test]
    fn anything_else_is_refused() {
        for raw in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.0 200 OK\r\n\r\n",
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        ] {
            assert_eq!(parse(raw, MAX_ANSWER_BYTES), None, "{:?}", String::from_utf8_lossy(raw));
        }
        let mut long = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        long.resize(MAX_ANSWER_BYTES as usize + 1, b'x');
        assert_eq!(parse(&long, MAX_ANSWER_BYTES), None);
    }
}
