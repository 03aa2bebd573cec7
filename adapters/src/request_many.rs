//! Request-many (scatter-gather, ADR-47): one request, every reply until a stop condition,
//! as a stream; the core's `RequestMany` machine on the generic driver.
//!
//! Invariant: the stop rules (total timeout, stall, max replies, sentinel, no responders,
//! a lost link) are the core's; this file only names the inbox and the total timeout's
//! default (the client's request timeout).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::Stream;
use nats_sansio::connection::SubscribeError;
use nats_sansio::proto::{HeaderMap, Message};
use nats_sansio::request_many::{RequestMany, RequestManyOptions, Sentinel, DEFAULT_TIMEOUT};

use crate::machine_stream::MachineStream;
use crate::Client;

/// Why a request-many call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestManyError {
    /// What the replies (or their absence) said: no responders, a status, a lost link, an
    /// invalid subject.
    #[error(transparent)]
    Reply(#[from] nats_sansio::request_many::RequestManyError),
    /// The reply inbox could not be subscribed.
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
}

impl Client {
    /// A request whose every reply is collected until a stop condition (scatter-gather,
    /// ADR-47): by default until the client's request timeout (10 s without one); set a
    /// stall, a number of replies or a sentinel to end sooner.
    ///
    /// ```no_run
    /// # async fn run(client: nats_client::Client) -> Result<(), nats_client::Error> {
    /// use std::time::Duration;
    /// use futures_lite::StreamExt;
    ///
    /// let mut replies = client
    ///     .request_many("inventory.count", "widgets".into())
    ///     .stall(Duration::from_millis(200))
    ///     .send()
    ///     .await?;
    /// while let Some(reply) = replies.next().await {
    ///     println!("{:?}", reply?.payload);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn request_many(&self, subject: impl AsRef<str>, payload: Bytes) -> RequestManyBuilder {
        let timeout = self
            .shared_state()
            .lock()
            .conn
            .options()
            .request_timeout
            .unwrap_or(DEFAULT_TIMEOUT);
        RequestManyBuilder {
            client: self.clone(),
            subject: subject.as_ref().to_owned(),
            payload,
            headers: None,
            options: RequestManyOptions {
                timeout,
                ..RequestManyOptions::default()
            },
        }
    }
}

/// A request-many call being set up ([`Client::request_many`]); [`send`](Self::send)
/// starts it.
#[derive(Debug)]
#[must_use = "nothing is sent until `send()` is awaited"]
pub struct RequestManyBuilder {
    client: Client,
    subject: String,
    payload: Bytes,
    headers: Option<HeaderMap>,
    options: RequestManyOptions,
}

impl RequestManyBuilder {
    /// Sends these headers with the request.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Some(headers);
        self
    }

    /// The call never lasts longer than this.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Ends when no reply follows the last one within this.
    pub fn stall(mut self, stall: Duration) -> Self {
        self.options.stall = Some(stall);
        self
    }

    /// Ends after this many replies.
    pub fn max_messages(mut self, max: usize) -> Self {
        self.options.max_messages = Some(max);
        self
    }

    /// Ends at the reply `sentinel` recognises (not yielded).
    pub fn sentinel(mut self, sentinel: Sentinel) -> Self {
        self.options.sentinel = Some(sentinel);
        self
    }

    /// Sends the request; its replies come as a stream that ends at the first stop
    /// condition.
    pub async fn send(self) -> Result<Replies, RequestManyError> {
        let now = self.client.shared_state().runtime.now();
        let inbox = self.client.new_inbox();
        let timeout = self.options.timeout;
        let machine = RequestMany::new(
            now,
            &inbox,
            &self.subject,
            self.headers,
            self.payload,
            self.options,
        )?;
        let inner = MachineStream::start(self.client, machine, timeout).await?;
        Ok(Replies { inner })
    }
}

/// The replies of a request-many call: a stream that ends at its stop condition, or after
/// yielding the error that ended it.
#[derive(Debug)]
pub struct Replies {
    inner: MachineStream<RequestMany, RequestManyError>,
}

impl Stream for Replies {
    type Item = Result<Message, RequestManyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_item(cx)
    }
}
