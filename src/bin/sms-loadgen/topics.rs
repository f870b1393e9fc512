//! Checking (and with `--create-topics`, creating) the two topics before producing.
//!
//! Brokers usually have auto topic creation disabled; producing to a missing topic would only fail
//! after the delivery timeout, record by record. Checking first fails fast with a clear message.
//! Unequal partition counts are reported too: the tracker joins the topics partition by partition.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use tracing::{info, warn};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Topic creation parameters, from `--create-topics`.
#[derive(Debug, Clone, Copy)]
pub struct Creation {
    pub partitions: i32,
    pub replication_factor: i32,
}

/// Makes sure every topic exists, creating missing ones if `create` is given.
pub fn ensure(client: &ClientConfig, topics: &[&str], create: Option<Creation>) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client.create().context("creating the Kafka admin client")?;
    let counts = partition_counts(&admin, topics)?;
    let missing: Vec<&str> = topics.iter().zip(&counts).filter(|(_, c)| c.is_none()).map(|(t, _)| *t).collect();
    if !missing.is_empty() {
        let Some(creation) = create else {
            bail!("topic(s) {} do not exist; create them or pass --create-topics", missing.join(", "));
        };
        create_topics(&admin, &missing, creation)?;
    }
    let counts = partition_counts(&admin, topics)?;
    let found: Vec<String> = topics.iter().zip(&counts).map(|(t, c)| format!("{t}: {}", c.unwrap_or(0))).collect();
    if counts.windows(2).any(|pair| pair[0] != pair[1]) {
        warn!("partition counts differ ({}); the topics are not co-partitioned", found.join(", "));
    }
    Ok(())
}

/// The partition count of each topic, `None` where the topic does not exist.
fn partition_counts(admin: &AdminClient<DefaultClientContext>, topics: &[&str]) -> Result<Vec<Option<usize>>> {
    let metadata = admin.inner().fetch_metadata(None, METADATA_TIMEOUT).context("fetching cluster metadata")?;
    let counts = topics
        .iter()
        .map(|name| {
            let topic = metadata.topics().iter().find(|t| t.name() == *name && t.error().is_none());
            topic.map(|t| t.partitions().len()).filter(|&n| n > 0)
        })
        .collect();
    Ok(counts)
}

fn create_topics(admin: &AdminClient<DefaultClientContext>, names: &[&str], creation: Creation) -> Result<()> {
    let new_topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| NewTopic::new(name, creation.partitions, TopicReplication::Fixed(creation.replication_factor)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    // The admin client's futures are completed by librdkafka's own thread; any executor will do.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().context("starting tokio")?;
    let results = runtime.block_on(admin.create_topics(&new_topics, &options)).context("creating topics")?;
    for result in results {
        match result {
            Ok(name) => info!(topic = %name, partitions = creation.partitions, "created topic"),
            // Another run may have created it in the meantime: fine.
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => info!(topic = %name, "topic already exists"),
            Err((name, code)) => bail!("creating topic {name} failed: {code}"),
        }
    }
    Ok(())
}
