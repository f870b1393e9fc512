//! The per-message state machine and the per-partition table of messages.
//!
//! This is the whole join-and-aggregate of the source article, without Kafka: the tracker feeds
//! validated [`Input`]s of one partition in offset order to [`PartitionState::apply`], calls
//! [`PartitionState::sweep`] with the partition's clock, and publishes what it gets back.
//!
//! Every message ends in exactly one terminal status — `SENT`, `FAILED` or `EXPIRED` — or is
//! cancelled by a tombstone; status only moves forward. After that only a small marker remains
//! for the retention period, absorbing late duplicates and updates, and then the key is purged.
//! Time is always an argument (record timestamps, the sweep's clock), never read here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::hash_map::Entry as MapEntry;

// foldhash instead of SipHash: hashing ids was 6 % of the tracker's CPU profile. Its seeds are
// still random per process; the ids come from the operator's own gateway.
use foldhash::HashSet;

use super::delivery::{DeliveryPolicy, MatchedReceipt, PartReceipt, ReceiptOutcome};
use super::shards::ShardedMap;
use super::smpp;
pub use super::wire::MessageId;
use super::wire::{Input, PartResponse, RecordError, RecordErrorKind, registered_delivery};

/// Timeouts and the retryable errors: how long to wait, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// A known message not terminal this long after its `sent-messages` timestamp is EXPIRED;
    /// responses whose message does not arrive this long after the first are orphans.
    pub submit_timeout_ms: i64,
    /// How long a terminal marker absorbs late records before the key is purged.
    pub retention_ms: i64,
    /// `command_status` values the gateway retries; any other non-zero status fails the message.
    pub retryable: Vec<u32>,
    /// Receipt tracking, when on: SENT is then followed by one delivery outcome.
    pub delivery: Option<DeliveryPolicy>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            submit_timeout_ms: 300_000,
            retention_ms: 3_600_000,
            retryable: smpp::DEFAULT_RETRYABLE.to_vec(),
            delivery: None,
        }
    }
}

impl Policy {
    fn is_retryable(&self, command_status: u32) -> bool {
        self.retryable.contains(&command_status)
    }
}

/// A status the tracker publishes. SENT, FAILED and EXPIRED end the submit; with receipt
/// tracking on, SENT is followed by exactly one of the delivery outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Sent,
    Failed,
    Expired,
    Delivered,
    Undelivered,
    DeliveryUnknown,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Sent,
        Status::Failed,
        Status::Expired,
        Status::Delivered,
        Status::Undelivered,
        Status::DeliveryUnknown,
    ];

    /// The delivery outcomes, one of which follows SENT when receipts are tracked.
    pub const DELIVERY_OUTCOMES: [Status; 3] = [Status::Delivered, Status::Undelivered, Status::DeliveryUnknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "SENT",
            Status::Failed => "FAILED",
            Status::Expired => "EXPIRED",
            Status::Delivered => "DELIVERED",
            Status::Undelivered => "UNDELIVERED",
            Status::DeliveryUnknown => "DELIVERY_UNKNOWN",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// What the tracker remembers of one message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Not terminal yet. Boxed so that the far more numerous markers stay small.
    Open(Box<OpenMessage>),
    /// Terminal at `at_ms`; only this marker remains until `at_ms + retention`.
    Closed { outcome: Closed, at_ms: i64 },
}

/// How a closed message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Published(Status),
    /// Tombstoned by the gateway before a status was published.
    Cancelled,
}

/// A message that has not reached a terminal status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenMessage {
    /// The latest WholeMessage JSON from `sent-messages`, kept verbatim for the output.
    pub message: Option<Box<[u8]>>,
    /// Timestamp of the first `sent-messages` record: the submit deadline counts from it.
    pub message_ts: Option<i64>,
    /// Timestamp of the first record of any kind: an orphan's deadline counts from it.
    pub first_seen_ts: i64,
    /// One slot per part, sized by the first response seen (which fixes `totalParts`).
    pub parts: Box<[PartSlot]>,
    /// When SENT was published, if the message now waits for its delivery receipts.
    pub sent_at_ms: Option<i64>,
}

