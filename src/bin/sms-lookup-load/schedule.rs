//! The open-loop schedule: a thread of its own releases lookup *i* at start + i / rate (sleeping
//! to that instant, never waiting for answers), and `--connections` workers, each with its own
//! keep-alive connection, take released lookups in order. Latency is measured from the due time,
//! so a lookup that waited for a free connection, or was released late, shows it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::{Mutex, mpsc};

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
}

struct Job {
    due: Instant,
    /// `due`, in seconds after the schedule's start.
    due_s: f64,
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
    let rx = Arc::new(Mutex::new(rx));
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let rx = Arc::clone(&rx);
        let mut connection = Connection::new(&args.target, token.as_deref());
        workers.push(tokio::spawn(async move {
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
                    result,
                });
            }
            (outcomes, connection.connects)
        }));
    }

    let (rate, duration, seed) = (args.rate, Duration::from_secs(args.duration_seconds), args.seed);
    let wait_ids = Duration::from_secs(args.wait_ids_seconds);
    let thread_stop = Arc::clone(&stop);
    let scheduler = std::thread::spawn(move || schedule(&pool, &tx, rate, duration, wait_ids, seed, &thread_stop));
    // The thread ends by itself (duration, signal, or no ids); wait for it off the runtime.
    let schedule = tokio::task::spawn_blocking(move || scheduler.join()).await?;
    let Ok(schedule) = schedule else { bail!("the scheduler thread panicked") };
    let (started, without_id, scheduled_s, stopped_early) = schedule?;

    let mut outcomes = Vec::new();
    let mut connects = 0;
    for worker in workers {
        let (mut some, n) = worker.await?;
        outcomes.append(&mut some);
        connects += n;
    }
    signals.abort();
    outcomes.sort_by(|a, b| a.due_s.total_cmp(&b.due_s));
    Ok(Run { outcomes, without_id, waited_for_ids_s: started, scheduled_s, stopped_early, connects })
}

/// Releases the lookups; returns (seconds waited for the first id, lookups due without an id,
/// seconds scheduled, stopped early).
fn schedule(
    pool: &Pool,
    tx: &mpsc::UnboundedSender<Job>,
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
                if tx.send(Job { due, due_s: offset.as_secs_f64(), path: message_path(&id) }).is_err() {
                    bail!("every worker stopped");
                }
            }
            None => without_id += 1,
        }
        i += 1;
    }
}
