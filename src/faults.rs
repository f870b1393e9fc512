//! Fault injection for the tests that need it, compiled only with the `fault-injection` cargo
//! feature. The release binary is built without it: there [`Faults`] is an empty type whose hooks
//! do nothing, and no flag or environment variable can turn a fault on. The tests run the
//! `sms-tracker-faults` binary, which exists only with the feature.

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
}

#[cfg(feature = "fault-injection")]
mod enabled {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    use super::Transactions;
    use crate::kafka::records::OutputRecord;
    use crate::kafka::transaction::{ConsumedOffset, TransactionError};

    /// Which faults to inject; the default injects none.
    #[derive(Debug, Clone, Default, clap::Args)]
    pub struct Faults {
        /// Abort every Nth transaction instead of committing it, at the last moment (outputs
        /// produced and offsets sent), to exercise the abort-rewind-restore path.
        #[arg(long)]
        pub fault_abort_every: Option<u64>,
    }

    impl Faults {
        pub fn none() -> Self {
            Self::default()
        }

        pub fn wrap_transactions(&self, transactions: Box<dyn Transactions>) -> Box<dyn Transactions> {
            match self.fault_abort_every {
                Some(every) if every > 0 => Box::new(AbortEveryNth { inner: transactions, every, commits: 0 }),
                _ => transactions,
            }
        }
    }

    struct AbortEveryNth {
        inner: Box<dyn Transactions>,
        every: u64,
        commits: u64,
    }

    impl Transactions for AbortEveryNth {
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
            self.commits += 1;
            if self.commits.is_multiple_of(self.every) {
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
}
