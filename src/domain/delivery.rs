//! Delivery receipts as the message state machine sees them: a part's receipt (already matched
//! to the part by the receipt join), which parts a message's outcome follows, and the rules that
//! turn the parts' receipts into one whole-message outcome.
//!
//! Per part the first *final* receipt wins; intermediate ones (ACCEPTD, ENROUTE) are kept only
//! to be named if the outcome stays unknown. A message is DELIVERED when every tracked part was
//! delivered, UNDELIVERED as soon as one tracked part finally was not.

use std::str::FromStr;

/// How long to wait for receipts after SENT, and which parts get one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// After SENT, a message without a final outcome this long is DELIVERY_UNKNOWN (SMS
    /// validity periods are commonly 24–72 h).
    pub timeout_ms: i64,
    pub parts: ReceiptParts,
}

/// Which parts of a long message the gateway requests receipts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiptParts {
    /// Every part; the message is delivered when all are.
    #[default]
    All,
    /// Only the first part (Kannel's way); the outcome follows its receipt.
    First,
    /// Only the last part (Jasmin's way); the outcome follows its receipt.
    Last,
}

impl FromStr for ReceiptParts {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(Self::All),
            "first" => Ok(Self::First),
            "last" => Ok(Self::Last),
            other => Err(format!("expected all, first or last, got {other:?}")),
        }
    }
}

impl ReceiptParts {
    /// Whether part `number` (1-based) of `total` decides the outcome.
    pub fn tracks(self, number: usize, total: usize) -> bool {
        match self {
            Self::All => (1..=total).contains(&number),
            Self::First => number == 1 && total >= 1,
            Self::Last => number == total,
        }
    }
}

/// What a receipt says about its part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    Delivered,
    NotDelivered,
    /// ACCEPTD, ENROUTE: the supplier still works on it.
    Intermediate,
}

impl ReceiptOutcome {
    /// From the SMPP `stat` text (DELIVRD, UNDELIV, ...). Anything not known to be delivered or
    /// still in progress counts as not delivered, as Kannel does.
    pub fn of_stat(stat: &str) -> Self {
        match stat {
            "DELIVRD" => Self::Delivered,
            "ACCEPTD" | "ENROUTE" => Self::Intermediate,
            _ => Self::NotDelivered,
        }
    }

    pub fn is_final(self) -> bool {
        self != Self::Intermediate
    }
}

/// A part's latest receipt, as kept in state and shown in the output's `parts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReceipt {
    /// The SMPP `stat` text, e.g. DELIVRD.
    pub stat: Box<str>,
    pub err: Option<Box<str>>,
    pub done_date: Option<Box<str>>,
}

impl PartReceipt {
    pub fn outcome(&self) -> ReceiptOutcome {
        ReceiptOutcome::of_stat(&self.stat)
    }

    /// "UNDELIV err 001", for descriptions.
    pub fn describe(&self) -> String {
        match &self.err {
            Some(err) if !err.is_empty() => format!("{} err {err}", self.stat),
            _ => self.stat.to_string(),
        }
    }
}

/// A receipt joined to its message and part: what the partition actor applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedReceipt {
    pub message_id: String,
    pub part_number: u8,
    pub receipt: PartReceipt,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_parts_follow_the_flag() {
        assert_eq!("Last".parse::<ReceiptParts>(), Ok(ReceiptParts::Last));
        assert!("second".parse::<ReceiptParts>().is_err());
        assert!(ReceiptParts::Last.tracks(3, 3) && !ReceiptParts::Last.tracks(1, 3));
        assert!(ReceiptParts::First.tracks(1, 3) && !ReceiptParts::First.tracks(2, 3));
        assert!(ReceiptParts::All.tracks(2, 3) && !ReceiptParts::All.tracks(4, 3));
    }
}
