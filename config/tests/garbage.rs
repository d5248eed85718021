//! No input makes the loader panic: seeded random mutations of the fixtures and random bytes
//! all come back as `Ok` or `Err`. Replay one seed with `SLUICE_FUZZ_SEED=N`.

use std::fs;
use std::path::Path;

use sluice_config::{Format, load_str};

/// A small xorshift generator: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    "-",
    " ",
    "\n",
    "\t",
    "\"",
    "'",
    "&a",
    "*a",
    "<<:",
    "!!str",
    "#",
    "null",
    "~",
    "0",
    "-1",
    "99999999999999999999999",
    "1e400",
    "0.5s",
    "@type",
    "|",
    ">",
    "?",
    "---",
    "...",
    "%YAML 1.2",
    "\u{feff}",
    "é",
    "\\u0000",
    "name",
    "cluster",
    "type: STATIC",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(8) {
        let at = rng.below(chars.len() + 1).min(chars.len());
        match rng.below(4) {
            0 if !chars.is_empty() => {
                let end = (at + rng.below(20)).min(chars.len());
                chars.drain(at..end);
            }
            1 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                for (i, c) in tok.chars().enumerate() {
                    chars.insert(at + i, c);
                }
            }
            2 if !chars.is_empty() => {
                let from = rng.below(chars.len());
                let end = (from + rng.below(40)).min(chars.len());
                let piece: Vec<char> = chars[from..end].to_vec();
                for (i, c) in piece.into_iter().enumerate() {
                    chars.insert(at + i, c);
                }
            }
            _ => {
                let c =
                    char::from_u32(u32::try_from(rng.next() % 0x3000).unwrap_or(32)).unwrap_or(' ');
                chars.insert(at, c);
            }
        }
    }
    chars.into_iter().collect()
}

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for kind in ["ok", "err"] {
        for entry in fs::read_dir(root.join(kind)).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e != "expected") {
                out.push(fs::read_to_string(&path).expect("text"));
            }
        }
    }
    out
}

#[test]
fn mutated_fixtures_never_panic() {
    let corpus = corpus();
    let seeds: Vec<u64> = match std::env::var("SLUICE_FUZZ_SEED") {
        Ok(s) => vec![s.parse().expect("seed")],
        Err(_) => (1..=300).collect(),
    };
    for seed in seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let base = &corpus[rng.below(corpus.len())];
        let text = mutate(&mut rng, base);
        for format in [Format::Yaml, Format::Json] {
            let result = std::panic::catch_unwind(|| load_str(&text, "fuzz", format));
            assert!(result.is_ok(), "seed {seed} panicked on:\n{text}");
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed);
    for _ in 0..300 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len)
            .map(|_| u8::try_from(rng.next() & 0xff).unwrap_or(0))
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = load_str(&text, "bytes", Format::Yaml);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    for open in ["[", "{a: ", "- "] {
        let text = open.repeat(100_000);
        let _ = load_str(&text, "deep", Format::Yaml);
    }
}
