//! The JetStream context: API requests with a prefix or domain, stream management, consumers
//! by stream name, account info, and publishing with acknowledgements.
//!
//! Invariant: every API call is one core request with the context's timeout, and its reply
//! is parsed by `nats_sansio::jetstream::api` (a listing is one such request per page); a
//! publish waits while the client has the context's maximum of acks in flight (counted from
//! the publish until the ack arrives), so a fast publisher waits instead of piling up
//! unbounded state.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use nats_sansio::connection::RequestError;
use nats_sansio::jetstream::api::{
    parse_response, validate_name, AccountInfo, ApiErrorKind, ApiPrefix, ConsumerAction,
    ConsumerConfig, ConsumerInfo, CreateConsumerRequest, NameKind, PubAck, StreamConfig,
    StreamConfigRequest, StreamCreateResponse, StreamInfo, StreamInfoPages, StreamInfoRequest,
    StreamInfoResponse, StreamListResponse, StreamNamesRequest, StreamNamesResponse,
    SuccessResponse,
};
pub use nats_sansio::jetstream::publish::DEFAULT_MAX_ACKS_IN_FLIGHT;
use nats_sansio::jetstream::publish::{
    ttl_header_value, PublishFailure, PublishRetry, PublishStep, NATS_EXPECTED_LAST_MSG_ID,
    NATS_EXPECTED_LAST_SEQUENCE, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_EXPECTED_STREAM,
    NATS_MSG_ID, NATS_TTL,
};
use nats_sansio::proto::HeaderMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::consumer::Consumer;
use super::pages::Pages;
use super::stream::Stream;
use super::JetStreamError;
use crate::client::{PendingReply, Request};
use crate::runtime::AsyncTimer;
use crate::Client;

/// How long API requests and publish acks wait by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A JetStream context over a client.
#[derive(Debug, Clone)]
pub struct Context {
    client: Client,
    /// Shared: a context is cloned into every publish's ack future.
    prefix: Arc<ApiPrefix>,
    timeout: Duration,
    max_acks_in_flight: usize,
    retry: PublishRetry,
}

