//! A stream handle: its messages (get, direct get, delete, purge) and its consumers
//! (create or update, strict create, update, get or create, get, info, delete, names, list,
//! pause, resume, reset, unpin).
//!
//! Invariant: a `Stream` only remembers its name and the last info it saw; every operation
//! is one API request through its context (a get-or-create two at most, a listing one per
//! page).

/// The stream configuration, as async-nats names it (`jetstream::stream::Config`).
pub use nats_sansio::jetstream::api::StreamConfig as Config;
/// What the server says about a stream, as async-nats names it (`jetstream::stream::Info`).
pub use nats_sansio::jetstream::api::StreamInfo as Info;
/// A stream's state, as async-nats names it (`jetstream::stream::State`).
pub use nats_sansio::jetstream::api::StreamState as State;
pub use nats_sansio::jetstream::api::{
    Compression, DiscardPolicy, External, Placement, Republish, RetentionPolicy, StorageType,
    StreamSource as Source, SubjectTransform,
};

use bytes::Bytes;
use nats_sansio::jetstream::api::{
    ApiErrorKind, ConsumerAction, ConsumerConfig, ConsumerInfo, ConsumerListResponse,
    ConsumerNamesRequest, ConsumerNamesResponse, ConsumerPauseRequest, ConsumerPauseResponse,
    ConsumerResetRequest, ConsumerResetResponse, ConsumerUnpinRequest, DateTime, DirectGetRequest,
    MsgDeleteRequest, MsgGetRequest, MsgGetResponse, PurgeRequest, PurgeResponse, StoredMessage,
    StreamInfo, SuccessResponse,
};
use nats_sansio::jetstream::direct::{self, DirectGetError, DirectReply};
use nats_sansio::proto::Message;

use nats_sansio::jetstream::ordered::{OrderedConfig, OrderedMode};

use super::consumer::Consumer;
use super::direct_get::DirectGetBatch;
use super::ordered_messages::OrderedMessages;
use super::pages::Pages;
use super::{Context, JetStreamError};
use crate::client::Request;

/// A stream.
#[derive(Debug, Clone)]
pub struct Stream {
    context: Context,
    info: StreamInfo,
}

impl Stream {
    pub(crate) fn new(context: Context, info: StreamInfo) -> Stream {
        Stream { context, info }
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.info.config.name
    }

    /// The info last fetched (at creation or by [`info`](Self::info)).
    pub fn cached_info(&self) -> &StreamInfo {
        &self.info
    }

    /// Fetches the stream's current info.
    pub async fn info(&mut self) -> Result<&StreamInfo, JetStreamError> {
        self.info = self.context.stream_info(self.name()).await?;
        Ok(&self.info)
    }

    /// The message with this sequence, read through the stream leader.
    pub async fn get_message(&self, seq: u64) -> Result<StoredMessage, JetStreamError> {
        self.get_message_with(MsgGetRequest::Sequence(seq)).await
    }

    /// The last message on a subject.
    pub async fn get_last_message(&self, subject: &str) -> Result<StoredMessage, JetStreamError> {
        self.get_message_with(MsgGetRequest::LastBySubject(subject.to_owned()))
            .await
    }

    /// The first message on a subject at or after a sequence.
    pub async fn get_next_message(
        &self,
        subject: &str,
        seq: u64,
    ) -> Result<StoredMessage, JetStreamError> {
        self.get_message_with(MsgGetRequest::NextBySubject {
            subject: subject.to_owned(),
            seq,
        })
        .await
    }

    async fn get_message_with(
        &self,
        request: MsgGetRequest,
    ) -> Result<StoredMessage, JetStreamError> {
        let subject = self.context.prefix().stream_msg_get(self.name())?;
        let reply: MsgGetResponse = self.context.api_request(subject, Some(&request)).await?;
        Ok(reply.message)
    }

    /// Direct get (any replica answers; the stream must allow direct access) of one message:
    /// the stored message as the server sends it, with `Nats-Sequence`, `Nats-Subject` and
    /// friends in its headers. A missing message has kind
    /// `Api(ApiErrorKind::NoMessageFound)`. A `batch` or `multi_last` request is refused:
    /// use [`direct_get_batch`](Self::direct_get_batch).
    pub async fn direct_get(&self, request: &DirectGetRequest) -> Result<Message, JetStreamError> {
        if direct::is_batched(request) {
            return Err(JetStreamError::DirectGet(DirectGetError::BadRequest(
                "a batch or multi_last request has many replies: use direct_get_batch".into(),
            )));
        }
        let subject = self.context.prefix().direct_get(self.name())?;
        let body =
            serde_json::to_vec(request).map_err(|e| JetStreamError::Malformed(e.to_string()))?;
        self.direct(subject, Bytes::from(body)).await
    }

