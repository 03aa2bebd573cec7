//! Object stores over JetStream (feature `object-store`), as async-nats's
//! `jetstream::object_store`: an [`ObjectStore`] per bucket that puts objects of any size
//! from an async reader in bounded memory, reads them back as an async reader that checks
//! the digest, and keeps their metadata and links; and the bucket calls on the
//! [`Context`](super::Context).
//!
//! ```no_run
//! # async fn run(js: nats_client::jetstream::Context) -> Result<(), nats_client::Error> {
//! use futures_lite::AsyncReadExt;
//! use nats_client::jetstream::object_store;
//!
//! let bucket = js
//!     .create_object_store(object_store::Config { bucket: "files".into(), ..Default::default() })
//!     .await?;
//! let mut file: &[u8] = b"any number of bytes";
//! let info = bucket.put("report.pdf", &mut file).await?;
//! println!("{} bytes in {} chunks, {}", info.size, info.chunks, info.digest);
//!
//! let mut object = bucket.get("report.pdf").await?;
//! let mut bytes = Vec::new();
//! object.read_to_end(&mut bytes).await?; // fails if the digest does not match
//! # Ok(())
//! # }
//! ```
//!
//! Invariant: the protocol is the core's (`nats_sansio::object_store`): subjects, records,
//! chunking and its ack window, the ordered read within a byte budget, the digest check;
//! this module only moves bytes between the application and those machines.

mod bucket;
mod error;
mod get;
mod put;
mod store;

pub use bucket::{ObjectStoreNames, ObjectStores};
pub use error::Error;
pub use get::Object;
pub use nats_sansio::object_store::{
    Config, GetOptions, ObjectInfo, ObjectLink, ObjectMeta, ObjectStoreError, PutOptions, Status,
    WatchConfig,
};
#[cfg(feature = "tokio")]
pub use put::TokioReader;
pub use store::{List, ObjectStore, Watch};
