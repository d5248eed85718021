//! HTTP: the HTTP/1.1 codec and connection driver, the protocol-neutral request path (header
//! map, filter chain, router, upstream attempts with retries), and the route tables.

pub mod conn_manager;
pub mod error;
pub mod filter;
mod forward;
pub mod h1;
pub mod headers;
pub mod retry;
pub mod router;

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
    use monoio::buf::{IoBufMut as _, SliceMut};
    debug_assert!(
        buf.len() < buf.capacity(),
        "read_append needs spare capacity"
    );
    let (len, cap) = (buf.len(), buf.capacity());
    let (res, slice): (_, SliceMut<Vec<u8>>) = r.read(buf.slice_mut(len..cap)).await;
    (res, slice.into_inner())
}
