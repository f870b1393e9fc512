//! The lookup API (`--api-listen`) against a tracker on the real broker: what it shows of sent,
//! pending, failed and unknown messages, the token and masking rules, bad requests, the answer
//! of an instance that does not own the id's partition, and batches (forwarded per owner, refused
//! `busy` beyond the concurrent limit, an owner's wrong answer turned into per-id entries).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use support::{DEADLINE, Input, Scenario, Tracker, json, key, read_to_end, wait_for};

fn message(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","status":"PENDING","sender":"ACME","recipient":"+385911234567","text":"Your code is 1234","createdAt":"2026-11-25T10:00:00.000Z"}}"#
    )
}

fn part(id: &str, n: u32, total: u32, status: u32, supplier_id: Option<&str>) -> String {
    let supplier_id = supplier_id.map(|s| format!(r#","supplierMessageId":"{s}""#)).unwrap_or_default();
    format!(
        r#"{{"messageId":"{id}","partNumber":{n},"totalParts":{total},"commandStatus":{status},"supplier":"supplier-a"{supplier_id}}}"#
    )
}

/// A tracker serving the API on a port of its own.
struct ApiTracker {
    tracker: Tracker,
    port: u16,
}

impl ApiTracker {
    fn start(scenario: &Scenario, extra: &[&str]) -> Self {
        Self::start_on(scenario, support::free_port(), extra)
    }

    /// An instance the others forward lookups to (`--advertised-address`).
    fn start_advertised(scenario: &Scenario, extra: &[&str]) -> Self {
        let port = support::free_port();
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<&str> =
            ["--advertised-address", listen.as_str()].into_iter().chain(extra.iter().copied()).collect();
        Self::start_on(scenario, port, &args)
    }

    fn start_on(scenario: &Scenario, port: u16, extra: &[&str]) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<&str> = ["--api-listen", listen.as_str()].into_iter().chain(extra.iter().copied()).collect();
        Self { tracker: Tracker::start(scenario, &args), port }
    }

    /// Ready, with exactly one partition assigned.
    fn owns_one_partition(&self) -> Option<()> {
        owns_one_partition(&self.tracker)
    }

    fn instance(&self) -> String {
        format!("i{}", self.tracker.http_port)
    }

    /// `GET path` with an optional bearer token: status, headers (lower-case names), JSON body.
    fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.get_with(path, token, "")
    }

    /// [`ApiTracker::get`] with more header lines (each ending in CRLF).
    fn get_with(&self, path: &str, token: Option<&str>, headers: &str) -> Response {
        let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{authorization}{headers}Connection: close\r\n\r\n");
        request_raw(self.port, request.as_bytes())
    }

    /// `POST path` with a body of `content_type` and an optional bearer token.
    fn post(&self, path: &str, token: Option<&str>, content_type: &str, body: &[u8]) -> Response {
        self.post_with(path, token, &format!("Content-Type: {content_type}\r\n"), body)
    }

    /// [`ApiTracker::post`] with the header lines given (each ending in CRLF).
    fn post_with(&self, path: &str, token: Option<&str>, headers: &str, body: &[u8]) -> Response {
        let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\n{authorization}{headers}Content-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request_raw(self.port, &request)
    }

    /// `POST /v1/messages:batchGet` of `ids`.
    fn batch(&self, ids: &[&str], token: Option<&str>) -> Response {
        let body = serde_json::to_vec(&serde_json::json!({ "ids": ids })).unwrap();
        self.post("/v1/messages:batchGet", token, "application/json", &body)
    }

    /// Looks `id` up until `done` accepts the answer (the tracker processes input asynchronously).
    fn wait_for_lookup(&self, id: &str, token: Option<&str>, done: impl Fn(&Response) -> bool) -> Response {
        wait_for(&format!("a lookup of {id} to show the expected state"), DEADLINE, || {
            Some(self.get(&format!("/v1/messages/{id}"), token)).filter(&done)
        })
    }
}

/// Ready, with exactly one partition assigned.
fn owns_one_partition(tracker: &Tracker) -> Option<()> {
    let (status, body) = tracker.http_get("/readyz")?;
    (status == 200 && body.contains("partitions [") && !body.contains(',')).then_some(())
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn request_raw(port: u16, request: &[u8]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the API");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    read_response(stream).expect("read the answer")
}

/// The answer on `stream`, read to the connection's end.
fn read_response(mut stream: TcpStream) -> std::io::Result<Response> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if body.is_empty() { Value::Null } else { serde_json::from_str(body).expect("a JSON body") };
    Ok(Response { status, headers, body })
}

fn started(test: &str, extra: &[&str]) -> (Scenario, ApiTracker, Input) {
    let scenario = Scenario::new(test);
    scenario.create_inputs(2, 2);
    let tracker = ApiTracker::start(&scenario, extra);
    (scenario, tracker, Input::new())
}

