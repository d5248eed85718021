//! Deadline polling: the only way the harness waits for something to become true.

use std::thread;
use std::time::{Duration, Instant};

/// A point in time after which a wait loop gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        Self {
            end: Instant::now() + timeout,
        }
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Time left before the deadline (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Pauses briefly between two probes of a polling loop; the pause grows with `attempt` from
    /// 5 ms to 100 ms so fast conditions are seen fast and slow ones do not spin.
    pub fn pause(&self, attempt: u32) {
        let ms = (5u64 << attempt.min(5)).min(100);
        thread::sleep(Duration::from_millis(ms).min(self.remaining()));
    }
}

/// Polls `probe` until it returns `Some`, or panics naming `what` once `timeout` has passed.
pub fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Deadline::after(timeout);
    let mut attempt = 0;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if deadline.is_expired() {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        deadline.pause(attempt);
        attempt += 1;
    }
}
