//! Encoding of one message's [`Entry`] as a changelog record value.
//!
//! The changelog is the durable copy of a partition's state: restoring a partition replays it.
//! Values are JSON so an operator can read them with any Kafka tool; the `v` field lets later
//! versions change the layout without misreading old records.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::delivery::PartReceipt;
use super::state::{Closed, Entry, OpenMessage, PartOutcome, PartSlot, Status};

const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot<'a> {
    v: u32,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    open: Option<OpenSnapshot<'a>>,
    /// `SENT`, `FAILED`, `EXPIRED` or `CANCELLED`, with the time it closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct OpenSnapshot<'a> {
    /// The WholeMessage JSON, embedded as JSON (not as an escaped string).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    message: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_ts: Option<i64>,
    first_seen_ts: i64,
    /// Per part: `[state, command_status, supplier message id, supplier, offset]`, state being
    /// 0 no response, 1 retrying, 2 accepted, 3 rejected.
    #[serde(default)]
    parts: Vec<PartSnapshot>,
    /// When SENT was published, for a message waiting for its delivery receipts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sent_at: Option<i64>,
    /// Per part, its receipt `[stat, err, done date]` or null; empty when no part has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    receipts: Vec<Option<ReceiptSnapshot>>,
}

/// `[stat, err, done date]`.
type ReceiptSnapshot = (String, Option<String>, Option<String>);

/// `[state, command_status, supplier message id, supplier, offset]`.
type PartSnapshot = (u8, u32, Option<String>, Option<String>, i64);

const CANCELLED: &str = "CANCELLED";

/// Why a changelog value could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable changelog value: {0}")]
pub struct SnapshotError(String);

pub fn encode(entry: &Entry) -> Vec<u8> {
    let snapshot = match entry {
        Entry::Open(open) => Snapshot {
            v: VERSION,
            open: Some(OpenSnapshot {
                message: open.message.as_deref().and_then(|m| serde_json::from_slice(m).ok()),
                message_ts: open.message_ts,
                first_seen_ts: open.first_seen_ts,
                parts: open.parts.iter().map(encode_part).collect(),
                sent_at: open.sent_at_ms,
                receipts: encode_receipts(&open.parts),
            }),
            closed: None,
            at: None,
        },
        Entry::Closed { outcome, at_ms } => {
            let name = match outcome {
                Closed::Published(status) => status.as_str(),
                Closed::Cancelled => CANCELLED,
            };
            Snapshot { v: VERSION, open: None, closed: Some(name.to_owned()), at: Some(*at_ms) }
        }
    };
    serde_json::to_vec(&snapshot).expect("snapshot serialises")
}

fn encode_part(slot: &PartSlot) -> PartSnapshot {
    let supplier = slot.supplier.as_deref().map(str::to_owned);
    match &slot.outcome {
        PartOutcome::NoResponse => (0, 0, None, supplier, slot.offset),
        PartOutcome::Retrying(status) => (1, *status, None, supplier, slot.offset),
        PartOutcome::Accepted(id) => (2, 0, Some(id.to_string()), supplier, slot.offset),
        PartOutcome::Rejected(status) => (3, *status, None, supplier, slot.offset),
    }
}

fn encode_receipts(parts: &[PartSlot]) -> Vec<Option<ReceiptSnapshot>> {
    if parts.iter().all(|slot| slot.receipt.is_none()) {
        return Vec::new();
    }
    let encode = |r: &PartReceipt| {
        (r.stat.to_string(), r.err.as_deref().map(str::to_owned), r.done_date.as_deref().map(str::to_owned))
    };
    parts.iter().map(|slot| slot.receipt.as_deref().map(encode)).collect()
}

fn decode_part(
    (state, status, id, supplier, offset): (u8, u32, Option<String>, Option<String>, i64),
) -> Result<PartSlot, SnapshotError> {
    let outcome = match (state, id) {
        (0, _) => PartOutcome::NoResponse,
        (1, _) => PartOutcome::Retrying(status),
        (2, Some(id)) => PartOutcome::Accepted(id.into()),
        (3, _) => PartOutcome::Rejected(status),
        (state, _) => return Err(SnapshotError(format!("invalid part state {state}"))),
    };
    Ok(PartSlot { outcome, supplier: supplier.map(Into::into), offset, receipt: None })
}

