//! The receipt join: delivery receipts name the supplier's message id, not ours, so they are
//! joined to the submit responses by (supplier, canonical supplier id) before they can reach
//! their message. One table per partition of the re-keyed topics holds, per receipt key, the
//! index entry written when a part was accepted (which message, which part, which partition)
//! and the receipts that came before it.
//!
//! Either order works: an index entry releases the receipts waiting for it, a receipt finds
//! its index entry. An index entry is kept long enough to match every receipt of its part,
//! duplicates included (the message's state ignores those); receipts whose index never comes
//! are given up as unmatched after the submit timeout, counted from the receipt.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use foldhash::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

use super::delivery::{MatchedReceipt, PartReceipt};
use super::wire::{Input, RecordError, RecordErrorKind};

/// How long join entries live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinPolicy {
    /// A receipt without an index entry this long after it arrived is unmatched.
    pub unmatched_after_ms: i64,
    /// An index entry is kept this long (the delivery timeout plus retention) while its part
    /// has no final receipt: later receipts of its part are late anyway.
    pub keep_index_ms: i64,
    /// Once its part's final receipt passed, an index entry is kept only this long (the
    /// message's retention) for duplicates: most parts are delivered within minutes, so the
    /// index holds little more than the parts still waiting.
    pub retention_ms: i64,
}

/// Where a part's receipts must go; also the value of the index topic's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub message_id: String,
    /// The partition of the message's inputs, which holds its state.
    pub message_partition: i32,
    pub part_number: u8,
}

/// A receipt's original record, kept to dead-letter it verbatim if it stays unmatched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OriginalRecord {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A receipt waiting for its index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingReceipt {
    pub receipt: PartReceipt,
    pub supplier: String,
    pub supplier_message_id: String,
    pub at_ms: i64,
    pub original: OriginalRecord,
}

/// What one receipt key holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinEntry {
    pub index: Option<(IndexEntry, i64)>,
    pub waiting: Vec<WaitingReceipt>,
    /// When the part's first final receipt was joined.
    pub final_at_ms: Option<i64>,
}

impl JoinEntry {
    fn deadline(&self, policy: &JoinPolicy) -> i64 {
        match (&self.index, self.waiting.first(), self.final_at_ms) {
            (Some(_), _, Some(final_at_ms)) => final_at_ms.saturating_add(policy.retention_ms),
            (Some((_, at_ms)), _, None) => at_ms.saturating_add(policy.keep_index_ms),
            (None, Some(first), _) => first.at_ms.saturating_add(policy.unmatched_after_ms),
            (None, None, _) => i64::MIN,
        }
    }
}

/// A receipt joined to its part: to be sent to the message's partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub index: IndexEntry,
    pub receipt: PartReceipt,
    /// When the receipt arrived (its original record's timestamp).
    pub at_ms: i64,
}

/// What applying a record or sweeping produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinOutput {
    pub joined: Vec<Joined>,
    pub unmatched: Vec<WaitingReceipt>,
}

/// The join table of one partition of the re-keyed topics.
#[derive(Debug)]
pub struct JoinState {
    policy: JoinPolicy,
    entries: HashMap<String, JoinEntry>,
    deadlines: BinaryHeap<Reverse<(i64, String)>>,
    dirty: HashSet<String>,
}

