//! A deterministic byte pattern for large transfers: the sender writes it, the receiver checks every
//! byte against it as it streams by, so gigabytes are verified byte-exact without files or hashing.
//!
//! The pattern repeats every [`PERIOD`] bytes, a prime, so it never lines up with buffer sizes:
//! a lost, duplicated or reordered chunk shows up as a mismatch at a precise offset.

use std::io::{self, Write};
use std::sync::OnceLock;

/// Length of one repetition of the pattern (prime).
pub const PERIOD: usize = 65_521;

/// Largest slice [`window`] hands out; senders write in chunks of this size.
pub const CHUNK: usize = 1 << 20;

/// `PERIOD + CHUNK` bytes of pattern, so any window of up to `CHUNK` bytes is contiguous.
fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // xorshift64: cheap, and nothing like ASCII or HTTP framing.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let period: Vec<u8> = (0..PERIOD)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[3]
            })
            .collect();
        period
            .iter()
            .copied()
            .cycle()
            .take(PERIOD + CHUNK)
            .collect()
    })
}

/// The pattern bytes at stream offset `offset`, `len <= CHUNK` of them.
pub fn window(offset: u64, len: usize) -> &'static [u8] {
    assert!(
        len <= CHUNK,
        "pattern window of {len} bytes exceeds {CHUNK}"
    );
    let start = usize::try_from(offset % PERIOD as u64).expect("offset modulo PERIOD fits usize");
    &table()[start..start + len]
}

/// The first `len` bytes of the pattern as a vector (for small bodies).
pub fn pattern_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut offset = 0u64;
    while out.len() < len {
        let n = (len - out.len()).min(CHUNK);
        out.extend_from_slice(window(offset, n));
        offset += n as u64;
    }
    out
}

/// Writes the first `len` bytes of the pattern to `out`, in `CHUNK`-sized writes.
pub fn write_pattern(out: &mut impl Write, len: u64) -> io::Result<()> {
    let mut offset = 0u64;
    while offset < len {
        let n = usize::try_from((len - offset).min(CHUNK as u64)).expect("chunk fits usize");
        out.write_all(window(offset, n))?;
        offset += n as u64;
    }
    Ok(())
}

/// Checks a byte stream against the pattern as it arrives.
#[derive(Debug, Default, Clone)]
pub struct PatternVerifier {
    received: u64,
    first_mismatch: Option<u64>,
}

impl PatternVerifier {
    /// A verifier expecting the pattern from offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = data.len().min(CHUNK);
            let (head, rest) = data.split_at(n);
            if self.first_mismatch.is_none() {
                let expected = window(self.received, n);
                if head != expected {
                    let at = head
                        .iter()
                        .zip(expected)
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    self.first_mismatch = Some(self.received + at as u64);
                }
            }
            self.received += n as u64;
            data = rest;
        }
    }

    /// Bytes seen so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Offset of the first byte that differed from the pattern, if any.
    pub fn first_mismatch(&self) -> Option<u64> {
        self.first_mismatch
    }

    /// Whether exactly `len` bytes arrived and all matched the pattern.
    pub fn is_exactly(&self, len: u64) -> bool {
        self.received == len && self.first_mismatch.is_none()
    }

    /// A one-line account for assertion messages.
    pub fn describe(&self) -> String {
        match self.first_mismatch {
            Some(at) => format!(
                "{} bytes received, first mismatch at offset {at}",
                self.received
            ),
            None => format!("{} bytes received, all matching the pattern", self.received),
        }
    }
}
