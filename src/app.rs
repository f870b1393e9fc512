//! Wiring: checks topics, builds the Kafka clients and the pipeline's stages, serves HTTP, and runs
//! until shutdown or a failure. `main` only parses configuration and calls [`run`]; tests drive
//! the same function.

use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::ServerHandle;
use anyhow::Context as _;
use rdkafka::consumer::Consumer;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

use crate::api::Api;
use crate::api::auth::Token;
use crate::api::owner::Owners;
use crate::config::Config;
use crate::faults::Faults;
use crate::health::Health;
use crate::kafka::restore::Restorer;
use crate::kafka::topics::{self, TopicNames};
use crate::kafka::transaction::TransactionalProducer;
use crate::kafka::{group::ConsumerGroup, settings};
use crate::pipeline::clock::SystemClock;
use crate::pipeline::context::StageContext;
use crate::pipeline::failure::{Failures, PipelineError};
use crate::pipeline::lookups::PartitionLookups;
use crate::pipeline::messages::SourceCommand;
use crate::pipeline::router::Router;
use crate::pipeline::sink::{Sink, SinkContext};
use crate::pipeline::source::{GroupConsumer, RebalanceHandler, Source};
use crate::telemetry::Metrics;

/// Runs the tracker until `shutdown` resolves, then commits what was processed and returns. A
/// failure it cannot repair in place stops it the same way and is returned as the error.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_with_faults(config, Faults::none(), shutdown).await
}

/// [`run`], with the faults to inject (none unless built with the `fault-injection` feature).
pub async fn run_with_faults(config: Config, faults: Faults, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new(config.stall_timeout()));
    let partitions = topics::prepare(&config).await?;
    tracing::info!(partitions, sent = %config.sent_topic, responses = %config.responses_topic, "Input topics are co-partitioned");

    let api = ApiListener::bind(&config)?;
    let (server, bound) = crate::http::serve(config.http_listen, metrics.clone(), health.clone())
        .with_context(|| format!("cannot listen on {}", config.http_listen))?;
    tracing::info!(address = %bound, "Serving /metrics, /healthz and /readyz");
    let server_handle = server.handle();
    actix_rt::spawn(server);

    let result = match RunningPipeline::start(&config, partitions, &faults, metrics.clone(), health.clone()).await {
        Ok(pipeline) => match api.map(|api| api.serve(&pipeline, metrics)).transpose() {
            Ok(api_handle) => {
                let result = pipeline.until_stopped(shutdown, &health, config.shutdown_timeout()).await;
                if let Some(api_handle) = api_handle {
                    api_handle.stop(true).await;
                }
                result
            }
            Err(error) => {
                pipeline.until_stopped(std::future::ready(()), &health, config.shutdown_timeout()).await.and(Err(error))
            }
        },
        Err(error) => Err(error),
    };
    server_handle.stop(true).await;
    if result.is_ok() {
        tracing::info!("Stopped cleanly");
    }
    result
}

/// The lookup API's socket and settings, ready before the pipeline starts: a bad token file or a
/// taken port fails the start before the instance joins the group.
struct ApiListener {
    listener: std::net::TcpListener,
    token: Option<Token>,
    reveal_content: bool,
    instance: String,
    retention_seconds: u64,
    group_id: String,
    sent_topic: String,
    member: String,
}

impl ApiListener {
    fn bind(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(listen) = config.api_listen else { return Ok(None) };
        let token = config.api_token_file.as_deref().map(Token::from_file).transpose()?;
        // Masked content is the only thing that makes an open API tolerable.
        if token.is_none() && config.api_reveal_content {
            anyhow::bail!(
                "--api-reveal-content needs --api-token-file: recipients and texts are never shown without authentication"
            );
        }
        if token.is_none() {
            tracing::warn!(address = %listen, "The lookup API needs no token (no --api-token-file): anyone who reaches it can look messages up");
        }
        let listener = crate::api::bind(listen).with_context(|| format!("cannot listen on {listen} (--api-listen)"))?;
        Ok(Some(Self {
            listener,
            token,
            reveal_content: config.api_reveal_content,
            instance: config.instance_name(),
            retention_seconds: config.retention_seconds,
            group_id: config.application_id.clone(),
            sent_topic: config.sent_topic.clone(),
            member: settings::group_client_id(config),
        }))
    }

    fn serve(self, pipeline: &RunningPipeline, metrics: Arc<Metrics>) -> anyhow::Result<ServerHandle> {
        let owners =
            Owners::new(pipeline.group.clone(), self.group_id, self.sent_topic, self.member, pipeline.lookups.clone());
        let api = Api {
            lookups: pipeline.lookups.clone(),
            owners,
            token: self.token,
            reveal_content: self.reveal_content,
            instance: self.instance,
            retention_seconds: self.retention_seconds,
            metrics,
        };
        let authenticated = api.token.is_some();
        let (server, bound) = crate::api::serve(self.listener, api).context("cannot serve the lookup API")?;
        tracing::info!(address = %bound, authenticated, reveal_content = self.reveal_content, "Serving the lookup API");
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(handle)
    }
}

