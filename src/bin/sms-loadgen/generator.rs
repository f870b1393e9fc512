//! The pure, deterministic traffic plan: given the settings (seed included) it always yields the
//! same records in the same order, so a failing run can be replayed exactly.
//!
//! Traffic is planned in windows of messages. Each window's records (messages, part responses,
//! duplicates, throttled responses and invalid records) are shuffled together before producing,
//! because a real gateway's suppliers answer out of order and often before the gateway itself
//! has published the message. Only the order within one part is kept causal: a throttled response
//! precedes the part's success, and duplicates follow it.
//!
//! With receipts on (see [`crate::receipts`]), a part's receipts join that order: after its success
//! response (in the same window, or for a small tail a few windows later), or, for a share of parts,
//! before it — the race a tracker must survive. Without receipts no random number is drawn for
//! them, so a seed plans exactly the records it planned before receipts existed.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::content;
use crate::invalid::{self, Fresh};
use crate::receipts::{self, Outcome, Part, ReceiptSettings};
use crate::records::{InvalidKind, PlannedRecord, ReceiptRole, RecordKind, Topic, rfc3339_millis};
use crate::supplier_ids::SupplierIds;

/// SMPP `command_status` ESME_RTHROTTLED: the supplier asks to resubmit later.
pub const ESME_RTHROTTLED: u32 = 0x58;

/// Probability that a message needs one more part than the previous count: most SMS are
/// single-part, each further part count is four times rarer.
const EXTRA_PART_PROBABILITY: f64 = 0.25;

/// Messages are created about this far apart (ms), i.e. ~500 messages/s of gateway time.
const CREATION_SPACING_MS: u64 = 2;

#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    /// Prepended to every id, so that runs against shared topics do not collide.
    pub id_prefix: String,
    /// Upper bound of parts per message, 1..=255.
    pub max_parts: u8,
    /// Per part, the probability of one extra duplicate success response.
    pub duplicate_share: f64,
    /// Per part, the probability of a throttled response before its success.
    pub retryable_share: f64,
    /// Invalid records added per window, as a fraction of its valid records.
    pub invalid_share: f64,
    /// Gateway time of the first message, ms since the Unix epoch.
    pub start_epoch_ms: u64,
    /// Delivery receipts to simulate; `None` (no `--delivery-reports-topic`) plans none.
    pub receipts: Option<ReceiptSettings>,
}

/// Where a record sits within its part's causal order; only part responses and receipts have one.
#[derive(Debug, Clone, Copy)]
struct PartSlot {
    message: u64,
    part: u8,
    /// The order the part's records must reach Kafka in; see [`rank`].
    rank: u8,
}

type Slotted = (PlannedRecord, Option<PartSlot>);

/// A part's causal order: throttled, success, duplicate responses, then its receipts
/// (intermediate, final, duplicate) — or, when its receipts overtake the response, the receipts
/// between throttled and success.
fn rank(kind: RecordKind, before_response: bool) -> u8 {
    use ReceiptRole::{Duplicate, Final, Intermediate};
    match (kind, before_response) {
        (RecordKind::Retryable, _) => 0,
        (RecordKind::Success, false) => 1,
        (RecordKind::Duplicate, false) => 2,
        (RecordKind::Receipt(r), false) => match r.role {
            Intermediate => 3,
            Final => 4,
            Duplicate => 5,
        },
        (RecordKind::Receipt(r), true) => match r.role {
            Intermediate => 1,
            Final => 2,
            Duplicate => 4,
        },
        (RecordKind::Success, true) => 3,
        (RecordKind::Duplicate, true) => 4,
        // Messages and invalid records have no part slot.
        (RecordKind::Message | RecordKind::Invalid(_), _) => 0,
    }
}

/// Receipt planning state, present only with receipts on.
struct Receipts {
    settings: ReceiptSettings,
    ids: SupplierIds,
    /// Tail receipts by the window they are due in.
    deferred: BTreeMap<u64, Vec<Slotted>>,
    /// Expected outcomes of the messages planned since [`Generator::take_outcomes`].
    outcomes: Vec<(String, Outcome)>,
}

pub struct Generator {
    settings: Settings,
    rng: StdRng,
    /// Scrambles message indexes into ids; unique because [`scramble`] is a bijection.
    id_key: u64,
    next_message: u64,
    next_window: u64,
    receipts: Option<Receipts>,
}

impl Generator {
    pub fn new(settings: Settings) -> Self {
        let mut rng = StdRng::seed_from_u64(settings.seed);
        let id_key = rng.random();
        let receipts = settings.receipts.clone().map(|receipts| Receipts {
            settings: receipts,
            ids: SupplierIds::new(&mut rng, &settings.id_prefix),
            deferred: BTreeMap::new(),
            outcomes: Vec::new(),
        });
        Self { settings, rng, id_key, next_message: 0, next_window: 0, receipts }
    }