#[test]
fn lookups_show_what_the_tracker_holds_of_sent_pending_failed_and_unknown_messages() {
    let (s, api, input) = started("api-lookup", &[]);
    input.send(&s.sent, Some("sent"), Some(&message("sent")));
    input.send(&s.responses, Some("sent"), Some(&part("sent", 1, 1, 0, Some("0A1B"))));
    input.send(&s.sent, Some("pending"), Some(&message("pending")));
    input.send(&s.responses, Some("pending"), Some(&part("pending", 1, 3, 0, Some("P1"))));
    input.send(&s.responses, Some("pending"), Some(&part("pending", 2, 3, 0x58, None)));
    input.send(&s.sent, Some("failed"), Some(&message("failed")));
    input.send(&s.responses, Some("failed"), Some(&part("failed", 1, 2, 0x0B, None)));
    input.send(&s.responses, Some("parts-only"), Some(&part("parts-only", 1, 1, 0, Some("X"))));

    let sent = api.wait_for_lookup("sent", None, |r| r.status == 200);
    assert_eq!(sent.body["status"], "SENT", "{:#}", sent.body);
    assert_eq!(sent.body["known"], "terminalMarker");
    assert_eq!(sent.body["deadline"]["then"], "PURGED");
    assert!(sent.body["timestamps"]["terminalAt"].is_string());
    assert_eq!(sent.body["answeredBy"], api.instance());
    // The partition is where the gateway's partitioner put the id: its status went there too.
    let outputs = s.settled_output(&s.status);
    let published = outputs.iter().find(|r| key(r) == "sent").expect("SENT published");
    assert_eq!(json(published)["status"], "SENT");
    assert_eq!(sent.body["partition"], rdkafka::Message::partition(published));

    let pending = api.wait_for_lookup("pending", None, |r| r.body["parts"][1]["submit"] == "retrying");
    assert_eq!(pending.status, 200);
    assert_eq!((pending.body["status"].as_str(), pending.body["known"].as_str()), (Some("PENDING"), Some("known")));
    assert_eq!(pending.body["totalParts"], 3);
    assert_eq!(
        pending.body["parts"],
        serde_json::json!([
            {"partNumber": 1, "submit": "accepted", "commandStatus": 0, "commandStatusName": "ESME_ROK",
             "supplier": "supplier-a", "supplierMessageId": "P1"},
            {"partNumber": 2, "submit": "retrying", "commandStatus": 88, "commandStatusName": "ESME_RTHROTTLED",
             "supplier": "supplier-a"},
            {"partNumber": 3, "submit": "noResponse"}
        ])
    );
    assert_eq!(pending.body["deadline"]["then"], "EXPIRED");
    assert_eq!(pending.body["message"]["sender"], "ACME", "the WholeMessage is shown");
    assert_eq!(pending.body["message"]["text"], "***", "masked by default");
    assert_eq!(pending.body["message"]["recipient"], "+3859******67");
    assert_eq!(pending.body["contentMasked"], true);

    let failed = api.wait_for_lookup("failed", None, |r| r.status == 200);
    assert_eq!(
        (failed.body["status"].as_str(), failed.body["known"].as_str()),
        (Some("FAILED"), Some("terminalMarker"))
    );

    let parts_only = api.wait_for_lookup("parts-only", None, |r| r.status == 200);
    assert_eq!(parts_only.body["known"], "awaitingMessage");
    assert_eq!(parts_only.body["deadline"]["then"], "ORPHANED");

    let unknown = api.get("/v1/messages/never-sent", None);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error"], "unknownOrPurged");
    assert!(unknown.body["message"].as_str().unwrap().contains("never saw it, or purged it"), "{:#}", unknown.body);
    assert_eq!(unknown.body["id"], "never-sent");

    assert!(api.tracker.metric(r#"sms_tracker_api_requests_total{code="200",route="message"}"#).unwrap() >= 4.0);
    assert_eq!(api.tracker.metric(r#"sms_tracker_api_requests_total{code="404",route="message"}"#), Some(1.0));
    assert!(api.tracker.metric(r#"sms_tracker_api_request_duration_seconds_count{route="message"}"#).unwrap() >= 5.0);
}

#[test]
fn bad_ids_and_unknown_routes_get_a_clear_answer() {
    let (_s, api, _input) = started("api-bad", &[]);
    for (path, expected) in
        [("/v1/messages/", "empty"), ("/v1/messages/%FF%FE", "not UTF-8"), ("/v1/messages/bad%zz", "percent-escape")]
    {
        let answer = api.get(path, None);
        assert_eq!(answer.status, 400, "{path}");
        assert_eq!(answer.body["error"], "badId");
        assert!(answer.body["message"].as_str().unwrap().contains(expected), "{path}: {:#}", answer.body);
    }
    let too_long = api.get(&format!("/v1/messages/{}", "x".repeat(1025)), None);
    assert_eq!((too_long.status, too_long.body["error"].as_str()), (400, Some("badId")));
    // The longest id allowed is looked up (and unknown here).
    assert_eq!(api.get(&format!("/v1/messages/{}", "x".repeat(1024)), None).status, 404);
    let no_route = api.get("/v2/anything", None);
    assert_eq!((no_route.status, no_route.body["error"].as_str()), (404, Some("noSuchRoute")));
    assert_eq!(api.get("/metrics", None).status, 404, "metrics stay on --http-listen");
}

#[test]
fn the_token_guards_every_v1_request_and_revealed_content_is_shown() {
    let token_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(support::unique("api-token"));
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let (s, api, input) =
        started("api-token", &["--api-token-file", token_file.to_str().unwrap(), "--api-reveal-content"]);
    input.send(&s.sent, Some("m1"), Some(&message("m1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 2, 0, Some("A"))));

    let missing = api.get("/v1/messages/m1", None);
    assert_eq!((missing.status, missing.body["error"].as_str()), (401, Some("unauthorized")));
    assert_eq!(missing.header("www-authenticate"), Some(r#"Bearer realm="sms-tracker""#));
    let wrong = api.get("/v1/messages/m1", Some("s3cret-tokem"));
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("www-authenticate"), Some(r#"Bearer realm="sms-tracker", error="invalid_token""#));
    assert_eq!(api.get("/v1/messages/", None).status, 401, "refused before the id is even read");
    assert_eq!(api.get("/v1/other", None).status, 401, "every /v1 route");

    let right = api.wait_for_lookup("m1", Some("s3cret-token"), |r| r.status == 200);
    assert_eq!(right.body["status"], "PENDING");
    assert_eq!(right.body["message"]["text"], "Your code is 1234", "--api-reveal-content");
    assert_eq!(right.body["message"]["recipient"], "+385911234567");
    assert_eq!(right.body["contentMasked"], false);
    assert_eq!(api.tracker.metric(r#"sms_tracker_api_requests_total{code="401",route="message"}"#), Some(3.0));
    let _ = std::fs::remove_file(token_file);
}

#[test]
fn an_instance_not_owning_the_partition_says_so_and_the_owner_answers() {
    let scenario = Scenario::new("api-owner");
    scenario.create_inputs(2, 2);
    let first = ApiTracker::start(&scenario, &[]);
    let second = ApiTracker::start(&scenario, &[]);
    wait_for("each instance to own one partition", DEADLINE, || {
        first.owns_one_partition()?;
        second.owns_one_partition()
    });
    // Until the coordinator reports the group stable the non-owner says it is rebalancing.
    let answers = wait_for("one owner and one instance saying it is not", DEADLINE, || {
        let answers = [&first, &second].map(|api| api.get("/v1/messages/nobody", None));
        answers.iter().any(|a| a.body["error"] == "notOwnedHere").then_some(answers)
    });
    let (owner, other) = if answers[0].status == 404 { (&answers[0], &answers[1]) } else { (&answers[1], &answers[0]) };
    assert_eq!(owner.status, 404, "{answers:#?}");
    assert_eq!(other.status, 503, "{answers:#?}");
    assert_eq!(other.body["error"], "notOwnedHere");
    assert!(other.body["message"].as_str().unwrap().contains("advertises no address"), "{:#}", other.body);
    assert_eq!(other.body["partition"], owner.body["partition"]);
    assert_eq!(other.header("retry-after"), Some("5"));
    assert!(read_to_end(&scenario.status).is_empty());
}

/// README "Looking up a message", Consistency: a lookup is never behind `message-status`, and
/// ahead of it by at most one commit interval plus a commit.
#[test]
fn lookups_are_never_behind_message_status_and_ahead_by_at_most_one_commit_interval() {
    const INTERVAL: Duration = Duration::from_millis(2000);
    // The resolution of the measurement (a poll of the reader, a lookup, the pause of
    // `wait_for`) and a commit of one record, with room for a loaded machine.
    const SLACK: Duration = Duration::from_millis(1000);
    let interval_ms = INTERVAL.as_millis().to_string();
    let (s, api, input) = started("api-consistency", &["--commit-interval-ms", &interval_ms]);
    let reader: BaseConsumer = support::client()
        .set("group.id", support::unique("api-reader"))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let mut partitions = TopicPartitionList::new();
    for partition in 0..2 {
        partitions.add_partition_offset(&s.status, partition, Offset::Beginning).unwrap();
    }
    reader.assign(&partitions).unwrap();
    input.send(&s.sent, Some("m1"), Some(&message("m1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 1, 0, Some("A"))));
    let mut shown_at = None;
    let committed_at = wait_for("SENT on message-status", DEADLINE, || {
        let mut committed = false;
        while let Some(record) = reader.poll(Duration::from_millis(10)) {
            committed |= rdkafka::Message::key(&record.expect("read message-status")) == Some(b"m1");
        }
        let shown = api.get("/v1/messages/m1", None).body["status"] == "SENT";
        assert!(shown || !committed, "message-status has SENT, the lookup after it does not");
        if shown {
            shown_at.get_or_insert_with(Instant::now);
        }
        committed.then(Instant::now)
    });
    let ahead = committed_at - shown_at.expect("shown no later than committed");
    eprintln!("the lookup showed SENT {ahead:?} before a read_committed reader saw it");
    assert!(ahead <= INTERVAL + SLACK, "ahead by {ahead:?}, more than {INTERVAL:?} + {SLACK:?}");
}

/// While its partition restores, a lookup is refused at once with Retry-After, not held in the
/// actor's mailbox until the restore ends.
#[cfg(feature = "fault-injection")]
#[test]
fn a_partition_still_restoring_answers_503_with_retry_after() {
    let scenario = Scenario::new("api-restoring");
    scenario.create_inputs(1, 1);
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let tracker = Tracker::spawn_with_faults(&scenario, &["--api-listen", &listen, "--fault-restore-delay-ms", "4000"]);
    // The process binds the listener once it has checked its topics, before its pipeline starts;
    // from then on requests wait in the listener's backlog until the API is served.
    let get = || {
        TcpStream::connect(("127.0.0.1", port)).ok()?;
        let request = b"GET /v1/messages/m1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        Some(request_raw(port, request))
    };
    let restoring = wait_for("a lookup during the restore", DEADLINE, || {
        get().filter(|r| r.status == 503 && r.body["error"] == "restoring")
    });
    assert_eq!(restoring.header("retry-after"), Some("1"));
    assert_eq!(restoring.body["partition"], 0);
    let started = Instant::now();
    let _ = get();
    assert!(started.elapsed() < Duration::from_secs(1), "refused at once, not after the restore");
    tracker.wait_ready();
    let after = get().expect("an answer");
    assert_eq!((after.status, after.body["error"].as_str()), (404, Some("unknownOrPurged")));
}

/// With `--advertised-address`, any instance answers for any id: the owner's answer, forwarded
/// with the caller's token. When the owner is killed, lookups of its ids get 503 until the
/// survivor restored their partition, then the survivor's answer; never a wrong status.
#[test]
fn any_instance_answers_for_any_id_by_forwarding_even_across_a_kill_of_the_owner() {
    let s = Scenario::new("api-forward");
    s.create_inputs(2, 2);
    let token_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(support::unique("api-token"));
    std::fs::write(&token_file, "shared-token").unwrap();
    let token_args = ["--api-token-file", token_file.to_str().unwrap()];
    let token = Some("shared-token");
    let first = ApiTracker::start_advertised(&s, &token_args);
    let second = ApiTracker::start_advertised(&s, &token_args);
    wait_for("each instance to own one partition", DEADLINE, || {
        first.owns_one_partition()?;
        second.owns_one_partition()
    });
    let input = Input::new();
    let ids: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    for id in &ids {
        input.send(&s.sent, Some(id), Some(&message(id)));
        input.send(&s.responses, Some(id), Some(&part(id, 1, 1, 0, Some("A"))));
    }
    assert_eq!(s.settled_output(&s.status).len(), ids.len());

    let mut owner_of = std::collections::HashMap::new();
    for id in &ids {
        let answers = [&first, &second].map(|api| api.wait_for_lookup(id, token, |r| r.status == 200));
        for (answer, api) in answers.iter().zip([&first, &second]) {
            assert_eq!(answer.body["status"], "SENT", "{:#}", answer.body);
            // A forwarded answer names the instance that forwarded it; an own one does not.
            let forwarded = (answer.body["answeredBy"] != api.instance()).then(|| api.instance());
            assert_eq!(answer.header("x-sms-tracker-forwarded-by"), forwarded.as_deref(), "{answer:?}");
        }
        assert_eq!(answers[0].body["answeredBy"], answers[1].body["answeredBy"], "the owner answers both");
        owner_of.insert(id.clone(), answers[0].body["answeredBy"].as_str().unwrap().to_owned());
    }
    let owners: std::collections::BTreeSet<&String> = owner_of.values().collect();
    assert_eq!(owners.len(), 2, "ids on both partitions: {owner_of:?}");
    for api in [&first, &second] {
        for id in &ids {
            assert_eq!(api.get(&format!("/v1/messages/{id}"), None).status, 401, "refused before any forward");
        }
    }
    for api in [&first, &second] {
        assert!(api.tracker.metric(r#"sms_tracker_api_forwards_total{result="answered"}"#).unwrap() >= 1.0);
    }

    let killed = second.instance();
    let theirs: Vec<&String> = ids.iter().filter(|id| owner_of[*id] == killed).collect();
    // A forwarded request is never forwarded again, so disagreeing instances cannot loop.
    let forwards = || first.tracker.metric(r#"sms_tracker_api_forwards_total{result="answered"}"#);
    let before = forwards();
    let again = first.get_with(&format!("/v1/messages/{}", theirs[0]), token, "X-Sms-Tracker-Forwarded-By: test\r\n");
    assert_eq!((again.status, again.body["error"].as_str()), (503, Some("notOwnedHere")), "{again:?}");
    assert_eq!(forwards(), before);
    second.tracker.sigkill();
    let mut refusals = std::collections::BTreeSet::new();
    for id in theirs {
        let answer = wait_for(&format!("the survivor to answer for {id}"), DEADLINE, || {
            let answer = first.get(&format!("/v1/messages/{id}"), token);
            if answer.status == 503 {
                assert!(answer.header("retry-after").is_some(), "{answer:?}");
                refusals.insert(answer.body["error"].as_str().unwrap_or_default().to_owned());
                return None;
            }
            Some(answer)
        });
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["status"], "SENT", "never a wrong status: {:#}", answer.body);
        assert_eq!(answer.body["answeredBy"], first.instance());
    }
    eprintln!("while the owner was dead the survivor answered 503 with: {refusals:?}");
    let _ = std::fs::remove_file(token_file);
}

/// A client that never finishes its request head, or sends an enormous one, gets a 4xx and its
/// connection closed: neither holds the server's memory or a connection for long.
#[test]
fn slow_and_oversized_requests_get_a_4xx_and_lose_their_connection() {
    let (_s, api, _input) = started("api-slow", &[]);
    let mut slow = TcpStream::connect(("127.0.0.1", api.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    slow.write_all(b"GET /v1/messages/m1 HTTP/1.1\r\nHost: loc").unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(15));

    let huge = format!("GET /v1/messages/m1 HTTP/1.1\r\nHost: localhost\r\nX-Filler: {}\r\n\r\n", "x".repeat(1 << 20));
    let mut stream = TcpStream::connect(("127.0.0.1", api.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = stream.write_all(huge.as_bytes());
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{:?}", answer.lines().next());
}

/// While a third instance joins and the group rebalances, every lookup is either the right
/// status or a 503 with Retry-After; afterwards every instance answers for every id.
#[test]
fn lookups_during_a_rebalance_are_right_or_503_and_every_instance_answers_after_it() {
    let s = Scenario::new("api-rebalance");
    s.create_inputs(3, 3);
    let first = ApiTracker::start_advertised(&s, &[]);
    let second = ApiTracker::start_advertised(&s, &[]);
    let input = Input::new();
    let ids: Vec<String> = (0..9).map(|i| format!("m{i}")).collect();
    for id in &ids {
        input.send(&s.sent, Some(id), Some(&message(id)));
        input.send(&s.responses, Some(id), Some(&part(id, 1, 1, 0, Some("A"))));
    }
    assert_eq!(s.settled_output(&s.status).len(), ids.len());
    let partitions: std::collections::BTreeSet<i64> = ids
        .iter()
        .map(|id| first.wait_for_lookup(id, None, |r| r.status == 200).body["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(partitions.len(), 3, "ids on every partition, so that the newcomer owns some");

    let joined = std::sync::atomic::AtomicBool::new(false);
    let third = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            while !joined.load(std::sync::atomic::Ordering::Acquire) {
                for api in [&first, &second] {
                    for id in &ids {
                        let answer = api.get(&format!("/v1/messages/{id}"), None);
                        match answer.status {
                            200 => assert_eq!(answer.body["status"], "SENT", "never a wrong status: {answer:?}"),
                            503 => assert!(answer.header("retry-after").is_some(), "{answer:?}"),
                            _ => panic!("only the status or a 503 during a rebalance: {answer:?}"),
                        }
                        let kind = answer.body["error"].as_str().unwrap_or("200");
                        *seen.entry(kind.to_owned()).or_default() += 1;
                    }
                }
            }
            seen
        });
        let third = ApiTracker::start_advertised(&s, &[]);
        wait_for("each instance to own one partition", DEADLINE, || {
            first.owns_one_partition()?;
            second.owns_one_partition()?;
            third.owns_one_partition()
        });
        joined.store(true, std::sync::atomic::Ordering::Release);
        eprintln!("answers during the rebalance: {:?}", watcher.join().expect("the watcher's assertions"));
        third
    });
    let mut answered_by = std::collections::BTreeSet::new();
    for id in &ids {
        let answers = [&first, &second, &third].map(|api| api.wait_for_lookup(id, None, |r| r.status == 200));
        for answer in &answers {
            assert_eq!(answer.body["status"], "SENT");
            assert_eq!(answer.body["answeredBy"], answers[0].body["answeredBy"], "one owner for {id}");
        }
        answered_by.insert(answers[0].body["answeredBy"].as_str().unwrap().to_owned());
    }
    assert!(answered_by.contains(&third.instance()), "the newcomer owns some ids: {answered_by:?}");
}

/// A lookup API that cannot work stops the start, before the instance joins the group.
#[test]
fn an_unreadable_token_file_a_taken_api_port_or_revealed_content_without_a_token_stops_the_start() {
    let s = Scenario::new("api-refused");
    s.create_inputs(1, 1);
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(support::unique("no-such-token"));
    let port = support::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let tracker = Tracker::spawn(&s, &["--api-listen", &listen, "--api-token-file", missing.to_str().unwrap()]);
    let log = tracker.log.clone();
    assert!(!tracker.wait_exit().success(), "must exit non-zero");
    let logs = std::fs::read_to_string(log).unwrap();
    assert!(logs.contains("cannot read the API token file"), "{logs}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let tracker = Tracker::spawn(&s, &["--api-listen", &listen]);
    let log = tracker.log.clone();
    assert!(!tracker.wait_exit().success(), "must exit non-zero");
    let logs = std::fs::read_to_string(log).unwrap();
    assert!(logs.contains(&format!("cannot listen on {listen} (--api-listen)")), "{logs}");
    assert!(!logs.contains("Partition actor started"), "stopped before joining: {logs}");

    let listen = format!("127.0.0.1:{}", support::free_port());
    let tracker = Tracker::spawn(&s, &["--api-listen", &listen, "--api-reveal-content"]);
    let log = tracker.log.clone();
    assert!(!tracker.wait_exit().success(), "must exit non-zero");
    let logs = std::fs::read_to_string(log).unwrap();
    assert!(logs.contains("--api-reveal-content needs --api-token-file"), "{logs}");
}

/// `POST /v1/messages:batchGet` at either of two instances: every id answered by its owner (one
/// forwarded batch per owner), unknown ids as 404 entries, duplicates answered each time, the
/// token required, and a dead owner's ids as 503 entries in a batch that still answers 200.
#[test]
fn a_batch_is_answered_by_the_owners_one_forward_per_owner() {
    let s = Scenario::new("api-batch");
    s.create_inputs(2, 2);
    let token_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(support::unique("api-token"));
    std::fs::write(&token_file, "batch-token").unwrap();
    let token_args = ["--api-token-file", token_file.to_str().unwrap()];
    let token = Some("batch-token");
    let first = ApiTracker::start_advertised(&s, &token_args);
    let second = ApiTracker::start_advertised(&s, &token_args);
    wait_for("each instance to own one partition", DEADLINE, || {
        first.owns_one_partition()?;
        second.owns_one_partition()
    });
    let input = Input::new();
    let ids: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
    for id in &ids {
        input.send(&s.sent, Some(id), Some(&message(id)));
        input.send(&s.responses, Some(id), Some(&part(id, 1, 1, 0, Some("A"))));
    }
    assert_eq!(s.settled_output(&s.status).len(), ids.len());
    let mut asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    asked.extend(["nobody", "b0"]);

    let mut owner_of = std::collections::HashMap::new();
    for api in [&first, &second] {
        let batch = wait_for("a batch answered in full by the owners", DEADLINE, || {
            let batch = api.batch(&asked, token);
            assert_eq!(batch.status, 200, "{batch:?}");
            let results = batch.body["results"].as_array().unwrap().clone();
            results.iter().all(|r| r.get("code").is_none_or(|code| code == 404)).then_some(batch)
        });
        assert_eq!(batch.body["answeredBy"], api.instance());
        let results = batch.body["results"].as_array().unwrap();
        assert_eq!(results.len(), asked.len());
        for (result, id) in results.iter().zip(&asked) {
            assert_eq!(result["id"], *id, "request order");
            if *id == "nobody" {
                assert_eq!((result["code"].as_u64(), result["error"].as_str()), (Some(404), Some("unknownOrPurged")));
                assert!(result["partition"].is_i64(), "{result:#}");
                continue;
            }
            assert_eq!(result["status"], "SENT", "{result:#}");
            // The batch entry is what a GET of the id answers.
            let single = api.get(&format!("/v1/messages/{id}"), token);
            assert_eq!(single.body, *result, "{id}");
            let owner = result["answeredBy"].as_str().unwrap().to_owned();
            assert_eq!(owner_of.entry(id.to_string()).or_insert_with(|| owner.clone()), &owner, "{id}");
        }
        assert_eq!(results[0], results[asked.len() - 1], "a duplicate is answered again");
    }
    let owners: std::collections::BTreeSet<&String> = owner_of.values().collect();
    assert_eq!(owners.len(), 2, "ids on both partitions: {owner_of:?}");

    // One forward per owner elsewhere, however many of its ids are in the batch.
    let forwards = |api: &ApiTracker| api.tracker.metric(r#"sms_tracker_api_forwards_total{result="answered"}"#);
    let before = forwards(&first).unwrap();
    assert_eq!(first.batch(&asked, token).status, 200);
    assert_eq!(forwards(&first), Some(before + 1.0));
    // A forwarded batch answers the ids it does not own with notOwnedHere, never forwarding again.
    let body = serde_json::to_vec(&serde_json::json!({ "ids": asked })).unwrap();
    let headers = "Content-Type: application/json\r\nX-Sms-Tracker-Forwarded-By: test\r\n";
    let again = first.post_with("/v1/messages:batchGet", token, headers, &body);
    assert_eq!(forwards(&first), Some(before + 1.0));
    for (result, id) in again.body["results"].as_array().unwrap().iter().zip(&asked) {
        if owner_of.get(*id).is_some_and(|owner| *owner != first.instance()) {
            assert_eq!((result["code"].as_u64(), result["error"].as_str()), (Some(503), Some("notOwnedHere")));
            assert_eq!(result["retryAfter"], 1);
        }
    }

    assert_eq!(first.batch(&asked, None).status, 401, "the token is required");
    assert_eq!(first.batch(&asked, Some("wrong")).status, 401);
    assert_eq!(first.tracker.metric(r#"sms_tracker_api_requests_total{code="401",route="batchGet"}"#), Some(2.0));
    assert!(first.tracker.metric(r#"sms_tracker_api_requests_total{code="200",route="batchGet"}"#).unwrap() >= 3.0);

    // The owner dies: its ids become 503 entries (with retryAfter) until the survivor owns them
    // (the survivor's own too, while the group rebalances).
    second.tracker.sigkill();
    let mut refusals = std::collections::BTreeSet::new();
    let batch = wait_for("the survivor to answer every id itself", DEADLINE, || {
        let batch = first.batch(&asked, token);
        assert_eq!(batch.status, 200, "{batch:?}");
        let results = batch.body["results"].as_array().unwrap().clone();
        for result in &results {
            if result["code"] == 503 {
                assert!(result["retryAfter"].is_u64(), "{result:#}");
                refusals.insert(result["error"].as_str().unwrap_or_default().to_owned());
            }
        }
        results.iter().all(|r| r.get("code").is_none_or(|code| code == 404)).then_some(results)
    });
    for (result, id) in batch.iter().zip(&asked) {
        assert_eq!(result["answeredBy"], first.instance());
        if *id != "nobody" {
            assert_eq!(result["status"], "SENT", "never a wrong status: {result:#}");
        }
    }
    eprintln!("while the owner was dead the batch's entries were 503 with: {refusals:?}");
    let _ = std::fs::remove_file(token_file);
}

/// A batch's limits: 1 to 1,000 ids of valid ids in JSON, a body of bounded size.
#[test]
fn bad_batches_get_a_clear_4xx() {
    let (_s, api, _input) = started("api-batch-bad", &[]);
    let path = "/v1/messages:batchGet";
    let refused = |answer: Response, status: u16, error: &str, says: &str| {
        assert_eq!((answer.status, answer.body["error"].as_str()), (status, Some(error)), "{answer:?}");
        assert!(answer.body["message"].as_str().unwrap().contains(says), "{:#}", answer.body);
    };
    let too_many: Vec<String> = (0..1001).map(|i| format!("x{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    refused(api.batch(&too_many, None), 400, "badBatch", "1001 ids");
    refused(api.batch(&[], None), 400, "badBatch", "no ids");
    refused(api.batch(&["a", ""], None), 400, "badBatch", "ids[1] is empty");
    refused(api.batch(&["a", "b", &"x".repeat(1025)], None), 400, "badBatch", "ids[2] is longer");
    refused(api.post(path, None, "application/json", b"{\"ids\": [\"a\""), 400, "badBatch", "JSON");
    refused(api.post(path, None, "application/json", b"[\"a\"]"), 400, "badBatch", "JSON");
    refused(api.post(path, None, "text/plain", b"{\"ids\": [\"a\"]}"), 415, "unsupportedMediaType", "application/json");
    // A declared length beyond the limit is refused before the body is sent.
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                        Content-Length: 7000000\r\nConnection: close\r\n\r\n"
    );
    let huge = request_raw(api.port, head.as_bytes());
    refused(huge, 413, "bodyTooLarge", "longer than");
    // A body that never arrives in full is refused after 10 s, its connection closed.
    let started = Instant::now();
    let slow = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"ids\""
    );
    refused(request_raw(api.port, slow.as_bytes()), 408, "bodyTimeout", "did not arrive");
    assert!(started.elapsed() < Duration::from_secs(20));

    // The largest batch: 1,000 ids, all answered (unknown here).
    let most: Vec<String> = (0..1000).map(|i| format!("{i:x>1024}")).collect();
    let most: Vec<&str> = most.iter().map(String::as_str).collect();
    let answer = api.batch(&most, None);
    assert_eq!(answer.status, 200);
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    assert!(results.iter().zip(&most).all(|(r, id)| r["id"] == *id && r["code"] == 404), "{:#}", results[0]);

    // No clash with the GET: an id literally named `:batchGet` is looked up, a GET of the batch
    // route is no route.
    assert_eq!(api.get("/v1/messages/:batchGet", None).body["id"], ":batchGet");
    assert_eq!(api.get("/v1/messages/:batchGet", None).status, 404);
    assert_eq!(api.get(path, None).body["error"], "noSuchRoute");
    assert_eq!(api.tracker.metric(r#"sms_tracker_api_requests_total{code="400",route="batchGet"}"#), Some(6.0));
    assert_eq!(api.tracker.metric(r#"sms_tracker_api_requests_total{code="413",route="batchGet"}"#), Some(1.0));
}

/// A batchGet whose head is sent but whose body is held back: the instance takes a batch slot
/// for it once it has read the head, and holds it while the body is read.
struct HeldBatch {
    stream: TcpStream,
    body: Vec<u8>,
}

impl HeldBatch {
    fn open(port: u16, ids: &[&str]) -> Self {
        let body = serde_json::to_vec(&serde_json::json!({ "ids": ids })).unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the API");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST /v1/messages:batchGet HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        Self { stream, body }
    }

    /// Sends the body and reads the answer (an error when the instance had answered already, e.g.
    /// 503 `busy`, and closed the connection).
    fn finish(mut self) -> std::io::Result<Response> {
        self.stream.write_all(&self.body)?;
        read_response(self.stream)
    }
}

/// The batches an instance answers at once (`MAX_CONCURRENT_BATCHES` in src/api/batch.rs).
const BATCH_SLOTS: usize = 16;
/// How long an instance waits for a batch's body (`BODY_TIMEOUT` in src/api/batch.rs): the held
/// batches must fill every slot well within it.
const BATCH_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Holds a batch in every slot of the instance at `api`: returns the held batches and the answer
/// to one more batch, once one more is refused (until every held head is read, one more takes a
/// free slot and is answered).
fn hold_every_batch_slot(api: &ApiTracker, ids: &[&str]) -> (Vec<HeldBatch>, Response) {
    let held: Vec<HeldBatch> = (0..BATCH_SLOTS).map(|_| HeldBatch::open(api.port, ids)).collect();
    let refused = wait_for("one batch more than the slots to be refused", BATCH_BODY_TIMEOUT / 2, || {
        Some(api.batch(ids, None)).filter(|answer| answer.status != 200)
    });
    (held, refused)
}

/// With every batch slot held by a batch whose body is still arriving, one more batch is refused
/// at once with 503 `busy` and Retry-After. The held batches are answered in full once their
/// bodies arrive, and every slot comes back, those of clients that went away included: 16
/// batches at once are answered again.
#[test]
fn a_batch_beyond_the_concurrent_limit_is_refused_busy_and_every_slot_comes_back() {
    let (_s, api, _input) = started("api-batch-busy", &[]);
    let ids = ["busy-1", "busy-2"];
    let (held, busy) = hold_every_batch_slot(&api, &ids);
    assert_eq!((busy.status, busy.body["error"].as_str()), (503, Some("busy")), "{busy:?}");
    assert_eq!(busy.header("retry-after"), Some("1"), "{busy:?}");
    assert!(
        busy.body["message"].as_str().unwrap().contains(&format!("{BATCH_SLOTS} batches are being answered")),
        "{:#}",
        busy.body
    );
    assert_eq!(busy.body["answeredBy"], api.instance());
    assert_eq!(api.tracker.metric(r#"sms_tracker_api_requests_total{code="503",route="batchGet"}"#), Some(1.0));

    // The held batches were waiting for their bodies, not refused: each is answered in full.
    let mut answered = held;
    let abandoned = answered.split_off(BATCH_SLOTS - 4);
    for batch in answered {
        let answer = batch.finish().expect("the held batch's answer");
        assert_eq!(answer.status, 200, "{answer:?}");
        let results = answer.body["results"].as_array().unwrap();
        assert_eq!(results.len(), ids.len(), "{answer:?}");
        for (result, id) in results.iter().zip(ids) {
            assert_eq!((result["id"].as_str(), result["code"].as_u64()), (Some(id), Some(404)), "{result:#}");
        }
    }
    // Their clients give up without sending the body: their slots come back too.
    drop(abandoned);
    assert_eq!(api.batch(&ids, None).status, 200, "a batch is answered once slots are free");
    // Every slot is free (once the instance has noticed the clients gone): as many batches as
    // there are slots, held at once, are all answered; a slot lost would refuse one of them.
    wait_for("every batch slot to come back", DEADLINE, || {
        let (held, refused) = hold_every_batch_slot(&api, &ids);
        assert_eq!((refused.status, refused.body["error"].as_str()), (503, Some("busy")), "{refused:?}");
        let statuses: Vec<u16> =
            held.into_iter().map(|batch| batch.finish().map_or(0, |answer| answer.status)).collect();
        statuses.iter().all(|status| *status == 200).then_some(())
    });
    assert_eq!(api.batch(&ids, None).status, 200);
}

/// Poses as the instance owning a partition: another instance advertises the stub's address
/// (`--advertised-address`), so that lookups of its partition are forwarded here.
struct StubOwner {
    listener: std::net::TcpListener,
}

/// A batch forwarded to the stub: its head and the ids in its body.
#[derive(Debug)]
struct ForwardedBatch {
    head: String,
    ids: Vec<String>,
}

impl ForwardedBatch {
    fn header(&self, name: &str) -> Option<&str> {
        let mut fields = self.head.lines().skip(1).filter_map(|line| line.split_once(':'));
        fields.find(|(field, _)| field.trim().eq_ignore_ascii_case(name)).map(|(_, value)| value.trim())
    }
}

impl StubOwner {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self { listener }
    }

    fn address(&self) -> String {
        self.listener.local_addr().unwrap().to_string()
    }

    /// The connection of a batch forwarded to the stub and what it asks, if one is waiting.
    fn next(&self) -> Option<(TcpStream, ForwardedBatch)> {
        let (mut stream, _) = self.listener.accept().ok()?;
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut raw = Vec::new();
        let mut buffer = [0; 4096];
        let mut read = |stream: &mut TcpStream, raw: &mut Vec<u8>| {
            let n = stream.read(&mut buffer).expect("read the forwarded batch");
            assert!(n > 0, "the forwarded batch ended early: {:?}", String::from_utf8_lossy(raw));
            raw.extend_from_slice(&buffer[..n]);
        };
        let split = loop {
            if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break split;
            }
            read(&mut stream, &mut raw);
        };
        let head = String::from_utf8(raw[..split].to_vec()).expect("a UTF-8 head");
        let forwarded = ForwardedBatch { head, ids: Vec::new() };
        let length: usize = forwarded.header("content-length").expect("a Content-Length").parse().unwrap();
        while raw.len() < split + 4 + length {
            read(&mut stream, &mut raw);
        }
        let body: Value = serde_json::from_slice(&raw[split + 4..]).expect("a JSON body");
        let ids = body["ids"].as_array().expect("ids").iter().map(|id| id.as_str().unwrap().to_owned()).collect();
        Some((stream, ForwardedBatch { ids, ..forwarded }))
    }
}

/// A whole HTTP/1.1 answer of the stub.
fn stub_answer(status: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What the stub says to a forwarded batch of these ids: an answer, or nothing (it holds the
/// connection open until the forwarding instance has answered its client).
type StubScript = Box<dyn Fn(&[String]) -> Option<Vec<u8>>>;

/// Sends `ids` as a batch to `api` while the stub takes the batch forwarded to it, if any, and
/// answers it as `script` says: the batch's answer and what was forwarded to the stub.
fn batch_via_stub(
    api: &ApiTracker,
    stub: &StubOwner,
    ids: &[&str],
    token: Option<&str>,
    script: &StubScript,
) -> (Response, Option<ForwardedBatch>) {
    std::thread::scope(|scope| {
        let batch = scope.spawn(|| api.batch(ids, token));
        let forwarded = wait_for("the batch to be forwarded to the stub, or answered", DEADLINE, || {
            // A batch answered has made its forward's connection before: it waits to be accepted.
            let answered = batch.is_finished();
            match stub.next() {
                Some(forwarded) => Some(Some(forwarded)),
                None => answered.then_some(None),
            }
        });
        let (forwarded, held) = match forwarded {
            Some((mut stream, forwarded)) => match script(&forwarded.ids) {
                Some(answer) => {
                    // The forwarding instance reads the answer to the connection's end: closed here.
                    let _ = stream.write_all(&answer);
                    (Some(forwarded), None)
                }
                None => (Some(forwarded), Some(stream)),
            },
            None => (None, None),
        };
        let answer = batch.join().expect("the batch");
        drop(held);
        (answer, forwarded)
    })
}

/// An owner that answers a forwarded batch with anything but one entry per id sent, in order (an
/// error status such as 503 or 401, too few entries, others' ids, no JSON, no HTTP, nothing at
/// all) has its ids answered as 503 `ownerUnreachable` entries with retryAfter, saying what it
/// answered; the batch still answers 200 with an entry for every id in request order, the ids
/// owned by the asked instance answered by it as usual. The owner is a stub in the test: a second
/// instance advertises the stub's address, so that its partition's ids are forwarded there.
#[test]
fn an_owner_answering_a_forwarded_batch_wrongly_turns_its_ids_into_owner_unreachable_entries() {
    let s = Scenario::new("api-batch-stub");
    s.create_inputs(2, 2);
    let token_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(support::unique("api-token"));
    std::fs::write(&token_file, "stub-token").unwrap();
    let token_args = ["--api-token-file", token_file.to_str().unwrap()];
    let token = Some("stub-token");
    let stub = StubOwner::start();
    let stub_address = stub.address();
    let asked = ApiTracker::start(&s, &token_args);
    // The owner serves no API itself: it only announces the stub's address in the group.
    let owner = Tracker::start(&s, &["--advertised-address", &stub_address]);
    wait_for("each instance to own one partition", DEADLINE, || {
        asked.owns_one_partition()?;
        owns_one_partition(&owner)
    });
    let ids = ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7", "o1"];
    let entry = |id: &str| serde_json::json!({ "id": id, "status": "SENT", "answeredBy": "stub" });
    let batch_of = |entries: Vec<Value>| {
        let body = serde_json::json!({ "results": entries, "answeredBy": "stub" }).to_string();
        Some(stub_answer("200 OK", "", &body))
    };
    let answers_each: StubScript = Box::new(move |sent: &[String]| batch_of(sent.iter().map(|id| entry(id)).collect()));

    // Once the asked instance sees the group stable, with the stub's address for the owner's
    // partition, the ids of that partition go to the stub, and its entries are passed on as they are.
    let (batch, forwarded) = wait_for("a batch forwarded to the stub", DEADLINE, || {
        let (batch, forwarded) = batch_via_stub(&asked, &stub, &ids, token, &answers_each);
        assert_eq!(batch.status, 200, "{batch:?}");
        forwarded.map(|forwarded| (batch, forwarded))
    });
    assert!(forwarded.head.starts_with("POST /v1/messages:batchGet HTTP/1.1\r\n"), "{}", forwarded.head);
    assert_eq!(forwarded.header("x-sms-tracker-forwarded-by"), Some(asked.instance().as_str()));
    assert_eq!(forwarded.header("authorization"), Some("Bearer stub-token"), "the caller's token is passed on");
    assert_eq!(forwarded.header("content-type"), Some("application/json"));
    let results = batch.body["results"].as_array().unwrap();
    assert_eq!(results.len(), ids.len(), "{batch:?}");
    let theirs: Vec<&str> =
        ids.iter().zip(results).filter(|(_, result)| result["answeredBy"] == "stub").map(|(id, _)| *id).collect();
    assert_eq!(forwarded.ids, theirs, "only the owner's ids are forwarded, in request order");
    assert!(!theirs.is_empty() && theirs.len() < ids.len(), "ids on both partitions: {results:#?}");
    let mut partitions = std::collections::BTreeSet::new();
    for (result, id) in results.iter().zip(&ids) {
        if theirs.contains(id) {
            assert_eq!(*result, entry(id), "the owner's entry is passed on as it is");
        } else {
            assert_eq!((result["id"].as_str(), result["code"].as_u64()), (Some(*id), Some(404)), "{result:#}");
            assert_eq!(result["answeredBy"], asked.instance());
            partitions.insert(result["partition"].as_i64().unwrap());
        }
    }
    assert_eq!(partitions.len(), 1, "the asked instance owns one partition: {results:#?}");

    let not_a_batch = "an answer that is not a batch of one entry per id sent, in order".to_owned();
    let not_http = format!("{stub_address} answered something that is not an HTTP/1.1 response");
    let cases: Vec<(&str, StubScript, String)> = vec![
        (
            "503 busy",
            Box::new(|_: &[String]| {
                let body = r#"{"error":"busy","message":"16 batches are being answered; retry","answeredBy":"stub"}"#;
                Some(stub_answer("503 Service Unavailable", "Retry-After: 7\r\n", body))
            }),
            "HTTP 503 to the forwarded batch".to_owned(),
        ),
        (
            "401, the owner has another token",
            Box::new(|_: &[String]| {
                let body = r#"{"error":"unauthorized","message":"the bearer token is not valid","answeredBy":"stub"}"#;
                Some(stub_answer("401 Unauthorized", "WWW-Authenticate: Bearer realm=\"sms-tracker\"\r\n", body))
            }),
            "HTTP 401 to the forwarded batch".to_owned(),
        ),
        (
            "500 without a body",
            Box::new(|_: &[String]| Some(stub_answer("500 Internal Server Error", "", ""))),
            "HTTP 500 to the forwarded batch".to_owned(),
        ),
        (
            "one entry short",
            Box::new(move |sent: &[String]| batch_of(sent[1..].iter().map(|id| entry(id)).collect())),
            not_a_batch.clone(),
        ),
        (
            "an entry for another id",
            Box::new(move |sent: &[String]| {
                let mut entries: Vec<Value> = sent.iter().map(|id| entry(id)).collect();
                entries[0] = entry("someone-else");
                batch_of(entries)
            }),
            not_a_batch.clone(),
        ),
        ("not JSON", Box::new(|_: &[String]| Some(stub_answer("200 OK", "", "<html>oops</html>"))), not_a_batch),
        ("not HTTP", Box::new(|_: &[String]| Some(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec())), not_http.clone()),
        ("closed without a word", Box::new(|_: &[String]| Some(Vec::new())), not_http),
        ("silent", Box::new(|_: &[String]| None), format!("no answer from {stub_address} within 3s")),
    ];
    for (case, script, says) in &cases {
        let (batch, forwarded) = batch_via_stub(&asked, &stub, &ids, token, script);
        assert_eq!(batch.status, 200, "{case}: never another status for the batch: {batch:?}");
        assert_eq!(batch.body["answeredBy"], asked.instance(), "{case}");
        assert_eq!(forwarded.map(|f| f.ids), Some(theirs.iter().map(|id| id.to_string()).collect()), "{case}");
        let results = batch.body["results"].as_array().unwrap();
        assert_eq!(results.len(), ids.len(), "{case}: an entry for every id: {batch:?}");
        let mut their_partitions = std::collections::BTreeSet::new();
        for (result, id) in results.iter().zip(&ids) {
            assert_eq!(result["id"], *id, "{case}: request order");
            assert_eq!(result["answeredBy"], asked.instance(), "{case}: {result:#}");
            if !theirs.contains(id) {
                assert_eq!((result["code"].as_u64(), result["error"].as_str()), (Some(404), Some("unknownOrPurged")));
                continue;
            }
            assert_eq!(
                (result["code"].as_u64(), result["error"].as_str(), result["retryAfter"].as_u64()),
                (Some(503), Some("ownerUnreachable"), Some(1)),
                "{case}: {result:#}"
            );
            let message = result["message"].as_str().unwrap();
            assert!(
                message.contains("which gave no usable answer") && message.contains(says.as_str()),
                "{case}: {message}"
            );
            their_partitions.insert(result["partition"].as_i64().unwrap());
        }
        assert_eq!(their_partitions.len(), 1, "{case}: the owner's one partition: {results:#?}");
        assert!(their_partitions.is_disjoint(&partitions), "{case}: not the asked instance's partition");
    }
    // An owner that answered, whatever it answered, is counted apart from one that did not.
    let forwards =
        |result: &str| asked.tracker.metric(&format!(r#"sms_tracker_api_forwards_total{{result="{result}"}}"#));
    assert_eq!((forwards("answered"), forwards("unreachable")), (Some(7.0), Some(3.0)));
    let _ = std::fs::remove_file(token_file);
}
