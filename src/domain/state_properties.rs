//! Property tests: random interleavings of messages, updates, successes, retryable and permanent
//! errors, duplicates, tombstones, clock advances and restarts from the changelog, checked
//! against a plain model of the rules. The second property adds delivery receipts and
//! transactions: commits, and aborts that roll back to the committed changelog and replay.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::domain::delivery::ReceiptParts;
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

/// The generator of a run's interleaving: one seed reproduces the whole run.
struct Lcg(u64);

impl Lcg {
    /// A number below `bound`.
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize % bound
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
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
    /// Takes in one record, unless the message is closed (then the tracker ignores it too).
    fn apply(&mut self, event: &Event, now: i64) {
        if self.closed {
            return;
        }
        self.first_seen.get_or_insert(now);
        match *event {
            Event::Message { version, .. } => {
                self.message_ts.get_or_insert(now);
                self.version = version;
            }
            Event::Tombstone { .. } => self.closed = true,
            Event::Response { part, status, supplier, .. } => {
                if status == 0 {
                    self.decided.entry(part).or_insert(Ok(supplier));
                } else if status != 0x58 {
                    self.decided.entry(part).or_insert(Err(status));
                }
            }
        }
    }

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
        Lcg(seed).shuffle(&mut events);
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
                    models[id].apply(event, now);
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

// ---- Receipts, commits and aborts ----

/// Short, so that runs often pass it: sweeps jump past it now and then.
const DELIVERY_TIMEOUT: i64 = 600_000;
/// Receipts and clock jumps make these runs longer than [`RETENTION`]; still no key may be
/// purged before the final sweeps (checked against the run's length).
const LONG_RETENTION: i64 = 30 * 86_400_000;
/// How far a sweep moves the clock, unless it jumps past the delivery timeout.
const SWEEP_ADVANCES: [i64; 5] = [0, 0, 1_000, 10_000, 60_000];

/// What the receipts of an accepted part finally say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReceiptFate {
    Delivered,
    /// A final stat other than DELIVRD.
    NotDelivered(&'static str),
    /// ACCEPTD/ENROUTE only: the part's outcome stays unknown.
    IntermediateOnly,
    /// No receipt at all.
    Silent,
}

/// The receipts of one accepted part.
#[derive(Debug, Clone)]
struct PartReceipts {
    fate: ReceiptFate,
    /// ACCEPTD/ENROUTE receipts besides the final one.
    intermediates: u8,
    /// Copies of the last receipt, as a supplier resends them.
    duplicates: u8,
    /// A second final receipt that says the opposite: only the first final one may count.
    contradiction: bool,
}

#[derive(Debug, Clone)]
struct DeliveryPlan {
    submit: Plan,
    /// `false`: the WholeMessage says `"registeredDelivery": false`, so SENT ends it.
    registered: bool,
    /// One per part; only parts whose fate is [`Fate::Success`] get receipts.
    receipts: Vec<PartReceipts>,
}

fn part_receipts() -> impl Strategy<Value = PartReceipts> {
    let not_delivered = prop::sample::select(vec!["UNDELIV", "REJECTD", "EXPIRED", "DELETED", "UNKNOWN"])
        .prop_map(ReceiptFate::NotDelivered);
    let fate = prop_oneof![
        5 => Just(ReceiptFate::Delivered),
        2 => not_delivered,
        1 => Just(ReceiptFate::IntermediateOnly),
        1 => Just(ReceiptFate::Silent),
    ];
    (fate, 0u8..=2, 0u8..=2, prop::bool::weighted(0.15)).prop_map(|(fate, intermediates, duplicates, contradiction)| {
        PartReceipts { fate, intermediates, duplicates, contradiction }
    })
}

fn delivery_plan() -> impl Strategy<Value = DeliveryPlan> {
    plan()
        .prop_flat_map(|submit| {
            let parts = usize::from(submit.total);
            (Just(submit), prop::bool::weighted(0.85), prop::collection::vec(part_receipts(), parts))
        })
        .prop_map(|(submit, registered, receipts)| DeliveryPlan { submit, registered, receipts })
}

/// A receipt as the receipt join hands it over. `seq` tells receipts apart (it becomes the done
/// date); a duplicate repeats the `seq` of the receipt it copies.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Receipt {
    id: usize,
    part: u8,
    stat: &'static str,
    seq: u8,
}

