//! Command-line flags. Every flag can also be set through `SMS_LOADGEN_<FLAG>` so that test
//! harnesses and containers can configure runs without building argument lists.

use std::path::PathBuf;

use clap::Parser;

use crate::supplier_ids::SupplierIdFormat;

/// Simulates an SMS gateway and its SMPP suppliers: writes whole messages to `sent-messages` and
/// per-part submit responses to `submit-responses`, shuffled within windows like real traffic;
/// with `--delivery-reports-topic` also the suppliers' delivery receipts.
#[derive(Debug, Clone, Parser)]
#[command(name = "sms-loadgen", version)]
pub struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "SMS_LOADGEN_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    pub bootstrap_servers: String,

    /// Extra librdkafka properties `key=value` of every client (e.g. security.protocol=SASL_SSL),
    /// comma-separated or repeated: the tests write to a SASL_SSL broker with them.
    #[arg(long = "kafka-property", env = "SMS_LOADGEN_KAFKA_PROPERTY", value_delimiter = ',', value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,

    /// Topic of WholeMessage records.
    #[arg(long, env = "SMS_LOADGEN_SENT_TOPIC", default_value = "sent-messages")]
    pub sent_topic: String,

    /// Topic of MessagePart submit responses.
    #[arg(long, env = "SMS_LOADGEN_RESPONSES_TOPIC", default_value = "submit-responses")]
    pub responses_topic: String,

    /// Number of valid messages to generate.
    #[arg(long, env = "SMS_LOADGEN_MESSAGES", default_value_t = 100_000)]
    pub messages: u64,

    /// Most parts a message may have; most messages get 1, each further count is 4x rarer.
    #[arg(long, env = "SMS_LOADGEN_MAX_PARTS", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..))]
    pub max_parts: u8,

    /// Per part, probability of an extra duplicate success response after the first.
    #[arg(long, env = "SMS_LOADGEN_DUPLICATE_SHARE", default_value_t = 0.02, value_parser = parse_share)]
    pub duplicate_share: f64,

    /// Per part, probability of a throttled (0x58) response before its success.
    #[arg(long, env = "SMS_LOADGEN_RETRYABLE_SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub retryable_share: f64,

    /// Extra invalid records, as a fraction of the valid records.
    #[arg(long, env = "SMS_LOADGEN_INVALID_SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub invalid_share: f64,

    /// Records per second; 0 is unlimited.
    #[arg(long, env = "SMS_LOADGEN_RATE", default_value_t = 0)]
    pub rate: u64,

    /// Seed of the generator; random if not given. The same seed plans the same records.
    #[arg(long, env = "SMS_LOADGEN_SEED")]
    pub seed: Option<u64>,

    /// Prepended to every message id, to keep runs on shared topics apart.
    #[arg(long, env = "SMS_LOADGEN_ID_PREFIX", default_value = "")]
    pub id_prefix: String,

    /// Messages per shuffled window.
    #[arg(long, env = "SMS_LOADGEN_WINDOW", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,

    /// Create missing topics (with --partitions and --replication-factor).
    #[arg(long, env = "SMS_LOADGEN_CREATE_TOPICS")]
    pub create_topics: bool,

    /// Partitions of topics created by --create-topics.
    #[arg(long, env = "SMS_LOADGEN_PARTITIONS", default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,

    /// Replication factor of topics created by --create-topics.
    #[arg(long, env = "SMS_LOADGEN_REPLICATION_FACTOR", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub replication_factor: i32,

    /// Topic of delivery receipts; only when given are receipts simulated (the other receipt flags
    /// have no effect without it).
    #[arg(long, env = "SMS_LOADGEN_DELIVERY_REPORTS_TOPIC")]
    pub delivery_reports_topic: Option<String>,

    /// Per message, probability that every part gets a final DELIVRD receipt.
    #[arg(long, env = "SMS_LOADGEN_DELIVERED_SHARE", default_value_t = 0.9, value_parser = parse_share)]
    pub delivered_share: f64,

    /// Per message, probability that one part is finally not delivered (UNDELIV, REJECTD or
    /// EXPIRED); the remaining messages have a part that never gets a final receipt.
    #[arg(long, env = "SMS_LOADGEN_UNDELIVERED_SHARE", default_value_t = 0.05, value_parser = parse_share)]
    pub undelivered_share: f64,

    /// Per part, probability of an intermediate ENROUTE (or ACCEPTD) receipt before the final one.
    #[arg(long, env = "SMS_LOADGEN_ENROUTE_SHARE", default_value_t = 0.2, value_parser = parse_share)]
    pub enroute_share: f64,

    /// Per final receipt, probability of an exact duplicate.
    #[arg(long, env = "SMS_LOADGEN_RECEIPT_DUPLICATE_SHARE", default_value_t = 0.02, value_parser = parse_share)]
    pub receipt_duplicate_share: f64,

    /// Per part, probability that its receipts are written before its submit response.
    #[arg(long, env = "SMS_LOADGEN_RECEIPT_BEFORE_RESPONSE_SHARE", default_value_t = 0.1, value_parser = parse_share)]
    pub receipt_before_response_share: f64,

    /// Per receipt, probability of the raw `shortMessage` text instead of structured fields.
    #[arg(long, env = "SMS_LOADGEN_RECEIPT_TEXT_SHARE", default_value_t = 0.3, value_parser = parse_share)]
    pub receipt_text_share: f64,

    /// SUPPLIER=same|hex-in-response|hex-in-report: the bases in which a supplier writes its id in
    /// submit responses and receipts (repeatable; comma-separated in the env var; default same).
    /// Suppliers: supplier-a, supplier-b, supplier-c.
    #[arg(long, visible_alias = "delivery-id-format", env = "SMS_LOADGEN_SUPPLIER_ID_FORMAT", value_delimiter = ',')]
    pub supplier_id_format: Vec<SupplierIdFormat>,

    /// Extra wall-clock delay of receipts written after their submit response. Receipts are
    /// already placed after their response within the shuffled window (a few windows later for a
    /// small tail); this holds them back further. With 0 the output order depends only on the seed.
    #[arg(long, env = "SMS_LOADGEN_RECEIPT_DELAY_MS", default_value_t = 0)]
    pub receipt_delay_ms: u64,

    /// Also write the final summary as JSON to this file.
    #[arg(long, env = "SMS_LOADGEN_SUMMARY_JSON")]
    pub summary_json: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(long, env = "SMS_LOADGEN_QUIET")]
    pub quiet: bool,
}

