//! Finding services: PING, INFO or STATS sent to every service, to the instances of one, or
//! to one instance, with every answer gathered within a window (request-many).
//!
//! Invariant: the subjects and the reading of the answers are the core's; an answer that is
//! not a valid response of the verb is an error item, never dropped in silence, and no
//! responders at all is an empty answer, not an error.

use std::time::Duration;

use futures_lite::StreamExt;
use nats_sansio::request_many::RequestManyError as ReplyError;
use nats_sansio::service::{
    verb_subject, DiscoveryError, InfoResponse, PingResponse, StatsResponse, Verb, VerbResponse,
};

use crate::{Client, RequestManyError};

/// How long discovery waits for answers unless told: services answer at once, so a short
/// window finds every reachable instance.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(1);

/// Discovery on `client` (all services by default; [`Discovery::name`] and
/// [`Discovery::id`] narrow it).
pub fn discover(client: &Client) -> Discovery {
    Discovery {
        client: client.clone(),
        name: None,
        id: None,
        window: DEFAULT_WINDOW,
    }
}

/// Which services to ask and how long to wait ([`discover`]).
#[derive(Debug, Clone)]
pub struct Discovery {
    client: Client,
    name: Option<String>,
    id: Option<String>,
    window: Duration,
}

/// Why discovery failed: the request, or an answer that was not a valid response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The service name or id cannot be in a subject.
    #[error(transparent)]
    Config(#[from] nats_sansio::service::ServiceConfigError),
    /// The request could not be made.
    #[error(transparent)]
    Request(#[from] RequestManyError),
    /// An answer was not a valid response of the verb.
    #[error(transparent)]
    Answer(#[from] DiscoveryError),
}

impl Discovery {
    /// Only the instances of the service `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only the instance `id` (with [`name`](Self::name)).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// How long to gather answers (default [`DEFAULT_WINDOW`]).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Every instance's PING answer.
    pub async fn ping(&self) -> Result<Vec<PingResponse>, DiscoverError> {
        self.ask(Verb::Ping).await
    }

    /// Every instance's INFO answer (its endpoints).
    pub async fn info(&self) -> Result<Vec<InfoResponse>, DiscoverError> {
        self.ask(Verb::Info).await
    }

    /// Every instance's STATS answer.
    pub async fn stats(&self) -> Result<Vec<StatsResponse>, DiscoverError> {
        self.ask(Verb::Stats).await
    }

    async fn ask<T: VerbResponse>(&self, verb: Verb) -> Result<Vec<T>, DiscoverError> {
        let subject = verb_subject(None, verb, self.name.as_deref(), self.id.as_deref())?;
        let mut request = self
            .client
            .request_many(subject, bytes::Bytes::new())
            .timeout(self.window);
        if self.id.is_some() {
            // One instance has that id: its answer ends the wait.
            request = request.max_messages(1);
        }
        let mut replies = request.send().await?;
        let mut answers = Vec::new();
        while let Some(reply) = replies.next().await {
            match reply {
                Ok(message) => answers.push(T::from_message(&message)?),
                Err(RequestManyError::Reply(ReplyError::NoResponders)) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(answers)
    }
}
