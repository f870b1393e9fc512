//! Start-up checks and creation of topics.
//!
//! The join is only correct when both inputs are co-partitioned, so the tracker refuses to start
//! otherwise. Input topics belong to the gateway and are created only on request; output topics
//! belong to the tracker and get the inputs' partition count, so that a status goes to the same
//! partition number as the records that caused it.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::authorization::{MissingPermission, Operation, Resource};
use super::connection;
use crate::config::Config;
use crate::domain::InputTopic;
use crate::kafka::records::Destination;

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// The names of every topic the tracker reads or writes, resolved once from the configuration.
#[derive(Debug, Clone)]
pub struct TopicNames {
    pub sent: String,
    pub responses: String,
    pub status: String,
    pub dead_letter: String,
    pub changelog: String,
    /// The gateway's receipts; receipt tracking is on only when this is set.
    pub delivery_reports: Option<String>,
    /// Internal topics of receipt tracking, all `<application-id>-…`.
    pub receipt_index: String,
    pub receipts_by_id: String,
    pub matched_receipts: String,
    pub join_changelog: String,
}

impl TopicNames {
    pub fn from_config(config: &Config) -> Self {
        let internal = |name: &str| format!("{}-{name}", config.application_id);
        Self {
            sent: config.sent_topic.clone(),
            responses: config.responses_topic.clone(),
            status: config.status_topic.clone(),
            dead_letter: config.dead_letter_topic.clone(),
            changelog: config.changelog_topic(),
            delivery_reports: config.delivery_reports_topic.clone(),
            receipt_index: internal("receipt-index"),
            receipts_by_id: internal("receipts-by-supplier-id"),
            matched_receipts: internal("receipts-matched"),
            join_changelog: internal("receipt-join-changelog"),
        }
    }

    pub fn receipts_on(&self) -> bool {
        self.delivery_reports.is_some()
    }

    pub fn input(&self, input: InputTopic) -> &str {
        match input {
            InputTopic::SentMessages => &self.sent,
            InputTopic::SubmitResponses => &self.responses,
            InputTopic::MatchedReceipts => &self.matched_receipts,
            InputTopic::ReceiptIndex => &self.receipt_index,
            InputTopic::ReceiptsById => &self.receipts_by_id,
            InputTopic::DeliveryReports => self.delivery_reports.as_deref().unwrap_or_default(),
        }
    }

    /// The input a consumed record's topic name stands for.
    pub fn input_of(&self, topic: &str) -> Option<InputTopic> {
        InputTopic::ALL.into_iter().find(|input| self.input(*input) == topic)
    }

    /// Every topic the group consumer subscribes to.
    pub fn subscribed(&self) -> Vec<&str> {
        let inputs: &[InputTopic] = if self.receipts_on() {
            &InputTopic::ALL
        } else {
            &[InputTopic::SentMessages, InputTopic::SubmitResponses]
        };
        inputs.iter().map(|input| self.input(*input)).collect()
    }

    pub fn output(&self, destination: Destination) -> &str {
        match destination {
            Destination::Status(_) => &self.status,
            Destination::DeadLetter(_) => &self.dead_letter,
            Destination::Changelog => &self.changelog,
            Destination::JoinChangelog => &self.join_changelog,
            Destination::ReceiptIndex => &self.receipt_index,
            Destination::ReceiptById => &self.receipts_by_id,
            Destination::MatchedReceipt => &self.matched_receipts,
        }
    }
}

