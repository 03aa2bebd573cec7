//! Drivers of the [`nats_sansio`] machine.
//!
//! Invariant: drivers hold no protocol logic; they move bytes, carry out directives and keep
//! time for the machine. Today there is a blocking driver over `std::net`; the async front end
//! on tokio, smol and async-std follows.
#![deny(missing_docs)]

pub mod blocking;

pub use blocking::BlockingConnection;
pub use nats_sansio;