impl Receipt {
    fn part_receipt(&self) -> PartReceipt {
        PartReceipt {
            stat: self.stat.into(),
            err: Some(if self.stat == "DELIVRD" { "000" } else { "001" }.into()),
            done_date: Some(format!("26112610{:02}", self.seq).into()),
        }
    }
}

fn receipts_of(id: usize, plan: &DeliveryPlan) -> Vec<Receipt> {
    let mut receipts = Vec::new();
    for (i, (planned, (fate, _))) in plan.receipts.iter().zip(&plan.submit.fates).enumerate() {
        if *fate != Fate::Success || planned.fate == ReceiptFate::Silent {
            continue;
        }
        let part = (i + 1) as u8;
        let mut seq = 0;
        let mut next = |stat| {
            seq += 1;
            Receipt { id, part, stat, seq }
        };
        for k in 0..planned.intermediates {
            receipts.push(next(if k % 2 == 0 { "ACCEPTD" } else { "ENROUTE" }));
        }
        let (last, opposite) = match planned.fate {
            ReceiptFate::Delivered => (next("DELIVRD"), "UNDELIV"),
            ReceiptFate::NotDelivered(stat) => (next(stat), "DELIVRD"),
            ReceiptFate::IntermediateOnly => (next("ENROUTE"), ""),
            ReceiptFate::Silent => unreachable!("skipped above"),
        };
        if planned.contradiction && !opposite.is_empty() {
            receipts.push(next(opposite));
        }
        receipts.extend(std::iter::repeat_n(last.clone(), usize::from(planned.duplicates)));
        receipts.push(last);
    }
    receipts
}

/// A record of the receipts property.
#[derive(Debug, Clone)]
enum Arrival {
    Submit(Event),
    Receipt(Receipt),
}

impl Arrival {
    fn id(&self) -> usize {
        match self {
            Arrival::Submit(event) => event.id(),
            Arrival::Receipt(receipt) => receipt.id,
        }
    }
}

/// All records in a random order, except that each receipt comes after its part's accepted
/// response: the receipt join can only match a receipt once it has the supplier's message id.
/// Receipts may still come before the WholeMessage, before SENT, after the outcome.
fn interleave(plans: &[DeliveryPlan], rng: &mut Lcg) -> Vec<Arrival> {
    let mut arrivals: Vec<Arrival> =
        plans.iter().enumerate().flat_map(|(id, p)| events_of(id, &p.submit)).map(Arrival::Submit).collect();
    rng.shuffle(&mut arrivals);
    for receipt in plans.iter().enumerate().flat_map(|(id, p)| receipts_of(id, p)) {
        let accepted = arrivals
            .iter()
            .position(|a| {
                matches!(a, Arrival::Submit(Event::Response { id, part, status: 0, supplier: 1 })
                    if *id == receipt.id && *part == receipt.part)
            })
            .expect("receipts only for accepted parts");
        let at = accepted + 1 + rng.below(arrivals.len() - accepted);
        arrivals.insert(at, Arrival::Receipt(receipt));
    }
    arrivals
}

/// One step of a transactional run.
#[derive(Debug, Clone)]
enum TxStep {
    Arrive(Arrival),
    /// Moves the clock on by this much, then sweeps.
    Sweep(i64),
    /// Writes the changelog and the published statuses, and the input position.
    Commit,
    /// Rolls back to the last commit and replays the inputs since.
    Abort,
    /// A clean restart: commit, then rebuild the state from the changelog.
    Restart,
}

/// How often a run sweeps and commits, in records, and jumps its clock, in sweeps.
#[derive(Debug, Clone, Copy)]
struct Pace {
    sweep_every: usize,
    commit_every: usize,
    /// One sweep in this many jumps past the delivery timeout (so also past the submit one).
    jump_one_in: usize,
}

fn tx_steps(arrivals: Vec<Arrival>, rng: &mut Lcg, pace: Pace) -> Vec<TxStep> {
    let mut steps = Vec::new();
    for (i, arrival) in arrivals.into_iter().enumerate() {
        steps.push(TxStep::Arrive(arrival));
        if i % pace.sweep_every == 0 {
            let advance = match rng.below(pace.jump_one_in) {
                0 => DELIVERY_TIMEOUT + 1,
                _ => SWEEP_ADVANCES[rng.below(SWEEP_ADVANCES.len())],
            };
            steps.push(TxStep::Sweep(advance));
        }
        if i % pace.commit_every == pace.commit_every - 1 {
            steps.push(TxStep::Commit);
        }
        match rng.below(24) {
            0 | 1 => steps.push(TxStep::Abort),
            2 => steps.push(TxStep::Restart),
            _ => {}
        }
    }
    steps
}

