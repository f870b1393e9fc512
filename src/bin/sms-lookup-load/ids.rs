//! The ids to look up: record keys of `sent-messages`, consumed by a thread of its own, each
//! eligible once it was seen at least `min_age` ago (by then the tracker has usually processed it).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::Rng;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::Args;

pub struct Pool {
    min_age: Duration,
    /// 0: keep every eligible id.
    window: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Seen, not old enough yet (in the order seen).
    young: VecDeque<(Instant, Arc<str>)>,
    eligible: VecDeque<Arc<str>>,
}

impl Pool {
    pub fn new(min_age: Duration, window: usize) -> Self {
        Self { min_age, window, inner: Mutex::default() }
    }

    fn push(&self, ids: Vec<Arc<str>>, seen: Instant) {
        let mut inner = self.inner.lock().expect("id pool");
        inner.young.extend(ids.into_iter().map(|id| (seen, id)));
    }

    /// A random eligible id, if there is one yet.
    pub fn pick(&self, rng: &mut impl Rng) -> Option<Arc<str>> {
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("id pool");
        while inner.young.front().is_some_and(|(seen, _)| now.duration_since(*seen) >= self.min_age) {
            let (_, id) = inner.young.pop_front().expect("checked");
            inner.eligible.push_back(id);
            if self.window > 0 && inner.eligible.len() > self.window {
                inner.eligible.pop_front();
            }
        }
        if inner.eligible.is_empty() {
            return None;
        }
        let at = rng.random_range(0..inner.eligible.len());
        Some(Arc::clone(&inner.eligible[at]))
    }
}

/// Consumes every partition of the topic (from its end, or its beginning) until `stop`; returns
/// how many keys it saw.
pub fn spawn_consumer(args: &Args, pool: Arc<Pool>, stop: Arc<AtomicBool>) -> Result<JoinHandle<Result<u64>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("group.id", "sms-lookup-load")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("isolation.level", "read_uncommitted")
        .create()
        .context("creating the id consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(&args.sent_topic), Duration::from_secs(10))
        .with_context(|| format!("reading the metadata of {}", args.sent_topic))?;
    let partitions = metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
    anyhow::ensure!(partitions > 0, "topic {} not found", args.sent_topic);
    let start = if args.from_beginning { Offset::Beginning } else { Offset::End };
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        list.add_partition_offset(&args.sent_topic, partition, start)?;
    }
    // Assigned, not subscribed: no group to join, the start offsets are taken at once.
    consumer.assign(&list)?;
    Ok(std::thread::spawn(move || {
        let mut seen = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut batch = Vec::new();
            let mut next = consumer.poll(Duration::from_millis(100));
            while let Some(message) = next {
                if let Some(key) = message?.key().and_then(|k| std::str::from_utf8(k).ok()) {
                    batch.push(Arc::from(key));
                }
                if batch.len() >= 1000 {
                    break;
                }
                next = consumer.poll(Duration::ZERO);
            }
            seen += batch.len() as u64;
            if !batch.is_empty() {
                pool.push(batch, Instant::now());
            }
        }
        Ok(seen)
    }))
}
