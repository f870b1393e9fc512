//! Pure domain logic: no Kafka, no actors, no clocks. Everything here is deterministic and tested
//! on its own; the rest of the crate feeds it records and publishes what it returns.

pub mod clock;
pub mod delivery;
pub mod input_topic;
pub mod masking;
pub mod output;
pub mod receipt;
pub mod receipt_join;
pub mod shards;
pub mod smpp;
pub mod snapshot;
pub mod state;
pub mod supplier_id;
pub mod view;
pub mod wire;

pub use delivery::{DeliveryPolicy, MatchedReceipt, PartReceipt, ReceiptOutcome, ReceiptParts};
pub use input_topic::InputTopic;
pub use receipt::{Receipt, ReceiptState};
pub use state::{
    AcceptedPart, Closed, Entry, EntryCounts, Ignored, OrphanPart, Outcome, PartOutcome, PartView, PartitionState,
    Policy, RecordMeta, Status, StatusChange,
};
pub use supplier_id::{IdFormat, IdFormats};
pub use wire::{Input, PartResponse, RecordError, RecordErrorKind};
