//! The JSON the API answers with: a [`MessageView`] with its content masked (or not) and its
//! times as RFC 3339, and the bodies of every refusal.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::masking::message_fields;
use crate::domain::smpp::status_name;
use crate::domain::view::{MessageView, PartState};

/// `GET /v1/messages/{id}` when the state holds the id.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody<'a> {
    id: &'a str,
    status: &'static str,
    /// `known`, `awaitingMessage` or `terminalMarker`.
    known: &'static str,
    partition: i32,
    /// The latest WholeMessage, `text` and `recipient` masked unless revealed; absent for a marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Map<String, Value>>,
    content_masked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_parts: Option<usize>,
    parts: Vec<PartBody<'a>>,
    deadline: DeadlineBody,
    timestamps: TimestampsBody,
    answered_by: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartBody<'a> {
    part_number: u8,
    /// `noResponse`, `retrying`, `accepted` or `rejected`.
    submit: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_status: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_status_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier_message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<ReceiptBody<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptBody<'a> {
    stat: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    err: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_date: Option<&'a str>,
    /// Whether the receipt is final (decides the part) or intermediate (ACCEPTD, ENROUTE).
    is_final: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeadlineBody {
    /// In record time: the partition's clock follows its input's timestamps (README "Clock").
    at: String,
    then: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimestampsBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    first_record_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_record_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    terminal_at: Option<String>,
}

impl<'a> MessageBody<'a> {
    pub fn new(id: &'a str, partition: i32, view: &'a MessageView, reveal: bool, answered_by: &'a str) -> Self {
        Self {
            id,
            status: view.status.as_str(),
            known: view.known.as_str(),
            partition,
            message: view.message.as_deref().and_then(|json| message_fields(json, reveal)),
            content_masked: !reveal,
            total_parts: (!view.parts.is_empty()).then_some(view.parts.len()),
            parts: view.parts.iter().map(PartBody::from).collect(),
            deadline: DeadlineBody { at: rfc3339(view.deadline.at_ms), then: view.deadline.then.as_str() },
            timestamps: TimestampsBody {
                first_record_at: view.timestamps.first_record_ms.map(rfc3339),
                message_record_at: view.timestamps.message_record_ms.map(rfc3339),
                sent_at: view.timestamps.sent_ms.map(rfc3339),
                terminal_at: view.timestamps.terminal_ms.map(rfc3339),
            },
            answered_by,
        }
    }
}

impl<'a> From<&'a PartState> for PartBody<'a> {
    fn from(part: &'a PartState) -> Self {
        Self {
            part_number: part.number,
            submit: part.progress.as_str(),
            command_status: part.command_status,
            command_status_name: part.command_status.and_then(status_name),
            supplier: part.supplier.as_deref(),
            supplier_message_id: part.supplier_message_id.as_deref(),
            receipt: part.receipt.as_ref().map(|receipt| ReceiptBody {
                stat: &receipt.stat,
                err: receipt.err.as_deref(),
                done_date: receipt.done_date.as_deref(),
                is_final: receipt.outcome().is_final(),
            }),
        }
    }
}

/// Every answer that is not a message: what went wrong, for a person and for a program.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody<'a> {
    /// A stable camelCase code a client can branch on.
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    pub answered_by: &'a str,
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds); record times before 1970 do not
/// occur (Kafka's are non-negative), so they are clamped rather than refused.
fn rfc3339(ms: i64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::view::{Deadline, DeadlineAction, Known, PartProgress, Timestamps, ViewStatus};
    use crate::domain::{PartReceipt, Status};

    #[test]
    fn a_view_is_rendered_with_masked_content_and_rfc3339_times() {
        let view = MessageView {
            status: ViewStatus::Published(Status::Sent),
            known: Known::Message,
            message: Some(
                br#"{"id":"m1","status":"PENDING","recipient":"+385911234567","text":"code 1"}"#.to_vec().into(),
            ),
            parts: vec![PartState {
                number: 1,
                progress: PartProgress::Accepted,
                command_status: Some(0),
                supplier: Some("supplier-a".into()),
                supplier_message_id: Some("0A1B".into()),
                receipt: Some(PartReceipt { stat: "ENROUTE".into(), err: None, done_date: None }),
            }],
            deadline: Deadline { at_ms: 1_764_064_800_000, then: DeadlineAction::DeliveryUnknown },
            timestamps: Timestamps { first_record_ms: Some(1_764_064_800_000), ..Timestamps::default() },
        };
        let json = serde_json::to_value(MessageBody::new("m1", 3, &view, false, "pod-0")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "m1", "status": "SENT", "known": "known", "partition": 3,
                "message": {"id": "m1", "status": "PENDING", "recipient": "+3859******67", "text": "***"},
                "contentMasked": true, "totalParts": 1,
                "parts": [{"partNumber": 1, "submit": "accepted", "commandStatus": 0, "commandStatusName": "ESME_ROK",
                           "supplier": "supplier-a", "supplierMessageId": "0A1B",
                           "receipt": {"stat": "ENROUTE", "isFinal": false}}],
                "deadline": {"at": "2025-11-25T10:00:00.000Z", "then": "DELIVERY_UNKNOWN"},
                "timestamps": {"firstRecordAt": "2025-11-25T10:00:00.000Z"},
                "answeredBy": "pod-0"
            })
        );
        let revealed = serde_json::to_value(MessageBody::new("m1", 3, &view, true, "pod-0")).unwrap();
        assert_eq!(
            (revealed["message"]["text"].as_str(), revealed["contentMasked"].as_bool()),
            (Some("code 1"), Some(false))
        );
    }
}
