//! Which input topic a record came from. The join has two inputs, and offsets, the partition
//! clock and metrics are kept per input.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputTopic {
    SentMessages,
    SubmitResponses,
}

impl InputTopic {
    pub const ALL: [InputTopic; 2] = [InputTopic::SentMessages, InputTopic::SubmitResponses];

    /// Position in per-input arrays such as `[T; 2]`.
    pub fn index(self) -> usize {
        match self {
            InputTopic::SentMessages => 0,
            InputTopic::SubmitResponses => 1,
        }
    }
}
