//! `envoy.filters.http.local_ratelimit`: a token bucket per filter config (or per connection),
//! as Envoy's `LocalRateLimit` filter.
//!
//! Envoy's bucket is shared by every worker of the process ("the rate limits are applied per
//! Envoy process"), so Sluice keeps one bucket per filter config shared by all workers, made
//! of one atomic and updated without locks: the same design as Envoy's `AtomicTokenBucketImpl`.
//! The atomic holds a virtual time `t`; the bucket holds `min(max_tokens, (now - t) * rate)`
//! tokens, with `rate = tokens_per_fill / fill_interval`, and taking a token moves `t` forward
//! by `1 / rate` with one compare-and-swap. Splitting the limit into per-worker shares would
//! avoid the shared cache line but would be wrong for Envoy configs: a client whose
//! connections land on one worker would get `1/N` of the limit. The cost is one CAS on a
//! shared line per request that the filter is enabled for; per-connection buckets
//! (`local_rate_limit_per_downstream_connection`) are never shared.
//!
//! Refill is continuous, as in current Envoy: with `tokens_per_fill: 1, fill_interval: 1s` a
//! token comes back one second after it was taken, not at the next whole second.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use sluice_config::model;

use super::{Decision, DecodeContext, apply_headers, runtime_fraction};
use crate::http::headers::HeaderMap;
use crate::stats::{Kind, Registry, RegistryFull, StatId};

/// Envoy's body for a rate-limited request.
const BODY: &str = "local_rate_limited";

/// Slack for floating-point rounding: `(now - t) * rate` may land a hair below a whole token
/// that the integer maths says is there.
const TOKEN_EPSILON: f64 = 1e-6;

/// A lock-free token bucket with continuous refill; time comes from the caller.
#[derive(Debug)]
pub struct TokenBucket {
    /// The virtual time, in nanoseconds since `base`, at which the bucket was empty.
    empty_at_ns: AtomicI64,
    base: Instant,
    max_tokens: f64,
    /// Tokens per nanosecond.
    rate: f64,
}

impl TokenBucket {
    /// A full bucket as of `now`.
    pub fn new(config: &model::TokenBucket, now: Instant) -> Self {
        let interval_ns = config.fill_interval.as_nanos().max(1) as f64;
        let rate = f64::from(config.tokens_per_fill) / interval_ns;
        debug_assert!(rate > 0.0, "the loader requires tokens_per_fill >= 1");
        let max_tokens = f64::from(config.max_tokens);
        // Full: as if it had been filling since long enough ago.
        let full_for_ns = (max_tokens / rate).ceil().min(i64::MAX as f64 / 4.0);
        TokenBucket {
            empty_at_ns: AtomicI64::new(-(full_for_ns as i64)),
            base: now,
            max_tokens,
            rate,
        }
    }

    fn now_ns(&self, now: Instant) -> i64 {
        i64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(i64::MAX)
    }

    fn tokens_at(&self, now_ns: i64, empty_at: i64) -> f64 {
        if now_ns <= empty_at {
            return 0.0;
        }
        ((now_ns - empty_at) as f64 * self.rate + TOKEN_EPSILON).min(self.max_tokens)
    }

    /// Takes one token if there is one.
    pub fn consume(&self, now: Instant) -> bool {
        let now_ns = self.now_ns(now);
        let mut old = self.empty_at_ns.load(Ordering::Relaxed);
        loop {
            let tokens = self.tokens_at(now_ns, old);
            if tokens < 1.0 {
                return false;
            }
            let new = now_ns - ((tokens - 1.0) / self.rate) as i64;
            debug_assert!(new >= old, "taking a token moves the empty time forward");
            match self.empty_at_ns.compare_exchange_weak(
                old,
                new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => old = seen,
            }
        }
    }

    /// Whole tokens left (`x-ratelimit-remaining`).
    pub fn remaining(&self, now: Instant) -> u64 {
        let t = self.tokens_at(self.now_ns(now), self.empty_at_ns.load(Ordering::Relaxed));
        t.floor() as u64
    }

