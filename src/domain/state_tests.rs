//! Unit and property tests of the state machine.

use proptest::prelude::*;

use super::*;

fn message(id: &str, version: u32) -> Input {
    Input::Message { id: id.into(), json: format!(r#"{{"id":"{id}","status":"PENDING","v":{version}}}"#).into_bytes() }
}

fn part(id: &str, n: u8, total: u8, status: u32, supplier: Option<&str>) -> Input {
    Input::Part(PartResponse {
        message_id: id.into(),
        part_number: n,
        total_parts: total,
        command_status: status,
        supplier_message_id: supplier.map(Into::into),
    })
}

fn ok(id: &str, n: u8, total: u8, supplier: &str) -> Input {
    part(id, n, total, 0, Some(supplier))
}

fn published(outcome: Outcome) -> StatusChange {
    match outcome {
        Outcome::Publish(change) => change,
        other => panic!("expected a status to publish, got {other:?}"),
    }
}

#[test]
fn single_part_message_then_response_is_sent() {
    let mut state = PartitionState::new();
    assert_eq!(state.apply(message("a", 1)), Outcome::Recorded);
    let change = published(state.apply(ok("a", 1, 1, "S1")));
    assert_eq!(change.id, "a");
    assert_eq!(change.status, Status::Sent);
    assert_eq!(change.parts, vec![(1, "S1".into())]);
    assert_eq!(state.get("a"), Some(&Entry::Published(Status::Sent)));
}

#[test]
fn parts_before_message_complete_when_the_message_arrives() {
    let mut state = PartitionState::new();
    assert_eq!(state.apply(ok("a", 2, 2, "S2")), Outcome::Recorded);
    assert_eq!(state.apply(ok("a", 1, 2, "S1")), Outcome::Recorded);
    let change = published(state.apply(message("a", 1)));
    assert_eq!(change.parts, vec![(1, "S1".into()), (2, "S2".into())]);
}

#[test]
fn the_latest_message_value_before_completion_is_published() {
    let mut state = PartitionState::new();
    state.apply(message("a", 1));
    state.apply(message("a", 2));
    let change = published(state.apply(ok("a", 1, 1, "S1")));
    assert_eq!(&*change.message, br#"{"id":"a","status":"PENDING","v":2}"#);
}

#[test]
fn duplicates_and_updates_after_sent_change_nothing() {
    let mut state = PartitionState::new();
    state.apply(message("a", 1));
    published(state.apply(ok("a", 1, 1, "S1")));
    assert_eq!(state.apply(ok("a", 1, 1, "S1")), Outcome::Ignored(Ignored::DuplicateResponse));
    assert_eq!(state.apply(ok("a", 1, 1, "OTHER")), Outcome::Ignored(Ignored::DuplicateResponse));
    assert_eq!(state.apply(message("a", 2)), Outcome::Ignored(Ignored::UpdateAfterPublish));
    assert_eq!(state.apply(Input::Tombstone { id: "a".into() }), Outcome::Ignored(Ignored::UpdateAfterPublish));
    assert_eq!(state.get("a"), Some(&Entry::Published(Status::Sent)));
}

#[test]
fn first_success_of_a_part_wins() {
    let mut state = PartitionState::new();
    state.apply(ok("a", 1, 2, "FIRST"));
    assert_eq!(state.apply(ok("a", 1, 2, "SECOND")), Outcome::Ignored(Ignored::DuplicateResponse));
    state.apply(ok("a", 2, 2, "S2"));
    let change = published(state.apply(message("a", 1)));
    assert_eq!(change.parts[0], (1, "FIRST".into()));
}

#[test]
fn an_error_response_is_recorded_but_does_not_complete_the_part() {
    let mut state = PartitionState::new();
    state.apply(message("a", 1));
    assert_eq!(state.apply(part("a", 1, 1, 0x58, None)), Outcome::Recorded);
    let Some(Entry::Open(open)) = state.get("a") else { panic!("should be open") };
    assert_eq!(open.parts[0].last_error, 0x58);
    assert!(matches!(state.apply(ok("a", 1, 1, "S1")), Outcome::Publish(_)));
}

#[test]
fn tombstone_before_completion_cancels_and_later_records_are_ignored() {
    let mut state = PartitionState::new();
    state.apply(message("a", 1));
    state.apply(ok("a", 1, 2, "S1"));
    assert_eq!(state.apply(Input::Tombstone { id: "a".into() }), Outcome::Cancelled);
    assert_eq!(state.get("a"), Some(&Entry::Cancelled));
    assert_eq!(state.apply(ok("a", 2, 2, "S2")), Outcome::Ignored(Ignored::Cancelled));
    assert_eq!(state.apply(message("a", 2)), Outcome::Ignored(Ignored::Cancelled));
}

#[test]
fn tombstone_of_an_unknown_message_cancels_it_in_advance() {
    let mut state = PartitionState::new();
    assert_eq!(state.apply(Input::Tombstone { id: "a".into() }), Outcome::Cancelled);
    assert_eq!(state.apply(ok("a", 1, 1, "S1")), Outcome::Ignored(Ignored::Cancelled));
}

#[test]
fn the_first_part_seen_fixes_total_parts() {
    let mut state = PartitionState::new();
    state.apply(ok("a", 1, 2, "S1"));
    match state.apply(ok("a", 2, 3, "S2")) {
        Outcome::Rejected(e) => assert_eq!(e.kind, RecordErrorKind::TotalPartsMismatch),
        other => panic!("expected rejection, got {other:?}"),
    }
    state.apply(ok("a", 2, 2, "S2"));
    assert!(matches!(state.apply(message("a", 1)), Outcome::Publish(_)));
}

#[test]
fn counts_entries_by_kind() {
    let mut state = PartitionState::new();
    state.apply(message("open", 1));
    state.apply(message("sent", 1));
    state.apply(ok("sent", 1, 1, "S"));
    state.apply(Input::Tombstone { id: "gone".into() });
    assert_eq!(state.counts(), EntryCounts { open: 1, published: 1, cancelled: 1 });
}

/// One record of a generated interleaving.
#[derive(Debug, Clone)]
enum Event {
    Message { id: usize, version: u32 },
    Tombstone { id: usize },
    Response { id: usize, part: u8, status: u32, supplier: u32 },
}

/// A generated message: how many parts, which get a success, how many updates, whether cancelled.
#[derive(Debug, Clone)]
struct Plan {
    total: u8,
    answered: Vec<bool>,
    updates: u32,
    has_message: bool,
    tombstone: bool,
    duplicates: u8,
    errors: u8,
}

fn plan() -> impl Strategy<Value = Plan> {
    (1u8..=4).prop_flat_map(|total| {
        (
            Just(total),
            prop::collection::vec(prop::bool::weighted(0.9), usize::from(total)),
            1u32..=3,
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.15),
            0u8..=3,
            0u8..=2,
        )
            .prop_map(|(total, answered, updates, has_message, tombstone, duplicates, errors)| Plan {
                total,
                answered,
                updates,
                has_message,
                tombstone,
                duplicates,
                errors,
            })
    })
}

fn events_of(id: usize, plan: &Plan) -> Vec<Event> {
    let mut events = Vec::new();
    if plan.has_message {
        events.extend((1..=plan.updates).map(|version| Event::Message { id, version }));
    }
    if plan.tombstone {
        events.push(Event::Tombstone { id });
    }
    for (i, answered) in plan.answered.iter().enumerate() {
        let part = (i + 1) as u8;
        if *answered {
            events.push(Event::Response { id, part, status: 0, supplier: 1 });
        }
    }
    for d in 0..plan.duplicates {
        let part = d % plan.total + 1;
        events.push(Event::Response { id, part, status: 0, supplier: 100 + u32::from(d) });
    }
    for e in 0..plan.errors {
        events.push(Event::Response { id, part: e % plan.total + 1, status: 0x58, supplier: 0 });
    }
    events
}

/// The oracle: replays the events with plain sets and says when (at which event index) the message
/// becomes complete, and with which message version and supplier ids — or never.
/// When a message is expected to be published: event index, message version, parts.
type ExpectedSent = (usize, u32, Vec<(u8, Box<str>)>);

fn expected_sent(id: usize, events: &[Event], total: u8) -> Option<ExpectedSent> {
    let mut version = None;
    let mut accepted: Vec<Option<u32>> = vec![None; usize::from(total)];
    for (index, event) in events.iter().enumerate() {
        match *event {
            Event::Message { id: i, version: v } if i == id => version = Some(v),
            Event::Tombstone { id: i } if i == id => return None,
            Event::Response { id: i, part, status: 0, supplier } if i == id => {
                accepted[usize::from(part) - 1].get_or_insert(supplier);
            }
            _ => continue,
        }
        if let (Some(v), true) = (version, accepted.iter().all(Option::is_some)) {
            let parts = accepted.iter().enumerate().map(|(i, s)| ((i + 1) as u8, supplier_id(s.unwrap()))).collect();
            return Some((index, v, parts));
        }
    }
    None
}

fn supplier_id(n: u32) -> Box<str> {
    format!("S{n}").into()
}

fn to_input(event: &Event, totals: &[u8]) -> Input {
    match *event {
        Event::Message { id, version } => message(&format!("m{id}"), version),
        Event::Tombstone { id } => Input::Tombstone { id: format!("m{id}") },
        Event::Response { id, part: n, status, supplier } => {
            let supplier = (status == 0).then(|| supplier_id(supplier).to_string());
            part(&format!("m{id}"), n, totals[id], status, supplier.as_deref())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Over random interleavings of messages, updates, parts, duplicates, errors and tombstones:
    /// a message is published exactly once iff it completes before any tombstone, at the moment it
    /// completes, with the latest message value and the first successful supplier id of each part.
    #[test]
    fn exactly_one_sent_iff_complete(plans in prop::collection::vec(plan(), 1..8), seed in any::<u64>()) {
        let mut events: Vec<Event> = plans.iter().enumerate().flat_map(|(id, p)| events_of(id, p)).collect();
        // Deterministic shuffle from the seed, so proptest can shrink and replay.
        let mut rng = seed;
        for i in (1..events.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            events.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let totals: Vec<u8> = plans.iter().map(|p| p.total).collect();
        let mut state = PartitionState::new();
        let mut publications: Vec<(usize, StatusChange)> = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match state.apply(to_input(event, &totals)) {
                Outcome::Publish(change) => publications.push((index, change)),
                Outcome::Rejected(e) => prop_assert!(false, "nothing here should be rejected: {e}"),
                _ => {}
            }
        }
        for (id, plan) in plans.iter().enumerate() {
            let name = format!("m{id}");
            let mine: Vec<&(usize, StatusChange)> = publications.iter().filter(|(_, c)| c.id == name).collect();
            match expected_sent(id, &events, plan.total) {
                None => prop_assert!(mine.is_empty(), "{name} must not be published: {mine:?}"),
                Some((index, version, parts)) => {
                    prop_assert_eq!(mine.len(), 1, "{} must be published exactly once", name);
                    let (at, change) = mine[0];
                    prop_assert_eq!(*at, index);
                    prop_assert_eq!(change.status, Status::Sent);
                    prop_assert_eq!(&change.parts, &parts);
                    let expected_json = format!(r#"{{"id":"{name}","status":"PENDING","v":{version}}}"#);
                    prop_assert_eq!(&*change.message, expected_json.as_bytes());
                }
            }
        }
    }
}

#[test]
fn changes_are_collected_once_per_id_and_restore_rebuilds_counts() {
    let mut state = PartitionState::new();
    state.apply(message("a", 1));
    state.apply(message("a", 2));
    state.apply(ok("a", 1, 1, "S"));
    state.apply(ok("b", 1, 2, "S"));
    state.apply(ok("b", 1, 2, "S")); // duplicate: not a change
    let mut changes: Vec<(String, Option<Entry>)> =
        state.take_changes().into_iter().map(|(id, e)| (id, e.cloned())).collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0], ("a".to_owned(), Some(Entry::Published(Status::Sent))));
    assert!(state.take_changes().is_empty(), "taken once");

    let mut restored = PartitionState::new();
    for (id, entry) in changes {
        restored.restore(id, entry);
    }
    restored.restore("c".into(), Some(Entry::Cancelled));
    restored.restore("c".into(), None);
    assert_eq!(restored.counts(), EntryCounts { open: 1, published: 1, cancelled: 0 });
    assert!(restored.take_changes().is_empty(), "restored entries are already durable");
    assert_eq!(restored.apply(ok("a", 1, 1, "S")), Outcome::Ignored(Ignored::DuplicateResponse));
    assert!(matches!(restored.apply(message("b", 1)), Outcome::Recorded));
}