pub fn decode(bytes: &[u8]) -> Result<Entry, SnapshotError> {
    let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(|e| SnapshotError(e.to_string()))?;
    if snapshot.v != VERSION {
        return Err(SnapshotError(format!("version {} is not {VERSION}", snapshot.v)));
    }
    if let Some(open) = snapshot.open {
        let mut parts = open.parts.into_iter().map(decode_part).collect::<Result<Vec<_>, _>>()?.into_boxed_slice();
        if !open.receipts.is_empty() && open.receipts.len() != parts.len() {
            return Err(SnapshotError(format!("{} receipts for {} parts", open.receipts.len(), parts.len())));
        }
        for (slot, receipt) in parts.iter_mut().zip(open.receipts) {
            slot.receipt = receipt.map(|(stat, err, done_date)| {
                Box::new(PartReceipt {
                    stat: stat.into(),
                    err: err.map(Into::into),
                    done_date: done_date.map(Into::into),
                })
            });
        }
        let message = open.message.map(|m| m.get().as_bytes().to_vec().into_boxed_slice());
        return Ok(Entry::Open(Box::new(OpenMessage {
            message,
            message_ts: open.message_ts,
            first_seen_ts: open.first_seen_ts,
            parts,
            sent_at_ms: open.sent_at,
        })));
    }
    match (snapshot.closed.as_deref(), snapshot.at) {
        (Some(CANCELLED), Some(at_ms)) => Ok(Entry::Closed { outcome: Closed::Cancelled, at_ms }),
        (Some(name), Some(at_ms)) => {
            let status = Status::parse(name).ok_or_else(|| SnapshotError(format!("unknown status {name:?}")))?;
            Ok(Entry::Closed { outcome: Closed::Published(status), at_ms })
        }
        _ => Err(SnapshotError("no state kind present".into())),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entries() -> impl Strategy<Value = Entry> {
        let outcome = prop_oneof![
            Just(PartOutcome::NoResponse),
            any::<u32>().prop_map(PartOutcome::Retrying),
            "[A-Za-z0-9\"\\\\]{1,12}".prop_map(|s| PartOutcome::Accepted(s.into())),
            any::<u32>().prop_map(PartOutcome::Rejected),
        ];
        let receipt = prop::option::of(
            ("[A-Z]{7}", prop::option::of("[0-9a-z\"]{0,3}"), prop::option::of("[0-9]{10}")).prop_map(
                |(stat, err, done_date)| {
                    Box::new(PartReceipt {
                        stat: stat.into(),
                        err: err.map(Into::into),
                        done_date: done_date.map(Into::into),
                    })
                },
            ),
        );
        let part = (outcome, prop::option::of("[a-z-]{1,10}"), any::<i64>(), receipt).prop_map(
            |(outcome, supplier, offset, receipt)| PartSlot {
                outcome,
                supplier: supplier.map(Into::into),
                offset,
                receipt,
            },
        );
        let open = (
            prop::option::of("[a-z\"\\\\é ]{0,20}"),
            prop::option::of(any::<i64>()),
            any::<i64>(),
            prop::collection::vec(part, 0..5),
            prop::option::of(any::<i64>()),
        )
            .prop_map(|(text, message_ts, first_seen_ts, parts, sent_at_ms)| {
                let message = text.map(|t| {
                    serde_json::to_vec(&serde_json::json!({"id":"x","status":"PENDING","text":t}))
                        .unwrap()
                        .into_boxed_slice()
                });
                Entry::Open(Box::new(OpenMessage {
                    message,
                    message_ts,
                    first_seen_ts,
                    parts: parts.into_boxed_slice(),
                    sent_at_ms,
                }))
            });
        let closed = (
            prop_oneof![
                Just(Closed::Published(Status::Sent)),
                Just(Closed::Published(Status::Failed)),
                Just(Closed::Published(Status::Expired)),
                Just(Closed::Published(Status::Delivered)),
                Just(Closed::Published(Status::Undelivered)),
                Just(Closed::Published(Status::DeliveryUnknown)),
                Just(Closed::Cancelled)
            ],
            any::<i64>(),
        )
            .prop_map(|(outcome, at_ms)| Entry::Closed { outcome, at_ms });
        prop_oneof![open, closed]
    }

    proptest! {
        #[test]
        fn every_entry_survives_the_changelog(entry in entries()) {
            prop_assert_eq!(decode(&encode(&entry)).unwrap(), entry);
        }
    }

    #[test]
    fn message_bytes_are_kept_verbatim() {
        let message = br#"{"id":"a", "status":"PENDING","z":[1, 2]}"#;
        let entry = Entry::Open(Box::new(OpenMessage {
            message: Some(message.to_vec().into_boxed_slice()),
            message_ts: Some(1),
            first_seen_ts: 1,
            parts: Box::default(),
            sent_at_ms: None,
        }));
        let Entry::Open(open) = decode(&encode(&entry)).unwrap() else { panic!("open") };
        assert_eq!(open.message.as_deref(), Some(&message[..]));
    }

    #[test]
    fn rejects_garbage_and_unknown_versions() {
        assert!(decode(b"nope").is_err());
        assert!(decode(br#"{"v":2,"closed":"SENT","at":1}"#).is_err());
        assert!(decode(br#"{"v":1}"#).is_err());
        assert!(decode(br#"{"v":1,"closed":"LOST","at":1}"#).is_err());
    }
}
