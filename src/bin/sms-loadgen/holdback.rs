//! `--receipt-delay-ms`: receipts written after their submit response are held back in wall-clock
//! time, so that a live tracker sees them arrive seconds later rather than in the same burst —
//! e.g. to watch messages awaiting receipts, or receipt latency, on the dashboard.
//!
//! Every held record waits the same delay and leaves in arrival order, so a part's receipts keep
//! their causal order (intermediate, final, duplicate) and stay after the part's response. Receipts
//! placed before their response are never held: holding them would undo the race they simulate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::records::{PlannedRecord, RecordKind};

pub struct Holdback {
    delay: Duration,
    queue: VecDeque<(Instant, PlannedRecord)>,
}

impl Holdback {
    pub fn new(delay: Duration) -> Self {
        Self { delay, queue: VecDeque::new() }
    }

    /// Keeps `record` if it is to be held back; otherwise returns it, to be written now.
    pub fn hold(&mut self, record: PlannedRecord, now: Instant) -> Option<PlannedRecord> {
        let held = !self.delay.is_zero() && matches!(record.kind, RecordKind::Receipt(k) if !k.before_response);
        if !held {
            return Some(record);
        }
        self.queue.push_back((now + self.delay, record));
        None
    }

    /// The oldest held record if its time has come at `now`.
    pub fn due(&mut self, now: Instant) -> Option<PlannedRecord> {
        self.queue.front().filter(|(due, _)| *due <= now)?;
        self.queue.pop_front().map(|(_, record)| record)
    }

    /// When the oldest held record is due, if any is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(due, _)| *due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ReceiptKind, ReceiptRole, Topic};

    fn receipt(before_response: bool) -> PlannedRecord {
        let kind = ReceiptKind { role: ReceiptRole::Final, supplier: "supplier-a", text: false, before_response };
        PlannedRecord {
            topic: Topic::DeliveryReports,
            key: Some("1".into()),
            value: vec![],
            kind: RecordKind::Receipt(kind),
        }
    }

    #[test]
    fn holds_only_after_response_receipts_for_the_delay_in_order() {
        let start = Instant::now();
        let mut holdback = Holdback::new(Duration::from_millis(100));
        let message = PlannedRecord { kind: RecordKind::Message, topic: Topic::Sent, ..receipt(false) };
        assert!(holdback.hold(message, start).is_some());
        assert!(holdback.hold(receipt(true), start).is_some());
        assert!(holdback.hold(receipt(false), start).is_none());
        let mut second = receipt(false);
        second.key = Some("2".into());
        assert!(holdback.hold(second, start + Duration::from_millis(10)).is_none());
        assert!(holdback.due(start + Duration::from_millis(99)).is_none());
        assert_eq!(holdback.next_due(), Some(start + Duration::from_millis(100)));
        let later = start + Duration::from_millis(200);
        let keys: Vec<_> = std::iter::from_fn(|| holdback.due(later)).filter_map(|r| r.key).collect();
        assert_eq!(keys, ["1", "2"]);
        assert!(holdback.next_due().is_none());
    }

    #[test]
    fn zero_delay_holds_nothing() {
        assert!(Holdback::new(Duration::ZERO).hold(receipt(false), Instant::now()).is_some());
    }
}
