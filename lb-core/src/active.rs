//! Per-host active request counts shared by all workers: one cache-line-aligned row per worker, each
//! row written only by its worker (relaxed load + store, no read-modify-write), read by everyone.

use std::sync::atomic::{AtomicU32, Ordering};

/// Cells per 64-byte line.
const CELLS_PER_LINE: usize = 16;

/// One cache line of counters, so rows of different workers never share a line.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Line([AtomicU32; CELLS_PER_LINE]);

/// Active request counts for least request, global across workers.
///
/// Layout: `workers` rows of `slots` counters, every row starting on its own cache line. `begin` and
/// `end` touch one cell of the calling worker's row with a relaxed load and store: the row has a single
/// writer, so no atomic read-modify-write (and no `lock` prefix) is needed. `total(slot)` sums the
/// slot's cell across all rows; with 2 candidates and N workers a pick reads 2N cells. A cell is a
/// wrapping `u32` read as `i32`, so a decrement that lands in another worker's row would still sum right.
#[derive(Debug)]
pub struct ActiveRequests {
    workers: usize,
    lines_per_row: usize,
    slots: usize,
    generation: u32,
    lines: Box<[Line]>,
}

/// Returned by `begin`, handed back to `end` (the slot survives snapshot swaps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveTicket {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl ActiveRequests {
    /// Counters for `workers` workers and `slots` hosts.
    #[must_use]
    pub fn new(workers: usize, slots: usize, generation: u32) -> Self {
        let workers = workers.max(1);
        let lines_per_row = slots.div_ceil(CELLS_PER_LINE).max(1);
        let lines = (0..workers * lines_per_row)
            .map(|_| Line::default())
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Self {
            workers,
            lines_per_row,
            slots: lines_per_row * CELLS_PER_LINE,
            generation,
            lines,
        }
    }

    fn cell(&self, worker: usize, slot: usize) -> Option<&AtomicU32> {
        if worker >= self.workers || slot >= self.slots {
            return None;
        }
        let line = &self.lines[worker * self.lines_per_row + slot / CELLS_PER_LINE];
        line.0.get(slot % CELLS_PER_LINE)
    }

    /// Count one request starting on `worker` for `slot`.
    #[inline]
    pub fn begin(&self, worker: usize, slot: u32) -> ActiveTicket {
        if let Some(c) = self.cell(worker, slot as usize) {
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
        ActiveTicket {
            slot,
            generation: self.generation,
        }
    }

    /// Count one request of `ticket` ending on `worker` (the worker that began it). Tickets from a
    /// replaced counter table are ignored.
    #[inline]
    pub fn end(&self, worker: usize, ticket: ActiveTicket) {
        if ticket.generation != self.generation {
            return;
        }
        if let Some(c) = self.cell(worker, ticket.slot as usize) {
            c.store(c.load(Ordering::Relaxed).wrapping_sub(1), Ordering::Relaxed);
        }
    }

    /// Active requests of `slot` summed over all workers (never negative).
    #[inline]
    #[must_use]
    pub fn total(&self, slot: u32) -> u64 {
        let slot = slot as usize;
        if slot >= self.slots {
            return 0;
        }
        let mut sum: i64 = 0;
        for w in 0..self.workers {
            let line = &self.lines[w * self.lines_per_row + slot / CELLS_PER_LINE];
            // Reinterpret the wrapping counter as signed: a row may be transiently negative.
            #[allow(clippy::cast_possible_wrap)]
            let v = line.0[slot % CELLS_PER_LINE].load(Ordering::Relaxed) as i32;
            sum += i64::from(v);
        }
        u64::try_from(sum).unwrap_or(0)
    }

    /// Number of host slots.
    #[must_use]
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Number of worker rows.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Generation (bumped when a snapshot needs a bigger table).
    #[must_use]
    pub fn generation(&self) -> u32 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_per_worker_and_sum() {
        let a = ActiveRequests::new(3, 20, 0);
        let t0 = a.begin(0, 17);
        let t1 = a.begin(1, 17);
        let _t2 = a.begin(2, 17);
        assert_eq!(a.total(17), 3);
        a.end(0, t0);
        assert_eq!(a.total(17), 2);
        a.end(1, t1);
        assert_eq!(a.total(17), 1);
        assert_eq!(a.total(3), 0);
        assert_eq!(std::mem::align_of::<Line>(), 64);
    }

    #[test]
    fn stale_tickets_are_ignored() {
        let a = ActiveRequests::new(1, 4, 5);
        let t = ActiveTicket {
            slot: 1,
            generation: 4,
        };
        a.end(0, t);
        assert_eq!(a.total(1), 0);
    }
}
