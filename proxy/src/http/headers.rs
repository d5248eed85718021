//! A protocol-neutral header map that filters read and edit: names lower-cased, values as
//! received, order kept, several values per name allowed.
//!
//! The map owns its bytes in one arena that is reused from request to request on a
//! connection, so filling it costs one copy of the head and no allocation once warm. Removed
//! entries are only marked; the arena is reset by [`HeaderMap::clear`].

use std::ops::Range;

/// One header: ranges into the arena.
#[derive(Debug, Clone)]
struct Entry {
    name: Range<u32>,
    value: Range<u32>,
    is_live: bool,
}

/// The map.
#[derive(Debug, Clone, Default)]
pub struct HeaderMap {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    live: usize,
}

impl HeaderMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every header, keeping the memory for the next request.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
        self.live = 0;
    }

    /// Headers held.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no header is held.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn push_bytes(&mut self, bytes: &[u8], lower: bool) -> Range<u32> {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        if lower && let Some(s) = self.arena.get_mut(start..) {
            s.make_ascii_lowercase();
        }
        // A head is bounded far below 4 GiB (the codec's head limit), so offsets fit.
        let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        to_u32(start)..to_u32(self.arena.len())
    }

    fn slice(&self, r: &Range<u32>) -> &[u8] {
        self.arena
            .get(r.start as usize..r.end as usize)
            .unwrap_or(&[])
    }

    /// Adds a header after the others (name lower-cased).
    pub fn append(&mut self, name: &[u8], value: &[u8]) {
        let name = self.push_bytes(name, true);
        let value = self.push_bytes(value, false);
        self.entries.push(Entry {
            name,
            value,
            is_live: true,
        });
        self.live += 1;
    }

    /// Appends `parts` to the first value of `name` (lower case), or adds `name` with the
    /// last part alone when it is absent or empty: how `x-forwarded-for` grows by one hop
    /// (`parts` = `[", ", ip]`). Later values of `name` are dropped, as the joined value
    /// replaces them.
    pub fn append_to_value(&mut self, name: &[u8], parts: &[&[u8]]) {
        let existing = self
            .entries
            .iter()
            .position(|e| e.is_live && self.slice(&e.name) == name && !e.value.is_empty());
        let Some(index) = existing else {
            self.remove(name);
            if let Some(last) = parts.last() {
                self.append(name, last);
            }
            return;
        };
        let Some(old) = self.entries.get(index).map(|e| e.value.clone()) else {
            return;
        };
        self.remove(name);
        let name_range = self.push_bytes(name, true);
        let start = self.arena.len();
        self.arena
            .extend_from_within(old.start as usize..old.end as usize);
        for p in parts {
            self.arena.extend_from_slice(p);
        }
        let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.entries.push(Entry {
            name: name_range,
            value: to_u32(start)..to_u32(self.arena.len()),
            is_live: true,
        });
        self.live += 1;
    }

    /// The first value of `name` (lower case).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.is_live && self.slice(&e.name) == name)
            .map(|e| self.slice(&e.value))
    }

    /// Every value of `name` (lower case), in order.
    pub fn get_all<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        debug_assert!(!name.iter().any(u8::is_ascii_uppercase));
        self.entries
            .iter()
            .filter(move |e| e.is_live && self.slice(&e.name) == name)
            .map(|e| self.slice(&e.value))
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.get(name).is_some()
    }

    /// Removes every value of `name`; returns whether there was one.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        let mut removed = 0;
        for i in 0..self.entries.len() {
            let Some(e) = self.entries.get(i) else { break };
            if e.is_live && self.slice(&e.name) == name {
                if let Some(e) = self.entries.get_mut(i) {
                    e.is_live = false;
                }
                removed += 1;
            }
        }
        self.live -= removed;
        removed > 0
    }

    /// Replaces every value of `name` with one.
    pub fn set(&mut self, name: &[u8], value: &[u8]) {
        self.remove(name);
        self.append(name, value);
    }

    /// Every header in order, as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries
            .iter()
            .filter(|e| e.is_live)
            .map(|e| (self.slice(&e.name), self.slice(&e.value)))
    }
}

impl super::router::RequestHeaders for HeaderMap {
    fn get_all<'s>(&'s self, name: &[u8], each: &mut dyn FnMut(&'s [u8])) {
        for (n, v) in self.iter() {
            if n.eq_ignore_ascii_case(name) {
                each(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_get_remove_set_keep_order() {
        let mut h = HeaderMap::new();
        h.append(b"Host", b"a.example");
        h.append(b"X-A", b"1");
        h.append(b"x-a", b"2");
        h.append(b"x-b", b"3");
        assert_eq!(h.get(b"host"), Some(&b"a.example"[..]));
        assert_eq!(h.get_all(b"x-a").collect::<Vec<_>>(), [b"1", b"2"]);
        assert_eq!(h.len(), 4);
        assert!(h.remove(b"x-a"));
        assert!(!h.remove(b"x-a"));
        assert_eq!(h.len(), 2);
        h.set(b"host", b"b.example");
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            [(&b"x-b"[..], &b"3"[..]), (&b"host"[..], &b"b.example"[..])]
        );
        h.append_to_value(b"x-forwarded-for", &[b", ", b"10.0.0.2"]);
        assert_eq!(h.get(b"x-forwarded-for"), Some(&b"10.0.0.2"[..]));
        h.append_to_value(b"x-forwarded-for", &[b", ", b"10.0.0.3"]);
        assert_eq!(h.get(b"x-forwarded-for"), Some(&b"10.0.0.2, 10.0.0.3"[..]));
        assert_eq!(h.get_all(b"x-forwarded-for").count(), 1);
        h.clear();
        assert!(h.is_empty() && h.get(b"x-b").is_none());
    }
}
