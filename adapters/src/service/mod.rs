//! Services (feature `service`, as async-nats's `service`): request handlers that any NATS
//! tool can discover, ping and measure (the `$SRV` PING, INFO and STATS verbs), and the
//! client side that finds them ([`discover`]).
//!
//! ```no_run
//! # async fn run(client: nats_client::Client) -> Result<(), nats_client::Error> {
//! use futures_lite::StreamExt;
//! use nats_client::service::ServiceExt;
//!
//! let service = client
//!     .service_builder()
//!     .description("adds numbers")
//!     .start("adder", "1.0.0")
//!     .await?;
//! let mut endpoint = service.endpoint("add").await?;
//! while let Some(request) = endpoint.next().await {
//!     let reply = String::from_utf8_lossy(&request.message.payload).to_uppercase();
//!     request.respond(Ok(reply.into())).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Invariant: every rule is the core's (`nats_sansio::service`: names, versions, subjects,
//! queue groups, the verbs' JSON, error headers, stats accounting); this module subscribes,
//! hands requests to the application, publishes its answers and reports the time each took.

mod discovery;
mod endpoint;
mod instance;

pub use discovery::{discover, DiscoverError, Discovery, DEFAULT_WINDOW};
pub use endpoint::{Endpoint, EndpointBuilder, Group, Request};
pub use instance::{Service, ServiceBuilder, ServiceExt};
pub use nats_sansio::service::{
    EndpointInfo, EndpointStats, InfoResponse, PingResponse, QueueGroup, ServiceConfigError,
    ServiceError, StatsResponse,
};

/// Why a service call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name, version, subject, queue group or metadata the rules refuse.
    #[error(transparent)]
    Config(#[from] ServiceConfigError),
    /// Subscribing failed (the connection is closed or draining).
    #[error(transparent)]
    Subscribe(#[from] nats_sansio::connection::SubscribeError),
    /// Publishing a response failed.
    #[error(transparent)]
    Publish(#[from] nats_sansio::connection::PublishError),
    /// The request has no reply subject: nothing to respond to.
    #[error("the request has no reply subject")]
    NoReply,
    /// The service was stopped.
    #[error("the service is stopped")]
    Stopped,
}
