//! The pure, deterministic traffic plan: given the settings (seed included) it always yields the
//! same records in the same order, so a failing run can be replayed exactly.
//!
//! Traffic is planned in windows of messages. Each window's records (messages, part responses,
//! duplicates, throttled responses and invalid records) are shuffled together before producing,
//! because a real gateway's suppliers answer out of order and often before the gateway itself
//! has published the message. Only the order within one part is kept causal: a throttled response
//! precedes the part's success, and duplicates follow it.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::content;
use crate::invalid::{self, Fresh};
use crate::records::{InvalidKind, PlannedRecord, RecordKind, Topic, rfc3339_millis};

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
}

/// Where a record sits within its part's causal order; only part responses have one.
#[derive(Debug, Clone, Copy)]
struct PartSlot {
    message: u64,
    part: u8,
    /// 0 throttled, 1 success, 2 duplicate: the order they must reach Kafka in.
    rank: u8,
}

pub struct Generator {
    settings: Settings,
    rng: StdRng,
    /// Scrambles message indexes into ids; unique because [`scramble`] is a bijection.
    id_key: u64,
    next_message: u64,
}

impl Generator {
    pub fn new(settings: Settings) -> Self {
        let mut rng = StdRng::seed_from_u64(settings.seed);
        let id_key = rng.random();
        Self { settings, rng, id_key, next_message: 0 }
    }

    /// Plans the next window of `messages` valid messages, shuffled, ready to produce.
    pub fn window(&mut self, messages: usize) -> Vec<PlannedRecord> {
        let mut planned: Vec<(PlannedRecord, Option<PartSlot>)> = Vec::with_capacity(messages * 3);
        for _ in 0..messages {
            self.plan_message(&mut planned);
        }
        let invalid = share_count(&mut self.rng, planned.len(), self.settings.invalid_share);
        for _ in 0..invalid {
            let record = self.plan_invalid();
            planned.push((record, None));
        }
        planned.shuffle(&mut self.rng);
        restore_part_order(&mut planned);
        planned.into_iter().map(|(record, _)| record).collect()
    }

    /// The id of the `index`-th message: prefix plus 16 hex digits.
    fn message_id(&self, index: u64) -> String {
        format!("{}{:016x}", self.settings.id_prefix, scramble(index ^ self.id_key))
    }

    fn plan_message(&mut self, planned: &mut Vec<(PlannedRecord, Option<PartSlot>)>) {
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
        let message = json!({
            "id": id, "status": "PENDING", "sender": content::sender(rng), "recipient": content::recipient(rng),
            "text": content::text(rng, total), "supplier": supplier, "createdAt": rfc3339_millis(created_ms),
        });
        planned.push((record(Topic::Sent, &id, &message, RecordKind::Message), None));
        let (retryable_share, duplicate_share) = (self.settings.retryable_share, self.settings.duplicate_share);
        for part in 1..=total {
            let mut received_ms = created_ms + rng.random_range(150..3000);
            let mut respond = |rng: &mut StdRng, rank: u8, command_status: u32, supplier_id: Option<String>| {
                received_ms += rng.random_range(5..500);
                let mut value = json!({
                    "messageId": id, "partNumber": part, "totalParts": total, "supplierMessageId": supplier_id,
                    "commandStatus": command_status, "supplier": supplier, "receivedAt": rfc3339_millis(received_ms),
                });
                if let (None, Some(fields)) = (&supplier_id, value.as_object_mut()) {
                    // Error responses carry no supplier id at all, not a null one.
                    fields.remove("supplierMessageId");
                }
                let kind = [RecordKind::Retryable, RecordKind::Success, RecordKind::Duplicate][usize::from(rank)];
                let slot = PartSlot { message: index, part, rank };
                planned.push((record(Topic::Responses, &id, &value, kind), Some(slot)));
            };
            if rng.random_bool(retryable_share) {
                respond(rng, 0, ESME_RTHROTTLED, None);
            }
            let supplier_id = content::supplier_message_id(rng);
            respond(rng, 1, 0, Some(supplier_id.clone()));
            if rng.random_bool(duplicate_share) {
                // A resubmission after a lost response gets a new supplier id now and then.
                let dup_id = if rng.random_bool(0.3) { content::supplier_message_id(rng) } else { supplier_id };
                respond(rng, 2, 0, Some(dup_id));
            }
        }
    }

    fn plan_invalid(&mut self) -> PlannedRecord {
        let kind = InvalidKind::ALL[self.rng.random_range(0..InvalidKind::ALL.len())];
        // A valid id is the prefix plus exactly 16 hex digits; prefix + "bad-" + 16 hex digits is
        // longer, so it can never be one: invalid records never touch a valid message.
        let prefix = &self.settings.id_prefix;
        let key = format!("{prefix}bad-{:016x}", self.rng.random::<u64>());
        let other = format!("{prefix}bad-{:016x}", self.rng.random::<u64>());
        let created_ms = self.settings.start_epoch_ms + self.next_message * CREATION_SPACING_MS;
        let timestamp = rfc3339_millis(created_ms);
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

/// After the shuffle, reorders each part's responses among the positions they landed on so that
/// they run throttled, success, duplicates; everything else keeps its shuffled position.
fn restore_part_order(planned: &mut [(PlannedRecord, Option<PartSlot>)]) {
    let mut groups: HashMap<(u64, u8), Vec<usize>> = HashMap::new();
    for (position, (_, slot)) in planned.iter().enumerate() {
        if let Some(slot) = slot {
            groups.entry((slot.message, slot.part)).or_default().push(position);
        }
    }
    let rank = |planned: &[(PlannedRecord, Option<PartSlot>)], at: usize| planned[at].1.map_or(0, |s| s.rank);
    for positions in groups.values().filter(|p| p.len() > 1) {
        // Selection sort over at most three positions; groups are disjoint, so order is irrelevant.
        for i in 0..positions.len() {
            let lowest = (i..positions.len()).min_by_key(|&j| rank(planned, positions[j])).unwrap_or(i);
            planned.swap(positions[i], positions[lowest]);
        }
    }
}

/// A bijection on u64 (the splitmix64 finaliser): distinct indexes give distinct, random-looking ids.
fn scramble(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
#[path = "generator_tests.rs"]
mod tests;
