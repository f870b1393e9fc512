//! Parsing and validation of the two input record kinds.
//!
//! Every rule of the wire contract lives here, so that a record is either turned into a typed
//! [`Input`] or rejected with a [`RecordError`] whose reason a human can act on. Nothing here knows
//! about Kafka: a record is its key and value bytes.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

use super::delivery::MatchedReceipt;

/// A message id, shared between the table, the deadline queue and the set of changed ids.
pub type MessageId = std::sync::Arc<str>;

/// The SMPP concatenation limit: a message has at most 255 parts.
pub const MAX_TOTAL_PARTS: u64 = 255;

/// A validated input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The latest value of a whole message on `sent-messages`; its JSON is kept verbatim.
    Message { id: String, json: Vec<u8> },
    /// A tombstone on `sent-messages`: the gateway cancelled (or deleted) the message.
    Tombstone { id: String },
    /// One part's SMPP submit response from `submit-responses`.
    Part(PartResponse),
    /// A part's delivery receipt, already joined to its message by the receipt join.
    Receipt(MatchedReceipt),
}

impl Input {
    /// The message id the record is about.
    pub fn id(&self) -> &str {
        match self {
            Input::Message { id, .. } | Input::Tombstone { id } => id,
            Input::Part(part) => &part.message_id,
            Input::Receipt(receipt) => &receipt.message_id,
        }
    }
}

/// A part's submit response, reduced to what the status depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartResponse {
    pub message_id: String,
    pub part_number: u8,
    pub total_parts: u8,
    /// SMPP `command_status` of the `submit_sm_resp`; 0 is ESME_ROK.
    pub command_status: u32,
    /// The supplier's id of the SMPP message; present whenever `command_status` is 0.
    pub supplier_message_id: Option<String>,
    /// The supplier that answered, if the gateway said (used in failure descriptions).
    pub supplier: Option<String>,
}

/// Why a record was rejected. `kind` is a bounded label for metrics; `reason` is for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub kind: RecordErrorKind,
    pub reason: String,
}

/// The bounded set of rejection causes, used as the `reason` label of the dead-letter metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordErrorKind {
    NullKey,
    KeyNotUtf8,
    NotJson,
    InvalidField,
    IdMismatch,
    PartOutOfRange,
    TotalPartsMismatch,
    /// A response whose message never arrived within the submit timeout.
    Orphan,
    /// A delivery report naming no supplier message id (no field, no `id:` in the text, no key).
    NoReceiptId,
    /// A delivery report naming no state (no `stat`, no `stat:` in the text).
    NoReceiptStat,
    /// A delivery report whose state is neither an SMPP `stat` text nor a `message_state` 1–9.
    UnknownStat,
    /// A delivery report whose submit response never arrived within the submit timeout: most often
    /// a wrong `--delivery-id-format` for its supplier, so it gets a label of its own.
    UnmatchedDeliveryReport,
}

impl RecordErrorKind {
    pub const ALL: [RecordErrorKind; 12] = [
        Self::NullKey,
        Self::KeyNotUtf8,
        Self::NotJson,
        Self::InvalidField,
        Self::IdMismatch,
        Self::PartOutOfRange,
        Self::TotalPartsMismatch,
        Self::Orphan,
        Self::NoReceiptId,
        Self::NoReceiptStat,
        Self::UnknownStat,
        Self::UnmatchedDeliveryReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NullKey => "null_key",
            Self::KeyNotUtf8 => "key_not_utf8",
            Self::NotJson => "not_json",
            Self::InvalidField => "invalid_field",
            Self::IdMismatch => "id_mismatch",
            Self::PartOutOfRange => "part_out_of_range",
            Self::TotalPartsMismatch => "total_parts_mismatch",
            Self::Orphan => "orphan",
            Self::NoReceiptId => "no_receipt_id",
            Self::NoReceiptStat => "no_receipt_stat",
            Self::UnknownStat => "unknown_stat",
            Self::UnmatchedDeliveryReport => "unmatched_delivery_report",
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl RecordError {
    pub fn new(kind: RecordErrorKind, reason: impl Into<String>) -> Self {
        Self { kind, reason: reason.into() }
    }
}

#[derive(Deserialize)]
struct WholeMessageHead<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, rename = "status")]
    _status: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessagePartWire<'a> {
    #[serde(borrow)]
    message_id: Cow<'a, str>,
    part_number: u64,
    total_parts: u64,
    command_status: u32,
    #[serde(borrow, default)]
    supplier_message_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    supplier: Option<Cow<'a, str>>,
}

