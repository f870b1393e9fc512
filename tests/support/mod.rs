//! Shared helpers for the integration tests: they run against the real Kafka broker started by
//! `scripts/kafka.sh start` (`KAFKA_BOOTSTRAP`, default localhost:9092). Each test makes its own
//! topics and consumer group, so tests run in parallel on one broker; waiting is always for a
//! condition with a deadline, never a fixed sleep.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub const DEADLINE: Duration = Duration::from_secs(90);

pub fn bootstrap() -> String {
    if let Some(broker) = BROKER.get() {
        return broker.bootstrap.clone();
    }
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "localhost:9092".into())
}

/// Another broker than the shared one, with the properties every helper's client needs there
/// (e.g. a SASL_SSL broker and its super user's login, in tests/security.rs).
pub struct Broker {
    pub bootstrap: String,
    pub properties: Vec<(String, String)>,
}

static BROKER: std::sync::OnceLock<Broker> = std::sync::OnceLock::new();

/// Points every helper of this test binary at `broker` (safe to call from parallel tests: the
/// first call wins, later ones must pass the same broker).
pub fn use_broker(broker: Broker) {
    let _ = BROKER.set(broker);
}

/// A client of the test's broker, with its properties; every helper starts from this.
pub fn client() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap());
    for (key, value) in BROKER.get().map(|b| b.properties.as_slice()).unwrap_or_default() {
        config.set(key, value);
    }
    config
}

/// `--kafka-property` flags carrying the test broker's properties (for the load generator).
fn kafka_property_args() -> Vec<String> {
    let properties = BROKER.get().map(|b| b.properties.as_slice()).unwrap_or_default();
    properties.iter().flat_map(|(key, value)| ["--kafka-property".to_owned(), format!("{key}={value}")]).collect()
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000_000;
    format!("{prefix}-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Polls `condition` until it returns `Some`, or panics with `what` after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut condition: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The four topics and the group of one test.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub app_id: String,
    pub sent: String,
    pub responses: String,
    pub status: String,
    pub dead_letters: String,
}

impl Scenario {
    /// Names only; topics are created by [`Scenario::create_inputs`] or the tracker.
    pub fn new(test: &str) -> Self {
        let id = unique(test);
        Self {
            app_id: format!("{id}-app"),
            sent: format!("{id}-sent"),
            responses: format!("{id}-responses"),
            status: format!("{id}-status"),
            dead_letters: format!("{id}-dlq"),
        }
    }

    pub fn create_inputs(&self, sent_partitions: i32, responses_partitions: i32) {
        create_topic(&self.sent, sent_partitions);
        create_topic(&self.responses, responses_partitions);
    }

    pub fn tracker_args(&self) -> Vec<String> {
        [
            ("--bootstrap-servers", bootstrap()),
            ("--application-id", self.app_id.clone()),
            ("--sent-topic", self.sent.clone()),
            ("--responses-topic", self.responses.clone()),
            ("--status-topic", self.status.clone()),
            ("--dead-letter-topic", self.dead_letters.clone()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_owned(), v])
        .collect()
    }

    /// Waits until the tracker's group has committed every input record (all processed), then
    /// returns every committed record of `topic`. Asserting on this result proves both presence
    /// and absence: nothing more can arrive from the inputs already written.
    pub fn settled_output(&self, topic: &str) -> Vec<OwnedMessage> {
        self.wait_caught_up();
        read_to_end(topic)
    }

    pub fn wait_caught_up(&self) {
        let consumer = consumer_with_group(&self.app_id);
        let mut inputs = TopicPartitionList::new();
        for topic in [&self.sent, &self.responses] {
            for (partition, end) in end_offsets(topic) {
                inputs.add_partition_offset(topic, partition, Offset::Offset(end)).unwrap();
            }
        }
        wait_for("the tracker to commit all input offsets", DEADLINE, || {
            let committed = consumer.committed_offsets(inputs.clone(), Duration::from_secs(10)).ok()?;
            let behind = inputs.elements().iter().any(|wanted| {
                let Offset::Offset(end) = wanted.offset() else { return true };
                if end == 0 {
                    return false;
                }
                let got = committed.find_partition(wanted.topic(), wanted.partition()).map(|e| e.offset());
                !matches!(got, Some(Offset::Offset(c)) if c >= end)
            });
            (!behind).then_some(())
        });
    }
}

pub fn admin() -> AdminClient<DefaultClientContext> {
    client().create().expect("admin client")
}

pub fn create_topic(topic: &str, partitions: i32) {
    let admin = admin();
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics([&new_topic], &AdminOptions::new()))
        .expect("create topics request");
    for result in results {
        result.unwrap_or_else(|(t, e)| panic!("cannot create {t}: {e}"));
    }
    // Creation is acknowledged by the controller before every client sees the topic.
    wait_for(&format!("topic {topic} to be visible"), DEADLINE, || {
        let metadata = admin.inner().fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
        (metadata.topics().first()?.partitions().len() == partitions as usize).then_some(())
    });
}

