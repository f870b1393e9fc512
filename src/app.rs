//! Wiring: checks topics, builds the Kafka clients and the actors, serves HTTP, and runs until
//! shutdown. `main` only parses configuration and calls [`run`]; tests drive the same binary.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use rdkafka::consumer::Consumer;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};

use crate::actors::TopicNames;
use crate::actors::partition::PartitionContext;
use crate::actors::router::Router;
use crate::actors::sink::{Sink, SinkContext};
use crate::config::Config;
use crate::health::Health;
use crate::kafka::consumer::{self, GroupConsumer, RebalanceHandler};
use crate::kafka::restore::Restorer;
use crate::kafka::{settings, topics};
use crate::telemetry::Metrics;

/// Ends the process after an error that the tracker cannot repair in place (a failed
/// transaction, a fenced producer, an inconsistent assignment). Nothing is lost: the open
/// transaction is aborted by the broker and the restarted process resumes from the last commit.
pub fn fail(reason: &str) -> ! {
    tracing::error!(reason, "Fatal error; exiting so the orchestrator restarts the tracker");
    std::process::exit(1);
}

/// Runs the tracker until `shutdown` resolves, then commits what was processed and returns.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new());
    let topic_names = Arc::new(TopicNames::from_config(&config));

    let partitions = topics::prepare(&config).await?;
    tracing::info!(partitions, sent = %config.sent_topic, responses = %config.responses_topic, "Input topics are co-partitioned");

    let (server, bound) = crate::http::serve(config.http_listen, metrics.clone(), health.clone())
        .with_context(|| format!("cannot listen on {}", config.http_listen))?;
    tracing::info!(address = %bound, "Serving /metrics, /healthz and /readyz");
    let server_handle = server.handle();
    actix_rt::spawn(server);

    let handler = RebalanceHandler::new(topic_names.clone(), metrics.clone());
    let consumer: Arc<GroupConsumer> =
        Arc::new(settings::consumer(&config).create_with_context(handler).context("cannot create the consumer")?);
    let producer_config = settings::producer(&config);
    let producer: BaseProducer<DefaultProducerContext> =
        producer_config.create().context("cannot create the producer")?;
    let producer =
        actix_rt::task::spawn_blocking(move || producer.init_transactions(Duration::from_secs(60)).map(|()| producer))
            .await?
            .context("cannot initialise transactions")?;
    tracing::info!(transactional_id = %settings::transactional_id(&config), "Transactions initialised");

    let rewind = Arc::new(AtomicBool::new(false));
    let sink_thread = Arbiter::new();
    let sink = {
        let consumer = consumer.clone();
        let shared = SinkContext {
            topics: topic_names.clone(),
            producer_config,
            changelog_topic: config.changelog_topic(),
            metrics: metrics.clone(),
            health: health.clone(),
            rewind: rewind.clone(),
            commit_interval: config.commit_interval(),
            fault_abort_every: config.fault_abort_every,
        };
        Sink::start_in_arbiter(&sink_thread.handle(), move |ctx| {
            ctx.set_mailbox_capacity(crate::actors::UNBOUNDED_MAILBOX);
            Sink::new(producer, consumer, shared)
        })
    };
    let restorer = Arc::new(Restorer {
        client: settings::restore_consumer(&config),
        changelog_topic: config.changelog_topic(),
        input_topics: [config.sent_topic.clone(), config.responses_topic.clone()],
        group_consumer: consumer.clone(),
        metrics: metrics.clone(),
    });
    let workers: Vec<Arbiter> = (0..config.worker_count()).map(|_| Arbiter::new()).collect();
    let shared = PartitionContext {
        sink: sink.clone(),
        topics: topic_names.clone(),
        metrics: metrics.clone(),
        health: health.clone(),
        restorer,
        policy: config.policy(),
        sweep_interval: Duration::from_millis(config.sweep_interval_ms.max(10)),
    };
    let router = Router::create(|ctx| {
        ctx.set_mailbox_capacity(crate::actors::UNBOUNDED_MAILBOX);
        Router::new(workers.iter().map(Arbiter::handle).collect(), shared)
    });
    consumer.context().set_router(router.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    {
        let pipeline = consumer::Pipeline {
            consumer: consumer.clone(),
            router,
            sink,
            topics: topic_names.clone(),
            max_batch: config.max_batch_records.max(1),
            rewind,
        };
        let stop = stop.clone();
        std::thread::Builder::new().name("consumer".into()).spawn(move || {
            let result = consumer::run(pipeline, stop);
            let _ = done_tx.send(result);
        })?;
    }

    let mut done_rx = std::pin::pin!(done_rx);
    tokio::select! {
        () = shutdown => tracing::info!("Shutdown requested"),
        result = &mut done_rx => {
            result.context("consumer thread panicked")?.context("consumer failed")?;
        }
    }
    health.set_shutting_down();
    stop.store(true, Ordering::Release);
    match tokio::time::timeout(config.shutdown_timeout(), &mut done_rx).await {
        Ok(Ok(result)) => result.context("consumer failed during shutdown")?,
        Ok(Err(_)) => anyhow::bail!("consumer thread panicked during shutdown"),
        Err(_) => anyhow::bail!("shutdown did not finish within {:?}", config.shutdown_timeout()),
    }
    server_handle.stop(true).await;
    for worker in workers {
        worker.stop();
    }
    sink_thread.stop();
    tracing::info!("Stopped cleanly");
    Ok(())
}
