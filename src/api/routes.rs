//! The routes of the API listener and the middleware around them (authentication, metrics).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

use super::Api;
use super::auth::Refusal;
use super::body::{ErrorBody, MessageBody as Message};
use super::forward::{self, FORWARDED_BY};
use super::id;
use super::owner::Owner;
use crate::pipeline::messages::{Answer, LookupAnswer};

pub const MESSAGE_PREFIX: &str = "/v1/messages/";
/// `POST` only ([`super::batch`]).
pub const BATCH_PATH: &str = "/v1/messages:batchGet";

/// Retry-After, in seconds, per reason: a restore, a rebalance or a dead owner's replacement
/// usually takes seconds; an owner that advertises no address stays so until the next rebalance;
/// an unreadable state needs an operator.
pub(super) const RETRY_SOON: u32 = 1;
const RETRY_NOT_OWNED: u32 = 5;
const RETRY_FAILED_CLOSED: u32 = 60;

/// The metric label of a request: a fixed few names, never the path (it holds message ids).
pub fn route_label(path: &str) -> &'static str {
    if path.starts_with(MESSAGE_PREFIX) {
        "message"
    } else if path == BATCH_PATH {
        "batchGet"
    } else {
        "other"
    }
}

/// Counts and times every request, whatever answered it (a refusal included).
pub async fn measure(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = route_label(request.path());
    let metrics = request.app_data::<web::Data<Api>>().map(|api| api.metrics.clone());
    let response = next.call(request).await;
    let code = match &response {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.as_response_error().status_code().as_u16(),
    };
    if let Some(metrics) = metrics {
        metrics.api_request(route, code, started.elapsed().as_secs_f64());
    }
    response
}

/// Refuses a /v1 request without the bearer token, when one is configured.
pub async fn authenticate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(api) = request.app_data::<web::Data<Api>>().cloned() else {
        return Ok(request.into_response(HttpResponse::InternalServerError().finish()).map_into_right_body());
    };
    let Some(token) = &api.token else { return next.call(request).await.map(ServiceResponse::map_into_left_body) };
    let presented = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    match token.check(presented) {
        Ok(()) => next.call(request).await.map(ServiceResponse::map_into_left_body),
        Err(refusal) => Ok(request.into_response(unauthorized(&api, refusal)).map_into_right_body()),
    }
}

