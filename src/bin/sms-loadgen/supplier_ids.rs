//! Supplier message ids when receipts are simulated: unique per run, and written per supplier in
//! the bases its `--supplier-id-format` says.
//!
//! Many SMSCs return the id in one base in `submit_sm_resp` and in another in the receipt (Jasmin's
//! `dlr_msgid`, Kannel's `msg-id-type`); a tracker configured with the wrong format cannot match
//! them. Ids are therefore generated as one number and rendered twice, with the case and
//! leading-zero noise real suppliers add, so that only a correct canonical comparison matches.
//!
//! Ids come from a counter through a bijection, so two parts never share an id (a random 32-bit id
//! would collide within a long run and join a receipt to the wrong message); the key mixes in the
//! id prefix, so runs with the same seed but different prefixes on shared topics do not collide.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use crate::content::SUPPLIERS;
use crate::generator::scramble;

/// How a supplier writes the same id in its submit response and in its receipt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IdFormat {
    /// The same string in both (hex, as SMSCs often use), up to case and leading zeros.
    #[default]
    Same,
    /// A number: hex in the submit response, decimal in the receipt.
    HexInResponse,
    /// A number: decimal in the submit response, hex in the receipt.
    HexInReport,
}

impl IdFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Same => "same",
            Self::HexInResponse => "hex-in-response",
            Self::HexInReport => "hex-in-report",
        }
    }
}

impl fmt::Display for IdFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `--supplier-id-format SUPPLIER=FORMAT` value. Only the generator's suppliers are accepted:
/// a format for a name it never uses would silently test nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierIdFormat {
    pub supplier: &'static str,
    pub format: IdFormat,
}

impl FromStr for SupplierIdFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (name, format) = text.split_once('=').ok_or("expected SUPPLIER=same|hex-in-response|hex-in-report")?;
        let supplier = SUPPLIERS.iter().find(|s| **s == name.trim()).ok_or_else(|| {
            format!("unknown supplier {name:?}; the generator's suppliers are {}", SUPPLIERS.join(", "))
        })?;
        let format = [IdFormat::Same, IdFormat::HexInResponse, IdFormat::HexInReport]
            .into_iter()
            .find(|f| f.as_str() == format.trim())
            .ok_or_else(|| format!("unknown id format {format:?}; expected same, hex-in-response or hex-in-report"))?;
        Ok(Self { supplier, format })
    }
}

/// One supplier id as written in the submit response and in the part's receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPair {
    pub response: String,
    pub report: String,
}

/// Numeric ids are 64-bit, and now and then longer (up to 96 bits): parsers that assume a u64 fail.
const LONG_ID_SHARE: f64 = 0.1;
/// Share of ids written with extra leading zeros, or (same format) in the other case.
const NOISE_SHARE: f64 = 0.1;

pub struct SupplierIds {
    key: u64,
    next: u64,
}

impl SupplierIds {
    pub fn new(rng: &mut impl Rng, id_prefix: &str) -> Self {
        Self { key: rng.random::<u64>() ^ fnv1a(id_prefix.as_bytes()), next: 0 }
    }

    /// The next id, never issued before in this run, rendered for `format`.
    pub fn next(&mut self, rng: &mut impl Rng, format: IdFormat) -> IdPair {
        let base = scramble(self.next ^ self.key);
        self.next += 1;
        match format {
            IdFormat::Same => {
                let response = format!("{base:016X}");
                let report = match rng.random_range(0.0..1.0) {
                    x if x < NOISE_SHARE / 2.0 => response.to_lowercase(),
                    x if x < NOISE_SHARE => format!("00{response}"),
                    _ => response.clone(),
                };
                IdPair { response, report }
            }
            IdFormat::HexInResponse | IdFormat::HexInReport => {
                // Shifting keeps distinct bases distinct, so long ids are unique too.
                let number = if rng.random_bool(LONG_ID_SHARE) {
                    u128::from(base) << 32 | u128::from(rng.random::<u32>())
                } else {
                    u128::from(base)
                };
                let hex = if rng.random_bool(0.5) { format!("{number:X}") } else { format!("{number:x}") };
                let (hex, decimal) = (leading_zeros(rng, hex), leading_zeros(rng, number.to_string()));
                match format {
                    IdFormat::HexInResponse => IdPair { response: hex, report: decimal },
                    _ => IdPair { response: decimal, report: hex },
                }
            }
        }
    }
}

fn leading_zeros(rng: &mut impl Rng, digits: String) -> String {
    if rng.random_bool(NOISE_SHARE) { format!("{}{digits}", "0".repeat(rng.random_range(1..=4))) } else { digits }
}

/// FNV-1a: a stable hash (unlike std's, whose algorithm may change), so plans stay reproducible.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// The tracker's canonical comparison for numeric formats: parse in the given base.
    fn number(text: &str, radix: u32) -> u128 {
        u128::from_str_radix(text, radix).unwrap_or_else(|e| panic!("{text:?} in base {radix}: {e}"))
    }

    #[test]
    fn parses_supplier_formats_and_rejects_unknown_names() {
        let parsed: SupplierIdFormat = "supplier-b=hex-in-report".parse().unwrap();
        assert_eq!(parsed, SupplierIdFormat { supplier: "supplier-b", format: IdFormat::HexInReport });
        assert!("supplier-z=same".parse::<SupplierIdFormat>().unwrap_err().contains("supplier-a, supplier-b"));
        assert!("supplier-a=octal".parse::<SupplierIdFormat>().is_err());
        assert!("supplier-a".parse::<SupplierIdFormat>().is_err());
    }

    #[test]
    fn each_format_writes_the_same_number_in_the_promised_bases() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut ids = SupplierIds::new(&mut rng, "p-");
        let (mut long, mut padded, mut lower) = (0, 0, 0);
        for _ in 0..2000 {
            let same = ids.next(&mut rng, IdFormat::Same);
            assert_eq!(number(&same.response, 16), number(&same.report, 16));
            lower += usize::from(same.report.bytes().any(|b| b.is_ascii_lowercase()));
            let p = ids.next(&mut rng, IdFormat::HexInResponse);
            assert_eq!(number(&p.response, 16), number(&p.report, 10), "{p:?}");
            let p = ids.next(&mut rng, IdFormat::HexInReport);
            assert_eq!(number(&p.response, 10), number(&p.report, 16), "{p:?}");
            long += usize::from(number(&p.response, 10) > u128::from(u64::MAX));
            padded += usize::from(p.response.starts_with('0') || p.report.starts_with('0'));
        }
        assert!((100..300).contains(&long), "{long} long ids");
        assert!(padded > 200 && lower > 20, "{padded} padded, {lower} lower-case");
    }

    #[test]
    fn ids_are_unique_within_a_run_and_differ_between_prefixes() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut ids = SupplierIds::new(&mut rng, "a-");
        let issued: HashSet<u128> =
            (0..50_000).map(|_| number(&ids.next(&mut rng, IdFormat::Same).response, 16)).collect();
        assert_eq!(issued.len(), 50_000);
        let mut rng = StdRng::seed_from_u64(2);
        let mut other = SupplierIds::new(&mut rng, "b-");
        assert!(!issued.contains(&number(&other.next(&mut rng, IdFormat::Same).response, 16)));
    }
}
