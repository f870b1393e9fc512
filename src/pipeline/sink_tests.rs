//! The sink over an in-memory producer: what goes into one transaction, and what each kind of
//! failure does to the pipeline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::error::KafkaError;

use super::*;
use crate::kafka::records::{Destination, OutputRecord};
use crate::pipeline::messages::{Commit, Reset, SinkBatch, SinkError, SourceCommand};
use crate::pipeline::test_kit::{Failure, Ledger, TestSink, eventually};

const NEVER: Duration = Duration::from_secs(3600);

fn status(partition: i32, id: &str) -> OutputRecord {
    OutputRecord {
        destination: Destination::Status(Status::Sent),
        partition,
        key: Some(id.as_bytes().to_vec()),
        value: Some(format!(r#"{{"id":"{id}","status":"SENT"}}"#).into_bytes()),
        headers: Vec::new(),
        sent_at_ms: Some(0),
        timestamp_ms: None,
    }
}

fn batch(partition: i32, ids: &[&str], offsets: [Option<i64>; 2]) -> SinkBatch {
    let mut next_offsets = [None; crate::domain::InputTopic::COUNT];
    next_offsets[..2].copy_from_slice(&offsets);
    SinkBatch {
        partition,
        outputs: ids.iter().map(|id| status(partition, id)).collect(),
        changelog: ids.iter().map(|id| (id.to_string(), Some(format!("state of {id}").into_bytes()))).collect(),
        changelog_topic: Destination::Changelog,
        next_offsets,
        completions: Vec::new(),
        delivery_completions: Vec::new(),
        unmatched_suppliers: Vec::new(),
    }
}

fn keys(records: &[OutputRecord]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8(r.key.clone().unwrap()).unwrap()).collect()
}

#[actix_rt::test]
async fn the_watchdog_sees_an_open_transaction_as_waiting_work_until_it_commits() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    sink.addr.send(batch(0, &["a"], [Some(1), None])).await.unwrap();
    std::thread::sleep(Duration::from_millis(2));
    let stall = sink.health.stalled_for().expect("uncommitted work waits");
    assert_eq!(stall.waiting, [crate::health::Work::Uncommitted]);
    sink.addr.send(Commit).await.unwrap().unwrap();
    assert_eq!(sink.health.stalled_for(), None, "committed: nothing waits");
}

#[actix_rt::test]
async fn a_commit_before_giving_partitions_up_is_counted_only_when_it_carries_consumed_input() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    sink.addr.send(Commit).await.unwrap().unwrap();
    assert_eq!(sink.metrics.revoke_commits.get(), 0, "nothing was open");
    sink.addr.send(batch(0, &["a"], [Some(1), None])).await.unwrap();
    sink.addr.send(Commit).await.unwrap().unwrap();
    assert_eq!(sink.metrics.revoke_commits.get(), 1);
}

#[actix_rt::test]
async fn one_transaction_holds_outputs_the_latest_changelog_entry_per_key_and_the_offsets() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    sink.addr.do_send(batch(0, &["a", "b"], [Some(10), None]));
    let mut update = batch(0, &[], [Some(12), Some(7)]);
    update.changelog = vec![("a".into(), Some(b"a again".to_vec())), ("b".into(), None)];
    sink.addr.do_send(update);
    sink.addr.do_send(batch(1, &["c"], [None, Some(3)]));
    sink.addr.send(Commit).await.unwrap().unwrap();

    let ledger = sink.ledger();
    assert_eq!(ledger.committed.len(), 1, "one commit");
    assert_eq!(keys(&ledger.records("status")), ["a", "b", "c"]);
    let mut changelog: Vec<(String, Option<Vec<u8>>)> = ledger
        .records("changelog")
        .into_iter()
        .map(|r| (String::from_utf8(r.key.unwrap()).unwrap(), r.value))
        .collect();
    changelog.sort();
    assert_eq!(
        changelog,
        [("a".into(), Some(b"a again".to_vec())), ("b".into(), None), ("c".into(), Some(b"state of c".to_vec()))],
        "each key once, its latest entry, a purge as a tombstone"
    );
    let offsets = ledger.offsets();
    assert_eq!(offsets.len(), 3);
    assert_eq!(offsets[&("sent".into(), 0)], 12);
    assert_eq!(offsets[&("responses".into(), 0)], 7);
    assert_eq!(offsets[&("responses".into(), 1)], 3);
    drop(ledger);
    assert_eq!(sink.metrics.status(Status::Sent).get(), 3, "counted once committed");
}

