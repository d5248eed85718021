//! Request path normalization before routing, in the order Envoy's connection manager applies
//! it (`ConnectionManagerUtility::maybeNormalizePath`): escaped slashes
//! (`path_with_escaped_slashes_action`), then RFC 3986 normalization (`normalize_path`), then
//! `merge_slashes`. Only the path is rewritten; from the first `?` on, the query passes as it is.
//!
//! `normalize_path` is Envoy's `PathUtil::canonicalPath`, which runs the path through the URL
//! canonicalizer Envoy takes from Chromium; these are its rules (RFC 3986 §6.2.2, syntax-based
//! normalization, minus case normalization):
//!
//! - `.` and `..` segments are removed (RFC 3986 §5.2.4), also when a dot is written `%2e` or
//!   `%2E`; `..` never climbs above the root. Before that, a dot segment carrying parameters
//!   (`/..;x=1/`) loses them so that it still counts (Envoy's default
//!   `strip_dotdot_segments_with_parameters`).
//! - `\` separates segments like `/` and is written `/`.
//! - Percent-encoded unreserved characters (`ALPHA DIGIT - . _ ~`) are decoded; any other escape
//!   is kept as written, hex case included, so `%2F` stays `%2F`. `%00` makes the path invalid
//!   (400). A `%` not followed by two hex digits stays as it is.
//! - Bytes that may not appear in a path (controls, space, `"`, `#`, `<`, `>`, `^`, `` ` ``,
//!   `{`, `|`, `}`, DEL and every byte from 0x80) are percent-encoded in upper-case hex.
//! - A path that does not start with `/` gets one.
//!
//! A path is first scanned for anything a rule would change; a normal path is never copied. A
//! rewritten path goes into buffers the connection keeps, so after the first few requests
//! normalizing allocates nothing.
#![deny(clippy::indexing_slicing)]

use sluice_config::model::{EscapedSlashesAction, PathOptions};

use crate::layered_runtime::Runtime;

#[cfg(test)]
mod tests;

/// Runtime key that decides `normalize_path` when the config does not write it: a percentage,
/// 0 by default.
pub const NORMALIZE_PATH_KEY: &str = "http_connection_manager.normalize_path";

/// Runtime key that decides `IMPLEMENTATION_SPECIFIC_DEFAULT`: 2 reject, 3 redirect, 4 forward,
/// anything else keep.
pub const ESCAPED_SLASHES_ACTION_KEY: &str =
    "http_connection_manager.path_with_escaped_slashes_action";

/// Runtime key, a `FractionalPercent` (default 100 %): the chance that a connection manager
/// applies its escaped-slashes action at all.
pub const ESCAPED_SLASHES_ENABLED_KEY: &str =
    "http_connection_manager.path_with_escaped_slashes_action_enabled";

/// Envoy's runtime guard for stripping parameters from dot segments (on by default).
pub const STRIP_DOT_PARAMETERS_KEY: &str =
    "envoy.reloadable_features.strip_dotdot_segments_with_parameters";

/// Runtime guard: a path with a `#fragment` is refused (default on).
pub const REJECT_FRAGMENT_KEY: &str = "envoy.reloadable_features.http_reject_path_with_fragment";

/// Runtime guard, when fragments are not refused: they are stripped (default on), else kept.
pub const STRIP_FRAGMENT_KEY: &str =
    "envoy.reloadable_features.http_strip_fragment_from_path_unsafe_if_disabled";

/// What `%2F`, `%2f`, `%5C` and `%5c` in a path do, once the runtime has decided
/// `IMPLEMENTATION_SPECIFIC_DEFAULT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapedSlashes {
    /// Left as they are.
    Keep,
    /// The request is answered 400.
    Reject,
    /// The request is answered 307 with the unescaped, normalized path as `location`.
    Redirect,
    /// Unescaped; the request is routed and forwarded with the new path.
    Forward,
}

