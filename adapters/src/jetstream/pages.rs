//! Listings of the paged JetStream APIs (stream names and infos, consumer names and infos) as
//! streams that ask for the next page only when the items of the last one are used up.
//!
//! Invariant: the offset of each page comes from the core's [`Pager`]; at most one page request
//! is in flight; after an error is yielded the stream ends.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use nats_sansio::jetstream::api::{Paged, Pager};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Context, JetStreamError};

/// One page's items and the reply's `total`.
type PageFuture<T> =
    Pin<Box<dyn Future<Output = Result<(Vec<T>, usize), JetStreamError>> + Send + 'static>>;

/// Requests the page at an offset.
type FetchPage<T> = Arc<dyn Fn(usize) -> PageFuture<T> + Send + Sync + 'static>;

/// A listing that pages lazily: a [`futures_lite::Stream`] of items, fetching the next page
/// of the API only when the items of the last one are used up. An error (a page request that
/// failed or timed out) is the last item.
///
/// ```no_run
/// # async fn run(js: nats_client::jetstream::Context) -> Result<(), nats_client::jetstream::JetStreamError> {
/// use futures_lite::StreamExt;
///
/// let mut names = js.stream_names(None);
/// while let Some(name) = names.try_next().await? {
///     println!("{name}");
/// }
/// // Or all of them at once:
/// let all: Vec<String> = js.stream_names(None).try_collect().await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a listing does nothing until polled"]
pub struct Pages<T> {
    /// `None` once the listing ended on an error.
    fetch: Option<FetchPage<T>>,
    pager: Pager,
    in_flight: Option<PageFuture<T>>,
    items: VecDeque<T>,
    /// An error to yield before anything is requested (a name that cannot be in a subject).
    failed: Option<JetStreamError>,
}

// Nothing in `Pages` is pinned in place: the page future is boxed.
impl<T> Unpin for Pages<T> {}

impl<T> std::fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("pager", &self.pager)
            .field("buffered", &self.items.len())
            .field("requesting", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Pages<T> {
    /// Pages of the API at `subject`, the request body for each offset made by `body`.
    pub(crate) fn new<R, B>(
        context: &Context,
        subject: String,
        body: impl Fn(usize) -> B + Send + Sync + 'static,
    ) -> Pages<T>
    where
        R: Paged<Item = T> + DeserializeOwned + 'static,
        B: Serialize + Send + Sync + 'static,
    {
        let context = context.clone();
        let subject: Arc<str> = subject.into();
        let fetch: FetchPage<T> = Arc::new(move |offset| {
            let context = context.clone();
            let subject = Arc::clone(&subject);
            let body = body(offset);
            Box::pin(async move {
                let page: R = context
                    .api_request(subject.to_string(), Some(&body))
                    .await?;
                let total = page.total();
                Ok((page.into_items(), total))
            })
        });
        Pages {
            fetch: Some(fetch),
            pager: Pager::new(),
            in_flight: None,
            items: VecDeque::new(),
            failed: None,
        }
    }

    /// A listing whose only item is `error`.
    pub(crate) fn failed(error: JetStreamError) -> Pages<T> {
        Pages {
            fetch: None,
            pager: Pager::new(),
            in_flight: None,
            items: VecDeque::new(),
            failed: Some(error),
        }
    }
}

impl<T> futures_lite::Stream for Pages<T> {
    type Item = Result<T, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.items.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            if let Some(error) = this.failed.take() {
                return Poll::Ready(Some(Err(error)));
            }
            let page = match &mut this.in_flight {
                Some(page) => page,
                None => {
                    let (Some(fetch), Some(offset)) = (&this.fetch, this.pager.next_offset())
                    else {
                        return Poll::Ready(None);
                    };
                    this.in_flight.insert(fetch(offset))
                }
            };
            let result = match page.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            };
            this.in_flight = None;
            match result {
                Ok((items, total)) => {
                    this.pager.handle_page(items.len(), total);
                    this.items.extend(items);
                }
                Err(error) => {
                    this.fetch = None;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}

/// A listing that keeps only some items of another, turned into something else (the buckets
/// among the streams, for example): what `keep` maps to `None` is skipped, and the listing
/// still pages lazily and ends after an error.
#[must_use = "a listing does nothing until polled"]
pub struct Listing<T, U> {
    pages: Pages<T>,
    keep: fn(T) -> Option<U>,
}

impl<T, U> Listing<T, U> {
    pub(crate) fn new(pages: Pages<T>, keep: fn(T) -> Option<U>) -> Listing<T, U> {
        Listing { pages, keep }
    }
}

impl<T, U> std::fmt::Debug for Listing<T, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

impl<T, U> futures_lite::Stream for Listing<T, U> {
    type Item = Result<U, JetStreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return Poll::Ready(match Pin::new(&mut self.pages).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(item))) => match (self.keep)(item) {
                    Some(kept) => Some(Ok(kept)),
                    None => continue,
                },
                Poll::Ready(Some(Err(e))) => Some(Err(e)),
                Poll::Ready(None) => None,
            });
        }
    }
}