#[actix_rt::test]
async fn delivery_latency_is_observed_from_sent_once_the_outcome_is_committed() {
    let sink = TestSink::start(Ledger { fail_commits: vec![Failure::Abort], ..Ledger::default() }, NEVER);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let outcomes = |ids: &[&str]| {
        let mut b = batch(0, ids, [Some(1), None]);
        for output in &mut b.outputs {
            output.destination = Destination::Status(Status::Delivered);
            output.sent_at_ms = None;
        }
        b.completions = vec![now_ms - 1_000];
        b.delivery_completions =
            vec![(Status::Delivered, now_ms - 30_000), (Status::DeliveryUnknown, now_ms - 7_200_000)];
        b
    };
    let delivered = sink.metrics.delivery_latency(Status::Delivered).unwrap();
    let unknown = sink.metrics.delivery_latency(Status::DeliveryUnknown).unwrap();
    assert!(sink.metrics.delivery_latency(Status::Sent).is_none(), "only delivery outcomes have one");

    sink.addr.do_send(outcomes(&["aborted"]));
    let result = sink.addr.send(Commit).await.unwrap();
    assert!(matches!(result, Err(SinkError::Aborted(_))), "{result:?}");
    assert_eq!((delivered.get_sample_count(), sink.metrics.completion_latency_seconds.get_sample_count()), (0, 0));

    sink.addr.do_send(outcomes(&["m"]));
    sink.addr.send(Commit).await.unwrap().unwrap();
    assert_eq!(delivered.get_sample_count(), 1, "observed once committed, not for the aborted transaction");
    assert!((30.0..60.0).contains(&delivered.get_sample_sum()), "from SENT: {}", delivered.get_sample_sum());
    assert_eq!(unknown.get_sample_count(), 1);
    assert!((7_200.0..7_230.0).contains(&unknown.get_sample_sum()), "{}", unknown.get_sample_sum());
    let undelivered = sink.metrics.delivery_latency(Status::Undelivered).unwrap();
    assert_eq!(undelivered.get_sample_count(), 0);
    assert_eq!(sink.metrics.completion_latency_seconds.get_sample_count(), 1);
}

#[actix_rt::test]
async fn commits_every_interval_on_its_own() {
    let sink = TestSink::start(Ledger::default(), Duration::from_millis(10));
    sink.addr.do_send(batch(0, &["a"], [Some(1), None]));
    eventually("a commit", || sink.ledger().committed.len() == 1).await;
    sink.addr.do_send(batch(0, &["b"], [Some(2), None]));
    eventually("a second commit", || sink.ledger().committed.len() == 2).await;
}

#[actix_rt::test]
async fn an_abort_asks_for_a_rewind_and_drops_batches_until_reset() {
    let sink =
        TestSink::start(Ledger { fail_commits: vec![Failure::Abort], ..Ledger::default() }, Duration::from_millis(10));
    sink.addr.do_send(batch(0, &["aborted"], [Some(1), None]));
    eventually("the rewind request", || sink.source.try_recv() == Ok(SourceCommand::Rewind)).await;
    // Computed from state that included the aborted transaction: must never be committed.
    sink.addr.do_send(batch(0, &["stale"], [Some(2), None]));
    sink.addr.send(Commit).await.unwrap().expect("nothing to commit while rewinding");
    sink.addr.send(Reset).await.unwrap();
    sink.addr.do_send(batch(0, &["replayed"], [Some(2), None]));
    sink.addr.send(Commit).await.unwrap().unwrap();

    let ledger = sink.ledger();
    assert_eq!(keys(&ledger.records("status")), ["replayed"]);
    assert_eq!(ledger.aborts, 1);
}

