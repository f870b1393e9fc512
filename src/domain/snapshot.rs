//! Encoding of one message's [`Entry`] as a changelog record value.
//!
//! The changelog is the durable copy of a partition's state: restoring a partition replays it.
//! Values are JSON so an operator can read them with any Kafka tool; the `v` field lets later
//! versions change the layout without misreading old records.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::state::{Entry, OpenMessage, PartSlot, Status};

const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot<'a> {
    v: u32,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    open: Option<OpenSnapshot<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    cancelled: bool,
}

#[derive(Serialize, Deserialize)]
struct OpenSnapshot<'a> {
    /// The WholeMessage JSON, embedded as JSON (not as an escaped string).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    message: Option<&'a RawValue>,
    /// Per part: `[supplier message id or null, last error command_status]`.
    #[serde(default)]
    parts: Vec<(Option<String>, u32)>,
}

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
                parts: open
                    .parts
                    .iter()
                    .map(|p| (p.supplier_message_id.as_deref().map(str::to_owned), p.last_error))
                    .collect(),
            }),
            published: None,
            cancelled: false,
        },
        Entry::Published(status) => {
            Snapshot { v: VERSION, open: None, published: Some(status.as_str().to_owned()), cancelled: false }
        }
        Entry::Cancelled => Snapshot { v: VERSION, open: None, published: None, cancelled: true },
    };
    serde_json::to_vec(&snapshot).expect("snapshot serialises")
}

pub fn decode(bytes: &[u8]) -> Result<Entry, SnapshotError> {
    let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(|e| SnapshotError(e.to_string()))?;
    if snapshot.v != VERSION {
        return Err(SnapshotError(format!("version {} is not {VERSION}", snapshot.v)));
    }
    if let Some(open) = snapshot.open {
        let parts = open
            .parts
            .into_iter()
            .map(|(supplier, last_error)| PartSlot { supplier_message_id: supplier.map(Into::into), last_error })
            .collect();
        let message = open.message.map(|m| m.get().as_bytes().to_vec().into_boxed_slice());
        return Ok(Entry::Open(OpenMessage { message, parts }));
    }
    if let Some(status) = snapshot.published {
        let status = Status::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
            .ok_or_else(|| SnapshotError(format!("unknown status {status:?}")))?;
        return Ok(Entry::Published(status));
    }
    if snapshot.cancelled {
        return Ok(Entry::Cancelled);
    }
    Err(SnapshotError("no state kind present".into()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entries() -> impl Strategy<Value = Entry> {
        let part = (prop::option::of("[A-Za-z0-9\"\\\\]{1,12}"), any::<u32>())
            .prop_map(|(supplier, last_error)| PartSlot { supplier_message_id: supplier.map(Into::into), last_error });
        let open =
            (prop::option::of("[a-z\"\\\\é ]{0,20}"), prop::collection::vec(part, 0..5)).prop_map(|(text, parts)| {
                let message = text.map(|t| {
                    serde_json::to_vec(&serde_json::json!({"id":"x","status":"PENDING","text":t}))
                        .unwrap()
                        .into_boxed_slice()
                });
                Entry::Open(OpenMessage { message, parts: parts.into_boxed_slice() })
            });
        prop_oneof![open, Just(Entry::Published(Status::Sent)), Just(Entry::Cancelled)]
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
        let entry =
            Entry::Open(OpenMessage { message: Some(message.to_vec().into_boxed_slice()), parts: Box::default() });
        let Entry::Open(open) = decode(&encode(&entry)).unwrap() else { panic!("open") };
        assert_eq!(open.message.as_deref(), Some(&message[..]));
    }

    #[test]
    fn rejects_garbage_and_unknown_versions() {
        assert!(decode(b"nope").is_err());
        assert!(decode(br#"{"v":2,"cancelled":true}"#).is_err());
        assert!(decode(br#"{"v":1}"#).is_err());
    }
}
