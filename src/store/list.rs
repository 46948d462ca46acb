//! A list value (Redis's `quicklist`).
//!
//! Redis 7.0 stores every list as a quicklist, a linked list of listpack nodes, and
//! `OBJECT ENCODING` always says `quicklist` (the small-list `listpack` encoding came
//! in 7.2). A `VecDeque` gives the same complexity for what clients can observe:
//! O(1) pushes and pops at both ends, O(N) for searches and inserts in the middle.
//! Indexes follow Redis's convention: negative values count from the tail.

use std::collections::VecDeque;

use bytes::Bytes;

use super::value::alloc_size;

/// Which end of a list (Redis's `LIST_HEAD`/`LIST_TAIL`, the `LEFT`/`RIGHT` keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// A list of byte strings. Never empty while stored: commands delete the key when
/// they remove the last element.
#[derive(Debug, Clone, Default)]
pub struct ListValue {
    items: VecDeque<Bytes>,
}

impl ListValue {
    pub fn new() -> ListValue {
        ListValue::default()
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, end: End, v: Bytes) {
        match end {
            End::Left => self.items.push_front(v),
            End::Right => self.items.push_back(v),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }

    /// Resolves a Redis index (negative from the tail) to a position, if in range.
    pub fn position(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    pub fn get(&self, pos: usize) -> Option<&Bytes> {
        self.items.get(pos)
    }

    pub fn set(&mut self, pos: usize, v: Bytes) {
        if let Some(slot) = self.items.get_mut(pos) {
            *slot = v;
        }
    }

    pub fn insert(&mut self, pos: usize, v: Bytes) {
        self.items.insert(pos, v);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator + Clone {
        self.items.iter()
    }

    /// Positions `start..=stop`, as [`ListValue::range`] gives them.
    pub fn slice(&self, start: usize, stop: usize) -> impl ExactSizeIterator<Item = &[u8]> + Clone {
        self.items.range(start..=stop).map(|b| &b[..])
    }

    /// The clamped position range of Redis's `start`/`stop` (LRANGE, LTRIM), or
    /// `None` when it selects nothing.
    pub fn range(&self, start: i64, stop: i64) -> Option<(usize, usize)> {
        let len = self.items.len() as i64;
        let mut start = if start < 0 { len + start } else { start };
        let mut stop = if stop < 0 { len + stop } else { stop };
        start = start.max(0);
        if start > stop || start >= len {
            return None;
        }
        stop = stop.min(len - 1);
        Some((start as usize, stop as usize))
    }

    /// Keeps only positions `start..=stop`.
    pub fn keep(&mut self, start: usize, stop: usize) {
        self.items.truncate(stop + 1);
        self.items.drain(..start);
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Removes up to `count` elements equal to `v` (0 = all), scanning from `end`.
    /// Returns how many were removed.
    pub fn remove(&mut self, v: &[u8], count: usize, end: End) -> usize {
        let limit = if count == 0 { usize::MAX } else { count };
        let mut removed = 0;
        match end {
            End::Left => {
                self.items.retain(|x| {
                    if removed < limit && x == v {
                        removed += 1;
                        false
                    } else {
                        true
                    }
                });
            }
            End::Right => {
                let mut i = self.items.len();
                while i > 0 && removed < limit {
                    i -= 1;
                    if self.items[i] == v {
                        self.items.remove(i);
                        removed += 1;
                    }
                }
            }
        }
        removed
    }

    /// Bytes used, for `MEMORY USAGE`: a quicklist header plus listpack nodes of
    /// about 8 KB (`list-max-listpack-size -2`), each entry costing its bytes plus a
    /// couple of header bytes.
    pub fn memory_usage(&self) -> usize {
        const NODE: usize = 8 * 1024;
        let bytes: usize = self.items.iter().map(|v| v.len() + 2).sum();
        let nodes = bytes.div_ceil(NODE).max(1);
        40 + nodes * 32 + alloc_size(bytes + 7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> ListValue {
        let mut l = ListValue::new();
        for i in items {
            l.push(End::Right, Bytes::copy_from_slice(i.as_bytes()));
        }
        l
    }

    fn items(l: &ListValue) -> Vec<&[u8]> {
        l.iter().map(|b| b.as_ref()).collect()
    }

    #[test]
    fn ranges_clamp_like_redis() {
        let l = list(&["a", "b", "c"]);
        let cases = [
            ((0, -1), Some((0, 2))),
            ((-100, 100), Some((0, 2))),
            ((1, 0), None),
            ((3, 5), None),
            ((-1, -1), Some((2, 2))),
            ((-5, -4), None),
        ];
        for ((s, e), want) in cases {
            assert_eq!(l.range(s, e), want, "range({s}, {e})");
        }
    }

    #[test]
    fn remove_counts_from_either_end() {
        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(l.remove(b"x", 1, End::Right), 1);
        assert_eq!(items(&l), [&b"x"[..], b"a", b"x", b"b"]);
        assert_eq!(l.remove(b"x", 0, End::Left), 2);
        assert_eq!(items(&l), [&b"a"[..], b"b"]);
    }

    #[test]
    fn keep_trims_both_sides() {
        let mut l = list(&["a", "b", "c", "d"]);
        l.keep(1, 2);
        assert_eq!(items(&l), [&b"b"[..], b"c"]);
        assert_eq!(l.position(-1), Some(1));
        assert_eq!(l.position(2), None);
    }
}
