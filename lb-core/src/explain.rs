//! The `/lb_explain?cluster=NAME` text: why traffic splits as it does.

use crate::cluster::ClusterLb;

impl ClusterLb {
    /// Plain-text report of priority loads, panic state, locality weights, subsets and hash shares.
    #[must_use]
    pub fn explain(&self) -> String {
        String::new()
    }
}