/// An input as applied, with its clock: what an abort replays, the same way.
#[derive(Debug, Clone)]
enum Applied {
    Arrival(Arrival, i64),
    Sweep(i64),
}

/// The model with receipts: the submit rules of [`Model`], then the delivery rules.
#[derive(Debug, Default, Clone)]
struct DeliveryModel {
    submit: Model,
    /// A response was recorded, so the tracker knows the parts (a receipt needs its part).
    sized: bool,
    /// When SENT was published, for a message whose delivery outcome is followed.
    sent_at: Option<i64>,
    /// Per part, the receipt the tracker keeps: the first final one, else the latest.
    receipts: HashMap<u8, PartReceipt>,
    /// The delivery outcome, once published.
    outcome: Option<Status>,
}

impl DeliveryModel {
    fn awaiting(&self) -> bool {
        self.sent_at.is_some() && self.outcome.is_none()
    }

    /// Takes in one record; for a receipt, whether the tracker must keep it (else ignore it).
    fn apply(&mut self, arrival: &Arrival, now: i64, mode: Option<ReceiptParts>, total: u8) -> bool {
        let receipt = match arrival {
            Arrival::Submit(event) => {
                self.sized |= matches!(event, Event::Response { .. }) && !self.submit.closed;
                self.submit.apply(event, now);
                return false;
            }
            Arrival::Receipt(receipt) => receipt,
        };
        let open = !self.submit.closed || self.awaiting();
        let tracked = mode.is_some_and(|m| m.tracks(usize::from(receipt.part), usize::from(total)));
        let new = receipt.part_receipt();
        let keep = open
            && self.sized
            && tracked
            && self.receipts.get(&receipt.part).is_none_or(|kept| !kept.outcome().is_final() && *kept != new);
        if keep {
            self.receipts.insert(receipt.part, new);
        }
        keep
    }

    fn final_receipt(&self, part: u8) -> Option<&PartReceipt> {
        self.receipts.get(&part).filter(|r| r.outcome().is_final())
    }

    /// UNDELIVERED naming the first tracked part finally not delivered, DELIVERED once every
    /// tracked part was, else nothing yet.
    fn delivery(&self, mode: ReceiptParts, total: u8) -> Option<(Status, String)> {
        let tracked = || (1..=total).filter(move |p| mode.tracks(usize::from(*p), usize::from(total)));
        let undelivered = tracked()
            .find_map(|p| self.final_receipt(p).filter(|r| r.outcome() != ReceiptOutcome::Delivered).zip(Some(p)));
        if let Some((receipt, p)) = undelivered {
            return Some((Status::Undelivered, format!("Part {p}/{total} not delivered: {}", receipt.describe())));
        }
        tracked().all(|p| self.final_receipt(p).is_some()).then(|| (Status::Delivered, "Delivered".to_owned()))
    }

    /// DELIVERY_UNKNOWN's description: the tracked parts without a final receipt.
    fn unknown(&self, mode: ReceiptParts, total: u8) -> String {
        let waiting: Vec<String> = (1..=total)
            .filter(|p| mode.tracks(usize::from(*p), usize::from(total)) && self.final_receipt(*p).is_none())
            .map(|p| match self.receipts.get(&p) {
                Some(receipt) => format!("{p}/{total} (last: {})", receipt.stat),
                None => format!("{p}/{total}"),
            })
            .collect();
        let noun = if waiting.len() == 1 { "part" } else { "parts" };
        format!("No final delivery receipt within {} s for {noun} {}", DELIVERY_TIMEOUT / 1000, waiting.join(", "))
    }
}

/// One run of the receipts property: the tracker inside transactions, what they committed, and
/// the model.
struct Run {
    policy: Policy,
    mode: Option<ReceiptParts>,
    totals: Vec<u8>,
    registered: Vec<bool>,
    /// Take the changes after every input (else only at commits).
    flush_each_step: bool,
    state: PartitionState,
    models: Vec<DeliveryModel>,
    /// The changelog as of the last commit, and what the open transaction wrote to it.
    changelog: HashMap<String, Vec<u8>>,
    written: HashMap<String, Option<Vec<u8>>>,
    /// Statuses with the clock they were published at: committed, and in the open transaction.
    committed: Vec<(StatusChange, i64)>,
    uncommitted: Vec<(StatusChange, i64)>,
    /// The models as of the last commit, and the inputs since: what an abort goes back to.
    committed_models: Vec<DeliveryModel>,
    inputs: Vec<Applied>,
}

