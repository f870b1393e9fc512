//! Comparing a supplier's message id in the submit response with the one in its receipt.
//!
//! The two are written by the same supplier but often not in the same form: many suppliers answer
//! `submit_sm` with a hexadecimal id and report it in decimal, or the other way round (Jasmin's
//! `dlr_msgid`, Kannel's `msg-id-type`), and pad or case it differently. Receipts are joined to
//! their messages by re-keying both sides to [`receipt_key`] of the same canonical id, on the
//! partition Kafka's own partitioner would pick ([`partition_for`]), so that any producer agrees.

use std::collections::HashMap;
use std::str::FromStr;

/// How one supplier writes its ids in the submit response versus the receipt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IdFormat {
    /// The same form on both sides (Jasmin `dlr_msgid` 0).
    #[default]
    Same,
    /// Hexadecimal in `submit_sm_resp`, decimal in the receipt (Jasmin `dlr_msgid` 1).
    HexInResponse,
    /// Decimal in `submit_sm_resp`, hexadecimal in the receipt (Jasmin `dlr_msgid` 2).
    HexInReport,
}

impl IdFormat {
    /// The flag spelling, for logs and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Same => "same",
            Self::HexInResponse => "hex-in-response",
            Self::HexInReport => "hex-in-report",
        }
    }
}

impl FromStr for IdFormat {
    type Err = String;

    /// Parses the `--delivery-id-format` spelling; the message lists the valid ones.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "same" => Ok(Self::Same),
            "hex-in-response" => Ok(Self::HexInResponse),
            "hex-in-report" => Ok(Self::HexInReport),
            other => Err(format!("unknown id format {other:?} (expected same, hex-in-response or hex-in-report)")),
        }
    }
}

/// The id format of every supplier; suppliers not listed use [`IdFormat::Same`], the SMPP norm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdFormats {
    by_supplier: HashMap<String, IdFormat>,
}

impl IdFormats {
    /// Parses one `--delivery-id-format` value, `SUPPLIER=FORMAT`. The split is at the last `=`
    /// (formats contain none), so a supplier name may contain `=`, and may be empty: receipts and
    /// parts without a supplier use the empty name.
    pub fn parse_entry(s: &str) -> Result<(String, IdFormat), String> {
        let (supplier, format) =
            s.rsplit_once('=').ok_or_else(|| format!("{s:?} is not SUPPLIER=same|hex-in-response|hex-in-report"))?;
        let format = format.parse().map_err(|e| format!("{s:?}: {e}"))?;
        Ok((supplier.to_owned(), format))
    }

    /// Sets a supplier's format; a repeated supplier takes the last value, like repeated flags.
    pub fn insert(&mut self, supplier: impl Into<String>, format: IdFormat) {
        self.by_supplier.insert(supplier.into(), format);
    }

    /// The format to compare this supplier's ids with.
    pub fn get(&self, supplier: &str) -> IdFormat {
        self.by_supplier.get(supplier).copied().unwrap_or_default()
    }
}

/// Ids longer than this are not converted between bases (they are compared in their plain
/// canonical form). Conversion is quadratic in the length, and a record's id comes from outside;
/// SMPP ids are at most 65 octets, so real ids are far below the limit.
pub const MAX_CONVERTED_LEN: usize = 4096;

/// The canonical form of an id from a submit response, comparable with
/// [`canonical_report_id`] of the same supplier's receipt.
pub fn canonical_response_id(format: IdFormat, id: &str) -> String {
    match format {
        IdFormat::HexInResponse => hex_to_decimal(id).unwrap_or_else(|| plain(id)),
        IdFormat::Same | IdFormat::HexInReport => plain(id),
    }
}

/// The canonical form of an id from a receipt, comparable with [`canonical_response_id`].
///
/// When the side that should be hexadecimal is not valid hexadecimal, its plain canonical form is
/// used instead: it still matches an identical string on the other side, and it never equals a
/// converted id (those are all decimal digits, and an all-digit string is valid hexadecimal).
pub fn canonical_report_id(format: IdFormat, id: &str) -> String {
    match format {
        IdFormat::HexInReport => hex_to_decimal(id).unwrap_or_else(|| plain(id)),
        IdFormat::Same | IdFormat::HexInResponse => plain(id),
    }
}

/// Trimmed, upper case, without leading zeros (an all-zero id is "0"): the normalisation gateways
/// apply, since suppliers pad and case the same id differently on the two sides.
fn plain(id: &str) -> String {
    let id = id.trim();
    let stripped = id.trim_start_matches('0');
    if stripped.is_empty() && !id.is_empty() { "0".to_owned() } else { stripped.to_uppercase() }
}

/// Decimal digits per limb of the arbitrary-precision accumulator.
const LIMB_DIGITS: usize = 9;
const LIMB: u64 = 1_000_000_000;
/// Hex digits folded in per step: 16^7 times a limb plus a carry stays well inside u64.
const HEX_STEP: usize = 7;

/// The decimal form of a hexadecimal id of any length (an optional `0x` prefix is allowed), or
/// None when it is not hexadecimal or longer than [`MAX_CONVERTED_LEN`].
fn hex_to_decimal(id: &str) -> Option<String> {
    let id = id.trim();
    let digits = id.strip_prefix("0x").or_else(|| id.strip_prefix("0X")).unwrap_or(id);
    if digits.is_empty() || digits.len() > MAX_CONVERTED_LEN || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Little-endian limbs in base 10^9; each step multiplies by 16^k and adds k hex digits.
    let mut limbs: Vec<u64> = vec![0];
    for chunk in digits.as_bytes().chunks(HEX_STEP) {
        let chunk = std::str::from_utf8(chunk).expect("hex digits are ASCII");
        let add = u64::from_str_radix(chunk, 16).expect("checked hex digits");
        multiply_add(&mut limbs, 1 << (4 * chunk.len()), add);
    }
    Some(to_decimal_string(&limbs))
}

fn multiply_add(limbs: &mut Vec<u64>, factor: u64, add: u64) {
    let mut carry = add;
    for limb in limbs.iter_mut() {
        let value = *limb * factor + carry;
        *limb = value % LIMB;
        carry = value / LIMB;
    }
    while carry > 0 {
        limbs.push(carry % LIMB);
        carry /= LIMB;
    }
}

fn to_decimal_string(limbs: &[u64]) -> String {
    let mut limbs = limbs.iter().rev().skip_while(|&&l| l == 0);
    let Some(first) = limbs.next() else { return "0".to_owned() };
    let mut out = first.to_string();
    for limb in limbs {
        out.push_str(&format!("{limb:0width$}", width = LIMB_DIGITS));
    }
    out
}

/// The key of the internal re-keyed topics: one per (supplier, canonical id). The supplier's
/// length comes first, so no supplier name (even one containing ':') can make two pairs collide.
pub fn receipt_key(supplier: &str, canonical_id: &str) -> String {
    format!("{}:{supplier}:{canonical_id}", supplier.len())
}

/// The partition Kafka's default partitioner (Java `BuiltInPartitioner` for keyed records, also
/// librdkafka's `murmur2_random`) picks for a key, so that records written here land where any
/// other producer of the same key puts them.
///
/// # Panics
/// If `partitions` is not positive: a topic has at least one partition.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition, got {partitions}");
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// Kafka's `Utils.murmur2`, bit for bit (seed 0x9747b28c, little-endian words).
fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java hashes an int length; keys beyond 2 GiB do not exist in Kafka.
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let words = data.chunks_exact(4);
    let tail = words.remainder();
    for word in words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
#[path = "supplier_id_tests.rs"]
mod tests;