    /// Direct get of the last message on a subject.
    pub async fn direct_get_last(&self, subject: &str) -> Result<Message, JetStreamError> {
        let api = self
            .context
            .prefix()
            .direct_get_last_for(self.name(), subject)?;
        self.direct(api, Bytes::new()).await
    }

    /// Batched direct get (ADR-31): every message of a `batch` (from `seq`, `start_time` or
    /// `next_by_subj`, up to `max_bytes`) or of a `multi_last` (the last message of each
    /// matching subject), in stream order, as a stream that ends at the server's end of
    /// batch; [`DirectGetBatch::end_of_batch`] then says where a next page would start. An
    /// error is the stream's last item (no match at all has kind
    /// `Api(ApiErrorKind::NoMessageFound)`). A request that is neither `batch` nor
    /// `multi_last` yields its single message.
    pub async fn direct_get_batch(
        &self,
        request: &DirectGetRequest,
    ) -> Result<DirectGetBatch, JetStreamError> {
        DirectGetBatch::start(self.context.clone(), self.name(), request).await
    }

    async fn direct(&self, subject: String, body: Bytes) -> Result<Message, JetStreamError> {
        let request = Request::new().payload(body).timeout(self.context.timeout());
        let message = self
            .context
            .client()
            .send_request(&subject, request)
            .await?;
        // The core says what the reply is.
        match direct::classify(message.clone()) {
            DirectReply::Message(_) => Ok(message),
            DirectReply::Error(e) => Err(e.into()),
            _ => Err(JetStreamError::Malformed(format!(
                "direct get answered {}",
                message.status().map(|s| s.as_u16()).unwrap_or(0)
            ))),
        }
    }

    /// Deletes a message (its data is overwritten unless `no_erase`).
    pub async fn delete_message(&self, seq: u64, no_erase: bool) -> Result<(), JetStreamError> {
        let subject = self.context.prefix().stream_msg_delete(self.name())?;
        let body = MsgDeleteRequest { seq, no_erase };
        let reply: SuccessResponse = self.context.api_request(subject, Some(&body)).await?;
        success(reply.success)
    }

    /// Purges every message.
    pub async fn purge(&self) -> Result<PurgeResponse, JetStreamError> {
        self.purge_with(&PurgeRequest::default()).await
    }

    /// Purges by subject filter, up to a sequence, or keeping the newest `keep`.
    pub async fn purge_with(
        &self,
        request: &PurgeRequest,
    ) -> Result<PurgeResponse, JetStreamError> {
        let subject = self.context.prefix().stream_purge(self.name())?;
        self.context.api_request(subject, Some(request)).await
    }

    /// Creates a consumer, or updates it if one with the same name exists (as async-nats
    /// does): redeploying with a changed config applies the change. The server refuses
    /// changes it cannot make to a live consumer (its deliver policy, for one). Use
    /// [`create_consumer_strict`](Self::create_consumer_strict) to never touch an existing
    /// consumer.
    pub async fn create_consumer(
        &self,
        config: ConsumerConfig,
    ) -> Result<Consumer, JetStreamError> {
        self.context
            .put_consumer(self.name(), config, ConsumerAction::CreateOrUpdate)
            .await
    }

    /// Creates a consumer only: one with the same name and another config is refused with
    /// `Api(ApiErrorKind::ConsumerExists)` (an identical one is returned as it is).
    pub async fn create_consumer_strict(
        &self,
        config: ConsumerConfig,
    ) -> Result<Consumer, JetStreamError> {
        self.context
            .put_consumer(self.name(), config, ConsumerAction::Create)
            .await
    }

    /// Updates an existing consumer; a missing one is refused with
    /// `Api(ApiErrorKind::ConsumerDoesNotExist)`.
    pub async fn update_consumer(
        &self,
        config: ConsumerConfig,
    ) -> Result<Consumer, JetStreamError> {
        self.context
            .put_consumer(self.name(), config, ConsumerAction::Update)
            .await
    }

    /// The same as [`create_consumer`](Self::create_consumer), kept under its explicit name.
    pub async fn create_or_update_consumer(
        &self,
        config: ConsumerConfig,
    ) -> Result<Consumer, JetStreamError> {
        self.create_consumer(config).await
    }

    /// The consumer `name` as it is, or created with `config` if it does not exist (its
    /// durable name set to `name` when `config` names none). An existing consumer is never
    /// changed, whatever `config` says.
    pub async fn get_or_create_consumer(
        &self,
        name: &str,
        mut config: ConsumerConfig,
    ) -> Result<Consumer, JetStreamError> {
        match self.get_consumer(name).await {
            Err(e) if e.api_kind() == Some(ApiErrorKind::ConsumerNotFound) => {
                if config.name.is_empty() && config.durable_name.is_empty() {
                    config.durable_name = name.to_owned();
                }
                self.create_consumer_strict(config).await
            }
            found => found,
        }
    }