impl JoinState {
    pub fn new(policy: JoinPolicy) -> Self {
        Self { policy, entries: HashMap::default(), deadlines: BinaryHeap::new(), dirty: HashSet::default() }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Receipts waiting for their index entry.
    pub fn waiting(&self) -> usize {
        self.entries.values().map(|e| e.waiting.len()).sum()
    }

    /// A part was accepted: its receipts go to `index`. Releases the receipts that waited.
    pub fn apply_index(&mut self, key: &str, index: IndexEntry, at_ms: i64) -> JoinOutput {
        let entry = self.entries.entry(key.to_owned()).or_default();
        let waiting = std::mem::take(&mut entry.waiting);
        if let Some(first_final) = waiting.iter().find(|w| w.receipt.outcome().is_final()) {
            entry.final_at_ms.get_or_insert(first_final.at_ms.max(at_ms));
        }
        let joined =
            waiting.into_iter().map(|w| Joined { index: index.clone(), receipt: w.receipt, at_ms: w.at_ms }).collect();
        entry.index = Some((index, at_ms));
        self.changed(key);
        JoinOutput { joined, unmatched: Vec::new() }
    }

    /// A receipt arrived: joined at once if its part is indexed, else it waits.
    pub fn apply_receipt(&mut self, key: &str, receipt: WaitingReceipt) -> JoinOutput {
        let entry = self.entries.entry(key.to_owned()).or_default();
        if let Some((index, _)) = &entry.index {
            let (is_final, at_ms) = (receipt.receipt.outcome().is_final(), receipt.at_ms);
            let joined = JoinOutput {
                joined: vec![Joined { index: index.clone(), receipt: receipt.receipt, at_ms }],
                unmatched: Vec::new(),
            };
            if entry.final_at_ms.is_none() && is_final {
                entry.final_at_ms = Some(at_ms);
                self.changed(key);
            }
            return joined;
        }
        entry.waiting.push(receipt);
        self.changed(key);
        JoinOutput::default()
    }

    /// Gives up receipts waiting too long and forgets index entries past their time.
    pub fn sweep(&mut self, now_ms: i64) -> JoinOutput {
        let mut output = JoinOutput::default();
        while let Some(Reverse((deadline, _))) = self.deadlines.peek() {
            if *deadline > now_ms {
                break;
            }
            let Some(Reverse((deadline, key))) = self.deadlines.pop() else { break };
            let Some(entry) = self.entries.get(&key) else { continue };
            if entry.deadline(&self.policy) != deadline {
                continue;
            }
            if let Some(entry) = self.entries.remove(&key) {
                output.unmatched.extend(entry.waiting);
            }
            self.dirty.insert(key);
        }
        output
    }

    /// Keys changed since the last call with their current entry (`None` once removed).
    pub fn take_changes(&mut self) -> Vec<(String, Option<&JoinEntry>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|key| {
                let entry = self.entries.get(&key);
                (key, entry)
            })
            .collect()
    }

    /// Replays one changelog record while restoring (`None` is a tombstone).
    pub fn restore(&mut self, key: &str, entry: Option<JoinEntry>) {
        self.entries.remove(key);
        if let Some(entry) = entry {
            self.deadlines.push(Reverse((entry.deadline(&self.policy), key.to_owned())));
            self.entries.insert(key.to_owned(), entry);
        }
    }

    fn changed(&mut self, key: &str) {
        if let Some(entry) = self.entries.get(key) {
            self.deadlines.push(Reverse((entry.deadline(&self.policy), key.to_owned())));
        }
        self.dirty.insert(key.to_owned());
    }
}

/// A joined receipt as written to the message's partition of the matched-receipts topic (key =
/// message id). Internal: written by the receipt join, read by the partition actor.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MatchedWire {
    message_id: String,
    part_number: u8,
    stat: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    err: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done_date: Option<String>,
}

pub fn encode_matched(message_id: &str, part_number: u8, receipt: &PartReceipt) -> Vec<u8> {
    let wire = MatchedWire {
        message_id: message_id.to_owned(),
        part_number,
        stat: receipt.stat.to_string(),
        err: receipt.err.as_deref().map(str::to_owned),
        done_date: receipt.done_date.as_deref().map(str::to_owned),
    };
    serde_json::to_vec(&wire).expect("a matched receipt serialises")
}

/// Reads a matched-receipts record. Only the tracker writes them, so a bad one means a bug or
/// a foreign writer: it is dead-lettered like any invalid input.
pub fn parse_matched_receipt(value: Option<&[u8]>) -> Result<Input, RecordError> {
    let value = value.ok_or_else(|| RecordError::new(RecordErrorKind::NotJson, "value is null"))?;
    let wire: MatchedWire = serde_json::from_slice(value)
        .map_err(|e| RecordError::new(RecordErrorKind::InvalidField, format!("invalid matched receipt: {e}")))?;
    if wire.part_number == 0 {
        return Err(RecordError::new(RecordErrorKind::PartOutOfRange, "partNumber 0"));
    }
    Ok(Input::Receipt(MatchedReceipt {
        message_id: wire.message_id,
        part_number: wire.part_number,
        receipt: PartReceipt {
            stat: wire.stat.into(),
            err: wire.err.map(Into::into),
            done_date: wire.done_date.map(Into::into),
        },
    }))
}

