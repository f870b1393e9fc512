//! The planned records the generator hands to the producer, and the labels they are counted by.
//!
//! A planned record knows which of the input topics it is for, but not the topic's name: names are
//! configuration, and keeping them out makes the generator pure and its tests independent of it.

/// Which of the input topics a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `sent-messages`: WholeMessage JSON keyed by message id.
    Sent,
    /// `submit-responses`: one MessagePart JSON per SMPP submit response, keyed by message id.
    Responses,
    /// `delivery-reports`: one SMPP delivery receipt per record, keyed by the supplier message id as
    /// written in it. Only written with `--delivery-reports-topic`.
    DeliveryReports,
}

/// The kinds of invalid record, each breaking one rule of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvalidKind {
    NotJson,
    MissingField,
    WrongType,
    IdMismatch,
    NullKey,
    PartOutOfRange,
    TotalPartsOutOfRange,
    /// A receipt that is not JSON (e.g. the raw receipt text published as is).
    ReceiptNotJson,
    /// A receipt without the required `supplier`.
    ReceiptMissingSupplier,
    /// A receipt whose `stat` is neither a known SMPP state name nor a `message_state` number.
    ReceiptUnknownStat,
}

impl InvalidKind {
    pub const ALL: [InvalidKind; 7] = [
        Self::NotJson,
        Self::MissingField,
        Self::WrongType,
        Self::IdMismatch,
        Self::NullKey,
        Self::PartOutOfRange,
        Self::TotalPartsOutOfRange,
    ];

    /// The kinds of invalid receipt, planned only when receipts are simulated; kept apart from
    /// [`Self::ALL`] so that runs without receipts plan exactly what they always did.
    pub const RECEIPTS: [InvalidKind; 3] =
        [Self::ReceiptNotJson, Self::ReceiptMissingSupplier, Self::ReceiptUnknownStat];

    /// Stable snake_case label, used as the key in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotJson => "not_json",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::IdMismatch => "id_mismatch",
            Self::NullKey => "null_key",
            Self::PartOutOfRange => "part_out_of_range",
            Self::TotalPartsOutOfRange => "total_parts_out_of_range",
            Self::ReceiptNotJson => "receipt_not_json",
            Self::ReceiptMissingSupplier => "receipt_missing_supplier",
            Self::ReceiptUnknownStat => "receipt_unknown_stat",
        }
    }

    /// The topics a record of this kind can go to: part numbering only exists on responses.
    pub fn topics(self) -> &'static [Topic] {
        match self {
            Self::PartOutOfRange | Self::TotalPartsOutOfRange => &[Topic::Responses],
            Self::ReceiptNotJson | Self::ReceiptMissingSupplier | Self::ReceiptUnknownStat => &[Topic::DeliveryReports],
            _ => &[Topic::Sent, Topic::Responses],
        }
    }
}

/// What a planned record stands for; the summary counts records by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The WholeMessage of a valid message.
    Message,
    /// The one successful (commandStatus 0) response of a part.
    Success,
    /// A throttled (ESME_RTHROTTLED) response that precedes a part's success.
    Retryable,
    /// An extra successful response for a part that already has its success.
    Duplicate,
    /// A valid delivery receipt.
    Receipt(ReceiptKind),
    Invalid(InvalidKind),
}

