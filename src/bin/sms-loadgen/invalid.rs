//! Invalid records: each breaks exactly one rule of the wire contract, in one of a few ways.
//!
//! Keys are fresh ids supplied by the caller and never the id of a valid message, so an invalid
//! record cannot change the outcome of any valid message however a consumer treats it. The value
//! starts from a well-formed record for that fresh id and is then broken, so that only the named
//! rule is violated and consumers' rejection reasons can be checked per kind.

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::records::{InvalidKind, PlannedRecord, RecordKind, Topic};

/// Fresh ids and a timestamp for one invalid record.
pub struct Fresh<'a> {
    /// Used as key (and, except for id-mismatch, as the id in the value).
    pub key: &'a str,
    /// A second fresh id, for the value of an id-mismatch record.
    pub other: &'a str,
    pub timestamp: &'a str,
}

/// Builds an invalid record of `kind`, on a topic the kind applies to.
pub fn record(rng: &mut impl Rng, kind: InvalidKind, fresh: &Fresh<'_>) -> PlannedRecord {
    let topics = kind.topics();
    let topic = topics[rng.random_range(0..topics.len())];
    let mut key = Some(fresh.key.to_owned());
    let mut fields = match topic {
        Topic::Sent => message(fresh),
        Topic::Responses => part(fresh),
        Topic::DeliveryReports => receipt(rng, fresh),
    };
    let id_field = if topic == Topic::Sent { "id" } else { "messageId" };
    let value = match kind {
        InvalidKind::NotJson => not_json(rng, fresh.key),
        InvalidKind::MissingField => {
            let candidates: &[&str] = match topic {
                Topic::Sent => &["id", "status"],
                // commandStatus is 0, so dropping supplierMessageId breaks the success rule.
                Topic::Responses => &["messageId", "partNumber", "totalParts", "commandStatus", "supplierMessageId"],
                Topic::DeliveryReports => &["supplier"],
            };
            fields.remove(candidates[rng.random_range(0..candidates.len())]);
            to_vec(fields)
        }
        InvalidKind::WrongType => {
            let (name, value): (&str, Value) = match (topic, rng.random_range(0..5)) {
                (Topic::Sent, 0..=2) => ("status", json!(1)),
                (Topic::Sent, _) => ("id", json!(12345)),
                (_, 0) => ("partNumber", json!("1")),
                (_, 1) => ("totalParts", json!("2")),
                (_, 2) => ("commandStatus", json!("0")),
                (_, 3) => ("supplierMessageId", json!(12345)),
                (_, _) => ("partNumber", json!(1.5)),
            };
            fields.insert(name.into(), value);
            to_vec(fields)
        }
        InvalidKind::IdMismatch => {
            fields.insert(id_field.into(), json!(fresh.other));
            to_vec(fields)
        }
        InvalidKind::NullKey => {
            key = None;
            to_vec(fields)
        }
        InvalidKind::PartOutOfRange => {
            let total = rng.random_range(1..=4u64);
            let number = if rng.random_bool(0.5) { 0 } else { total + rng.random_range(1..=3) };
            fields.insert("partNumber".into(), json!(number));
            fields.insert("totalParts".into(), json!(total));
            to_vec(fields)
        }
        InvalidKind::TotalPartsOutOfRange => {
            fields.insert("totalParts".into(), json!(if rng.random_bool(0.5) { 0 } else { 300 }));
            to_vec(fields)
        }
        InvalidKind::ReceiptNotJson => receipt_not_json(rng, fresh.key),
        InvalidKind::ReceiptMissingSupplier => {
            fields.remove("supplier");
            to_vec(fields)
        }
        InvalidKind::ReceiptUnknownStat => {
            if fields.contains_key("shortMessage") {
                fields.insert("shortMessage".into(), json!(format!("id:{} stat:BOUNCED err:000", fresh.key)));
            } else {
                let stat = [json!("BOUNCED"), json!("LOST"), json!(0), json!(42)][rng.random_range(0..4)].clone();
                fields.insert("stat".into(), stat);
            }
            to_vec(fields)
        }
    };
    PlannedRecord { topic, key, value, kind: RecordKind::Invalid(kind) }
}

/// A well-formed WholeMessage for the fresh id.
fn message(fresh: &Fresh<'_>) -> Map<String, Value> {
    let value = json!({
        "id": fresh.key, "status": "PENDING", "sender": "ACME", "recipient": "+385910000000",
        "text": "Your code is 0000", "supplier": "supplier-a", "createdAt": fresh.timestamp,
    });
    into_map(value)
}

