//! The first contact with the brokers, made before anything else so that a refused login, a
//! failed TLS handshake or an unreachable broker ends the start-up with a clear error. librdkafka
//! reports these only to its error callback and keeps retrying, while requests wait out their
//! timeouts: a login refused for good would otherwise look like a slow broker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};

use super::authorization::is_authentication_failure;

/// How long the brokers may take to answer a first metadata request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the client's errors are checked while waiting.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Why the tracker could not talk to Kafka at all.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(
        "Kafka refused the login: check the SASL username, password and mechanism (SMS_TRACKER_SASL_USERNAME, SMS_TRACKER_SASL_PASSWORD, sasl.mechanism): {0}"
    )]
    Authentication(String),
    #[error(
        "the TLS handshake with Kafka failed: check ssl.ca.location (the CA that signed the brokers' certificates) and that the broker's name matches its certificate: {0}"
    )]
    Tls(String),
    #[error("no answer from Kafka within {waited:?}; last client error: {last_error}")]
    Unreachable { waited: Duration, last_error: String },
    #[error("cannot create a Kafka client: {0}")]
    Client(#[from] KafkaError),
}

/// Keeps the client's errors: the only place librdkafka reports a refused login or TLS failure.
#[derive(Default)]
struct ClientErrors {
    /// A refused login or a failed TLS handshake: retrying does not help.
    refused: Mutex<Option<ConnectionError>>,
    last: Mutex<Option<String>>,
}

impl ClientContext for ClientErrors {
    fn error(&self, error: KafkaError, reason: &str) {
        let text = format!("{error}: {reason}");
        let code = error.rdkafka_error_code();
        if code.is_some_and(is_authentication_failure) {
            *self.refused.lock().expect("error lock") = Some(ConnectionError::Authentication(text.clone()));
        } else if code == Some(RDKafkaErrorCode::SSL) {
            *self.refused.lock().expect("error lock") = Some(ConnectionError::Tls(text.clone()));
        }
        // "All brokers are down" follows every failure: keep the cause.
        if code != Some(RDKafkaErrorCode::AllBrokersDown) {
            *self.last.lock().expect("error lock") = Some(text);
        }
    }
}

impl rdkafka::producer::ProducerContext for ClientErrors {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// Asks the brokers for the metadata of `topic` with `client`'s settings, until they answer or
/// refuse the login, or [`CONNECT_TIMEOUT`] passes.
pub fn check(client: ClientConfig, topic: &str) -> Result<(), ConnectionError> {
    let mut client = client;
    // Asking a producer for a missing topic's metadata could make the broker create it.
    client.set("allow.auto.create.topics", "false");
    let probe: BaseProducer<ClientErrors> = client.create_with_context(ClientErrors::default())?;
    let started = Instant::now();
    loop {
        let answered = probe.client().fetch_metadata(Some(topic), CHECK_EVERY);
        // Serves the error callback.
        probe.poll(Duration::ZERO);
        if let Some(refused) = probe.context().refused.lock().expect("error lock").take() {
            return Err(refused);
        }
        match answered {
            Ok(_) => return Ok(()),
            Err(error) if started.elapsed() >= CONNECT_TIMEOUT => {
                let last = probe.context().last.lock().expect("error lock").take();
                return Err(ConnectionError::Unreachable {
                    waited: started.elapsed(),
                    last_error: last.unwrap_or_else(|| error.to_string()),
                });
            }
            Err(_) => {}
        }
    }
}
