//! The JetStream JSON API: subjects, the response envelope, typed errors, and the request,
//! configuration and info bodies of streams, consumers and the account.
//!
//! Invariant: these are plain data and pure functions. Serializing a config writes only what
//! differs from the server's own zero value (so a default config is minimal, the server fills
//! in its defaults, and an older strict-mode server never sees a field it does not know), and
//! deserializing never fails because a newer server added a field or an enum value: unknown
//! config fields are kept and written back, unknown enum values become `Other(String)`.
//!
//! - [`ApiPrefix`]: `$JS.API`, a domain, or an imported prefix, with one method per API
//!   subject; [`validate_name`] checks stream and consumer names.
//! - [`parse_response`]: a reply's success body or its [`ResponseError`] ([`ApiError`] with
//!   [`ErrorCode`] and [`ApiErrorKind`]).
//! - Streams: [`StreamConfig`], [`StreamInfo`] and the stream requests and responses.
//! - Consumers: [`ConsumerConfig`], [`ConsumerInfo`], [`CreateConsumerRequest`] and friends.
//! - Messages: [`StoredMessage`] for `STREAM.MSG.GET`, [`DirectGetRequest`], [`PubAck`].
//! - Paging: [`Pager`] for every paged API ([`Paged`] replies), [`StreamInfoPages`].
//! - Account: [`AccountInfo`].
//! - Time: [`DateTime`] (RFC 3339 kept verbatim) and [`nanos`] (durations as nanoseconds).

mod account;
mod consumer;
mod error;
mod message;
mod paging;
mod stream;
mod subjects;
mod time;

pub use account::{AccountInfo, AccountLimits, ApiStats, Tier};
pub use consumer::{
    AckPolicy, ConsumerAction, ConsumerConfig, ConsumerInfo, ConsumerListResponse,
    ConsumerNamesRequest, ConsumerNamesResponse, ConsumerPauseRequest, ConsumerPauseResponse,
    ConsumerResetRequest, ConsumerResetResponse, ConsumerUnpinRequest, CreateConsumerRequest,
    DeliverPolicy, PriorityGroupState, PriorityPolicy, ReplayPolicy, SequenceInfo,
};
pub use error::{parse_response, ApiError, ApiErrorKind, ErrorCode, ResponseError};
pub use message::{
    DirectGetRequest, MsgDeleteRequest, MsgGetRequest, MsgGetResponse, PubAck, StoredMessage,
};
pub use paging::{Paged, Pager, StreamInfoPages};
pub use stream::{
    ClusterInfo, Compression, ConsumerLimits, DiscardPolicy, External, LostStreamData, PeerInfo,
    PersistMode, Placement, PurgeRequest, PurgeResponse, Republish, RetentionPolicy, StorageType,
    StreamAlternate, StreamConfig, StreamConfigRequest, StreamConsumerSource, StreamCreateResponse,
    StreamInfo, StreamInfoRequest, StreamInfoResponse, StreamListRequest, StreamListResponse,
    StreamNamesRequest, StreamNamesResponse, StreamSource, StreamSourceInfo, StreamState,
    SubjectTransform, SuccessResponse,
};
pub use subjects::{
    validate_name, ApiPrefix, NameError, NameKind, DEFAULT_API_PREFIX, MAX_NAME_LEN,
};
pub use time::{nanos, DateTime, DateTimeError, GO_ZERO_TIME};

/// Deserializes `null` as the type's default (Go writes nil slices and maps as `null`).
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `skip_serializing_if` for anything equal to its default.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Defines a wire enum serialized as a string, with an `Other(String)` variant that keeps
/// any value this version does not know. The first listed string of a variant is the one
/// written; further ones (after `|`) are also read as that variant.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $text:literal $(| $alias:literal)*
            ),+ $(,)?
        }
        default = $default:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
            /// A value this version does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The string the server uses for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s,
                }
            }

            /// The value for a wire string; unknown strings become `Other`.
            pub fn from_wire(s: &str) -> $name {
                match s {
                    $($text $(| $alias)* => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::$default
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Ok($name::from_wire(&s))
            }
        }
    };
}
pub(crate) use wire_enum;
