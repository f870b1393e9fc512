//! Fatal failures end `run` with an error instead of ending the process.
//!
//! A failure the tracker cannot repair in place (a producer fenced again and again, an assignment
//! that is no longer co-partitioned, a fenced static group member) must stop the pipeline and make
//! [`sms_tracker::app::run`] return `Err`; only the binaries turn that into a non-zero exit code.
//! These tests therefore run the tracker in-process, each in its own thread with its own actix
//! system, and wait for `run` itself to return: a test that ran the binary would only see an exit
//! status, and could not tell a returned error from a `process::exit` deep in the pipeline (which
//! would also end an embedding program, such as this test binary, without a word).
//!
//! Each test also checks that its fault actually landed before the error, so that an error of any
//! other cause cannot make it pass. They run against the real broker of `scripts/kafka.sh start`.

mod support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminOptions, NewPartitions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};
use sms_tracker::config::Config;
use sms_tracker::kafka::settings::transactional_id;
use sms_tracker::pipeline::sink::MAX_REPLACEMENTS;
use support::{Input, Scenario, bootstrap, wait_for};
use tokio::sync::oneshot;

/// How long a test waits for any one thing (readiness, the error).
const DEADLINE: Duration = Duration::from_secs(90);

/// Session and heartbeat settings that let the group notice changes quickly.
const FAST_GROUP: &str = "session.timeout.ms=6000,heartbeat.interval.ms=500";

/// Least time between two fencings of the tracker's producer.
const FENCE_EVERY: Duration = Duration::from_millis(1500);

/// One `run` in a thread of its own, with its own actix system. Dropping it asks `run` to shut
/// down (if it has not returned yet) and waits a while for it.
struct InProcessTracker {
    config: Config,
    http_port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    result: mpsc::Receiver<anyhow::Result<()>>,
    returned: bool,
    thread: Option<JoinHandle<()>>,
}

impl InProcessTracker {
    /// Starts `run` for `scenario` as instance `instance`, with `extra` flags.
    fn start(scenario: &Scenario, instance: &str, extra: &[&str]) -> Self {
        init_logging();
        let http_port = free_port();
        let mut args = vec!["sms-tracker".to_owned()];
        args.extend(scenario.tracker_args());
        args.extend(["--http-listen".to_owned(), format!("127.0.0.1:{http_port}")]);
        args.extend(["--instance-id".to_owned(), instance.to_owned()]);
        args.extend(["--shutdown-timeout-seconds".to_owned(), "20".to_owned()]);
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let config = Config::try_parse_from(&args).unwrap_or_else(|e| panic!("invalid flags {args:?}: {e}"));

        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (result_tx, result_rx) = mpsc::channel();
        let run_config = config.clone();
        let thread = std::thread::Builder::new()
            .name(format!("run-{instance}"))
            .spawn(move || {
                let shutdown = async move {
                    // A dropped sender (the test is over) stops the tracker too.
                    let _ = shutdown_rx.await;
                };
                let result = actix_rt::System::new().block_on(sms_tracker::app::run(run_config, shutdown));
                let _ = result_tx.send(result);
            })
            .expect("spawn the tracker's thread");
        Self {
            config,
            http_port,
            shutdown: Some(shutdown_tx),
            result: result_rx,
            returned: false,
            thread: Some(thread),
        }
    }