impl Args {
    /// The settings every client starts from: the bootstrap servers and the extra properties.
    pub fn base_client(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in self.kafka_properties.iter().filter(|(key, _)| !key.is_empty()) {
            config.set(key, value);
        }
        config
    }
}

/// `key=value`; an empty item (e.g. an empty environment variable) is allowed and skipped.
fn parse_property(text: &str) -> Result<(String, String), String> {
    if text.trim().is_empty() {
        return Ok((String::new(), String::new()));
    }
    let (key, value) = text.split_once('=').ok_or_else(|| format!("expected key=value, got {text:?}"))?;
    Ok((key.trim().to_owned(), value.trim().to_owned()))
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        Ok(_) => Err("must be between 0 and 1".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn every_flag_has_its_env_var() {
        for arg in Args::command().get_arguments().filter(|a| a.get_long().is_some()) {
            let long = arg.get_long().unwrap_or_default();
            if long == "help" || long == "version" {
                continue;
            }
            let expected = format!("SMS_LOADGEN_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(expected.as_str()), "--{long}");
        }
    }

    #[test]
    fn defaults_match_the_documentation() {
        let args = Args::try_parse_from(["sms-loadgen"]).unwrap();
        assert_eq!(args.bootstrap_servers, "localhost:9092");
        assert_eq!((args.sent_topic.as_str(), args.responses_topic.as_str()), ("sent-messages", "submit-responses"));
        assert_eq!((args.messages, args.max_parts, args.rate, args.partitions, args.window), (100_000, 4, 0, 8, 1000));
        assert_eq!((args.duplicate_share, args.retryable_share, args.invalid_share), (0.02, 0.0, 0.0));
        assert!(args.seed.is_none() && args.id_prefix.is_empty() && !args.create_topics && !args.quiet);
        assert!(args.delivery_reports_topic.is_none() && args.supplier_id_format.is_empty());
        assert_eq!((args.delivered_share, args.undelivered_share, args.enroute_share), (0.9, 0.05, 0.2));
        assert_eq!(
            (args.receipt_duplicate_share, args.receipt_before_response_share, args.receipt_text_share),
            (0.02, 0.1, 0.3)
        );
        assert_eq!(args.receipt_delay_ms, 0);
    }

    #[test]
    fn supplier_id_formats_repeat_and_accept_the_trackers_flag_name() {
        let args = Args::try_parse_from([
            "sms-loadgen",
            "--supplier-id-format",
            "supplier-a=hex-in-response",
            "--delivery-id-format",
            "supplier-b=hex-in-report,supplier-c=same",
        ])
        .unwrap();
        let named: Vec<_> = args.supplier_id_format.iter().map(|f| (f.supplier, f.format.as_str())).collect();
        assert_eq!(named, [("supplier-a", "hex-in-response"), ("supplier-b", "hex-in-report"), ("supplier-c", "same")]);
        assert!(Args::try_parse_from(["sms-loadgen", "--supplier-id-format", "acme=same"]).is_err());
    }

    #[test]
    fn rejects_out_of_range_values() {
        for bad in [
            ["--invalid-share", "1.5"],
            ["--duplicate-share", "-0.1"],
            ["--max-parts", "0"],
            ["--max-parts", "256"],
            ["--delivered-share", "1.1"],
            ["--receipt-text-share", "-1"],
        ] {
            assert!(Args::try_parse_from(["sms-loadgen", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }
}