/// Validates a record of `sent-messages`.
pub fn parse_sent_message(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Input, RecordError> {
    let id = parse_key(key)?;
    let Some(value) = value else {
        return Ok(Input::Tombstone { id: id.to_owned() });
    };
    require_object(value)?;
    let head: WholeMessageHead = serde_json::from_slice(value).map_err(json_error)?;
    if head.id.is_empty() {
        return Err(RecordError::new(RecordErrorKind::InvalidField, "field `id` is empty"));
    }
    if head.id != id {
        return Err(RecordError::new(
            RecordErrorKind::IdMismatch,
            format!("field `id` ({:?}) differs from the record key ({id:?})", head.id),
        ));
    }
    Ok(Input::Message { id: id.to_owned(), json: value.to_vec() })
}

/// Validates a record of `submit-responses`.
pub fn parse_submit_response(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Input, RecordError> {
    let id = parse_key(key)?;
    let Some(value) = value else {
        return Err(RecordError::new(RecordErrorKind::NotJson, "value is null"));
    };
    require_object(value)?;
    let wire: MessagePartWire = serde_json::from_slice(value).map_err(json_error)?;
    if wire.message_id != id {
        return Err(RecordError::new(
            RecordErrorKind::IdMismatch,
            format!("field `messageId` ({:?}) differs from the record key ({id:?})", wire.message_id),
        ));
    }
    if !(1..=MAX_TOTAL_PARTS).contains(&wire.total_parts) {
        return Err(RecordError::new(
            RecordErrorKind::PartOutOfRange,
            format!("totalParts {} is outside 1..={MAX_TOTAL_PARTS}", wire.total_parts),
        ));
    }
    if !(1..=wire.total_parts).contains(&wire.part_number) {
        return Err(RecordError::new(
            RecordErrorKind::PartOutOfRange,
            format!("partNumber {} is outside 1..={}", wire.part_number, wire.total_parts),
        ));
    }
    let supplier_message_id = match wire.supplier_message_id {
        Some(s) if !s.is_empty() => Some(s.into_owned()),
        Some(_) => {
            return Err(RecordError::new(RecordErrorKind::InvalidField, "field `supplierMessageId` is empty"));
        }
        None if wire.command_status == 0 => {
            return Err(RecordError::new(
                RecordErrorKind::InvalidField,
                "missing field `supplierMessageId` (required when commandStatus is 0)",
            ));
        }
        None => None,
    };
    Ok(Input::Part(PartResponse {
        message_id: id.to_owned(),
        // Both fit: checked against MAX_TOTAL_PARTS (255) above.
        part_number: wire.part_number as u8,
        total_parts: wire.total_parts as u8,
        command_status: wire.command_status,
        supplier_message_id,
        supplier: wire.supplier.map(Cow::into_owned),
    }))
}

/// Whether a WholeMessage asks for delivery receipts: only `"registeredDelivery": false` (or
/// SMPP's `0`) says no; a missing or other value means yes, as most gateways request them.
pub fn registered_delivery(json: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "registeredDelivery", default)]
        registered_delivery: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Head>(json).ok().and_then(|head| head.registered_delivery) {
        Some(serde_json::Value::Bool(false)) => false,
        Some(serde_json::Value::Number(n)) => n.as_u64() != Some(0),
        _ => true,
    }
}

fn parse_key(key: Option<&[u8]>) -> Result<&str, RecordError> {
    let key = key.ok_or_else(|| RecordError::new(RecordErrorKind::NullKey, "record key is null"))?;
    let id = std::str::from_utf8(key)
        .map_err(|e| RecordError::new(RecordErrorKind::KeyNotUtf8, format!("record key is not UTF-8: {e}")))?;
    if id.is_empty() {
        return Err(RecordError::new(RecordErrorKind::NullKey, "record key is empty"));
    }
    Ok(id)
}

/// serde also accepts a JSON array for a struct; the contract says object, so check first.
pub(crate) fn require_object(value: &[u8]) -> Result<(), RecordError> {
    match value.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(RecordError::new(RecordErrorKind::NotJson, "value is not a JSON object")),
    }
}