/// The started pipeline: its threads, and how to tell it to stop and learn that it stopped.
struct RunningPipeline {
    /// Where lookups go.
    lookups: Arc<PartitionLookups>,
    /// Who owns which partition, for lookups forwarded to their owner.
    group: Arc<dyn ConsumerGroup>,
    source: Sender<SourceCommand>,
    source_done: oneshot::Receiver<Result<(), PipelineError>>,
    failures: UnboundedReceiver<PipelineError>,
    threads: Vec<Arbiter>,
}

impl RunningPipeline {
    async fn start(
        config: &Config,
        partitions: i32,
        faults: &Faults,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> anyhow::Result<Self> {
        let topics = Arc::new(TopicNames::from_config(config));
        let handler = RebalanceHandler::new(topics.clone(), metrics.clone(), health.clone());
        let consumer: Arc<GroupConsumer> =
            Arc::new(settings::consumer(config).create_with_context(handler).context("cannot create the consumer")?);
        let group: Arc<dyn ConsumerGroup> = consumer.clone();
        let group_for_api = group.clone();
        let (failures, failures_rx) = Failures::channel();
        let (source_tx, source_rx) = std::sync::mpsc::channel();

        let producer_config = settings::producer(config);
        let (group_for_producer, health_for_producer, metrics_for_producer) =
            (group.clone(), health.clone(), metrics.clone());
        let producer = actix_rt::task::spawn_blocking(move || {
            TransactionalProducer::init(producer_config, group_for_producer, health_for_producer, metrics_for_producer)
        })
        .await??;
        tracing::info!(transactional_id = %settings::transactional_id(config), "Transactions initialised");

        let sink_thread = Arbiter::new();
        let sink_context = SinkContext {
            topics: topics.clone(),
            metrics: metrics.clone(),
            commit_interval: config.commit_interval(),
            health: health.clone(),
            source: source_tx.clone(),
            failures: failures.clone(),
        };
        let transactions = faults.wrap_transactions(Box::new(producer));
        let sink = Sink::start_in_arbiter(&sink_thread.handle(), move |ctx| {
            ctx.set_mailbox_capacity(crate::pipeline::UNBOUNDED_MAILBOX);
            Sink::new(transactions, sink_context)
        });

        let restorer = Restorer::new(settings::restore_consumer(config), topics.clone(), group, metrics.clone());
        let stages = StageContext {
            sink,
            topics: topics.clone(),
            metrics,
            health: health.clone(),
            restorer: faults.wrap_restorer(Arc::new(restorer)),
            clock: Arc::new(SystemClock::new()),
            failures,
            policy: config.policy(),
            sweep_interval: Duration::from_millis(config.sweep_interval_ms.max(10)),
            partitions,
            id_formats: Arc::new(config.id_formats()),
            join_policy: config.join_policy(),
        };
        let workers: Vec<Arbiter> = (0..config.worker_count()).map(|_| Arbiter::new()).collect();
        let worker_handles = workers.iter().map(Arbiter::handle).collect();
        let lookups = Arc::new(PartitionLookups::new(partitions));
        let published = lookups.clone();
        let router = Router::create(|ctx| {
            ctx.set_mailbox_capacity(crate::pipeline::UNBOUNDED_MAILBOX);
            Router::new(worker_handles, stages, published)
        });
        consumer.context().set_router(router.clone());

        let source = Source {
            consumer,
            router: router.clone(),
            topics,
            group: config.application_id.clone(),
            max_batch: config.max_batch_records.max(1),
            max_input_idle: config.max_input_idle(),
            order_buffer_bytes: config.order_buffer_bytes(),
            inbox: source_rx,
            health,
        };
        let (done_tx, source_done) = oneshot::channel();
        std::thread::Builder::new().name("source".into()).spawn(move || {
            let _ = done_tx.send(source.run());
        })?;
        let mut threads = workers;
        threads.push(sink_thread);
        Ok(Self { lookups, group: group_for_api, source: source_tx, source_done, failures: failures_rx, threads })
    }

    /// Waits for the shutdown signal, a reported failure or the source's end; then stops the
    /// source (it commits and leaves the group) within `timeout` and the stages' threads.
    async fn until_stopped(
        mut self,
        shutdown: impl Future<Output = ()>,
        health: &Health,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let failure = tokio::select! {
            () = shutdown => {
                tracing::info!("Shutdown requested");
                None
            }
            Some(failure) = self.failures.recv() => Some(failure),
            ended = &mut self.source_done => {
                // The source already committed and left the group on its way out.
                self.stop_threads();
                return match ended {
                    Ok(Ok(())) => Err(PipelineError::StageStopped("source")),
                    Ok(Err(failure)) => Err(failure),
                    Err(_) => Err(PipelineError::StageStopped("source thread (it panicked)")),
                }
                .context("the pipeline failed");
            }
        };
        health.set_shutting_down();
        let _ = self.source.send(SourceCommand::Stop);
        let stopped = tokio::time::timeout(timeout, &mut self.source_done).await;
        self.stop_threads();
        if let Some(failure) = failure {
            return Err(failure).context("the pipeline failed");
        }
        match stopped {
            Ok(Ok(ended)) => ended.context("the pipeline failed during shutdown"),
            Ok(Err(_)) => anyhow::bail!("the source thread panicked during shutdown"),
            Err(_) => anyhow::bail!("shutdown did not finish within {timeout:?}"),
        }
    }

    fn stop_threads(self) {
        for thread in self.threads {
            thread.stop();
        }
    }
}
