//! Riding out a brief API outage: every request the client sends is retried on
//! errors that say "not now" rather than "no".
//!
//! An API server restarting, a load balancer draining a replica, priority and
//! fairness shedding load: each shows up as a refused or reset connection, a timeout,
//! `429` or a `5xx`, and each clears by itself within seconds. kube's own retry
//! (`Config::default_retry`) covers only 429/503/504 responses, not connection errors
//! or 500/502, and backs off up to 1000 s: too little, then far too late. This layer
//! retries those with a short capped back-off (200 ms doubling to 1.6 s, with jitter),
//! so stackctl is back within about a second of the server.
//!
//! Errors that a retry cannot change (401, 403, 404, 409, 422 and every other 4xx) come
//! back at once. A request the server may already have acted on (a reset after it was
//! sent) is retried only when repeating it is harmless: every method but POST. A
//! refused connection never reached the server, so even a create is retried.
//!
//! How long to keep trying is the caller's: [`RetryBudget`] starts at a default per
//! request (a command against a briefly unavailable cluster still answers within
//! half a minute), and an operation extends it to its own deadline, so a transient
//! error never fails a revision that still has time.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use rand::RngExt;
use tokio::time::Instant;
use tower::BoxError;
use tower::retry::Policy;

/// First delay; doubled per attempt up to [`MAX_DELAY`].
const MIN_DELAY: Duration = Duration::from_millis(200);
/// The "about 1-2 s": after an outage, the next attempt is never further away.
const MAX_DELAY: Duration = Duration::from_millis(1600);
/// How long one request keeps trying when no operation set a deadline.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);

/// Until when requests are retried; shared by every clone of one client.
#[derive(Debug, Clone)]
pub struct RetryBudget(Arc<Mutex<Budget>>);

#[derive(Debug, Clone, Copy)]
enum Budget {
    /// Each request may retry for this long from its first attempt.
    PerRequest(Duration),
    /// Every request may retry until then (an operation's deadline).
    Until(Instant),
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget(Arc::new(Mutex::new(Budget::PerRequest(DEFAULT_BUDGET))))
    }
}

impl RetryBudget {
    /// Retry every request until `deadline` (an operation's `--timeout`).
    pub fn until(&self, deadline: Instant) {
        self.set(Budget::Until(deadline));
    }

    /// Retry each request for `budget` from its first attempt; zero: never retry.
    pub fn per_request(&self, budget: Duration) {
        self.set(Budget::PerRequest(budget));
    }

    fn set(&self, b: Budget) {
        if let Ok(mut guard) = self.0.lock() {
            *guard = b;
        }
    }

    /// Until when a request first sent at `started` may be retried.
    fn deadline(&self, started: Instant) -> Instant {
        match self.0.lock().map(|g| *g) {
            Ok(Budget::Until(at)) => at,
            Ok(Budget::PerRequest(d)) => started + d,
            Err(_) => started + DEFAULT_BUDGET,
        }
    }
}

/// The retry policy: one clone per request (tower clones it), so `attempt` and
/// `started` are that request's.
#[derive(Clone)]
pub struct Transient {
    budget: RetryBudget,
    attempt: u32,
    started: Option<Instant>,
}

impl Transient {
    pub fn new(budget: RetryBudget) -> Self {
        Transient {
            budget,
            attempt: 0,
            started: None,
        }
    }

    /// The delay before the next attempt, or `None` when the budget is spent.
    fn next_delay(&mut self, wanted: Option<Duration>) -> Option<Duration> {
        let now = Instant::now();
        let deadline = self.budget.deadline(self.started.unwrap_or(now));
        let left = deadline.checked_duration_since(now)?;
        let delay = wanted.unwrap_or_else(|| backoff(self.attempt));
        if delay > left {
            return None;
        }
        self.attempt += 1;
        Some(delay)
    }
}

/// 200 ms, 400 ms, 800 ms, then 1.6 s, each ±25 % so that many clients coming back
/// together do not arrive in step.
fn backoff(attempt: u32) -> Duration {
    let base = MIN_DELAY.saturating_mul(1 << attempt.min(8)).min(MAX_DELAY);
    let jitter = rand::rng().random_range(0.75..1.25);
    base.mul_f64(jitter)
}

