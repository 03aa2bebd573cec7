//! Paging through the JetStream APIs that answer in pages (stream names and list, consumer
//! names and list, the subjects of a stream's info): request `{"offset": N}`, read `total`,
//! ask again from where the items so far end.
//!
//! Invariant: the offset asked for only grows, by the number of items actually received;
//! paging ends when the items received reach the reply's `total`, or a page brings nothing
//! (so a server that shrinks the list meanwhile, or answers nonsense, cannot loop a client).

use std::collections::HashMap;

use super::consumer::{ConsumerInfo, ConsumerListResponse, ConsumerNamesResponse};
use super::stream::{StreamInfo, StreamInfoResponse, StreamListResponse, StreamNamesResponse};

/// Where a paged read is: the offset of the next page to ask for, until the last arrived.
///
/// ```
/// use nats_sansio::jetstream::api::Pager;
///
/// let mut pager = Pager::new();
/// let mut names = Vec::new();
/// let pages = [(vec!["A", "B"], 3), (vec!["C"], 3)];
/// let mut replies = pages.into_iter();
/// while let Some(offset) = pager.next_offset() {
///     // Ask the server for the page at `offset`; here, the canned replies.
///     let (page, total) = replies.next().unwrap();
///     assert_eq!(offset, names.len());
///     pager.handle_page(page.len(), total);
///     names.extend(page);
/// }
/// assert_eq!(names, ["A", "B", "C"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pager {
    received: usize,
    done: bool,
}

impl Pager {
    /// A pager at the first page.
    pub fn new() -> Pager {
        Pager::default()
    }

    /// The offset to request next, or `None` once every page arrived.
    pub fn next_offset(&self) -> Option<usize> {
        (!self.done).then_some(self.received)
    }

    /// A page arrived with `items` items, the reply saying there are `total` in all.
    pub fn handle_page(&mut self, items: usize, total: usize) {
        self.received = self.received.saturating_add(items);
        if items == 0 || self.received >= total {
            self.done = true;
        }
    }

    /// Items received so far.
    pub fn received(&self) -> usize {
        self.received
    }
}

/// A reply that is one page of a paged API.
pub trait Paged {
    /// What the pages list.
    type Item;
    /// How many items there are in all (the reply's `total`).
    fn total(&self) -> usize;
    /// This page's items.
    fn into_items(self) -> Vec<Self::Item>;
}

impl Paged for StreamNamesResponse {
    type Item = String;
    fn total(&self) -> usize {
        self.total
    }
    fn into_items(self) -> Vec<String> {
        self.streams
    }
}

impl Paged for StreamListResponse {
    type Item = StreamInfo;
    fn total(&self) -> usize {
        self.total
    }
    fn into_items(self) -> Vec<StreamInfo> {
        self.streams
    }
}

impl Paged for ConsumerNamesResponse {
    type Item = String;
    fn total(&self) -> usize {
        self.total
    }
    fn into_items(self) -> Vec<String> {
        self.consumers
    }
}

impl Paged for ConsumerListResponse {
    type Item = ConsumerInfo;
    fn total(&self) -> usize {
        self.total
    }
    fn into_items(self) -> Vec<ConsumerInfo> {
        self.consumers
    }
}

/// Folds the pages of a stream info with a `subjects_filter` (the server sends at most
/// 100,000 subjects per reply) into one info: the first page's info, with the subjects of
/// every page.
#[derive(Debug, Default)]
pub struct StreamInfoPages {
    pager: Pager,
    info: Option<StreamInfo>,
    subjects: HashMap<String, u64>,
}

impl StreamInfoPages {
    /// Nothing received yet.
    pub fn new() -> StreamInfoPages {
        StreamInfoPages::default()
    }

    /// The offset to request next, or `None` once every page arrived.
    pub fn next_offset(&self) -> Option<usize> {
        self.pager.next_offset()
    }

    /// A page arrived.
    pub fn handle_page(&mut self, page: StreamInfoResponse) {
        let total = page.total;
        let mut info = page.info;
        let subjects = std::mem::take(&mut info.state.subjects);
        self.pager.handle_page(subjects.len(), total);
        self.subjects.extend(subjects);
        self.info.get_or_insert(info);
    }

    /// The info with every subject, once a page arrived.
    pub fn into_info(self) -> Option<StreamInfo> {
        let mut info = self.info?;
        info.state.subjects = self.subjects;
        Some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::api::parse_response;

    #[test]
    fn pages_until_the_total_and_asks_from_what_arrived() {
        let mut pager = Pager::new();
        let mut asked = Vec::new();
        // The server's list shrinks meanwhile: the third page comes back shorter.
        let mut pages = [(1024, 2500), (1024, 2500), (300, 2348)].into_iter();
        while let Some(offset) = pager.next_offset() {
            asked.push(offset);
            let (items, total) = pages.next().expect("no page past the total");
            pager.handle_page(items, total);
        }
        assert_eq!(asked, [0, 1024, 2048]);
        assert_eq!(pager.received(), 2348);
    }

    #[test]
    fn an_empty_page_ends_even_below_the_total() {
        let mut pager = Pager::new();
        pager.handle_page(5, 10);
        assert_eq!(pager.next_offset(), Some(5));
        pager.handle_page(0, 10);
        assert_eq!(pager.next_offset(), None);
        // No filter: the server reports total 0 and one request is all.
        let mut single = Pager::new();
        single.handle_page(0, 0);
        assert_eq!(single.next_offset(), None);
        let mut unpaged = Pager::new();
        unpaged.handle_page(3, 0);
        assert_eq!(unpaged.next_offset(), None);
    }

    fn info_page(offset: usize, subjects: &[(&str, u64)], total: usize) -> StreamInfoResponse {
        let subjects: serde_json::Map<String, serde_json::Value> = subjects
            .iter()
            .map(|(s, n)| (s.to_string(), (*n).into()))
            .collect();
        let body = serde_json::json!({
            "type": "io.nats.jetstream.api.v1.stream_info_response",
            "total": total, "offset": offset, "limit": 2,
            "config": {"name": "S"},
            "state": {"messages": 9, "subjects": subjects},
        });
        parse_response(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn stream_info_subjects_of_every_page_are_kept() {
        let mut pages = StreamInfoPages::new();
        let replies = [
            info_page(0, &[("a", 1), ("b", 2)], 5),
            info_page(2, &[("c", 3), ("d", 1)], 5),
            info_page(4, &[("e", 2)], 5),
        ];
        let mut replies = replies.into_iter();
        let mut asked = Vec::new();
        while let Some(offset) = pages.next_offset() {
            asked.push(offset);
            pages.handle_page(replies.next().expect("no page past the total"));
        }
        assert_eq!(asked, [0, 2, 4]);
        let info = pages.into_info().unwrap();
        assert_eq!(info.state.messages, 9);
        let mut subjects: Vec<_> = info.state.subjects.into_iter().collect();
        subjects.sort();
        assert_eq!(
            subjects,
            [("a", 1), ("b", 2), ("c", 3), ("d", 1), ("e", 2)].map(|(s, n)| (s.to_owned(), n))
        );
    }
}
