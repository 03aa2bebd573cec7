//! The JetStream context: API requests with a prefix or domain, stream management, account
//! info, and publishing with acknowledgements.
//!
//! Invariant: every API call is one core request with the context's timeout, and its reply
//! is parsed by `nats_sansio::jetstream::api`; a publish waits while the client has the
//! context's maximum of acks in flight (counted from the publish until the ack arrives), so a
//! fast publisher waits instead of piling up unbounded state.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use nats_sansio::connection::RequestError;
use nats_sansio::jetstream::api::{
    parse_response, AccountInfo, ApiErrorKind, ApiPrefix, Paged, Pager, PubAck, StreamConfig,
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
    pub(crate) async fn request<T: DeserializeOwned>(
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
        let request = Request::new().payload(payload).timeout(self.timeout);
        let reply = self.client.send_request(&subject, request).await?;
        Ok(parse_response(&reply.payload)?)
    }

    /// The account's JetStream usage and limits.
    pub async fn account_info(&self) -> Result<AccountInfo, JetStreamError> {
        self.request(self.prefix.account_info(), None::<&()>).await
    }

    /// Creates a stream (succeeds if an identical one exists).
    pub async fn create_stream(&self, config: StreamConfig) -> Result<Stream, JetStreamError> {
        let subject = self.prefix.stream_create(&config.name)?;
        let body = StreamConfigRequest {
            config,
            ..StreamConfigRequest::default()
        };
        let created: StreamCreateResponse = self.request(subject, Some(&body)).await?;
        Ok(Stream::new(self.clone(), created.info))
    }

    /// Updates a stream's configuration.
    pub async fn update_stream(&self, config: StreamConfig) -> Result<StreamInfo, JetStreamError> {
        let subject = self.prefix.stream_update(&config.name)?;
        let body = StreamConfigRequest {
            config,
            ..StreamConfigRequest::default()
        };
        let info: StreamCreateResponse = self.request(subject, Some(&body)).await?;
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

    /// A handle to an existing stream (fetches its info).
    pub async fn get_stream(&self, name: &str) -> Result<Stream, JetStreamError> {
        Ok(Stream::new(self.clone(), self.stream_info(name).await?))
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
            let page: StreamInfoResponse = self.request(subject.clone(), Some(&request)).await?;
            pages.handle_page(page);
        }
        pages
            .into_info()
            .ok_or_else(|| JetStreamError::Malformed("stream info without a reply".into()))
    }

    /// Deletes a stream and its messages.
    pub async fn delete_stream(&self, name: &str) -> Result<(), JetStreamError> {
        let subject = self.prefix.stream_delete(name)?;
        let reply: SuccessResponse = self.request(subject, None::<&()>).await?;
        success(reply.success, "stream delete")
    }

    /// Names of every stream (all pages), optionally only those listening on `subject`.
    pub async fn stream_names(&self, subject: Option<&str>) -> Result<Vec<String>, JetStreamError> {
        let subject = subject.unwrap_or_default();
        self.paged::<StreamNamesResponse, _>(self.prefix.stream_names(), |offset| {
            StreamNamesRequest {
                offset,
                subject: subject.to_owned(),
            }
        })
        .await
    }

    /// Info of every stream (all pages).
    pub async fn streams(&self) -> Result<Vec<StreamInfo>, JetStreamError> {
        self.paged::<StreamListResponse, _>(self.prefix.stream_list(), |offset| {
            StreamNamesRequest {
                offset,
                subject: String::new(),
            }
        })
        .await
    }

    /// Every item of a paged API, page by page as the core's [`Pager`] says.
    pub(crate) async fn paged<R: Paged + DeserializeOwned, B: Serialize>(
        &self,
        subject: String,
        request: impl Fn(usize) -> B,
    ) -> Result<Vec<R::Item>, JetStreamError> {
        let mut pager = Pager::new();
        let mut items = Vec::new();
        while let Some(offset) = pager.next_offset() {
            let page: R = self
                .request(subject.clone(), Some(&request(offset)))
                .await?;
            let total = page.total();
            let page = page.into_items();
            pager.handle_page(page.len(), total);
            items.extend(page);
        }
        Ok(items)
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
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<PublishAckFuture, JetStreamError> {
        self.send_publish(subject, Publish::new().payload(payload))
            .await
    }

    /// Publishes with options (message id, expectations, TTL, headers).
    pub async fn send_publish(
        &self,
        subject: &str,
        publish: Publish,
    ) -> Result<PublishAckFuture, JetStreamError> {
        let headers = (!publish.headers.is_empty()).then_some(publish.headers);
        let payload = publish.payload;
        let reply = poll_fn(|cx| self.poll_issue(cx, subject, headers.as_ref(), &payload)).await?;
        Ok(PublishAckFuture {
            context: self.clone(),
            subject: subject.to_owned(),
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
    subject: String,
    headers: Option<HeaderMap>,
    payload: Bytes,
    attempt: u32,
    /// Tells this publish's retry waits apart from those of publishes refused with it.
    salt: u64,
    state: AckState,
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
            .field("subject", &self.subject)
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
                        &this.subject,
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
    pub fn payload(mut self, payload: impl Into<Bytes>) -> Publish {
        self.payload = payload.into();
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
