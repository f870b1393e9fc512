//! A partition actor with an in-memory producer, a prepared restore and a hand-moved clock.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::domain::wire::parse_submit_response;
use crate::pipeline::clock::ManualClock;
use crate::pipeline::failure::PipelineError;
use crate::pipeline::messages::Commit;
use crate::pipeline::stream_clock::IDLE_AFTER;
use crate::pipeline::test_kit::{
    FakeRestorer, Ledger, START_MS, TestSink, garbage, part, partition_context, policy, sent, statuses,
};

const NEVER: Duration = Duration::from_secs(3600);

fn start(context: StageContext, partition: i32) -> Addr<PartitionActor> {
    PartitionActor::create(move |ctx| {
        ctx.set_mailbox_capacity(crate::pipeline::UNBOUNDED_MAILBOX);
        let state = Arc::new(SharedPartition::new(PartitionState::new(context.policy.clone())));
        PartitionActor::new(partition, context, state)
    })
}

#[actix_rt::test]
async fn restored_state_and_new_records_complete_a_message_once() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    // The changelog held part 1 of 2 of m1.
    let mut restored = PartitionState::new(policy());
    let earlier = parse_submit_response(Some(b"m1"), part(3, 0, "m1", 1, 2, START_MS).value.as_deref()).unwrap();
    restored.apply(earlier, RecordMeta { timestamp_ms: START_MS, offset: 0 });
    let restorer = FakeRestorer::default();
    restorer.states.lock().unwrap().insert(3, restored);
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let context = partition_context(&sink, restorer, clock);
    let health = context.health.clone();
    health.set_assigned(&[3], 1);
    let actor = start(context, 3);

    let records = vec![part(3, 1, "m1", 2, 2, START_MS), sent(3, 5, "m1", START_MS), part(3, 2, "m1", 2, 2, START_MS)];
    actor.send(Process(records)).await.unwrap();
    assert!(health.is_ready(), "ready once restored");
    sink.addr.send(Commit).await.unwrap().unwrap();

    let ledger = sink.ledger();
    let published = ledger.records("status");
    assert_eq!(statuses(&published), [("m1".to_owned(), "SENT".to_owned())], "the duplicate part changes nothing");
    assert_eq!(published[0].partition, 3, "output partition = input partition");
    let offsets = ledger.offsets();
    assert_eq!(offsets[&("sent".into(), 3)], 6);
    assert_eq!(offsets[&("responses".into(), 3)], 3);
    assert_eq!(ledger.records("changelog").len(), 1, "m1's terminal marker");
}

#[actix_rt::test]
async fn a_message_expires_by_the_partition_clock_once_input_is_idle() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let actor = start(partition_context(&sink, FakeRestorer::default(), clock.clone()), 0);
    actor.send(Process(vec![sent(0, 0, "slow", START_MS)])).await.unwrap();
    // Not idle yet: the partition clock stays at the newest record time, nothing expires.
    clock.advance(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(50)).await;
    sink.addr.send(Commit).await.unwrap().unwrap();
    assert!(sink.ledger().records("status").is_empty(), "input still flowing: no expiry by wall time");
    // Idle for longer than IDLE_AFTER: the wall clock decides, and the 1 s timeout has passed.
    clock.advance(IDLE_AFTER);
    crate::pipeline::test_kit::eventually("the expiry", || {
        sink.addr.do_send(Commit);
        !sink.ledger().records("status").is_empty()
    })
    .await;
    assert_eq!(statuses(&sink.ledger().records("status")), [("slow".to_owned(), "EXPIRED".to_owned())]);
}

#[actix_rt::test]
async fn an_invalid_record_is_dead_lettered_with_where_it_came_from() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let actor = start(partition_context(&sink, FakeRestorer::default(), clock), 2);
    actor.send(Process(vec![garbage(2, 41)])).await.unwrap();
    sink.addr.send(Commit).await.unwrap().unwrap();
    let letters = sink.ledger().records("dlq");
    assert_eq!(letters.len(), 1);
    let header = |name: &str| {
        letters[0].headers.iter().find(|(k, _)| *k == name).map(|(_, v)| String::from_utf8(v.clone()).unwrap())
    };
    assert_eq!(header("source.topic").as_deref(), Some("responses"));
    assert_eq!(header("source.partition").as_deref(), Some("2"));
    assert_eq!(header("source.offset").as_deref(), Some("41"));
    assert!(header("error.reason").is_some_and(|r| !r.is_empty()));
    assert_eq!(letters[0].value.as_deref(), Some(&b"not json"[..]), "original bytes kept");
}

#[actix_rt::test]
async fn a_partition_that_cannot_be_restored_is_reported_and_processes_nothing() {
    let mut sink = TestSink::start(Ledger::default(), NEVER);
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let restorer = FakeRestorer { fail: true, ..FakeRestorer::default() };
    let actor = start(partition_context(&sink, restorer, clock), 5);
    let failure = tokio::time::timeout(Duration::from_secs(10), sink.failed.recv()).await.unwrap().unwrap();
    assert!(matches!(failure, PipelineError::Restore { partition: 5, .. }), "{failure}");
    let _ = actor.send(Process(vec![sent(5, 0, "m", START_MS), part(5, 0, "m", 1, 1, START_MS)])).await;
    sink.addr.send(Commit).await.unwrap().unwrap();
    assert!(sink.ledger().committed.is_empty(), "no output and no offset of an unrestored partition");
}

#[actix_rt::test]
async fn a_partition_with_unreadable_state_fails_closed_without_stopping_the_process() {
    let mut sink = TestSink::start(Ledger::default(), NEVER);
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let restorer = FakeRestorer { corrupt: true, ..FakeRestorer::default() };
    let context = partition_context(&sink, restorer, clock);
    let (health, metrics) = (context.health.clone(), context.metrics.clone());
    health.set_assigned(&[4], 1);
    let actor = start(context, 4);
    actor.send(Process(vec![sent(4, 0, "m", START_MS), part(4, 0, "m", 1, 1, START_MS)])).await.unwrap();
    sink.addr.send(Commit).await.unwrap().unwrap();
    assert!(sink.ledger().committed.is_empty(), "no output and no offset: the records are consumed again later");
    assert!(!health.is_ready(), "never ready with an unreadable partition");
    assert_eq!(metrics.partitions_failed_closed.get(), 1);
    assert!(sink.failed.try_recv().is_err(), "no failure reported: the other partitions go on");
    actor.send(Stop).await.unwrap();
    crate::pipeline::test_kit::eventually("the gauge to drop with the revoked partition", || {
        metrics.partitions_failed_closed.get() == 0
    })
    .await;
}
