//! `POST /v1/messages:batchGet`: up to [`MAX_IDS`] ids in one request. Each id gets the entry the
//! GET would have answered (the view, or the error body plus its `code`); ids owned here are asked
//! of their partition actors concurrently, the others are sent as one forwarded batch per owning
//! instance, in parallel. The batch answers 200 whatever its entries say.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::Api;
use super::forward::{self, FORWARDED_BY};
use super::id::MAX_ID_BYTES;
use super::routes::{BATCH_PATH, RETRY_SOON, answered, owner_address, owner_unreachable, refusal, unavailable};
use crate::pipeline::messages::{Answer, LookupAnswer};

/// Most ids in one batch: bounds the work and the answer of one request.
pub const MAX_IDS: usize = 1000;
/// Largest body: [`MAX_IDS`] ids of [`MAX_ID_BYTES`] bytes, each byte JSON-escaped at worst as
/// `\u00XX` (6 bytes), with quotes and commas, plus room for the envelope and whitespace.
pub const MAX_BODY_BYTES: usize = MAX_IDS * (6 * MAX_ID_BYTES + 3) + 4096;

/// Batches read or answered at once: with the body limit, bounds the memory batches hold
/// (about 16 × 6.2 MB of bodies at worst); one more is refused with 503 `busy`.
const MAX_CONCURRENT_BATCHES: usize = 16;
static BATCHES: Semaphore = Semaphore::const_new(MAX_CONCURRENT_BATCHES);
/// The whole body must arrive within this (408 otherwise): a slow client holds no batch slot long.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    ids: Vec<String>,
}

/// Why a batch is refused as a whole (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadBatch {
    #[error("the body is not {{\"ids\": [\"...\", ...]}} in JSON: {0}")]
    Malformed(String),
    #[error("the batch has no ids: send 1 to {MAX_IDS}")]
    Empty,
    #[error("the batch has {0} ids, more than {MAX_IDS}")]
    TooMany(usize),
    #[error("ids[{index}] is empty")]
    EmptyId { index: usize },
    #[error("ids[{index}] is longer than {MAX_ID_BYTES} bytes")]
    IdTooLong { index: usize },
}

/// The ids of a batch body, in request order, duplicates kept (each occurrence is answered).
pub fn parse(body: &[u8]) -> Result<Vec<String>, BadBatch> {
    // serde_json refuses strings that are not UTF-8 (lone surrogates included).
    let Request { ids } = serde_json::from_slice(body).map_err(|e| BadBatch::Malformed(e.to_string()))?;
    if ids.is_empty() {
        return Err(BadBatch::Empty);
    }
    if ids.len() > MAX_IDS {
        return Err(BadBatch::TooMany(ids.len()));
    }
    for (index, id) in ids.iter().enumerate() {
        if id.is_empty() {
            return Err(BadBatch::EmptyId { index });
        }
        if id.len() > MAX_ID_BYTES {
            return Err(BadBatch::IdTooLong { index });
        }
    }
    Ok(ids)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchBody<'a> {
    results: Vec<Value>,
    answered_by: &'a str,
}

#[derive(Serialize)]
struct ForwardedBody<'a> {
    ids: Vec<&'a str>,
}

#[derive(Deserialize)]
struct OwnerAnswer {
    results: Vec<Value>,
}