/// A connection manager's path rules, resolved from its configuration and the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRules {
    /// `path_with_escaped_slashes_action`.
    pub escaped_slashes: EscapedSlashes,
    /// `normalize_path`.
    pub normalize: bool,
    /// Whether `normalize` first strips parameters from `.` and `..` segments.
    pub strip_dot_parameters: bool,
    /// `merge_slashes`.
    pub merge_slashes: bool,
    /// What a `#fragment` in the path does; Envoy checks this on every request, whatever the
    /// options say.
    pub fragment: Fragment,
}

/// What a `#fragment` in a request path does: Envoy refuses it (`400`) unless the runtime
/// guard `envoy.reloadable_features.http_reject_path_with_fragment` is off, then strips it
/// unless `envoy.reloadable_features.http_strip_fragment_from_path_unsafe_if_disabled` is off
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// Answer 400 (`downstream_rq_failed_path_normalization`).
    Reject,
    /// Route and forward the path without it.
    Strip,
    /// Leave it in the path.
    Keep,
}

/// What to do with a request after its path went through the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The path is already normal: route it as received.
    Unchanged,
    /// Route and forward [`Normalizer::path`] instead.
    Rewritten,
    /// Answer 307 with [`Normalizer::path`] as the location.
    Redirect,
    /// Answer 400: the path cannot be normalized, holds a fragment, or has an escaped slash
    /// that the rules refuse.
    Reject,
}

/// A connection's buffers for rewritten paths, reused from request to request.
#[derive(Debug, Default)]
pub struct Normalizer {
    /// The current request's path when a rule rewrote it.
    path: Vec<u8>,
    /// Where the next rule writes; swapped with `path` when it changes something.
    scratch: Vec<u8>,
    is_rewritten: bool,
}

/// How one rule left a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing to change; the output buffer holds nothing useful.
    Same,
    /// The output buffer holds the new path (query included).
    Changed,
    /// The path cannot be normalized.
    Invalid,
}

// === impl PathRules ===

impl PathRules {
    /// No rule: paths are routed as received.
    pub const NONE: PathRules = PathRules {
        escaped_slashes: EscapedSlashes::Keep,
        normalize: false,
        strip_dot_parameters: true,
        merge_slashes: false,
        fragment: Fragment::Reject,
    };

    /// Resolves the configured options as Envoy does when it creates the connection manager:
    /// an unwritten `normalize_path` and `IMPLEMENTATION_SPECIFIC_DEFAULT` are read from the
    /// runtime, and `random` decides the runtime percentages.
    pub fn resolve(options: &PathOptions, runtime: &Runtime, random: u64) -> PathRules {
        let normalize = options
            .normalize_path
            .unwrap_or_else(|| runtime.percent_enabled(NORMALIZE_PATH_KEY, 0, random));
        let escaped_slashes =
            if runtime.feature_enabled(ESCAPED_SLASHES_ENABLED_KEY, 100, 100, random) {
                match options.escaped_slashes {
                    EscapedSlashesAction::ImplementationSpecificDefault => {
                        match runtime.integer(ESCAPED_SLASHES_ACTION_KEY) {
                            Some(2) => EscapedSlashes::Reject,
                            Some(3) => EscapedSlashes::Redirect,
                            Some(4) => EscapedSlashes::Forward,
                            _ => EscapedSlashes::Keep,
                        }
                    }
                    EscapedSlashesAction::KeepUnchanged => EscapedSlashes::Keep,
                    EscapedSlashesAction::RejectRequest => EscapedSlashes::Reject,
                    EscapedSlashesAction::UnescapeAndRedirect => EscapedSlashes::Redirect,
                    EscapedSlashesAction::UnescapeAndForward => EscapedSlashes::Forward,
                }
            } else {
                EscapedSlashes::Keep
            };
        PathRules {
            escaped_slashes,
            normalize,
            strip_dot_parameters: runtime.boolean(STRIP_DOT_PARAMETERS_KEY).unwrap_or(true),
            merge_slashes: options.merge_slashes,
            fragment: if runtime.boolean(REJECT_FRAGMENT_KEY).unwrap_or(true) {
                Fragment::Reject
            } else if runtime.boolean(STRIP_FRAGMENT_KEY).unwrap_or(true) {
                Fragment::Strip
            } else {
                Fragment::Keep
            },
        }
    }

