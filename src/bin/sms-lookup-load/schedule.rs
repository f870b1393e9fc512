//! The open-loop schedule: a thread of its own releases lookup *i* at start + i / rate (sleeping
//! to that instant, never waiting for answers), and `--connections` workers, each with its own
//! keep-alive connection, take released lookups in order (one more connection is opened when a
//! lookup is released while every connection is busy, up to `--max-connections`). Latency is measured from the due time,
//! so a lookup that waited for a free connection, or was released late, shows it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use crate::Args;
use crate::client::{Connection, Reply, message_path};
use crate::ids::Pool;

/// One lookup's fate.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Due time, seconds after the schedule's start.
    pub due_s: f64,
    /// Due time → whole answer read.
    pub latency_us: u64,
    /// Due time → request written (the driver's own lateness plus waiting for a connection).
    pub send_delay_us: u64,
    /// Request written → whole answer read.
    pub service_us: u64,
    /// Due time → put in the queue by the scheduler thread (its own lateness alone).
    pub release_delay_us: u64,
    pub result: Result<Reply, Failure>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    Timeout,
    Connection,
}

pub struct Run {
    pub outcomes: Vec<Outcome>,
    /// Lookups due while no id was eligible (none sent).
    pub without_id: u64,
    /// Seconds from start-up until the first id was eligible.
    pub waited_for_ids_s: f64,
    /// Seconds the schedule ran (to the last due lookup).
    pub scheduled_s: f64,
    /// Stopped by a signal before the duration was over.
    pub stopped_early: bool,
    pub connects: u64,
    /// Connections opened in parallel (workers).
    pub connections: usize,
}

struct Job {
    due: Instant,
    /// `due`, in seconds after the schedule's start.
    due_s: f64,
    /// When the scheduler thread put it in the queue.
    released: Instant,
    path: String,
}

pub async fn run(args: &Args, token: Option<String>, pool: Arc<Pool>, stop: Arc<AtomicBool>) -> Result<Run> {
    let on_signal = Arc::clone(&stop);
    let signals = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        on_signal.store(true, Ordering::Relaxed);
    });

    let (tx, rx) = mpsc::unbounded_channel::<Job>();
    let mut workers = Workers {
        rx: Arc::new(Mutex::new(rx)),
        target: args.target.clone(),
        token,
        timeout: Duration::from_millis(args.timeout_ms),
        idle: Arc::new(AtomicIsize::new(0)),
        max: args.max_connections.max(args.connections) as usize,
        handles: Vec::new(),
        runtime: tokio::runtime::Handle::current(),
    };
    for _ in 0..args.connections {
        workers.spawn();
    }

    let (rate, duration, seed) = (args.rate, Duration::from_secs(args.duration_seconds), args.seed);
    let wait_ids = Duration::from_secs(args.wait_ids_seconds);
    let thread_stop = Arc::clone(&stop);
    let scheduler = std::thread::spawn(move || {
        let result = schedule(&pool, &tx, &mut workers, rate, duration, wait_ids, seed, &thread_stop);
        (result, workers.handles)
    });
    // The thread ends by itself (duration, signal, or no ids); wait for it off the runtime.
    let Ok((schedule, handles)) = tokio::task::spawn_blocking(move || scheduler.join()).await? else {
        bail!("the scheduler thread panicked")
    };
    let (started, without_id, scheduled_s, stopped_early) = schedule?;

    let mut outcomes = Vec::new();
    let mut connects = 0;
    let connections = handles.len();
    for worker in handles {
        let (mut some, n) = worker.await?;
        outcomes.append(&mut some);
        connects += n;
    }
    signals.abort();
    outcomes.sort_by(|a, b| a.due_s.total_cmp(&b.due_s));
    Ok(Run { outcomes, without_id, waited_for_ids_s: started, scheduled_s, stopped_early, connects, connections })
}

/// The connections, each served by a task of its own; one more is opened whenever a lookup is
/// released while none is idle (up to `max`), so that slow answers do not hold back the schedule.
struct Workers {
    rx: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    target: String,
    token: Option<String>,
    timeout: Duration,
    /// Workers free for a lookup, less the lookups released and not taken yet.
    idle: Arc<AtomicIsize>,
    max: usize,
    handles: Vec<JoinHandle<(Vec<Outcome>, u64)>>,
    runtime: tokio::runtime::Handle,
}

impl Workers {
    fn spawn(&mut self) {
        let (rx, idle, timeout) = (Arc::clone(&self.rx), Arc::clone(&self.idle), self.timeout);
        let mut connection = Connection::new(&self.target, self.token.as_deref());
        idle.fetch_add(1, Ordering::SeqCst);
        self.handles.push(self.runtime.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let Some(job) = rx.lock().await.recv().await else { break };
                let sent = Instant::now();
                let result = match tokio::time::timeout(timeout, connection.get(&job.path)).await {
                    Ok(Ok(reply)) => Ok(reply),
                    Ok(Err(_)) => Err(Failure::Connection),
                    Err(_) => {
                        connection.reset();
                        Err(Failure::Timeout)
                    }
                };
                let done = Instant::now();
                outcomes.push(Outcome {
                    due_s: job.due_s,
                    latency_us: done.duration_since(job.due).as_micros() as u64,
                    send_delay_us: sent.saturating_duration_since(job.due).as_micros() as u64,
                    service_us: done.duration_since(sent).as_micros() as u64,
                    release_delay_us: job.released.saturating_duration_since(job.due).as_micros() as u64,
                    result,
                });
                idle.fetch_add(1, Ordering::SeqCst);
            }
            (outcomes, connection.connects)
        }));
    }

    /// Before releasing a lookup: claims a free connection for it, or opens one more.
    fn make_room(&mut self) {
        if self.idle.load(Ordering::SeqCst) <= 0 && self.handles.len() < self.max {
            self.spawn();
        }
        self.idle.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Releases the lookups; returns (seconds waited for the first id, lookups due without an id,
/// seconds scheduled, stopped early).
#[allow(clippy::too_many_arguments)]
fn schedule(
    pool: &Pool,
    tx: &mpsc::UnboundedSender<Job>,
    workers: &mut Workers,
    rate: u64,
    duration: Duration,
    wait_ids: Duration,
    seed: u64,
    stop: &AtomicBool,
) -> Result<(f64, u64, f64, bool)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let begun = Instant::now();
    while pool.pick(&mut rng).is_none() {
        if stop.load(Ordering::Relaxed) {
            bail!("stopped before any id was eligible");
        }
        if begun.elapsed() >= wait_ids {
            bail!("no id eligible within {wait_ids:?}: is anything written to the topic?");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let start = Instant::now();
    let waited = start.duration_since(begun).as_secs_f64();
    let mut without_id = 0;
    let mut i: u64 = 0;
    loop {
        let offset = Duration::from_nanos(i.saturating_mul(1_000_000_000) / rate);
        if offset >= duration {
            return Ok((waited, without_id, duration.as_secs_f64(), false));
        }
        if stop.load(Ordering::Relaxed) {
            return Ok((waited, without_id, offset.as_secs_f64(), true));
        }
        let due = start + offset;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        match pool.pick(&mut rng) {
            Some(id) => {
                workers.make_room();
                if tx
                    .send(Job { due, due_s: offset.as_secs_f64(), released: Instant::now(), path: message_path(&id) })
                    .is_err()
                {
                    bail!("every worker stopped");
                }
            }
            None => without_id += 1,
        }
        i += 1;
    }
}
