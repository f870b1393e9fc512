//! Command-line and environment configuration.
//!
//! Every flag has an `SMS_TRACKER_*` environment variable, so the Helm chart can configure the
//! tracker without templating a command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::domain::receipt_join::JoinPolicy;
use crate::domain::supplier_id::{IdFormat, IdFormats};
use crate::domain::{DeliveryPolicy, ReceiptParts};

/// Tracks SMS message status on Kafka: joins sent messages with their parts' submit responses and
/// publishes each status change exactly once.
#[derive(Debug, Clone, Parser)]
#[command(name = "sms-tracker", version)]
pub struct Config {
    /// Kafka bootstrap servers, comma-separated.
    #[arg(long, env = "SMS_TRACKER_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    pub bootstrap_servers: String,

    /// Consumer group id, and prefix of the tracker's transactional id and internal topics.
    #[arg(long, env = "SMS_TRACKER_APPLICATION_ID", default_value = "sms-tracker")]
    pub application_id: String,

    /// Stable name of this instance (e.g. the pod name); part of the transactional id, so that a
    /// restarted instance fences its own predecessor at once instead of waiting for a timeout.
    #[arg(long, env = "SMS_TRACKER_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Use static group membership (`group.instance.id` = instance id) so restarts within the
    /// session timeout do not rebalance the group.
    #[arg(long, env = "SMS_TRACKER_STATIC_MEMBERSHIP")]
    pub static_membership: bool,

    /// Input topic of whole messages written by the gateway.
    #[arg(long, env = "SMS_TRACKER_SENT_TOPIC", default_value = "sent-messages")]
    pub sent_topic: String,

    /// Input topic of the parts' SMPP submit responses.
    #[arg(long, env = "SMS_TRACKER_RESPONSES_TOPIC", default_value = "submit-responses")]
    pub responses_topic: String,

    /// Output topic of status changes.
    #[arg(long, env = "SMS_TRACKER_STATUS_TOPIC", default_value = "message-status")]
    pub status_topic: String,

    /// Output topic of records that could not be processed, with the reason in headers.
    #[arg(long, env = "SMS_TRACKER_DEAD_LETTER_TOPIC", default_value = "message-status-dead-letters")]
    pub dead_letter_topic: String,

    /// Input topic of the gateway's SMPP delivery receipts. Receipt tracking (DELIVERED,
    /// UNDELIVERED, DELIVERY_UNKNOWN after SENT) is on only when this is given.
    #[arg(long, env = "SMS_TRACKER_DELIVERY_REPORTS_TOPIC")]
    pub delivery_reports_topic: Option<String>,

    /// How a supplier writes its message ids, `SUPPLIER=same|hex-in-response|hex-in-report`
    /// (comma-separated or repeated; default `same`): many write the submit response's id in
    /// one base and the receipt's in the other, and then nothing would match.
    #[arg(long = "delivery-id-format", env = "SMS_TRACKER_DELIVERY_ID_FORMATS", value_delimiter = ',', value_parser = parse_id_format)]
    pub delivery_id_formats: Vec<(String, IdFormat)>,

    /// Which parts get receipts: `all`, or only the `first` or `last` part (as Kannel- and
    /// Jasmin-style gateways request them); the message's outcome follows those parts.
    #[arg(long, env = "SMS_TRACKER_DELIVERY_RECEIPT_PARTS", default_value = "all")]
    pub delivery_receipt_parts: ReceiptParts,

