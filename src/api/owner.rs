//! Who answers for a partition this instance does not own: the group coordinator's view of the
//! current generation ([`crate::kafka::owners`]), cached briefly so that a burst of lookups costs
//! one DescribeGroups. The routes ask [`Owners::owner_of`] and nothing else.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::kafka::group::ConsumerGroup;
use crate::kafka::owners::{Group, describe};

/// How long one answer of the coordinator is reused. Assignments change only on rebalances, and
/// a forward that finds the owner gone drops the cache at once ([`Owners::forget`]).
const CACHE_FOR: Duration = Duration::from_secs(2);
/// A rebalance ends within moments: its answer is reused only briefly, to spare the coordinator
/// a burst of lookups meanwhile.
const CACHE_REBALANCING_FOR: Duration = Duration::from_millis(250);
/// How long to wait for the coordinator.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The owner of a partition, as far as this instance can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Another instance, reachable at `address`.
    Remote { address: String, member: String },
    /// Another instance that advertises no address (`--advertised-address` not set there).
    NoAddress { member: String },
    /// A rebalance is under way, the partition is unassigned, or the coordinator says this very
    /// instance owns it while its partition actor is not there yet: ask again shortly.
    Changing,
    /// The coordinator did not answer.
    Unknown(String),
}

/// The group's owners of the input partitions, from its coordinator.
pub struct Owners {
    group: Arc<dyn ConsumerGroup>,
    group_id: String,
    /// Owners are read from the assignments of this input (both inputs are assigned together).
    topic: String,
    /// This instance's own member `client.id`.
    me: String,
    cache: Mutex<Option<(Instant, Arc<Group>)>>,
    /// Held while the coordinator is asked: lookups that miss the cache together ask once.
    asking: tokio::sync::Mutex<()>,
}

impl Owners {
    pub fn new(group: Arc<dyn ConsumerGroup>, group_id: String, topic: String, me: String) -> Self {
        Self { group, group_id, topic, me, cache: Mutex::new(None), asking: tokio::sync::Mutex::new(()) }
    }

    /// The instance owning `partition` in the current generation.
    pub async fn owner_of(&self, partition: i32) -> Owner {
        let group = match self.group().await {
            Ok(group) => group,
            Err(error) => return Owner::Unknown(error),
        };
        let Group::Stable(owners) = &*group else { return Owner::Changing };
        match owners.get(&partition) {
            None => Owner::Changing,
            Some(member) if member.client_id == self.me => Owner::Changing,
            Some(member) => match &member.address {
                Some(address) => Owner::Remote { address: address.clone(), member: member.client_id.clone() },
                None => Owner::NoAddress { member: member.client_id.clone() },
            },
        }
    }

    /// Drops the cached owners: a forward found the owner gone or no owner any more.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    async fn group(&self) -> Result<Arc<Group>, String> {
        if let Some(group) = self.cached() {
            return Ok(group);
        }
        let _asking = self.asking.lock().await;
        if let Some(group) = self.cached() {
            return Ok(group);
        }
        let (group, group_id, topic) = (self.group.clone(), self.group_id.clone(), self.topic.clone());
        let described =
            actix_rt::task::spawn_blocking(move || describe(&*group, &group_id, &topic, DESCRIBE_TIMEOUT)).await;
        let group = match described {
            Ok(Ok(group)) => Arc::new(group),
            Ok(Err(error)) => return Err(format!("the group coordinator did not answer: {error}")),
            Err(_) => return Err("describing the group panicked".to_owned()),
        };
        *self.lock() = Some((Instant::now(), group.clone()));
        Ok(group)
    }

    fn cached(&self) -> Option<Arc<Group>> {
        let cache = self.lock();
        let (at, group) = cache.as_ref()?;
        let fresh_for = if matches!(**group, Group::Stable(_)) { CACHE_FOR } else { CACHE_REBALANCING_FOR };
        (at.elapsed() < fresh_for).then(|| group.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Arc<Group>)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
