//! The router with real partition actors over an in-memory producer.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::health::Health;
use crate::pipeline::clock::ManualClock;
use crate::pipeline::messages::{Assign, Assignment, Dispatch, RevokeAll};
use crate::pipeline::test_kit::{
    FakeRestorer, Ledger, START_MS, TestSink, eventually, part, partition_context, sent, statuses,
};

const NEVER: Duration = Duration::from_secs(3600);

fn start(sink: &TestSink) -> (Addr<Router>, Arc<Health>) {
    let (router, health, _) = start_with_lookups(sink);
    (router, health)
}

fn start_with_lookups(sink: &TestSink) -> (Addr<Router>, Arc<Health>, Arc<PartitionLookups>) {
    let clock = Arc::new(ManualClock::starting_at(START_MS));
    let context = partition_context(sink, FakeRestorer::default(), clock);
    let health = context.health.clone();
    let lookups = Arc::new(PartitionLookups::new(context.partitions));
    let workers = vec![Arbiter::current(), Arbiter::current()];
    let published = lookups.clone();
    let router = Router::create(|ctx| {
        ctx.set_mailbox_capacity(crate::pipeline::UNBOUNDED_MAILBOX);
        Router::new(workers, context, published)
    });
    (router, health, lookups)
}

fn complete(partition: i32, id: &str, offset: i64) -> Vec<InputRecord> {
    vec![sent(partition, offset, id, START_MS), part(partition, offset, id, 1, 1, START_MS)]
}

#[actix_rt::test]
async fn a_batch_is_split_by_partition_and_records_of_unassigned_partitions_are_dropped() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    let (router, health) = start(&sink);
    router.send(Assign(Assignment { partitions: vec![0, 1], delivery_reports: Vec::new() })).await.unwrap();
    let mut records = complete(0, "m0", 0);
    records.extend(complete(1, "m1", 0));
    records.extend(complete(2, "not-ours", 0));
    router.send(Dispatch(records)).await.unwrap();
    eventually("both partitions restored", || health.is_ready()).await;
    router.send(RevokeAll { commit: true }).await.unwrap().unwrap();

    let ledger = sink.ledger();
    let mut published = statuses(&ledger.records("status"));
    published.sort();
    assert_eq!(published, [("m0".into(), "SENT".into()), ("m1".into(), "SENT".into())]);
    assert!(!ledger.offsets().keys().any(|(_, p)| *p == 2), "an unassigned partition's offsets are never committed");
}

#[actix_rt::test]
async fn revoking_commits_what_was_processed_and_stops_every_partition() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    let (router, health) = start(&sink);
    router.send(Assign(Assignment { partitions: vec![0], delivery_reports: Vec::new() })).await.unwrap();
    router.send(Dispatch(complete(0, "before", 0))).await.unwrap();
    router.send(RevokeAll { commit: true }).await.unwrap().unwrap();
    assert_eq!(sink.ledger().committed.len(), 1, "committed before giving the partition up");
    assert!(!health.is_ready() && health.assigned().is_empty(), "no partitions: not ready");

    router.send(Dispatch(complete(0, "after", 1))).await.unwrap();
    sink.addr.send(crate::pipeline::messages::Commit).await.unwrap().unwrap();
    assert_eq!(statuses(&sink.ledger().records("status")), [("before".into(), "SENT".into())]);
}

#[actix_rt::test]
async fn revoking_without_a_commit_aborts_what_the_dropped_state_produced() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    let (router, _health) = start(&sink);
    router.send(Assign(Assignment { partitions: vec![0], delivery_reports: Vec::new() })).await.unwrap();
    router.send(Dispatch(complete(0, "computed-from-aborted-state", 0))).await.unwrap();
    router.send(RevokeAll { commit: false }).await.unwrap().unwrap();
    let ledger = sink.ledger();
    assert!(ledger.committed.is_empty());
    assert_eq!(ledger.aborts, 1, "the open transaction is aborted, not left for the next commit");
}

#[actix_rt::test]
async fn a_lookup_is_answered_by_the_partition_the_gateway_put_the_id_in_after_what_it_processed() {
    use crate::domain::Status;
    use crate::domain::supplier_id::partition_for;
    use crate::domain::view::{Known, ViewStatus};
    use crate::pipeline::messages::Answer;

    let sink = TestSink::start(Ledger::default(), NEVER);
    let (router, health, lookups) = start_with_lookups(&sink);
    let lookup = |id: &str| lookups.lookup(id);
    let partition = partition_for(b"m1", 8);
    assert!(matches!(lookup("m1").answer, Answer::NotAssigned), "nothing assigned yet");

    router.send(Assign(Assignment { partitions: (0..8).collect(), delivery_reports: Vec::new() })).await.unwrap();
    eventually("every partition restored", || health.is_ready()).await;
    router.send(Dispatch(complete(partition, "m1", 0))).await.unwrap();
    let answer = lookup("m1");
    assert_eq!(answer.partition, partition);
    let Answer::Found(view) = answer.answer else { panic!("m1 is known: {:?}", answer.answer) };
    assert_eq!((view.status, view.known), (ViewStatus::Published(Status::Sent), Known::TerminalMarker));
    assert!(matches!(lookup("never-sent").answer, Answer::Unknown));

    router.send(RevokeAll { commit: true }).await.unwrap().unwrap();
    assert!(matches!(lookup("m1").answer, Answer::NotAssigned), "given up");
}

#[actix_rt::test]
async fn every_assignment_and_revocation_is_seen_by_the_lookups_even_the_same_partitions_again() {
    let sink = TestSink::start(Ledger::default(), NEVER);
    let (router, _health, lookups) = start_with_lookups(&sink);
    let mut seen = vec![lookups.assignments_seen()];
    for _ in 0..2 {
        router.send(Assign(Assignment { partitions: vec![0], delivery_reports: Vec::new() })).await.unwrap();
        seen.push(lookups.assignments_seen());
        router.send(RevokeAll { commit: false }).await.unwrap().unwrap();
        seen.push(lookups.assignments_seen());
    }
    seen.dedup();
    // The API's cache of other instances' partitions is of an older generation after each one.
    assert_eq!(seen.len(), 5, "every rebalance step changes what the lookups have seen: {seen:?}");
}
