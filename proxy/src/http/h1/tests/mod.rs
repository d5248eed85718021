//! Table tests over raw bytes for the HTTP/1.1 codec, plus a deterministic fuzz loop.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod body;
mod encode;
mod fuzz;
mod head;

use super::*;

/// Parses a complete request head or returns its error; panics on `Partial`.
fn request(input: &[u8]) -> Result<RequestHead, HeadError> {
    let mut head = RequestHead::new();
    match head.parse(input, &Limits::default())? {
        Parse::Complete(n) => {
            assert_eq!(n, head.head_len());
            Ok(head)
        }
        Parse::Partial => panic!("partial: {:?}", String::from_utf8_lossy(input)),
    }
}

/// Parses a complete response head answering `method`.
fn response(input: &[u8], method: Method) -> Result<ResponseHead, HeadError> {
    let mut head = ResponseHead::new();
    match head.parse(input, &Limits::default(), method)? {
        Parse::Complete(_) => Ok(head),
        Parse::Partial => panic!("partial: {:?}", String::from_utf8_lossy(input)),
    }
}

/// Decodes a whole body in one call: (data, consumed, done) or the error.
fn decode(kind: BodyKind, input: &[u8]) -> Result<(Vec<u8>, usize, bool), BodyError> {
    decode_split(kind, input, &[])
}

/// Decodes a body feeding `input` in pieces cut at `cuts` (ascending offsets). Models a caller
/// buffer: unconsumed bytes are kept and re-offered with the next piece.
fn decode_split(
    kind: BodyKind,
    input: &[u8],
    cuts: &[usize],
) -> Result<(Vec<u8>, usize, bool), BodyError> {
    let mut dec = BodyDecoder::new(kind, &Limits::default());
    let mut data = Vec::new();
    let mut consumed = 0;
    let mut ends: Vec<usize> = cuts.to_vec();
    ends.push(input.len());
    for end in ends {
        let piece = &input[consumed..end];
        let p = dec.advance_with(piece, |r| data.extend_from_slice(&piece[r]))?;
        assert!(p.consumed <= piece.len());
        consumed += p.consumed;
        if p.is_done {
            assert!(dec.is_done());
            return Ok((data, consumed, true));
        }
        assert_eq!(
            p.consumed,
            piece.len(),
            "not done, so everything must be taken"
        );
    }
    Ok((data, consumed, dec.is_done()))
}