pub(crate) fn json_error(e: serde_json::Error) -> RecordError {
    use serde_json::error::Category;
    let kind = match e.classify() {
        Category::Data => RecordErrorKind::InvalidField,
        Category::Syntax | Category::Eof | Category::Io => RecordErrorKind::NotJson,
    };
    RecordError::new(kind, format!("invalid JSON value: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(key: &str, value: &str) -> Result<Input, RecordError> {
        parse_sent_message(Some(key.as_bytes()), Some(value.as_bytes()))
    }

    fn part(key: &str, value: &str) -> Result<Input, RecordError> {
        parse_submit_response(Some(key.as_bytes()), Some(value.as_bytes()))
    }

    fn kind(r: Result<Input, RecordError>) -> RecordErrorKind {
        r.expect_err("record should be rejected").kind
    }

    #[test]
    fn rejection_labels_are_distinct_and_snake_case() {
        let labels: std::collections::HashSet<_> = RecordErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(labels.len(), RecordErrorKind::ALL.len());
        assert!(
            labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')),
            "{labels:?}"
        );
        assert_eq!(RecordErrorKind::UnmatchedDeliveryReport.as_str(), "unmatched_delivery_report");
    }

    #[test]
    fn accepts_the_contract_example_message_and_keeps_its_bytes() {
        let json = r#"{"id":"5d1f0c9e","status":"PENDING","sender":"ACME","extra":{"x":[1,2]}}"#;
        assert_eq!(
            sent("5d1f0c9e", json),
            Ok(Input::Message { id: "5d1f0c9e".into(), json: json.as_bytes().to_vec() })
        );
    }

    #[test]
    fn null_value_on_sent_messages_is_a_tombstone() {
        assert_eq!(parse_sent_message(Some(b"a"), None), Ok(Input::Tombstone { id: "a".into() }));
    }

    #[test]
    fn rejects_bad_messages() {
        assert_eq!(kind(parse_sent_message(None, Some(b"{}"))), RecordErrorKind::NullKey);
        assert_eq!(kind(parse_sent_message(Some(&[0xff, 0xfe]), Some(b"{}"))), RecordErrorKind::KeyNotUtf8);
        assert_eq!(kind(sent("a", "not json")), RecordErrorKind::NotJson);
        assert_eq!(kind(sent("a", r#"["a","PENDING"]"#)), RecordErrorKind::NotJson);
        assert_eq!(kind(sent("a", r#"{"id":"a","status":"PENDING""#)), RecordErrorKind::NotJson);
        assert_eq!(kind(sent("a", r#"{"id":"a"}"#)), RecordErrorKind::InvalidField);
        assert_eq!(kind(sent("a", r#"{"status":"PENDING"}"#)), RecordErrorKind::InvalidField);
        assert_eq!(kind(sent("a", r#"{"id":7,"status":"PENDING"}"#)), RecordErrorKind::InvalidField);
        assert_eq!(kind(sent("a", r#"{"id":"a","status":1}"#)), RecordErrorKind::InvalidField);
        assert_eq!(kind(sent("a", r#"{"id":"","status":"PENDING"}"#)), RecordErrorKind::InvalidField);
        assert_eq!(kind(sent("a", r#"{"id":"b","status":"PENDING"}"#)), RecordErrorKind::IdMismatch);
    }

    #[test]
    fn accepts_the_contract_example_part() {
        let json = r#"{"messageId":"5d1f0c9e","partNumber":2,"totalParts":3,"supplierMessageId":"0A1B2C3D","commandStatus":0,"supplier":"supplier-a","receivedAt":"2026-11-25T10:00:01.250Z"}"#;
        assert_eq!(
            part("5d1f0c9e", json),
            Ok(Input::Part(PartResponse {
                message_id: "5d1f0c9e".into(),
                part_number: 2,
                total_parts: 3,
                command_status: 0,
                supplier_message_id: Some("0A1B2C3D".into()),
                supplier: Some("supplier-a".into()),
            }))
        );
    }

    #[test]
    fn an_error_response_needs_no_supplier_id() {
        let r = part("m", r#"{"messageId":"m","partNumber":1,"totalParts":1,"commandStatus":88}"#).unwrap();
        assert!(matches!(r, Input::Part(PartResponse { command_status: 88, supplier_message_id: None, .. })));
    }

    #[test]
    fn rejects_bad_parts() {
        let ok = |p: &str| format!(r#"{{"messageId":"m",{p}}}"#);
        assert_eq!(kind(parse_submit_response(Some(b"m"), None)), RecordErrorKind::NotJson);
        assert_eq!(kind(parse_submit_response(None, Some(b"{}"))), RecordErrorKind::NullKey);
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":"1","totalParts":1,"commandStatus":0,"supplierMessageId":"x""#))),
            RecordErrorKind::InvalidField
        );
        assert_eq!(
            kind(part("m", &ok(r#""totalParts":1,"commandStatus":0,"supplierMessageId":"x""#))),
            RecordErrorKind::InvalidField
        );
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":1,"totalParts":1,"commandStatus":-1,"supplierMessageId":"x""#))),
            RecordErrorKind::InvalidField
        );
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":1.5,"totalParts":2,"commandStatus":0,"supplierMessageId":"x""#))),
            RecordErrorKind::InvalidField
        );
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":1,"totalParts":1,"commandStatus":0"#))),
            RecordErrorKind::InvalidField
        );
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":1,"totalParts":1,"commandStatus":0,"supplierMessageId":"""#))),
            RecordErrorKind::InvalidField
        );
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":0,"totalParts":1,"commandStatus":0,"supplierMessageId":"x""#))),
            RecordErrorKind::PartOutOfRange
        );
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":3,"totalParts":2,"commandStatus":0,"supplierMessageId":"x""#))),
            RecordErrorKind::PartOutOfRange
        );
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":1,"totalParts":256,"commandStatus":0,"supplierMessageId":"x""#))),
            RecordErrorKind::PartOutOfRange
        );
        assert_eq!(
            kind(part("m", &ok(r#""partNumber":1,"totalParts":0,"commandStatus":0,"supplierMessageId":"x""#))),
            RecordErrorKind::PartOutOfRange
        );
        assert_eq!(
            kind(part("other", &ok(r#""partNumber":1,"totalParts":1,"commandStatus":0,"supplierMessageId":"x""#))),
            RecordErrorKind::IdMismatch
        );
    }
}

#[cfg(test)]
#[path = "wire_fuzz.rs"]
mod fuzz;
