//! Exactly once on a real 3-node KRaft cluster (replication factor 3, min.insync.replicas 2)
//! through the faults a production cluster sees, each while the load generator is writing and
//! the tracker holds uncommitted work: SIGKILL of the leader of a busy input partition, SIGKILL
//! of the tracker's transaction coordinator, a rolling restart of all three nodes, and SIGKILL of
//! the active controller.
//!
//! The cluster runs on its own ports (`scripts/kafka.sh cluster-*`) and is started and stopped
//! here, so this is the only test in its binary; its four phases share it one after another, and
//! each phase ends with the cluster whole again (every replica in sync).

mod support;

use std::time::{Duration, Instant};

use support::cluster::{
    Cluster, GroupOffsets, RECOVERY_DEADLINE, bootstrap_servers, consumed_inputs, create_replicated_inputs,
    partition_leader, produced_inputs, replication_of, signal,
};
use support::{LoadGen, Scenario, Tracker, assert_exactly_once, wait_for};

const PARTITIONS: i32 = 4;
const INSTANCE: &str = "pod-0";
const SENT: &str = r#"sms_tracker_statuses_published_total{status="SENT"}"#;

#[test]
fn exactly_once_through_broker_coordinator_and_controller_failures() {
    let cluster = Cluster::start();
    // SAFETY: the only test in this binary; set before any other thread reads the environment.
    unsafe { std::env::set_var("KAFKA_BOOTSTRAP", bootstrap_servers()) };

    partition_leader_killed(&cluster);
    transaction_coordinator_killed(&cluster);
    rolling_restart(&cluster);
    active_controller_killed(&cluster);
}

/// Also checks what the tracker created: every topic with 3 replicas and min.insync.replicas 2.
fn partition_leader_killed(cluster: &Cluster) {
    let mut run = Run::begin("cluster-leader", 50_000, 3_000);
    let s = &run.scenario;
    let changelog = format!("{}-state-changelog", s.app_id);
    for topic in [&s.sent, &s.responses, &s.status, &s.dead_letters, &changelog] {
        let (factors, min_isr) = replication_of(topic);
        assert!(factors.iter().all(|f| *f == 3), "{topic}: replication factors {factors:?}, want 3");
        assert_eq!(min_isr, "2", "{topic}: min.insync.replicas");
    }
    let sent = s.sent.clone();
    let leader = partition_leader(&sent, 0);
    let pid = cluster.pid(leader);
    run.fault_mid_stream(&format!("SIGKILL of node {leader}, leader of {sent}-0"), || signal(pid, "KILL"));
    cluster.kill(leader);
    moved(&format!("leadership of {sent}-0 to move"), leader, || partition_leader(&sent, 0));
    cluster.start_node(leader);
    cluster.wait_all_in_sync();
    run.finish();
}

fn transaction_coordinator_killed(cluster: &Cluster) {
    let mut run = Run::begin("cluster-coordinator", 50_000, 3_000);
    let transactional_id = format!("{}-{INSTANCE}", run.scenario.app_id);
    let coordinator = cluster.transaction_coordinator(&transactional_id);
    let pid = cluster.pid(coordinator);
    run.fault_mid_stream(&format!("SIGKILL of node {coordinator}, coordinator of {transactional_id}"), || {
        signal(pid, "KILL")
    });
    cluster.kill(coordinator);
    moved("the transaction coordinator to move", coordinator, || cluster.transaction_coordinator(&transactional_id));
    cluster.start_node(coordinator);
    cluster.wait_all_in_sync();
    run.finish();
}

/// One node at a time, each back in sync before the next goes.
fn rolling_restart(cluster: &Cluster) {
    let mut run = Run::begin("cluster-rolling", 120_000, 3_000);
    for node in support::cluster::NODES {
        let pid = cluster.pid(node);
        run.fault_mid_stream(&format!("SIGTERM of node {node} (controlled shutdown)"), || signal(pid, "TERM"));
        cluster.stop(node);
        cluster.start_node(node);
        cluster.wait_all_in_sync();
    }
    run.finish();
}

fn active_controller_killed(cluster: &Cluster) {
    let mut run = Run::begin("cluster-controller", 50_000, 3_000);
    let controller = cluster.active_controller();
    let pid = cluster.pid(controller);
    run.fault_mid_stream(&format!("SIGKILL of node {controller}, the active controller"), || signal(pid, "KILL"));
    cluster.kill(controller);
    moved("another controller to be elected", controller, || cluster.active_controller());
    cluster.start_node(controller);
    cluster.wait_all_in_sync();
    run.finish();
}

