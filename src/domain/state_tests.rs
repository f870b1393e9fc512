//! Unit tests of the state machine, one behaviour each.

use super::*;

const T0: i64 = 1_000_000;

fn at(ts: i64) -> RecordMeta {
    RecordMeta { timestamp_ms: ts, offset: ts }
}

fn message(id: &str, version: u32) -> Input {
    Input::Message { id: id.into(), json: format!(r#"{{"id":"{id}","status":"PENDING","v":{version}}}"#).into_bytes() }
}

fn part(id: &str, n: u8, total: u8, status: u32, supplier_id: Option<&str>) -> Input {
    Input::Part(PartResponse {
        message_id: id.into(),
        part_number: n,
        total_parts: total,
        command_status: status,
        supplier_message_id: supplier_id.map(Into::into),
        supplier: Some("supplier-a".into()),
    })
}

fn ok(id: &str, n: u8, total: u8, supplier_id: &str) -> Input {
    part(id, n, total, 0, Some(supplier_id))
}

fn state() -> PartitionState {
    PartitionState::new(Policy::default())
}

fn published(outcome: Outcome) -> StatusChange {
    match outcome {
        Outcome::Publish(change) => change,
        other => panic!("expected a status to publish, got {other:?}"),
    }
}

fn supplier_ids(change: &StatusChange) -> Vec<Option<&str>> {
    change.parts.iter().map(|p| p.supplier_message_id.as_deref()).collect()
}

#[test]
fn single_part_message_then_response_is_sent() {
    let mut state = state();
    assert_eq!(state.apply(message("a", 1), at(T0)), Outcome::Recorded);
    let change = published(state.apply(ok("a", 1, 1, "S1"), at(T0)));
    assert_eq!((&*change.id, change.status, change.description.as_str()), ("a", Status::Sent, "Sent successfully"));
    assert_eq!(
        change.parts,
        vec![PartView { number: 1, command_status: Some(0), supplier_message_id: Some("S1".into()), receipt: None }]
    );
    assert_eq!(state.get("a"), Some(&Entry::Closed { outcome: Closed::Published(Status::Sent), at_ms: T0 }));
}

#[test]
fn parts_before_message_complete_when_the_message_arrives() {
    let mut state = state();
    assert_eq!(state.apply(ok("a", 2, 2, "S2"), at(T0)), Outcome::Recorded);
    assert_eq!(state.apply(ok("a", 1, 2, "S1"), at(T0)), Outcome::Recorded);
    let change = published(state.apply(message("a", 1), at(T0)));
    assert_eq!(supplier_ids(&change), vec![Some("S1"), Some("S2")]);
}

#[test]
fn the_latest_message_value_before_completion_is_published() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    state.apply(message("a", 2), at(T0));
    let change = published(state.apply(ok("a", 1, 1, "S1"), at(T0)));
    assert_eq!(&*change.message, br#"{"id":"a","status":"PENDING","v":2}"#);
}

#[test]
fn duplicates_and_updates_after_sent_change_nothing() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    published(state.apply(ok("a", 1, 1, "S1"), at(T0)));
    assert_eq!(state.apply(ok("a", 1, 1, "S1"), at(T0)), Outcome::Ignored(Ignored::DuplicateResponse));
    assert_eq!(state.apply(ok("a", 1, 1, "OTHER"), at(T0)), Outcome::Ignored(Ignored::DuplicateResponse));
    assert_eq!(state.apply(part("a", 1, 1, 0x0B, None), at(T0)), Outcome::Ignored(Ignored::DuplicateResponse));
    assert_eq!(state.apply(message("a", 2), at(T0)), Outcome::Ignored(Ignored::UpdateAfterPublish));
    assert_eq!(state.apply(Input::Tombstone { id: "a".into() }, at(T0)), Outcome::Ignored(Ignored::UpdateAfterPublish));
}

#[test]
fn first_success_of_a_part_wins() {
    let mut state = state();
    state.apply(ok("a", 1, 2, "FIRST"), at(T0));
    assert_eq!(state.apply(ok("a", 1, 2, "SECOND"), at(T0)), Outcome::Ignored(Ignored::DuplicateResponse));
    state.apply(ok("a", 2, 2, "S2"), at(T0));
    let change = published(state.apply(message("a", 1), at(T0)));
    assert_eq!(supplier_ids(&change)[0], Some("FIRST"));
}

#[test]
fn a_retryable_error_waits_for_the_retry() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    assert_eq!(state.apply(part("a", 1, 1, 0x58, None), at(T0)), Outcome::Recorded);
    let change = published(state.apply(ok("a", 1, 1, "S1"), at(T0 + 1)));
    assert_eq!(change.status, Status::Sent);
}

