//! The per-message state machine and the per-partition table of messages.
//!
//! This is the whole join-and-aggregate of the source article, without Kafka: the tracker feeds
//! validated [`Input`]s of one partition in offset order to [`PartitionState::apply`] and publishes
//! whatever [`Outcome::Publish`] it gets back. Unlike a Kafka Streams KTable join, a message is
//! published at most once: after its status is published only a small marker remains, which
//! absorbs late duplicates and updates.

use std::collections::hash_map::{Entry as MapEntry, OccupiedEntry};
use std::collections::{HashMap, HashSet};

use super::wire::{Input, PartResponse, RecordError, RecordErrorKind};

/// A status the tracker publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Sent,
}

impl Status {
    pub const ALL: [Status; 1] = [Status::Sent];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "SENT",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Status::Sent => "Sent successfully",
        }
    }
}

/// What the tracker remembers of one message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Still waiting for its message or for successful responses of some parts.
    Open(OpenMessage),
    /// Its status was published; only this marker remains, to absorb late records.
    Published(Status),
    /// The gateway tombstoned it before completion; late records for it are ignored.
    Cancelled,
}

/// A message that has not reached a published status yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenMessage {
    /// The latest WholeMessage JSON from `sent-messages`, kept verbatim for the output.
    pub message: Option<Box<[u8]>>,
    /// One slot per part, sized by the first response seen (which fixes `totalParts`).
    pub parts: Box<[PartSlot]>,
}

/// What is known about one SMPP part of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartSlot {
    /// The supplier's id from the first successful response; `None` until one arrives.
    pub supplier_message_id: Option<Box<str>>,
    /// `command_status` of the latest unsuccessful response, 0 if none.
    pub last_error: u32,
}

impl OpenMessage {
    fn is_complete(&self) -> bool {
        self.message.is_some() && !self.parts.is_empty() && self.parts.iter().all(|p| p.supplier_message_id.is_some())
    }
}

/// A status change to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub id: String,
    pub status: Status,
    /// The latest WholeMessage JSON, to which the status fields are added.
    pub message: Box<[u8]>,
    /// `(part number, supplier message id)`, sorted by part number.
    pub parts: Vec<(u8, Box<str>)>,
}

/// Records that changed nothing, by why; each is counted so operators can see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// A part response for a part that already succeeded, or for a published message.
    DuplicateResponse,
    /// A `sent-messages` update or tombstone after the status was published.
    UpdateAfterPublish,
    /// A record for a message the gateway tombstoned.
    Cancelled,
}

impl Ignored {
    pub const ALL: [Ignored; 3] = [Ignored::DuplicateResponse, Ignored::UpdateAfterPublish, Ignored::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::DuplicateResponse => "duplicate_response",
            Ignored::UpdateAfterPublish => "update_after_publish",
            Ignored::Cancelled => "cancelled",
        }
    }
}

/// The result of applying one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The state changed and a status must be published.
    Publish(StatusChange),
    /// The state changed; nothing to publish yet.
    Recorded,
    /// The message was cancelled by a tombstone.
    Cancelled,
    /// Nothing changed.
    Ignored(Ignored),
    /// The record contradicts the state (e.g. another `totalParts`): dead-letter it.
    Rejected(RecordError),
}

/// All message state of one input partition.
#[derive(Debug, Default)]
pub struct PartitionState {
    entries: HashMap<String, Entry>,
    /// Markers by kind, kept on every change so metrics never scan the table.
    published: usize,
    cancelled: usize,
    /// Ids changed since the last [`PartitionState::take_changes`]: what the changelog must get.
    dirty: HashSet<String>,
}

/// Entries by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EntryCounts {
    pub open: usize,
    pub published: usize,
    pub cancelled: usize,
}

impl PartitionState {
    pub fn new() -> Self {
        Self::default()
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

    /// Entries by kind.
    pub fn counts(&self) -> EntryCounts {
        EntryCounts {
            open: self.entries.len() - self.published - self.cancelled,
            published: self.published,
            cancelled: self.cancelled,
        }
    }

    /// Applies one validated input of this partition, in offset order, keeping the counts.
    pub fn apply(&mut self, input: Input) -> Outcome {
        let id = input.id().to_owned();
        let outcome = self.apply_input(input);
        match &outcome {
            Outcome::Publish(_) => self.published += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::Recorded => {}
            Outcome::Ignored(_) | Outcome::Rejected(_) => return outcome,
        }
        self.dirty.insert(id);
        outcome
    }

    /// The ids changed since the last call, each with its current entry (`None` once purged):
    /// a key changed ten times in one commit interval is written to the changelog once.
    pub fn take_changes(&mut self) -> Vec<(String, Option<&Entry>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|id| {
                let entry = self.entries.get(&id);
                (id, entry)
            })
            .collect()
    }

