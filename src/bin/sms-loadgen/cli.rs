//! Command-line flags. Every flag can also be set through `SMS_LOADGEN_<FLAG>` so that test
//! harnesses and containers can configure runs without building argument lists.

use std::path::PathBuf;

use clap::Parser;

/// Simulates an SMS gateway and its SMPP suppliers: writes whole messages to `sent-messages` and
/// per-part submit responses to `submit-responses`, shuffled within windows like real traffic.
#[derive(Debug, Clone, Parser)]
#[command(name = "sms-loadgen", version)]
pub struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "SMS_LOADGEN_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    pub bootstrap_servers: String,

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

    /// Also write the final summary as JSON to this file.
    #[arg(long, env = "SMS_LOADGEN_SUMMARY_JSON")]
    pub summary_json: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(long, env = "SMS_LOADGEN_QUIET")]
    pub quiet: bool,
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
    }

    #[test]
    fn rejects_out_of_range_values() {
        for bad in
            [["--invalid-share", "1.5"], ["--duplicate-share", "-0.1"], ["--max-parts", "0"], ["--max-parts", "256"]]
        {
            assert!(Args::try_parse_from(["sms-loadgen", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }
}
