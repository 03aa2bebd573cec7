//! Push consumers of the simulated JetStream: deliveries to a deliver subject, idle
//! heartbeats and flow control (spec §3.9), written from the protocol text.
//!
//! Invariant: a push consumer delivers only while its deliver subject has interest and no
//! flow-control request of it is unanswered, so a client that never answers stalls it; a
//! heartbeat goes out after every idle interval without a delivery, carrying the last
//! consumer and stream sequences delivered and, while stalled, the unanswered subject.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{commit, nanos, prepare, Consumer, JetStream, Out, Stored};

/// Flow-control subjects start with this.
pub(crate) const FLOW_CONTROL_PREFIX: &str = "$JS.FC.";
/// A flow-control request after this many deliveries.
const FLOW_CONTROL_EVERY: u64 = 4;

/// A push consumer's side of the delivery.
#[derive(Debug)]
pub(crate) struct Push {
    deliver: String,
    heartbeat: Option<Duration>,
    flow_control: bool,
    /// The last delivery, heartbeat or flow-control answer.
    last_activity: Duration,
    /// The flow-control request awaiting its answer.
    stalled_on: Option<String>,
    since_request: u64,
    requests: u64,
}

impl Push {
    /// The push side of a consumer config, if it has a deliver subject.
    pub(crate) fn from_config(config: &Value, now: Duration) -> Option<Push> {
        let deliver = config.get("deliver_subject")?.as_str()?;
        (!deliver.is_empty()).then(|| Push {
            deliver: deliver.to_owned(),
            heartbeat: config.get("idle_heartbeat").and_then(nanos),
            flow_control: config.get("flow_control").and_then(Value::as_bool) == Some(true),
            last_activity: now,
            stalled_on: None,
            since_request: 0,
            requests: 0,
        })
    }

    /// When the next heartbeat is due.
    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.heartbeat.map(|hb| self.last_activity + hb)
    }
}

/// Sends the heartbeat of `c` if one is due at `now`.
pub(crate) fn heartbeat(c: &mut Consumer, now: Duration, out: &mut Vec<Out>) {
    let (cseq, sseq) = (c.cseq, c.delivered_sseq);
    let Some(push) = c.push.as_mut() else {
        return;
    };
    if push.deadline().is_none_or(|d| d > now) {
        return;
    }
    let mut headers = vec![
        ("Nats-Last-Consumer", cseq.to_string()),
        ("Nats-Last-Stream", sseq.to_string()),
    ];
    if let Some(stalled) = &push.stalled_on {
        headers.push(("Nats-Consumer-Stalled", stalled.clone()));
    }
    out.push(Out::status(&push.deliver, "100 Idle Heartbeat", &headers));
    push.last_activity = now;
}

/// Delivers what `c` has while its deliver subject has interest and it is not stalled.
pub(crate) fn serve(
    stream: &str,
    messages: &BTreeMap<u64, Stored>,
    c: &mut Consumer,
    now: Duration,
    interest: &dyn Fn(&str) -> bool,
    lose: &mut u32,
    out: &mut Vec<Out>,
) {
    loop {
        let Some(push) = c.push.as_ref() else {
            return;
        };
        if push.stalled_on.is_some() || !interest(&push.deliver) {
            return;
        }
        let to = push.deliver.clone();
        let Some(next) = prepare(stream, messages, c) else {
            return;
        };
        commit(c, next, to, now, lose, out);
        let name = c.name.clone();
        let Some(push) = c.push.as_mut() else {
            return;
        };
        push.last_activity = now;
        push.since_request += 1;
        if push.flow_control && push.since_request >= FLOW_CONTROL_EVERY {
            push.since_request = 0;
            push.requests += 1;
            let reply = format!("{FLOW_CONTROL_PREFIX}{stream}.{name}.{}", push.requests);
            let mut request = Out::status(&push.deliver, "100 FlowControl Request", &[]);
            request.reply = Some(reply.clone());
            out.push(request);
            push.stalled_on = Some(reply);
        }
    }
}

impl JetStream {
    /// A flow-control answer: the consumer that asked resumes.
    pub(super) fn on_flow_control(&mut self, subject: &str) {
        let now = self.now;
        let consumers = self
            .streams
            .values_mut()
            .flat_map(|s| s.consumers.values_mut());
        for push in consumers.filter_map(|c| c.push.as_mut()) {
            if push.stalled_on.as_deref() == Some(subject) {
                push.stalled_on = None;
                push.last_activity = now;
            }
        }
    }
}