    /// Whether any rule applies: when none does, a request's path is not even looked at.
    /// By default the fragment check does, so every path is scanned once for `#`.
    pub fn is_active(&self) -> bool {
        self.escaped_slashes != EscapedSlashes::Keep
            || self.normalize
            || self.merge_slashes
            || self.fragment != Fragment::Keep
    }
}

// === impl Normalizer ===

impl Normalizer {
    /// An empty normalizer; its buffers grow on the first rewritten path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `rules` to `path` (path and query of an origin-form target).
    pub fn apply(&mut self, rules: &PathRules, path: &[u8]) -> Verdict {
        self.is_rewritten = false;
        // Envoy deals with a fragment before any rule (`maybeNormalizePath`): the rules below
        // would otherwise treat it as part of the path.
        if path.contains(&b'#') {
            match rules.fragment {
                Fragment::Reject => return Verdict::Reject,
                Fragment::Strip => {
                    self.step(path, strip_fragment);
                }
                Fragment::Keep => {}
            }
        }
        let mut redirect = false;
        if rules.escaped_slashes != EscapedSlashes::Keep
            && self.step(path, unescape_slashes) == Step::Changed
        {
            match rules.escaped_slashes {
                EscapedSlashes::Reject => return Verdict::Reject,
                EscapedSlashes::Redirect => redirect = true,
                EscapedSlashes::Forward | EscapedSlashes::Keep => {}
            }
        }
        if rules.normalize {
            if rules.strip_dot_parameters {
                self.step(path, strip_dot_parameters);
            }
            if self.step(path, canonicalize) == Step::Invalid {
                return Verdict::Reject;
            }
        }
        if rules.merge_slashes {
            self.step(path, merge_slashes);
        }
        debug_assert!(!redirect || self.is_rewritten, "a redirect has a new path");
        if redirect {
            Verdict::Redirect
        } else if self.is_rewritten {
            Verdict::Rewritten
        } else {
            Verdict::Unchanged
        }
    }

    /// The rewritten path of the last [`Normalizer::apply`] that returned
    /// [`Verdict::Rewritten`] or [`Verdict::Redirect`].
    pub fn path(&self) -> &[u8] {
        debug_assert!(self.is_rewritten, "no rewritten path to read");
        &self.path
    }

    /// The current request's rewritten path, if a rule rewrote it.
    pub fn rewritten(&self) -> Option<&[u8]> {
        self.is_rewritten.then_some(self.path.as_slice())
    }

    /// Forgets the last request's path (a request the rules do not apply to).
    pub fn clear(&mut self) {
        self.is_rewritten = false;
    }

    /// Runs one rule on the current path (the original, or what an earlier rule wrote).
    fn step(&mut self, original: &[u8], rule: fn(&[u8], &mut Vec<u8>) -> Step) -> Step {
        let input: &[u8] = if self.is_rewritten {
            &self.path
        } else {
            original
        };
        self.scratch.clear();
        let step = rule(input, &mut self.scratch);
        if step == Step::Changed {
            debug_assert!(
                self.scratch.as_slice() != input,
                "a change changes the path"
            );
            std::mem::swap(&mut self.path, &mut self.scratch);
            self.is_rewritten = true;
        }
        step
    }
}

/// Drops a `#fragment` and what follows it.
fn strip_fragment(target: &[u8], out: &mut Vec<u8>) -> Step {
    match target.split(|&b| b == b'#').next() {
        Some(before) if before.len() < target.len() => {
            out.extend_from_slice(before);
            Step::Changed
        }
        _ => Step::Same,
    }
}

/// Splits a target at its first `?`: the path, and the query with its `?` (or nothing).
fn split_query(target: &[u8]) -> (&[u8], &[u8]) {
    match target.iter().position(|&b| b == b'?') {
        Some(q) => target.split_at(q),
        None => (target, &[]),
    }
}

