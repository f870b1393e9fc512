//! Simulated SMPP delivery receipts, as the gateway would publish them on `delivery-reports`.
//!
//! Each message draws its delivery fate up front (all parts delivered, one part finally not
//! delivered, or some part never finally reported), so that its expected outcome is known when it
//! is planned and the summary can state it as ground truth. Each accepted part then gets the
//! receipts that fate implies, with the noise real suppliers add: intermediate states, exact
//! duplicates, raw `shortMessage` texts in several dialects, numeric `message_state`s, and delays
//! from under a second to half an hour. Where receipts are placed relative to the submit responses
//! is the generator's business; this module only says which receipts, and how late.

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde_json::{Value, json};

use crate::records::{PlannedRecord, ReceiptKind, ReceiptRole, RecordKind, Topic, rfc3339_millis, smpp_date};
use crate::supplier_ids::{IdFormat, SupplierIdFormat};

/// The `--delivered-share` ... `--supplier-id-format` flags.
#[derive(Debug, Clone)]
pub struct ReceiptSettings {
    /// Per message, the probability that every part is delivered.
    pub delivered_share: f64,
    /// Per message, the probability that one part is finally not delivered; the rest of the
    /// messages have a part that never gets a final receipt.
    pub undelivered_share: f64,
    /// Per part, the probability of an ENROUTE/ACCEPTD receipt before the final one.
    pub enroute_share: f64,
    /// Per final receipt, the probability of an exact duplicate.
    pub duplicate_share: f64,
    /// Per part, the probability that its receipts are written before its submit response.
    pub before_response_share: f64,
    /// Per receipt, the probability of the raw `shortMessage` form.
    pub text_share: f64,
    pub id_formats: Vec<SupplierIdFormat>,
}

impl ReceiptSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.delivered_share + self.undelivered_share > 1.0 + 1e-9 {
            return Err(format!(
                "--delivered-share {} plus --undelivered-share {} exceeds 1",
                self.delivered_share, self.undelivered_share
            ));
        }
        Ok(())
    }

    /// The supplier's id format; the last flag for it wins, as with repeated flags elsewhere.
    pub fn id_format(&self, supplier: &str) -> IdFormat {
        self.id_formats.iter().rev().find(|f| f.supplier == supplier).map_or(IdFormat::Same, |f| f.format)
    }
}

/// The delivery outcome the tracker must publish for a message, once its receipts are in (or,
/// for `Unknown`, once its delivery timeout has passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Delivered,
    Undelivered,
    Unknown,
}

/// How one part's receipts end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFate {
    Delivered,
    /// UNDELIV, now and then REJECTD or EXPIRED, with an error code.
    NotDelivered,
    /// No final receipt ever; at most an intermediate one.
    NoFinal,
}

/// In undelivered and never-reported messages, the other parts are delivered this often (and
/// otherwise never finally reported), so outcomes do not hinge on the other parts being silent.
const OTHER_PARTS_DELIVERED: f64 = 0.9;
/// Share of after-response parts whose final receipt comes minutes later, a few windows on.
const TAIL_SHARE: f64 = 0.05;
const TAIL_WINDOWS: std::ops::RangeInclusive<u64> = 1..=4;
/// Share of structured receipts giving `stat` as the SMPP `message_state` number.
const NUMERIC_STAT_SHARE: f64 = 0.15;
const LOWER_CASE_SHARE: f64 = 0.1;
const SECONDS_SHARE: f64 = 0.2;
/// Network error codes of finally undelivered parts (3 digits, network-specific).
const ERRORS: [&str; 6] = ["001", "005", "011", "034", "069", "255"];