/// `POST /v1/messages:batchGet`.
pub async fn batch_get(request: HttpRequest, payload: web::Payload, api: web::Data<Api>) -> HttpResponse {
    let json = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        let message = "send the batch as Content-Type: application/json".to_owned();
        return refusal(&api, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupportedMediaType", message, None, None);
    }
    // A declared length beyond the limit is refused before a byte of the body is read.
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return too_large(&api);
    }
    let Ok(_slot) = BATCHES.try_acquire() else {
        let message = format!("{MAX_CONCURRENT_BATCHES} batches are being answered; retry");
        return unavailable(&api, "busy", message, None, None, RETRY_SOON);
    };
    let body = match tokio::time::timeout(BODY_TIMEOUT, read_body(payload)).await {
        Ok(Ok(body)) => body,
        Ok(Err(response)) => return response(&api),
        Err(_) => {
            let message = format!("the body did not arrive within {BODY_TIMEOUT:?}");
            return refusal(&api, StatusCode::REQUEST_TIMEOUT, "bodyTimeout", message, None, None);
        }
    };
    let ids = match parse(&body) {
        Ok(ids) => ids,
        Err(bad) => return refusal(&api, StatusCode::BAD_REQUEST, "badBatch", bad.to_string(), None, None),
    };
    drop(body);
    let forwarded = request.headers().contains_key(FORWARDED_BY);
    let authorization = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    let results = answer(&api, &ids, forwarded, authorization).await;
    HttpResponse::Ok().json(BatchBody { results, answered_by: &api.instance })
}

type Refuse = fn(&Api) -> HttpResponse;

fn too_large(api: &Api) -> HttpResponse {
    let message = format!("the body is longer than {MAX_BODY_BYTES} bytes ({MAX_IDS} ids of {MAX_ID_BYTES} bytes)");
    refusal(api, StatusCode::PAYLOAD_TOO_LARGE, "bodyTooLarge", message, None, None)
}

