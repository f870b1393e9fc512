//! What a lookup answers for each phase of a partition's actor, read from the shared state.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::domain::RecordMeta;
use crate::domain::wire::parse_sent_message;
use crate::pipeline::test_kit::{START_MS, policy, sent};

const PARTITIONS: i32 = 8;

/// The lookups of one instance owning the partition of "m1", whose state knows "m1".
fn owning_m1() -> (PartitionLookups, Arc<SharedPartition>) {
    let lookups = PartitionLookups::new(PARTITIONS);
    let partition = partition_for(b"m1", PARTITIONS);
    let shared = Arc::new(SharedPartition::new(PartitionState::new(policy())));
    let record = sent(partition, 0, "m1", START_MS);
    let input = parse_sent_message(record.key.as_deref(), record.value.as_deref()).unwrap();
    shared.lock().apply(input, RecordMeta { timestamp_ms: START_MS, offset: 0 });
    lookups.publish(HashMap::from([(partition, shared.clone())]));
    (lookups, shared)
}

#[test]
fn a_partition_answers_from_its_state_only_while_serving() {
    let (lookups, shared) = owning_m1();
    assert!(
        matches!(lookups.lookup("m1").answer, Answer::Restoring),
        "not restored yet: its state is not the partition's"
    );
    shared.set_phase(Phase::Serving);
    assert!(matches!(lookups.lookup("m1").answer, Answer::Found(_)));
    shared.set_phase(Phase::FailedClosed);
    assert!(matches!(lookups.lookup("m1").answer, Answer::FailedClosed));
    shared.set_phase(Phase::Stopped);
    assert!(matches!(lookups.lookup("m1").answer, Answer::Stopped));
}

#[test]
fn a_partition_not_published_here_is_not_assigned() {
    let (lookups, shared) = owning_m1();
    shared.set_phase(Phase::Serving);
    let answer = lookups.lookup("m1");
    assert_eq!(answer.partition, partition_for(b"m1", PARTITIONS));
    lookups.publish(HashMap::new());
    assert!(matches!(lookups.lookup("m1").answer, Answer::NotAssigned), "revoked");
}

#[test]
fn a_lookup_sees_each_record_as_soon_as_it_is_applied() {
    let (lookups, shared) = owning_m1();
    shared.set_phase(Phase::Serving);
    let partition = partition_for(b"m1", PARTITIONS);
    // Another id of the same partition, applied after the lookups were published.
    let id =
        (0..).map(|n| format!("other-{n}")).find(|id| partition_for(id.as_bytes(), PARTITIONS) == partition).unwrap();
    assert!(matches!(lookups.lookup(&id).answer, Answer::Unknown));
    let record = sent(partition, 1, &id, START_MS);
    let input = parse_sent_message(record.key.as_deref(), record.value.as_deref()).unwrap();
    shared.lock().apply(input, RecordMeta { timestamp_ms: START_MS, offset: 1 });
    assert!(matches!(lookups.lookup(&id).answer, Answer::Found(_)));
}