    /// Plans the next window of `messages` valid messages, shuffled, ready to produce.
    pub fn window(&mut self, messages: usize) -> Vec<PlannedRecord> {
        let mut planned: Vec<Slotted> = Vec::with_capacity(messages * 3);
        for _ in 0..messages {
            self.plan_message(&mut planned);
        }
        let receipts = planned.iter().filter(|(r, _)| r.topic == Topic::DeliveryReports).count();
        let invalid = share_count(&mut self.rng, planned.len() - receipts, self.settings.invalid_share);
        for _ in 0..invalid {
            let record = self.plan_invalid();
            planned.push((record, None));
        }
        if self.receipts.is_some() {
            // Invalid receipts as a share of this window's receipts, like the other invalid records.
            for _ in 0..share_count(&mut self.rng, receipts, self.settings.invalid_share) {
                let kind = InvalidKind::RECEIPTS[self.rng.random_range(0..InvalidKind::RECEIPTS.len())];
                let (key, timestamp) = self.fresh();
                let fresh = Fresh { key: &key, other: &key, timestamp: &timestamp };
                planned.push((invalid::record(&mut self.rng, kind, &fresh), None));
            }
        }
        if let Some(due) = self.receipts.as_mut().and_then(|r| r.deferred.remove(&self.next_window)) {
            planned.extend(due);
        }
        self.next_window += 1;
        planned.shuffle(&mut self.rng);
        restore_part_order(&mut planned);
        planned.into_iter().map(|(record, _)| record).collect()
    }

    /// Tail receipts not yet written because their window has not been planned; the run writes
    /// them after its last window, so that every message's receipts are complete.
    pub fn take_deferred(&mut self) -> Vec<PlannedRecord> {
        let deferred = self.receipts.as_mut().map(|r| std::mem::take(&mut r.deferred)).unwrap_or_default();
        // Each part's final receipt was queued before its duplicate, so the order stays causal.
        deferred.into_values().flatten().map(|(record, _)| record).collect()
    }

    /// Expected delivery outcomes of the messages planned since the last call (none without
    /// receipts), in planning order.
    pub fn take_outcomes(&mut self) -> Vec<(String, Outcome)> {
        self.receipts.as_mut().map(|r| std::mem::take(&mut r.outcomes)).unwrap_or_default()
    }

    /// The id of the `index`-th message: prefix plus 16 hex digits.
    fn message_id(&self, index: u64) -> String {
        format!("{}{:016x}", self.settings.id_prefix, scramble(index ^ self.id_key))
    }

    fn plan_message(&mut self, planned: &mut Vec<Slotted>) {
        let index = self.next_message;
        self.next_message += 1;
        let id = self.message_id(index);
        let rng = &mut self.rng;
        let mut total: u8 = 1;
        while total < self.settings.max_parts && rng.random_bool(EXTRA_PART_PROBABILITY) {
            total += 1;
        }
        let supplier = content::supplier(rng);
        let created_ms = self.settings.start_epoch_ms + index * CREATION_SPACING_MS;
        // Drawn in the order the fields used to be, so that plans without receipts stay the same.
        let (sender, recipient, text) = (content::sender(rng), content::recipient(rng), content::text(rng, total));
        let message = json!({
            "id": id, "status": "PENDING", "sender": sender, "recipient": recipient,
            "text": text, "supplier": supplier, "createdAt": rfc3339_millis(created_ms),
        });
        planned.push((record(Topic::Sent, &id, &message, RecordKind::Message), None));
        let fates = self.receipts.as_mut().map(|r| {
            let (outcome, fates) = receipts::fates(rng, &r.settings, total);
            r.outcomes.push((id.clone(), outcome));
            fates
        });
        let (retryable_share, duplicate_share) = (self.settings.retryable_share, self.settings.duplicate_share);
        for part in 1..=total {
            let before_response =
                self.receipts.as_ref().is_some_and(|r| rng.random_bool(r.settings.before_response_share));
            let mut received_ms = created_ms + rng.random_range(150..3000);
            let mut respond = |rng: &mut StdRng, kind: RecordKind, command_status: u32, supplier_id: Option<String>| {
                received_ms += rng.random_range(5..500);
                let mut value = json!({
                    "messageId": id, "partNumber": part, "totalParts": total, "supplierMessageId": supplier_id,
                    "commandStatus": command_status, "supplier": supplier, "receivedAt": rfc3339_millis(received_ms),
                });
                if let (None, Some(fields)) = (&supplier_id, value.as_object_mut()) {
                    // Error responses carry no supplier id at all, not a null one.
                    fields.remove("supplierMessageId");
                }
                let slot = PartSlot { message: index, part, rank: rank(kind, before_response) };
                planned.push((record(Topic::Responses, &id, &value, kind), Some(slot)));
                received_ms
            };
            if rng.random_bool(retryable_share) {
                respond(rng, RecordKind::Retryable, ESME_RTHROTTLED, None);
            }
            // With receipts, ids are unique and in the supplier's format; see `supplier_ids`.
            let ids = self.receipts.as_mut().map(|r| r.ids.next(rng, r.settings.id_format(supplier)));
            let supplier_id =
                ids.as_ref().map_or_else(|| content::supplier_message_id(rng), |ids| ids.response.clone());
            let submitted_ms = respond(rng, RecordKind::Success, 0, Some(supplier_id.clone()));
            if rng.random_bool(duplicate_share) {
                // A resubmission after a lost response gets a new supplier id now and then.
                let dup_id = match (rng.random_bool(0.3), self.receipts.as_mut()) {
                    (false, _) => supplier_id,
                    (true, None) => content::supplier_message_id(rng),
                    (true, Some(r)) => r.ids.next(rng, r.settings.id_format(supplier)).response,
                };
                respond(rng, RecordKind::Duplicate, 0, Some(dup_id));
            }
            let (Some(r), Some(ids), Some(fates)) = (self.receipts.as_mut(), &ids, &fates) else { continue };
            let fate = fates[usize::from(part - 1)];
            let part_info = Part { supplier, id: &ids.report, fate, before_response, submitted_ms, text: &text };
            let plan = receipts::plan_part(rng, &r.settings, &part_info);
            for receipt in plan.records {
                let slot = Some(PartSlot { message: index, part, rank: rank(receipt.kind, before_response) });
                let intermediate =
                    matches!(receipt.kind, RecordKind::Receipt(k) if k.role == ReceiptRole::Intermediate);
                if plan.tail_windows > 0 && !intermediate {
                    r.deferred.entry(self.next_window + plan.tail_windows).or_default().push((receipt, slot));
                } else {
                    planned.push((receipt, slot));
                }
            }
        }
    }