#[test]
fn a_permanent_error_fails_the_message_at_once() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    state.apply(ok("a", 1, 3, "S1"), at(T0));
    let change = published(state.apply(part("a", 2, 3, 0x0B, None), at(T0 + 5)));
    assert_eq!(change.status, Status::Failed);
    assert_eq!(change.description, "Part 2/3 rejected by supplier-a: command_status 0x0000000B (ESME_RINVDSTADR)");
    assert_eq!(
        change.parts[1],
        PartView { number: 2, command_status: Some(0x0B), supplier_message_id: None, receipt: None }
    );
    assert_eq!(change.parts[2], PartView { number: 3, command_status: None, supplier_message_id: None, receipt: None });
    assert_eq!(state.apply(ok("a", 3, 3, "S3"), at(T0 + 6)), Outcome::Ignored(Ignored::DuplicateResponse));
}

#[test]
fn a_rejection_before_the_message_fails_it_when_the_message_arrives() {
    let mut state = state();
    assert_eq!(state.apply(part("a", 1, 2, 0x45, None), at(T0)), Outcome::Recorded);
    assert_eq!(state.apply(ok("a", 2, 2, "S2"), at(T0)), Outcome::Recorded);
    assert_eq!(published(state.apply(message("a", 1), at(T0))).status, Status::Failed);
}

#[test]
fn a_message_without_all_successes_expires_at_its_deadline_naming_the_missing_parts() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    state.apply(ok("a", 1, 3, "S1"), at(T0));
    state.apply(part("a", 3, 3, 0x58, None), at(T0));
    assert!(state.sweep(T0 + 299_999).is_empty(), "not before the deadline");
    let outcomes = state.sweep(T0 + 300_000);
    let [Outcome::Publish(change)] = outcomes.as_slice() else { panic!("expected one expiry: {outcomes:?}") };
    assert_eq!(change.status, Status::Expired);
    assert_eq!(
        change.description,
        "No successful submit response for parts 2/3, 3/3 within 300 s (last: part 3 ESME_RTHROTTLED 0x00000058)"
    );
    assert!(state.sweep(T0 + 400_000).is_empty(), "expired once");
}

#[test]
fn an_expiry_description_for_one_missing_part_matches_the_contract() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    state.apply(ok("a", 1, 3, "S1"), at(T0));
    state.apply(ok("a", 2, 3, "S2"), at(T0));
    state.apply(part("a", 3, 3, 0x58, None), at(T0));
    let change = published(state.sweep(T0 + 300_000).remove(0));
    assert_eq!(
        change.description,
        "No successful submit response for part 3/3 within 300 s (last: ESME_RTHROTTLED 0x00000058)"
    );
}

#[test]
fn the_deadline_counts_from_the_first_message_record_and_survives_updates() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    state.apply(message("a", 2), at(T0 + 200_000));
    let change = published(state.sweep(T0 + 300_000).remove(0));
    assert_eq!((change.status, change.description.as_str()), (Status::Expired, "No submit response within 300 s"));
    assert_eq!(&*change.message, br#"{"id":"a","status":"PENDING","v":2}"#);
}

#[test]
fn responses_without_their_message_become_orphans_and_leave_state() {
    let mut state = state();
    state.apply(ok("a", 1, 2, "S1"), at(T0));
    state.apply(part("a", 2, 2, 0x58, None), RecordMeta { timestamp_ms: T0 + 10, offset: 77 });
    let outcomes = state.sweep(T0 + 300_000);
    let [Outcome::Orphaned(parts)] = outcomes.as_slice() else { panic!("expected orphans: {outcomes:?}") };
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1].offset, 77);
    assert_eq!(parts[1].command_status, 0x58);
    assert!(parts[0].reason.starts_with("orphan"));
    assert!(state.is_empty());
}

#[test]
fn markers_absorb_late_records_until_retention_then_the_key_is_purged() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    published(state.apply(ok("a", 1, 1, "S1"), at(T0)));
    assert_eq!(state.sweep(T0 + 3_599_999), vec![]);
    assert_eq!(state.apply(ok("a", 1, 1, "S1"), at(T0 + 3_000_000)), Outcome::Ignored(Ignored::DuplicateResponse));
    assert_eq!(state.sweep(T0 + 3_600_000), vec![Outcome::Purged]);
    assert!(state.is_empty());
    let changes = state.take_changes();
    assert!(changes.iter().any(|(id, entry)| &**id == "a" && entry.is_none()), "purge writes a tombstone");
}