    /// Waits until `/readyz` answers 200 (every assigned partition restored); returns its body.
    /// Fails at once if `run` returns meanwhile.
    fn wait_ready(&mut self) -> String {
        let started = Instant::now();
        loop {
            if let Some(result) = self.poll_result(Duration::ZERO) {
                panic!("run returned before the tracker became ready: {result:?}");
            }
            if let Some((200, body)) = self.http_get("/readyz") {
                return body;
            }
            assert!(started.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting for the tracker to be ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `run`'s result, if it returned within `timeout`. Panics if its thread died without one.
    fn poll_result(&mut self, timeout: Duration) -> Option<anyhow::Result<()>> {
        assert!(!self.returned, "run's result was already taken");
        match self.result.recv_timeout(timeout) {
            Ok(result) => {
                self.returned = true;
                Some(result)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the tracker's thread ended without a result (panic?)"),
        }
    }

    /// Waits for `run` to return an error; returns it formatted with its causes (`{:#}`).
    fn wait_error(&mut self, what: &str) -> String {
        let error = self
            .poll_result(DEADLINE)
            .unwrap_or_else(|| panic!("timed out after {DEADLINE:?} waiting for run to fail ({what})"));
        format!("{:#}", error.expect_err("run must return Err after a fatal failure"))
    }

    /// `(status code, body)` of a GET on the tracker's HTTP server.
    fn http_get(&self, path: &str) -> Option<(u16, String)> {
        support::http_get(self.http_port, path)
    }

    fn metric(&self, series: &str) -> Option<f64> {
        support::metric(self.http_port, series)
    }
}

impl Drop for InProcessTracker {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if !self.returned {
            // Give a tracker left running by a failed assertion the chance to leave its group.
            let _ = self.result.recv_timeout(Duration::from_secs(40));
        }
        if let Some(thread) = self.thread.take()
            && thread.is_finished()
        {
            let _ = thread.join();
        }
    }
}

/// Valid input on both topics, one whole message with its only part every 20 ms or so, so the
/// tracker keeps opening and committing transactions. It can be paused; it stops when dropped.
struct Feeder {
    stop: Arc<AtomicBool>,
    /// Held by the feeder while it writes a message; held by the test to pause it.
    gate: Arc<Mutex<()>>,
    sent: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Feeder {
    fn start(scenario: &Scenario) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(Mutex::new(()));
        let sent = Arc::new(AtomicUsize::new(0));
        let (s, stop_flag, feeder_gate, counter) = (scenario.clone(), stop.clone(), gate.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            let input = Input::new();
            let mut i = 0;
            while !stop_flag.load(Ordering::Relaxed) {
                {
                    let _writing = feeder_gate.lock().unwrap_or_else(PoisonError::into_inner);
                    let id = format!("f{i}");
                    input.send(&s.sent, Some(&id), Some(&sent_message(&id)));
                    input.send(&s.responses, Some(&id), Some(&submit_response(&id)));
                }
                counter.fetch_add(1, Ordering::Relaxed);
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { stop, gate, sent, thread: Some(thread) }
    }

    /// Pauses the feeder (after the message it is writing) until the guard is dropped.
    fn pause(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many messages (with their response) were written so far.
    fn messages(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let joined = thread.join();
            if joined.is_err() && !std::thread::panicking() {
                panic!("the input feeder failed");
            }
        }
    }
}

fn sent_message(id: &str) -> String {
    format!(r#"{{"id":"{id}","status":"PENDING"}}"#)
}

fn submit_response(id: &str) -> String {
    format!(
        r#"{{"messageId":"{id}","partNumber":1,"totalParts":1,"commandStatus":0,"supplierMessageId":"S-{id}","supplier":"sup"}}"#
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The tracker's logs, and rdkafka's warnings, on the test's output (`RUST_LOG` to change).
fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_thread_names(true).with_test_writer().try_init();
    });
}

/// Takes `transactional_id` over, as a second instance with the same id would: initialising
/// transactions bumps the producer epoch, so the tracker's producer is fenced.
fn fence(transactional_id: &str) {
    let intruder: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("transactional.id", transactional_id)
        .create()
        .expect("fencing producer");
    intruder.init_transactions(Duration::from_secs(30)).expect("init_transactions fences the tracker's producer");
}

/// The sink replaces a fenced producer up to [`MAX_REPLACEMENTS`] times within its window; the
/// next fatal producer error is not repaired. Fault: while input flows, the tracker's
/// transactional id is taken over again and again, at least 1.5 s apart and each time once the
/// previous takeover was handled. Asserted: each of the first [`MAX_REPLACEMENTS`] fencings made
/// the tracker replace its producer (its replacement counter read 0, 1, 2, 3 before the
/// fencings), and only the next one made `run` return `Err` saying the producer failed fatally
/// more than 3 times.
///
/// Each takeover happens between two of the tracker's transactions (input paused until every
/// record is committed), and the tracker finds out when the next input opens one. A takeover
/// that meets an open transaction makes the coordinator abort it first, and a replacement made
/// meanwhile can be fenced again by the takeover's retry: one fencing then costs two producers
/// (see [`MAX_REPLACEMENTS`]; seen here as counter readings 0, 1, 3), and the count of fencings
/// would not be exact.
#[test]
fn a_producer_fenced_beyond_the_replacement_limit_makes_run_return_err() {
    let s = Scenario::new("fatal-fenced");
    s.create_inputs(2, 2);
    let mut tracker = InProcessTracker::start(&s, "pod-fenced", &[]);
    let id = transactional_id(&tracker.config);
    assert_eq!(id, format!("{}-pod-fenced", s.app_id));
    tracker.wait_ready();

    let feeder = Feeder::start(&s);
    wait_for("statuses published before the first fencing", DEADLINE, || {
        (tracker.metric(r#"sms_tracker_statuses_published_total{status="SENT"}"#)? >= 1.0).then_some(())
    });
    let replacements = |tracker: &InProcessTracker| tracker.metric("sms_tracker_producer_replacements_total");
    assert_eq!(replacements(&tracker), Some(0.0), "no replacement before the first fencing");

    let started = Instant::now();
    let mut fences = 0;
    // The replacement count seen just before each fencing.
    let mut seen_before_fence: Vec<f64> = Vec::new();
    let result = loop {
        // Paced: at least FENCE_EVERY apart, and only once the previous fencing was handled (the
        // producer replaced), so each fencing hits a producer of its own.
        let since_last = Instant::now();
        let mut seen = None;
        let returned = loop {
            if let Some(result) = tracker.poll_result(Duration::from_millis(100)) {
                break Some(result);
            }
            seen = replacements(&tracker);
            if since_last.elapsed() >= FENCE_EVERY && seen.is_some_and(|n| n >= fences as f64) {
                break None;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "run still running after {fences} fencings in {DEADLINE:?} (replacements: {seen:?}, \
                 before each fencing: {seen_before_fence:?})"
            );
        };
        if let Some(result) = returned {
            break result;
        }
        seen_before_fence.push(seen.expect("checked above"));
        {
            let _paused = feeder.pause();
            s.wait_caught_up();
            fence(&id);
        }
        fences += 1;
        eprintln!(
            "fencing #{fences} done after {:?}; replacements before each: {seen_before_fence:?}",
            started.elapsed()
        );
    };
    let messages = feeder.messages();
    drop(feeder);

    let error = format!("{:#}", result.expect_err("run must return Err once the producer is fenced too often"));
    eprintln!("run returned after {fences} fencings, {:?}, {messages} messages: {error}", started.elapsed());
    assert!(error.contains(&format!("failed fatally more than {MAX_REPLACEMENTS} times")), "{error}");
    let expected: Vec<f64> = (0..=MAX_REPLACEMENTS).map(|n| n as f64).collect();
    assert_eq!(
        seen_before_fence, expected,
        "each fencing before the last cost the tracker one producer, up to the limit; the next one made run fail"
    );
    assert!(fences > MAX_REPLACEMENTS, "run failed after only {fences} fencings");
}

/// Co-partitioning is checked at start-up, but the partition count of one input can grow while
/// the tracker runs. Fault: a third partition is added to the sent-messages topic only; the
/// consumer notices it (metadata refresh every 500 ms), the group rebalances and the new
/// assignment holds partitions of one input that the other does not have. Asserted: `run`
/// returns `Err` saying the assignment is not co-partitioned, naming the grown topic's three
/// partitions — so the error comes from the change, which was made while `run` was still running.
#[test]
fn a_co_partitioning_failure_after_a_rebalance_makes_run_return_err() {
    let s = Scenario::new("fatal-repartitioned");
    s.create_inputs(2, 2);
    let mut tracker = InProcessTracker::start(
        &s,
        "pod-repartitioned",
        &["--kafka-property", "topic.metadata.refresh.interval.ms=500"],
    );
    let ready = tracker.wait_ready();
    assert!(ready.contains("[0, 1]"), "both partitions assigned before the change: {ready}");
    assert!(tracker.poll_result(Duration::ZERO).is_none(), "run still running before the change");

    let admin = support::admin();
    let grown =
        futures::executor::block_on(admin.create_partitions([&NewPartitions::new(&s.sent, 3)], &AdminOptions::new()))
            .expect("create partitions request");
    for result in grown {
        result.unwrap_or_else(|(topic, e)| panic!("cannot add a partition to {topic}: {e}"));
    }
    let changed_at = Instant::now();
    assert_eq!(support::end_offsets(&s.sent).len(), 3, "{} has 3 partitions now", s.sent);
    assert_eq!(support::end_offsets(&s.responses).len(), 2, "{} still has 2", s.responses);

    let error = tracker.wait_error("after the sent topic grew");
    eprintln!("run returned {:?} after the change: {error}", changed_at.elapsed());
    assert!(error.contains("not co-partitioned"), "{error}");
    assert!(error.contains(&format!("{} [0, 1, 2]", s.sent)), "the error saw the new partition: {error}");
    assert!(error.contains(&format!("{} [0, 1]", s.responses)), "{error}");
}

/// A static member (`--static-membership`) is fenced by the broker when another consumer joins
/// with its `group.instance.id`: a fatal error for the tracker's consumer, which can never
/// consume again. Fault: a plain consumer joins the tracker's group as the same static member.
/// Asserted: that consumer joined (got an assignment), and `run` returns `Err` saying the group
/// consumer failed.
#[test]
fn an_unrecoverable_consumer_error_makes_run_return_err() {
    let s = Scenario::new("fatal-member-fenced");
    s.create_inputs(2, 2);
    let instance = "pod-static";
    let mut tracker = InProcessTracker::start(&s, instance, &["--static-membership", "--kafka-property", FAST_GROUP]);
    tracker.wait_ready();
    assert!(tracker.poll_result(Duration::ZERO).is_none(), "run still running before the intruder joins");

    let mut intruder = ClientConfig::new();
    intruder
        .set("bootstrap.servers", bootstrap())
        .set("group.id", &s.app_id)
        .set("group.instance.id", instance)
        .set("partition.assignment.strategy", "range")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest");
    for (key, value) in FAST_GROUP.split(',').filter_map(|p| p.split_once('=')) {
        intruder.set(key, value);
    }
    let intruder: BaseConsumer = intruder.create().expect("intruding consumer");
    intruder.subscribe(&[&s.sent, &s.responses]).expect("subscribe");

    let started = Instant::now();
    let assigned = |consumer: &BaseConsumer| consumer.assignment().map_or(0, |a| a.count());
    let mut joined_after = None;
    let result = loop {
        if let Some(Err(error)) = intruder.poll(Duration::from_millis(100)) {
            eprintln!("intruding consumer: {error}");
        }
        if joined_after.is_none() && assigned(&intruder) > 0 {
            joined_after = Some(started.elapsed());
        }
        if let Some(result) = tracker.poll_result(Duration::ZERO) {
            break result;
        }
        assert!(started.elapsed() < DEADLINE, "run still running {DEADLINE:?} after the intruder subscribed");
    };
    let failed_after = started.elapsed();
    // The intruder may not have served its assignment yet when the tracker was already fenced.
    let joined_after = joined_after.unwrap_or_else(|| {
        wait_for("the intruding consumer to get an assignment", DEADLINE, || {
            let _ = intruder.poll(Duration::from_millis(100));
            (assigned(&intruder) > 0).then(|| started.elapsed())
        })
    });

    let error = format!("{:#}", result.expect_err("run must return Err once its static member is fenced"));
    eprintln!("intruder joined after {joined_after:?}; run returned after {failed_after:?}: {error}");
    assert!(error.contains("group consumer failed"), "{error}");
    assert_eq!(assigned(&intruder), 4, "the intruder holds both partitions of both inputs");
}
