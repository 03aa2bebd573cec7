//! One service instance's state (spec §6): its identity, endpoints and their stats, and the
//! answers to PING, INFO and STATS.
//!
//! Plain state, not a machine: every verb is a request answered at once from this state, and
//! nothing here waits or times out, so there is no deadline and no output queue. The adapter
//! subscribes [`Service::verb_subjects`] (plain) and each endpoint's subject (in its queue
//! group), publishes what [`Service::respond`] returns for a verb message, runs the handlers
//! and reports each handled request with its duration ([`Service::record_request`]) and
//! each error reply ([`Service::record_error`]).
//!
//! Invariant: the instance reads no clock and draws no randomness (its id and every time
//! come from the caller); the stats it reports are exactly what was recorded since the last
//! reset (`average_processing_time = processing_time / num_requests`, zero without
//! requests); and a verb message is answered whatever its payload (PING with garbage gets its
//! PING answer).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::jetstream::api::DateTime;
use crate::machine::Publish;
use crate::proto::{Message, StatusCode};

use super::config::{Config, EndpointConfig, Group, Metadata, QueueGroup};
use super::error::{error_headers, ServiceConfigError, ServiceError};
use super::response::{
    EndpointInfo, EndpointStats, InfoResponse, PingResponse, StatsResponse, INFO_RESPONSE_TYPE,
    PING_RESPONSE_TYPE, STATS_RESPONSE_TYPE,
};
use super::subjects::{validate_id, verb_subject, Verb};

/// An endpoint of a [`Service`], as [`Service::add_endpoint`] returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(usize);

/// An endpoint: where it listens and how it fared since the last reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its name.
    pub name: String,
    /// The full subject (group prefix included).
    pub subject: String,
    /// The queue group to subscribe in; `None`: a plain subscription.
    pub queue_group: Option<String>,
    /// Its metadata, if any.
    pub metadata: Option<Metadata>,
    /// Requests handled.
    pub num_requests: u64,
    /// Requests answered with an error.
    pub num_errors: u64,
    /// The last error (`<code>:<description>`), empty when none.
    pub last_error: String,
    /// Time spent handling, in all.
    pub processing_time: Duration,
}

