//! Crash safety: state survives SIGKILL through the changelog, graceful shutdown commits, aborted
//! transactions rewind, and a fenced producer is replaced.

mod support;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use support::{Input, Scenario, Tracker, json, key, read_to_end};

fn message(id: &str) -> String {
    format!(r#"{{"id":"{id}","status":"PENDING","text":"hello"}}"#)
}

fn part(id: &str, n: u32, total: u32) -> String {
    format!(
        r#"{{"messageId":"{id}","partNumber":{n},"totalParts":{total},"supplierMessageId":"S{n}","commandStatus":0}}"#
    )
}

/// Parts consumed (and committed) before a crash, the rest after the restart: the message still
/// completes exactly once. Offsets of the early parts are committed, so they are not consumed
/// again: only the restored state can complete the message.
#[test]
fn state_survives_sigkill_through_the_changelog() {
    let s = Scenario::new("restore");
    s.create_inputs(2, 2);
    let input = Input::new();
    let first = Tracker::start_instance(&s, "pod-0", &["--static-membership"]);
    input.send(&s.sent, Some("m1"), Some(&message("m1")));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 1, 3)));
    input.send(&s.responses, Some("m1"), Some(&part("m1", 2, 3)));
    input.send(&s.sent, Some("gone"), Some(&message("gone")));
    input.send(&s.sent, Some("gone"), None);
    s.wait_caught_up();
    assert!(read_to_end(&s.status).is_empty());
    first.sigkill();

    let second = Tracker::start_instance(&s, "pod-0", &["--static-membership"]);
    input.send(&s.responses, Some("m1"), Some(&part("m1", 3, 3)));
    input.send(&s.responses, Some("gone"), Some(&part("gone", 1, 1)));
    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.len(), 1, "m1 completes exactly once; the cancelled message stays cancelled");
    assert_eq!(key(&outputs[0]), "m1");
    assert_eq!(json(&outputs[0])["parts"].as_array().unwrap().len(), 3);
    let restored = second.metric("sms_tracker_restored_records_total").unwrap();
    assert!(restored >= 2.0, "state came from the changelog ({restored} records)");
    assert_eq!(second.metric(r#"sms_tracker_ignored_records_total{reason="cancelled"}"#), Some(1.0));
}

/// SIGTERM commits what was processed and exits 0; the next instance finds nothing to redo.
#[test]
fn graceful_shutdown_commits_and_exits_zero() {
    let s = Scenario::new("graceful");
    s.create_inputs(2, 2);
    let input = Input::new();
    let first = Tracker::start(&s, &[]);
    for i in 0..20 {
        let id = format!("m{i}");
        input.send(&s.sent, Some(&id), Some(&message(&id)));
        input.send(&s.responses, Some(&id), Some(&part(&id, 1, 1)));
    }
    support::wait_for_records(&s.status, 20);
    let status = first.terminate();
    assert!(status.success(), "exit status {status:?}");
    s.wait_caught_up();
    let second = Tracker::start(&s, &[]);
    for i in 0..20 {
        let id = format!("m{i}");
        input.send(&s.responses, Some(&id), Some(&part(&id, 1, 1)));
    }
    let outputs = s.settled_output(&s.status);
    assert_eq!(outputs.len(), 20, "duplicates after the restart publish nothing");
    assert_eq!(second.metric(r#"sms_tracker_ignored_records_total{reason="duplicate_response"}"#), Some(20.0));
}

/// Aborted transactions (injected every third commit) make the tracker drop its state, rewind to
/// the committed offsets and restore from the changelog. If it kept state from an aborted
/// transaction, messages published in it would be marked done and never published again (loss);
/// if it did not rewind, their input would be skipped (loss).
#[cfg(feature = "fault-injection")]
#[test]
fn aborted_transactions_rewind_and_lose_nothing() {
    let s = Scenario::new("abort-rewind");
    s.create_inputs(4, 4);
    let tracker = Tracker::start_with_faults(&s, &["--fault-abort-every", "3"]);
    let loadgen =
        support::LoadGen::spawn(&s, 20_000, 20_000, &["--invalid-share", "0.01", "--duplicate-share", "0.02"]);
    let prefix = loadgen.id_prefix.clone();
    let summary = loadgen.wait();
    support::assert_exactly_once(&s, &summary, &prefix);
    let aborted = tracker.metric(r#"sms_tracker_transactions_total{result="aborted"}"#).unwrap();
    assert!(aborted >= 2.0, "aborts were injected ({aborted})");
    assert!(tracker.logs().contains("Rewound to committed offsets"));
}

/// Another producer takes the tracker's transactional id mid-stream (as the coordinator does to a
/// producer whose transaction outlived `transaction.timeout.ms`, e.g. across a broker outage): the
/// tracker's producer is fenced, a fatal error for it. The tracker replaces the producer, rewinds,
/// and goes on without exiting; nothing is lost or published twice.
#[test]
fn a_fenced_producer_is_replaced_and_nothing_is_lost() {
    let s = Scenario::new("fenced");
    s.create_inputs(4, 4);
    let tracker = Tracker::start_instance(&s, "pod-0", &[]);
    let mut loadgen = support::LoadGen::spawn(&s, 20_000, 10_000, &["--invalid-share", "0.005"]);
    let prefix = loadgen.id_prefix.clone();
    support::wait_for("statuses before the fencing", support::DEADLINE, || {
        (tracker.metric(r#"sms_tracker_statuses_published_total{status="SENT"}"#)? >= 2000.0).then_some(())
    });
    assert!(!loadgen.finished(), "the fencing must happen mid-stream");

    let intruder: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", support::bootstrap())
        .set("transactional.id", format!("{}-pod-0", s.app_id))
        .create()
        .expect("producer");
    intruder.init_transactions(Duration::from_secs(30)).expect("init_transactions fences the tracker's producer");

    let summary = loadgen.wait();
    support::assert_exactly_once(&s, &summary, &prefix);
    let replaced = tracker.metric("sms_tracker_producer_replacements_total").unwrap();
    assert!(replaced >= 1.0, "the producer was replaced ({replaced})");
    assert!(tracker.http_get("/healthz").is_some(), "the tracker is still running");
}