/// What is known about one SMPP part of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartSlot {
    pub outcome: PartOutcome,
    /// The supplier named by the deciding (or latest) response, for descriptions.
    pub supplier: Option<Box<str>>,
    /// Input offset of that response, for orphan dead letters.
    pub offset: i64,
    /// The part's deciding (first final) or latest intermediate delivery receipt. Boxed: most
    /// slots never hold one at the same time as the rest of the message.
    pub receipt: Option<Box<PartReceipt>>,
}

/// The state of one part. The first decisive response (success or permanent error) wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PartOutcome {
    #[default]
    NoResponse,
    /// Only retryable errors so far; the latest one.
    Retrying(u32),
    /// Accepted, with the supplier's message id.
    Accepted(Box<str>),
    /// Permanently rejected with this `command_status`.
    Rejected(u32),
}

impl PartOutcome {
    pub(super) fn command_status(&self) -> Option<u32> {
        match self {
            PartOutcome::NoResponse => None,
            PartOutcome::Retrying(status) | PartOutcome::Rejected(status) => Some(*status),
            PartOutcome::Accepted(_) => Some(0),
        }
    }
}

impl OpenMessage {
    fn deadline(&self, policy: &Policy) -> i64 {
        match (self.sent_at_ms, &policy.delivery) {
            (Some(sent_at), Some(delivery)) => sent_at.saturating_add(delivery.timeout_ms),
            // Tracking turned off since SENT: nothing more to wait for.
            (Some(sent_at), None) => sent_at,
            (None, _) => self.message_ts.unwrap_or(self.first_seen_ts).saturating_add(policy.submit_timeout_ms),
        }
    }

    fn parts_view(&self) -> Vec<PartView> {
        self.parts
            .iter()
            .enumerate()
            .map(|(i, slot)| PartView {
                number: (i + 1) as u8,
                command_status: slot.outcome.command_status(),
                supplier_message_id: match &slot.outcome {
                    PartOutcome::Accepted(id) => Some(id.clone()),
                    _ => None,
                },
                receipt: slot.receipt.as_deref().cloned(),
            })
            .collect()
    }
}

impl Entry {
    pub(super) fn deadline(&self, policy: &Policy) -> i64 {
        match self {
            Entry::Open(open) => open.deadline(policy),
            Entry::Closed { at_ms, .. } => at_ms.saturating_add(policy.retention_ms),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Entry::Open(open) if open.sent_at_ms.is_some() => Kind::AwaitingReceipts,
            Entry::Open(open) if open.message.is_some() => Kind::Pending,
            Entry::Open(_) => Kind::AwaitingMessage,
            Entry::Closed { .. } => Kind::Marker,
        }
    }
}

/// One part as published in the output's `parts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartView {
    pub number: u8,
    /// `None` if no response arrived for the part.
    pub command_status: Option<u32>,
    pub supplier_message_id: Option<Box<str>>,
    /// The part's delivery receipt, if one arrived.
    pub receipt: Option<PartReceipt>,
}

/// A status change to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub id: MessageId,
    pub status: Status,
    pub description: String,
    /// The latest WholeMessage JSON, to which the status fields are added.
    pub message: Box<[u8]>,
    pub parts: Vec<PartView>,
    /// Timestamp of the message's first `sent-messages` record: completion latency counts from it.
    pub sent_at_ms: i64,
    /// On a delivery outcome, when the message's SENT was decided (by record time): delivery
    /// latency counts from it. `None` on every other status.
    pub status_sent_at_ms: Option<i64>,
}

/// A response whose message never arrived, to dead-letter with reason `orphan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanPart {
    pub message_id: MessageId,
    pub part_number: u8,
    pub total_parts: u8,
    pub command_status: u32,
    pub supplier_message_id: Option<Box<str>>,
    pub supplier: Option<Box<str>>,
    pub offset: i64,
    pub reason: String,
}

