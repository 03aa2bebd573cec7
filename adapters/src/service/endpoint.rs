//! Endpoints and groups: the subscription each endpoint makes, the requests it yields, and
//! how a request is answered (a payload, headers, or a service error) and counted.
//!
//! Invariant: every response goes through [`Request::respond`] or
//! [`Request::respond_with_headers`], which publish it and record the request (with the
//! time since it was handed out) in the core's stats, an error response as an error.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_lite::Stream;
use nats_sansio::proto::{HeaderMap, Message};
use nats_sansio::service::{error_headers, EndpointConfig, EndpointId, QueueGroup, ServiceError};

use super::instance::Inner;
use super::Error;
use crate::subscriber::Subscriber;

/// A group of endpoints: a subject prefix and a queue group (async-nats's `Group`).
#[derive(Clone)]
pub struct Group {
    inner: Arc<Inner>,
    group: nats_sansio::service::Group,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("prefix", &self.group.prefix())
            .field("queue_group", &self.group.queue_group())
            .finish()
    }
}

impl Group {
    pub(super) fn new(inner: Arc<Inner>, group: nats_sansio::service::Group) -> Group {
        Group { inner, group }
    }

    /// An endpoint on `<prefix>.<subject>`.
    pub async fn endpoint(&self, subject: impl AsRef<str>) -> Result<Endpoint, Error> {
        self.endpoint_builder().add(subject).await
    }

    /// An endpoint in this group with a name, metadata or queue group of its own.
    pub fn endpoint_builder(&self) -> EndpointBuilder {
        EndpointBuilder::new(Arc::clone(&self.inner), Some(self.group.clone()))
    }

    /// A group inside this one (`<prefix>.<name>`).
    pub fn group(&self, name: &str) -> Result<Group, Error> {
        Ok(Group::new(
            Arc::clone(&self.inner),
            self.group.group(name, QueueGroup::Inherit)?,
        ))
    }

    /// A group inside this one, in its own queue group.
    pub fn group_with_queue_group(&self, name: &str, queue_group: &str) -> Result<Group, Error> {
        Ok(Group::new(
            Arc::clone(&self.inner),
            self.group.group(name, QueueGroup::named(queue_group))?,
        ))
    }
}

/// An endpoint being set up; [`add`](Self::add) subscribes it.
#[must_use = "the endpoint exists only once `add` is awaited"]
pub struct EndpointBuilder {
    inner: Arc<Inner>,
    group: Option<nats_sansio::service::Group>,
    name: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    queue_group: QueueGroup,
}

impl std::fmt::Debug for EndpointBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointBuilder")
            .field("name", &self.name)
            .field("queue_group", &self.queue_group)
            .finish_non_exhaustive()
    }
}

impl EndpointBuilder {
    pub(super) fn new(inner: Arc<Inner>, group: Option<nats_sansio::service::Group>) -> Self {
        EndpointBuilder {
            inner,
            group,
            name: None,
            metadata: None,
            queue_group: QueueGroup::Inherit,
        }
    }

    /// The endpoint's name (default: its subject, with each character a name may not have,
    /// such as `.`, made a `-`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The endpoint's metadata (INFO).
    pub fn metadata(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// The endpoint's own queue group.
    pub fn queue_group(mut self, queue_group: impl Into<String>) -> Self {
        self.queue_group = QueueGroup::named(queue_group);
        self
    }

    /// No queue group: every instance gets every request.
    pub fn no_queue_group(mut self) -> Self {
        self.queue_group = QueueGroup::Disabled;
        self
    }

    /// Subscribes the endpoint on `subject` (after the group's prefix).
    pub async fn add(self, subject: impl AsRef<str>) -> Result<Endpoint, Error> {
        if self.inner.is_stopped() {
            return Err(Error::Stopped);
        }
        let subject = subject.as_ref();
        let name = self.name.unwrap_or_else(|| name_of(subject));
        let mut config = EndpointConfig::new(name)
            .subject(subject)
            .queue_group(self.queue_group);
        if let Some(metadata) = self.metadata {
            config = config.metadata(metadata);
        }
        let (id, full_subject, queue_group) = {
            let mut state = self.inner.state();
            let id = state.add_endpoint(self.group.as_ref(), config)?;
            let endpoint = state.endpoint(id).ok_or(Error::Stopped)?;
            (id, endpoint.subject.clone(), endpoint.queue_group.clone())
        };
        let subscriber = self
            .inner
            .client
            .subscribe_inner(&full_subject, queue_group.as_deref())?;
        self.inner.register_endpoint(subscriber.sid());
        Ok(Endpoint {
            inner: self.inner,
            id,
            subscriber,
        })
    }
}

/// The name of an endpoint given only a subject: the subject, with every character a name
/// may not have (names are `A-Z a-z 0-9 - _`) made a `-`.
fn name_of(subject: &str) -> String {
    subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// An endpoint's requests (async-nats's `Endpoint`): a stream that ends when the service
/// stops (after the queued requests, if it drains).
pub struct Endpoint {
    inner: Arc<Inner>,
    id: EndpointId,
    subscriber: Subscriber,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Stream for Endpoint {
    type Item = Request;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Request>> {
        let message = match Pin::new(&mut self.subscriber).poll_next(cx) {
            Poll::Ready(Some(message)) => message,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(Some(Request {
            message,
            inner: Arc::clone(&self.inner),
            endpoint: self.id,
            received: self.inner.client.shared_state().runtime.now(),
        }))
    }
}

/// One request to an endpoint (async-nats's `service::Request`): answer it once with
/// [`respond`](Self::respond) or [`respond_with_headers`](Self::respond_with_headers).
pub struct Request {
    /// The request as it came.
    pub message: Message,
    inner: Arc<Inner>,
    endpoint: EndpointId,
    received: Instant,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Answers with `Ok(payload)`, or with `Err(error)`: an empty reply with the
    /// `Nats-Service-Error` and `Nats-Service-Error-Code` headers, counted as an error in
    /// the endpoint's stats.
    pub async fn respond(&self, response: Result<Bytes, ServiceError>) -> Result<(), Error> {
        match response {
            Ok(payload) => self.send(None, payload),
            Err(error) => {
                self.inner.state().record_error(self.endpoint, &error);
                self.send(Some(error_headers(&error)), Bytes::new())
            }
        }
    }

    /// Answers with `payload` and `headers`.
    pub async fn respond_with_headers(
        &self,
        payload: Bytes,
        headers: HeaderMap,
    ) -> Result<(), Error> {
        self.send(Some(headers), payload)
    }

    fn send(&self, headers: Option<HeaderMap>, payload: Bytes) -> Result<(), Error> {
        let elapsed = self.inner.client.shared_state().runtime.now() - self.received;
        self.inner.state().record_request(self.endpoint, elapsed);
        let reply = self.message.reply.as_ref().ok_or(Error::NoReply)?;
        let published = self.inner.client.shared_state().command(|state| {
            state
                .conn
                .publish(reply.as_str(), None, headers.as_ref(), payload)
        });
        if let Err(e) = published {
            let text = e.to_string();
            self.inner.state().record_failure(self.endpoint, text);
            return Err(e.into());
        }
        Ok(())
    }
}
