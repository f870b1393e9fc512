//! The HTTP endpoints: `/metrics` (Prometheus text format), `/healthz` (alive: not stuck) and
//! `/readyz` (assigned partitions ready and not shutting down).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::health::Health;
use crate::telemetry::Metrics;

struct State {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// Binds the server; the caller runs (awaits) it and stops it through its handle.
pub fn serve(listen: SocketAddr, metrics: Arc<Metrics>, health: Arc<Health>) -> std::io::Result<(Server, SocketAddr)> {
    let state = web::Data::new(State { metrics, health });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics_endpoint))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
    })
    // One worker is plenty for scrapes and probes; the cores belong to the pipeline.
    .workers(1)
    // The tracker handles SIGTERM itself: it must commit before the server goes away.
    .disable_signals()
    .bind(listen)?;
    let bound = server.addrs().first().copied().unwrap_or(listen);
    Ok((server.run(), bound))
}

async fn metrics_endpoint(state: web::Data<State>) -> HttpResponse {
    let stalled = state.health.stalled_for().map_or(0, |stall| stall.waited.as_secs());
    state.metrics.stalled_seconds.set(i64::try_from(stalled).unwrap_or(i64::MAX));
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}

/// Fails only when the pipeline is stuck, so that Kubernetes restarts the pod.
async fn healthz(state: web::Data<State>) -> HttpResponse {
    match state.health.stalled_for() {
        None => HttpResponse::Ok().body("ok\n"),
        Some(stall) => HttpResponse::ServiceUnavailable().body(format!(
            "stalled: work has waited {}s with no transaction committed (limit {}s); waiting: {:?}\n",
            stall.waited.as_secs(),
            state.health.stall_timeout().as_secs(),
            stall.waiting,
        )),
    }
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    let assigned = state.health.assigned();
    if state.health.is_ready() {
        HttpResponse::Ok().body(format!("ready; partitions {assigned:?}\n"))
    } else if state.health.broker_unavailable() {
        HttpResponse::ServiceUnavailable()
            .body(format!("not ready: waiting for the Kafka broker; partitions {assigned:?}\n"))
    } else {
        HttpResponse::ServiceUnavailable().body(format!("not ready; partitions {assigned:?}\n"))
    }
}
