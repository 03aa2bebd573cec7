//! Requests from a simulated client, run to their replies: what the JetStream and KV
//! scenarios use to set up streams and to read what the server holds.
//!
//! Invariant: a reply is found by its request id in the client's own event log, so a reply
//! to another request (or to another client) is never taken for it.

use bytes::Bytes;
use nats_sansio::connection::RequestId;
use nats_sansio::jetstream::api::parse_response;
use nats_sansio::proto::Message;
use nats_sansio::Event;
use serde::de::DeserializeOwned;

use super::{secs, World};

/// The reply to request `id` of client `c`, once it came.
pub(crate) fn response(w: &World, c: usize, id: RequestId) -> Option<Result<Message, String>> {
    w.clients[c].events.iter().find_map(|(_, e)| match e {
        Event::Response { id: r, result } if *r == id => {
            Some(result.clone().map_err(|e| e.to_string()))
        }
        _ => None,
    })
}

/// A JetStream API call from client `c`, run until its reply, parsed.
pub(crate) fn api<T: DeserializeOwned>(w: &mut World, c: usize, subject: &str, body: Vec<u8>) -> T {
    let id = w
        .with(c, |conn, now| {
            conn.request(now, subject, None, Bytes::from(body), None)
        })
        .expect("request");
    w.run_until("API reply", secs(15), |w| response(w, c, id).is_some());
    let reply = response(w, c, id).unwrap().expect("API reply");
    parse_response(&reply.payload).unwrap_or_else(|e| panic!("SEED={}: {subject}: {e}", w.seed))
}