    /// After SENT, a message without a final delivery outcome this long is DELIVERY_UNKNOWN
    /// (SMS validity periods are commonly 24-72 h).
    #[arg(long, env = "SMS_TRACKER_DELIVERY_TIMEOUT_SECONDS", default_value_t = 172_800)]
    pub delivery_timeout_seconds: u64,

    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(long, env = "SMS_TRACKER_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub http_listen: SocketAddr,

    /// Address of the lookup API (`GET /v1/messages/{id}`); off unless given. Its own listener,
    /// apart from --http-listen, because it serves personal data and the probes must not.
    #[arg(long, env = "SMS_TRACKER_API_LISTEN")]
    pub api_listen: Option<SocketAddr>,

    /// File holding the bearer token every /v1 request must carry (read once at start, surrounding
    /// whitespace ignored). Without it the API answers anyone who can reach --api-listen.
    #[arg(long, env = "SMS_TRACKER_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,

    /// Show the WholeMessage's `text` and `recipient` in lookups; masked by default, since the
    /// people asking rarely need them.
    #[arg(long, env = "SMS_TRACKER_API_REVEAL_CONTENT")]
    pub api_reveal_content: bool,

    /// `host:port` at which the other instances reach this one's --api-listen (on Kubernetes the
    /// pod's stable DNS name). Announced to them through the consumer group; without it lookups
    /// of this instance's partitions are not forwarded to it (503 notOwnedHere elsewhere).
    #[arg(long, env = "SMS_TRACKER_ADVERTISED_ADDRESS", value_parser = parse_host_port)]
    pub advertised_address: Option<String>,

    /// How often the open transaction is committed; bounds the latency of published statuses.
    #[arg(long, env = "SMS_TRACKER_COMMIT_INTERVAL_MS", default_value_t = 100)]
    pub commit_interval_ms: u64,

    /// A known message not terminal this long after its sent-messages record timestamp is
    /// published as EXPIRED; responses whose message does not arrive within it are orphans.
    #[arg(long, env = "SMS_TRACKER_SUBMIT_TIMEOUT_SECONDS", default_value_t = 300)]
    pub submit_timeout_seconds: u64,

    /// How long a terminal marker absorbs late duplicates before the message id is purged.
    #[arg(long, env = "SMS_TRACKER_RETENTION_SECONDS", default_value_t = 3600)]
    pub retention_seconds: u64,

    /// SMPP command_status values the gateway retries (hex or decimal, comma-separated; `none`
    /// when it retries nothing); any other non-zero status fails the whole message.
    #[arg(long, env = "SMS_TRACKER_RETRYABLE_COMMAND_STATUSES", value_parser = parse_status_list, default_value = "0x08,0x14,0x58,0x64")]
    pub retryable_command_statuses: StatusList,

    /// How often each partition checks deadlines (expiry, orphans, purge).
    #[arg(long, env = "SMS_TRACKER_SWEEP_INTERVAL_MS", default_value_t = 1000)]
    pub sweep_interval_ms: u64,

    /// Create missing input topics (for demos and tests; in production the gateway owns them).
    #[arg(long, env = "SMS_TRACKER_CREATE_TOPICS")]
    pub create_topics: bool,

    /// Partition count of input topics created by --create-topics.
    #[arg(long, env = "SMS_TRACKER_PARTITIONS", default_value_t = 8)]
    pub partitions: i32,

    /// Replication factor of topics the tracker creates; -1 takes the broker's default.
    #[arg(long, env = "SMS_TRACKER_REPLICATION_FACTOR", default_value_t = -1)]
    pub replication_factor: i32,

    /// Extra librdkafka properties `key=value` (e.g. security.protocol=SASL_SSL), comma-separated
    /// or repeated. Properties the tracker's guarantees depend on cannot be overridden.
    #[arg(long = "kafka-property", env = "SMS_TRACKER_KAFKA_PROPERTIES", value_delimiter = ',', value_parser = parse_property)]
    pub kafka_properties: Vec<(String, String)>,

    /// SASL username, kept out of --kafka-property so that a Secret can hold any characters.
    #[arg(long, env = "SMS_TRACKER_SASL_USERNAME", hide_env_values = true)]
    pub sasl_username: Option<String>,

    /// SASL password, kept out of --kafka-property so that a Secret can hold any characters.
    #[arg(long, env = "SMS_TRACKER_SASL_PASSWORD", hide_env_values = true)]
    pub sasl_password: Option<String>,

    /// Most records handed to the partition actors at once.
    #[arg(long, env = "SMS_TRACKER_MAX_BATCH_RECORDS", default_value_t = 2000)]
    pub max_batch_records: usize,

    /// How long records of one gateway input wait for the other input's before the broker is
    /// asked whether committed records of it are still to come; if none are (an open transaction,
    /// or a position not known yet) they are processed without them (timestamp order, README
    /// "Semantics"). It delays live processing only while the other input looks behind.
    #[arg(long, env = "SMS_TRACKER_MAX_INPUT_IDLE_MS", default_value_t = 500)]
    pub max_input_idle_ms: u64,

    /// Memory (MiB) the records held back for timestamp order may take, over all partitions.
    /// Beyond it their input partitions are paused, which costs throughput (librdkafka fetches
    /// again what it had prefetched for them); in a backlog one input is often fetched far ahead
    /// of the other, so this buys catch-up speed with memory.
    #[arg(long, env = "SMS_TRACKER_ORDER_BUFFER_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub order_buffer_mib: u64,

    /// Threads running partition actors; 0 means one per CPU core.
    #[arg(long, env = "SMS_TRACKER_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// `/healthz` fails once input has waited this long with no transaction committed (restores
    /// and broker outages apart: each has its own bound), so Kubernetes restarts a stuck pod. Keep
    /// it well above `statistics.interval.ms`, which dates the consumer lag it judges by.
    #[arg(long, env = "SMS_TRACKER_STALL_TIMEOUT_SECONDS", default_value_t = 120)]
    pub stall_timeout_seconds: u64,

    /// How long a graceful shutdown (SIGTERM) may take before the tracker gives up and exits.
    #[arg(long, env = "SMS_TRACKER_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 30)]
    pub shutdown_timeout_seconds: u64,

    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "SMS_TRACKER_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms.max(1))
    }

