//! Sluice: an Envoy-compatible edge proxy on io_uring, thread-per-core.
