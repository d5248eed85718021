//! Retry policy of a route, compiled for the request path, and the per-request retry state:
//! which outcomes are retried, how many times, and how long to back off (Envoy's
//! `RetryStateImpl` and `JitteredExponentialBackOffStrategy`).

use std::time::Duration;

use sluice_config::model;

use super::error::RetryClass;

/// `retry_on` conditions, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryOn(u16);

impl RetryOn {
    /// `5xx`: any 5xx response, resets, connect failures and per-try timeouts.
    pub const FIVE_XX: RetryOn = RetryOn(1);
    /// `gateway-error`: 502, 503, 504 responses, resets, connect failures, per-try timeouts.
    pub const GATEWAY_ERROR: RetryOn = RetryOn(1 << 1);
    /// `reset`: the upstream reset or closed before a response head.
    pub const RESET: RetryOn = RetryOn(1 << 2);
    /// `connect-failure`.
    pub const CONNECT_FAILURE: RetryOn = RetryOn(1 << 3);
    /// `retriable-4xx`: 409.
    pub const RETRIABLE_4XX: RetryOn = RetryOn(1 << 4);
    /// `refused-stream` (HTTP/2 REFUSED_STREAM; never seen on HTTP/1.1).
    pub const REFUSED_STREAM: RetryOn = RetryOn(1 << 5);
    /// `retriable-status-codes`.
    pub const RETRIABLE_STATUS_CODES: RetryOn = RetryOn(1 << 6);
    /// `retriable-headers`.
    pub const RETRIABLE_HEADERS: RetryOn = RetryOn(1 << 7);
    /// `reset-before-request`: reset before any request byte was sent.
    pub const RESET_BEFORE_REQUEST: RetryOn = RetryOn(1 << 8);
    /// `envoy-ratelimited`: a response carrying `x-envoy-ratelimited`.
    pub const ENVOY_RATELIMITED: RetryOn = RetryOn(1 << 9);

    /// Parses one condition name; gRPC conditions and unknown names give `None`.
    pub fn parse(name: &str) -> Option<RetryOn> {
        Some(match name.trim() {
            "5xx" => Self::FIVE_XX,
            "gateway-error" => Self::GATEWAY_ERROR,
            "reset" => Self::RESET,
            "connect-failure" => Self::CONNECT_FAILURE,
            "retriable-4xx" => Self::RETRIABLE_4XX,
            "refused-stream" => Self::REFUSED_STREAM,
            "retriable-status-codes" => Self::RETRIABLE_STATUS_CODES,
            "retriable-headers" => Self::RETRIABLE_HEADERS,
            "reset-before-request" => Self::RESET_BEFORE_REQUEST,
            "envoy-ratelimited" => Self::ENVOY_RATELIMITED,
            _ => return None,
        })
    }

    /// Whether any bit of `other` is set.
    pub fn has(self, other: RetryOn) -> bool {
        self.0 & other.0 != 0
    }

    /// Both sets.
    #[must_use]
    pub fn union(self, other: RetryOn) -> RetryOn {
        RetryOn(self.0 | other.0)
    }

    /// Whether no condition is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A route's (or virtual host's) `retry_policy` as the request path reads it: the parsed
/// conditions next to the loader's policy (borrowed from the snapshot, so nothing is copied
/// per request).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy<'m> {
    /// The conditions.
    pub retry_on: RetryOn,
    /// The rest of the policy as loaded.
    pub config: &'m model::RetryPolicy,
}

impl<'m> RetryPolicy<'m> {
    /// Reads the loader's policy. Conditions this proxy cannot meet on HTTP/1.1 (gRPC status
    /// conditions) were refused by the loader.
    pub fn new(config: &'m model::RetryPolicy) -> Self {
        let retry_on = config
            .retry_on
            .iter()
            .filter_map(|c| RetryOn::parse(c))
            .fold(RetryOn::default(), RetryOn::union);
        RetryPolicy { retry_on, config }
    }

    /// Whether a failure of class `class` is retried under this policy.
    pub fn retries_failure(&self, class: RetryClass) -> bool {
        let on = self.retry_on;
        let resets = RetryOn::FIVE_XX
            .union(RetryOn::GATEWAY_ERROR)
            .union(RetryOn::RESET);
        match class {
            RetryClass::Never => false,
            RetryClass::ConnectFailure => {
                on.has(resets.union(RetryOn::CONNECT_FAILURE))
                    || on.has(RetryOn::RESET_BEFORE_REQUEST)
            }
            RetryClass::Reset => on.has(resets),
            RetryClass::PerTryTimeout => on.has(RetryOn::FIVE_XX.union(RetryOn::GATEWAY_ERROR)),
        }
    }