impl Run {
    fn new(plans: &[DeliveryPlan], mode: Option<ReceiptParts>, flush_each_step: bool) -> Self {
        let policy = Policy {
            submit_timeout_ms: TIMEOUT,
            retention_ms: LONG_RETENTION,
            retryable: vec![0x58],
            delivery: mode.map(|parts| DeliveryPolicy { timeout_ms: DELIVERY_TIMEOUT, parts }),
        };
        let models = vec![DeliveryModel::default(); plans.len()];
        Self {
            state: PartitionState::new(policy.clone()),
            policy,
            mode,
            totals: plans.iter().map(|p| p.submit.total).collect(),
            registered: plans.iter().map(|p| p.registered).collect(),
            flush_each_step,
            committed_models: models.clone(),
            models,
            changelog: HashMap::new(),
            written: HashMap::new(),
            committed: Vec::new(),
            uncommitted: Vec::new(),
            inputs: Vec::new(),
        }
    }

    /// The delivery mode if the tracker follows this message's delivery.
    fn followed(&self, id: usize) -> Option<ReceiptParts> {
        self.mode.filter(|_| self.registered[id])
    }

    fn input_of(&self, arrival: &Arrival) -> Input {
        match arrival {
            Arrival::Submit(Event::Message { id, version }) if !self.registered[*id] => Input::Message {
                id: format!("m{id}"),
                json: format!(r#"{{"id":"m{id}","status":"PENDING","registeredDelivery":false,"v":{version}}}"#)
                    .into_bytes(),
            },
            Arrival::Submit(event) => input_of(event, &self.totals),
            Arrival::Receipt(receipt) => Input::Receipt(MatchedReceipt {
                message_id: format!("m{}", receipt.id),
                part_number: receipt.part,
                receipt: receipt.part_receipt(),
            }),
        }
    }

    /// Applies an input of the open transaction.
    fn input(&mut self, applied: Applied) -> Result<(), TestCaseError> {
        self.process(&applied)?;
        self.inputs.push(applied);
        Ok(())
    }

    fn process(&mut self, applied: &Applied) -> Result<(), TestCaseError> {
        match *applied {
            Applied::Arrival(ref arrival, now) => self.arrive(arrival, now)?,
            Applied::Sweep(now) => {
                for outcome in self.state.sweep(now) {
                    self.output(outcome, now, true)?;
                }
                self.nothing_overdue(now)?;
            }
        }
        if self.flush_each_step {
            self.flush();
        }
        Ok(())
    }

    fn arrive(&mut self, arrival: &Arrival, now: i64) -> Result<(), TestCaseError> {
        let id = arrival.id();
        let outcome = self.state.apply(self.input_of(arrival), RecordMeta { timestamp_ms: now, offset: 0 });
        let was_closed = self.models[id].submit.closed;
        let kept = self.models[id].apply(arrival, now, self.mode, self.totals[id]);
        match arrival {
            Arrival::Submit(Event::Tombstone { .. }) => {
                // A tombstone cancels exactly the messages that are still open.
                prop_assert_eq!(matches!(outcome, Outcome::Cancelled), !was_closed, "tombstone of m{}", id);
            }
            Arrival::Receipt(receipt) => {
                prop_assert_eq!(!matches!(outcome, Outcome::Ignored(_)), kept, "{:?}: {:?}", receipt, outcome);
            }
            Arrival::Submit(_) => {}
        }
        self.output(outcome, now, false)?;
        self.nothing_due(id)
    }

    fn output(&mut self, outcome: Outcome, now: i64, swept: bool) -> Result<(), TestCaseError> {
        match outcome {
            Outcome::Publish(change) => self.published(change, now, swept)?,
            Outcome::PublishBoth(both) => {
                let [sent, outcome] = *both;
                prop_assert_eq!(sent.status, Status::Sent, "SENT comes first");
                prop_assert!(matches!(outcome.status, Status::Delivered | Status::Undelivered), "{:?}", outcome);
                self.published(sent, now, swept)?;
                self.published(outcome, now, swept)?;
            }
            Outcome::Orphaned(parts) => {
                let id: usize = parts[0].message_id[1..].parse().unwrap();
                let model = &self.models[id];
                prop_assert!(model.submit.message_ts.is_none(), "only responses without a message are orphans");
                prop_assert!(now >= model.submit.first_seen.unwrap() + TIMEOUT);
                self.models[id] = DeliveryModel::default();
            }
            Outcome::Rejected(e) => prop_assert!(false, "nothing here should be rejected: {}", e),
            Outcome::Purged => prop_assert!(false, "purged at {} before the end", now),
            Outcome::Recorded | Outcome::Cancelled | Outcome::Ignored(_) => {}
        }
        Ok(())
    }

    /// Checks a status against the model, which it then moves on.
    fn published(&mut self, change: StatusChange, now: i64, swept: bool) -> Result<(), TestCaseError> {
        let id: usize = change.id[1..].parse().unwrap();
        let (total, followed) = (self.totals[id], self.followed(id));
        let model = &mut self.models[id];
        prop_assert_eq!(Some(change.sent_at_ms), model.submit.message_ts, "m{} latency counts from its message", id);
        let version = format!(r#""v":{}}}"#, model.submit.version);
        prop_assert!(String::from_utf8_lossy(&change.message).ends_with(&version), "latest value");
        for p in &change.parts {
            prop_assert_eq!(p.receipt.as_ref(), model.receipts.get(&p.number), "m{} part {} receipt", id, p.number);
        }
        match change.status {
            Status::Sent | Status::Failed | Status::Expired => {
                prop_assert!(!model.submit.closed, "m{} {:?} after it was closed", id, change.status);
                let expected = model.submit.decide(total);
                if change.status == Status::Expired {
                    prop_assert!(swept && expected.is_none(), "m{} expired though decided", id);
                    prop_assert!(now >= model.submit.message_ts.unwrap() + TIMEOUT, "m{} expired early", id);
                } else {
                    prop_assert!(!swept, "m{} decided by a sweep", id);
                    prop_assert_eq!(Some(change.status), expected, "m{} status", id);
                }
                if change.status == Status::Sent {
                    for p in &change.parts {
                        let want = match model.submit.decided.get(&p.number) {
                            Some(Ok(s)) => format!("S{s}"),
                            _ => String::new(),
                        };
                        prop_assert_eq!(p.supplier_message_id.as_deref(), Some(want.as_str()), "first success wins");
                    }
                    model.sent_at = followed.map(|_| now);
                }
                model.submit.closed = true;
            }
            Status::Delivered | Status::Undelivered | Status::DeliveryUnknown => {
                let Some(mode) = followed else {
                    return Err(TestCaseError::fail(format!("m{id}: {:?} though not followed", change.status)));
                };
                prop_assert!(model.awaiting(), "m{} {:?} without SENT, or a second outcome", id, change.status);
                let expected = model.delivery(mode, total);
                if change.status == Status::DeliveryUnknown {
                    prop_assert!(swept && expected.is_none(), "m{} unknown though decided: {:?}", id, expected);
                    prop_assert!(now >= model.sent_at.unwrap() + DELIVERY_TIMEOUT, "m{} unknown early", id);
                    prop_assert_eq!(&change.description, &model.unknown(mode, total));
                } else {
                    prop_assert!(!swept, "m{} delivery decided by a sweep", id);
                    prop_assert_eq!(Some((change.status, change.description.clone())), expected, "m{}", id);
                }
                model.outcome = Some(change.status);
            }
        }
        self.uncommitted.push((change, now));
        Ok(())
    }

    /// After a record: what it made due was published at once.
    fn nothing_due(&self, id: usize) -> Result<(), TestCaseError> {
        let (model, total) = (&self.models[id], self.totals[id]);
        prop_assert!(model.submit.closed || model.submit.decide(total).is_none(), "m{} decided, unpublished", id);
        if let Some(mode) = self.followed(id).filter(|_| model.awaiting()) {
            prop_assert_eq!(model.delivery(mode, total), None, "m{} delivery decided, unpublished", id);
        }
        Ok(())
    }

    /// After a sweep at `now`: nothing past its deadline is left open.
    fn nothing_overdue(&self, now: i64) -> Result<(), TestCaseError> {
        for (id, model) in self.models.iter().enumerate() {
            let submit = &model.submit;
            if !submit.closed {
                let since = submit.message_ts.or(submit.first_seen);
                prop_assert!(since.is_none_or(|t| t + TIMEOUT > now), "m{} left open past its timeout", id);
            }
            if model.awaiting() {
                prop_assert!(model.sent_at.unwrap() + DELIVERY_TIMEOUT > now, "m{} awaits past its timeout", id);
            }
        }
        Ok(())
    }

    /// What the open transaction writes to the changelog.
    fn flush(&mut self) {
        for (id, entry) in self.state.take_changes() {
            self.written.insert(id.to_string(), entry.map(snapshot::encode));
        }
    }

    fn commit(&mut self) {
        self.flush();
        for (id, value) in self.written.drain() {
            match value {
                Some(bytes) => self.changelog.insert(id, bytes),
                None => self.changelog.remove(&id),
            };
        }
        self.committed.append(&mut self.uncommitted);
        self.committed_models.clone_from(&self.models);
        self.inputs.clear();
    }

    /// A fresh state from the committed changelog.
    fn restore(&mut self) {
        let mut state = PartitionState::new(self.policy.clone());
        for (id, bytes) in &self.changelog {
            state.restore(id, Some(snapshot::decode(bytes).unwrap()));
        }
        self.state = state;
    }

    /// Drops the open transaction (its changelog writes and statuses) and replays its inputs on
    /// the committed state, with their clocks: the replay must publish just what was dropped.
    fn abort(&mut self) -> Result<(), TestCaseError> {
        self.restore();
        self.written.clear();
        let dropped = std::mem::take(&mut self.uncommitted);
        self.models.clone_from(&self.committed_models);
        for applied in self.inputs.clone() {
            self.process(&applied)?;
        }
        prop_assert_eq!(&self.uncommitted, &dropped, "the replay publishes what the aborted transaction did");
        Ok(())
    }

    /// After the final sweep and commit: the committed statuses, and the markers they left.
    fn check_end(&self, plans: &[DeliveryPlan]) -> Result<(), TestCaseError> {
        for (id, plan) in plans.iter().enumerate() {
            let name = format!("m{id}");
            let statuses: Vec<(usize, Status, i64)> = (self.committed.iter().enumerate())
                .filter(|(_, (change, _))| *change.id == name)
                .map(|(i, (change, at))| (i, change.status, *at))
                .collect();
            let (submits, outcomes): (Vec<&(usize, Status, i64)>, Vec<_>) =
                statuses.iter().partition(|(_, s, _)| matches!(s, Status::Sent | Status::Failed | Status::Expired));
            prop_assert!(submits.len() <= 1, "{} ended {} times", name, submits.len());
            if plan.submit.has_message && !plan.submit.tombstone {
                prop_assert_eq!(submits.len(), 1, "{} must end in exactly one status", name);
            }
            if !plan.submit.has_message {
                prop_assert_eq!(submits.len(), 0, "{} has no message: no status", name);
            }
            let model = &self.models[id];
            match self.followed(id).filter(|_| submits.first().is_some_and(|s| s.1 == Status::Sent)) {
                Some(mode) => {
                    prop_assert_eq!(outcomes.len(), 1, "{} needs exactly one delivery outcome", name);
                    prop_assert!(outcomes[0].0 > submits[0].0, "{}: delivery outcome before SENT", name);
                    let expected = model.delivery(mode, plan.submit.total).map_or(Status::DeliveryUnknown, |d| d.0);
                    prop_assert_eq!(outcomes[0].1, expected, "{} delivery outcome", name);
                }
                None => prop_assert!(outcomes.is_empty(), "{} got a delivery outcome: {:?}", name, outcomes),
            }
            // Retention counts from the last status: the marker holds its time.
            match statuses.last() {
                Some(&(_, status, at_ms)) => {
                    let marker = Entry::Closed { outcome: Closed::Published(status), at_ms };
                    prop_assert_eq!(self.state.get(&name), Some(&marker), "{} marker", name);
                }
                None if model.submit.closed => {
                    let cancelled =
                        matches!(self.state.get(&name), Some(Entry::Closed { outcome: Closed::Cancelled, .. }));
                    prop_assert!(cancelled, "{} cancelled: {:?}", name, self.state.get(&name));
                }
                None => prop_assert_eq!(self.state.get(&name), None, "{} left state", name),
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Delivery on (all, first or last parts; off in a quarter of the cases, where receipts must
    /// change nothing), receipts anywhere after their part's response, and transactions.
    #[test]
    fn every_sent_message_gets_one_delivery_outcome_through_aborts_and_restarts(
        plans in prop::collection::vec(delivery_plan(), 1..7),
        mode in prop_oneof![
            1 => Just(None),
            1 => Just(Some(ReceiptParts::All)),
            1 => Just(Some(ReceiptParts::First)),
            1 => Just(Some(ReceiptParts::Last)),
        ],
        seed in any::<u64>(),
        sweep_every in 1usize..6,
        commit_every in 1usize..10,
        jump_one_in in prop::sample::select(vec![8usize, 32, 128]),
        step_ms in prop::sample::select(vec![100i64, 1_000, 3_000, 10_000]),
        flush_each_step in any::<bool>(),
        abort_at_end in any::<bool>(),
    ) {
        let mut rng = Lcg(seed);
        let arrivals = interleave(&plans, &mut rng);
        let steps = tx_steps(arrivals, &mut rng, Pace { sweep_every, commit_every, jump_one_in });
        let mut run = Run::new(&plans, mode, flush_each_step);
        let mut now = T0;
        for step in steps {
            match step {
                TxStep::Arrive(arrival) => {
                    now += step_ms;
                    run.input(Applied::Arrival(arrival, now))?;
                }
                TxStep::Sweep(advance) => {
                    now += advance;
                    run.input(Applied::Sweep(now))?;
                }
                TxStep::Commit => run.commit(),
                TxStep::Abort => run.abort()?,
                TxStep::Restart => {
                    run.commit();
                    run.restore();
                }
            }
        }
        // Past every deadline, yet before any retention ends.
        let end = now + TIMEOUT.max(DELIVERY_TIMEOUT) + 1;
        prop_assert!(end - T0 < LONG_RETENTION, "the run outlasts the retention");
        run.input(Applied::Sweep(end))?;
        if abort_at_end {
            run.abort()?;
        }
        run.commit();
        // The changelog holds just what the state does.
        let entries: Vec<Option<Entry>> = (0..plans.len()).map(|id| run.state.get(&format!("m{id}")).cloned()).collect();
        let counts = run.state.counts();
        run.restore();
        let restored: Vec<Option<Entry>> = (0..plans.len()).map(|id| run.state.get(&format!("m{id}")).cloned()).collect();
        prop_assert_eq!(restored, entries);
        prop_assert_eq!(run.state.counts(), counts);
        run.check_end(&plans)?;
        let purged = run.state.sweep(end + LONG_RETENTION + 1);
        prop_assert!(purged.iter().all(|o| *o == Outcome::Purged), "{:?}", purged);
        prop_assert!(run.state.is_empty(), "state left after retention: {:?}", run.state.counts());
        prop_assert_eq!(run.state.counts(), EntryCounts::default());
    }
}

/// Found by the receipts property (it panicked once): with first-part receipts, a receipt for an
/// open message whose parts are not known (`parts` empty) is ignored. Reachable: the part's
/// response is orphaned, then its WholeMessage arrives, then its receipt.
#[test]
fn a_first_part_receipt_for_a_message_without_known_parts_is_ignored() {
    let delivery = Some(DeliveryPolicy { timeout_ms: DELIVERY_TIMEOUT, parts: ReceiptParts::First });
    let mut state = PartitionState::new(Policy { submit_timeout_ms: TIMEOUT, delivery, ..Policy::default() });
    let at = |timestamp_ms| RecordMeta { timestamp_ms, offset: 0 };
    state.apply(input_of(&Event::Response { id: 0, part: 1, status: 0, supplier: 1 }, &[1]), at(T0));
    assert!(matches!(state.sweep(T0 + TIMEOUT)[..], [Outcome::Orphaned(_)]));
    state.apply(input_of(&Event::Message { id: 0, version: 1 }, &[1]), at(T0 + TIMEOUT + 1));
    let receipt = Receipt { id: 0, part: 1, stat: "DELIVRD", seq: 1 }.part_receipt();
    let input = Input::Receipt(MatchedReceipt { message_id: "m0".into(), part_number: 1, receipt });
    assert!(matches!(state.apply(input, at(T0 + TIMEOUT + 2)), Outcome::Ignored(_)));
}