    pub fn stall_timeout(&self) -> Duration {
        Duration::from_secs(self.stall_timeout_seconds.max(1))
    }

    pub fn max_input_idle(&self) -> Duration {
        Duration::from_millis(self.max_input_idle_ms)
    }

    pub fn order_buffer_bytes(&self) -> usize {
        usize::try_from(self.order_buffer_mib << 20).unwrap_or(usize::MAX)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_seconds)
    }

    /// The instance id, falling back to the host name (the pod name on Kubernetes).
    pub fn instance_name(&self) -> String {
        self.instance_id
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("pid-{}", std::process::id()))
    }

    /// The timeouts and retryable statuses of the state machine.
    pub fn policy(&self) -> crate::domain::Policy {
        crate::domain::Policy {
            submit_timeout_ms: (self.submit_timeout_seconds as i64).saturating_mul(1000),
            retention_ms: (self.retention_seconds as i64).saturating_mul(1000),
            retryable: self.retryable_command_statuses.0.clone(),
            delivery: self.delivery_reports_topic.is_some().then(|| DeliveryPolicy {
                timeout_ms: (self.delivery_timeout_seconds as i64).saturating_mul(1000),
                parts: self.delivery_receipt_parts,
            }),
        }
    }

    /// How long the receipt join keeps what it holds: receipts wait for their submit response
    /// as long as a message waits for its parts; an index entry lives as long as its message.
    pub fn join_policy(&self) -> JoinPolicy {
        let policy = self.policy();
        let delivery = policy.delivery.map_or(0, |d| d.timeout_ms);
        JoinPolicy {
            unmatched_after_ms: policy.submit_timeout_ms,
            keep_index_ms: delivery.saturating_add(policy.retention_ms).saturating_add(policy.submit_timeout_ms),
            retention_ms: policy.retention_ms,
        }
    }

    pub fn id_formats(&self) -> IdFormats {
        let mut formats = IdFormats::default();
        for (supplier, format) in &self.delivery_id_formats {
            formats.insert(supplier.clone(), *format);
        }
        formats
    }

    /// The compacted topic holding the durable copy of every partition's state.
    pub fn changelog_topic(&self) -> String {
        format!("{}-state-changelog", self.application_id)
    }

    pub fn worker_count(&self) -> usize {
        if self.worker_threads > 0 {
            self.worker_threads
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        }
    }
}

/// `key=value`; an empty item (e.g. an empty environment variable) is allowed and skipped.
fn parse_property(s: &str) -> Result<(String, String), String> {
    if s.trim().is_empty() {
        return Ok((String::new(), String::new()));
    }
    let (key, value) = s.split_once('=').ok_or_else(|| format!("expected key=value, got {s:?}"))?;
    Ok((key.trim().to_owned(), value.trim().to_owned()))
}

/// `host:port`, as the other instances will connect to it; `@` would end the name in the
/// consumer's `client.id` that carries it (`kafka::owners`).
fn parse_host_port(s: &str) -> Result<String, String> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("expected host:port, got {s:?}"))?;
    if host.is_empty() || host.contains(['@', '/', ' ']) || port.parse::<u16>().is_err() {
        return Err(format!("expected host:port (a host name or address and a port number), got {s:?}"));
    }
    Ok(s.to_owned())
}

/// `SUPPLIER=format`; an empty item (e.g. an empty environment variable) is allowed and skipped.
fn parse_id_format(s: &str) -> Result<(String, IdFormat), String> {
    if s.trim().is_empty() {
        return Ok((String::new(), IdFormat::Same));
    }
    IdFormats::parse_entry(s)
}