/// `%2F`, `%2f`, `%5C`, `%5c` in the path become `/` and `\` (Envoy's
/// `PathUtil::unescapeSlashes`, left to right).
fn unescape_slashes(target: &[u8], out: &mut Vec<u8>) -> Step {
    let (path, query) = split_query(target);
    if !path.windows(3).any(|w| escaped_slash(w).is_some()) {
        return Step::Same;
    }
    let mut rest = path;
    while let Some((&b, tail)) = rest.split_first() {
        match rest.get(..3).and_then(escaped_slash) {
            Some(slash) => {
                out.push(slash);
                rest = tail.get(2..).unwrap_or_default();
            }
            None => {
                out.push(b);
                rest = tail;
            }
        }
    }
    out.extend_from_slice(query);
    Step::Changed
}

/// The slash `%2F` / `%5C` (any hex case) stands for.
fn escaped_slash(w: &[u8]) -> Option<u8> {
    match w {
        [b'%', b'2', b'f' | b'F'] => Some(b'/'),
        [b'%', b'5', b'c' | b'C'] => Some(b'\\'),
        _ => None,
    }
}

/// `/..;params` and `/.;params` segments lose their parameters (Envoy's
/// `PathUtil::stripParametersFromDotSegments`), so that normalization removes them.
fn strip_dot_parameters(target: &[u8], out: &mut Vec<u8>) -> Step {
    let (path, query) = split_query(target);
    if !path.windows(2).any(|w| w == b".;") {
        return Step::Same;
    }
    for (i, segment) in path.split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        if segment.starts_with(b"..;") {
            out.extend_from_slice(b"..");
        } else if segment.starts_with(b".;") {
            out.push(b'.');
        } else {
            out.extend_from_slice(segment);
        }
    }
    out.extend_from_slice(query);
    if out.as_slice() == target {
        Step::Same
    } else {
        Step::Changed
    }
}

/// Runs of `/` in the path become one (Envoy's `PathUtil::mergeSlashes`: the non-empty
/// segments joined by `/`, with the leading and trailing slash kept).
fn merge_slashes(target: &[u8], out: &mut Vec<u8>) -> Step {
    let (path, query) = split_query(target);
    if !path.windows(2).any(|w| w == b"//") {
        return Step::Same;
    }
    if path.starts_with(b"/") {
        out.push(b'/');
    }
    for (i, segment) in path
        .split(|&b| b == b'/')
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(segment);
    }
    if path.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(query);
    // `//` alone stays `//` (no segment between the kept slashes), as in Envoy.
    if out.as_slice() == target {
        Step::Same
    } else {
        Step::Changed
    }
}

/// What the canonicalizer does with a byte of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Copied.
    Pass,
    /// Copied; decoded when percent-encoded.
    Unreserved,
    /// `.`: may start a dot segment.
    Dot,
    /// `%`: an escape, or a dot written `%2e`.
    Percent,
    /// `\`: a separator.
    Backslash,
    /// Percent-encoded on output.
    Escape,
    /// NUL: the path is invalid.
    Invalid,
}

fn class(b: u8) -> Class {
    match b {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => Class::Unreserved,
        b'!' | b'$' | b'&' | b'\''..=b',' | b'/' | b':' | b';' | b'=' | b'@' | b'[' | b']' => {
            Class::Pass
        }
        b'.' => Class::Dot,
        b'%' => Class::Percent,
        b'\\' => Class::Backslash,
        0 => Class::Invalid,
        _ => Class::Escape,
    }
}

/// Whether canonicalizing `path` could change it: a quick scan that a normal path passes
/// without a copy being made.
fn may_canonicalize(path: &[u8]) -> bool {
    if path.first() != Some(&b'/') {
        return true;
    }
    let mut after_slash = false;
    for &b in path {
        match class(b) {
            Class::Pass | Class::Unreserved => {}
            // A dot right after a slash may start a dot segment; elsewhere it is a name's.
            Class::Dot if !after_slash => {}
            _ => return true,
        }
        after_slash = b == b'/';
    }
    false
}

/// RFC 3986 normalization of the path (see the module docs); the query is appended as it is.
fn canonicalize(target: &[u8], out: &mut Vec<u8>) -> Step {
    let (path, query) = split_query(target);
    if !may_canonicalize(path) {
        return Step::Same;
    }
    let is_valid = canonicalize_path(path, out);
    if !is_valid {
        return Step::Invalid;
    }
    out.extend_from_slice(query);
    if out.as_slice() == target {
        Step::Same
    } else {
        Step::Changed
    }
}

