//! Watches, key listings and histories: the core's watch machine on the generic driver.
//!
//! Invariant: every entry comes from the core's `Watch` as it delivered it (in revision
//! order, none twice, across reconnects and consumer replacements); these types only choose
//! what of it to show: entries ([`Watch`]), entries and the caught-up marker
//! ([`WatchItems`]), or key names ([`Keys`]).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_lite::Stream;
use nats_sansio::kv::{Entry, WatchConfig, WatchItem};

use super::error::Error;
use super::store::Store;
use crate::machine_stream::MachineStream;

type Driven = MachineStream<nats_sansio::kv::Watch, Error>;

impl Store {
    /// Changes of `key` (or of the keys a filter such as `orders.*` or `orders.>` matches)
    /// written after the watch starts, deletions included: async-nats's `watch`. To start
    /// with each key's latest entry (nats.go's `Watch`), use
    /// [`watch_with_history`](Self::watch_with_history).
    pub async fn watch(&self, key: impl AsRef<str>) -> Result<Watch, Error> {
        self.watch_with(updates_only(WatchConfig::key(key.as_ref())))
            .await
    }

    /// Changes of every key written after the watch starts.
    pub async fn watch_all(&self) -> Result<Watch, Error> {
        self.watch_with(updates_only(WatchConfig::all())).await
    }

    /// Changes of the keys matching any of `keys` (keys or filters; none: every key)
    /// written after the watch starts.
    pub async fn watch_many<I, S>(&self, keys: I) -> Result<Watch, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.watch_with(updates_only(WatchConfig::filters(keys)))
            .await
    }

    /// The latest entry of `key` (of each key a filter matches) first, then every change:
    /// async-nats's `watch_with_history` and nats.go's `Watch`. Every kept revision first
    /// instead is `watch_with(WatchConfig { include_history: true, .. })`.
    pub async fn watch_with_history(&self, key: impl AsRef<str>) -> Result<Watch, Error> {
        self.watch_with(WatchConfig::key(key.as_ref())).await
    }

    /// As [`watch_with_history`](Self::watch_with_history), for the keys matching any of
    /// `keys`.
    pub async fn watch_many_with_history<I, S>(&self, keys: I) -> Result<Watch, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.watch_with(WatchConfig::filters(keys)).await
    }

    /// Every entry of `key` from `revision` on (a watcher resuming where it stopped).
    pub async fn watch_from_revision(
        &self,
        key: impl AsRef<str>,
        revision: u64,
    ) -> Result<Watch, Error> {
        let config = WatchConfig {
            resume_from: Some(revision),
            ..WatchConfig::key(key.as_ref())
        };
        self.watch_with(config).await
    }

    /// Every entry of every key from `revision` on.
    pub async fn watch_all_from_revision(&self, revision: u64) -> Result<Watch, Error> {
        let config = WatchConfig {
            resume_from: Some(revision),
            ..WatchConfig::all()
        };
        self.watch_with(config).await
    }

    /// A watch with every option of [`WatchConfig`] (include history, ignore deletes,
    /// metadata only, updates only, ...); its defaults are nats.go's: each key's latest
    /// entry first, then every change.
    pub async fn watch_with(&self, config: WatchConfig) -> Result<Watch, Error> {
        Ok(Watch {
            inner: self.drive(config).await?,
            caught_up: false,
        })
    }

    /// As [`watch_with`](Self::watch_with), and the stream says when it caught up with the
    /// entries present at its start ([`WatchItem::CaughtUp`], exactly once).
    pub async fn watch_items(&self, config: WatchConfig) -> Result<WatchItems, Error> {
        Ok(WatchItems {
            inner: self.drive(config).await?,
        })
    }

    /// Every kept revision of `key`, oldest first; the stream ends after the latest. For a
    /// key with no entry at all the call fails with
    /// [`KvError::KeyNotFound`](nats_sansio::kv::KvError::KeyNotFound).
    pub async fn history(&self, key: impl AsRef<str>) -> Result<Watch, Error> {
        self.watch_with(WatchConfig::history(key.as_ref())).await
    }

    /// The keys that have a value, each once; the stream ends after the last.
    pub async fn keys(&self) -> Result<Keys, Error> {
        self.keys_filtered(Vec::<String>::new()).await
    }

    /// The keys that have a value and match any of `filters` (`*` tokens, a last `>`).
    pub async fn keys_filtered<I, S>(&self, filters: I) -> Result<Keys, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(Keys {
            inner: self.drive(WatchConfig::keys(filters)).await?,
        })
    }

    async fn drive(&self, config: WatchConfig) -> Result<Driven, Error> {
        let client = self.context.client().clone();
        let now = client.shared_state().runtime.now();
        let machine = nats_sansio::kv::Watch::new(now, &self.bucket, &client.new_inbox(), config)?;
        MachineStream::start(client, machine, self.context.timeout()).await
    }
}

/// Entries of a watch or a history (async-nats's `kv::Watch`). A watch never ends by
/// itself (drop it to stop); a history ends after the key's latest entry.
#[derive(Debug)]
pub struct Watch {
    inner: Driven,
    caught_up: bool,
}

impl Watch {
    /// Whether every entry present when the watch started has been yielded.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }
}

impl Stream for Watch {
    type Item = Result<Entry, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        poll_entry(&mut this.inner, cx, &mut this.caught_up)
    }
}

/// The next entry of `inner`, past the caught-up marker (noted in `caught_up`).
fn poll_entry(
    inner: &mut Driven,
    cx: &mut TaskContext<'_>,
    caught_up: &mut bool,
) -> Poll<Option<Result<Entry, Error>>> {
    loop {
        return Poll::Ready(match inner.poll_item(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(WatchItem::CaughtUp))) => {
                *caught_up = true;
                continue;
            }
            Poll::Ready(Some(Ok(WatchItem::Entry(entry)))) => Some(Ok(entry)),
            Poll::Ready(Some(Err(e))) => Some(Err(e)),
            Poll::Ready(None) => None,
        });
    }
}

/// Entries of a watch and, once, the moment it caught up ([`Store::watch_items`]).
#[derive(Debug)]
pub struct WatchItems {
    inner: Driven,
}

impl Stream for WatchItems {
    type Item = Result<WatchItem, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_item(cx)
    }
}

/// The names of the keys that have a value ([`Store::keys`]); ends after the last.
#[derive(Debug)]
pub struct Keys {
    inner: Driven,
}

impl Stream for Keys {
    type Item = Result<String, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let mut caught_up = false;
        poll_entry(&mut self.inner, cx, &mut caught_up)
            .map(|entry| entry.map(|entry| entry.map(|entry| entry.key)))
    }
}

/// `config`, delivering only what is written after the watch starts.
fn updates_only(config: WatchConfig) -> WatchConfig {
    WatchConfig {
        updates_only: true,
        ..config
    }
}