fn unauthorized(api: &Api, refusal: Refusal) -> HttpResponse {
    let (challenge, message) = match refusal {
        Refusal::Missing => (r#"Bearer realm="sms-tracker""#, "this API needs Authorization: Bearer <token>"),
        Refusal::Invalid => (r#"Bearer realm="sms-tracker", error="invalid_token""#, "the bearer token is not valid"),
    };
    let body = ErrorBody {
        error: "unauthorized",
        message: message.into(),
        id: None,
        partition: None,
        answered_by: &api.instance,
    };
    HttpResponse::Unauthorized().insert_header((header::WWW_AUTHENTICATE, challenge)).json(body)
}

/// `GET /v1/messages/{id}`: the id's state, from the partition actor owning it.
pub async fn message(request: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let id = match id::from_path(request.uri().path(), MESSAGE_PREFIX) {
        Ok(id) => id,
        Err(bad) => return refusal(&api, StatusCode::BAD_REQUEST, "badId", bad.to_string(), None, None),
    };
    // A forwarded request is answered here whatever happens: forwarding it on could loop while
    // the instances disagree about the owner.
    let forwarded = request.headers().contains_key(FORWARDED_BY);
    match api.lookups.lookup(&id) {
        LookupAnswer { partition, answer: Answer::NotAssigned } if !forwarded => {
            forward_to_owner(&api, &request, &id, partition).await
        }
        answer => answered(&api, &id, answer),
    }
}

pub(super) fn answered(api: &Api, id: &str, LookupAnswer { partition, answer }: LookupAnswer) -> HttpResponse {
    let p = Some(partition);
    match answer {
        Answer::Found(view) => {
            HttpResponse::Ok().json(Message::new(id, partition, &view, api.reveal_content, &api.instance))
        }
        Answer::Unknown => {
            let message = format!(
                "no state for this id on partition {partition}: the tracker never saw it, or purged it {} s \
                 (--retention-seconds) after its final status, which is then on the status topic",
                api.retention_seconds
            );
            refusal(api, StatusCode::NOT_FOUND, "unknownOrPurged", message, Some(id), p)
        }
        Answer::Restoring => {
            let message = format!("partition {partition} is assigned to this instance and still restoring its state");
            unavailable(api, "restoring", message, Some(id), p, RETRY_SOON)
        }
        Answer::FailedClosed => {
            let message = format!(
                "partition {partition}'s state is unreadable here; it is not processed (README \"Guarantees\")"
            );
            unavailable(api, "failedClosed", message, Some(id), p, RETRY_FAILED_CLOSED)
        }
        Answer::NotAssigned => {
            let message = format!(
                "partition {partition} is not assigned to this instance, which got the lookup forwarded: the \
                 instances disagree about its owner while the group rebalances"
            );
            unavailable(api, "notOwnedHere", message, Some(id), p, RETRY_SOON)
        }
        Answer::Stopped => {
            let message = format!("partition {partition} has stopped here (the tracker is stopping)");
            unavailable(api, "unavailable", message, Some(id), p, RETRY_SOON)
        }
    }
}

/// Asks the partition's owner and passes its answer on (which names the owner in `answeredBy`).
async fn forward_to_owner(api: &Api, request: &HttpRequest, id: &str, partition: i32) -> HttpResponse {
    let (address, member) = match owner_address(api, partition).await {
        Ok(owner) => owner,
        Err(none) => return none.response(api, id, partition),
    };
    let authorization = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    match forward::get(&address, request.uri().path(), authorization, &api.instance).await {
        Ok(answer) => {
            api.metrics.api_forwarded(true);
            if answer.status == StatusCode::SERVICE_UNAVAILABLE.as_u16() {
                // Perhaps no owner any more: look again next time.
                api.owners.forget();
            }
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = HttpResponse::build(status);
            response.content_type("application/json");
            // Tells the caller (the lookup page says so) that another instance answered for this one.
            response.insert_header((FORWARDED_BY, api.instance.as_str()));
            if let Some(retry_after) = answer.retry_after {
                response.insert_header((header::RETRY_AFTER, retry_after));
            }
            response.body(answer.body)
        }
        Err(error) => {
            api.metrics.api_forwarded(false);
            api.owners.forget();
            owner_unreachable(api, id, partition, &member, &error)
        }
    }
}

/// The 503 of an owner that did not answer, or whose answer could not be passed on.
pub(super) fn owner_unreachable(
    api: &Api,
    id: &str,
    partition: i32,
    member: &str,
    error: &dyn std::fmt::Display,
) -> HttpResponse {
    let message = format!("partition {partition} is owned by {member}, which gave no usable answer: {error}");
    unavailable(api, "ownerUnreachable", message, Some(id), Some(partition), RETRY_SOON)
}

/// The address and member name of the instance owning `partition`, or why there is none to ask.
pub(super) async fn owner_address(api: &Api, partition: i32) -> Result<(String, String), NoOwner> {
    match api.owners.owner_of(partition).await {
        Owner::Remote { address, member } => Ok((address, member)),
        Owner::NoAddress { member } => Err(NoOwner::NoAddress { member }),
        Owner::Changing => Err(NoOwner::Changing),
        Owner::Unknown(error) => Err(NoOwner::Unknown(error.to_string())),
    }
}

/// Why a partition owned elsewhere has no owner to forward to.
pub(super) enum NoOwner {
    NoAddress { member: String },
    Changing,
    Unknown(String),
}

impl NoOwner {
    /// The 503 answering a lookup of `id` on `partition`.
    pub(super) fn response(&self, api: &Api, id: &str, partition: i32) -> HttpResponse {
        let p = Some(partition);
        match self {
            NoOwner::NoAddress { member } => {
                let message = format!(
                    "partition {partition} is owned by {member}, which advertises no address \
                     (--advertised-address): ask it directly"
                );
                unavailable(api, "notOwnedHere", message, Some(id), p, RETRY_NOT_OWNED)
            }
            NoOwner::Changing => {
                let message = format!("partition {partition} is changing owners (the group is rebalancing)");
                unavailable(api, "rebalancing", message, Some(id), p, RETRY_SOON)
            }
            NoOwner::Unknown(error) => {
                let message = format!("partition {partition} is owned elsewhere, and its owner is unknown: {error}");
                unavailable(api, "unavailable", message, Some(id), p, RETRY_SOON)
            }
        }
    }
}

/// Every route the API does not have.
pub async fn no_route(api: web::Data<Api>) -> HttpResponse {
    let message = format!("no such route; ask GET {MESSAGE_PREFIX}{{id}} or POST {}", BATCH_PATH);
    refusal(&api, StatusCode::NOT_FOUND, "noSuchRoute", message, None, None)
}

pub(super) fn unavailable(
    api: &Api,
    error: &'static str,
    message: String,
    id: Option<&str>,
    partition: Option<i32>,
    retry_after: u32,
) -> HttpResponse {
    let body = ErrorBody { error, message, id, partition, answered_by: &api.instance };
    HttpResponse::ServiceUnavailable().insert_header((header::RETRY_AFTER, retry_after)).json(body)
}

pub(super) fn refusal(
    api: &Api,
    status: StatusCode,
    error: &'static str,
    message: String,
    id: Option<&str>,
    partition: Option<i32>,
) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody { error, message, id, partition, answered_by: &api.instance })
}
