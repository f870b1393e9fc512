//! Parsing a record of `delivery-reports`: one SMPP delivery receipt, as the gateway forwards it.
//!
//! A receipt names the supplier's message id and the state the supplier reached. Gateways hand them
//! over either as structured fields or as the raw receipt text of the `deliver_sm`, and suppliers
//! bend the text's conventional format in many ways, so the text is read leniently while anything
//! the state cannot be derived from is rejected with a reason a human can act on (see the wire
//! contract of issue 11). Matching the id to a submit response is not done here: see
//! [`super::supplier_id`].

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::wire::{RecordError, RecordErrorKind, json_error, require_object};

/// The state a supplier reports for one SMPP message: the `stat` of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptState {
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Accepted,
    Unknown,
    Rejected,
    Enroute,
    /// SMPP 5.0 only: accepted but never transmitted on the network.
    Skipped,
}

impl ReceiptState {
    /// Every state, so metrics can register one series per `stat` label up front.
    pub const ALL: [ReceiptState; 9] = [
        Self::Delivered,
        Self::Expired,
        Self::Deleted,
        Self::Undeliverable,
        Self::Accepted,
        Self::Unknown,
        Self::Rejected,
        Self::Enroute,
        Self::Skipped,
    ];

    /// The 7-character SMPP text, the form people know from receipts and descriptions.
    pub fn stat(self) -> &'static str {
        match self {
            Self::Delivered => "DELIVRD",
            Self::Expired => "EXPIRED",
            Self::Deleted => "DELETED",
            Self::Undeliverable => "UNDELIV",
            Self::Accepted => "ACCEPTD",
            Self::Unknown => "UNKNOWN",
            Self::Rejected => "REJECTD",
            Self::Enroute => "ENROUTE",
            Self::Skipped => "SKIPPED",
        }
    }

    /// Reads a `stat` as suppliers write it: the SMPP text in any case, or a long spelling some
    /// suppliers and gateways use instead (`DELIVERED`, `UNDELIVERABLE`, `EN_ROUTE`, …).
    pub fn from_stat(stat: &str) -> Option<Self> {
        let stat = stat.trim().to_ascii_uppercase();
        Some(match stat.as_str() {
            "DELIVRD" | "DELIVERED" => Self::Delivered,
            "EXPIRED" => Self::Expired,
            "DELETED" => Self::Deleted,
            "UNDELIV" | "UNDELIVERABLE" | "UNDELIVERED" => Self::Undeliverable,
            "ACCEPTD" | "ACCEPTED" => Self::Accepted,
            "UNKNOWN" => Self::Unknown,
            "REJECTD" | "REJECTED" => Self::Rejected,
            "ENROUTE" | "EN_ROUTE" | "EN ROUTE" => Self::Enroute,
            "SKIPPED" => Self::Skipped,
            _ => return None,
        })
    }

    /// Reads the SMPP `message_state` TLV value, which gateways forward instead of the text.
    pub fn from_message_state(state: u64) -> Option<Self> {
        Some(match state {
            1 => Self::Enroute,
            2 => Self::Delivered,
            3 => Self::Expired,
            4 => Self::Deleted,
            5 => Self::Undeliverable,
            6 => Self::Accepted,
            7 => Self::Unknown,
            8 => Self::Rejected,
            9 => Self::Skipped,
            _ => return None,
        })
    }

    /// Whether the part's delivery outcome is decided: the first final receipt wins, intermediate
    /// ones are only recorded. SKIPPED counts as final (and not delivered): SMPP 5.0 lists it among
    /// the final states — the SMSC gave up without transmitting, so no later receipt will follow
    /// and waiting for the delivery timeout would only delay the same answer.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Accepted | Self::Enroute)
    }

    /// Whether the part reached the handset; every other final state means it did not.
    pub fn is_delivered(self) -> bool {
        self == Self::Delivered
    }
}

impl fmt::Display for ReceiptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stat())
    }
}

