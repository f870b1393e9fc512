//! Unit tests of the delivery part of the state machine: receipts joined back to their message.

use super::*;
use crate::domain::delivery::ReceiptParts;

const T0: i64 = 1_000_000;
const DAY: i64 = 86_400_000;

fn at(ts: i64) -> RecordMeta {
    RecordMeta { timestamp_ms: ts, offset: ts }
}

fn state_with(parts: ReceiptParts) -> PartitionState {
    PartitionState::new(Policy { delivery: Some(DeliveryPolicy { timeout_ms: DAY, parts }), ..Policy::default() })
}

fn state() -> PartitionState {
    state_with(ReceiptParts::All)
}

fn message(id: &str) -> Input {
    Input::Message { id: id.into(), json: format!(r#"{{"id":"{id}","status":"PENDING"}}"#).into_bytes() }
}

fn ok(id: &str, n: u8, total: u8) -> Input {
    Input::Part(PartResponse {
        message_id: id.into(),
        part_number: n,
        total_parts: total,
        command_status: 0,
        supplier_message_id: Some(format!("S-{id}-{n}")),
        supplier: Some("supplier-a".into()),
    })
}

fn receipt(id: &str, n: u8, stat: &str) -> Input {
    Input::Receipt(MatchedReceipt {
        message_id: id.into(),
        part_number: n,
        receipt: PartReceipt {
            stat: stat.into(),
            err: (stat != "DELIVRD").then(|| "001".into()),
            done_date: Some("2611261002".into()),
        },
    })
}

/// The statuses an outcome publishes, in order, with their descriptions.
fn statuses(outcome: Outcome) -> Vec<(Status, String)> {
    match outcome {
        Outcome::Publish(change) => vec![(change.status, change.description)],
        Outcome::PublishBoth(changes) => changes.iter().map(|c| (c.status, c.description.clone())).collect(),
        _ => Vec::new(),
    }
}

fn sent_with_two_parts(state: &mut PartitionState, id: &str) {
    state.apply(message(id), at(T0));
    state.apply(ok(id, 1, 2), at(T0));
    assert_eq!(statuses(state.apply(ok(id, 2, 2), at(T0 + 1))), [(Status::Sent, "Sent successfully".into())]);
}

#[test]
fn sent_then_delivered_once_every_part_is() {
    let mut state = state();
    sent_with_two_parts(&mut state, "m");
    assert_eq!(state.counts().awaiting_receipts, 1);
    assert_eq!(state.apply(receipt("m", 1, "DELIVRD"), at(T0 + 10)), Outcome::Recorded);
    let Outcome::Publish(change) = state.apply(receipt("m", 2, "DELIVRD"), at(T0 + 20)) else { panic!("outcome") };
    assert_eq!((change.status, change.description.as_str()), (Status::Delivered, "Delivered"));
    assert_eq!(change.parts[1].receipt.as_ref().map(|r| &*r.stat), Some("DELIVRD"));
    assert_eq!(state.get("m"), Some(&Entry::Closed { outcome: Closed::Published(Status::Delivered), at_ms: T0 + 20 }));
    assert_eq!(state.counts().awaiting_receipts, 0);
}

#[test]
fn receipts_before_sent_publish_sent_then_the_outcome_together() {
    let mut state = state();
    state.apply(ok("m", 1, 2), at(T0));
    state.apply(ok("m", 2, 2), at(T0));
    state.apply(receipt("m", 1, "DELIVRD"), at(T0 + 1));
    state.apply(receipt("m", 2, "DELIVRD"), at(T0 + 2));
    let published = statuses(state.apply(message("m"), at(T0 + 3)));
    assert_eq!(published.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [Status::Sent, Status::Delivered]);
}

#[test]
fn one_part_finally_not_delivered_makes_the_message_undelivered_at_once() {
    let mut state = state();
    sent_with_two_parts(&mut state, "m");
    let published = statuses(state.apply(receipt("m", 2, "UNDELIV"), at(T0 + 5)));
    assert_eq!(published, [(Status::Undelivered, "Part 2/2 not delivered by supplier-a: UNDELIV err 001".into())]);
    assert_eq!(state.apply(receipt("m", 1, "DELIVRD"), at(T0 + 6)), Outcome::Ignored(Ignored::LateReceipt));
}

#[test]
fn intermediate_receipts_are_kept_and_named_when_the_outcome_stays_unknown() {
    let mut state = state();
    sent_with_two_parts(&mut state, "m");
    state.apply(receipt("m", 1, "DELIVRD"), at(T0 + 5));
    assert_eq!(state.apply(receipt("m", 2, "ENROUTE"), at(T0 + 6)), Outcome::Recorded);
    assert_eq!(state.apply(receipt("m", 2, "ENROUTE"), at(T0 + 7)), Outcome::Ignored(Ignored::DuplicateReceipt));
    assert!(state.sweep(T0 + DAY).is_empty(), "the timeout counts from SENT");
    let swept: Vec<_> = state.sweep(T0 + 1 + DAY).into_iter().flat_map(statuses).collect();
    assert_eq!(
        swept,
        [(Status::DeliveryUnknown, "No final delivery receipt within 86400 s for part 2/2 (last: ENROUTE)".into())]
    );
}

#[test]
fn the_first_final_receipt_of_a_part_wins() {
    let mut state = state();
    sent_with_two_parts(&mut state, "m");
    state.apply(receipt("m", 1, "DELIVRD"), at(T0 + 5));
    assert_eq!(state.apply(receipt("m", 1, "UNDELIV"), at(T0 + 6)), Outcome::Ignored(Ignored::DuplicateReceipt));
    assert_eq!(state.apply(receipt("m", 1, "DELIVRD"), at(T0 + 7)), Outcome::Ignored(Ignored::DuplicateReceipt));
}

#[test]
fn a_message_without_registered_delivery_ends_at_sent() {
    let mut state = state();
    let json = br#"{"id":"m","status":"PENDING","registeredDelivery":false}"#.to_vec();
    state.apply(Input::Message { id: "m".into(), json }, at(T0));
    assert_eq!(statuses(state.apply(ok("m", 1, 1), at(T0))), [(Status::Sent, "Sent successfully".into())]);
    assert_eq!(state.get("m"), Some(&Entry::Closed { outcome: Closed::Published(Status::Sent), at_ms: T0 }));
    assert_eq!(state.apply(receipt("m", 1, "DELIVRD"), at(T0 + 1)), Outcome::Ignored(Ignored::LateReceipt));
}

#[test]
fn failed_messages_get_no_delivery_outcome() {
    let mut state = state();
    state.apply(message("m"), at(T0));
    state.apply(receipt("m", 1, "DELIVRD"), at(T0));
    let rejected = Input::Part(PartResponse {
        message_id: "m".into(),
        part_number: 1,
        total_parts: 1,
        command_status: 0x0B,
        supplier_message_id: None,
        supplier: None,
    });
    assert_eq!(statuses(state.apply(rejected, at(T0 + 1))).len(), 1, "FAILED only");
    assert!(state.sweep(T0 + 10 * DAY).into_iter().flat_map(statuses).next().is_none());
}

#[test]
fn with_last_part_receipts_the_outcome_follows_the_last_part() {
    let mut state = state_with(ReceiptParts::Last);
    sent_with_two_parts(&mut state, "m");
    assert_eq!(state.apply(receipt("m", 1, "UNDELIV"), at(T0 + 5)), Outcome::Ignored(Ignored::UntrackedReceipt));
    let published = statuses(state.apply(receipt("m", 2, "DELIVRD"), at(T0 + 6)));
    assert_eq!(published, [(Status::Delivered, "Delivered".into())]);
}

#[test]
fn with_first_part_receipts_the_outcome_follows_the_first_part() {
    let mut state = state_with(ReceiptParts::First);
    sent_with_two_parts(&mut state, "m");
    let published = statuses(state.apply(receipt("m", 1, "REJECTD"), at(T0 + 5)));
    assert_eq!(published[0].0, Status::Undelivered);
}

#[test]
fn updates_and_duplicate_responses_after_sent_change_nothing() {
    let mut state = state();
    sent_with_two_parts(&mut state, "m");
    assert_eq!(state.apply(message("m"), at(T0 + 2)), Outcome::Ignored(Ignored::UpdateAfterPublish));
    assert_eq!(state.apply(ok("m", 1, 2), at(T0 + 2)), Outcome::Ignored(Ignored::DuplicateResponse));
    assert_eq!(
        state.apply(Input::Tombstone { id: "m".into() }, at(T0 + 2)),
        Outcome::Ignored(Ignored::UpdateAfterPublish)
    );
}

#[test]
fn a_message_waiting_for_receipts_survives_a_restart() {
    let mut state = state();
    sent_with_two_parts(&mut state, "m");
    state.apply(receipt("m", 1, "ENROUTE"), at(T0 + 3));
    let mut restored = state_with(ReceiptParts::All);
    for (id, entry) in state.take_changes() {
        restored.restore(
            &id,
            entry.map(crate::domain::snapshot::encode).map(|b| crate::domain::snapshot::decode(&b).unwrap()),
        );
    }
    assert_eq!(restored.counts().awaiting_receipts, 1);
    restored.apply(receipt("m", 1, "DELIVRD"), at(T0 + 4));
    let published = statuses(restored.apply(receipt("m", 2, "DELIVRD"), at(T0 + 5)));
    assert_eq!(published, [(Status::Delivered, "Delivered".into())]);
}

#[test]
fn retention_counts_from_the_last_status() {
    let mut state = state();
    sent_with_two_parts(&mut state, "m");
    state.apply(receipt("m", 1, "DELIVRD"), at(T0 + DAY / 2));
    state.apply(receipt("m", 2, "DELIVRD"), at(T0 + DAY / 2));
    let retention = Policy::default().retention_ms;
    assert!(state.sweep(T0 + DAY / 2 + retention - 1).is_empty());
    assert_eq!(state.sweep(T0 + DAY / 2 + retention), [Outcome::Purged]);
    assert_eq!(state.apply(receipt("m", 1, "DELIVRD"), at(T0 + DAY)), Outcome::Ignored(Ignored::LateReceipt));
}

/// `status_sent_at_ms` of every status an outcome publishes, in order.
fn sent_times(outcome: Outcome) -> Vec<(Status, Option<i64>)> {
    match outcome {
        Outcome::Publish(change) => vec![(change.status, change.status_sent_at_ms)],
        Outcome::PublishBoth(changes) => changes.iter().map(|c| (c.status, c.status_sent_at_ms)).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn delivery_outcomes_carry_the_time_of_their_sent_for_the_latency_metric() {
    let mut state = state();
    state.apply(message("m"), at(T0));
    state.apply(ok("m", 1, 2), at(T0));
    assert_eq!(sent_times(state.apply(ok("m", 2, 2), at(T0 + 1))), [(Status::Sent, None)]);
    state.apply(receipt("m", 1, "DELIVRD"), at(T0 + 10));
    assert_eq!(sent_times(state.apply(receipt("m", 2, "DELIVRD"), at(T0 + 20))), [(Status::Delivered, Some(T0 + 1))]);

    // SENT and the outcome together: both at the same moment.
    state.apply(ok("both", 1, 1), at(T0));
    state.apply(receipt("both", 1, "UNDELIV"), at(T0 + 1));
    assert_eq!(
        sent_times(state.apply(message("both"), at(T0 + 3))),
        [(Status::Sent, None), (Status::Undelivered, Some(T0 + 3))]
    );

    // DELIVERY_UNKNOWN, after a restart: the SENT time comes back from the changelog.
    sent_with_two_parts(&mut state, "unknown");
    let mut restored = state_with(ReceiptParts::All);
    for (id, entry) in state.take_changes() {
        restored.restore(
            &id,
            entry.map(crate::domain::snapshot::encode).map(|b| crate::domain::snapshot::decode(&b).unwrap()),
        );
    }
    let swept: Vec<_> = restored.sweep(T0 + 1 + DAY).into_iter().flat_map(sent_times).collect();
    assert_eq!(swept, [(Status::DeliveryUnknown, Some(T0 + 1))]);

    // Submit statuses carry none.
    let mut state = state_with(ReceiptParts::All);
    state.apply(message("f"), at(T0));
    let rejected = Input::Part(PartResponse {
        message_id: "f".into(),
        part_number: 1,
        total_parts: 1,
        command_status: 0x0B,
        supplier_message_id: None,
        supplier: None,
    });
    assert_eq!(sent_times(state.apply(rejected, at(T0 + 1))), [(Status::Failed, None)]);
}