/// A well-formed successful MessagePart (1 of 1) for the fresh id.
fn part(fresh: &Fresh<'_>) -> Map<String, Value> {
    let value = json!({
        "messageId": fresh.key, "partNumber": 1, "totalParts": 1, "supplierMessageId": "0BADBEEF",
        "commandStatus": 0, "supplier": "supplier-a", "receivedAt": fresh.timestamp,
    });
    into_map(value)
}

/// A well-formed delivery receipt for the fresh id as supplier id, structured or as raw text.
fn receipt(rng: &mut impl Rng, fresh: &Fresh<'_>) -> Map<String, Value> {
    let value = if rng.random_bool(0.5) {
        json!({
            "supplier": "supplier-a", "supplierMessageId": fresh.key, "stat": "DELIVRD", "err": "000",
            "receivedAt": fresh.timestamp,
        })
    } else {
        json!({ "supplier": "supplier-a", "shortMessage": format!("id:{} stat:DELIVRD err:000", fresh.key) })
    };
    into_map(value)
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn to_vec(fields: Map<String, Value>) -> Vec<u8> {
    // Serialising a map of JSON values cannot fail.
    serde_json::to_vec(&fields).unwrap_or_default()
}

/// Bytes no JSON parser accepts. Never empty: an empty value could be read as a tombstone.
fn not_json(rng: &mut impl Rng, key: &str) -> Vec<u8> {
    match rng.random_range(0..4) {
        0 => b"not json".to_vec(),
        1 => format!(r#"{{"id":"{key}","status":"PEND"#).into_bytes(),
        2 => b"<html><body>504 Gateway Timeout</body></html>".to_vec(),
        _ => vec![0xff, 0xfe, 0x00, 0x01, 0x7b],
    }
}

/// A receipt no JSON parser accepts: the raw receipt text published as is, a cut-off record, or
/// the binary PDU.
fn receipt_not_json(rng: &mut impl Rng, key: &str) -> Vec<u8> {
    match rng.random_range(0..3) {
        0 => format!("id:{key} sub:001 dlvrd:001 stat:DELIVRD err:000").into_bytes(),
        1 => format!(r#"{{"supplier":"supplier-a","supplierMessageId":"{key}","stat":"DELI"#).into_bytes(),
        _ => vec![0x00, 0x00, 0x00, 0x2d, 0x80, 0x00, 0x00, 0x05],
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::records::contract;

    const FRESH: Fresh<'static> = Fresh { key: "bad-1", other: "bad-2", timestamp: "2026-11-25T10:00:00.000Z" };

    #[test]
    fn the_unbroken_templates_are_valid() {
        assert_eq!(contract::check(Topic::Sent, Some(FRESH.key), &to_vec(message(&FRESH))), Ok(()));
        assert_eq!(contract::check(Topic::Responses, Some(FRESH.key), &to_vec(part(&FRESH))), Ok(()));
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            assert_eq!(
                contract::check(Topic::DeliveryReports, Some(FRESH.key), &to_vec(receipt(&mut rng, &FRESH))),
                Ok(())
            );
        }
    }

    #[test]
    fn every_variant_of_every_kind_is_invalid_and_keyed_by_the_fresh_id() {
        let mut rng = StdRng::seed_from_u64(7);
        for kind in InvalidKind::ALL.into_iter().chain(InvalidKind::RECEIPTS) {
            let mut topics = std::collections::HashSet::new();
            for _ in 0..200 {
                let r = record(&mut rng, kind, &FRESH);
                assert_eq!(r.kind, RecordKind::Invalid(kind));
                assert!(kind.topics().contains(&r.topic));
                topics.insert(r.topic);
                let expected_key = if kind == InvalidKind::NullKey { None } else { Some(FRESH.key) };
                assert_eq!(r.key.as_deref(), expected_key);
                assert!(!r.value.is_empty());
                let verdict = contract::check(r.topic, r.key.as_deref(), &r.value);
                assert!(verdict.is_err(), "{kind:?} accepted: {}", String::from_utf8_lossy(&r.value));
            }
            assert_eq!(topics.len(), kind.topics().len(), "{kind:?} should reach every topic it applies to");
        }
    }

    #[test]
    fn id_mismatch_uses_the_other_fresh_id() {
        let r = record(&mut StdRng::seed_from_u64(3), InvalidKind::IdMismatch, &FRESH);
        let value: Value = serde_json::from_slice(&r.value).unwrap();
        let field = if r.topic == Topic::Sent { "id" } else { "messageId" };
        assert_eq!(value[field], json!(FRESH.other));
    }
}