/// A validated delivery report: what the join with the submit responses and the state need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The gateway's supplier name; ids are unique per supplier only. May be empty.
    pub supplier: String,
    /// The supplier's id of the SMPP message as received (surrounding whitespace removed); its
    /// canonical form for matching is computed with the supplier's id format, later.
    pub supplier_message_id: String,
    pub state: ReceiptState,
    /// The network-specific error code, shown in descriptions.
    pub err: Option<String>,
    /// The supplier's `done date`, verbatim (formats vary too much to interpret reliably).
    pub done_date: Option<String>,
    /// When the gateway received the receipt, verbatim.
    pub received_at: Option<String>,
}

/// The fields of a receipt text (SMPP 3.4 appendix B), each as written, absent when missing or
/// empty. Kept whole so that tests and tools can see what a supplier's text yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptText {
    pub id: Option<String>,
    pub sub: Option<String>,
    pub dlvrd: Option<String>,
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    pub stat: Option<String>,
    pub err: Option<String>,
    pub text: Option<String>,
}

/// The field names a receipt text may carry; `Other` is any unknown `name:` a supplier adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
    Other,
}

impl Key {
    /// Case, spaces and underscores vary between suppliers (`Submit Date`, `done_date`).
    fn of(name: &str) -> Key {
        let name: String = name.chars().filter(|c| *c != '_' && !c.is_whitespace()).collect();
        match name.to_ascii_lowercase().as_str() {
            "id" => Key::Id,
            "sub" => Key::Sub,
            "dlvrd" => Key::Dlvrd,
            "submitdate" => Key::SubmitDate,
            "donedate" => Key::DoneDate,
            "stat" => Key::Stat,
            "err" => Key::Err,
            "text" => Key::Text,
            _ => Key::Other,
        }
    }
}

/// Where one `name:` of a receipt text begins and where its value starts.
struct FieldStart {
    key: Key,
    name_start: usize,
    value_start: usize,
}

