//! Envoy's ketama ring (`RingHashLoadBalancer::Ring`): built once per snapshot, shared by all workers.

use crate::config::HashFunction;
use crate::hash::{MURMUR_STD_HASH_SEED, murmur_hash2_64, xx_hash64};
use crate::host::HostId;

/// A sorted ring of `(hash, host)` points.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    hashes: Vec<u64>,
    hosts: Vec<HostId>,
    /// Fewest points any host got (Envoy's `min_hashes_per_host` gauge).
    pub min_hashes_per_host: u64,
    /// Most points any host got (`max_hashes_per_host`).
    pub max_hashes_per_host: u64,
}

impl Ring {
    /// Build from normalized weights (summing to 1) and each host's hash key. Each host gets
    /// `scale x weight` points hashed from `"{key}_{i}"`, where `scale` makes the lightest host get a
    /// whole number of points and is capped by `max_ring_size`; running sums keep fractional shares.
    #[must_use]
    pub fn build(
        normalized: &[(HostId, f64)],
        keys: &dyn Fn(HostId) -> String,
        min_normalized_weight: f64,
        min_ring_size: u64,
        max_ring_size: u64,
        hash_function: HashFunction,
    ) -> Self {
        if normalized.is_empty() {
            return Self::default();
        }
        #[allow(clippy::cast_precision_loss)]
        let scale = ((min_normalized_weight * min_ring_size as f64).ceil() / min_normalized_weight)
            .min(max_ring_size as f64);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ring_size = scale.ceil() as u64;
        let mut points: Vec<(u64, HostId)> =
            Vec::with_capacity(usize::try_from(ring_size).unwrap_or(0));
        let mut current = 0.0f64;
        let mut target = 0.0f64;
        let mut min_h = ring_size;
        let mut max_h = 0;
        let mut buf = String::new();
        for &(host, weight) in normalized {
            let key = keys(host);
            target += scale * weight;
            let mut i: u64 = 0;
            while current < target {
                buf.clear();
                buf.push_str(&key);
                buf.push('_');
                buf.push_str(&i.to_string());
                let h = match hash_function {
                    HashFunction::XxHash => xx_hash64(buf.as_bytes()),
                    HashFunction::MurmurHash2 => {
                        murmur_hash2_64(buf.as_bytes(), MURMUR_STD_HASH_SEED)
                    }
                };
                points.push((h, host));
                i += 1;
                current += 1.0;
            }
            min_h = min_h.min(i);
            max_h = max_h.max(i);
        }
        points.sort_by_key(|&(h, _)| h);
        let (hashes, hosts) = points.into_iter().unzip();
        Self {
            hashes,
            hosts,
            min_hashes_per_host: min_h,
            max_hashes_per_host: max_h,
        }
    }

    /// The host owning `hash`: the first point with a hash >= `hash`, wrapping to the first point
    /// (the ketama search Envoy ports). `attempt > 0` moves that many points further, as Envoy does for
    /// host-selection retries.
    #[must_use]
    pub fn choose(&self, hash: u64, attempt: u32) -> Option<HostId> {
        if self.hashes.is_empty() {
            return None;
        }
        let mut idx = self.hashes.partition_point(|&h| h < hash);
        if idx == self.hashes.len() {
            idx = 0;
        }
        if attempt > 0 {
            idx = (idx + attempt as usize) % self.hashes.len();
        }
        self.hosts.get(idx).copied()
    }

    /// Number of points.
    #[must_use]
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// No points.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Fraction of the 2^64 hash space each host owns (for `explain`), indexed by position in `hosts`.
    #[must_use]
    pub fn shares(&self, hosts: &[HostId]) -> Vec<f64> {
        let mut out = vec![0.0; hosts.len()];
        if self.hashes.is_empty() {
            return out;
        }
        let pos = |h: HostId| hosts.iter().position(|&x| x == h);
        #[allow(clippy::cast_precision_loss)]
        let space = 2f64.powi(64);
        let mut prev: u64 = 0;
        for (i, &h) in self.hashes.iter().enumerate() {
            // Point i owns (prev, h]; the first point also owns the wrap-around tail.
            #[allow(clippy::cast_precision_loss)]
            let span = (h - prev) as f64;
            if let Some(p) = pos(self.hosts[i]) {
                out[p] += span / space;
            }
            prev = h;
        }
        #[allow(clippy::cast_precision_loss)]
        let tail = (u64::MAX - prev) as f64 + 1.0;
        if let Some(p) = pos(self.hosts[0]) {
            out[p] += tail / space;
        }
        out
    }
}