/// Records that changed nothing, by why; each is counted so operators can see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// A response for a part that was already decided, or for a closed message.
    DuplicateResponse,
    /// A `sent-messages` update or tombstone after the status was published.
    UpdateAfterPublish,
    /// A record for a message the gateway tombstoned.
    Cancelled,
    /// A receipt for a part that already has its final receipt.
    DuplicateReceipt,
    /// A receipt for a message whose outcome is published (or that ended FAILED, EXPIRED, SENT
    /// without tracking) or was purged after retention.
    LateReceipt,
    /// A receipt for a part the outcome does not follow (`--delivery-receipt-parts`).
    UntrackedReceipt,
}

impl Ignored {
    pub const ALL: [Ignored; 6] = [
        Ignored::DuplicateResponse,
        Ignored::UpdateAfterPublish,
        Ignored::Cancelled,
        Ignored::DuplicateReceipt,
        Ignored::LateReceipt,
        Ignored::UntrackedReceipt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::DuplicateResponse => "duplicate_response",
            Ignored::UpdateAfterPublish => "update_after_publish",
            Ignored::Cancelled => "cancelled",
            Ignored::DuplicateReceipt => "duplicate_receipt",
            Ignored::LateReceipt => "late_receipt",
            Ignored::UntrackedReceipt => "untracked_receipt",
        }
    }
}

/// The result of applying one input, or one sweep step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The state changed and a status must be published.
    Publish(StatusChange),
    /// SENT and the delivery outcome became due together: both, in this order.
    PublishBoth(Box<[StatusChange; 2]>),
    /// The state changed; nothing to publish yet.
    Recorded,
    /// The message was cancelled by a tombstone.
    Cancelled,
    /// Nothing changed.
    Ignored(Ignored),
    /// The record contradicts the state (e.g. another `totalParts`): dead-letter it.
    Rejected(RecordError),
    /// Responses whose message never arrived were dropped: dead-letter them.
    Orphaned(Vec<OrphanPart>),
    /// A marker's retention ended and its key was removed.
    Purged,
}

/// Where a record sits in its input: what the state machine needs of Kafka's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    pub timestamp_ms: i64,
    pub offset: i64,
}

/// Kinds of entries, for the state metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pending,
    AwaitingMessage,
    AwaitingReceipts,
    Marker,
}

/// Entries by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EntryCounts {
    /// Open messages whose WholeMessage is known.
    pub pending: usize,
    /// Responses waiting for their message (orphans once the timeout passes).
    pub awaiting_message: usize,
    /// SENT messages waiting for their delivery receipts.
    pub awaiting_receipts: usize,
    /// Terminal markers kept for the retention period.
    pub markers: usize,
}

/// See [`PartitionState::push_deadline`].
const DEADLINES_RESERVE_FROM: usize = 1 << 12;
const DEADLINES_RESERVE: usize = 1 << 20;

/// All message state of one input partition.
#[derive(Debug, Default)]
pub struct PartitionState {
    policy: Policy,
    entries: ShardedMap<Entry>,
    counts: EntryCounts,
    /// Deadlines, earliest first. Lazy: an item whose entry's current deadline differs is stale
    /// and skipped, so a changed deadline only needs a push, never a search.
    deadlines: BinaryHeap<Reverse<(i64, MessageId)>>,
    /// Ids changed since the last [`PartitionState::take_changes`]: what the changelog must get.
    dirty: HashSet<MessageId>,
    /// Parts accepted since the last [`PartitionState::take_accepted`], with receipt tracking on:
    /// each needs an entry in the receipt join's index.
    accepted: Vec<AcceptedPart>,
}

/// A part accepted by its supplier: where its receipts must be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedPart {
    pub message_id: MessageId,
    pub part_number: u8,
    pub supplier: Option<Box<str>>,
    pub supplier_message_id: Box<str>,
}

