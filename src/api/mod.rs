//! The lookup API on its own listener (`--api-listen`): `GET /v1/messages/{id}` answers from the
//! state of the partition actor owning the id (README "Looking up a message"). Apart from
//! `/metrics` and the probes because it serves personal data: a bearer token guards it
//! ([`auth`]), and `text` and `recipient` are masked unless revealed.
//!
//! [`routes`] handles requests, [`batch`] many ids in one (`POST /v1/messages:batchGet`), [`id`]
//! reads the id from the path, [`body`] writes the JSON, [`owner`] says who owns a partition this
//! instance does not, and [`forward`] asks it. [`page`] serves the lookup page for people at `/`,
//! which asks the GET route.

pub mod auth;
pub mod batch;
pub mod body;
pub mod forward;
pub mod id;
pub mod owner;
pub mod page;
pub mod routes;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::pipeline::lookups::PartitionLookups;
use crate::telemetry::Metrics;
use auth::Token;

/// Largest request body accepted by the routes that do not set their own (the batch reads its
/// own, up to [`batch::MAX_BODY_BYTES`]): memory per request stays bounded.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// A client must send its whole request head within this, or get 408: slow clients hold no
/// connection for long.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections held at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 1024;

/// What the routes need.
pub struct Api {
    /// The partition actors of this instance, for lookups.
    pub lookups: Arc<PartitionLookups>,
    /// Required on every /v1 request when set.
    pub token: Option<Token>,
    pub reveal_content: bool,
    /// This instance's name, in every answer (`answeredBy`).
    pub instance: String,
    /// For the 404's explanation of purged ids.
    pub retention_seconds: u64,
    pub metrics: Arc<Metrics>,
    /// Who to forward a lookup of a partition owned elsewhere to.
    pub owners: owner::Owners,
}

/// Binds the listener before the pipeline starts, so that a taken port fails the start at once.
pub fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen)
}

/// Serves the API on `listener`; the caller runs (awaits) the server and stops it through its
/// handle.
pub fn serve(listener: TcpListener, api: Api) -> std::io::Result<(Server, SocketAddr)> {
    let bound = listener.local_addr()?;
    let api = web::Data::new(api);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(api.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .wrap(from_fn(routes::measure))
            .service(
                web::scope("/v1")
                    .wrap(from_fn(routes::authenticate))
                    // `.*`, not `{id}`: an empty id or one with a slash gets its own answer.
                    .route("/messages/{id:.*}", web::get().to(routes::message))
                    // No clash with the GET: `:batchGet` follows `messages` without a slash.
                    .route("/messages:batchGet", web::post().to(batch::batch_get))
                    .default_service(web::to(routes::no_route)),
            )
            // The page holds no data: no token to load it; its lookups carry one.
            .route(page::PAGE_PATH, web::get().to(page::page))
            .route(page::SCRIPT_PATH, web::get().to(page::script))
            .route(page::STYLE_PATH, web::get().to(page::style))
            .default_service(web::to(routes::no_route))
    })
    // A lookup costs the worker microseconds; the partition actors do the work on their threads.
    .workers(1)
    // An answer goes out in one write; Nagle's algorithm could hold a pipelined one back for an
    // acknowledgement.
    .tcp_nodelay(true)
    .max_connections(MAX_CONNECTIONS)
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    // The tracker handles SIGTERM itself.
    .disable_signals()
    .listen(listener)?;
    Ok((server.run(), bound))
}
