//! A running service: its core state, the task that answers PING, INFO and STATS on the
//! nine verb subjects, and stopping (at once or after draining).
//!
//! Invariant: the core `Service` is the only record of endpoints and stats; the verb task
//! answers from it under its lock, and stopping ends the verb subscriptions and every
//! endpoint's subscription, which ends their streams.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_lite::Stream;
use nats_sansio::connection::Sid;
use nats_sansio::service::{
    started_at, Config, EndpointStats, InfoResponse, QueueGroup, StatsResponse,
};

use super::endpoint::{EndpointBuilder, Group};
use super::Error;
use crate::machine_stream::publish;
use crate::subscriber::Subscriber;
use crate::Client;

/// Custom data for an endpoint's STATS entry: given the endpoint's name and stats.
type StatsHandler = dyn Fn(&str, &EndpointStats) -> serde_json::Value + Send + Sync;

/// Services on a client, as async-nats's `ServiceExt`.
pub trait ServiceExt {
    /// A builder for a service on this client.
    fn service_builder(&self) -> ServiceBuilder;
}

impl ServiceExt for Client {
    fn service_builder(&self) -> ServiceBuilder {
        ServiceBuilder {
            client: self.clone(),
            description: None,
            metadata: BTreeMap::new(),
            queue_group: QueueGroup::Inherit,
            stats_handler: None,
        }
    }
}

/// A service being set up ([`ServiceExt::service_builder`]); [`start`](Self::start) runs it.
#[must_use = "the service runs only once `start` is awaited"]
pub struct ServiceBuilder {
    client: Client,
    description: Option<String>,
    metadata: BTreeMap<String, String>,
    queue_group: QueueGroup,
    stats_handler: Option<Arc<StatsHandler>>,
}

impl std::fmt::Debug for ServiceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("description", &self.description)
            .field("metadata", &self.metadata)
            .field("queue_group", &self.queue_group)
            .finish_non_exhaustive()
    }
}

impl ServiceBuilder {
    /// What the service does, for humans (INFO).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Metadata (INFO), immutable once the service runs.
    pub fn metadata(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata = metadata;
        self
    }

    /// The queue group of the endpoints unless a group or endpoint says otherwise (default
    /// `q`).
    pub fn queue_group(mut self, queue_group: impl Into<String>) -> Self {
        self.queue_group = QueueGroup::named(queue_group);
        self
    }

    /// Endpoints subscribe without a queue group unless they name one.
    pub fn no_queue_group(mut self) -> Self {
        self.queue_group = QueueGroup::Disabled;
        self
    }

    /// Custom data for each endpoint's STATS entry.
    pub fn stats_handler(
        mut self,
        handler: impl Fn(&str, &EndpointStats) -> serde_json::Value + Send + Sync + 'static,
    ) -> Self {
        self.stats_handler = Some(Arc::new(handler));
        self
    }

    /// Starts the service `name` at `version` (a semantic version): it answers PING, INFO
    /// and STATS at once; add endpoints with [`Service::endpoint`].
    pub async fn start(self, name: &str, version: &str) -> Result<Service, Error> {
        let mut config = Config::new(name, version);
        config.description = self.description;
        config.metadata = self.metadata;
        config.queue_group = self.queue_group;
        config.validate()?;
        let id = nuid::next().to_string();
        let state = nats_sansio::service::Service::new(config, id, now_started())?;
        let verbs = state
            .verb_subjects()
            .into_iter()
            .map(|(_, subject)| self.client.subscribe_inner(&subject, None))
            .collect::<Result<Vec<_>, _>>()?;
        let inner = Arc::new(Inner {
            client: self.client,
            state: Mutex::new(state),
            stats_handler: self.stats_handler,
            stopped: AtomicBool::new(false),
            endpoints: Mutex::new(Vec::new()),
            verb_task: Mutex::new(None),
        });
        let task = VerbTask {
            inner: Arc::clone(&inner),
            verbs,
        };
        inner.client.shared_state().runtime.spawn(Box::pin(task));
        Ok(Service { inner })
    }
}

/// What the service's handles share.
pub(super) struct Inner {
    pub(super) client: Client,
    pub(super) state: Mutex<nats_sansio::service::Service>,
    stats_handler: Option<Arc<StatsHandler>>,
    stopped: AtomicBool,
    /// The endpoints' subscriptions, to end them on stop.
    endpoints: Mutex<Vec<Sid>>,
    /// The verb task's waker, to end it on stop.
    verb_task: Mutex<Option<Waker>>,
}

