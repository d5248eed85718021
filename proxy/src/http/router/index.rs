//! A candidate index over one virtual host's routes, so that lookups stay fast as tables grow.
//!
//! The index never decides a match: it yields a superset of the routes whose path specifier
//! can accept the request, and the caller runs each candidate's full matcher in ascending
//! route order. First-match-in-config-order therefore holds by construction. Exact paths go
//! to hash maps, prefixes (plain and path-separated) and the literal prefixes of regexes go to
//! byte tries, and whatever cannot be indexed is a candidate for every request.

use std::collections::HashMap;

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use sluice_config::model;

/// Up to this many candidates are gathered on the stack; beyond it the caller scans every
/// route instead, which is always correct.
pub(super) const CANDIDATES_MAX: usize = 64;

/// Regexes with more literal prefixes than this (case-insensitive ones, alternations of many
/// words) are not worth indexing.
const REGEX_LITERALS_MAX: usize = 16;

/// A byte trie whose nodes carry the routes whose prefix ends there.
#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    /// (byte, child node), sorted by byte.
    edges: Vec<(u8, u32)>,
    /// Routes whose prefix ends at this node, ascending.
    routes: Vec<u32>,
}

impl Trie {
    fn insert(&mut self, key: &[u8], route: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut at = 0usize;
        for &b in key {
            let node = &self.nodes[at];
            at = match node.edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => node.edges[i].1 as usize,
                Err(i) => {
                    let child = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
                    self.nodes[at].edges.insert(i, (b, child));
                    self.nodes.push(Node::default());
                    child as usize
                }
            };
        }
        let routes = &mut self.nodes[at].routes;
        if routes.last() != Some(&route) {
            routes.push(route);
        }
    }

    /// Adds the routes of every node along `path` (lower-casing each byte when `fold`).
    fn walk(&self, path: &[u8], fold: bool, out: &mut Candidates) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        out.extend(&node.routes);
        for &b in path {
            let b = if fold { b.to_ascii_lowercase() } else { b };
            let Ok(i) = node.edges.binary_search_by_key(&b, |e| e.0) else {
                return;
            };
            let Some(next) = node.edges.get(i).and_then(|e| self.nodes.get(e.1 as usize)) else {
                return;
            };
            node = next;
            out.extend(&node.routes);
        }
    }
}

/// Route indices gathered for one lookup, on the stack.
pub(super) struct Candidates {
    buf: [u32; CANDIDATES_MAX],
    len: usize,
    overflow: bool,
}

impl Candidates {
    pub(super) fn new() -> Self {
        Candidates {
            buf: [0; CANDIDATES_MAX],
            len: 0,
            overflow: false,
        }
    }

    fn extend(&mut self, routes: &[u32]) {
        match self.buf.get_mut(self.len..self.len + routes.len()) {
            Some(slot) => {
                slot.copy_from_slice(routes);
                self.len += routes.len();
            }
            None => self.overflow = true,
        }
    }

    /// The candidates in ascending route order, or `None` when there were too many to hold.
    pub(super) fn sorted(&mut self) -> Option<&[u32]> {
        if self.overflow {
            return None;
        }
        let list = self.buf.get_mut(..self.len)?;
        list.sort_unstable();
        let mut kept = 0;
        for i in 0..list.len() {
            if kept == 0 || list[i] != list[kept - 1] {
                list[kept] = list[i];
                kept += 1;
            }
        }
        list.get(..kept)
    }
}

/// The index of one virtual host.
#[derive(Debug, Default)]
pub(super) struct RouteIndex {
    exact: HashMap<Box<[u8]>, Vec<u32>>,
    /// Case-insensitive exact paths, lower-cased.
    exact_folded: HashMap<Box<[u8]>, Vec<u32>>,
    prefixes: Trie,
    /// Case-insensitive prefixes, lower-cased.
    prefixes_folded: Trie,
    /// Routes that may match any non-CONNECT path.
    always: Vec<u32>,
    /// `connect_matcher` routes: the only candidates of a CONNECT request.
    connect: Vec<u32>,
}

impl RouteIndex {
    /// Indexes the routes' path specifiers (`model` order is route order).
    pub(super) fn build(routes: &[model::Route]) -> Self {
        let mut index = RouteIndex::default();
        for (i, r) in routes.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else {
                // Beyond four billion routes: not indexed, always a candidate.
                continue;
            };
            let fold = !r.matcher.case_sensitive;
            let lower = |s: &str| s.to_ascii_lowercase().into_bytes().into_boxed_slice();
            match &r.matcher.path {
                model::PathMatch::Prefix(p) | model::PathMatch::PathSeparatedPrefix(p) => {
                    if fold {
                        index.prefixes_folded.insert(&lower(p), i);
                    } else {
                        index.prefixes.insert(p.as_bytes(), i);
                    }
                }
                model::PathMatch::Path(p) => {
                    let (map, key) = if fold {
                        (&mut index.exact_folded, lower(p))
                    } else {
                        (&mut index.exact, p.as_bytes().into())
                    };
                    map.entry(key).or_default().push(i);
                }
                model::PathMatch::SafeRegex(re) => match regex_prefixes(re) {
                    Some(literals) => {
                        for lit in literals {
                            index.prefixes.insert(&lit, i);
                        }
                    }
                    None => index.always.push(i),
                },
                model::PathMatch::Connect => index.connect.push(i),
            }
        }
        index
    }

    /// Gathers the candidates for a request path (without query).
    pub(super) fn candidates(&self, path: &[u8], is_connect: bool, out: &mut Candidates) {
        if is_connect {
            out.extend(&self.connect);
            return;
        }
        out.extend(&self.always);
        if let Some(routes) = self.exact.get(path) {
            out.extend(routes);
        }
        if !self.exact_folded.is_empty() {
            // Lower-case on the stack; a path too long for it falls back to a heap copy.
            let mut buf = [0u8; 256];
            let folded: Box<[u8]>;
            let key: &[u8] = match buf.get_mut(..path.len()) {
                Some(b) => {
                    b.copy_from_slice(path);
                    b.make_ascii_lowercase();
                    b
                }
                None => {
                    folded = path.to_ascii_lowercase().into_boxed_slice();
                    &folded
                }
            };
            if let Some(routes) = self.exact_folded.get(key) {
                out.extend(routes);
            }
        }
        self.prefixes.walk(path, false, out);
        self.prefixes_folded.walk(path, true, out);
    }
}

/// The literals every match of `pattern` must start with, or `None` when they are unknown,
/// unbounded or too many. An empty literal is fine: it lands on the trie's root.
pub(super) fn regex_prefixes(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    let seq = extractor.extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > REGEX_LITERALS_MAX {
        return None;
    }
    Some(literals.iter().map(|l| l.as_bytes().to_vec()).collect())
}
