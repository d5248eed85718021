//! Envoy's maglev table (`OriginalMaglevTable`): built once per snapshot, shared by all workers.

use xxhash_rust::xxh64::xxh64;

use crate::host::HostId;

/// A maglev lookup table of `table_size` host ids.
#[derive(Clone, Debug, Default)]
pub struct MaglevTable {
    table: Vec<HostId>,
    /// Fewest entries any host got (`min_entries_per_host`).
    pub min_entries_per_host: u64,
    /// Most entries any host got (`max_entries_per_host`).
    pub max_entries_per_host: u64,
}

struct BuildEntry {
    host: HostId,
    offset: u64,
    skip: u64,
    weight: f64,
    target_weight: f64,
    next: u64,
    count: u64,
}

impl MaglevTable {
    /// Build as Envoy does: hosts sorted by hash key, `offset = xxh64(key, 0) % M`,
    /// `skip = xxh64(key, 1) % (M - 1) + 1`; each round a host claims its next free preferred slot when
    /// `iteration x weight >= target_weight` (so a host of the max weight claims every round).
    #[must_use]
    pub fn build(
        normalized: &[(HostId, f64)],
        keys: &dyn Fn(HostId) -> String,
        max_normalized_weight: f64,
        table_size: u64,
    ) -> Self {
        if normalized.is_empty() || table_size < 2 {
            return Self::default();
        }
        let mut sorted: Vec<(String, HostId, f64)> =
            normalized.iter().map(|&(h, w)| (keys(h), h, w)).collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut entries: Vec<BuildEntry> = sorted
            .into_iter()
            .map(|(key, host, weight)| BuildEntry {
                host,
                offset: xxh64(key.as_bytes(), 0) % table_size,
                skip: xxh64(key.as_bytes(), 1) % (table_size - 1) + 1,
                weight,
                target_weight: 0.0,
                next: 0,
                count: 0,
            })
            .collect();
        let size = usize::try_from(table_size).unwrap_or(usize::MAX);
        let mut table: Vec<HostId> = vec![HostId::MAX; size];
        let mut filled: u64 = 0;
        let mut iteration: u32 = 1;
        while filled < table_size {
            for e in &mut entries {
                if filled >= table_size {
                    break;
                }
                if f64::from(iteration) * e.weight < e.target_weight {
                    continue;
                }
                e.target_weight += max_normalized_weight;
                let mut c = permutation(e, table_size);
                while table[c] != HostId::MAX {
                    e.next += 1;
                    c = permutation(e, table_size);
                }
                table[c] = e.host;
                e.next += 1;
                e.count += 1;
                filled += 1;
            }
            iteration += 1;
        }
        let min = entries.iter().map(|e| e.count).min().unwrap_or(0);
        let max = entries.iter().map(|e| e.count).max().unwrap_or(0);
        debug_assert!(
            table.iter().all(|&h| h != HostId::MAX),
            "maglev table fully populated"
        );
        Self {
            table,
            min_entries_per_host: min,
            max_entries_per_host: max,
        }
    }

    /// `table[hash % size]`; retries xor the hash with `!0 - attempt + 1` as Envoy does.
    #[must_use]
    pub fn choose(&self, hash: u64, attempt: u32) -> Option<HostId> {
        if self.table.is_empty() {
            return None;
        }
        let mut h = hash;
        if attempt > 0 {
            h ^= (!0u64).wrapping_sub(u64::from(attempt)).wrapping_add(1);
        }
        let idx = usize::try_from(h % self.table.len() as u64).ok()?;
        self.table.get(idx).copied()
    }

    /// Table size.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Empty table.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Share of entries per host, indexed by position in `hosts`.
    #[must_use]
    pub fn shares(&self, hosts: &[HostId]) -> Vec<f64> {
        let mut counts = vec![0u64; hosts.len()];
        for &h in &self.table {
            if let Some(p) = hosts.iter().position(|&x| x == h) {
                counts[p] += 1;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        counts
            .iter()
            .map(|&c| c as f64 / self.table.len().max(1) as f64)
            .collect()
    }
}

fn permutation(e: &BuildEntry, table_size: u64) -> usize {
    let v = (e.offset + (e.skip.wrapping_mul(e.next) % table_size)) % table_size;
    usize::try_from(v).unwrap_or(0)
}
