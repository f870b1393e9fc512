//! Property tests: random interleavings of messages, updates, successes, retryable and permanent
//! errors, duplicates, tombstones, clock advances and restarts from the changelog, checked
//! against a plain model of the rules.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::domain::snapshot;

const T0: i64 = 1_700_000_000_000;
const TIMEOUT: i64 = 300_000;
/// Longer than any generated run, so no key is purged (and forgotten) before the final sweeps.
const RETENTION: i64 = 36_000_000;

/// How a part is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Success,
    Permanent,
    NoAnswer,
}

#[derive(Debug, Clone)]
struct Plan {
    total: u8,
    fates: Vec<(Fate, u8)>, // (fate, retryable errors before it)
    updates: u32,
    has_message: bool,
    tombstone: bool,
    duplicates: u8,
}

fn plan() -> impl Strategy<Value = Plan> {
    (1u8..=4).prop_flat_map(|total| {
        let fate =
            (prop_oneof![8 => Just(Fate::Success), 1 => Just(Fate::Permanent), 1 => Just(Fate::NoAnswer)], 0u8..=2);
        (
            Just(total),
            prop::collection::vec(fate, usize::from(total)),
            1u32..=3,
            prop::bool::weighted(0.85),
            prop::bool::weighted(0.1),
            0u8..=3,
        )
            .prop_map(|(total, fates, updates, has_message, tombstone, duplicates)| Plan {
                total,
                fates,
                updates,
                has_message,
                tombstone,
                duplicates,
            })
    })
}

#[derive(Debug, Clone)]
enum Event {
    Message { id: usize, version: u32 },
    Tombstone { id: usize },
    Response { id: usize, part: u8, status: u32, supplier: u32 },
}

impl Event {
    fn id(&self) -> usize {
        match *self {
            Event::Message { id, .. } | Event::Tombstone { id } | Event::Response { id, .. } => id,
        }
    }
}

fn events_of(id: usize, plan: &Plan) -> Vec<Event> {
    let mut events = Vec::new();
    if plan.has_message {
        events.extend((1..=plan.updates).map(|version| Event::Message { id, version }));
    }
    if plan.tombstone {
        events.push(Event::Tombstone { id });
    }
    for (i, (fate, retries)) in plan.fates.iter().enumerate() {
        let part = (i + 1) as u8;
        for _ in 0..*retries {
            events.push(Event::Response { id, part, status: 0x58, supplier: 0 });
        }
        match fate {
            Fate::Success => events.push(Event::Response { id, part, status: 0, supplier: 1 }),
            Fate::Permanent => events.push(Event::Response { id, part, status: 0x0B, supplier: 0 }),
            Fate::NoAnswer => {}
        }
    }
    for d in 0..plan.duplicates {
        let part = d % plan.total + 1;
        events.push(Event::Response { id, part, status: 0, supplier: 100 + u32::from(d) });
    }
    events
}

/// One step of a run: an input record, or a sweep at the current clock, or a restart.
#[derive(Debug, Clone)]
enum Step {
    Record(Event),
    Sweep,
    Restart,
}

