//! HTTP: the HTTP/1.1 codec, the connection manager that drives it on a worker, and the
//! router that maps a request to a route.

pub mod conn_manager;
pub mod h1;
pub mod router;

/// The reason phrase for a status code (empty for unknown codes).
pub fn reason(status: u16) -> &'static str {
    h1::reason_phrase(status).unwrap_or("Unknown")
}