impl Endpoint {
    /// `processing_time / num_requests`, integer nanoseconds; zero without requests.
    pub fn average_processing_time(&self) -> Duration {
        match self.num_requests {
            0 => Duration::ZERO,
            n => {
                let nanos = self.processing_time.as_nanos() / u128::from(n);
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        }
    }

    fn reset(&mut self) {
        self.num_requests = 0;
        self.num_errors = 0;
        self.last_error.clear();
        self.processing_time = Duration::ZERO;
    }

    fn info(&self) -> EndpointInfo {
        EndpointInfo {
            name: self.name.clone(),
            subject: self.subject.clone(),
            queue_group: self.queue_group.clone().unwrap_or_default(),
            metadata: self.metadata.clone(),
        }
    }

    fn stats(&self) -> EndpointStats {
        EndpointStats {
            name: self.name.clone(),
            subject: self.subject.clone(),
            queue_group: self.queue_group.clone().unwrap_or_default(),
            num_requests: self.num_requests,
            num_errors: self.num_errors,
            last_error: self.last_error.clone(),
            processing_time: self.processing_time,
            average_processing_time: self.average_processing_time(),
            data: None,
        }
    }
}

/// One service instance.
#[derive(Debug, Clone)]
pub struct Service {
    config: Config,
    id: String,
    started: DateTime,
    root: Group,
    endpoints: Vec<Endpoint>,
}

impl Service {
    /// A service instance with the id `id` (adapters pass a NUID), started at `started`
    /// (the wall-clock time, UTC, from the caller).
    ///
    /// # Errors
    ///
    /// The first rule of `config` broken, or [`ServiceConfigError::InvalidId`].
    pub fn new(
        config: Config,
        id: impl Into<String>,
        started: DateTime,
    ) -> Result<Service, ServiceConfigError> {
        config.validate()?;
        let id = id.into();
        validate_id(&id)?;
        Ok(Service {
            root: Group::root(config.resolved_queue_group()),
            config,
            id,
            started,
            endpoints: Vec::new(),
        })
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The instance id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version.
    pub fn version(&self) -> &str {
        &self.config.version
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// When it started, or its stats were last reset.
    pub fn started(&self) -> &DateTime {
        &self.started
    }

    /// The root group: no prefix, the service's queue group.
    pub fn root(&self) -> &Group {
        &self.root
    }

    /// A group at the root (see [`Group::group`] for nesting).
    ///
    /// # Errors
    ///
    /// [`ServiceConfigError::InvalidGroup`], [`ServiceConfigError::InvalidQueueGroup`].
    pub fn group(&self, name: &str, queue_group: QueueGroup) -> Result<Group, ServiceConfigError> {
        self.root.group(name, queue_group)
    }

    /// Adds an endpoint in `group` (`None`: at the root); endpoints may be added at any
    /// time, and never removed.
    ///
    /// # Errors
    ///
    /// What [`Group::resolve`] refuses.
    pub fn add_endpoint(
        &mut self,
        group: Option<&Group>,
        config: EndpointConfig,
    ) -> Result<EndpointId, ServiceConfigError> {
        let (subject, queue_group) = group.unwrap_or(&self.root).resolve(&config)?;
        self.endpoints.push(Endpoint {
            name: config.name,
            subject,
            queue_group,
            metadata: config.metadata,
            num_requests: 0,
            num_errors: 0,
            last_error: String::new(),
            processing_time: Duration::ZERO,
        });
        Ok(EndpointId(self.endpoints.len() - 1))
    }

    /// An endpoint.
    pub fn endpoint(&self, id: EndpointId) -> Option<&Endpoint> {
        self.endpoints.get(id.0)
    }

    /// Every endpoint, in the order added.
    pub fn endpoints(&self) -> impl Iterator<Item = (EndpointId, &Endpoint)> {
        self.endpoints
            .iter()
            .enumerate()
            .map(|(n, e)| (EndpointId(n), e))
    }

    /// The nine discovery subjects to subscribe (plainly, no queue group): each verb for all
    /// services, for this name, and for this instance.
    pub fn verb_subjects(&self) -> Vec<(Verb, String)> {
        let prefix = Some(self.config.api_prefix.as_str());
        let name = Some(self.config.name.as_str());
        let mut subjects = Vec::with_capacity(9);
        for verb in Verb::ALL {
            for (name, id) in [(None, None), (name, None), (name, Some(self.id.as_str()))] {
                // Prefix, name and id were checked in `new`.
                if let Ok(subject) = verb_subject(prefix, verb, name, id) {
                    subjects.push((verb, subject));
                }
            }
        }
        subjects
    }

    /// Counts a handled request and the time its handler took (start to return).
    pub fn record_request(&mut self, id: EndpointId, processing_time: Duration) {
        if let Some(e) = self.endpoints.get_mut(id.0) {
            e.num_requests = e.num_requests.saturating_add(1);
            e.processing_time = e.processing_time.saturating_add(processing_time);
        }
    }

    /// Counts an error reply sent with [`error_headers`]: `num_errors` grows, `last_error`
    /// becomes `<code>:<description>`.
    pub fn record_error(&mut self, id: EndpointId, error: &ServiceError) {
        self.record_failure(id, error.to_string());
    }

    /// Counts another failure of the endpoint (a reply that could not be published, a
    /// subscription error) with its text as `last_error`.
    pub fn record_failure(&mut self, id: EndpointId, text: impl Into<String>) {
        if let Some(e) = self.endpoints.get_mut(id.0) {
            e.num_errors = e.num_errors.saturating_add(1);
            e.last_error = text.into();
        }
    }

    /// Zeroes every endpoint's counters, errors and times; the stats now start at `started`.
    /// Queue groups stay as they are (nats.go blanks them in later STATS; we do not).
    pub fn reset(&mut self, started: DateTime) {
        self.started = started;
        self.endpoints.iter_mut().for_each(Endpoint::reset);
    }

    /// The PING answer.
    pub fn ping(&self) -> PingResponse {
        PingResponse {
            name: self.config.name.clone(),
            id: self.id.clone(),
            version: self.config.version.clone(),
            metadata: self.config.metadata.clone(),
            kind: PING_RESPONSE_TYPE.to_owned(),
        }
    }

    /// The INFO answer.
    pub fn info(&self) -> InfoResponse {
        InfoResponse {
            name: self.config.name.clone(),
            id: self.id.clone(),
            version: self.config.version.clone(),
            metadata: self.config.metadata.clone(),
            kind: INFO_RESPONSE_TYPE.to_owned(),
            description: self.config.description.clone().unwrap_or_default(),
            endpoints: self.endpoints.iter().map(Endpoint::info).collect(),
        }
    }

    /// The STATS answer; `data` is the stats handler, asked once per endpoint (`None`, or no
    /// handler: no `data` field).
    pub fn stats(&self, mut data: impl FnMut(&EndpointStats) -> Option<Value>) -> StatsResponse {
        StatsResponse {
            name: self.config.name.clone(),
            id: self.id.clone(),
            version: self.config.version.clone(),
            metadata: self.config.metadata.clone(),
            kind: STATS_RESPONSE_TYPE.to_owned(),
            started: self.started.clone(),
            endpoints: self
                .endpoints
                .iter()
                .map(|e| {
                    let mut stats = e.stats();
                    stats.data = data(&stats);
                    stats
                })
                .collect(),
        }
    }

    /// The reply to a message on one of the [verb subjects](Self::verb_subjects): the JSON
    /// of the verb's answer (the payload is not read), or, should it fail to serialize, an
    /// empty reply with a 500 service error (as nats.go). `None` when the message has no
    /// reply subject or is not a verb subject of this instance.
    pub fn respond(
        &self,
        message: &Message,
        data: impl FnMut(&EndpointStats) -> Option<Value>,
    ) -> Option<Publish> {
        let reply = message.reply.as_ref()?;
        let (verb, name, id) = Verb::of_subject(&self.config.api_prefix, &message.subject)?;
        if name.is_some_and(|n| n != self.config.name) || id.is_some_and(|i| i != self.id) {
            return None;
        }
        Some(verb_reply(verb, reply.as_str(), self.answer(verb, data)))
    }

    /// The JSON of a verb's answer.
    pub fn answer(
        &self,
        verb: Verb,
        data: impl FnMut(&EndpointStats) -> Option<Value>,
    ) -> Result<Vec<u8>, serde_json::Error> {
        match verb {
            Verb::Ping => to_json(&self.ping()),
            Verb::Info => to_json(&self.info()),
            Verb::Stats => to_json(&self.stats(data)),
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}

/// A `started` time for [`Service::new`] and [`Service::reset`] from the wall clock's
/// nanoseconds since the Unix epoch: RFC 3339 in UTC with microseconds, such as
/// `2023-11-14T22:13:20.123456Z`. Every client reads that (nats.py parses at most six
/// fractional digits, so Go's nine would not do). `None` outside the years 0000 to 9999.
///
/// ```
/// use nats_sansio::service::instance::started_at;
///
/// let t = started_at(1_700_000_000_123_456_789).unwrap();
/// assert_eq!(t.as_str(), "2023-11-14T22:13:20.123456Z");
/// ```
pub fn started_at(unix_nanos: i128) -> Option<DateTime> {
    let full = DateTime::from_unix_nanos(unix_nanos)?;
    // `…:SS.nnnnnnnnnZ`: keep six digits of the nine.
    let micros = full.as_str().get(..full.as_str().len().checked_sub(4)?)?;
    Some(DateTime::new(format!("{micros}Z")))
}

/// The publish answering a verb: the JSON, or the 500 error reply if it failed.
pub(crate) fn verb_reply(
    verb: Verb,
    reply: &str,
    json: Result<Vec<u8>, serde_json::Error>,
) -> Publish {
    match json {
        Ok(json) => Publish::new(reply, json.into()),
        Err(e) => {
            let error = ServiceError::new(
                u32::from(StatusCode::INTERNAL_ERROR.as_u16()),
                format!("Error handling {verb} request: {e}"),
            );
            Publish {
                subject: reply.to_owned(),
                reply: None,
                headers: Some(error_headers(&error)),
                payload: Default::default(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
