//! What a lookup (`GET /v1/messages/{id}`) shows of one message: its state entry, read as a
//! person asks about it — which status, what is still awaited, and what happens next and when.
//!
//! Built on the partition actor's thread, so it only copies; parsing the WholeMessage and masking
//! its content happen on the HTTP side ([`super::masking`]).

use super::delivery::PartReceipt;
use super::state::{Closed, Entry, OpenMessage, PartOutcome, PartSlot, Policy, Status};

/// One message id's state, as of the last record its partition processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    pub status: ViewStatus,
    pub known: Known,
    /// The latest WholeMessage JSON, verbatim (content not masked yet); a marker keeps none.
    pub message: Option<Box<[u8]>>,
    /// One per part once the first response fixed `totalParts`; a marker keeps none.
    pub parts: Vec<PartState>,
    /// What the partition's sweep does next with this id, unless a record decides it first.
    pub deadline: Deadline,
    pub timestamps: Timestamps,
}

/// The status the id has now: what `message-status` shows for it, or PENDING before any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewStatus {
    /// No status published yet (the gateway's own status of a sent message).
    Pending,
    /// The latest status published: SENT while delivery receipts are awaited, else a final one.
    Published(Status),
    /// Tombstoned by the gateway before a status was published; none ever will be.
    Cancelled,
}

impl ViewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewStatus::Pending => "PENDING",
            ViewStatus::Published(status) => status.as_str(),
            ViewStatus::Cancelled => "CANCELLED",
        }
    }
}

/// How much the tracker holds of the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// The WholeMessage arrived; its parts and (with receipts) their receipts are followed.
    Message,
    /// Only submit responses so far: they become orphans if the message does not follow in time.
    AwaitingMessage,
    /// Terminal: only the final status and when it was decided remain until the purge.
    TerminalMarker,
}

impl Known {
    pub fn as_str(self) -> &'static str {
        match self {
            Known::Message => "known",
            Known::AwaitingMessage => "awaitingMessage",
            Known::TerminalMarker => "terminalMarker",
        }
    }
}

/// One SMPP part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartState {
    pub number: u8,
    pub progress: PartProgress,
    /// The deciding (or latest retryable) submit response's `command_status`; `None` before any.
    pub command_status: Option<u32>,
    pub supplier: Option<Box<str>>,
    pub supplier_message_id: Option<Box<str>>,
    /// The deciding (or latest intermediate) delivery receipt.
    pub receipt: Option<PartReceipt>,
}

/// Where a part's submit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartProgress {
    NoResponse,
    /// Only retryable errors so far: the gateway resends it.
    Retrying,
    Accepted,
    Rejected,
}

impl PartProgress {
    pub fn as_str(self) -> &'static str {
        match self {
            PartProgress::NoResponse => "noResponse",
            PartProgress::Retrying => "retrying",
            PartProgress::Accepted => "accepted",
            PartProgress::Rejected => "rejected",
        }
    }
}

/// When the sweep acts on the id next, in record time (the partition's clock, README "Clock").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at_ms: i64,
    pub then: DeadlineAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineAction {
    /// Published as EXPIRED unless every part is accepted (or one rejected) first.
    Expire,
    /// Its responses are dead-lettered as orphans unless the WholeMessage arrives first.
    Orphan,
    /// Published as DELIVERY_UNKNOWN unless the receipts decide the outcome first.
    DeliveryUnknown,
    /// Receipt tracking was turned off after SENT: the message ends without another status.
    StopTracking,
    /// The marker is removed; later records of the id are treated as new.
    Purge,
}

impl DeadlineAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineAction::Expire => "EXPIRED",
            DeadlineAction::Orphan => "ORPHANED",
            DeadlineAction::DeliveryUnknown => "DELIVERY_UNKNOWN",
            DeadlineAction::StopTracking => "TRACKING_ENDS",
            DeadlineAction::Purge => "PURGED",
        }
    }
}

/// Record timestamps (milliseconds since the epoch) the state keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timestamps {
    /// The first record of any kind for the id.
    pub first_record_ms: Option<i64>,
    /// The first `sent-messages` record: the submit deadline counts from it.
    pub message_record_ms: Option<i64>,
    /// When SENT was decided, while delivery receipts are awaited.
    pub sent_ms: Option<i64>,
    /// When the final status (or the cancellation) was decided.
    pub terminal_ms: Option<i64>,
}

/// The view of `entry` under `policy` (which fixes its deadline).
pub fn view(entry: &Entry, policy: &Policy) -> MessageView {
    let at_ms = entry.deadline(policy);
    match entry {
        Entry::Open(open) => open_view(open, policy, at_ms),
        Entry::Closed { outcome, at_ms: closed_at } => MessageView {
            status: match outcome {
                Closed::Published(status) => ViewStatus::Published(*status),
                Closed::Cancelled => ViewStatus::Cancelled,
            },
            known: Known::TerminalMarker,
            message: None,
            parts: Vec::new(),
            deadline: Deadline { at_ms, then: DeadlineAction::Purge },
            timestamps: Timestamps { terminal_ms: Some(*closed_at), ..Timestamps::default() },
        },
    }
}

fn open_view(open: &OpenMessage, policy: &Policy, at_ms: i64) -> MessageView {
    let then = match (open.sent_at_ms, &open.message, &policy.delivery) {
        (Some(_), _, Some(_)) => DeadlineAction::DeliveryUnknown,
        (Some(_), _, None) => DeadlineAction::StopTracking,
        (None, Some(_), _) => DeadlineAction::Expire,
        (None, None, _) => DeadlineAction::Orphan,
    };
    MessageView {
        status: if open.sent_at_ms.is_some() { ViewStatus::Published(Status::Sent) } else { ViewStatus::Pending },
        known: if open.message.is_some() { Known::Message } else { Known::AwaitingMessage },
        message: open.message.clone(),
        parts: open.parts.iter().enumerate().map(|(i, slot)| part_state(i, slot)).collect(),
        deadline: Deadline { at_ms, then },
        timestamps: Timestamps {
            first_record_ms: Some(open.first_seen_ts),
            message_record_ms: open.message_ts,
            sent_ms: open.sent_at_ms,
            terminal_ms: None,
        },
    }
}

fn part_state(index: usize, slot: &PartSlot) -> PartState {
    let (progress, supplier_message_id) = match &slot.outcome {
        PartOutcome::NoResponse => (PartProgress::NoResponse, None),
        PartOutcome::Retrying(_) => (PartProgress::Retrying, None),
        PartOutcome::Accepted(id) => (PartProgress::Accepted, Some(id.clone())),
        PartOutcome::Rejected(_) => (PartProgress::Rejected, None),
    };
    PartState {
        // Slots are at most 255 (`totalParts` is checked on the wire).
        number: u8::try_from(index + 1).unwrap_or(u8::MAX),
        progress,
        command_status: slot.outcome.command_status(),
        supplier: slot.supplier.clone(),
        supplier_message_id,
        receipt: slot.receipt.as_deref().cloned(),
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