impl Inner {
    pub(super) fn state(&self) -> MutexGuard<'_, nats_sansio::service::Service> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub(super) fn register_endpoint(&self, sid: Sid) {
        lock(&self.endpoints).push(sid);
    }

    fn stats_data(&self) -> impl FnMut(&EndpointStats) -> Option<serde_json::Value> + '_ {
        move |stats| self.stats_handler.as_ref().map(|h| h(&stats.name, stats))
    }

    fn stop(&self, drain: bool) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let shared = self.client.shared_state();
        for sid in lock(&self.endpoints).drain(..) {
            Subscriber::end(shared, sid, drain);
        }
        if let Some(waker) = lock(&self.verb_task).take() {
            waker.wake();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Now as a service's `started` (microseconds, which every client reads).
fn now_started() -> nats_sansio::jetstream::api::DateTime {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i128);
    started_at(nanos).unwrap_or_default()
}

/// A running service (async-nats's `Service`). Cheap to clone; it runs until stopped (or
/// until its connection closes), not until dropped.
#[derive(Clone)]
pub struct Service {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state();
        f.debug_struct("Service")
            .field("name", &state.name())
            .field("id", &state.id())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// An endpoint on `subject` (its name too), in the service's queue group.
    pub async fn endpoint(&self, subject: impl AsRef<str>) -> Result<super::Endpoint, Error> {
        self.endpoint_builder().add(subject).await
    }

    /// An endpoint with a name, metadata or queue group of its own.
    pub fn endpoint_builder(&self) -> EndpointBuilder {
        EndpointBuilder::new(Arc::clone(&self.inner), None)
    }

    /// A group of endpoints under the subject prefix `prefix`.
    pub fn group(&self, prefix: &str) -> Result<Group, Error> {
        self.group_with_queue_group_of(prefix, QueueGroup::Inherit)
    }

    /// A group of endpoints under `prefix`, in its own queue group.
    pub fn group_with_queue_group(&self, prefix: &str, queue_group: &str) -> Result<Group, Error> {
        self.group_with_queue_group_of(prefix, QueueGroup::named(queue_group))
    }

    fn group_with_queue_group_of(&self, prefix: &str, queue: QueueGroup) -> Result<Group, Error> {
        let group = self.inner.state().group(prefix, queue)?;
        Ok(Group::new(Arc::clone(&self.inner), group))
    }

    /// The service's unique instance id.
    pub fn id(&self) -> String {
        self.inner.state().id().to_owned()
    }

    /// What INFO answers now.
    pub fn info(&self) -> InfoResponse {
        self.inner.state().info()
    }

    /// What STATS answers now.
    pub fn stats(&self) -> StatsResponse {
        let inner = &self.inner;
        let state = inner.state();
        state.stats(inner.stats_data())
    }

    /// Zeroes every endpoint's counters and restarts the clock of `started`.
    pub fn reset(&self) {
        self.inner.state().reset(now_started());
    }

    /// Stops the service at once: the endpoints' streams end (requests still queued are
    /// dropped) and it no longer answers PING, INFO or STATS.
    pub async fn stop(self) -> Result<(), Error> {
        self.inner.stop(false);
        Ok(())
    }

    /// Stops taking requests, lets the endpoints' streams yield those already on their way,
    /// then ends them; the service stops answering PING, INFO and STATS.
    pub async fn drain(self) -> Result<(), Error> {
        self.inner.stop(true);
        Ok(())
    }

    /// Whether the service was stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.is_stopped()
    }
}

/// Answers PING, INFO and STATS on the nine verb subjects until the service stops.
struct VerbTask {
    inner: Arc<Inner>,
    verbs: Vec<Subscriber>,
}

impl Future for VerbTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        *lock(&this.inner.verb_task) = Some(cx.waker().clone());
        loop {
            if this.inner.is_stopped() {
                // Dropping the subscribers unsubscribes them.
                this.verbs.clear();
                return Poll::Ready(());
            }
            let mut answered = false;
            let mut ended = 0;
            for verb in &mut this.verbs {
                match Pin::new(verb).poll_next(cx) {
                    Poll::Ready(Some(message)) => {
                        let reply = {
                            let state = this.inner.state();
                            state.respond(&message, this.inner.stats_data())
                        };
                        if let Some(reply) = reply {
                            publish(&this.inner.client, reply);
                        }
                        answered = true;
                    }
                    Poll::Ready(None) => ended += 1,
                    Poll::Pending => {}
                }
            }
            if ended == this.verbs.len() {
                // The connection closed: nothing more can come.
                this.inner.stopped.store(true, Ordering::SeqCst);
                return Poll::Ready(());
            }
            if !answered {
                return Poll::Pending;
            }
        }
    }
}
