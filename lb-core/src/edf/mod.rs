//! Envoy's earliest-deadline-first scheduler (weighted round robin with float weights), per worker.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Clone, Debug)]
struct Entry {
    deadline: f64,
    order: u64,
    item: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed so the max-heap pops the earliest deadline, FIFO (lowest order) on ties.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .deadline
            .total_cmp(&self.deadline)
            .then_with(|| other.order.cmp(&self.order))
    }
}

/// EDF scheduler over `u32` items (host ids or locality indexes). Each pick takes the earliest deadline
/// and re-inserts the item at `now + 1 / weight`, with the weight evaluated at re-insertion time (so
/// least-request and slow-start weights apply on the next round, as in Envoy).
#[derive(Clone, Debug, Default)]
pub struct EdfScheduler {
    current_time: f64,
    order_offset: u64,
    queue: BinaryHeap<Entry>,
}

impl EdfScheduler {
    /// Envoy's `EdfScheduler::createWithPicks`: the state after `picks` picks from a scheduler that had
    /// `items` added in order, computed in O(n log n) instead of replaying every pick. Workers pass
    /// different seeds as `picks`, so they start at different points of the same rotation.
    pub fn create_with_picks(items: &[u32], weight: impl Fn(u32) -> f64, picks: u32) -> Self {
        let picks = picks % 429_496_729;
        if items.is_empty() {
            return Self::default();
        }
        // Epsilon keeps weights that are multiples of each other from producing deadlines that differ
        // from a one-by-one replay (Envoy issue 31592).
        let aug = |item: u32| weight(item) + 1e-13;
        let weights_sum: f64 = items.iter().map(|&i| aug(i)).sum();
        let picks_f = f64::from(picks);
        let mut entries = Vec::with_capacity(items.len());
        let mut picks_so_far: u32 = 0;
        let mut max_pick_time: f64 = 0.0;
        for (i, &item) in items.iter().enumerate() {
            let w = aug(item);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let mut floor_picks = (w * picks_f / weights_sum) as u32;
            if floor_picks > 0 && f64::from(floor_picks) / w >= picks_f / weights_sum {
                floor_picks -= 1;
            }
            let pick_time = f64::from(floor_picks) / w;
            let deadline = f64::from(floor_picks + 1) / w;
            entries.push(Entry {
                deadline,
                order: i as u64,
                item,
            });
            max_pick_time = max_pick_time.max(pick_time);
            picks_so_far = picks_so_far.saturating_add(floor_picks);
        }
        let mut sched = Self {
            current_time: max_pick_time,
            order_offset: items.len() as u64,
            queue: BinaryHeap::from(entries),
        };
        debug_assert!(
            sched
                .queue
                .peek()
                .is_some_and(|e| e.deadline >= sched.current_time)
        );
        while picks_so_far < picks {
            sched.pick_and_add(&weight);
            picks_so_far += 1;
        }
        sched
    }

    /// Pick the entry with the earliest deadline and re-add it with `weight(item)`.
    pub fn pick_and_add(&mut self, weight: impl Fn(u32) -> f64) -> Option<u32> {
        // Re-key the top entry in place: one sift-down instead of a pop and a push.
        let mut top = self.queue.peek_mut()?;
        debug_assert!(top.deadline >= self.current_time);
        self.current_time = top.deadline;
        let item = top.item;
        let w = weight(item);
        debug_assert!(w > 0.0, "EDF weights must be positive");
        top.deadline = self.current_time + 1.0 / w;
        top.order = self.order_offset;
        self.order_offset += 1;
        drop(top);
        Some(item)
    }

    /// Insert `item` with deadline `now + 1 / weight`.
    pub fn add(&mut self, weight: f64, item: u32) {
        debug_assert!(weight > 0.0, "EDF weights must be positive");
        let deadline = self.current_time + 1.0 / weight;
        self.queue.push(Entry {
            deadline,
            order: self.order_offset,
            item,
        });
        self.order_offset += 1;
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// No entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests;
