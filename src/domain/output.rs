//! Rendering a status change as the output record value.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::state::StatusChange;

/// The output value: the latest WholeMessage with every field preserved in its order, and the
/// status fields set. `updated_at` is when the status was decided (RFC 3339, UTC, milliseconds).
pub fn render_status(change: &StatusChange, updated_at: SystemTime) -> Vec<u8> {
    // The message was validated as a JSON object on the way in, so this parse cannot fail; should
    // it ever, publishing the status with only the id beats losing it.
    let mut fields: Map<String, Value> =
        serde_json::from_slice(&change.message).unwrap_or_else(|_| Map::from_iter([("id".into(), json!(&*change.id))]));
    fields.insert("status".into(), json!(change.status.as_str()));
    fields.insert("statusDescription".into(), json!(change.description));
    let parts: Vec<Value> = change
        .parts
        .iter()
        .map(|part| {
            let mut fields = Map::new();
            fields.insert("partNumber".into(), json!(part.number));
            if let Some(status) = part.command_status {
                fields.insert("commandStatus".into(), json!(status));
            }
            if let Some(id) = &part.supplier_message_id {
                fields.insert("supplierMessageId".into(), json!(id));
            }
            Value::Object(fields)
        })
        .collect();
    fields.insert("parts".into(), Value::Array(parts));
    fields.insert("statusUpdatedAt".into(), json!(humantime::format_rfc3339_millis(updated_at).to_string()));
    serde_json::to_vec(&fields).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::domain::{PartView, Status};

    #[test]
    fn preserves_every_field_in_order_and_sets_the_status() {
        let change = StatusChange {
            id: "m1".into(),
            status: Status::Sent,
            description: "Sent successfully".into(),
            message: br#"{"id":"m1","status":"PENDING","zeta":1,"alpha":{"nested":[true,null]},"text":"caf\u00e9"}"#
                .to_vec()
                .into_boxed_slice(),
            parts: vec![
                PartView { number: 1, command_status: Some(0), supplier_message_id: Some("A".into()) },
                PartView { number: 2, command_status: None, supplier_message_id: None },
            ],
            sent_at_ms: 0,
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_764_064_800_123);
        let out = String::from_utf8(render_status(&change, at)).unwrap();
        assert_eq!(
            out,
            r#"{"id":"m1","status":"SENT","zeta":1,"alpha":{"nested":[true,null]},"text":"café","statusDescription":"Sent successfully","parts":[{"partNumber":1,"commandStatus":0,"supplierMessageId":"A"},{"partNumber":2}],"statusUpdatedAt":"2025-11-25T10:00:00.123Z"}"#
        );
    }
}