impl Context {
    pub(crate) fn new(client: Client, prefix: ApiPrefix) -> Context {
        Context {
            client,
            prefix: Arc::new(prefix),
            timeout: DEFAULT_TIMEOUT,
            max_acks_in_flight: DEFAULT_MAX_ACKS_IN_FLIGHT,
            retry: PublishRetry::default(),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The API prefix in use (`$JS.API`, a domain's, or a custom one).
    pub fn prefix(&self) -> &ApiPrefix {
        &self.prefix
    }

    /// Timeout of API requests and publish acks.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Publish acks allowed in flight (on this client) before `publish` waits: an ack is in
    /// flight from the publish until it arrives, fails, or its future is dropped.
    pub fn with_max_acks_in_flight(mut self, max: usize) -> Context {
        self.max_acks_in_flight = max.max(1);
        self
    }

    /// How publishes are retried when the server did not take them (no responders,
    /// back-pressure); see [`PublishRetry`] for what is retried and the default schedule.
    pub fn with_publish_retry(mut self, retry: PublishRetry) -> Context {
        self.retry = retry;
        self
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One API request: `body` as JSON (or empty), the reply parsed as `T`.
    pub(crate) async fn api_request<T: DeserializeOwned>(
        &self,
        subject: String,
        body: Option<&impl Serialize>,
    ) -> Result<T, JetStreamError> {
        let payload = match body {
            Some(body) => Bytes::from(
                serde_json::to_vec(body).map_err(|e| JetStreamError::Malformed(e.to_string()))?,
            ),
            None => Bytes::new(),
        };
        self.api_request_bytes(&subject, payload).await
    }

    async fn api_request_bytes<T: DeserializeOwned>(
        &self,
        subject: &str,
        payload: Bytes,
    ) -> Result<T, JetStreamError> {
        let request = Request::new().payload(payload).timeout(self.timeout);
        let reply = self.client.send_request(subject, request).await?;
        Ok(parse_response(&reply.payload)?)
    }

    /// Any JetStream API request: `subject` is relative to the context's API prefix
    /// (`STREAM.INFO.ORDERS` becomes `$JS.API.STREAM.INFO.ORDERS`), `payload` is sent as JSON
    /// (`&()` sends an empty body), and the reply is parsed as `T`: an API error reply is
    /// [`JetStreamError::Api`], so [`JetStreamError::api_kind`] works as for every other call.
    /// Use `T = serde_json::Value` to read any reply.
    ///
    /// ```no_run
    /// # async fn run(js: nats_client::jetstream::Context) -> Result<(), nats_client::jetstream::JetStreamError> {
    /// use nats_client::jetstream::api::StreamInfo;
    ///
    /// let info: StreamInfo = js.request("STREAM.INFO.ORDERS", &()).await?;
    /// println!("{} messages", info.state.messages);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The subject is invalid (kind `InvalidRequest`), the request failed, or the server
    /// answered with an API error or something that is not a `T`.
    pub async fn request<T: DeserializeOwned>(
        &self,
        subject: &str,
        payload: &impl Serialize,
    ) -> Result<T, JetStreamError> {
        let subject = self.prefix.api(subject)?;
        let body =
            serde_json::to_vec(payload).map_err(|e| JetStreamError::Malformed(e.to_string()))?;
        // `()` and `None` serialize to `null`: the API's "no body".
        let body = if body == b"null" {
            Bytes::new()
        } else {
            Bytes::from(body)
        };
        self.api_request_bytes(&subject, body).await
    }

    /// The account's JetStream usage and limits.
    pub async fn account_info(&self) -> Result<AccountInfo, JetStreamError> {
        self.api_request(self.prefix.account_info(), None::<&()>)
            .await
    }

    /// Creates a stream (succeeds if an identical one exists; a different one is an error,
    /// see [`create_or_update_stream`](Self::create_or_update_stream) and
    /// [`get_or_create_stream`](Self::get_or_create_stream)).
    ///
    /// [`StreamConfig`] is plain data: set its public fields, start from
    /// [`StreamConfig::new`] and leave the rest at their defaults.
    ///
    /// ```no_run
    /// # async fn run(js: nats_client::jetstream::Context) -> Result<(), nats_client::jetstream::JetStreamError> {
    /// use std::time::Duration;
    /// use nats_client::jetstream::api::StreamConfig;
    ///
    /// let mut config = StreamConfig::new("ORDERS");
    /// config.subjects = vec!["orders.>".into()];
    /// config.max_age = Duration::from_secs(24 * 3600);
    /// let stream = js.create_stream(config).await?;
    /// println!("{} holds {} messages", stream.name(), stream.cached_info().state.messages);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_stream(&self, config: StreamConfig) -> Result<Stream, JetStreamError> {
        let subject = self.prefix.stream_create(&config.name)?;
        let body = StreamConfigRequest {
            config,
            ..StreamConfigRequest::default()
        };
        let created: StreamCreateResponse = self.api_request(subject, Some(&body)).await?;
        Ok(Stream::new(self.clone(), created.info))
    }

    /// Updates a stream's configuration.
    pub async fn update_stream(&self, config: StreamConfig) -> Result<StreamInfo, JetStreamError> {
        let subject = self.prefix.stream_update(&config.name)?;
        let body = StreamConfigRequest {
            config,
            ..StreamConfigRequest::default()
        };
        let info: StreamCreateResponse = self.api_request(subject, Some(&body)).await?;
        Ok(info.info)
    }

    /// Updates the stream, or creates it if it does not exist.
    pub async fn create_or_update_stream(
        &self,
        config: StreamConfig,
    ) -> Result<Stream, JetStreamError> {
        match self.update_stream(config.clone()).await {
            Ok(info) => Ok(Stream::new(self.clone(), info)),
            Err(e) if e.api_kind() == Some(ApiErrorKind::StreamNotFound) => {
                self.create_stream(config).await
            }
            Err(e) => Err(e),
        }
    }

    /// The stream named in `config` as it is, or created with `config` if it does not exist.
    /// An existing stream is never changed, whatever `config` says.
    pub async fn get_or_create_stream(
        &self,
        config: StreamConfig,
    ) -> Result<Stream, JetStreamError> {
        match self.get_stream(&config.name).await {
            Err(e) if e.api_kind() == Some(ApiErrorKind::StreamNotFound) => {
                self.create_stream(config).await
            }
            found => found,
        }
    }

    /// A handle to an existing stream (fetches its info).
    pub async fn get_stream(&self, name: &str) -> Result<Stream, JetStreamError> {
        Ok(Stream::new(self.clone(), self.stream_info(name).await?))
    }

    /// A handle to a stream without asking the server anything: the name is checked locally
    /// only, so a missing stream shows at the first operation. Until
    /// [`Stream::info`] is called, [`Stream::cached_info`] holds only the name.
    pub fn get_stream_no_info(&self, name: &str) -> Result<Stream, JetStreamError> {
        validate_name(NameKind::Stream, name)?;
        let mut info = StreamInfo::default();
        info.config.name = name.to_owned();
        Ok(Stream::new(self.clone(), info))
    }

    /// A stream's info.
    pub async fn stream_info(&self, name: &str) -> Result<StreamInfo, JetStreamError> {
        self.stream_info_with(name, &StreamInfoRequest::default())
            .await
    }

    /// A stream's info with details: deleted sequences, subjects matching a filter.
    pub async fn stream_info_with(
        &self,
        name: &str,
        request: &StreamInfoRequest,
    ) -> Result<StreamInfo, JetStreamError> {
        let subject = self.prefix.stream_info(name)?;
        // With a subjects filter the subjects come in pages: fetch them all.
        let mut pages = StreamInfoPages::new();
        while let Some(offset) = pages.next_offset() {
            let request = StreamInfoRequest {
                offset,
                ..request.clone()
            };
            let page: StreamInfoResponse =
                self.api_request(subject.clone(), Some(&request)).await?;
            pages.handle_page(page);
        }
        pages
            .into_info()
            .ok_or_else(|| JetStreamError::Malformed("stream info without a reply".into()))
    }

    /// Deletes a stream and its messages.
    pub async fn delete_stream(&self, name: &str) -> Result<(), JetStreamError> {
        let subject = self.prefix.stream_delete(name)?;
        let reply: SuccessResponse = self.api_request(subject, None::<&()>).await?;
        success(reply.success, "stream delete")
    }

    /// Names of every stream, optionally only those listening on `subject`, page by page as
    /// the stream is read (nothing is asked before the first poll). Collect it for a `Vec`:
    /// `js.stream_names(None).try_collect::<_, _, Vec<_>>().await?`.
    pub fn stream_names(&self, subject: Option<&str>) -> Pages<String> {
        let subject = subject.unwrap_or_default().to_owned();
        Pages::new::<StreamNamesResponse, _>(self, self.prefix.stream_names(), move |offset| {
            StreamNamesRequest {
                offset,
                subject: subject.clone(),
            }
        })
    }

    /// Info of every stream, page by page as the stream is read (see
    /// [`stream_names`](Self::stream_names)).
    pub fn streams(&self) -> Pages<StreamInfo> {
        Pages::new::<StreamListResponse, _>(self, self.prefix.stream_list(), |offset| {
            StreamNamesRequest {
                offset,
                subject: String::new(),
            }
        })
    }

    /// Creates a consumer on the named stream, or updates it if it exists (see
    /// [`Stream::create_consumer`]), without fetching the stream's info first.
    pub async fn create_consumer_on_stream(
        &self,
        config: ConsumerConfig,
        stream: &str,
    ) -> Result<Consumer, JetStreamError> {
        self.put_consumer(stream, config, ConsumerAction::CreateOrUpdate)
            .await
    }

    /// Creates a consumer on the named stream, refusing to change an existing one (see
    /// [`Stream::create_consumer_strict`]).
    pub async fn create_consumer_strict_on_stream(
        &self,
        config: ConsumerConfig,
        stream: &str,
    ) -> Result<Consumer, JetStreamError> {
        self.put_consumer(stream, config, ConsumerAction::Create)
            .await
    }

    /// Updates an existing consumer of the named stream (see [`Stream::update_consumer`]).
    pub async fn update_consumer_on_stream(
        &self,
        config: ConsumerConfig,
        stream: &str,
    ) -> Result<Consumer, JetStreamError> {
        self.put_consumer(stream, config, ConsumerAction::Update)
            .await
    }

    /// A handle to an existing consumer of the named stream (fetches its info).
    pub async fn get_consumer_from_stream(
        &self,
        consumer: &str,
        stream: &str,
    ) -> Result<Consumer, JetStreamError> {
        let info = self.consumer_info(stream, consumer).await?;
        Ok(Consumer::new(self.clone(), info))
    }

    /// Deletes a consumer of the named stream.
    pub async fn delete_consumer_from_stream(
        &self,
        consumer: &str,
        stream: &str,
    ) -> Result<(), JetStreamError> {
        let subject = self.prefix.consumer_delete(stream, consumer)?;
        let reply: SuccessResponse = self.api_request(subject, None::<&()>).await?;
        success(reply.success, "consumer delete")
    }

    /// A consumer's info.
    pub(crate) async fn consumer_info(
        &self,
        stream: &str,
        consumer: &str,
    ) -> Result<ConsumerInfo, JetStreamError> {
        let subject = self.prefix.consumer_info(stream, consumer)?;
        self.api_request(subject, None::<&()>).await
    }

    /// One consumer create request; `action` says whether it may create, update or both.
    pub(crate) async fn put_consumer(
        &self,
        stream: &str,
        config: ConsumerConfig,
        action: ConsumerAction,
    ) -> Result<Consumer, JetStreamError> {
        let body = CreateConsumerRequest {
            stream_name: stream.to_owned(),
            config,
            action,
            ..CreateConsumerRequest::default()
        };
        let subject = self.prefix.consumer_create_for(&body)?;
        let info: ConsumerInfo = self.api_request(subject, Some(&body)).await?;
        Ok(Consumer::new(self.clone(), info))
    }

    /// An ordered consumer of the named stream (see
    /// [`Stream::ordered_messages`](super::Stream::ordered_messages)), without fetching the
    /// stream's info first.
    pub async fn ordered_messages(
        &self,
        stream: &str,
        config: nats_sansio::jetstream::ordered::OrderedConfig,
    ) -> Result<super::OrderedMessages, JetStreamError> {
        super::OrderedMessages::start(self.clone(), stream, config).await
    }

    /// Publishes to a stream's subject; the returned future resolves to the server's ack.
    /// The publish is issued before this returns, so publishes keep their order.
    pub async fn publish(
        &self,
        subject: impl AsRef<str>,
        payload: Bytes,
    ) -> Result<PublishAckFuture, JetStreamError> {
        self.send_publish(subject, Publish::new().payload(payload))
            .await
    }

    /// Publishes with headers; the returned future resolves to the server's ack, as with
    /// [`publish`](Self::publish).
    ///
    /// ```no_run
    /// # async fn run(js: nats_client::jetstream::Context) -> Result<(), nats_client::jetstream::JetStreamError> {
    /// use nats_client::HeaderMap;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("Order-Kind", "express");
    /// let ack = js.publish_with_headers("orders.new", headers, "{}".into()).await?.await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn publish_with_headers(
        &self,
        subject: impl AsRef<str>,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<PublishAckFuture, JetStreamError> {
        let publish = Publish { payload, headers };
        self.send_publish(subject, publish).await
    }

    /// Resolves once no JetStream publish of this client (from any of its contexts) awaits
    /// its ack: every ack future still held has its answer (ack or error) ready. A publish
    /// whose future was dropped no longer counts, nor does one waiting between two retries.
    /// Resolves at once if nothing is in flight or the connection is closed.
    ///
    /// ```no_run
    /// # async fn run(js: nats_client::jetstream::Context) -> Result<(), nats_client::jetstream::JetStreamError> {
    /// let mut acks = Vec::new();
    /// for i in 0..100 {
    ///     acks.push(js.publish("orders.new", format!("{i}").into()).await?);
    /// }
    /// js.wait_for_acks().await;
    /// for ack in acks {
    ///     ack.await?; // ready: no waiting here
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_for_acks(&self) {
        let shared = self.client.shared_state();
        poll_fn(|cx| shared.lock().poll_no_acks(cx)).await
    }

    /// Publishes with options (message id, expectations, TTL, headers).
    pub async fn send_publish(
        &self,
        subject: impl AsRef<str>,
        publish: Publish,
    ) -> Result<PublishAckFuture, JetStreamError> {
        let subject = subject.as_ref();
        let headers = (!publish.headers.is_empty()).then_some(publish.headers);
        let payload = publish.payload;
        let reply = poll_fn(|cx| self.poll_issue(cx, subject, headers.as_ref(), &payload)).await?;
        Ok(PublishAckFuture {
            context: self.clone(),
            subject: RetrySubject::new(subject),
            headers,
            payload,
            attempt: 1,
            salt: PUBLISHES.fetch_add(1, Ordering::Relaxed),
            state: AckState::Waiting(reply),
        })
    }

    /// Issues one attempt of a publish, waiting while the window of acks is full.
    fn poll_issue(
        &self,
        cx: &mut TaskContext<'_>,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
    ) -> Poll<Result<PendingReply, RequestError>> {
        self.client.poll_start_ack_request(
            cx,
            subject,
            headers,
            payload,
            self.timeout,
            self.max_acks_in_flight,
        )
    }
}

/// Every setting of a [`Context`] in one place: API prefix or domain, timeout, acks in flight
/// and publish retries. Unset settings keep their defaults ([`DEFAULT_TIMEOUT`],
/// [`DEFAULT_MAX_ACKS_IN_FLIGHT`], `$JS.API`, [`PublishRetry::default`]).
///
/// ```no_run
/// # async fn run(client: nats_client::Client) -> Result<(), nats_client::jetstream::JetStreamError> {
/// use std::time::Duration;
/// use nats_client::jetstream::ContextBuilder;
///
/// let js = ContextBuilder::new()
///     .domain("hub")
///     .timeout(Duration::from_secs(2))
///     .max_acks_in_flight(256)
///     .build(client)?;
/// assert_eq!(js.prefix().as_str(), "$JS.hub.API");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ContextBuilder {
    prefix: PrefixChoice,
    timeout: Option<Duration>,
    max_acks_in_flight: Option<usize>,
    retry: Option<PublishRetry>,
}

/// Where the API is, as asked of a builder; checked at [`ContextBuilder::build`].
#[derive(Debug, Clone, Default)]
enum PrefixChoice {
    #[default]
    Default,
    Domain(String),
    Custom(String),
}

impl ContextBuilder {
    /// A builder with every setting at its default.
    pub fn new() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// A custom API prefix replacing `$JS.API` (an API imported from another account).
    /// Replaces an earlier [`domain`](Self::domain).
    pub fn api_prefix(mut self, prefix: impl Into<String>) -> ContextBuilder {
        self.prefix = PrefixChoice::Custom(prefix.into());
        self
    }

    /// The API of a JetStream domain, `$JS.<domain>.API` (empty: the default prefix).
    /// Replaces an earlier [`api_prefix`](Self::api_prefix).
    pub fn domain(mut self, domain: impl Into<String>) -> ContextBuilder {
        self.prefix = PrefixChoice::Domain(domain.into());
        self
    }

    /// How long API requests and publish acks wait.
    pub fn timeout(mut self, timeout: Duration) -> ContextBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// Publish acks allowed in flight on the client before `publish` waits (see
    /// [`Context::with_max_acks_in_flight`]).
    pub fn max_acks_in_flight(mut self, max: usize) -> ContextBuilder {
        self.max_acks_in_flight = Some(max);
        self
    }

    /// How publishes the server did not take are retried (see
    /// [`Context::with_publish_retry`]).
    pub fn publish_retry(mut self, retry: PublishRetry) -> ContextBuilder {
        self.retry = Some(retry);
        self
    }

    /// The context over `client`.
    ///
    /// # Errors
    ///
    /// If the domain or the prefix cannot be part of a subject (kind `InvalidRequest`).
    pub fn build(self, client: Client) -> Result<Context, JetStreamError> {
        let prefix = match &self.prefix {
            PrefixChoice::Default => ApiPrefix::default(),
            PrefixChoice::Domain(domain) => ApiPrefix::domain(domain)?,
            PrefixChoice::Custom(prefix) => ApiPrefix::custom(prefix)?,
        };
        let mut context = Context::new(client, prefix);
        if let Some(timeout) = self.timeout {
            context.set_timeout(timeout);
        }
        if let Some(max) = self.max_acks_in_flight {
            context = context.with_max_acks_in_flight(max);
        }
        if let Some(retry) = self.retry {
            context = context.with_publish_retry(retry);
        }
        Ok(context)
    }
}

fn success(ok: bool, what: &str) -> Result<(), JetStreamError> {
    if ok {
        Ok(())
    } else {
        Err(JetStreamError::Malformed(format!(
            "{what} answered success: false"
        )))
    }
}

/// The server's acknowledgement of a publish, to await. Retries as the context's
/// [`PublishRetry`] says (no responders, back-pressure), a bounded number of times, then
/// fails with the last answer.
#[must_use = "the ack tells whether the stream stored the message"]
pub struct PublishAckFuture {
    context: Context,
    subject: RetrySubject,
    headers: Option<HeaderMap>,
    payload: Bytes,
    attempt: u32,
    /// Tells this publish's retry waits apart from those of publishes refused with it.
    salt: u64,
    state: AckState,
}

/// A publish's subject, kept for its retries: inline when short (as subjects are), so a
/// publish costs no allocation for it.
enum RetrySubject {
    Inline {
        len: u8,
        bytes: [u8; RetrySubject::INLINE],
    },
    Heap(String),
}

impl RetrySubject {
    /// The longest subject kept inline.
    const INLINE: usize = 64;

    fn new(subject: &str) -> RetrySubject {
        if subject.len() <= Self::INLINE {
            let mut bytes = [0; Self::INLINE];
            bytes[..subject.len()].copy_from_slice(subject.as_bytes());
            RetrySubject::Inline {
                len: subject.len() as u8,
                bytes,
            }
        } else {
            RetrySubject::Heap(subject.to_owned())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Whole UTF-8 copied from a `&str`: never fails.
            RetrySubject::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            RetrySubject::Heap(subject) => subject,
        }
    }
}

/// Publishes made by this process, numbering each for its retry jitter.
static PUBLISHES: AtomicU64 = AtomicU64::new(0);

/// Where an ack future is.
enum AckState {
    /// Waiting for the reply to this attempt.
    Waiting(PendingReply),
    /// Waiting before the next attempt.
    Backoff(Pin<Box<dyn AsyncTimer>>),
    /// Waiting for room in the window to issue the next attempt.
    Issuing,
    /// Done.
    Finished,
}

impl std::fmt::Debug for PublishAckFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishAckFuture")
            .field("subject", &self.subject.as_str())
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl Future for PublishAckFuture {
    type Output = Result<PubAck, JetStreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                AckState::Waiting(reply) => {
                    let result = match Pin::new(reply).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(result) => result,
                    };
                    // The core's policy decides: ack, retry after a wait, or fail.
                    match this
                        .context
                        .retry
                        .handle_reply(this.attempt, this.salt, result)
                    {
                        PublishStep::RetryAfter(wait) => {
                            this.attempt += 1;
                            let runtime = &this.context.client.shared_state().runtime;
                            let timer = runtime.new_timer(runtime.now() + wait);
                            this.state = AckState::Backoff(timer);
                        }
                        PublishStep::Acked(ack) => {
                            this.state = AckState::Finished;
                            return Poll::Ready(Ok(ack));
                        }
                        PublishStep::Failed(failure) => {
                            this.state = AckState::Finished;
                            return Poll::Ready(Err(match failure {
                                PublishFailure::Request(e) => e.into(),
                                PublishFailure::Response(e) => e.into(),
                                _ => JetStreamError::Malformed("publish failed".into()),
                            }));
                        }
                        _ => {
                            this.state = AckState::Finished;
                            return Poll::Ready(Err(JetStreamError::Malformed(
                                "unknown publish step".into(),
                            )));
                        }
                    }
                }
                AckState::Backoff(timer) => {
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.state = AckState::Issuing;
                }
                AckState::Issuing => {
                    let issued = this.context.poll_issue(
                        cx,
                        this.subject.as_str(),
                        this.headers.as_ref(),
                        &this.payload,
                    );
                    match issued {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(reply)) => this.state = AckState::Waiting(reply),
                        Poll::Ready(Err(e)) => {
                            this.state = AckState::Finished;
                            return Poll::Ready(Err(e.into()));
                        }
                    }
                }
                AckState::Finished => {
                    return Poll::Ready(Err(JetStreamError::Malformed(
                        "publish ack polled after it finished".into(),
                    )))
                }
            }
        }
    }
}