/// A list of SMPP command_status values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList(pub Vec<u32>);

/// `0x58,20`, or `none` (also an empty value) for no status at all.
fn parse_status_list(s: &str) -> Result<StatusList, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(StatusList(Vec::new()));
    }
    s.split(',').map(parse_status).collect::<Result<_, _>>().map(StatusList)
}

fn parse_status(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("invalid command_status {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_wire_contract() {
        let config = Config::try_parse_from(["sms-tracker"]).unwrap();
        assert_eq!(config.sent_topic, "sent-messages");
        assert_eq!(config.responses_topic, "submit-responses");
        assert_eq!(config.status_topic, "message-status");
        assert_eq!(config.dead_letter_topic, "message-status-dead-letters");
        assert_eq!(config.commit_interval(), Duration::from_millis(100));
    }

    #[test]
    fn kafka_properties_are_key_value_pairs() {
        let config =
            Config::try_parse_from(["sms-tracker", "--kafka-property", "a=1,b=x=y", "--kafka-property", "c=3"])
                .unwrap();
        assert_eq!(
            config.kafka_properties,
            vec![("a".into(), "1".into()), ("b".into(), "x=y".into()), ("c".into(), "3".into())]
        );
        assert!(Config::try_parse_from(["sms-tracker", "--kafka-property", "novalue"]).is_err());
        let empty = Config::try_parse_from(["sms-tracker", "--kafka-property", ""]).unwrap();
        assert!(empty.kafka_properties.iter().all(|(k, _)| k.is_empty()), "an empty value sets nothing");
    }

    #[test]
    fn retryable_statuses_are_hex_or_decimal() {
        let config = Config::try_parse_from(["sms-tracker"]).unwrap();
        assert_eq!(config.policy().retryable, vec![0x08, 0x14, 0x58, 0x64]);
        let config = Config::try_parse_from(["sms-tracker", "--retryable-command-statuses", "0x58,20"]).unwrap();
        assert_eq!(config.retryable_command_statuses, StatusList(vec![0x58, 20]));
        assert_eq!(config.policy().submit_timeout_ms, 300_000);
        assert!(Config::try_parse_from(["sms-tracker", "--retryable-command-statuses", "0xZZ"]).is_err());
        assert!(Config::try_parse_from(["sms-tracker", "--retryable-command-statuses", "8,,20"]).is_err());
    }

    #[test]
    fn the_api_is_off_and_content_masked_unless_asked_for() {
        let config = Config::try_parse_from(["sms-tracker"]).unwrap();
        assert_eq!((config.api_listen, config.api_token_file.as_ref(), config.api_reveal_content), (None, None, false));
        let config =
            Config::try_parse_from(["sms-tracker", "--api-listen", "127.0.0.1:8081", "--api-reveal-content"]).unwrap();
        assert_eq!(config.api_listen, Some("127.0.0.1:8081".parse().unwrap()));
        assert!(config.api_reveal_content);
        assert_eq!(config.advertised_address, None, "not forwarded to unless advertised");
        let advertised = |value: &str| {
            Config::try_parse_from(["sms-tracker", "--advertised-address", value]).map(|c| c.advertised_address)
        };
        assert_eq!(advertised("pod-0.tracker:8081").unwrap().as_deref(), Some("pod-0.tracker:8081"));
        assert_eq!(advertised("[::1]:8081").unwrap().as_deref(), Some("[::1]:8081"));
        for bad in ["pod-0", "pod-0:http", ":8081", "a@b:8081", "http://pod-0:8081"] {
            assert!(advertised(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_gateway_that_retries_nothing_can_say_so() {
        for none in ["none", "NONE", ""] {
            let config = Config::try_parse_from(["sms-tracker", "--retryable-command-statuses", none]).unwrap();
            assert!(config.policy().retryable.is_empty(), "{none:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Config values come from environment variables a chart renders or a person types: any
        /// string is a value or a clear error, never a panic.
        #[test]
        fn any_flag_value_parses_or_is_refused_without_panicking(value in "\\PC{0,40}") {
            for flag in [
                "--retryable-command-statuses",
                "--kafka-property",
                "--delivery-id-format",
                "--delivery-receipt-parts",
                "--delivery-timeout-seconds",
                "--commit-interval-ms",
                "--http-listen",
                "--api-listen",
                "--advertised-address",
            ] {
                let _ = Config::try_parse_from(["sms-tracker", flag, value.as_str()]);
            }
        }
    }
}
