//! Helpers shared by the unit tests of this crate.

use std::future::Future;

/// Runs `f` to completion on a fresh single-threaded runtime with timers, as a worker's.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
        .block_on(f)
}