/// A publish with options.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    payload: Bytes,
    headers: HeaderMap,
}

impl Publish {
    /// An empty publish.
    pub fn new() -> Publish {
        Publish::default()
    }

    /// The payload.
    pub fn payload(mut self, payload: Bytes) -> Publish {
        self.payload = payload;
        self
    }

    /// A header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Publish {
        self.headers.append(name, value);
        self
    }

    /// `Nats-Msg-Id`: the stream stores a message id once within its duplicate window; a
    /// repeat is acknowledged with `duplicate: true`.
    pub fn message_id(self, id: impl Into<String>) -> Publish {
        self.set(NATS_MSG_ID, id.into())
    }

    /// `Nats-Expected-Stream`: fail unless the subject belongs to this stream.
    pub fn expected_stream(self, stream: impl Into<String>) -> Publish {
        self.set(NATS_EXPECTED_STREAM, stream.into())
    }

    /// `Nats-Expected-Last-Sequence`: fail unless the stream's last sequence is this.
    pub fn expected_last_sequence(self, seq: u64) -> Publish {
        self.set(NATS_EXPECTED_LAST_SEQUENCE, seq.to_string())
    }

    /// `Nats-Expected-Last-Subject-Sequence`: fail unless the last sequence on this subject
    /// is this (`0`: the subject must have no message).
    pub fn expected_last_subject_sequence(self, seq: u64) -> Publish {
        self.set(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, seq.to_string())
    }

    /// `Nats-Expected-Last-Msg-Id`: fail unless the last message id is this.
    pub fn expected_last_message_id(self, id: impl Into<String>) -> Publish {
        self.set(NATS_EXPECTED_LAST_MSG_ID, id.into())
    }

    /// `Nats-TTL`: the message expires after this long (the stream must allow per-message
    /// TTLs). Sent exactly, as a Go duration (`1900ms`), not rounded; the server refuses a TTL
    /// under one second with err_code 10165.
    pub fn ttl(self, ttl: Duration) -> Publish {
        self.set(NATS_TTL, ttl_header_value(ttl))
    }

    fn set(mut self, name: &str, value: String) -> Publish {
        self.headers.insert(name, value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::RetrySubject;

    #[test]
    fn retry_subjects_of_any_length_come_back_whole() {
        for subject in ["a", "orders.eu.new", &"x".repeat(64), &"y.".repeat(100)] {
            let kept = RetrySubject::new(subject);
            assert_eq!(kept.as_str(), subject);
            assert_eq!(
                matches!(kept, RetrySubject::Inline { .. }),
                subject.len() <= RetrySubject::INLINE
            );
        }
    }
}
