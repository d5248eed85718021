//! HTTP: the HTTP/1.1 codec and connection driver, the protocol-neutral request path (header
//! map, filter chain, router, upstream attempts with retries), and the route tables.

pub(crate) mod body;
pub mod conn_manager;
pub mod error;
pub mod filter;
pub mod format;
mod forward;
pub mod h1;
mod h1_body;
pub mod headers;
pub mod local_reply;
mod mirror;
pub mod path;
pub mod retry;
pub mod router;
pub mod upgrade;

/// The reason phrase for a status code (empty for unknown codes).
pub fn reason(status: u16) -> &'static str {
    h1::reason_phrase(status).unwrap_or("Unknown")
}

/// Reads into the spare capacity of `buf`, after the bytes it already holds.
///
/// monoio reads into a `Vec` from its start, whatever its length; a head that arrives in
/// several reads must be appended instead. The caller makes sure there is spare capacity (a
/// read into none returns 0, which would look like end of stream).
pub(crate) async fn read_append<R: monoio::io::AsyncReadRent>(
    r: &mut R,
    buf: Vec<u8>,
) -> monoio::BufResult<usize, Vec<u8>> {
    read_append_at_most(r, buf, usize::MAX).await
}

/// Like [`read_append`], reading at most `max` bytes: how a connection's buffer limit bounds
/// what one read may bring in.
pub(crate) async fn read_append_at_most<R: monoio::io::AsyncReadRent>(
    r: &mut R,
    buf: Vec<u8>,
    max: usize,
) -> monoio::BufResult<usize, Vec<u8>> {
    use monoio::buf::{IoBufMut as _, SliceMut};
    debug_assert!(
        buf.len() < buf.capacity(),
        "read_append needs spare capacity"
    );
    debug_assert!(max > 0, "a read of nothing would look like end of stream");
    let (len, cap) = (buf.len(), buf.capacity());
    let end = cap.min(len.saturating_add(max));
    let (res, slice): (_, SliceMut<Vec<u8>>) = r.read(buf.slice_mut(len..end)).await;
    (res, slice.into_inner())
}

/// How much one read of a body may bring in: 64 KiB, or less when the connection's
/// `per_connection_buffer_limit_bytes` is smaller (0 means no limit, as in Envoy).
pub(crate) fn body_chunk_bytes(buffer_limit_bytes: u32) -> usize {
    const BODY_CHUNK_BYTES_MAX: usize = 64 * 1024;
    match usize::try_from(buffer_limit_bytes) {
        Ok(0) | Err(_) => BODY_CHUNK_BYTES_MAX,
        Ok(limit) => limit.min(BODY_CHUNK_BYTES_MAX),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_buffer_limit_bounds_body_reads() {
        assert_eq!(super::body_chunk_bytes(1 << 20), 64 * 1024);
        assert_eq!(super::body_chunk_bytes(32 * 1024), 32 * 1024);
        assert_eq!(super::body_chunk_bytes(100), 100);
        assert_eq!(super::body_chunk_bytes(0), 64 * 1024);
    }
}