/// Why the topics are not usable.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error(
        "input topics are not co-partitioned: {sent_topic} has {sent} partitions, {responses_topic} has {responses} partitions; they must be equal"
    )]
    NotCoPartitioned { sent_topic: String, sent: i32, responses_topic: String, responses: i32 },
    #[error("input topic {0} does not exist (create it, or start with --create-topics for demos and tests)")]
    MissingInput(String),
    #[error("output topic {topic} has {actual} partitions, fewer than the inputs' {expected}")]
    OutputTooSmall { topic: String, actual: i32, expected: i32 },
    #[error(
        "internal topic {topic} has {actual} partitions but the inputs have {expected}; its partition p belongs to input partition p, so it cannot be re-partitioned (use a new application id)"
    )]
    InternalMismatch { topic: String, actual: i32, expected: i32 },
    #[error("Kafka metadata request failed: {0}")]
    Kafka(#[from] KafkaError),
    #[error("could not create topic {topic}: {reason}")]
    Create { topic: String, reason: String },
    #[error(transparent)]
    NotAuthorized(#[from] MissingPermission),
    #[error(transparent)]
    Connection(#[from] connection::ConnectionError),
}

/// What the tracker does with each kind of topic, so a refusal can say which ACL is missing.
const INPUT: &[Operation] = &[Operation::Read];
const OUTPUT: &[Operation] = &[Operation::Write];
const INTERNAL: &[Operation] = &[Operation::Read, Operation::Write];

/// Checks and creates topics; returns the inputs' common partition count.
pub async fn prepare(config: &Config) -> Result<i32, TopicError> {
    // Fails fast and clearly on a refused login or an unreachable broker, before anything else.
    connection::check(super::settings::admin(config), &config.sent_topic)?;
    let admin: AdminClient<DefaultClientContext> = super::settings::admin(config).create()?;
    let mut inputs = Vec::new();
    for topic in [&config.sent_topic, &config.responses_topic] {
        inputs.push(ensure_input(&admin, topic, config).await?);
    }
    let (sent, responses) = (inputs[0], inputs[1]);
    if sent != responses {
        return Err(TopicError::NotCoPartitioned {
            sent_topic: config.sent_topic.clone(),
            sent,
            responses_topic: config.responses_topic.clone(),
            responses,
        });
    }
    for topic in [&config.status_topic, &config.dead_letter_topic] {
        ensure_output(&admin, topic, sent, config.replication_factor, &[]).await?;
    }
    let names = TopicNames::from_config(config);
    ensure_internal(&admin, &names.changelog, sent, config.replication_factor, &[("cleanup.policy", "compact")])
        .await?;
    if let Some(reports) = &names.delivery_reports {
        ensure_input(&admin, reports, config).await?;
        for topic in [&names.receipt_index, &names.receipts_by_id, &names.matched_receipts] {
            ensure_internal(&admin, topic, sent, config.replication_factor, &[]).await?;
        }
        let compact = [("cleanup.policy", "compact")];
        ensure_internal(&admin, &names.join_changelog, sent, config.replication_factor, &compact).await?;
        let internal = [&names.receipt_index, &names.receipts_by_id, &names.matched_receipts];
        wait_until_visible(&admin, &internal, sent).await?;
    }
    Ok(sent)
}

/// A created topic reaches the brokers' metadata a moment after the controller acknowledged it.
/// The group's first assignment must already contain every co-partitioned input, or it would
/// look like partitions that do not line up: wait until the metadata shows them all.
async fn wait_until_visible(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[&String],
    partitions: i32,
) -> Result<(), TopicError> {
    let deadline = std::time::Instant::now() + METADATA_TIMEOUT;
    for topic in topics {
        while partition_count(admin, topic, INTERNAL)? != Some(partitions) {
            if std::time::Instant::now() >= deadline {
                return Err(TopicError::Create {
                    topic: topic.to_string(),
                    reason: "not visible in the metadata".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// An input the gateway owns: it must exist, or be created on request (demos and tests).
async fn ensure_input(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    config: &Config,
) -> Result<i32, TopicError> {
    match partition_count(admin, topic, INPUT)? {
        Some(count) => Ok(count),
        None if config.create_topics => {
            create(admin, topic, config.partitions, config.replication_factor, &[]).await?;
            Ok(config.partitions)
        }
        None => Err(TopicError::MissingInput(topic.to_owned())),
    }
}

/// An internal topic whose partition p belongs to input partition p: exactly `partitions`.
async fn ensure_internal(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replication: i32,
    topic_config: &[(&str, &str)],
) -> Result<(), TopicError> {
    match partition_count(admin, topic, INTERNAL)? {
        Some(actual) if actual == partitions => Ok(()),
        Some(actual) => Err(TopicError::InternalMismatch { topic: topic.to_owned(), actual, expected: partitions }),
        None => create(admin, topic, partitions, replication, topic_config).await,
    }
}

/// Creates an output topic with `partitions` partitions unless it exists with at least as many.
pub async fn ensure_output(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replication: i32,
    topic_config: &[(&str, &str)],
) -> Result<(), TopicError> {
    match partition_count(admin, topic, OUTPUT)? {
        Some(actual) if actual >= partitions => Ok(()),
        Some(actual) => Err(TopicError::OutputTooSmall { topic: topic.to_owned(), actual, expected: partitions }),
        None => create(admin, topic, partitions, replication, topic_config).await,
    }
}

/// The partition count of `topic`, or `None` if it does not exist. `needs` is what the tracker
/// does with the topic: a principal allowed none of it may not even see it.
pub fn partition_count(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    needs: &[Operation],
) -> Result<Option<i32>, TopicError> {
    let metadata = admin.inner().fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match found.error() {
        None if !found.partitions().is_empty() => Ok(Some(found.partitions().len() as i32)),
        None => Ok(None),
        Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition => Ok(None),
        Some(e) => {
            let error = KafkaError::MetadataFetch(e.into());
            match MissingPermission::of(&error, needs, Resource::Topic(topic.to_owned())) {
                Some(missing) => Err(missing.into()),
                None => Err(TopicError::Kafka(error)),
            }
        }
    }
}

async fn create(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replication: i32,
    topic_config: &[(&str, &str)],
) -> Result<(), TopicError> {
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (key, value) in topic_config {
        new_topic = new_topic.set(key, value);
    }
    let results =
        admin.create_topics([&new_topic], &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT))).await?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic, partitions, "Created topic"),
            // Another instance created it at the same moment: fine.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                let create = &[Operation::Create];
                // Kafka allows CREATE on the topic or on the cluster; README lists the former.
                let refused =
                    MissingPermission::of_code(code, &code.to_string(), create, Resource::Topic(topic.into())).or_else(
                        || {
                            MissingPermission::of_code(code, &code.to_string(), create, Resource::Cluster)
                                .map(|m| MissingPermission { resource: Resource::Topic(topic.to_owned()), ..m })
                        },
                    );
                return Err(match refused {
                    Some(missing) => missing.into(),
                    None => TopicError::Create { topic: topic.to_owned(), reason: code.to_string() },
                });
            }
        }
    }
    Ok(())
}