    /// Whether a response with `status` is retried under this policy (Envoy's
    /// `wouldRetryFromHeaders`, status part).
    pub fn retries_status(&self, status: u16) -> bool {
        let on = self.retry_on;
        (on.has(RetryOn::FIVE_XX) && status >= 500)
            || (on.has(RetryOn::GATEWAY_ERROR) && matches!(status, 502..=504))
            || (on.has(RetryOn::RETRIABLE_4XX) && status == 409)
            || (on.has(RetryOn::RETRIABLE_STATUS_CODES)
                && self.config.retriable_status_codes.contains(&status))
    }
}

/// The retry budget and back-off of one request.
#[derive(Debug)]
pub struct RetryState {
    retries_left: u32,
    /// Envoy's `current_retry_`, starting at 1.
    backoff_step: u32,
    base_ms: u64,
    max_ms: u64,
}

impl RetryState {
    /// A fresh state for one request under `policy`.
    pub fn new(policy: &RetryPolicy<'_>) -> Self {
        let policy = policy.config;
        RetryState {
            retries_left: policy.num_retries,
            backoff_step: 1,
            base_ms: u64::try_from(policy.base_interval.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            max_ms: u64::try_from(policy.max_interval.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
        }
    }

    /// Takes one retry from the budget; `None` when none is left.
    /// Returns the back-off to wait before the next attempt, drawn with `random`.
    pub fn next(&mut self, random: u64) -> Option<Duration> {
        if self.retries_left == 0 {
            return None;
        }
        self.retries_left -= 1;
        Some(Duration::from_millis(self.backoff_ms(random)))
    }

    /// Envoy's jittered exponential back-off: a random value below `(2^n - 1) x base`,
    /// at most `max`; `n` stops growing once the product passes `max`.
    fn backoff_ms(&mut self, random: u64) -> u64 {
        let multiplier = (1u64 << self.backoff_step.min(62)) - 1;
        let ceiling = multiplier.saturating_mul(self.base_ms);
        if ceiling <= self.max_ms {
            self.backoff_step += 1;
        }
        (random % ceiling).min(self.max_ms)
    }

    /// Retries still allowed.
    pub fn retries_left(&self) -> u32 {
        self.retries_left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(on: &[&str], num_retries: u32) -> model::RetryPolicy {
        model::RetryPolicy {
            retry_on: on.iter().map(|c| (*c).to_owned()).collect(),
            num_retries,
            per_try_timeout: None,
            per_try_idle_timeout: None,
            previous_hosts: false,
            host_selection_retry_max_attempts: 1,
            retriable_status_codes: vec![418],
            base_interval: Duration::from_millis(25),
            max_interval: Duration::from_millis(250),
            retriable_headers: Vec::new(),
            retriable_request_headers: Vec::new(),
        }
    }

    fn check(on: &[&str], f: impl FnOnce(RetryPolicy<'_>)) {
        let c = config(on, 3);
        f(RetryPolicy::new(&c));
    }

    #[test]
    fn conditions_follow_envoy() {
        check(&["5xx"], |five| {
            assert!(five.retries_status(503) && five.retries_status(500));
            assert!(!five.retries_status(404));
            assert!(five.retries_failure(RetryClass::Reset));
            assert!(five.retries_failure(RetryClass::ConnectFailure));
            assert!(five.retries_failure(RetryClass::PerTryTimeout));
            assert!(!five.retries_failure(RetryClass::Never));
        });
        check(&["gateway-error"], |gw| {
            assert!(gw.retries_status(502) && gw.retries_status(504));
            assert!(!gw.retries_status(500));
        });
        check(&["reset"], |reset| {
            assert!(reset.retries_failure(RetryClass::Reset));
            assert!(!reset.retries_failure(RetryClass::PerTryTimeout));
            assert!(!reset.retries_status(503));
        });
        check(&["connect-failure"], |cf| {
            assert!(cf.retries_failure(RetryClass::ConnectFailure));
            assert!(!cf.retries_failure(RetryClass::Reset));
        });
        check(&["retriable-status-codes"], |codes| {
            assert!(codes.retries_status(418) && !codes.retries_status(503));
        });
        check(&["retriable-4xx"], |p| assert!(p.retries_status(409)));
        assert!(RetryOn::parse("bogus").is_none());
    }

    #[test]
    fn budget_and_jittered_backoff() {
        let c = config(&["5xx"], 3);
        let mut s = RetryState::new(&RetryPolicy::new(&c));
        // First back-off below 1 x 25 ms, then below 3 x 25, 7 x 25, capped at 250 ms.
        assert_eq!(s.next(u64::MAX), Some(Duration::from_millis(u64::MAX % 25)));
        assert_eq!(s.next(74), Some(Duration::from_millis(74)));
        assert_eq!(s.next(1000), Some(Duration::from_millis(1000 % 175)));
        assert_eq!(s.next(0), None, "num_retries bounds the retries");
        let c = config(&["5xx"], 10);
        let mut s = RetryState::new(&RetryPolicy::new(&c));
        let waits: Vec<_> = (0..10).map(|_| s.next(u64::MAX - 1).unwrap()).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(250)));
    }
}
