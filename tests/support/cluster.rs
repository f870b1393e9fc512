//! A 3-node KRaft cluster on localhost (`scripts/kafka.sh cluster-*`), and what tests/cluster.rs
//! asks of it: where leaders, coordinators and the active controller are, whether every replica
//! is back in sync, and what the tracker consumed against what its group committed.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use rdkafka::admin::{AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{DEADLINE, Scenario, Tracker, admin, bootstrap, wait_for};

/// The cluster's client ports are `PORT_BASE + node` (nodes 1-3), its quorum's
/// `CONTROLLER_PORT_BASE + node`.
pub const PORT_BASE: u16 = 23090;
pub const CONTROLLER_PORT_BASE: u16 = 23190;
pub const NODES: [i32; 3] = [1, 2, 3];

/// A node restart, or the failover after a kill, on a loaded 2-core machine.
pub const RECOVERY_DEADLINE: Duration = Duration::from_secs(240);

pub fn bootstrap_servers() -> String {
    NODES.iter().map(|n| format!("localhost:{}", PORT_BASE + *n as u16)).collect::<Vec<_>>().join(",")
}

/// Runs `scripts/kafka.sh ARGS` against the cluster; its standard output, or `None` on failure.
fn script(args: &[&str]) -> Option<String> {
    let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh"))
        .args(args)
        .env("KAFKA_CLUSTER_PORT_BASE", PORT_BASE.to_string())
        .env("KAFKA_CLUSTER_CONTROLLER_PORT_BASE", CONTROLLER_PORT_BASE.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run scripts/kafka.sh");
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn must(args: &[&str]) {
    assert!(script(args).is_some(), "scripts/kafka.sh {} failed", args.join(" "));
}

/// The running cluster, fresh (its data reset), stopped when dropped — however the test ends.
pub struct Cluster;

impl Cluster {
    pub fn start() -> Self {
        must(&["cluster-reset"]);
        must(&["cluster-start"]);
        Self
    }

    pub fn kill(&self, node: i32) {
        must(&["node-kill", &node.to_string()]);
    }

    /// SIGTERM: a controlled shutdown (leadership moves away first); waits for the exit.
    pub fn stop(&self, node: i32) {
        must(&["node-stop", &node.to_string()]);
    }

    /// The process id of `node`, to signal it at an exact moment (a script would take longer).
    pub fn pid(&self, node: i32) -> u32 {
        script(&["node-pid", &node.to_string()]).and_then(|pid| pid.parse().ok()).expect("node is running")
    }

    pub fn start_node(&self, node: i32) {
        must(&["node-start", &node.to_string()]);
    }

    /// The node id of the quorum's leader (DescribeQuorum), once one is elected.
    pub fn active_controller(&self) -> i32 {
        wait_for("an active controller", RECOVERY_DEADLINE, || script(&["cluster-controller"])?.parse().ok())
    }

    /// The node id of the coordinator of `transactional_id` (DescribeTransactions).
    pub fn transaction_coordinator(&self, transactional_id: &str) -> i32 {
        wait_for("the transaction coordinator", RECOVERY_DEADLINE, || {
            script(&["cluster-coordinator", transactional_id])?.parse().ok()
        })
    }

    /// Waits until every partition of every topic (the internal ones too) has a leader and all
    /// its replicas in sync: the cluster is whole again.
    pub fn wait_all_in_sync(&self) {
        let admin = admin();
        wait_for("every replica back in sync", RECOVERY_DEADLINE, || {
            let metadata = admin.inner().fetch_metadata(None, Duration::from_secs(10)).ok()?;
            let brokers = metadata.brokers().len();
            let whole = metadata.topics().iter().all(|topic| {
                topic.error().is_none()
                    && topic
                        .partitions()
                        .iter()
                        .all(|p| p.error().is_none() && p.leader() >= 0 && p.isr().len() == p.replicas().len())
            });
            (brokers == NODES.len() && whole).then_some(())
        });
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        script(&["cluster-stop"]);
    }
}

/// The node leading `partition` of `topic`.
pub fn partition_leader(topic: &str, partition: i32) -> i32 {
    let admin = admin();
    wait_for(&format!("a leader of {topic}-{partition}"), DEADLINE, || {
        let metadata = admin.inner().fetch_metadata(Some(topic), Duration::from_secs(10)).ok()?;
        let leader = metadata.topics().first()?.partitions().iter().find(|p| p.id() == partition)?.leader();
        (leader >= 0).then_some(leader)
    })
}

/// Both inputs with replication factor 3, as a production gateway's topics would be.
pub fn create_replicated_inputs(scenario: &Scenario, partitions: i32) {
    let admin = admin();
    for topic in [&scenario.sent, &scenario.responses] {
        let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(3));
        let results = futures::executor::block_on(admin.create_topics([&new_topic], &AdminOptions::new()))
            .expect("create topics request");
        for result in results {
            result.unwrap_or_else(|(t, e)| panic!("cannot create {t}: {e}"));
        }
        wait_for(&format!("topic {topic} to be visible on every node"), DEADLINE, || {
            NODES.iter().all(|node| node_sees(*node, topic, partitions)).then_some(())
        });
    }
}

/// Whether `node`'s own metadata shows `topic` with `partitions` partitions: a new client knows
/// only its bootstrap node, so its first metadata request goes there. (The load generator may
/// ask any node, and each learns of a new topic a moment after the controller.)
fn node_sees(node: i32, topic: &str, partitions: i32) -> bool {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", format!("localhost:{}", PORT_BASE + node as u16))
        .create()
        .expect("client");
    client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()
        .and_then(|m| Some(m.topics().first()?.partitions().len() == partitions as usize))
        .unwrap_or(false)
}

/// `(replication factor of every partition, effective min.insync.replicas)` of `topic`.
pub fn replication_of(topic: &str) -> (Vec<usize>, String) {
    let admin = admin();
    let metadata = admin.inner().fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let factors = metadata.topics().first().expect("topic").partitions().iter().map(|p| p.replicas().len()).collect();
    let resource = ResourceSpecifier::Topic(topic);
    let configs = futures::executor::block_on(admin.describe_configs([&resource], &AdminOptions::new()))
        .expect("describe configs request");
    let config = configs.into_iter().next().expect("one resource").expect("topic config");
    let min_isr = config.get("min.insync.replicas").and_then(|e| e.value.clone()).expect("min.insync.replicas");
    (factors, min_isr)
}

/// Input records of `scenario` that `tracker` consumed since it started (its metric).
pub fn consumed_inputs(tracker: &Tracker, scenario: &Scenario) -> i64 {
    let (_, body) = tracker.http_get("/metrics").expect("metrics");
    let inputs = [format!("topic=\"{}\"", scenario.sent), format!("topic=\"{}\"", scenario.responses)];
    body.lines()
        .filter(|line| line.starts_with("sms_tracker_records_consumed_total{"))
        .filter(|line| inputs.iter().any(|topic| line.contains(topic.as_str())))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as i64
}

/// Reads the committed offsets of a scenario's group, connected in advance so that a read right
/// after a fault takes one round trip.
pub struct GroupOffsets {
    consumer: BaseConsumer,
    inputs: TopicPartitionList,
}

impl GroupOffsets {
    pub fn new(scenario: &Scenario, partitions: i32) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .set("group.id", &scenario.app_id)
            .set("enable.auto.commit", "false")
            // Committed offsets only: a read_committed reader would wait for the open
            // transaction's offsets to be decided, and then count them.
            .set("isolation.level", "read_uncommitted")
            .create()
            .expect("consumer");
        let mut inputs = TopicPartitionList::new();
        for topic in [&scenario.sent, &scenario.responses] {
            for partition in 0..partitions {
                inputs.add_partition(topic, partition);
            }
        }
        let offsets = Self { consumer, inputs };
        offsets.committed();
        offsets
    }

    /// The committed offsets summed over both inputs' partitions: input records committed.
    pub fn committed(&self) -> i64 {
        wait_for("the group's committed offsets", RECOVERY_DEADLINE, || {
            let committed = self.consumer.committed_offsets(self.inputs.clone(), Duration::from_secs(10)).ok()?;
            let offsets = committed.elements().into_iter().map(|e| match e.offset() {
                Offset::Offset(offset) => offset,
                _ => 0,
            });
            Some(offsets.sum())
        })
    }
}

pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Records written to both inputs so far (their end offsets): what the load generator produced.
pub fn produced_inputs(scenario: &Scenario) -> i64 {
    let ends: HashMap<(String, i32), i64> = wait_for("the inputs' end offsets", RECOVERY_DEADLINE, || {
        let mut ends = HashMap::new();
        for topic in [&scenario.sent, &scenario.responses] {
            let consumer: BaseConsumer =
                ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("consumer");
            let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).ok()?;
            for partition in metadata.topics().first()?.partitions() {
                let (_, high) = consumer.fetch_watermarks(topic, partition.id(), Duration::from_secs(10)).ok()?;
                ends.insert((topic.clone(), partition.id()), high);
            }
        }
        Some(ends)
    });
    ends.values().sum()
}
