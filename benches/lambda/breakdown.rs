//! Where the time of an invocation through the proxy goes: DynamoDB Local's answers (each
//! request's time upstream of the proxy, from forwarding it to having its whole answer, summed)
//! and the function's own time (the rest: its own work and the loopback hops between it, the
//! Runtime API and the proxy). Both clocks are this process's: the Runtime API and the proxy
//! run in it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::proxy::Exchange;
use crate::stats::{median, ms_f};

/// One DynamoDB request of an invocation, its times counted from the event's handing out.
pub struct Request {
    pub operation: String,
    pub arrived: Duration,
    pub forwarded: Duration,
    pub answered: Duration,
    pub returned: Duration,
}

impl Request {
    /// DynamoDB Local's part: from forwarding the request to having its whole answer.
    pub fn upstream(&self) -> Duration {
        self.answered - self.forwarded
    }
}

/// One invocation: from handing out the event to receiving the response.
pub struct Invocation {
    pub total: Duration,
    pub requests: Vec<Request>,
}

impl Invocation {
    /// The invocation handed out at `handed_out` and answered at `received`, with the requests
    /// that reached the proxy in between.
    pub fn of(handed_out: Instant, received: Instant, exchanges: &[Exchange]) -> Self {
        let since = |t: Instant| t.saturating_duration_since(handed_out);
        let mut requests: Vec<Request> = exchanges
            .iter()
            .filter(|e| e.arrived >= handed_out && e.arrived <= received)
            .map(|e| Request {
                operation: e.operation.clone(),
                arrived: since(e.arrived),
                forwarded: since(e.upstream.0),
                answered: since(e.upstream.1),
                returned: since(e.returned),
            })
            .collect();
        requests.sort_by_key(|r| r.arrived);
        Self {
            total: received - handed_out,
            requests,
        }
    }

    pub fn dynamodb(&self) -> Duration {
        self.requests.iter().map(Request::upstream).sum()
    }

    pub fn own(&self) -> Duration {
        self.total.saturating_sub(self.dynamodb())
    }

    fn json(&self) -> Value {
        let us = |d: Duration| d.as_micros() as u64;
        json!({
            "total_ms": ms_f(self.total),
            "dynamodb_ms": ms_f(self.dynamodb()),
            "own_ms": ms_f(self.own()),
            "timeline_us": {
                "event_handed_out": 0,
                "requests": self.requests.iter().map(|r| json!({
                    "operation": r.operation,
                    "arrived_at_proxy": us(r.arrived),
                    "forwarded": us(r.forwarded),
                    "answered_by_dynamodb": us(r.answered),
                    "answer_returned": us(r.returned),
                })).collect::<Vec<_>>(),
                "response_received": us(self.total),
            },
        })
    }
}

/// The first invocation of the proxied start, and the medians of its warm invocations.
pub struct Breakdown {
    pub first: Invocation,
    pub warm_total: Duration,
    pub warm_dynamodb: Duration,
    pub warm_own: Duration,
    pub warm_n: usize,
    /// The function's on-CPU time (schedstat) in the first invocation and per warm invocation,
    /// each through its next poll: what of the own time is work, and what is waiting.
    pub first_cpu: Duration,
    pub warm_cpu: Duration,
}

impl Breakdown {
    pub fn of(
        first: Invocation,
        warm: &[Invocation],
        first_cpu: Duration,
        warm_cpu: Duration,
    ) -> Self {
        let median = |f: fn(&Invocation) -> Duration| median(warm.iter().map(f).collect());
        Self {
            warm_total: median(|i| i.total),
            warm_dynamodb: median(Invocation::dynamodb),
            warm_own: median(Invocation::own),
            warm_n: warm.len(),
            first,
            first_cpu,
            warm_cpu,
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "first_invocation": self.first.json(),
            "first_invocation_cpu_ms": ms_f(self.first_cpu),
            "warm_cpu_ms_per_invocation": ms_f(self.warm_cpu),
            "warm_median": {
                "invocations": self.warm_n,
                "total_ms": ms_f(self.warm_total),
                "dynamodb_ms": ms_f(self.warm_dynamodb),
                "own_ms": ms_f(self.warm_own),
            },
        })
    }
}