/// The message's outcome and each part's fate.
pub fn fates(rng: &mut impl Rng, settings: &ReceiptSettings, total: u8) -> (Outcome, Vec<PartFate>) {
    let draw: f64 = rng.random_range(0.0..1.0);
    let outcome = if draw < settings.delivered_share {
        Outcome::Delivered
    } else if draw < settings.delivered_share + settings.undelivered_share {
        Outcome::Undelivered
    } else {
        Outcome::Unknown
    };
    if outcome == Outcome::Delivered {
        return (outcome, vec![PartFate::Delivered; usize::from(total)]);
    }
    let culprit = rng.random_range(0..usize::from(total));
    let fates = (0..usize::from(total))
        .map(|part| match (part == culprit, outcome) {
            (true, Outcome::Undelivered) => PartFate::NotDelivered,
            (true, _) => PartFate::NoFinal,
            (false, _) if rng.random_bool(OTHER_PARTS_DELIVERED) => PartFate::Delivered,
            (false, _) => PartFate::NoFinal,
        })
        .collect();
    (outcome, fates)
}

/// What the generator knows about an accepted part when planning its receipts.
pub struct Part<'a> {
    pub supplier: &'static str,
    /// The supplier id as the receipt writes it.
    pub id: &'a str,
    pub fate: PartFate,
    pub before_response: bool,
    /// When the gateway received the part's successful submit response, ms since the epoch.
    pub submitted_ms: u64,
    /// The message text; receipts quote its start after `text:`.
    pub text: &'a str,
}

pub struct PartReceipts {
    /// In causal order: intermediate, final, duplicate (each if any).
    pub records: Vec<PlannedRecord>,
    /// How many windows later the final receipt and its duplicate are written; 0 is this window.
    pub tail_windows: u64,
}

/// The receipts of one accepted part.
pub fn plan_part(rng: &mut impl Rng, settings: &ReceiptSettings, part: &Part<'_>) -> PartReceipts {
    let last = match part.fate {
        PartFate::Delivered => Some((Stat::Delivrd, "000")),
        PartFate::NotDelivered => {
            let stat = [Stat::Undeliv, Stat::Undeliv, Stat::Undeliv, Stat::Rejectd, Stat::Expired].choose(rng);
            Some((stat.copied().unwrap_or(Stat::Undeliv), ERRORS.choose(rng).copied().unwrap_or("001")))
        }
        PartFate::NoFinal => None,
    };
    let tail = !part.before_response && last.is_some() && rng.random_bool(TAIL_SHARE);
    // Most receipts come within seconds; a receipt overtaking its response comes fast by nature.
    let delay_ms = match (part.before_response, tail) {
        (true, _) => rng.random_range(20..1_000),
        (false, true) => rng.random_range(60_000..1_800_000),
        (false, false) if rng.random_bool(0.8) => rng.random_range(500..5_000),
        (false, false) => rng.random_range(5_000..60_000),
    };
    let mut records = Vec::with_capacity(3);
    if rng.random_bool(settings.enroute_share) {
        let stat = if rng.random_bool(0.8) { Stat::Enroute } else { Stat::Acceptd };
        let at_ms = part.submitted_ms + rng.random_range(10..=delay_ms / 2);
        records.push(receipt(rng, settings, part, ReceiptRole::Intermediate, (stat, "000"), at_ms));
    }
    if let Some(last) = last {
        let record = receipt(rng, settings, part, ReceiptRole::Final, last, part.submitted_ms + delay_ms);
        if rng.random_bool(settings.duplicate_share) {
            let mut duplicate = record.clone();
            if let RecordKind::Receipt(kind) = &mut duplicate.kind {
                kind.role = ReceiptRole::Duplicate;
            }
            records.extend([record, duplicate]);
        } else {
            records.push(record);
        }
    }
    let tail_windows = if tail { rng.random_range(TAIL_WINDOWS) } else { 0 };
    PartReceipts { records, tail_windows }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    Enroute,
    Delivrd,
    Expired,
    Undeliv,
    Acceptd,
    Rejectd,
}

