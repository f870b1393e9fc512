//! One keep-alive HTTP/1.1 connection to the API: `GET path`, then the status line, the headers
//! it needs and the body (by `Content-Length`, which the API always sends). Hand-written like
//! `src/api/forward.rs`: one request shape, no client crate.

use std::io::{Error, ErrorKind, Result};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest response head taken.
const MAX_HEAD: usize = 64 * 1024;
/// Longest body taken (a view of 255 parts is far below).
const MAX_BODY: usize = 1024 * 1024;

/// What the driver keeps of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// `X-Sms-Tracker-Forwarded-By` was present: another instance's state answered.
    pub forwarded: bool,
}

pub struct Connection {
    address: String,
    authorization: Option<String>,
    stream: Option<BufReader<TcpStream>>,
    body: Vec<u8>,
    pub connects: u64,
}

impl Connection {
    pub fn new(address: &str, token: Option<&str>) -> Self {
        Self {
            address: address.to_owned(),
            authorization: token.map(|t| format!("Authorization: Bearer {t}\r\n")),
            stream: None,
            body: Vec::new(),
            connects: 0,
        }
    }

    /// `GET path`. A kept-alive connection the server closed meanwhile is reopened once.
    pub async fn get(&mut self, path: &str) -> Result<Reply> {
        let reused = self.stream.is_some();
        match self.exchange(path).await {
            Err(e) if reused && e.kind() == ErrorKind::UnexpectedEof => {
                self.stream = None;
                self.exchange(path).await
            }
            other => other,
        }
    }

    /// Drops the connection (after a timeout: its answer may still come).
    pub fn reset(&mut self) {
        self.stream = None;
    }

    async fn exchange(&mut self, path: &str) -> Result<Reply> {
        let result = self.exchange_inner(path).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange_inner(&mut self, path: &str) -> Result<Reply> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
            self.connects += 1;
        }
        let stream = self.stream.as_mut().expect("connected");
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{}\r\n",
            self.address,
            self.authorization.as_deref().unwrap_or("")
        );
        stream.get_mut().write_all(request.as_bytes()).await?;
        let mut head = Vec::with_capacity(512);
        loop {
            let start = head.len();
            let n = stream.read_until(b'\n', &mut head).await?;
            if n == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "the connection closed before an answer"));
            }
            if head.len() > MAX_HEAD {
                return Err(Error::new(ErrorKind::InvalidData, "response head too long"));
            }
            if &head[start..] == b"\r\n" {
                break;
            }
        }
        let head = parse_head(&head).ok_or_else(|| Error::new(ErrorKind::InvalidData, "not an HTTP/1.1 answer"))?;
        if head.content_length > MAX_BODY {
            return Err(Error::new(ErrorKind::InvalidData, "response body too long"));
        }
        self.body.resize(head.content_length, 0);
        stream.read_exact(&mut self.body).await?;
        if head.close {
            self.stream = None;
        }
        Ok(head.reply)
    }
}

struct Head {
    reply: Reply,
    content_length: usize,
    close: bool,
}

fn parse_head(raw: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let mut head = Head { reply: Reply { status, forwarded: false }, content_length: 0, close: false };
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => head.content_length = value.parse().ok()?,
            "x-sms-tracker-forwarded-by" => head.reply.forwarded = true,
            "connection" => head.close = value.eq_ignore_ascii_case("close"),
            // The API never answers chunked.
            "transfer-encoding" => return None,
            _ => {}
        }
    }
    Some(head)
}

/// `/v1/messages/{id}` with the id percent-encoded (all but RFC 3986's unreserved characters).
pub fn message_path(id: &str) -> String {
    let mut path = String::from("/v1/messages/");
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            path.push(byte as char);
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_status_forwarding_length_and_close() {
        let head =
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nx-sms-tracker-forwarded-by: a\r\n\r\n").unwrap();
        assert_eq!(head.reply, Reply { status: 200, forwarded: true });
        assert_eq!((head.content_length, head.close), (12, false));
        let head = parse_head(b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(head.reply, Reply { status: 404, forwarded: false });
        assert!(head.close);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_none());
        assert!(parse_head(b"HTTP/1.0 200 OK\r\n\r\n").is_none());
    }

    #[test]
    fn ids_are_percent_encoded() {
        assert_eq!(message_path("ab-01_x"), "/v1/messages/ab-01_x");
        assert_eq!(message_path("a/b%c é"), "/v1/messages/a%2Fb%25c%20%C3%A9");
    }
}