fn input_of(event: &Event, totals: &[u8]) -> Input {
    match *event {
        Event::Message { id, version } => Input::Message {
            id: format!("m{id}"),
            json: format!(r#"{{"id":"m{id}","status":"PENDING","v":{version}}}"#).into_bytes(),
        },
        Event::Tombstone { id } => Input::Tombstone { id: format!("m{id}") },
        Event::Response { id, part, status, supplier } => Input::Part(PartResponse {
            message_id: format!("m{id}"),
            part_number: part,
            total_parts: totals[id],
            command_status: status,
            supplier_message_id: (status == 0).then(|| format!("S{supplier}")),
            supplier: None,
        }),
    }
}

/// The model: the rules in their plainest form, for one message.
#[derive(Debug, Default, Clone)]
struct Model {
    message_ts: Option<i64>,
    version: u32,
    first_seen: Option<i64>,
    decided: HashMap<u8, Result<u32, u32>>, // part -> Ok(supplier) | Err(status)
    closed: bool,
}

impl Model {
    /// What the tracker must publish now, if anything.
    fn decide(&self, total: u8) -> Option<Status> {
        self.message_ts?;
        if self.decided.values().any(Result::is_err) {
            return Some(Status::Failed);
        }
        (1..=total).all(|p| matches!(self.decided.get(&p), Some(Ok(_)))).then_some(Status::Sent)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn every_message_ends_exactly_once_as_the_rules_say(
        plans in prop::collection::vec(plan(), 1..7),
        seed in any::<u64>(),
        sweep_every in 1usize..6,
        restart_every in 3usize..20,
        step_ms in prop::sample::select(vec![1_000i64, 30_000, 90_000]),
    ) {
        let mut events: Vec<Event> = plans.iter().enumerate().flat_map(|(id, p)| events_of(id, p)).collect();
        let mut rng = seed;
        for i in (1..events.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            events.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let mut steps = Vec::new();
        for (i, event) in events.into_iter().enumerate() {
            steps.push(Step::Record(event));
            if i % sweep_every == 0 { steps.push(Step::Sweep); }
            if i % restart_every == restart_every - 1 { steps.push(Step::Restart); }
        }
        let totals: Vec<u8> = plans.iter().map(|p| p.total).collect();
        let policy = Policy { submit_timeout_ms: TIMEOUT, retention_ms: RETENTION, retryable: vec![0x58], delivery: None };

        let mut state = PartitionState::new(policy.clone());
        let mut durable: HashMap<String, Vec<u8>> = HashMap::new();
        let mut models: Vec<Model> = vec![Model::default(); plans.len()];
        let mut published: HashMap<String, Vec<StatusChange>> = HashMap::new();
        let mut orphaned: HashMap<String, usize> = HashMap::new();
        let mut now = T0;

        let mut record = |state: &mut PartitionState, outcomes: Vec<Outcome>, models: &mut Vec<Model>, now: i64| -> Result<(), TestCaseError> {
            for outcome in outcomes {
                match outcome {
                    Outcome::Publish(change) => {
                        let id: usize = change.id[1..].parse().unwrap();
                        let model = &mut models[id];
                        prop_assert!(!model.closed, "m{} published after it was closed", id);
                        let expected = model.decide(totals[id]);
                        match change.status {
                            Status::Expired => {
                                prop_assert_eq!(expected, None, "m{} expired though decided", id);
                                prop_assert!(now >= model.message_ts.unwrap() + TIMEOUT, "m{} expired early", id);
                            }
                            status => prop_assert_eq!(Some(status), expected, "m{} status", id),
                        }
                        if change.status == Status::Sent {
                            for p in &change.parts {
                                let want = match model.decided.get(&p.number) { Some(Ok(s)) => format!("S{s}"), _ => String::new() };
                                prop_assert_eq!(p.supplier_message_id.as_deref(), Some(want.as_str()), "first success wins");
                            }
                        }
                        let version = format!(r#""v":{}}}"#, model.version);
                        prop_assert!(String::from_utf8_lossy(&change.message).ends_with(&version), "latest value");
                        model.closed = true;
                        published.entry(change.id.to_string()).or_default().push(change);
                    }
                    Outcome::Orphaned(parts) => {
                        let id: usize = parts.first().map(|p| p.message_id[1..].parse().unwrap()).unwrap_or(usize::MAX);
                        if id != usize::MAX {
                            prop_assert!(models[id].message_ts.is_none(), "only responses without a message are orphans");
                            prop_assert!(now >= models[id].first_seen.unwrap() + TIMEOUT);
                            *orphaned.entry(format!("m{id}")).or_default() += 1;
                            models[id] = Model::default();
                        }
                    }
                    Outcome::Rejected(e) => prop_assert!(false, "nothing here should be rejected: {}", e),
                    _ => {}
                }
            }
            let _ = state;
            Ok(())
        };

        for step in &steps {
            match step {
                Step::Record(event) => {
                    now += step_ms;
                    let id = event.id();
                    let outcome = state.apply(input_of(event, &totals), RecordMeta { timestamp_ms: now, offset: 0 });
                    let was_closed = models[id].closed;
                    let model = &mut models[id];
                    if !model.closed {
                        model.first_seen.get_or_insert(now);
                        match *event {
                            Event::Message { version, .. } => { model.message_ts.get_or_insert(now); model.version = version; }
                            Event::Tombstone { .. } => model.closed = true,
                            Event::Response { part, status, supplier, .. } => {
                                if status == 0 { model.decided.entry(part).or_insert(Ok(supplier)); }
                                else if status != 0x58 { model.decided.entry(part).or_insert(Err(status)); }
                            }
                        }
                    }
                    if matches!(event, Event::Tombstone { .. }) {
                        // A tombstone cancels exactly the messages that are still open.
                        prop_assert_eq!(matches!(outcome, Outcome::Cancelled), !was_closed, "tombstone of m{}", id);
                    }
                    record(&mut state, vec![outcome], &mut models, now)?;
                }
                Step::Sweep => {
                    let outcomes = state.sweep(now);
                    record(&mut state, outcomes, &mut models, now)?;
                }
                Step::Restart => {
                    // Everything so far was committed: rebuild the state from the changelog.
                    let mut restored = PartitionState::new(policy.clone());
                    for (id, entry) in state.take_changes() {
                        match entry {
                            Some(entry) => { durable.insert(id.to_string(), snapshot::encode(entry)); }
                            None => { durable.remove(&*id); }
                        }
                    }
                    for (id, bytes) in &durable {
                        restored.restore(id, Some(snapshot::decode(bytes).unwrap()));
                    }
                    state = restored;
                }
            }
            for (id, entry) in state.take_changes() {
                match entry {
                    Some(entry) => { durable.insert(id.to_string(), snapshot::encode(entry)); }
                    None => { durable.remove(&*id); }
                }
            }
        }
        // Long after everything: each message ended exactly once, and state is empty.
        let end = now + TIMEOUT + 1;
        let outcomes = state.sweep(end);
        record(&mut state, outcomes, &mut models, end)?;
        let outcomes = state.sweep(end + RETENTION + 1);
        record(&mut state, outcomes, &mut models, end + RETENTION + 1)?;
        prop_assert!(state.is_empty(), "state left after retention: {:?}", state.counts());
        prop_assert_eq!(state.counts(), EntryCounts::default());
        for (id, plan) in plans.iter().enumerate() {
            let name = format!("m{id}");
            let count = published.get(&name).map_or(0, Vec::len);
            prop_assert!(count <= 1, "{} published {} times", name, count);
            if plan.has_message && !plan.tombstone {
                prop_assert_eq!(count, 1, "{} must end in exactly one status", name);
            }
            if !plan.has_message {
                prop_assert_eq!(count, 0, "{} has no message: no status", name);
            }
        }
    }
}