/// How a dot that follows a slash reads.
enum AfterDot {
    /// Part of a name (`/.well-known`, `/..x`): copied.
    Name,
    /// `.`: the current segment; skip this many bytes after the dot.
    Current(usize),
    /// `..`: up one segment; skip this many bytes after the first dot.
    Up(usize),
}

/// Canonicalizes `path` into `out` (which must be empty); false when the path is invalid.
fn canonicalize_path(path: &[u8], out: &mut Vec<u8>) -> bool {
    debug_assert!(out.is_empty());
    let mut is_valid = true;
    if !matches!(path.first(), Some(b'/' | b'\\')) {
        out.push(b'/');
    }
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        let dot = dot_len(path, i);
        if dot > 0 {
            if out.last() == Some(&b'/') {
                match after_dot(path, i + dot) {
                    AfterDot::Name => {
                        out.push(b'.');
                        i += dot;
                    }
                    AfterDot::Current(skip) => i += dot + skip,
                    AfterDot::Up(skip) => {
                        up_one_segment(out);
                        i += dot + skip;
                    }
                }
            } else {
                out.push(b'.');
                i += dot;
            }
            continue;
        }
        match class(b) {
            Class::Pass | Class::Unreserved | Class::Dot => out.push(b),
            Class::Backslash => out.push(b'/'),
            Class::Percent => match decode_escape(path, i) {
                Some(value) => {
                    match class(value) {
                        Class::Unreserved => out.push(value),
                        class => {
                            // Kept exactly as written: a server may care about hex case.
                            is_valid &= class != Class::Invalid;
                            out.extend_from_slice(path.get(i..i + 3).unwrap_or_default());
                        }
                    }
                    i += 2;
                }
                // Not an escape: the `%` is kept as it is.
                None => out.push(b'%'),
            },
            Class::Escape => push_escaped(out, b),
            Class::Invalid => {
                push_escaped(out, b);
                is_valid = false;
            }
        }
        i += 1;
    }
    is_valid
}

/// 1 for `.`, 3 for `%2e` / `%2E`, 0 when `path[i..]` starts no dot.
fn dot_len(path: &[u8], i: usize) -> usize {
    match path.get(i..).unwrap_or_default() {
        [b'.', ..] => 1,
        [b'%', b'2', b'e' | b'E', ..] => 3,
        _ => 0,
    }
}

/// Reads what follows a dot that starts a segment, from `at`.
fn after_dot(path: &[u8], at: usize) -> AfterDot {
    match path.get(at) {
        None => AfterDot::Current(0),
        Some(b'/' | b'\\') => AfterDot::Current(1),
        Some(_) => {
            let second = dot_len(path, at);
            if second == 0 {
                return AfterDot::Name;
            }
            match path.get(at + second) {
                None => AfterDot::Up(second),
                Some(b'/' | b'\\') => AfterDot::Up(second + 1),
                Some(_) => AfterDot::Name,
            }
        }
    }
}

/// Drops the last segment of `out`, which ends with `/`; never goes above the first slash.
fn up_one_segment(out: &mut Vec<u8>) {
    debug_assert_eq!(out.last(), Some(&b'/'));
    debug_assert_eq!(out.first(), Some(&b'/'));
    let Some(before_last) = out.len().checked_sub(1) else {
        return;
    };
    let previous = out
        .get(..before_last)
        .and_then(|o| o.iter().rposition(|&b| b == b'/'))
        .unwrap_or(0);
    out.truncate(previous + 1);
}

/// The byte `%XY` at `path[i..]` encodes, if `X` and `Y` are hex digits.
fn decode_escape(path: &[u8], i: usize) -> Option<u8> {
    let Some(&[b'%', hi, lo]) = path.get(i..i + 3) else {
        return None;
    };
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    Some((digit(hi)? << 4) | digit(lo)?)
}

/// `%XY` with upper-case hex.
fn push_escaped(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'%');
    out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
    out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
}