    /// Milliseconds until the next whole token (0 when one is there).
    pub fn next_token_ms(&self, now: Instant) -> u64 {
        let t = self.tokens_at(self.now_ns(now), self.empty_at_ns.load(Ordering::Relaxed));
        if t >= 1.0 {
            return 0;
        }
        ((1.0 - t) / self.rate / 1e6).ceil() as u64
    }

    /// `max_tokens` (`x-ratelimit-limit`).
    pub fn max_tokens(&self) -> u64 {
        self.max_tokens as u64
    }
}

/// `<stat_prefix>.http_local_rate_limit.*`.
#[derive(Debug, Clone, Copy)]
struct Stats {
    enabled: StatId,
    enforced: StatId,
    rate_limited: StatId,
    ok: StatId,
}

impl Stats {
    fn register(registry: &mut Registry, stat_prefix: &str) -> Result<Self, RegistryFull> {
        let mut id = |name: &str| {
            registry.id(
                &format!("{stat_prefix}.http_local_rate_limit.{name}"),
                Kind::Counter,
            )
        };
        Ok(Stats {
            enabled: id("enabled")?,
            enforced: id("enforced")?,
            rate_limited: id("rate_limited")?,
            ok: id("ok")?,
        })
    }
}

/// One `LocalRateLimit` config (filter level or per route) with its bucket and stats.
#[derive(Debug)]
pub(super) struct Limiter {
    config: model::LocalRateLimit,
    /// The shared bucket; `None` without `token_bucket` or when buckets are per connection.
    bucket: Option<Arc<TokenBucket>>,
    stats: Stats,
}

impl Limiter {
    pub(super) fn new(
        config: &model::LocalRateLimit,
        registry: &mut Registry,
        now: Instant,
    ) -> Result<Self, RegistryFull> {
        let bucket = match config.token_bucket {
            Some(tb) if !config.per_downstream_connection => {
                Some(Arc::new(TokenBucket::new(&tb, now)))
            }
            _ => None,
        };
        Ok(Limiter {
            config: config.clone(),
            bucket,
            stats: Stats::register(registry, &config.stat_prefix)?,
        })
    }

    /// The same config and bucket, for another route of the same virtual host.
    pub(super) fn share(&self) -> Limiter {
        Limiter {
            config: self.config.clone(),
            bucket: self.bucket.clone(),
            stats: self.stats,
        }
    }
}

/// The filter: its own limiter; per-route limiters replace it for their routes.
#[derive(Debug)]
pub struct RateLimitFilter {
    limiter: Limiter,
}

impl RateLimitFilter {
    pub(super) fn new(
        config: &model::LocalRateLimit,
        registry: &mut Registry,
        now: Instant,
    ) -> Result<Self, RegistryFull> {
        Ok(RateLimitFilter {
            limiter: Limiter::new(config, registry, now)?,
        })
    }