    /// A key no valid record uses, and a timestamp, for an invalid record.
    fn fresh(&mut self) -> (String, String) {
        // A valid id is the prefix plus exactly 16 hex digits; prefix + "bad-" + 16 hex digits is
        // longer, so it can never be one: invalid records never touch a valid message.
        let key = format!("{}bad-{:016x}", self.settings.id_prefix, self.rng.random::<u64>());
        let created_ms = self.settings.start_epoch_ms + self.next_message * CREATION_SPACING_MS;
        (key, rfc3339_millis(created_ms))
    }

    fn plan_invalid(&mut self) -> PlannedRecord {
        let kind = InvalidKind::ALL[self.rng.random_range(0..InvalidKind::ALL.len())];
        let ((key, timestamp), (other, _)) = (self.fresh(), self.fresh());
        invalid::record(&mut self.rng, kind, &Fresh { key: &key, other: &other, timestamp: &timestamp })
    }
}

fn record(topic: Topic, id: &str, value: &serde_json::Value, kind: RecordKind) -> PlannedRecord {
    // Serialising a JSON value cannot fail.
    let value = serde_json::to_vec(value).unwrap_or_default();
    PlannedRecord { topic, key: Some(id.to_owned()), value, kind }
}

/// `n * share` rounded randomly, so that fractional shares of small windows add up over many.
fn share_count(rng: &mut impl Rng, n: usize, share: f64) -> usize {
    let exact = n as f64 * share;
    let whole = exact.floor();
    whole as usize + usize::from(rng.random_bool((exact - whole).clamp(0.0, 1.0)))
}

/// After the shuffle, reorders each part's responses and receipts among the positions they landed
/// on so that they follow [`rank`]; everything else keeps its shuffled position.
fn restore_part_order(planned: &mut [Slotted]) {
    let mut groups: HashMap<(u64, u8), Vec<usize>> = HashMap::new();
    for (position, (_, slot)) in planned.iter().enumerate() {
        if let Some(slot) = slot {
            groups.entry((slot.message, slot.part)).or_default().push(position);
        }
    }
    let rank = |planned: &[Slotted], at: usize| planned[at].1.map_or(0, |s| s.rank);
    for positions in groups.values().filter(|p| p.len() > 1) {
        // Selection sort over a handful of positions; groups are disjoint, so order is irrelevant.
        for i in 0..positions.len() {
            let lowest = (i..positions.len()).min_by_key(|&j| rank(planned, positions[j])).unwrap_or(i);
            planned.swap(positions[i], positions[lowest]);
        }
    }
}

/// A bijection on u64 (the splitmix64 finaliser): distinct indexes give distinct, random-looking ids.
pub fn scramble(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
#[path = "generator_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "receipts_tests.rs"]
mod receipts_tests;
