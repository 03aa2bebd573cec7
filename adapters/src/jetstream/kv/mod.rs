//! Key-value buckets over JetStream (feature `kv`), as async-nats's `jetstream::kv`: a
//! [`Store`] per bucket with gets, writes (compare-and-set included), keys, history and
//! watches, and the bucket calls on the [`Context`](super::Context).
//!
//! ```no_run
//! # async fn run(js: nats_client::jetstream::Context) -> Result<(), nats_client::Error> {
//! use futures_lite::StreamExt;
//! use nats_client::jetstream::kv;
//!
//! let store = js
//!     .create_key_value(kv::Config { bucket: "settings".into(), history: 5, ..Default::default() })
//!     .await?;
//! let revision = store.put("theme", "dark".into()).await?;
//! store.update("theme", "light".into(), revision).await?;
//! assert_eq!(store.get("theme").await?.as_deref(), Some(&b"light"[..]));
//!
//! let mut changes = store.watch("theme").await?;
//! while let Some(entry) = changes.next().await {
//!     let entry = entry?;
//!     println!("{} = {:?} ({:?})", entry.key, entry.value, entry.operation);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Invariant: the protocol is the core's (`nats_sansio::kv`): subjects, headers, stream
//! configs, entry decoding, the compare-and-set errors and the watch machine; this module
//! only sends what the core built and awaits the replies.

mod bucket;
mod error;
mod store;
mod watch;

pub use bucket::{BucketNames, BucketStatuses};
pub use error::Error;
pub use nats_sansio::kv::purge::MarkerAge;
pub use nats_sansio::kv::{Config, Entry, KvError, Operation, Status, WatchConfig, WatchItem};
pub use store::Store;
pub use watch::{Keys, Watch, WatchItems};