/// A receipt re-keyed by receipt key (topic `<app>-receipts-by-supplier-id`): the original
/// record's value embedded as JSON, with where it came from, so that the join can parse it and,
/// if it never matches, dead-letter it verbatim with its origin.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByIdWire<'a> {
    topic: std::borrow::Cow<'a, str>,
    partition: i32,
    offset: i64,
    timestamp_ms: i64,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    key: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    value: &'a serde_json::value::RawValue,
}

/// `None` if the original value is not JSON (the intake re-keys only receipts it could parse).
pub fn encode_by_id(original: &OriginalRecord, timestamp_ms: i64) -> Option<Vec<u8>> {
    let value: &serde_json::value::RawValue = serde_json::from_slice(&original.value).ok()?;
    let wire = ByIdWire {
        topic: original.topic.as_str().into(),
        partition: original.partition,
        offset: original.offset,
        timestamp_ms,
        key: original.key.as_deref().map(String::from_utf8_lossy),
        value,
    };
    serde_json::to_vec(&wire).ok()
}

/// The original record and its timestamp.
pub fn decode_by_id(bytes: &[u8]) -> Result<(OriginalRecord, i64), RecordError> {
    let wire: ByIdWire = serde_json::from_slice(bytes)
        .map_err(|e| RecordError::new(RecordErrorKind::InvalidField, format!("invalid re-keyed receipt: {e}")))?;
    let original = OriginalRecord {
        key: wire.key.map(|k| k.into_owned().into_bytes()),
        value: wire.value.get().as_bytes().to_vec(),
        topic: wire.topic.into_owned(),
        partition: wire.partition,
        offset: wire.offset,
    };
    Ok((original, wire.timestamp_ms))
}

/// The changelog value of a join entry (JSON, like the message state's, readable with any tool).
#[derive(Serialize, Deserialize)]
struct EntrySnapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<(IndexEntry, i64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    waiting: Vec<WaitingSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    final_at_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct WaitingSnapshot {
    stat: String,
    err: Option<String>,
    done_date: Option<String>,
    supplier: String,
    supplier_message_id: String,
    at_ms: i64,
    original: OriginalRecord,
}

pub fn encode(entry: &JoinEntry) -> Vec<u8> {
    let snapshot = EntrySnapshot {
        index: entry.index.clone(),
        final_at_ms: entry.final_at_ms,
        waiting: entry
            .waiting
            .iter()
            .map(|w| WaitingSnapshot {
                stat: w.receipt.stat.to_string(),
                err: w.receipt.err.as_deref().map(str::to_owned),
                done_date: w.receipt.done_date.as_deref().map(str::to_owned),
                supplier: w.supplier.clone(),
                supplier_message_id: w.supplier_message_id.clone(),
                at_ms: w.at_ms,
                original: w.original.clone(),
            })
            .collect(),
    };
    serde_json::to_vec(&snapshot).expect("a join entry serialises")
}

pub fn decode(bytes: &[u8]) -> Result<JoinEntry, serde_json::Error> {
    let snapshot: EntrySnapshot = serde_json::from_slice(bytes)?;
    let waiting = snapshot
        .waiting
        .into_iter()
        .map(|w| WaitingReceipt {
            receipt: PartReceipt {
                stat: w.stat.into(),
                err: w.err.map(Into::into),
                done_date: w.done_date.map(Into::into),
            },
            supplier: w.supplier,
            supplier_message_id: w.supplier_message_id,
            at_ms: w.at_ms,
            original: w.original,
        })
        .collect();
    Ok(JoinEntry { index: snapshot.index, waiting, final_at_ms: snapshot.final_at_ms })
}

#[cfg(test)]
#[path = "receipt_join_tests.rs"]
mod tests;