/// Waits until `current` names another node than `old` (metadata can be stale for a moment).
fn moved(what: &str, old: i32, current: impl Fn() -> i32) {
    wait_for(what, RECOVERY_DEADLINE, || (current() != old).then_some(()));
}

/// One phase: fresh replicated inputs, the load generator writing them, one tracker.
struct Run {
    scenario: Scenario,
    loadgen: LoadGen,
    tracker: Tracker,
    offsets: GroupOffsets,
    started: Instant,
}

impl Run {
    /// Starts `messages` whole messages at `rate` records/s, and a tracker; returns once it has
    /// published some statuses, with input still flowing.
    fn begin(name: &str, messages: usize, rate: u64) -> Self {
        let scenario = Scenario::new(name);
        create_replicated_inputs(&scenario, PARTITIONS);
        let loadgen = LoadGen::spawn(&scenario, messages, rate, &["--invalid-share", "0.005"]);
        let tracker = Tracker::start_instance(&scenario, INSTANCE, &[]);
        let offsets = GroupOffsets::new(&scenario, PARTITIONS);
        let mut run = Self { scenario, loadgen, tracker, offsets, started: Instant::now() };
        run.wait_for_statuses(2000.0);
        run
    }

    fn wait_for_statuses(&mut self, at_least: f64) {
        wait_for("the tracker to publish statuses", RECOVERY_DEADLINE, || {
            assert!(!self.loadgen.finished(), "the input ended too early: a fault would not land mid-stream");
            (self.tracker.metric(SENT)? >= at_least).then_some(())
        });
    }

    /// Runs `fault` and asserts that it landed mid-stream: the load generator had not finished
    /// and went on producing afterwards, and the tracker had consumed input its group had not
    /// committed (consumed before the fault > committed after it, so also at the fault).
    fn fault_mid_stream(&mut self, what: &str, fault: impl FnOnce()) {
        assert!(!self.loadgen.finished(), "{what}: the input ended before the fault");
        // A rewind re-consumes records and inflates the consumed count: compare only before any.
        let never_rewound = self.metric("sms_tracker_transactions_total{result=\"aborted\"}") == 0.0
            && self.metric("sms_tracker_producer_replacements_total") == 0.0
            && self.metric("sms_tracker_rebalances_total") <= 1.0;
        // The (debug-built) load generator writes in bursts, a shuffled window at a time, and the
        // tracker catches up in the pauses between: fault in a burst, once it holds work again.
        let consumed = wait_for("the tracker to hold uncommitted work", RECOVERY_DEADLINE, || {
            assert!(!self.loadgen.finished(), "{what}: the input ended before the fault");
            let consumed = consumed_inputs(&self.tracker, &self.scenario);
            (consumed > self.offsets.committed()).then_some(consumed)
        });
        fault();
        let committed = self.offsets.committed();
        eprintln!(
            "{:?} {what}: consumed {consumed} input records before it, the group had committed {committed} after it",
            self.started.elapsed()
        );
        if never_rewound {
            assert!(
                consumed > committed,
                "{what}: the tracker had no uncommitted work (consumed {consumed}, committed {committed})"
            );
        }
        let produced = produced_inputs(&self.scenario);
        wait_for("the load generator to go on producing after the fault", RECOVERY_DEADLINE, || {
            assert!(!self.loadgen.finished(), "{what}: the input ended before it was seen flowing after the fault");
            (produced_inputs(&self.scenario) >= produced + 1000).then_some(())
        });
        assert!(self.tracker.exited().is_none(), "{what}: the tracker exited:\n{}", self.tracker.logs());
    }

    fn metric(&self, series: &str) -> f64 {
        self.tracker.metric(series).unwrap_or(0.0)
    }

    /// Exactly one status per generated id, one dead letter per invalid record, and the tracker
    /// still running: it rode every fault out by itself.
    fn finish(mut self) {
        let summary = self.loadgen.wait();
        eprintln!("{:?} {}: input ended", self.started.elapsed(), self.scenario.app_id);
        let prefix = format!("{}-", self.scenario.app_id);
        assert_exactly_once(&self.scenario, &summary, &prefix);
        assert!(self.tracker.exited().is_none(), "the tracker exited:\n{}", self.tracker.logs());
        eprintln!("{:?} {}: exactly once", self.started.elapsed(), self.scenario.app_id);
        wait_for("the tracker to be healthy", Duration::from_secs(30), || {
            (self.tracker.http_get("/healthz")?.0 == 200).then_some(())
        });
    }
}