#[actix_rt::test]
async fn a_fatal_producer_error_replaces_the_producer_and_rewinds() {
    let sink =
        TestSink::start(Ledger { fail_commits: vec![Failure::Fatal], ..Ledger::default() }, Duration::from_millis(10));
    sink.addr.do_send(batch(0, &["lost-with-the-producer"], [Some(1), None]));
    eventually("the rewind request", || sink.source.try_recv() == Ok(SourceCommand::Rewind)).await;
    assert_eq!(sink.ledger().replacements, 1);
    assert_eq!(sink.metrics.producer_replacements.get(), 1);
    sink.addr.send(Reset).await.unwrap();
    sink.addr.do_send(batch(0, &["after"], [Some(1), None]));
    sink.addr.send(Commit).await.unwrap().unwrap();
    assert_eq!(keys(&sink.ledger().records("status")), ["after"]);
}

#[actix_rt::test]
async fn a_producer_failing_fatally_beyond_the_replacement_limit_is_reported() {
    let mut sink =
        TestSink::start(Ledger { fail_always: Some(Failure::Fatal), ..Ledger::default() }, Duration::from_millis(10));
    let mut rewinds = 0;
    while rewinds < MAX_REPLACEMENTS {
        sink.addr.do_send(batch(0, &["m"], [Some(1), None]));
        eventually("a rewind request", || sink.source.try_recv() == Ok(SourceCommand::Rewind)).await;
        rewinds += 1;
        sink.addr.send(Reset).await.unwrap();
    }
    sink.addr.do_send(batch(0, &["m"], [Some(1), None]));
    let failure = tokio::time::timeout(Duration::from_secs(10), sink.failed.recv()).await.unwrap().unwrap();
    assert!(
        matches!(failure, PipelineError::Sink(SinkError::ReplacedTooOften { .. })),
        "{failure}: expected ReplacedTooOften"
    );
    assert_eq!(sink.ledger().replacements, MAX_REPLACEMENTS as u32);
    assert!(
        matches!(sink.addr.send(Commit).await.unwrap(), Err(SinkError::Failed)),
        "a failed sink takes no more work"
    );
    sink.addr.do_send(batch(0, &["after-failure"], [Some(2), None]));
    sink.addr.send(Reset).await.unwrap();
    assert!(sink.ledger().records("status").is_empty());
}

#[actix_rt::test]
async fn a_producer_that_cannot_be_replaced_is_reported() {
    let ledger = Ledger { fail_commits: vec![Failure::Fatal], refuse_replacement: true, ..Ledger::default() };
    let mut sink = TestSink::start(ledger, Duration::from_millis(10));
    sink.addr.do_send(batch(0, &["m"], [Some(1), None]));
    let failure = tokio::time::timeout(Duration::from_secs(10), sink.failed.recv()).await.unwrap().unwrap();
    assert!(matches!(failure, PipelineError::Sink(SinkError::Replacement(_))), "{failure}");
    assert!(sink.source.try_recv().is_err(), "no rewind: the process ends instead");
}

#[actix_rt::test]
async fn reset_aborts_a_transaction_whose_state_is_gone() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    sink.addr.do_send(batch(0, &["of-a-dropped-state"], [Some(1), None]));
    sink.addr.send(Reset).await.unwrap();
    sink.addr.send(Commit).await.unwrap().unwrap();
    let ledger = sink.ledger();
    assert!(ledger.committed.is_empty());
    assert_eq!(ledger.aborts, 1);
}

#[actix_rt::test]
async fn an_abort_at_a_commit_before_a_revoke_is_returned_not_rewound() {
    let sink = TestSink::start(Ledger { fail_commits: vec![Failure::Abort], ..Ledger::default() }, NEVER);
    sink.addr.do_send(batch(0, &["m"], [Some(1), None]));
    let result = sink.addr.send(Commit).await.unwrap();
    assert!(matches!(result, Err(SinkError::Aborted(KafkaError::MessageProduction(_)))), "{result:?}");
    assert!(sink.source.try_recv().is_err(), "the caller gives the partitions up; no rewind");
}
