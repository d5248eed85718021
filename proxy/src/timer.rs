//! A reusable timer for the waits of one connection.
//!
//! `monoio::time::timeout` embeds a timer entry in every future that waits with a deadline:
//! 640 bytes aligned to 128, nested in each async function up to the connection's task. The
//! request path waits with a deadline at every step (the head, the upstream's answer, each body
//! read), so those entries made every future on the path several kilobytes larger, and each
//! call copied them. A connection instead keeps one boxed timer and re-arms it per wait: the
//! futures carry a reference, and the timer entry is allocated once per connection.
//!
//! Most deadlines on the path are long (the route timeout, `stream_idle_timeout`,
//! `idle_timeout`) and most waits end well before them, so the timer is re-armed lazily: a
//! wait whose deadline is later than the one armed leaves the timer alone, and when the armed
//! one fires early the wait re-arms it for its own deadline and goes on. A wait with an
//! earlier deadline re-arms at once. A request that ends before the armed deadline therefore
//! touches no timer wheel.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use monoio::time::Sleep;

/// One connection's timer; allocated on first use.
#[derive(Default)]
pub struct Timer(Option<Pin<Box<Sleep>>>);

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Timer").finish()
    }
}

impl Timer {
    /// Waits for `f` until `deadline`: `None` when the deadline came first (`f` is left
    /// unfinished). Without a deadline it simply waits for `f`. The caller pins `f` where it
    /// lives, so this future holds a reference to it, not a second copy.
    pub async fn within<F: Future>(
        &mut self,
        deadline: Option<Instant>,
        mut f: Pin<&mut F>,
    ) -> Option<F::Output> {
        let Some(at) = deadline else {
            return Some(f.await);
        };
        let at = monoio::time::Instant::from_std(at);
        let sleep = match &mut self.0 {
            Some(s) => {
                if s.deadline() > at || s.is_elapsed() {
                    s.as_mut().reset(at);
                }
                s
            }
            None => self.0.insert(Box::pin(monoio::time::sleep_until(at))),
        };
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = f.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            while sleep.as_mut().poll(cx).is_ready() {
                if sleep.deadline() >= at {
                    return Poll::Ready(None);
                }
                // An earlier wait's deadline: re-arm for this one and wait on.
                sleep.as_mut().reset(at);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on as run;
    use std::time::Duration;

    #[test]
    fn one_timer_serves_waits_one_after_another() {
        run(async {
            let mut timer = Timer::default();
            let soon = Instant::now() + Duration::from_millis(5);
            let slow = monoio::time::sleep(Duration::from_secs(5));
            assert_eq!(
                timer.within(Some(soon), std::pin::pin!(slow)).await,
                None,
                "deadline first"
            );
            // Re-armed further out: the quick future wins.
            let later = Instant::now() + Duration::from_secs(5);
            let quick = async { 7 };
            assert_eq!(
                timer.within(Some(later), std::pin::pin!(quick)).await,
                Some(7)
            );
            // Re-armed again, shorter than the previous arming.
            let started = Instant::now();
            let soon = started + Duration::from_millis(5);
            let slow = monoio::time::sleep(Duration::from_secs(5));
            assert_eq!(timer.within(Some(soon), std::pin::pin!(slow)).await, None);
            assert_eq!(
                timer.within(None, std::pin::pin!(async { 1 })).await,
                Some(1)
            );
            // Armed early, then a later deadline: the early firing is not the later wait's.
            let early = Instant::now() + Duration::from_millis(2);
            let quick = async { 2 };
            assert_eq!(
                timer.within(Some(early), std::pin::pin!(quick)).await,
                Some(2)
            );
            let later = Instant::now() + Duration::from_secs(5);
            let inner = monoio::time::sleep(Duration::from_millis(20));
            assert_eq!(
                timer.within(Some(later), std::pin::pin!(inner)).await,
                Some(()),
                "the 2 ms arming fired first and was re-armed for the later deadline"
            );
        });
    }
}
