//! Fault injection for the tests that need it, compiled only with the `fault-injection` cargo
//! feature. The release binary is built without it: there [`Faults`] is an empty type whose hooks
//! do nothing, and no flag or environment variable can turn a fault on. The tests run the
//! `sms-tracker-faults` binary, which exists only with the feature.

use std::sync::Arc;

use crate::kafka::restore::StateRestore;
use crate::kafka::transaction::Transactions;

#[cfg(feature = "fault-injection")]
pub use enabled::Faults;

/// No faults: what the `sms-tracker` binary always runs with.
#[cfg(not(feature = "fault-injection"))]
#[derive(Debug, Clone, Default)]
pub struct Faults {
    _nothing: (),
}

#[cfg(not(feature = "fault-injection"))]
impl Faults {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn wrap_transactions(&self, transactions: Box<dyn Transactions>) -> Box<dyn Transactions> {
        transactions
    }

    pub fn wrap_restorer(&self, restorer: Arc<dyn StateRestore>) -> Arc<dyn StateRestore> {
        restorer
    }
}

#[cfg(feature = "fault-injection")]
mod enabled {
    use std::time::Duration;

    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    use super::{Arc, StateRestore, Transactions};
    use crate::domain::PartitionState;
    use crate::domain::Policy;
    use crate::domain::receipt_join::{JoinPolicy, JoinState};
    use crate::kafka::records::OutputRecord;
    use crate::kafka::restore::{RestoreError, Restored};
    use crate::kafka::transaction::{ConsumedOffset, TransactionError};

    /// Which faults to inject; the default injects none.
    #[derive(Debug, Clone, Default, clap::Args)]
    pub struct Faults {
        /// Abort every Nth transaction instead of committing it, at the last moment (outputs
        /// produced and offsets sent), to exercise the abort-rewind-restore path.
        #[arg(long)]
        pub fault_abort_every: Option<u64>,

        /// After N committed transactions, block forever in the next commit: a stuck pipeline
        /// that is still alive, for the watchdog.
        #[arg(long)]
        pub fault_freeze_after_commits: Option<u64>,

        /// Wait this long before each state restore: a long restore, for the watchdog.
        #[arg(long)]
        pub fault_restore_delay_ms: Option<u64>,
    }

    impl Faults {
        pub fn none() -> Self {
            Self::default()
        }

        pub fn wrap_transactions(&self, inner: Box<dyn Transactions>) -> Box<dyn Transactions> {
            if self.fault_abort_every.is_none() && self.fault_freeze_after_commits.is_none() {
                return inner;
            }
            Box::new(FaultyCommits {
                inner,
                abort_every: self.fault_abort_every.filter(|every| *every > 0),
                freeze_after: self.fault_freeze_after_commits,
                commits: 0,
            })
        }

        pub fn wrap_restorer(&self, inner: Arc<dyn StateRestore>) -> Arc<dyn StateRestore> {
            match self.fault_restore_delay_ms {
                Some(ms) => Arc::new(DelayedRestore { inner, delay: Duration::from_millis(ms) }),
                None => inner,
            }
        }
    }

    struct FaultyCommits {
        inner: Box<dyn Transactions>,
        abort_every: Option<u64>,
        freeze_after: Option<u64>,
        commits: u64,
    }

    impl Transactions for FaultyCommits {
        fn begin(&mut self) -> Result<(), TransactionError> {
            self.inner.begin()
        }

        fn send(&mut self, topic: &str, record: &OutputRecord) -> Result<(), TransactionError> {
            self.inner.send(topic, record)
        }

        fn send_offsets(&mut self, offsets: &[ConsumedOffset]) -> Result<(), TransactionError> {
            self.inner.send_offsets(offsets)
        }

        fn commit(&mut self) -> Result<(), TransactionError> {
            if self.freeze_after.is_some_and(|after| self.commits >= after) {
                tracing::warn!(commits = self.commits, "Fault injection: freezing the pipeline in this commit");
                loop {
                    std::thread::park();
                }
            }
            self.commits += 1;
            if self.abort_every.is_some_and(|every| self.commits.is_multiple_of(every)) {
                tracing::warn!("Fault injection: aborting this transaction instead of committing it");
                return Err(self.inner.abort(KafkaError::MessageProduction(RDKafkaErrorCode::Fail)));
            }
            self.inner.commit()
        }

        fn abort(&mut self, cause: KafkaError) -> TransactionError {
            self.inner.abort(cause)
        }

        fn replace(&mut self) -> Result<(), TransactionError> {
            self.inner.replace()
        }

        fn serve(&mut self) {
            self.inner.serve()
        }
    }

    struct DelayedRestore {
        inner: Arc<dyn StateRestore>,
        delay: Duration,
    }

    impl StateRestore for DelayedRestore {
        fn restore(&self, partition: i32, policy: Policy) -> Result<Restored<PartitionState>, RestoreError> {
            tracing::warn!(partition, delay = ?self.delay, "Fault injection: delaying this restore");
            std::thread::sleep(self.delay);
            self.inner.restore(partition, policy)
        }

        fn restore_join(&self, partition: i32, policy: JoinPolicy) -> Result<Restored<JoinState>, RestoreError> {
            tracing::warn!(partition, delay = ?self.delay, "Fault injection: delaying this join restore");
            std::thread::sleep(self.delay);
            self.inner.restore_join(partition, policy)
        }
    }
}