#[test]
fn tombstone_before_completion_cancels_and_later_records_are_ignored() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    state.apply(ok("a", 1, 2, "S1"), at(T0));
    assert_eq!(state.apply(Input::Tombstone { id: "a".into() }, at(T0)), Outcome::Cancelled);
    assert_eq!(state.apply(ok("a", 2, 2, "S2"), at(T0)), Outcome::Ignored(Ignored::Cancelled));
    assert_eq!(state.apply(message("a", 2), at(T0)), Outcome::Ignored(Ignored::Cancelled));
    assert!(state.sweep(T0 + 300_000).is_empty(), "a cancelled message never expires");
}

#[test]
fn tombstone_of_an_unknown_message_cancels_it_in_advance() {
    let mut state = state();
    assert_eq!(state.apply(Input::Tombstone { id: "a".into() }, at(T0)), Outcome::Cancelled);
    assert_eq!(state.apply(ok("a", 1, 1, "S1"), at(T0)), Outcome::Ignored(Ignored::Cancelled));
}

#[test]
fn the_first_part_seen_fixes_total_parts() {
    let mut state = state();
    state.apply(ok("a", 1, 2, "S1"), at(T0));
    match state.apply(ok("a", 2, 3, "S2"), at(T0)) {
        Outcome::Rejected(e) => assert_eq!(e.kind, RecordErrorKind::TotalPartsMismatch),
        other => panic!("expected rejection, got {other:?}"),
    }
    state.apply(ok("a", 2, 2, "S2"), at(T0));
    assert!(matches!(state.apply(message("a", 1), at(T0)), Outcome::Publish(_)));
}

#[test]
fn counts_entries_by_kind() {
    let mut state = state();
    state.apply(message("pending", 1), at(T0));
    state.apply(ok("parts-only", 1, 2, "S"), at(T0));
    state.apply(message("sent", 1), at(T0));
    state.apply(ok("sent", 1, 1, "S"), at(T0));
    state.apply(Input::Tombstone { id: "gone".into() }, at(T0));
    assert_eq!(state.counts(), EntryCounts { pending: 1, awaiting_message: 1, awaiting_receipts: 0, markers: 2 });
    state.sweep(T0 + 300_000);
    assert_eq!(state.counts(), EntryCounts { pending: 0, awaiting_message: 0, awaiting_receipts: 0, markers: 3 });
    state.sweep(T0 + 300_000 + 3_600_000);
    assert_eq!(state.counts(), EntryCounts::default());
}

#[test]
fn changes_are_collected_once_per_id_and_restore_rebuilds_counts_and_deadlines() {
    let mut state = state();
    state.apply(message("a", 1), at(T0));
    state.apply(message("a", 2), at(T0));
    state.apply(ok("a", 1, 1, "S"), at(T0));
    state.apply(ok("b", 1, 2, "S"), at(T0));
    state.apply(ok("b", 1, 2, "S"), at(T0)); // duplicate: not a change
    let mut changes: Vec<(String, Option<Entry>)> =
        state.take_changes().into_iter().map(|(id, e)| (id.to_string(), e.cloned())).collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(changes.len(), 2);
    assert!(matches!(changes[0].1, Some(Entry::Closed { outcome: Closed::Published(Status::Sent), .. })));
    assert!(state.take_changes().is_empty(), "taken once");

    let mut restored = PartitionState::new(Policy::default());
    for (id, entry) in changes {
        restored.restore(&id, entry);
    }
    restored.restore("c", Some(Entry::Closed { outcome: Closed::Cancelled, at_ms: T0 }));
    restored.restore("c", None);
    assert_eq!(restored.counts(), EntryCounts { pending: 0, awaiting_message: 1, awaiting_receipts: 0, markers: 1 });
    assert!(restored.take_changes().is_empty(), "restored entries are already durable");
    assert_eq!(restored.apply(ok("a", 1, 1, "S"), at(T0)), Outcome::Ignored(Ignored::DuplicateResponse));
    // The restored orphan deadline still fires.
    assert!(matches!(restored.sweep(T0 + 300_000).as_slice(), [Outcome::Orphaned(_)]));
}