/// The body, at most [`MAX_BODY_BYTES`]; a longer one is refused (413) as soon as it is longer.
async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, Refuse> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| -> Refuse {
            |api| {
                let message = "the body could not be read".to_owned();
                refusal(api, StatusCode::BAD_REQUEST, "badBatch", message, None, None)
            }
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One entry per id, in order: local lookups first, then one forwarded batch per
/// owner of the rest (in parallel).
async fn answer(api: &Api, ids: &[String], forwarded: bool, authorization: Option<&[u8]>) -> Vec<Value> {
    let answers = ids.iter().map(|id| api.lookups.lookup(id));
    let mut results = vec![Value::Null; ids.len()];
    // Per partition owned elsewhere: the indexes of its ids.
    let mut elsewhere: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (index, answer) in answers.into_iter().enumerate() {
        let id = &ids[index];
        results[index] = match answer {
            LookupAnswer { partition, answer: Answer::NotAssigned } if !forwarded => {
                elsewhere.entry(partition).or_default().push(index);
                continue;
            }
            answer => entry(answered(api, id, answer)).await,
        };
    }
    // Per owner's address: its member name and the indexes of its ids.
    let mut owners: BTreeMap<String, (String, Vec<(usize, i32)>)> = BTreeMap::new();
    for (partition, indexes) in elsewhere {
        match owner_address(api, partition).await {
            Ok((address, member)) => {
                let owner = owners.entry(address).or_insert_with(|| (member, Vec::new()));
                owner.1.extend(indexes.into_iter().map(|index| (index, partition)));
            }
            Err(none) => {
                for index in indexes {
                    results[index] = entry(none.response(api, &ids[index], partition)).await;
                }
            }
        }
    }
    let asked = owners.into_iter().map(|(address, (member, indexes))| async move {
        let sent = ForwardedBody { ids: indexes.iter().map(|&(index, _)| ids[index].as_str()).collect() };
        let body = serde_json::to_vec(&sent).unwrap_or_default();
        let answer = forward::post_json(&address, BATCH_PATH, authorization, &api.instance, &body).await;
        (member, indexes, answer)
    });
    for (member, indexes, answer) in join_all(asked).await {
        let from_owner = match answer {
            Ok(answer) if answer.status == 200 => {
                api.metrics.api_forwarded(true);
                match serde_json::from_slice::<OwnerAnswer>(&answer.body) {
                    // Each entry must be for the id sent at its place: an entry is never passed
                    // on for another id.
                    Ok(OwnerAnswer { results })
                        if results.len() == indexes.len()
                            && results.iter().zip(&indexes).all(|(entry, &(index, _))| entry["id"] == ids[index]) =>
                    {
                        Ok(results)
                    }
                    _ => Err("an answer that is not a batch of one entry per id sent, in order".to_owned()),
                }
            }
            Ok(answer) => {
                api.metrics.api_forwarded(true);
                Err(format!("HTTP {} to the forwarded batch", answer.status))
            }
            Err(error) => {
                api.metrics.api_forwarded(false);
                Err(error.to_string())
            }
        };
        match from_owner {
            Ok(entries) => {
                for ((index, _), entry) in indexes.iter().zip(entries) {
                    if entry.get("code").is_some_and(|code| code == 503) {
                        // Perhaps no owner any more: look again next time.
                        api.owners.forget();
                    }
                    results[*index] = entry;
                }
            }
            Err(error) => {
                api.owners.forget();
                for (index, partition) in indexes {
                    results[index] = entry(owner_unreachable(api, &ids[index], partition, &member, &error)).await;
                }
            }
        }
    }
    results
}

/// The batch entry of what the GET would have answered: its body, plus `code` and `retryAfter`
/// (seconds) for anything but a 200.
async fn entry(response: HttpResponse) -> Value {
    let status = response.status();
    let retry_after =
        response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let bytes = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
    let mut body: Map<String, Value> = serde_json::from_slice(&bytes).unwrap_or_default();
    if status != StatusCode::OK {
        body.insert("code".into(), status.as_u16().into());
        if let Some(retry_after) = retry_after {
            body.insert("retryAfter".into(), retry_after.into());
        }
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_in_order_with_duplicates() {
        let ids = parse(br#"{"ids": ["a", "b/c", "\u00e9t\u00e9", "a"]}"#).unwrap();
        assert_eq!(ids, ["a", "b/c", "été", "a"]);
        let most: Vec<String> = (0..MAX_IDS).map(|i| format!("{i:x>1024}")).collect();
        let body = serde_json::to_vec(&serde_json::json!({ "ids": most })).unwrap();
        assert!(body.len() <= MAX_BODY_BYTES);
        assert_eq!(parse(&body).unwrap().len(), MAX_IDS);
    }

    #[test]
    fn the_largest_batch_fits_the_body_limit_even_fully_escaped() {
        let id = "\u{1}".repeat(MAX_ID_BYTES);
        let body = serde_json::to_vec(&serde_json::json!({ "ids": vec![id; MAX_IDS] })).unwrap();
        assert!(body.len() <= MAX_BODY_BYTES, "{} > {MAX_BODY_BYTES}", body.len());
        assert_eq!(parse(&body).unwrap().len(), MAX_IDS);
    }

    #[test]
    fn bad_batches_say_what_is_wrong() {
        for body in [
            &b""[..],
            b"[]",
            b"{\"ids\": \"a\"}",
            b"{\"ids\": [1]}",
            b"{\"ids\": [\"a\"], \"x\": 1}",
            b"{\"ids\": [\"\\ud800\"]}",
        ] {
            assert!(matches!(parse(body), Err(BadBatch::Malformed(_))), "{:?}", String::from_utf8_lossy(body));
        }
        assert_eq!(parse(br#"{"ids": []}"#), Err(BadBatch::Empty));
        let too_many = serde_json::to_vec(&serde_json::json!({ "ids": vec!["a"; MAX_IDS + 1] })).unwrap();
        assert_eq!(parse(&too_many), Err(BadBatch::TooMany(MAX_IDS + 1)));
        assert_eq!(parse(br#"{"ids": ["a", ""]}"#), Err(BadBatch::EmptyId { index: 1 }));
        let long = serde_json::to_vec(&serde_json::json!({ "ids": ["a", "b", "x".repeat(MAX_ID_BYTES + 1)] })).unwrap();
        assert_eq!(parse(&long), Err(BadBatch::IdTooLong { index: 2 }));
        assert_eq!(BadBatch::IdTooLong { index: 2 }.to_string(), "ids[2] is longer than 1024 bytes");
    }
}