    /// Replays one changelog record while restoring (`None` is a tombstone). Restored entries are
    /// already durable, so they are not marked as changed.
    pub fn restore(&mut self, id: String, entry: Option<Entry>) {
        if let Some(old) = self.entries.remove(&id) {
            self.count(&old, false);
        }
        if let Some(entry) = entry {
            self.count(&entry, true);
            self.entries.insert(id, entry);
        }
    }

    fn count(&mut self, entry: &Entry, added: bool) {
        let counter = match entry {
            Entry::Open(_) => return,
            Entry::Published(_) => &mut self.published,
            Entry::Cancelled => &mut self.cancelled,
        };
        if added {
            *counter += 1;
        } else {
            *counter -= 1;
        }
    }

    fn apply_input(&mut self, input: Input) -> Outcome {
        match input {
            Input::Message { id, json } => self.apply_message(id, json.into_boxed_slice()),
            Input::Tombstone { id } => self.apply_tombstone(id),
            Input::Part(part) => self.apply_part(part),
        }
    }

    fn apply_message(&mut self, id: String, json: Box<[u8]>) -> Outcome {
        match self.entries.entry(id) {
            MapEntry::Vacant(vacant) => {
                // Without any part response the message cannot be complete yet.
                vacant.insert(Entry::Open(OpenMessage { message: Some(json), parts: Box::default() }));
                Outcome::Recorded
            }
            MapEntry::Occupied(mut occupied) => match occupied.get_mut() {
                Entry::Open(open) => {
                    open.message = Some(json);
                    publish_if_complete(occupied)
                }
                Entry::Published(_) => Outcome::Ignored(Ignored::UpdateAfterPublish),
                Entry::Cancelled => Outcome::Ignored(Ignored::Cancelled),
            },
        }
    }

    fn apply_tombstone(&mut self, id: String) -> Outcome {
        match self.entries.entry(id) {
            MapEntry::Vacant(vacant) => {
                vacant.insert(Entry::Cancelled);
                Outcome::Cancelled
            }
            MapEntry::Occupied(mut occupied) => match occupied.get() {
                Entry::Open(_) => {
                    occupied.insert(Entry::Cancelled);
                    Outcome::Cancelled
                }
                Entry::Published(_) => Outcome::Ignored(Ignored::UpdateAfterPublish),
                Entry::Cancelled => Outcome::Ignored(Ignored::Cancelled),
            },
        }
    }

    fn apply_part(&mut self, part: PartResponse) -> Outcome {
        let mut occupied = match self.entries.entry(part.message_id) {
            MapEntry::Occupied(occupied) => occupied,
            MapEntry::Vacant(vacant) => vacant.insert_entry(Entry::Open(OpenMessage::default())),
        };
        let open = match occupied.get_mut() {
            Entry::Open(open) => open,
            Entry::Published(_) => return Outcome::Ignored(Ignored::DuplicateResponse),
            Entry::Cancelled => return Outcome::Ignored(Ignored::Cancelled),
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
        if slot.supplier_message_id.is_some() {
            // First success wins; later answers for the part, good or bad, change nothing.
            return Outcome::Ignored(Ignored::DuplicateResponse);
        }
        match part.supplier_message_id {
            Some(supplier_id) if part.command_status == 0 => slot.supplier_message_id = Some(supplier_id.into()),
            _ => slot.last_error = part.command_status,
        }
        publish_if_complete(occupied)
    }
}

/// Publishes an open message whose message and every part's success have arrived, leaving a marker.
fn publish_if_complete(mut occupied: OccupiedEntry<'_, String, Entry>) -> Outcome {
    let Entry::Open(open) = occupied.get_mut() else {
        return Outcome::Recorded;
    };
    if !open.is_complete() {
        return Outcome::Recorded;
    }
    let status = Status::Sent;
    let Entry::Open(OpenMessage { message: Some(message), parts }) = occupied.insert(Entry::Published(status)) else {
        unreachable!("checked open and complete above");
    };
    let parts = parts
        .into_vec()
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| p.supplier_message_id.map(|s| ((i + 1) as u8, s)))
        .collect();
    Outcome::Publish(StatusChange { id: occupied.key().clone(), status, message, parts })
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
