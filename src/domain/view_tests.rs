//! The view of each kind of entry, built from states the state machine really reaches.

use super::*;
use crate::domain::delivery::{DeliveryPolicy, MatchedReceipt, ReceiptParts};
use crate::domain::{Input, PartResponse, PartitionState, RecordMeta};

const T0: i64 = 1_000_000;
const SUBMIT: i64 = 300_000;
const RETENTION: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn at(ts: i64) -> RecordMeta {
    RecordMeta { timestamp_ms: ts, offset: ts }
}

fn message(id: &str) -> Input {
    Input::Message { id: id.into(), json: format!(r#"{{"id":"{id}","status":"PENDING","text":"hi"}}"#).into_bytes() }
}

fn response(id: &str, n: u8, total: u8, status: u32, supplier_id: Option<&str>) -> Input {
    Input::Part(PartResponse {
        message_id: id.into(),
        part_number: n,
        total_parts: total,
        command_status: status,
        supplier_message_id: supplier_id.map(Into::into),
        supplier: Some("supplier-a".into()),
    })
}

fn policy(receipts: bool) -> Policy {
    let delivery = receipts.then_some(DeliveryPolicy { timeout_ms: DAY, parts: ReceiptParts::All });
    Policy { submit_timeout_ms: SUBMIT, retention_ms: RETENTION, delivery, ..Policy::default() }
}

fn view_after(policy: Policy, inputs: Vec<(Input, i64)>) -> MessageView {
    let mut state = PartitionState::new(policy.clone());
    for (input, ts) in inputs {
        state.apply(input, at(ts));
    }
    view(state.get("m").expect("an entry for m"), &policy)
}

#[test]
fn a_pending_message_shows_each_part_and_its_expiry() {
    let view = view_after(
        policy(false),
        vec![
            (message("m"), T0),
            (response("m", 1, 3, 0, Some("S1")), T0 + 10),
            (response("m", 2, 3, 0x58, None), T0 + 20),
        ],
    );
    assert_eq!((view.status, view.known), (ViewStatus::Pending, Known::Message));
    assert_eq!(view.status.as_str(), "PENDING");
    assert_eq!(view.message.as_deref(), Some(&br#"{"id":"m","status":"PENDING","text":"hi"}"#[..]));
    let progress: Vec<_> = view.parts.iter().map(|p| (p.number, p.progress, p.command_status)).collect();
    assert_eq!(
        progress,
        vec![
            (1, PartProgress::Accepted, Some(0)),
            (2, PartProgress::Retrying, Some(0x58)),
            (3, PartProgress::NoResponse, None)
        ]
    );
    assert_eq!(view.parts[0].supplier_message_id.as_deref(), Some("S1"));
    assert_eq!(view.parts[0].supplier.as_deref(), Some("supplier-a"));
    assert_eq!(view.parts[1].supplier_message_id, None);
    assert_eq!(view.deadline, Deadline { at_ms: T0 + SUBMIT, then: DeadlineAction::Expire });
    assert_eq!(
        view.timestamps,
        Timestamps { first_record_ms: Some(T0), message_record_ms: Some(T0), sent_ms: None, terminal_ms: None }
    );
}

#[test]
fn responses_without_their_message_await_it_until_they_are_orphans() {
    let view = view_after(policy(false), vec![(response("m", 1, 2, 0, Some("S1")), T0)]);
    assert_eq!((view.status, view.known), (ViewStatus::Pending, Known::AwaitingMessage));
    assert_eq!(view.known.as_str(), "awaitingMessage");
    assert_eq!(view.message, None);
    assert_eq!(view.parts.len(), 2);
    assert_eq!(view.deadline, Deadline { at_ms: T0 + SUBMIT, then: DeadlineAction::Orphan });
    assert_eq!(view.timestamps.message_record_ms, None);
}

#[test]
fn a_sent_message_without_receipt_tracking_is_a_marker_until_its_purge() {
    let view = view_after(policy(false), vec![(message("m"), T0), (response("m", 1, 1, 0, Some("S1")), T0 + 50)]);
    assert_eq!((view.status, view.known), (ViewStatus::Published(Status::Sent), Known::TerminalMarker));
    assert_eq!((view.message.as_ref(), view.parts.len()), (None, 0), "a marker keeps neither");
    assert_eq!(view.deadline, Deadline { at_ms: T0 + 50 + RETENTION, then: DeadlineAction::Purge });
    assert_eq!(view.timestamps, Timestamps { terminal_ms: Some(T0 + 50), ..Timestamps::default() });
}

#[test]
fn a_failed_message_is_a_marker_with_its_status() {
    let view = view_after(policy(false), vec![(message("m"), T0), (response("m", 1, 2, 0x0B, None), T0 + 5)]);
    assert_eq!((view.status, view.known), (ViewStatus::Published(Status::Failed), Known::TerminalMarker));
    assert_eq!(view.status.as_str(), "FAILED");
}

#[test]
fn an_expired_message_is_a_marker_decided_by_the_sweep() {
    let policy = policy(false);
    let mut state = PartitionState::new(policy.clone());
    state.apply(message("m"), at(T0));
    state.sweep(T0 + SUBMIT);
    let view = view(state.get("m").unwrap(), &policy);
    assert_eq!(view.status, ViewStatus::Published(Status::Expired));
    assert_eq!(view.timestamps.terminal_ms, Some(T0 + SUBMIT));
}

#[test]
fn a_cancelled_message_says_so() {
    let view = view_after(policy(false), vec![(message("m"), T0), (Input::Tombstone { id: "m".into() }, T0 + 1)]);
    assert_eq!((view.status.as_str(), view.known), ("CANCELLED", Known::TerminalMarker));
}

#[test]
fn with_receipts_a_sent_message_shows_its_receipts_and_the_delivery_deadline() {
    let receipt = |n: u8, stat: &str| {
        Input::Receipt(MatchedReceipt {
            message_id: "m".into(),
            part_number: n,
            receipt: PartReceipt { stat: stat.into(), err: Some("000".into()), done_date: Some("2611251002".into()) },
        })
    };
    let view = view_after(
        policy(true),
        vec![
            (message("m"), T0),
            (response("m", 1, 2, 0, Some("S1")), T0 + 1),
            (response("m", 2, 2, 0, Some("S2")), T0 + 2),
            (receipt(1, "DELIVRD"), T0 + 3),
            (receipt(2, "ENROUTE"), T0 + 4),
        ],
    );
    assert_eq!((view.status, view.known), (ViewStatus::Published(Status::Sent), Known::Message));
    assert_eq!(view.parts[0].receipt.as_ref().map(|r| &*r.stat), Some("DELIVRD"));
    assert_eq!(view.parts[1].receipt.as_ref().map(|r| &*r.stat), Some("ENROUTE"));
    assert_eq!(view.deadline, Deadline { at_ms: T0 + 2 + DAY, then: DeadlineAction::DeliveryUnknown });
    assert_eq!(view.timestamps.sent_ms, Some(T0 + 2));

    let delivered = view_after(
        policy(true),
        vec![(message("m"), T0), (response("m", 1, 1, 0, Some("S1")), T0 + 1), (receipt(1, "DELIVRD"), T0 + 3)],
    );
    assert_eq!(delivered.status.as_str(), "DELIVERED");
    assert_eq!(delivered.known, Known::TerminalMarker);
}

#[test]
fn a_message_sent_under_tracking_that_was_turned_off_just_ends() {
    let mut state = PartitionState::new(policy(true));
    state.apply(message("m"), at(T0));
    state.apply(response("m", 1, 1, 0, Some("S1")), at(T0 + 1));
    let view = view(state.get("m").unwrap(), &policy(false));
    assert_eq!(view.deadline, Deadline { at_ms: T0 + 1, then: DeadlineAction::StopTracking });
}
