//! A protocol-neutral header map that filters read and edit: names lower-cased, values as
//! received, order kept, several values per name allowed.
//!
//! The map owns its bytes in one arena that is reused from request to request on a
//! connection, so filling it costs one copy of the head and no allocation once warm. Each
//! header is kept in the arena as the HTTP/1.1 line it becomes (`name: value\r\n`), so
//! encoding the map for HTTP/1.1 copies runs of lines instead of assembling every header
//! again. Removed entries are only marked; the arena is reset by [`HeaderMap::clear`].

/// One header: where its line lies in the arena.
#[derive(Debug, Clone)]
struct Entry {
    /// The line's first byte (the name's).
    start: u32,
    /// Length of the name.
    name_len: u32,
    /// One past the line's last byte (after its CRLF).
    end: u32,
    is_live: bool,
}

impl Entry {
    fn name(&self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.name_len) as usize
    }

    fn value(&self) -> std::ops::Range<usize> {
        // After `name: `, before the CRLF.
        (self.start + self.name_len + 2) as usize..(self.end - 2) as usize
    }
}

/// The map.
#[derive(Debug, Clone, Default)]
pub struct HeaderMap {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    live: usize,
}

/// A head is bounded far below 4 GiB (the codec's head limit), so offsets fit in 32 bits.
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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

    fn bytes(&self, r: std::ops::Range<usize>) -> &[u8] {
        self.arena.get(r).unwrap_or(&[])
    }

    fn name_of(&self, e: &Entry) -> &[u8] {
        self.bytes(e.name())
    }

    /// Adds a header after the others (name lower-cased).
    pub fn append(&mut self, name: &[u8], value: &[u8]) {
        self.append_line(name, None, &[value]);
    }

    /// Adds a header after the others (name lower-cased) whose value is the arena's bytes at
    /// `kept` (an earlier value), if any, followed by `parts`.
    fn append_line(&mut self, name: &[u8], kept: Option<std::ops::Range<usize>>, parts: &[&[u8]]) {
        let value_len: usize = kept.as_ref().map_or(0, ExactSizeIterator::len)
            + parts.iter().map(|p| p.len()).sum::<usize>();
        self.arena.reserve(name.len() + value_len + 4);
        let start = self.arena.len();
        self.arena.extend(name.iter().map(u8::to_ascii_lowercase));
        self.arena.extend_from_slice(b": ");
        if let Some(kept) = kept {
            self.arena.extend_from_within(kept);
        }
        for p in parts {
            self.arena.extend_from_slice(p);
        }
        self.arena.extend_from_slice(b"\r\n");
        self.entries.push(Entry {
            start: offset(start),
            name_len: offset(name.len()),
            end: offset(self.arena.len()),
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
            .find(|e| e.is_live && self.name_of(e) == name && !e.value().is_empty())
            .map(Entry::value);
        let Some(old) = existing else {
            self.remove(name);
            if let Some(last) = parts.last() {
                self.append(name, last);
            }
            return;
        };
        self.remove(name);
        // The new line goes after the others; the old value is copied within the arena.
        self.append_line(name, Some(old), parts);
    }

    /// The first value of `name` (lower case).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.is_live && self.name_of(e) == name)
            .map(|e| self.bytes(e.value()))
    }

    /// Every value of `name` (lower case), in order.
    pub fn get_all<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        debug_assert!(!name.iter().any(u8::is_ascii_uppercase));
        self.entries
            .iter()
            .filter(move |e| e.is_live && self.name_of(e) == name)
            .map(|e| self.bytes(e.value()))
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
            if e.is_live && self.name_of(e) == name {
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
            .map(|e| (self.name_of(e), self.bytes(e.value())))
    }

    /// Writes every header as HTTP/1.1 lines (`name: value\r\n`, names lower case) to
    /// `out`: lines that follow one another in the arena go out in one copy.
    pub fn write_h1_lines(&self, out: &mut Vec<u8>) {
        let mut run: Option<(u32, u32)> = None;
        for e in self.entries.iter().filter(|e| e.is_live) {
            run = match run {
                Some((start, end)) if end == e.start => Some((start, e.end)),
                Some((start, end)) => {
                    out.extend_from_slice(self.bytes(start as usize..end as usize));
                    Some((e.start, e.end))
                }
                None => Some((e.start, e.end)),
            };
        }
        if let Some((start, end)) = run {
            out.extend_from_slice(self.bytes(start as usize..end as usize));
        }
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
        let mut out = Vec::new();
        h.write_h1_lines(&mut out);
        assert_eq!(
            out,
            b"x-b: 3\r\nhost: b.example\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n"
        );
        h.clear();
        assert!(h.is_empty() && h.get(b"x-b").is_none());
    }
}
