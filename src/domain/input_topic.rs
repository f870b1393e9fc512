//! Which input topic a record came from. Offsets, the partition clock and metrics are kept per
//! input; with receipt tracking on, three internal topics join the gateway's inputs.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputTopic {
    SentMessages,
    SubmitResponses,
    /// Receipts joined to their message, keyed by message id (internal).
    MatchedReceipts,
    /// Accepted parts keyed by receipt key: the join's index (internal).
    ReceiptIndex,
    /// Receipts re-keyed by receipt key (internal).
    ReceiptsById,
    /// The gateway's delivery receipts, keyed by the supplier's id as received.
    DeliveryReports,
}

impl InputTopic {
    pub const COUNT: usize = 6;
    pub const ALL: [InputTopic; Self::COUNT] = [
        InputTopic::SentMessages,
        InputTopic::SubmitResponses,
        InputTopic::MatchedReceipts,
        InputTopic::ReceiptIndex,
        InputTopic::ReceiptsById,
        InputTopic::DeliveryReports,
    ];
    /// The inputs of a message's partition actor: co-partitioned by message id.
    pub const MESSAGE_INPUTS: [InputTopic; 3] =
        [InputTopic::SentMessages, InputTopic::SubmitResponses, InputTopic::MatchedReceipts];
    /// The inputs of the receipt join: co-partitioned by receipt key.
    pub const JOIN_INPUTS: [InputTopic; 2] = [InputTopic::ReceiptIndex, InputTopic::ReceiptsById];

    /// Position in per-input arrays such as `[T; InputTopic::COUNT]`.
    pub fn index(self) -> usize {
        match self {
            InputTopic::SentMessages => 0,
            InputTopic::SubmitResponses => 1,
            InputTopic::MatchedReceipts => 2,
            InputTopic::ReceiptIndex => 3,
            InputTopic::ReceiptsById => 4,
            InputTopic::DeliveryReports => 5,
        }
    }
}
