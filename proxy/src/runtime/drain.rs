//! A worker-local drain signal: set once when the process starts draining, awaited by accept
//! loops and idle keep-alive connections so they stop without polling.
//!
//! Each waiter owns one slot in a free-listed vector, taken on its first poll and freed on
//! drop, so waiting on it per request allocates nothing once the vector has grown.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The signal. Lives in the worker and is shared by `Rc`.
#[derive(Debug, Default)]
pub struct Drain {
    is_draining: Cell<bool>,
    waiters: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl Drain {
    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        self.is_draining.get()
    }

    /// Starts draining and wakes every waiter.
    pub fn start(&self) {
        self.is_draining.set(true);
        let wakers: Vec<Waker> = self
            .waiters
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// A future that completes once draining has started.
    pub fn wait(self: &Rc<Self>) -> Wait {
        Wait {
            drain: Rc::clone(self),
            slot: None,
        }
    }
}

/// Completes when the worker starts draining.
#[derive(Debug)]
pub struct Wait {
    drain: Rc<Drain>,
    slot: Option<usize>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.drain.is_draining() {
            return Poll::Ready(());
        }
        let slot = match self.slot {
            Some(s) => s,
            None => {
                let s = {
                    let mut waiters = self.drain.waiters.borrow_mut();
                    match self.drain.free.borrow_mut().pop() {
                        Some(s) => s,
                        None => {
                            waiters.push(None);
                            waiters.len() - 1
                        }
                    }
                };
                self.slot = Some(s);
                s
            }
        };
        let mut waiters = self.drain.waiters.borrow_mut();
        if let Some(entry) = waiters.get_mut(slot) {
            match entry {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *entry = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(s) = self.slot {
            if let Some(entry) = self.drain.waiters.borrow_mut().get_mut(s) {
                *entry = None;
            }
            self.drain.free.borrow_mut().push(s);
        }
    }
}