/// Separators between fields. Commas and semicolons appear in some suppliers' texts; none of them
/// occurs in real ids or codes.
fn is_separator(c: char) -> bool {
    c.is_ascii_whitespace() || c == ',' || c == ';'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Reads a receipt text leniently: fields in any order, missing or unknown fields, any case,
/// repeated separators, and a `text:` that swallows the rest (it comes last by convention and may
/// hold anything). Dates run to the next field (some suppliers write `2025-11-25 10:00:01`); other
/// values are one token, so stray words do not stick to them. A repeated field keeps its first value.
pub fn parse_receipt_text(text: &str) -> ReceiptText {
    let fields = field_starts(text);
    let mut out = ReceiptText::default();
    for (i, field) in fields.iter().enumerate() {
        if field.key == Key::Text {
            fill(&mut out.text, Some(text[field.value_start..].trim()));
            break;
        }
        let end = fields.get(i + 1).map_or(text.len(), |next| next.name_start);
        let segment = text[field.value_start..end].trim_matches(is_separator);
        let value = match field.key {
            Key::SubmitDate | Key::DoneDate => Some(segment),
            _ => segment.split(is_separator).next(),
        };
        if let Some(slot) = out.slot(field.key) {
            fill(slot, value);
        }
    }
    out
}

impl ReceiptText {
    fn slot(&mut self, key: Key) -> Option<&mut Option<String>> {
        Some(match key {
            Key::Id => &mut self.id,
            Key::Sub => &mut self.sub,
            Key::Dlvrd => &mut self.dlvrd,
            Key::SubmitDate => &mut self.submit_date,
            Key::DoneDate => &mut self.done_date,
            Key::Stat => &mut self.stat,
            Key::Err => &mut self.err,
            Key::Text | Key::Other => return None,
        })
    }
}

/// The first non-empty value wins, as in Jasmin: a later repetition is more likely to sit in the
/// free text than to correct the first.
fn fill(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none() {
        *slot = value.filter(|v| !v.is_empty()).map(str::to_owned);
    }
}

/// Every `name:` that starts at a separator (so `1a:2b` inside a value is not a field), with the
/// two-word names `submit date` and `done date` joined.
fn field_starts(text: &str) -> Vec<FieldStart> {
    let bytes = text.as_bytes();
    let mut fields = Vec::new();
    for colon in (0..bytes.len()).filter(|&i| bytes[i] == b':') {
        let start = (0..colon).rev().take_while(|&i| is_name_byte(bytes[i])).last().unwrap_or(colon);
        let at_boundary = start == 0 || is_separator(char::from(bytes[start - 1]));
        if start == colon || !bytes[start].is_ascii_alphabetic() || !at_boundary {
            continue;
        }
        let name_start = two_word_start(bytes, start, colon);
        fields.push(FieldStart { key: Key::of(&text[name_start..colon]), name_start, value_start: colon + 1 });
    }
    fields
}

/// For `date:` preceded by `submit` or `done` (any case, any spacing), where the name begins.
fn two_word_start(bytes: &[u8], start: usize, colon: usize) -> usize {
    if !bytes[start..colon].eq_ignore_ascii_case(b"date") {
        return start;
    }
    let word_end = (0..start).rev().find(|&i| !bytes[i].is_ascii_whitespace()).map_or(0, |i| i + 1);
    let word_start = (0..word_end).rev().take_while(|&i| bytes[i].is_ascii_alphabetic()).last().unwrap_or(word_end);
    let word = &bytes[word_start..word_end];
    let at_boundary = word_start == 0 || is_separator(char::from(bytes[word_start - 1]));
    if word_end < start && at_boundary && (word.eq_ignore_ascii_case(b"submit") || word.eq_ignore_ascii_case(b"done")) {
        word_start
    } else {
        start
    }
}

/// Any JSON value a field may hold, so that a wrong type is reported with the field's name, which
/// serde's own messages do not give. A `null` reads as a missing field.
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code, reason = "of a boolean, array or object only the type is read")]
enum Json<'a> {
    Str(#[serde(borrow)] Cow<'a, str>),
    Unsigned(u64),
    Number(serde_json::Number),
    Bool(bool),
    Array(Vec<IgnoredAny>),
    Object(IgnoredAny),
}

impl Json<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Json::Str(_) => "a string",
            Json::Unsigned(_) | Json::Number(_) => "a number",
            Json::Bool(_) => "a boolean",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// An optional string field: absent, null and blank all mean "not given", so that the receipt