    /// Reads the stream (or its `filter_subjects`) in order, each message exactly once, with
    /// client-managed ephemeral consumers (ADR-17) that are replaced after a gap, a missed
    /// heartbeat, a deleted consumer or a reconnect. Returns once the first consumer exists.
    pub async fn ordered_messages(
        &self,
        config: OrderedConfig,
    ) -> Result<OrderedMessages, JetStreamError> {
        OrderedMessages::start(self.context.clone(), self.name(), config).await
    }

    /// [`ordered_messages`](Self::ordered_messages) with push consumers (ADR-17 legacy
    /// variant): each generation pushes to a fresh inbox subject with flow control (answered
    /// as the stream reaches each request) and an idle heartbeat (5 s unless `config.mode`
    /// sets another); twice that without a word replaces the consumer.
    pub async fn ordered_push_messages(
        &self,
        mut config: OrderedConfig,
    ) -> Result<OrderedMessages, JetStreamError> {
        if config.mode == OrderedMode::Pull {
            config.mode = OrderedMode::push();
        }
        OrderedMessages::start(self.context.clone(), self.name(), config).await
    }

    /// A handle to an existing consumer (fetches its info).
    pub async fn get_consumer(&self, name: &str) -> Result<Consumer, JetStreamError> {
        self.context
            .get_consumer_from_stream(name, self.name())
            .await
    }

    /// A consumer's info.
    pub async fn consumer_info(&self, name: &str) -> Result<ConsumerInfo, JetStreamError> {
        self.context.consumer_info(self.name(), name).await
    }

    /// Deletes a consumer.
    pub async fn delete_consumer(&self, name: &str) -> Result<(), JetStreamError> {
        self.context
            .delete_consumer_from_stream(name, self.name())
            .await
    }

    /// Names of every consumer, page by page as the stream is read (nothing is asked before
    /// the first poll; see [`Pages`]).
    pub fn consumer_names(&self) -> Pages<String> {
        match self.context.prefix().consumer_names(self.name()) {
            Ok(subject) => {
                Pages::new::<ConsumerNamesResponse, _>(&self.context, subject, |offset| {
                    ConsumerNamesRequest { offset }
                })
            }
            Err(e) => Pages::failed(e.into()),
        }
    }

    /// Info of every consumer, page by page as the stream is read (see [`Pages`]).
    pub fn consumers(&self) -> Pages<ConsumerInfo> {
        match self.context.prefix().consumer_list(self.name()) {
            Ok(subject) => {
                Pages::new::<ConsumerListResponse, _>(&self.context, subject, |offset| {
                    ConsumerNamesRequest { offset }
                })
            }
            Err(e) => Pages::failed(e.into()),
        }
    }

    /// Pauses a consumer until the given time.
    pub async fn pause_consumer(
        &self,
        name: &str,
        until: DateTime,
    ) -> Result<ConsumerPauseResponse, JetStreamError> {
        self.pause(name, Some(until)).await
    }

    /// Resumes a paused consumer.
    pub async fn resume_consumer(
        &self,
        name: &str,
    ) -> Result<ConsumerPauseResponse, JetStreamError> {
        self.pause(name, None).await
    }

    async fn pause(
        &self,
        name: &str,
        pause_until: Option<DateTime>,
    ) -> Result<ConsumerPauseResponse, JetStreamError> {
        let subject = self.context.prefix().consumer_pause(self.name(), name)?;
        let body = ConsumerPauseRequest { pause_until };
        self.context.api_request(subject, Some(&body)).await
    }

    /// Resets a consumer to deliver again from a stream sequence (server 2.14).
    pub async fn reset_consumer(
        &self,
        name: &str,
        seq: u64,
    ) -> Result<ConsumerResetResponse, JetStreamError> {
        let subject = self.context.prefix().consumer_reset(self.name(), name)?;
        let body = ConsumerResetRequest { seq };
        self.context.api_request(subject, Some(&body)).await
    }

    /// Unpins the pinned client of a priority group.
    pub async fn unpin_consumer(&self, name: &str, group: &str) -> Result<(), JetStreamError> {
        let subject = self.context.prefix().consumer_unpin(self.name(), name)?;
        let body = ConsumerUnpinRequest {
            group: group.to_owned(),
        };
        let _: serde_json::Value = self.context.api_request(subject, Some(&body)).await?;
        Ok(())
    }

    /// Whether a consumer exists.
    pub async fn has_consumer(&self, name: &str) -> Result<bool, JetStreamError> {
        match self.consumer_info(name).await {
            Ok(_) => Ok(true),
            Err(e) if e.api_kind() == Some(ApiErrorKind::ConsumerNotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn success(ok: bool) -> Result<(), JetStreamError> {
    if ok {
        Ok(())
    } else {
        Err(JetStreamError::Malformed(
            "the server answered success: false".into(),
        ))
    }
}
