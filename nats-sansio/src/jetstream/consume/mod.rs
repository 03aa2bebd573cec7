//! The JetStream readers in the one machine shape ([`crate::machine::Machine`]): a pull
//! fetch or consume, a push consumer, the ordered consumer and a batched Direct Get, each
//! with its subjects and API calls decided here, so that one generic driver serves them all.
//!
//! Invariant: each machine wraps the pure consumer machine of its kind and adds only what a
//! driver would otherwise have to know: which subject to subscribe, where to publish pulls,
//! flow-control answers and API requests, and how a reply maps to an outcome. Outputs that
//! must reach the server before the application sees a message (a pull that keeps the
//! budget full, a flow-control answer) are queued before that message's `Deliver`; what
//! ends the machine is queued after it.

mod direct;
mod ordered;
mod pull;
mod push;

pub use direct::DirectBatch;
pub use ordered::OrderedConsume;
pub use pull::PullConsume;
pub use push::{PushConsume, PushDelivery};

use std::collections::VecDeque;

use crate::machine::Output;

/// The outputs of a consumer machine, in the order they must be carried out.
#[derive(Debug)]
struct Outputs<T, E> {
    queue: VecDeque<Output<T, E>>,
    finished: bool,
}

impl<T, E> Default for Outputs<T, E> {
    fn default() -> Self {
        Outputs {
            queue: VecDeque::new(),
            finished: false,
        }
    }
}

impl<T, E> Outputs<T, E> {
    fn push(&mut self, output: Output<T, E>) {
        if self.finished {
            return;
        }
        if matches!(output, Output::Finished) {
            self.finished = true;
        }
        self.queue.push_back(output);
    }

    fn pop(&mut self) -> Option<Output<T, E>> {
        self.queue.pop_front()
    }
}