/// text (or the key) can still supply it.
fn opt_str<'j>(json: &'j Option<Json>, field: &str) -> Result<Option<&'j str>, RecordError> {
    match json {
        None => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        Some(other) => {
            // `stat` and `err` also take numbers, handled before they get here.
            let expected = if matches!(field, "stat" | "err") { "a string or a number" } else { "a string" };
            Err(invalid(format!("field `{field}` must be {expected}, got {}", other.kind())))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryReportWire<'a> {
    #[serde(borrow, default)]
    supplier: Option<Json<'a>>,
    #[serde(borrow, default)]
    supplier_message_id: Option<Json<'a>>,
    #[serde(borrow, default)]
    stat: Option<Json<'a>>,
    #[serde(borrow, default)]
    err: Option<Json<'a>>,
    #[serde(borrow, default)]
    done_date: Option<Json<'a>>,
    #[serde(borrow, default)]
    received_at: Option<Json<'a>>,
    #[serde(borrow, default)]
    short_message: Option<Json<'a>>,
}

fn invalid(reason: String) -> RecordError {
    RecordError::new(RecordErrorKind::InvalidField, reason)
}

/// Validates a record of `delivery-reports`. Structured fields win over the receipt text field by
/// field; the key (the id as received) is the last resort for the id.
pub fn parse_delivery_report(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Receipt, RecordError> {
    let Some(value) = value else {
        return Err(RecordError::new(
            RecordErrorKind::NotJson,
            "value is null (a tombstone); a delivery report needs one",
        ));
    };
    require_object(value)?;
    let mut wire: DeliveryReportWire = serde_json::from_slice(value).map_err(json_error)?;
    let supplier = match wire.supplier.take() {
        Some(Json::Str(s)) => s.into_owned(),
        None => return Err(invalid("field `supplier` is missing or null (use \"\" when there is none)".into())),
        Some(other) => return Err(invalid(format!("field `supplier` must be a string, got {}", other.kind()))),
    };
    let text = opt_str(&wire.short_message, "shortMessage")?.map(parse_receipt_text).unwrap_or_default();
    let supplier_message_id = report_id(&wire, &text, key)?;
    let state = report_state(&wire, &text)?;
    Ok(Receipt {
        supplier,
        supplier_message_id,
        state,
        err: report_err(&wire.err)?.or(text.err),
        done_date: opt_str(&wire.done_date, "doneDate")?.map(str::to_owned).or(text.done_date),
        received_at: opt_str(&wire.received_at, "receivedAt")?.map(str::to_owned),
    })
}

fn report_id(wire: &DeliveryReportWire, text: &ReceiptText, key: Option<&[u8]>) -> Result<String, RecordError> {
    if let Some(id) = opt_str(&wire.supplier_message_id, "supplierMessageId")? {
        return Ok(id.to_owned());
    }
    if let Some(id) = &text.id {
        return Ok(id.clone());
    }
    let key = key.and_then(|k| std::str::from_utf8(k).ok()).map(str::trim).filter(|k| !k.is_empty());
    key.map(str::to_owned).ok_or_else(|| {
        RecordError::new(
            RecordErrorKind::NoReceiptId,
            "no supplier message id: no `supplierMessageId`, no `id:` in `shortMessage`, and no UTF-8 record key",
        )
    })
}

fn report_state(wire: &DeliveryReportWire, text: &ReceiptText) -> Result<ReceiptState, RecordError> {
    let not_a_state = |n: &dyn fmt::Display| {
        RecordError::new(RecordErrorKind::UnknownStat, format!("field `stat` {n} is not an SMPP message_state (1–9)"))
    };
    match &wire.stat {
        Some(Json::Unsigned(n)) => ReceiptState::from_message_state(*n).ok_or_else(|| not_a_state(n)),
        Some(Json::Number(n)) => Err(not_a_state(n)),
        stat => match (opt_str(stat, "stat")?, &text.stat) {
            (Some(s), _) => from_stat_or_reject(s, "field `stat`"),
            (None, Some(s)) => from_stat_or_reject(s, "`stat:` in `shortMessage`"),
            (None, None) => Err(RecordError::new(
                RecordErrorKind::NoReceiptStat,
                "no receipt state: no `stat` and no `stat:` in `shortMessage`",
            )),
        },
    }
}

fn from_stat_or_reject(stat: &str, source: &str) -> Result<ReceiptState, RecordError> {
    ReceiptState::from_stat(stat).ok_or_else(|| {
        let known: Vec<&str> = ReceiptState::ALL.iter().map(|s| s.stat()).collect();
        RecordError::new(
            RecordErrorKind::UnknownStat,
            format!("{source} {stat:?} is not a known SMPP stat (expected one of {})", known.join(", ")),
        )
    })
}

/// `err` is a string or a number. A non-negative number is padded to the conventional three
/// digits, so that `1` and `"001"` read the same in descriptions.
fn report_err(err: &Option<Json>) -> Result<Option<String>, RecordError> {
    match err {
        Some(Json::Unsigned(n)) => Ok(Some(format!("{n:03}"))),
        Some(Json::Number(n)) => Ok(Some(n.to_string())),
        other => Ok(opt_str(other, "err")?.map(str::to_owned)),
    }
}

#[cfg(test)]
#[path = "receipt_tests.rs"]
mod tests;