/// A producer of test input that partitions like the Java client (and the gateway).
pub struct Input {
    producer: BaseProducer,
}

impl Input {
    pub fn new() -> Self {
        let producer = client().set("partitioner", "murmur2_random").set("linger.ms", "0").create().expect("producer");
        Self { producer }
    }

    pub fn send(&self, topic: &str, key: Option<&str>, value: Option<&str>) {
        self.send_bytes(topic, key.map(str::as_bytes), value.map(str::as_bytes));
    }

    pub fn send_bytes(&self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.producer.send(record).map_err(|(e, _)| e).expect("enqueue test record");
        self.producer.flush(Duration::from_secs(30)).expect("deliver test record");
    }
}

impl Default for Input {
    fn default() -> Self {
        Self::new()
    }
}

fn consumer_with_group(group: &str) -> BaseConsumer {
    client()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer")
}

/// High watermark per partition, including records of transactions still open. A read_committed
/// reader that reaches it has seen every transaction decided so far; one still open (e.g. of a
/// killed tracker, until the broker aborts it) holds the reader back until it is decided.
pub fn end_offsets(topic: &str) -> Vec<(i32, i64)> {
    let consumer: BaseConsumer = client().set("isolation.level", "read_uncommitted").create().expect("consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let partitions = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect::<Vec<_>>();
    partitions
        .into_iter()
        .map(|p| (p, consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks").1))
        .collect()
}

/// Every committed record of `topic`, read with read_committed up to the current end.
pub fn read_to_end(topic: &str) -> Vec<OwnedMessage> {
    let consumer = consumer_with_group(&unique("reader"));
    let ends: HashMap<i32, i64> = end_offsets(topic).into_iter().collect();
    let mut assignment = TopicPartitionList::new();
    for partition in ends.keys() {
        assignment.add_partition_offset(topic, *partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let mut records = Vec::new();
    wait_for(&format!("reading {topic} to its end"), DEADLINE, || {
        while let Some(result) = consumer.poll(Duration::from_millis(100)) {
            records.push(result.expect("consume").detach());
        }
        let position = consumer.position().ok()?;
        let done = ends.iter().all(|(partition, end)| {
            *end == 0 || matches!(position.find_partition(topic, *partition).map(|e| e.offset()), Some(Offset::Offset(p)) if p >= *end)
        });
        done.then_some(())
    });
    records
}

/// Waits until `topic` holds at least `count` committed records; returns them all.
pub fn wait_for_records(topic: &str, count: usize) -> Vec<OwnedMessage> {
    wait_for(&format!("{count} records on {topic}"), DEADLINE, || {
        let records = read_to_end(topic);
        (records.len() >= count).then_some(records)
    })
}

pub fn header(record: &OwnedMessage, name: &str) -> Option<String> {
    let headers = record.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
}

pub fn json(record: &OwnedMessage) -> serde_json::Value {
    serde_json::from_slice(record.payload().expect("value")).expect("JSON value")
}

pub fn key(record: &OwnedMessage) -> String {
    String::from_utf8(record.key().expect("key").to_vec()).expect("UTF-8 key")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Tests kill trackers: let the group notice a dead member quickly.
const TEST_CONSUMER_PROPERTIES: &str = "session.timeout.ms=6000,heartbeat.interval.ms=500";

/// A tracker process, killed when dropped.
pub struct Tracker {
    child: Child,
    pub http_port: u16,
    pub log: PathBuf,
}

impl Tracker {
    /// Starts the tracker binary and waits until `/readyz` says ready.
    pub fn start(scenario: &Scenario, extra: &[&str]) -> Self {
        let tracker = Self::spawn(scenario, extra);
        tracker.wait_ready();
        tracker
    }

    pub fn spawn(scenario: &Scenario, extra: &[&str]) -> Self {
        Self::spawn_instance(scenario, None, extra)
    }

    /// Starts an instance with a stable name (as a StatefulSet pod has): a restart with the same
    /// name fences its predecessor's transaction at once.
    pub fn start_instance(scenario: &Scenario, instance: &str, extra: &[&str]) -> Self {
        let tracker = Self::spawn_instance(scenario, Some(instance), extra);
        tracker.wait_ready();
        tracker
    }

    pub fn spawn_instance(scenario: &Scenario, instance: Option<&str>, extra: &[&str]) -> Self {
        Self::spawn_program(env!("CARGO_BIN_EXE_sms-tracker"), scenario, instance, extra)
    }

    /// Starts `sms-tracker-faults` (the tracker with fault injection, built only with the
    /// `fault-injection` feature) and waits until it is ready.
    #[cfg(feature = "fault-injection")]
    pub fn start_with_faults(scenario: &Scenario, extra: &[&str]) -> Self {
        let tracker = Self::spawn_with_faults(scenario, extra);
        tracker.wait_ready();
        tracker
    }

    /// Starts the tracker configured as the Helm chart does it: pass-through Kafka properties in
    /// `SMS_TRACKER_KAFKA_PROPERTIES` (which a `--kafka-property` flag would replace, so the test
    /// settings go there too) and the other `env` variables (e.g. the SASL login).
    pub fn spawn_with_env(scenario: &Scenario, kafka_properties: &str, env: &[(&str, &str)], extra: &[&str]) -> Self {
        let properties = format!("{kafka_properties},{TEST_CONSUMER_PROPERTIES}");
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.push(("SMS_TRACKER_KAFKA_PROPERTIES", &properties));
        Self::spawn_configured(env!("CARGO_BIN_EXE_sms-tracker"), scenario, None, extra, &env)
    }

    /// [`Tracker::start_with_faults`] without waiting for readiness.
    #[cfg(feature = "fault-injection")]
    pub fn spawn_with_faults(scenario: &Scenario, extra: &[&str]) -> Self {
        Self::spawn_program(env!("CARGO_BIN_EXE_sms-tracker-faults"), scenario, None, extra)
    }

    fn spawn_program(program: &str, scenario: &Scenario, instance: Option<&str>, extra: &[&str]) -> Self {
        let extra: Vec<&str> =
            ["--kafka-property", TEST_CONSUMER_PROPERTIES].into_iter().chain(extra.iter().copied()).collect();
        Self::spawn_configured(program, scenario, instance, &extra, &[])
    }

    fn spawn_configured(
        program: &str,
        scenario: &Scenario,
        instance: Option<&str>,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let http_port = free_port();
        let instance = instance.map_or_else(|| format!("i{http_port}"), str::to_owned);
        let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tracker-logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let log = log_dir.join(format!("{}-{instance}-{http_port}.log", scenario.app_id));
        let child = Command::new(program)
            .args(scenario.tracker_args())
            .args(["--http-listen", &format!("127.0.0.1:{http_port}"), "--instance-id", &instance])
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info,librdkafka=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        Self { child, http_port, log }
    }

    pub fn wait_ready(&self) {
        wait_for("the tracker to become ready", DEADLINE, || {
            (self.http_get("/readyz").map(|(status, _)| status) == Some(200)).then_some(())
        });
    }

    /// `(status code, body)` of a GET on the tracker's HTTP server.
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.http_port, path)
    }

    /// The value of an unlabelled or fully labelled metric line, e.g. `name{label="x"}`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric(self.http_port, series)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to commit or leave the group.
    pub fn sigkill(mut self) {
        unsafe_signal(self.child.id(), "KILL");
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        unsafe_signal(self.child.id(), "TERM");
        wait_for("the tracker to exit", DEADLINE, || self.child.try_wait().ok().flatten())
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(mut self) -> ExitStatus {
        wait_for("the tracker to exit", DEADLINE, || self.child.try_wait().ok().flatten())
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let exited = self.child.try_wait().ok().flatten();
        if std::thread::panicking() && exited.is_none() {
            // A tracker that is alive but made no progress: where each of its threads waits.
            eprintln!("--- where the tracker's threads are ---\n{}", thread_stacks(self.child.id()));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // CI keeps only the end of a failing run's output: put the tracker's story there.
            let state = exited.map_or_else(|| "still running".to_owned(), |status| format!("had exited: {status}"));
            eprintln!("--- tracker {state}; last lines of its log {} ---", self.log.display());
            eprintln!("{}", log_tail(&self.logs(), 40));
        }
    }
}

/// The tracker's own and librdkafka's frames of every thread, from gdb if it is installed.
fn thread_stacks(pid: u32) -> String {
    let output = Command::new("timeout")
        .args(["30", "gdb", "-p", &pid.to_string(), "-batch", "-ex", "thread apply all bt 30"])
        .output();
    let Ok(output) = output else { return "(gdb not available)".into() };
    let text = String::from_utf8_lossy(&output.stdout);
    let wanted = ["Thread ", "sms_tracker", "rd_kafka", "rdkafka", "actix"];
    // librdkafka's own threads (dozens, one per client and broker) only wait for I/O: the
    // tracker's threads come first, or the limit would cut them off.
    let mut own = Vec::new();
    let mut librdkafka = Vec::new();
    let mut in_librdkafka_thread = false;
    for line in text.lines().filter(|line| wanted.iter().any(|w| line.contains(w))) {
        if line.starts_with("Thread ") {
            in_librdkafka_thread = line.contains("\"rdk:");
        }
        if in_librdkafka_thread { librdkafka.push(line) } else { own.push(line) }
    }
    own.into_iter().chain(librdkafka).take(300).collect::<Vec<_>>().join("\n")
}

/// The last `lines` lines of a tracker log that tell what happened, without librdkafka's
/// connection chatter (one line per refused connection during an outage).
fn log_tail(log: &str, lines: usize) -> String {
    let noise = ["Connect to ipv4", "Global error", "librdkafka retries on its own", "Dead-lettering"];
    let story: Vec<&str> = log.lines().filter(|line| !noise.iter().any(|n| line.contains(n))).collect();
    story[story.len().saturating_sub(lines)..].join("\n")
}

/// The broker's jars (fetched by `scripts/kafka.sh`), for Kafka's own command-line tools.
fn kafka_classpath() -> String {
    let home = std::env::var("KAFKA_HOME").map(PathBuf::from).unwrap_or_else(|_| {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::read_dir(&target)
            .expect("target/")
            .filter_map(|entry| Some(entry.ok()?.path()))
            .find(|path| path.join("lib/.complete").exists())
            .expect("the broker jars (scripts/kafka.sh fetch)")
    });
    format!("{}/lib/*", home.display())
}

/// The state of a transactional id's latest transaction at its coordinator (`Ongoing`,
/// `CompleteCommit`, ...), from Kafka's own `kafka-transactions describe`.
pub fn transaction_state(transactional_id: &str) -> String {
    let output = Command::new("java")
        .args(["-cp", &kafka_classpath(), "org.apache.kafka.tools.TransactionsCommand"])
        .args(["--bootstrap-server", &bootstrap(), "describe", "--transactional-id", transactional_id])
        .output()
        .expect("run kafka-transactions");
    let text = String::from_utf8_lossy(&output.stdout);
    let header: Vec<&str> = text.lines().next().unwrap_or_default().split_whitespace().collect();
    let row: Vec<&str> = text.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    let column = header.iter().position(|h| *h == "TransactionState");
    column.and_then(|c| row.get(c)).map_or_else(
        || panic!("no transaction state for {transactional_id}: {text}{}", String::from_utf8_lossy(&output.stderr)),
        |state| state.to_string(),
    )
}

impl Tracker {
    /// Input records this process has processed so far (committed or not).
    pub fn records_processed(&self) -> f64 {
        let Some((_, text)) = self.http_get("/metrics") else { return 0.0 };
        text.lines()
            .filter(|line| line.starts_with("sms_tracker_records_consumed_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits until the tracker has processed `records` more input records. Published counts move
    /// only when a transaction commits, so a fault timed by them alone would fall just after a
    /// commit; this moves it to where the next transaction holds processed input.
    pub fn wait_for_more_processed(&self, records: f64) {
        let target = self.records_processed() + records;
        wait_for("the tracker to process more input", DEADLINE, || (self.records_processed() >= target).then_some(()));
    }

    /// SIGKILLs an instance started with `instance` and tells whether it died with a transaction
    /// open (processed input not committed): a dead producer's transaction cannot move on by
    /// itself, except to an abort once it times out, so its coordinator's state says what was
    /// open at the kill.
    pub fn sigkill_reporting_open_transaction(self, scenario: &Scenario, instance: &str) -> bool {
        self.sigkill();
        let state = transaction_state(&format!("{}-{instance}", scenario.app_id));
        eprintln!("killed {instance}: its transaction is {state}");
        matches!(state.as_str(), "Ongoing" | "PrepareAbort" | "CompleteAbort")
    }
}

/// The load generator binary, run as the gateway would: a separate process writing both inputs.
pub struct LoadGen {
    child: Child,
    summary: PathBuf,
    pub id_prefix: String,
}

impl LoadGen {
    /// Starts `sms-loadgen` for `messages` whole messages at `rate` records/s (0 = unlimited).
    pub fn spawn(scenario: &Scenario, messages: usize, rate: u64, extra: &[&str]) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("loadgen");
        std::fs::create_dir_all(&dir).unwrap();
        let summary = dir.join(format!("{}.json", scenario.app_id));
        let id_prefix = format!("{}-", scenario.app_id);
        let child = Command::new(env!("CARGO_BIN_EXE_sms-loadgen"))
            .args(["--bootstrap-servers", &bootstrap(), "--sent-topic", &scenario.sent])
            .args(["--responses-topic", &scenario.responses, "--messages", &messages.to_string()])
            .args(["--rate", &rate.to_string(), "--id-prefix", &id_prefix, "--quiet"])
            .args(["--seed", "42", "--summary-json", summary.to_str().unwrap()])
            .args(kafka_property_args())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{}.log", scenario.app_id))).unwrap())
            .spawn()
            .expect("start sms-loadgen");
        Self { child, summary, id_prefix }
    }

    pub fn finished(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Waits for the generator to finish successfully; returns its summary.
    pub fn wait(mut self) -> serde_json::Value {
        let status =
            wait_for("the load generator to finish", Duration::from_secs(600), || self.child.try_wait().ok().flatten());
        assert!(status.success(), "sms-loadgen failed: {status:?}");
        self.read_summary()
    }

    /// Stops the generator early with Ctrl-C (it completes its current window, so every message
    /// it sent is whole) and returns its summary of what it actually wrote. For fault tests whose
    /// faults take a varying number of rounds: the input lasts until they are done.
    pub fn stop(mut self) -> serde_json::Value {
        assert!(!self.finished(), "the input ended before the faults were done: they would not land mid-stream");
        unsafe_signal(self.child.id(), "INT");
        let status =
            wait_for("the load generator to stop", Duration::from_secs(120), || self.child.try_wait().ok().flatten());
        assert_eq!(status.code(), Some(130), "sms-loadgen stops as interrupted: {status:?}");
        let summary = self.read_summary();
        assert_eq!(summary["interrupted"], true);
        summary
    }

    fn read_summary(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&self.summary).unwrap()).expect("summary JSON")
    }
}

impl Drop for LoadGen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that the settled outputs hold exactly one SENT per generated message and exactly one
/// dead letter per invalid record (distinct source offsets), and nothing else.
pub fn assert_exactly_once(scenario: &Scenario, summary: &serde_json::Value, id_prefix: &str) {
    let messages = summary["messages"].as_u64().unwrap() as usize;
    let invalid = summary["invalid_records"].as_u64().unwrap() as usize;
    let statuses = scenario.settled_output(&scenario.status);
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for record in &statuses {
        assert_eq!(json(record)["status"], "SENT");
        *per_id.entry(key(record)).or_default() += 1;
    }
    let duplicated: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(duplicated.is_empty(), "published more than once: {duplicated:?}");
    assert!(per_id.keys().all(|id| id.starts_with(id_prefix)), "only generated ids");
    assert_eq!(per_id.len(), messages, "one SENT per valid message ({} records)", statuses.len());
    if let Some(ids) = summary["message_ids"].as_array() {
        let planned: std::collections::BTreeSet<&str> = ids.iter().filter_map(|id| id.as_str()).collect();
        let published: std::collections::BTreeSet<&str> = per_id.keys().map(String::as_str).collect();
        let missing: Vec<_> = planned.difference(&published).take(5).collect();
        let foreign: Vec<_> = published.difference(&planned).take(5).collect();
        assert!(missing.is_empty() && foreign.is_empty(), "exact id set: missing {missing:?}, not planned {foreign:?}");
    }
    assert_eq!(statuses.len(), messages);
    let dead = read_to_end(&scenario.dead_letters);
    let sources: std::collections::HashSet<(String, String, String)> = dead
        .iter()
        .map(|r| {
            let h = |n| header(r, n).unwrap_or_default();
            (h("source.topic"), h("source.partition"), h("source.offset"))
        })
        .collect();
    assert_eq!(sources.len(), dead.len(), "each invalid record dead-lettered once");
    assert_eq!(dead.len(), invalid, "one dead letter per invalid record");
}

/// A receipt run: the delivery-reports topic (3 partitions: it need not match the inputs), and
/// the flags of the tracker and the load generator, with two suppliers writing ids in another
/// base (`--delivery-id-format` on both sides) and a short delivery timeout.
pub struct Receipts {
    pub topic: String,
    pub tracker_args: Vec<String>,
    pub loadgen_args: Vec<String>,
}

impl Receipts {
    pub fn create(scenario: &Scenario, delivery_timeout_seconds: u64) -> Self {
        let topic = format!("{}-dlr", scenario.app_id);
        create_topic(&topic, 3);
        let formats = "supplier-a=hex-in-response,supplier-b=hex-in-report";
        let tracker_args = [
            ("--delivery-reports-topic", topic.clone()),
            ("--delivery-id-format", formats.to_owned()),
            ("--delivery-timeout-seconds", delivery_timeout_seconds.to_string()),
        ];
        let loadgen_args = [("--delivery-reports-topic", topic.clone()), ("--supplier-id-format", formats.to_owned())];
        let flat = |pairs: &[(&str, String)]| pairs.iter().flat_map(|(k, v)| [k.to_string(), v.clone()]).collect();
        Self { tracker_args: flat(&tracker_args), loadgen_args: flat(&loadgen_args), topic }
    }

    pub fn tracker_args(&self) -> Vec<&str> {
        self.tracker_args.iter().map(String::as_str).collect()
    }

    pub fn loadgen_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        self.loadgen_args.iter().map(String::as_str).chain(extra.iter().copied()).collect()
    }
}

/// Asserts, for a run with receipts, that every generated message got exactly one SENT and
/// after it exactly one delivery outcome, the one the generator planned (exact id sets), and one
/// dead letter per invalid record. Waits until every outcome is published (the timeouts decide
/// some), then stops `tracker` gracefully so that nothing more can follow, and reads all.
pub fn assert_delivery_exactly_once(scenario: &Scenario, summary: &serde_json::Value, tracker: Tracker) {
    let ids = |field: &str| -> std::collections::BTreeSet<String> {
        summary[field].as_array().expect(field).iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    let expected: Vec<(&str, std::collections::BTreeSet<String>)> = vec![
        ("DELIVERED", ids("expected_delivered_ids")),
        ("UNDELIVERED", ids("expected_undelivered_ids")),
        ("DELIVERY_UNKNOWN", ids("expected_delivery_unknown_ids")),
    ];
    let messages = summary["messages"].as_u64().unwrap() as usize;
    assert_eq!(
        expected.iter().map(|(_, ids)| ids.len()).sum::<usize>(),
        messages,
        "every message has a planned outcome"
    );
    scenario.wait_caught_up();
    wait_for("every delivery outcome", Duration::from_secs(180), || {
        let outcomes = read_to_end(&scenario.status).iter().filter(|r| json(r)["status"] != "SENT").count();
        (outcomes >= messages).then_some(())
    });
    assert!(tracker.terminate().success(), "the tracker stops cleanly");
    let mut per_id: HashMap<String, Vec<String>> = HashMap::new();
    for record in read_to_end(&scenario.status) {
        per_id.entry(key(&record)).or_default().push(json(&record)["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(per_id.len(), messages, "a status for every message and nothing else");
    for (status, ids) in &expected {
        let wrong: Vec<_> = ids
            .iter()
            .filter(|id| per_id.get(*id).map(Vec::as_slice) != Some(&["SENT".to_owned(), status.to_string()][..]))
            .take(5)
            .map(|id| (id, per_id.get(id)))
            .collect();
        assert!(wrong.is_empty(), "expected SENT then {status}, got: {wrong:?}");
    }
    let dead = read_to_end(&scenario.dead_letters);
    let unmatched =
        dead.iter().filter(|r| header(r, "error.reason").is_some_and(|h| h.starts_with("unmatched"))).count();
    assert_eq!(unmatched, 0, "every receipt matched its submit response");
    assert_eq!(dead.len(), summary["invalid_records"].as_u64().unwrap() as usize, "one dead letter per invalid record");
}

/// A real Prometheus server and promtool (tests/observability.rs).
pub mod prometheus;

/// A 3-node KRaft cluster (tests/cluster.rs).
pub mod cluster;

/// Headless Chromium over WebDriver (tests/lookup_page.rs).
pub mod webdriver;

/// `(status code, body)` of a GET on a local tracker's HTTP server.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// `(status code, body)` of a POST of the JSON `body` on a local tracker's HTTP server.
pub fn http_post_json(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// The value of an unlabelled or fully labelled metric line, e.g. `name{label="x"}`.
pub fn metric(port: u16, series: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics")?;
    body.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}