/// What a receipt stands for, so that the summary can count receipts without parsing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiptKind {
    pub role: ReceiptRole,
    pub supplier: &'static str,
    /// Raw `shortMessage` text rather than structured fields.
    pub text: bool,
    /// Placed before its part's successful submit response.
    pub before_response: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptRole {
    /// ENROUTE or ACCEPTD: recorded by the tracker, never an outcome.
    Intermediate,
    /// The part's one final state (DELIVRD, UNDELIV, REJECTD or EXPIRED).
    Final,
    /// A byte-for-byte copy of the part's final receipt.
    Duplicate,
}

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRecord {
    pub topic: Topic,
    /// The message id as UTF-8; `None` only for null-key invalid records.
    pub key: Option<String>,
    pub value: Vec<u8>,
    pub kind: RecordKind,
}

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds, the timestamp
/// format of the gateway (`2026-11-25T10:00:01.250Z`). Hand-rolled to need no date crate.
pub fn rfc3339_millis(epoch_ms: u64) -> String {
    let (secs, millis) = (epoch_ms / 1000, epoch_ms % 1000);
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// Formats milliseconds since the Unix epoch as an SMPP receipt date, `YYMMDDhhmm`, or with
/// `seconds` `YYMMDDhhmmss` as some suppliers write it.
pub fn smpp_date(epoch_ms: u64, seconds: bool) -> String {
    let secs = epoch_ms / 1000;
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
    let date = format!("{:02}{month:02}{day:02}{hour:02}{minute:02}", year % 100);
    if seconds { format!("{date}{second:02}") } else { date }
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The wire contract as the brief states it, re-implemented independently of the generator so
/// that tests can check every planned record against it.
#[cfg(test)]
pub mod contract {
    use serde_json::{Map, Value};

    use super::Topic;

    /// `Ok` if a consumer following the contract accepts the record.
    pub fn check(topic: Topic, key: Option<&str>, value: &[u8]) -> Result<(), String> {
        let key = key.filter(|k| !k.is_empty()).ok_or("null or empty key")?;
        let fields: Map<String, Value> =
            serde_json::from_slice(value).map_err(|e| format!("not a JSON object: {e}"))?;
        match topic {
            Topic::Sent => check_message(key, &fields),
            Topic::Responses => check_part(key, &fields),
            Topic::DeliveryReports => check_receipt(&fields),
        }
    }

    /// The SMPP `stat` names, and the `message_state` numbers 1..=9, the tracker accepts.
    const STATS: [&str; 8] = ["DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE"];

    /// Required `supplier`; then structured `supplierMessageId` + `stat`, or a `shortMessage` from
    /// which `id:` and `stat:` are read leniently (any order, any case).
    fn check_receipt(fields: &Map<String, Value>) -> Result<(), String> {
        fields.get("supplier").and_then(Value::as_str).ok_or("supplier missing or not a string")?;
        let known = |stat: &Value| match stat {
            Value::String(s) => STATS.contains(&s.to_uppercase().as_str()),
            Value::Number(n) => n.as_u64().is_some_and(|n| (1..=9).contains(&n)),
            _ => false,
        };
        if let Some(stat) = fields.get("stat") {
            fields.get("supplierMessageId").and_then(Value::as_str).filter(|id| !id.is_empty()).ok_or("no id")?;
            return if known(stat) { Ok(()) } else { Err(format!("unknown stat {stat}")) };
        }
        let text = fields.get("shortMessage").and_then(Value::as_str).ok_or("neither stat nor shortMessage")?;
        let field = |name: &str| {
            text.split_whitespace().find_map(|token| {
                token.get(..name.len()).filter(|n| n.eq_ignore_ascii_case(name)).map(|_| &token[name.len()..])
            })
        };
        field("id:").filter(|id| !id.is_empty()).ok_or("no id: in shortMessage")?;
        let stat = field("stat:").ok_or("no stat: in shortMessage")?;
        if known(&Value::String(stat.into())) { Ok(()) } else { Err(format!("unknown stat {stat}")) }
    }

    fn check_message(key: &str, fields: &Map<String, Value>) -> Result<(), String> {
        let id = fields.get("id").and_then(Value::as_str).ok_or("id missing or not a string")?;
        if id.is_empty() || id != key {
            return Err(format!("id {id:?} is empty or differs from key {key:?}"));
        }
        fields.get("status").and_then(Value::as_str).ok_or("status missing or not a string")?;
        Ok(())
    }

    fn check_part(key: &str, fields: &Map<String, Value>) -> Result<(), String> {
        let id = fields.get("messageId").and_then(Value::as_str).ok_or("messageId missing or not a string")?;
        if id != key {
            return Err(format!("messageId {id:?} differs from key {key:?}"));
        }
        let uint = |name: &str| fields.get(name).and_then(Value::as_u64).ok_or(format!("{name} missing or not a u64"));
        let (part, total, status) = (uint("partNumber")?, uint("totalParts")?, uint("commandStatus")?);
        if !(1..=255).contains(&total) {
            return Err(format!("totalParts {total} out of range"));
        }
        if !(1..=total).contains(&part) {
            return Err(format!("partNumber {part} out of range"));
        }
        match fields.get("supplierMessageId") {
            None if status == 0 => Err("supplierMessageId missing on success".into()),
            None => Ok(()),
            Some(Value::String(s)) if !s.is_empty() => Ok(()),
            Some(other) => Err(format!("supplierMessageId {other} is not a non-empty string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_millis() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(1_764_064_800_123), "2025-11-25T10:00:00.123Z");
        assert_eq!(rfc3339_millis(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_millis(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
    }

    #[test]
    fn formats_smpp_dates() {
        assert_eq!(smpp_date(1_795_687_323_456, false), "2611261002");
        assert_eq!(smpp_date(1_795_687_323_456, true), "261126100203");
    }

    #[test]
    fn kind_labels_are_unique_snake_case() {
        let all: Vec<_> = InvalidKind::ALL.iter().chain(&InvalidKind::RECEIPTS).collect();
        let labels: std::collections::HashSet<_> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(labels.len(), all.len());
        assert!(labels.iter().all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }

    #[test]
    fn contract_accepts_the_brief_examples() {
        let message = br#"{"id":"5d1f0c9e","status":"PENDING","sender":"ACME","recipient":"+385911234567","text":"Your code is 1234","createdAt":"2026-11-25T10:00:00.000Z"}"#;
        let part = br#"{"messageId":"5d1f0c9e","partNumber":2,"totalParts":3,"supplierMessageId":"0A1B2C3D","commandStatus":0,"supplier":"supplier-a","receivedAt":"2026-11-25T10:00:01.250Z"}"#;
        assert_eq!(contract::check(Topic::Sent, Some("5d1f0c9e"), message), Ok(()));
        assert_eq!(contract::check(Topic::Responses, Some("5d1f0c9e"), part), Ok(()));
        let throttled = br#"{"messageId":"m","partNumber":1,"totalParts":1,"commandStatus":88}"#;
        assert_eq!(contract::check(Topic::Responses, Some("m"), throttled), Ok(()));
        let structured = br#"{"supplier":"supplier-a","supplierMessageId":"1F","stat":"DELIVRD","err":"000","doneDate":"2611261002","receivedAt":"2026-11-26T10:02:03.123Z"}"#;
        let text = br#"{"supplier":"supplier-a","shortMessage":"id:1F sub:001 dlvrd:001 submit date:2611261001 done date:2611261002 stat:DELIVRD err:000 text:Hi"}"#;
        let numeric = br#"{"supplier":"supplier-a","supplierMessageId":"1F","stat":2}"#;
        for receipt in [&structured[..], text, numeric] {
            assert_eq!(contract::check(Topic::DeliveryReports, Some("1F"), receipt), Ok(()));
        }
    }
}
