//! Realistic-looking field values: senders, recipients, texts whose length matches the part count,
//! suppliers and supplier message ids. Nothing here affects validity; it makes the records look
//! and weigh like production traffic.

use rand::Rng;
use rand::seq::IndexedRandom;

const SENDERS: [&str; 6] = ["ACME", "BankOfZ", "ShopNow", "Taxi24", "MedCare", "+38512345678"];
/// Every supplier name the generator uses (one per message, on all its parts), so that tests can
/// configure per-supplier settings such as `--supplier-id-format` for each.
pub const SUPPLIERS: [&str; 3] = ["supplier-a", "supplier-b", "supplier-c"];
const SHORT_TEXTS: [&str; 5] = [
    "Your code is {n}",
    "Your order #{n} has shipped.",
    "Appointment confirmed for tomorrow, ref {n}.",
    "Your parcel {n} is out for delivery today.",
    "Payment of EUR {n} received. Thank you!",
];
const WORDS: [&str; 16] = [
    "your",
    "account",
    "statement",
    "is",
    "ready",
    "please",
    "review",
    "the",
    "latest",
    "changes",
    "to",
    "our",
    "terms",
    "and",
    "conditions",
    "online",
];

/// Characters per part of a concatenated GSM-7 message (160 minus the UDH).
const PART_CHARS: usize = 153;

pub fn sender(rng: &mut impl Rng) -> &'static str {
    SENDERS.choose(rng).copied().unwrap_or("ACME")
}

pub fn supplier(rng: &mut impl Rng) -> &'static str {
    SUPPLIERS.choose(rng).copied().unwrap_or("supplier-a")
}

/// A Croatian mobile number, like the gateway's example.
pub fn recipient(rng: &mut impl Rng) -> String {
    format!("+3859{}{:07}", rng.random_range(1..=9), rng.random_range(0..10_000_000))
}

/// The supplier's id of one submitted part: 8 upper-case hex digits, as SMPP SMSCs often use.
pub fn supplier_message_id(rng: &mut impl Rng) -> String {
    format!("{:08X}", rng.random::<u32>())
}

/// A text that really needs `parts` SMPP parts: up to 160 characters for one part, otherwise
/// between `153 * (parts - 1) + 1` (plus a margin) and `153 * parts` characters.
pub fn text(rng: &mut impl Rng, parts: u8) -> String {
    if parts <= 1 {
        let template = SHORT_TEXTS.choose(rng).copied().unwrap_or("Your code is {n}");
        return template.replace("{n}", &rng.random_range(1000..10_000).to_string());
    }
    let parts = usize::from(parts);
    let len = rng.random_range(PART_CHARS * (parts - 1) + 8..=PART_CHARS * parts);
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS.choose(rng).copied().unwrap_or("text"));
    }
    text.truncate(len);
    text
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn text_length_matches_the_part_count() {
        let mut rng = StdRng::seed_from_u64(1);
        for parts in 1..=6u8 {
            for _ in 0..50 {
                let len = text(&mut rng, parts).len();
                let needed = if len <= 160 { 1 } else { len.div_ceil(PART_CHARS) };
                assert_eq!(needed, usize::from(parts), "length {len}");
            }
        }
    }

    #[test]
    fn recipient_looks_like_an_msisdn() {
        let r = recipient(&mut StdRng::seed_from_u64(2));
        assert_eq!(r.len(), 13);
        assert!(r.starts_with("+3859") && r[1..].bytes().all(|b| b.is_ascii_digit()));
    }
}