impl PartitionState {
    pub fn new(policy: Policy) -> Self {
        Self { policy, ..Self::default() }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn counts(&self) -> EntryCounts {
        self.counts
    }

    /// Applies one validated input of this partition, in offset order.
    pub fn apply(&mut self, input: Input, meta: RecordMeta) -> Outcome {
        let id: MessageId = match self.entries.get_key_value(input.id()) {
            Some((existing, _)) => existing.clone(),
            None => input.id().into(),
        };
        let before = self.entries.get(&id).map(|e| (e.kind(), e.deadline(&self.policy)));
        let outcome = match input {
            Input::Message { json, .. } => self.apply_message(&id, json.into_boxed_slice(), meta),
            Input::Tombstone { .. } => self.apply_tombstone(&id, meta),
            Input::Part(part) => self.apply_part(&id, part, meta),
            Input::Receipt(receipt) => self.apply_receipt(&id, receipt, meta),
        };
        if matches!(outcome, Outcome::Publish(_) | Outcome::PublishBoth(_) | Outcome::Recorded | Outcome::Cancelled) {
            self.changed(&id, before);
        }
        outcome
    }

    /// Ends what is due at `now_ms`: expires messages past their deadline, drops orphan
    /// responses, purges markers past retention. Call it with a clock that never runs ahead
    /// of the input (see the partition actor).
    pub fn sweep(&mut self, now_ms: i64) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        while let Some(Reverse((deadline, _))) = self.deadlines.peek() {
            if *deadline > now_ms {
                break;
            }
            let Some(Reverse((deadline, id))) = self.deadlines.pop() else { break };
            let Some(entry) = self.entries.get(&id) else { continue };
            if entry.deadline(&self.policy) != deadline {
                continue;
            }
            let before = Some((entry.kind(), deadline));
            let outcome = match entry {
                Entry::Open(open) if open.sent_at_ms.is_some() => self.delivery_unknown(&id, now_ms),
                Entry::Open(open) if open.message.is_some() => self.expire(&id, now_ms),
                Entry::Open(_) => self.orphan(&id),
                Entry::Closed { .. } => {
                    self.entries.remove(&id);
                    Outcome::Purged
                }
            };
            self.changed(&id, before);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// The ids changed since the last call, each with its current entry (`None` once removed):
    /// a key changed ten times in one commit interval is written to the changelog once.
    pub fn take_changes(&mut self) -> Vec<(MessageId, Option<&Entry>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|id| {
                let entry = self.entries.get(&id);
                (id, entry)
            })
            .collect()
    }

    /// The parts accepted since the last call (only with receipt tracking on).
    pub fn take_accepted(&mut self) -> Vec<AcceptedPart> {
        std::mem::take(&mut self.accepted)
    }

    /// Replays one changelog record while restoring (`None` is a tombstone). Restored entries are
    /// already durable, so they are not marked as changed.
    pub fn restore(&mut self, id: &str, entry: Option<Entry>) {
        if let Some(old) = self.entries.remove(id) {
            self.count(old.kind(), false);
        }
        if let Some(entry) = entry {
            let id: MessageId = id.into();
            self.count(entry.kind(), true);
            self.push_deadline(entry.deadline(&self.policy), id.clone());
            self.entries.insert(id, entry);
        }
    }

    /// Queues a deadline. Past [`DEADLINES_RESERVE_FROM`] entries the queue reserves room for
    /// [`DEADLINES_RESERVE`] at once instead of doubling: each doubling of a large queue copied it
    /// into freshly faulted memory, and every partition of an instance does that at about the same
    /// moment (measured with `examples/hot_path`: a 34 ms stall of one partition at 262,144
    /// entries). Reserved room costs address space only; pages are touched as the queue fills.
    fn push_deadline(&mut self, deadline: i64, id: MessageId) {
        let len = self.deadlines.len();
        if len == self.deadlines.capacity() && (DEADLINES_RESERVE_FROM..DEADLINES_RESERVE).contains(&len) {
            self.deadlines.reserve_exact(DEADLINES_RESERVE - len);
        }
        self.deadlines.push(Reverse((deadline, id)));
    }

    /// Bookkeeping after `id` changed: counts, deadline queue, changelog.
    fn changed(&mut self, id: &MessageId, before: Option<(Kind, i64)>) {
        let after = self.entries.get(id).map(|e| (e.kind(), e.deadline(&self.policy)));
        if let Some((kind, _)) = before {
            self.count(kind, false);
        }
        if let Some((kind, deadline)) = after {
            self.count(kind, true);
            if before.map(|(_, d)| d) != Some(deadline) {
                self.push_deadline(deadline, id.clone());
            }
        }
        self.dirty.insert(id.clone());
    }

    fn count(&mut self, kind: Kind, added: bool) {
        let counter = match kind {
            Kind::Pending => &mut self.counts.pending,
            Kind::AwaitingMessage => &mut self.counts.awaiting_message,
            Kind::AwaitingReceipts => &mut self.counts.awaiting_receipts,
            Kind::Marker => &mut self.counts.markers,
        };
        if added {
            *counter += 1;
        } else {
            *counter -= 1;
        }
    }

    fn apply_message(&mut self, id: &MessageId, json: Box<[u8]>, meta: RecordMeta) -> Outcome {
        match self.entries.get_mut(id) {
            None => {
                let open = OpenMessage {
                    message: Some(json),
                    message_ts: Some(meta.timestamp_ms),
                    first_seen_ts: meta.timestamp_ms,
                    parts: Box::default(),
                    sent_at_ms: None,
                };
                self.entries.insert(id.clone(), Entry::Open(Box::new(open)));
                Outcome::Recorded
            }
            Some(Entry::Open(open)) if open.sent_at_ms.is_some() => Outcome::Ignored(Ignored::UpdateAfterPublish),
            Some(Entry::Open(open)) => {
                open.message = Some(json);
                open.message_ts.get_or_insert(meta.timestamp_ms);
                self.decide(id, meta.timestamp_ms)
            }
            Some(Entry::Closed { outcome: Closed::Published(_), .. }) => Outcome::Ignored(Ignored::UpdateAfterPublish),
            Some(Entry::Closed { outcome: Closed::Cancelled, .. }) => Outcome::Ignored(Ignored::Cancelled),
        }
    }

    fn apply_tombstone(&mut self, id: &MessageId, meta: RecordMeta) -> Outcome {
        match self.entries.get(id) {
            Some(Entry::Closed { outcome: Closed::Published(_), .. }) => Outcome::Ignored(Ignored::UpdateAfterPublish),
            Some(Entry::Open(open)) if open.sent_at_ms.is_some() => Outcome::Ignored(Ignored::UpdateAfterPublish),
            Some(Entry::Closed { outcome: Closed::Cancelled, .. }) => Outcome::Ignored(Ignored::Cancelled),
            Some(Entry::Open(_)) | None => {
                self.entries.insert(id.clone(), Entry::Closed { outcome: Closed::Cancelled, at_ms: meta.timestamp_ms });
                Outcome::Cancelled
            }
        }
    }

    fn apply_part(&mut self, id: &MessageId, part: PartResponse, meta: RecordMeta) -> Outcome {
        let entry = match self.entries.entry(id.clone()) {
            MapEntry::Occupied(occupied) => occupied.into_mut(),
            MapEntry::Vacant(vacant) => {
                let open = OpenMessage { first_seen_ts: meta.timestamp_ms, ..OpenMessage::default() };
                vacant.insert(Entry::Open(Box::new(open)))
            }
        };
        let open = match entry {
            Entry::Open(open) if open.sent_at_ms.is_some() => return Outcome::Ignored(Ignored::DuplicateResponse),
            Entry::Open(open) => open,
            Entry::Closed { outcome: Closed::Published(_), .. } => return Outcome::Ignored(Ignored::DuplicateResponse),
            Entry::Closed { outcome: Closed::Cancelled, .. } => return Outcome::Ignored(Ignored::Cancelled),
        };
        if open.parts.is_empty() {
            open.parts = vec![PartSlot::default(); usize::from(part.total_parts)].into_boxed_slice();
        } else if open.parts.len() != usize::from(part.total_parts) {
            return Outcome::Rejected(RecordError::new(
                RecordErrorKind::TotalPartsMismatch,
                format!(
                    "totalParts {} differs from {} fixed by the first response seen for this message",
                    part.total_parts,
                    open.parts.len()
                ),
            ));
        }
        let slot = &mut open.parts[usize::from(part.part_number) - 1];
        if matches!(slot.outcome, PartOutcome::Accepted(_) | PartOutcome::Rejected(_)) {
            // The first decisive answer wins; later answers for the part change nothing.
            return Outcome::Ignored(Ignored::DuplicateResponse);
        }
        slot.outcome = match part.supplier_message_id {
            Some(supplier_id) if part.command_status == 0 => PartOutcome::Accepted(supplier_id.into()),
            _ if self.policy.is_retryable(part.command_status) => PartOutcome::Retrying(part.command_status),
            _ => PartOutcome::Rejected(part.command_status),
        };
        slot.supplier = part.supplier.map(Into::into);
        slot.offset = meta.offset;
        if let (PartOutcome::Accepted(supplier_id), Some(_)) = (&slot.outcome, &self.policy.delivery) {
            self.accepted.push(AcceptedPart {
                message_id: id.clone(),
                part_number: part.part_number,
                supplier: slot.supplier.clone(),
                supplier_message_id: supplier_id.clone(),
            });
        }
        self.decide(id, meta.timestamp_ms)
    }

    /// Publishes FAILED (any part rejected) or SENT (every part accepted) once the message is
    /// known; otherwise the message stays open.
    fn decide(&mut self, id: &MessageId, at_ms: i64) -> Outcome {
        let Some(Entry::Open(open)) = self.entries.get(id) else { return Outcome::Recorded };
        if open.message.is_none() || open.parts.is_empty() {
            return Outcome::Recorded;
        }
        let total = open.parts.len();
        let rejected = open.parts.iter().enumerate().find_map(|(i, slot)| match slot.outcome {
            PartOutcome::Rejected(status) => Some((i + 1, status, slot.supplier.clone())),
            _ => None,
        });
        let (status, description) = if let Some((number, command_status, supplier)) = rejected {
            let by = supplier.map(|s| format!(" by {s}")).unwrap_or_default();
            (Status::Failed, format!("Part {number}/{total} rejected{by}: {}", smpp::describe(command_status)))
        } else if open.parts.iter().all(|slot| matches!(slot.outcome, PartOutcome::Accepted(_))) {
            (Status::Sent, "Sent successfully".to_owned())
        } else {
            return Outcome::Recorded;
        };
        let tracked = status == Status::Sent
            && self.policy.delivery.is_some()
            && open.message.as_deref().is_some_and(registered_delivery);
        if tracked {
            self.sent_awaiting_receipts(id, description, at_ms)
        } else {
            self.close(id, status, description, at_ms)
        }
    }

    /// Publishes SENT and keeps the message open for its receipts; if those that arrived
    /// already decide the outcome, it is published right after SENT.
    fn sent_awaiting_receipts(&mut self, id: &MessageId, description: String, at_ms: i64) -> Outcome {
        let Some(Entry::Open(open)) = self.entries.get_mut(id) else { return Outcome::Recorded };
        open.sent_at_ms = Some(at_ms);
        let sent = StatusChange {
            id: id.clone(),
            status: Status::Sent,
            description,
            message: open.message.clone().unwrap_or_default(),
            parts: open.parts_view(),
            sent_at_ms: open.message_ts.unwrap_or(open.first_seen_ts),
            status_sent_at_ms: None,
        };
        match self.delivery_decision(id) {
            Some((status, description)) => match self.close(id, status, description, at_ms) {
                Outcome::Publish(outcome) => Outcome::PublishBoth(Box::new([sent, outcome])),
                _ => Outcome::Publish(sent),
            },
            None => Outcome::Publish(sent),
        }
    }

    fn apply_receipt(&mut self, id: &MessageId, matched: MatchedReceipt, meta: RecordMeta) -> Outcome {
        let Some(delivery) = &self.policy.delivery else { return Outcome::Ignored(Ignored::UntrackedReceipt) };
        let open = match self.entries.get_mut(id) {
            Some(Entry::Open(open)) => open,
            Some(Entry::Closed { outcome: Closed::Cancelled, .. }) => return Outcome::Ignored(Ignored::Cancelled),
            Some(Entry::Closed { .. }) | None => return Outcome::Ignored(Ignored::LateReceipt),
        };
        let (number, total) = (usize::from(matched.part_number), open.parts.len());
        // No slot: the part's response was dropped with an orphaned message that came back.
        let Some(slot) = open.parts.get_mut(number.wrapping_sub(1)).filter(|_| delivery.parts.tracks(number, total))
        else {
            return Outcome::Ignored(Ignored::UntrackedReceipt);
        };
        match slot.receipt.as_deref() {
            Some(current) if current.outcome().is_final() || *current == matched.receipt => {
                return Outcome::Ignored(Ignored::DuplicateReceipt);
            }
            _ => slot.receipt = Some(Box::new(matched.receipt)),
        }
        if open.sent_at_ms.is_none() {
            return Outcome::Recorded;
        }
        match self.delivery_decision(id) {
            Some((status, description)) => self.close(id, status, description, meta.timestamp_ms),
            None => Outcome::Recorded,
        }
    }

    /// DELIVERED once every tracked part was delivered; UNDELIVERED as soon as one tracked part
    /// finally was not; otherwise nothing yet.
    fn delivery_decision(&self, id: &MessageId) -> Option<(Status, String)> {
        let mode = self.policy.delivery.as_ref()?.parts;
        let Some(Entry::Open(open)) = self.entries.get(id) else { return None };
        let total = open.parts.len();
        let tracked = || open.parts.iter().enumerate().filter(move |(i, _)| mode.tracks(i + 1, total));
        for (i, slot) in tracked() {
            if let Some(receipt) = slot.receipt.as_deref().filter(|r| r.outcome() == ReceiptOutcome::NotDelivered) {
                let by = slot.supplier.as_deref().map(|s| format!(" by {s}")).unwrap_or_default();
                return Some((
                    Status::Undelivered,
                    format!("Part {}/{total} not delivered{by}: {}", i + 1, receipt.describe()),
                ));
            }
        }
        let delivered =
            |slot: &PartSlot| slot.receipt.as_deref().is_some_and(|r| r.outcome() == ReceiptOutcome::Delivered);
        tracked().all(|(_, slot)| delivered(slot)).then(|| (Status::Delivered, "Delivered".to_owned()))
    }

    /// The delivery timeout passed after SENT without an outcome: DELIVERY_UNKNOWN, naming the
    /// parts without a final receipt and the last intermediate state of each.
    fn delivery_unknown(&mut self, id: &MessageId, now_ms: i64) -> Outcome {
        let Some(delivery) = self.policy.delivery.clone() else {
            // Tracking was turned off while the message waited: end it without another status.
            let at_ms = match self.entries.get(id) {
                Some(Entry::Open(open)) => open.sent_at_ms.unwrap_or(now_ms),
                _ => now_ms,
            };
            self.entries.insert(id.clone(), Entry::Closed { outcome: Closed::Published(Status::Sent), at_ms });
            return Outcome::Recorded;
        };
        let Some(Entry::Open(open)) = self.entries.get(id) else { return Outcome::Recorded };
        let total = open.parts.len();
        let waiting: Vec<String> = open
            .parts
            .iter()
            .enumerate()
            .filter(|(i, slot)| {
                delivery.parts.tracks(i + 1, total) && !slot.receipt.as_deref().is_some_and(|r| r.outcome().is_final())
            })
            .map(|(i, slot)| match slot.receipt.as_deref() {
                Some(receipt) => format!("{}/{total} (last: {})", i + 1, receipt.stat),
                None => format!("{}/{total}", i + 1),
            })
            .collect();
        let noun = if waiting.len() == 1 { "part" } else { "parts" };
        let description = format!(
            "No final delivery receipt within {} s for {noun} {}",
            delivery.timeout_ms / 1000,
            waiting.join(", ")
        );
        self.close(id, Status::DeliveryUnknown, description, now_ms)
    }

    fn expire(&mut self, id: &MessageId, now_ms: i64) -> Outcome {
        let Some(Entry::Open(open)) = self.entries.get(id) else { return Outcome::Recorded };
        let seconds = self.policy.submit_timeout_ms / 1000;
        let total = open.parts.len();
        let missing: Vec<(usize, &PartOutcome)> = open
            .parts
            .iter()
            .enumerate()
            .filter(|(_, slot)| !matches!(slot.outcome, PartOutcome::Accepted(_)))
            .map(|(i, slot)| (i + 1, &slot.outcome))
            .collect();
        let description = if total == 0 {
            format!("No submit response within {seconds} s")
        } else {
            let list: Vec<String> = missing.iter().map(|(n, _)| format!("{n}/{total}")).collect();
            let noun = if list.len() == 1 { "part" } else { "parts" };
            let last: Vec<String> = missing
                .iter()
                .filter_map(|(n, outcome)| match outcome {
                    PartOutcome::Retrying(status) if missing.len() == 1 => Some(smpp::short(*status)),
                    PartOutcome::Retrying(status) => Some(format!("part {n} {}", smpp::short(*status))),
                    _ => None,
                })
                .collect();
            let last = if last.is_empty() { String::new() } else { format!(" (last: {})", last.join(", ")) };
            format!("No successful submit response for {noun} {} within {seconds} s{last}", list.join(", "))
        };
        self.close(id, Status::Expired, description, now_ms)
    }

    /// Replaces an open entry by a terminal marker and returns the status to publish.
    fn close(&mut self, id: &MessageId, status: Status, description: String, at_ms: i64) -> Outcome {
        let marker = Entry::Closed { outcome: Closed::Published(status), at_ms };
        let Some(Entry::Open(open)) = self.entries.insert(id.clone(), marker) else {
            return Outcome::Recorded;
        };
        let parts = open.parts_view();
        let sent_at_ms = open.message_ts.unwrap_or(open.first_seen_ts);
        // Only a message waiting for receipts has a SENT time, and it closes with an outcome.
        let status_sent_at_ms = open.sent_at_ms.filter(|_| Status::DELIVERY_OUTCOMES.contains(&status));
        let message = open.message.unwrap_or_default();

        Outcome::Publish(StatusChange {
            id: id.clone(),
            status,
            description,
            message,
            parts,
            sent_at_ms,
            status_sent_at_ms,
        })
    }

    fn orphan(&mut self, id: &MessageId) -> Outcome {
        let Some(Entry::Open(open)) = self.entries.remove(id) else { return Outcome::Recorded };
        let total = open.parts.len() as u8;
        let seconds = self.policy.submit_timeout_ms / 1000;
        let parts = open
            .parts
            .into_vec()
            .into_iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let command_status = slot.outcome.command_status()?;
                Some(OrphanPart {
                    message_id: id.clone(),
                    part_number: (i + 1) as u8,
                    total_parts: total,
                    command_status,
                    supplier_message_id: match slot.outcome {
                        PartOutcome::Accepted(s) => Some(s),
                        _ => None,
                    },
                    supplier: slot.supplier,
                    offset: slot.offset,
                    reason: format!("orphan: no sent-messages record for this message within {seconds} s"),
                })
            })
            .collect();
        Outcome::Orphaned(parts)
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "state_properties.rs"]
mod properties;

#[cfg(test)]
#[path = "state_delivery_tests.rs"]
mod delivery_tests;