    pub(super) fn decode_headers(
        &self,
        index: usize,
        per_route: Option<&Limiter>,
        cx: &mut DecodeContext<'_>,
    ) -> Decision {
        let l = per_route.unwrap_or(&self.limiter);
        let c = &l.config;
        let is_enabled = c.filter_enabled.as_ref().is_some_and(|f| {
            let (key, fraction) = runtime_fraction(f);
            cx.feature_enabled(key, fraction)
        });
        if !is_enabled {
            return Decision::Continue;
        }
        cx.shard.inc(l.stats.enabled);
        let now = cx.now;
        // (allowed, limit, remaining, ms to next token)
        let outcome = if c.per_downstream_connection {
            c.token_bucket.map(|tb| {
                let mut buckets = cx.connection.buckets.borrow_mut();
                let b = buckets
                    .entry(index)
                    .or_insert_with(|| TokenBucket::new(&tb, now));
                let allowed = b.consume(now);
                (
                    allowed,
                    b.max_tokens(),
                    b.remaining(now),
                    b.next_token_ms(now),
                )
            })
        } else {
            l.bucket.as_ref().map(|b| {
                let allowed = b.consume(now);
                (
                    allowed,
                    b.max_tokens(),
                    b.remaining(now),
                    b.next_token_ms(now),
                )
            })
        };
        // Without a bucket (enabled only through the runtime) there is nothing to take.
        let Some((allowed, limit, remaining, next_ms)) = outcome else {
            cx.shard.inc(l.stats.ok);
            return Decision::Continue;
        };
        if c.enable_x_ratelimit_headers {
            let mut b = itoa::Buffer::new();
            let conn = cx.connection;
            conn.set_response_header(b"x-ratelimit-limit", b.format(limit).as_bytes());
            conn.set_response_header(b"x-ratelimit-remaining", b.format(remaining).as_bytes());
            conn.set_response_header(b"x-ratelimit-reset", b.format(next_ms / 1000).as_bytes());
        }
        if allowed {
            cx.shard.inc(l.stats.ok);
            return Decision::Continue;
        }
        cx.shard.inc(l.stats.rate_limited);
        let is_enforced = c.filter_enforced.as_ref().is_some_and(|f| {
            let (key, fraction) = runtime_fraction(f);
            cx.feature_enabled(key, fraction)
        });
        if !is_enforced {
            apply_headers(cx.headers, &c.request_headers_to_add_when_not_enforced);
            return Decision::Continue;
        }
        cx.shard.inc(l.stats.enforced);
        let mut headers = HeaderMap::new();
        apply_headers(&mut headers, &c.response_headers_to_add);
        if c.enable_retry_after_header && c.status == 429 && !headers.contains(b"retry-after") {
            let seconds = next_ms.div_ceil(1000).max(1);
            headers.append(
                b"retry-after",
                itoa::Buffer::new().format(seconds).as_bytes(),
            );
        }
        Decision::LocalReply {
            status: c.status,
            body: bytes::Bytes::from_static(BODY.as_bytes()),
            headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn bucket(max: u32, per_fill: u32, interval_ms: u64, now: Instant) -> TokenBucket {
        TokenBucket::new(
            &model::TokenBucket {
                max_tokens: max,
                tokens_per_fill: per_fill,
                fill_interval: Duration::from_millis(interval_ms),
            },
            now,
        )
    }

    #[test]
    fn starts_full_and_empties() {
        let t0 = Instant::now();
        let b = bucket(3, 1, 1000, t0);
        assert_eq!(b.remaining(t0), 3);
        assert!(b.consume(t0));
        assert!(b.consume(t0));
        assert!(b.consume(t0));
        assert!(!b.consume(t0));
        assert_eq!(b.remaining(t0), 0);
        assert_eq!(b.next_token_ms(t0), 1000);
    }

    #[test]
    fn refills_continuously_up_to_max() {
        let t0 = Instant::now();
        let b = bucket(2, 1, 1000, t0);
        assert!(b.consume(t0) && b.consume(t0));
        assert!(!b.consume(t0 + Duration::from_millis(999)));
        assert_eq!(b.next_token_ms(t0 + Duration::from_millis(500)), 500);
        assert!(b.consume(t0 + Duration::from_millis(1000)));
        assert!(!b.consume(t0 + Duration::from_millis(1000)));
        // A long pause refills to max_tokens, no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.remaining(later), 2);
        assert!(b.consume(later) && b.consume(later) && !b.consume(later));
    }

    #[test]
    fn tokens_per_fill_sets_the_rate() {
        let t0 = Instant::now();
        let b = bucket(10, 5, 100, t0);
        for _ in 0..10 {
            assert!(b.consume(t0));
        }
        assert!(!b.consume(t0));
        // 5 tokens per 100 ms: 2 tokens after 40 ms.
        assert_eq!(b.remaining(t0 + Duration::from_millis(40)), 2);
    }

    #[test]
    fn zero_max_tokens_always_rejects() {
        let t0 = Instant::now();
        let b = bucket(0, 1, 1000, t0);
        assert!(!b.consume(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn shared_between_threads_gives_exactly_max() {
        let t0 = Instant::now();
        let b = Arc::new(bucket(1000, 1, 3_600_000, t0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || (0..1000).filter(|_| b.consume(t0)).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
        assert_eq!(total, 1000);
    }
}