impl Stat {
    fn name(self) -> &'static str {
        match self {
            Self::Enroute => "ENROUTE",
            Self::Delivrd => "DELIVRD",
            Self::Expired => "EXPIRED",
            Self::Undeliv => "UNDELIV",
            Self::Acceptd => "ACCEPTD",
            Self::Rejectd => "REJECTD",
        }
    }

    /// The SMPP `message_state` (receipted_message_id's companion TLV).
    fn number(self) -> u8 {
        match self {
            Self::Enroute => 1,
            Self::Delivrd => 2,
            Self::Expired => 3,
            Self::Undeliv => 5,
            Self::Acceptd => 6,
            Self::Rejectd => 8,
        }
    }
}

fn receipt(
    rng: &mut impl Rng,
    settings: &ReceiptSettings,
    part: &Part<'_>,
    role: ReceiptRole,
    (stat, err): (Stat, &str),
    done_ms: u64,
) -> PlannedRecord {
    let received_ms = done_ms + rng.random_range(20..1_500);
    let text = rng.random_bool(settings.text_share);
    let (key, value) = if text {
        let (short_message, id) = short_message(rng, part, stat, err, done_ms);
        let mut value = json!({ "supplier": part.supplier, "shortMessage": short_message });
        if rng.random_bool(0.5) {
            value["receivedAt"] = json!(rfc3339_millis(received_ms));
        }
        (id, value)
    } else {
        let stat_value = if rng.random_bool(NUMERIC_STAT_SHARE) { json!(stat.number()) } else { json!(stat.name()) };
        let mut value = json!({
            "supplier": part.supplier, "supplierMessageId": part.id, "stat": stat_value, "err": err,
            "doneDate": smpp_date(done_ms, rng.random_bool(SECONDS_SHARE)), "receivedAt": rfc3339_millis(received_ms),
        });
        // `err` is optional; suppliers leave it out when there is no error.
        if let (true, Some(fields)) = (err == "000" && rng.random_bool(0.1), value.as_object_mut()) {
            fields.remove("err");
        }
        (part.id.to_owned(), value)
    };
    let kind = ReceiptKind { role, supplier: part.supplier, text, before_response: part.before_response };
    PlannedRecord {
        topic: Topic::DeliveryReports,
        key: Some(key),
        value: to_vec(&value),
        kind: RecordKind::Receipt(kind),
    }
}

/// The SMPP appendix B text in one of the dialects suppliers send: `sub`/`dlvrd` or the submit
/// date left out, fields reordered, lower case, seconds in dates. Returns the text and the id as it
/// is written there (the record's key).
fn short_message(rng: &mut impl Rng, part: &Part<'_>, stat: Stat, err: &str, done_ms: u64) -> (String, String) {
    let seconds = rng.random_bool(SECONDS_SHARE);
    let delivered = u8::from(stat == Stat::Delivrd);
    let mut fields = vec![
        format!("id:{}", part.id),
        "sub:001".to_owned(),
        format!("dlvrd:{delivered:03}"),
        format!("submit date:{}", smpp_date(part.submitted_ms, seconds)),
        format!("done date:{}", smpp_date(done_ms, seconds)),
        format!("stat:{}", stat.name()),
        format!("err:{err}"),
    ];
    match rng.random_range(0..10) {
        0..=3 => fields.retain(|f| !f.starts_with("sub:") && !f.starts_with("dlvrd:")),
        4 => fields.retain(|f| !f.starts_with("submit date:")),
        5 => fields.shuffle(rng),
        _ => {}
    }
    let mut text = fields.join(" ");
    // `text:` runs to the end, so it stays last.
    if rng.random_bool(0.8) {
        text.push_str(" text:");
        text.extend(part.text.chars().take(20));
        text.truncate(text.trim_end().len());
    }
    if rng.random_bool(LOWER_CASE_SHARE) {
        (text.to_lowercase(), part.id.to_lowercase())
    } else {
        (text, part.id.to_owned())
    }
}

fn to_vec(value: &Value) -> Vec<u8> {
    // Serialising a JSON value cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}