/// The pace of a watch that failed: the next attempt within 2 s, as for requests.
/// kube's default backs off to 30 s, so after a 6 s API server restart an install went
/// on waiting for another 20 s. The requests themselves retry a refused connection;
/// this paces the errors that reach the stream (a 410 Gone, a closed watch).
#[derive(Debug, Default)]
pub struct WatchBackoff {
    attempt: u32,
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let d = backoff(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        Some(d)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What to do with one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Done,
    /// Retry, after the server's `Retry-After` if it gave one.
    Retry(Option<Duration>),
}

/// Status codes that mean "later": throttled, or the server (or a proxy in front of
/// it) could not answer now. Everything else is the answer.
pub fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (the API server sends seconds; an HTTP date is rare from
/// it and is ignored in favour of our own back-off).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// Requests the API server passes on to a kubelet or a Service (logs, exec, the
/// service proxy): their 5xx is the far end's answer ("connection refused" from a node
/// that serves no logs), not the server's "later".
pub fn is_proxied(path: &str) -> bool {
    // `…/{pods|services|nodes}/<name>/<subresource>[/…]`
    let segments: Vec<&str> = path.split('/').collect();
    segments.windows(3).any(|w| {
        matches!(w[0], "pods" | "services" | "nodes")
            && matches!(w[2], "log" | "exec" | "attach" | "portforward" | "proxy")
    })
}

pub fn judge_response<B>(method: &Method, path: &str, response: &Response<B>) -> Verdict {
    let status = response.status();
    if !retryable_status(status) || is_proxied(path) {
        return Verdict::Done;
    }
    // A 500 to a create may have created it; the repeat would get 409 AlreadyExists
    // and hide what happened. 429 and 503 are refusals before any work.
    if *method == Method::POST && !matches!(status.as_u16(), 429 | 503) {
        return Verdict::Done;
    }
    Verdict::Retry(retry_after(response.headers()))
}

/// How a request failed before any response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// The connection was never made: the server saw nothing.
    NotConnected,
    /// Reset, closed, timed out: the server may or may not have acted.
    Interrupted,
    /// Anything else (TLS, a bad certificate, a body error): retrying cannot help.
    Other,
}

pub fn classify(error: &(dyn StdError + 'static)) -> TransportFailure {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(error);
    let mut interrupted = false;
    while let Some(e) = cur {
        if let Some(legacy) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && legacy.is_connect()
        {
            // A connect error may wrap a TLS failure (bad certificate): not transient.
            return if chain_has_io(e, connect_io_kind) {
                TransportFailure::NotConnected
            } else {
                TransportFailure::Other
            };
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed() || h.is_canceled() || h.is_timeout())
        {
            interrupted = true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return TransportFailure::NotConnected;
            }
            if interrupted_io_kind(io.kind()) {
                interrupted = true;
            }
        }
        cur = e.source();
    }
    if interrupted {
        TransportFailure::Interrupted
    } else {
        TransportFailure::Other
    }
}

fn chain_has_io(e: &(dyn StdError + 'static), pred: fn(std::io::ErrorKind) -> bool) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| pred(io.kind()))
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Failures to connect that a server coming back cures (not a TLS or DNS config error).
fn connect_io_kind(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::TimedOut
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::AddrNotAvailable
    )
}

fn interrupted_io_kind(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::TimedOut | K::UnexpectedEof
    )
}

pub fn judge_error(method: &Method, error: &(dyn StdError + 'static)) -> Verdict {
    match classify(error) {
        TransportFailure::NotConnected => Verdict::Retry(None),
        TransportFailure::Interrupted if *method != Method::POST => Verdict::Retry(None),
        _ => Verdict::Done,
    }
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for Transient {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        let verdict = match result {
            Ok(response) => judge_response(req.method(), req.uri().path(), response),
            Err(e) => judge_error(req.method(), e.as_ref()),
        };
        let Verdict::Retry(wanted) = verdict else {
            return None;
        };
        let delay = self.next_delay(wanted)?;
        let what = match result {
            Ok(r) => r.status().to_string(),
            Err(e) => e.to_string(),
        };
        tracing::debug!(
            method = %req.method(), uri = %req.uri(), attempt = self.attempt,
            "transient API error ({what}); retrying in {delay:?}"
        );
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        self.started.get_or_insert_with(Instant::now);
        // Only buffered bodies can be sent twice; kube's requests all are. A streamed
        // body is sent once, unretried.
        let body = req.body().try_clone()?;
        let mut copy = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version())
            .body(body)
            .ok()?;
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

#[cfg(test)]
mod tests;
