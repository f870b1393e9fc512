//! The forwarding client against stub owners and raw answers.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// How a stub owner answers on each connection.
#[derive(Clone, Copy)]
enum Owner {
    /// Every request on the connection, with a length: a kept-alive connection.
    KeepsAlive,
    /// One answer with a length, then it closes, as after its keep-alive time.
    ClosesAfterOne,
    /// One answer without a length, ended by closing.
    NoLength,
}

/// A stub owner on a free port; returns its address and how many connections it accepted.
async fn owner(behaviour: Owner) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                        if stream.read_buf(&mut buffer).await.unwrap_or(0) == 0 {
                            return;
                        }
                    }
                    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buffer.drain(..end);
                    let answer: &[u8] = match behaviour {
                        Owner::NoLength => b"HTTP/1.1 200 OK\r\n\r\n{\"n\":1}",
                        _ => b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"n\":1}",
                    };
                    stream.write_all(answer).await.unwrap();
                    if !matches!(behaviour, Owner::KeepsAlive) {
                        return;
                    }
                }
            });
        }
    });
    (address, accepted)
}

async fn lookup(address: &str) -> Answer {
    get(address, "/v1/messages/m1", None, "me").await.expect("an answer")
}

#[tokio::test(flavor = "current_thread")]
async fn lookups_reuse_a_kept_alive_connection() {
    let (address, accepted) = owner(Owner::KeepsAlive).await;
    for _ in 0..3 {
        assert_eq!(lookup(&address).await.body, b"{\"n\":1}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection for three lookups");
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_the_owner_closed_is_replaced_and_the_lookup_answered() {
    let (address, accepted) = owner(Owner::ClosesAfterOne).await;
    for _ in 0..3 {
        assert_eq!(lookup(&address).await.body, b"{\"n\":1}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_without_a_length_is_read_to_its_end_and_its_connection_not_kept() {
    let (address, accepted) = owner(Owner::NoLength).await;
    for _ in 0..2 {
        assert_eq!(lookup(&address).await.body, b"{\"n\":1}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn an_owner_that_is_gone_is_an_io_error() {
    let address = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let error = get(&address, "/v1/messages/m1", None, "me").await.unwrap_err();
    assert!(matches!(error, ForwardError::Io { .. }), "{error}");
}

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
