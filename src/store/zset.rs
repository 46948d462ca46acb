//! A sorted set: members ordered by (score, member), with O(log n) rank queries.
//!
//! # Layout
//!
//! Like Redis's `skiplist` encoding, a [`ZSetValue`] keeps the same members in two
//! structures. A [`Dict`] maps member to score: ZSCORE is O(1), and ZSCAN gets
//! Redis's stable reverse-binary cursors. A [`SkipList`] orders the members by
//! (score, member bytes) and every link carries a *span*, the number of level-0
//! steps it skips. Summing spans on the way down gives the rank of a node, and
//! following spans finds the node at a rank, both in O(log n). So `ZRANGE key
//! 500000 500010` on a million members visits about `log n + 10` nodes.
//!
//! The skip list lives in an arena (`Vec<Node>` with `u32` links and a free list):
//! no `unsafe`, no `Rc`, and one allocation per node for its link array.
//!
//! # Encoding
//!
//! As in Redis, a small set is a `listpack`: member/score pairs in order, packed
//! in one buffer ([`Pack`]), every operation a linear walk. It converts, one way,
//! to the skip list when an insert makes it too long (`zset-max-listpack-entries`)
//! or adds a member too large (`zset-max-listpack-value`). A ten-member set costs
//! about 200 bytes that way instead of two dozen allocations.

use bytes::Bytes;
use rand::Rng;
use std::cmp::Ordering;

use super::dict::Dict;
use super::hash::{lp_entry_size, sds_size, DICT_ENTRY, DICT_HEADER};
use super::pack::{encode_num, encode_str, Pack};
use super::value::alloc_size;
use crate::num::fmt_g17;

/// The listpack thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

impl Limits {
    /// Whether a set of `len` members, the longest `max_len` bytes, fits a listpack
    /// (Redis's `zsetConvertToListpackIfNeeded` test).
    pub fn fits(&self, len: usize, max_len: usize) -> bool {
        len <= self.entries && max_len <= self.value
    }
}

/// One end of a score interval; `(1.5` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

/// A score interval (ZRANGEBYSCORE, ZCOUNT, ZREMRANGEBYSCORE).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: ScoreBound,
    pub max: ScoreBound,
}

/// One end of a lexicographic interval: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    Min,
    Max,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

/// A member interval (ZRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX). As in Redis, it is
/// meaningful only when all members have the same score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

/// An interval over the set's order, expressed by the two tests Redis's range
/// walks use. `gte_min` must be false then true along the order, and `lte_max`
/// true then false, for the rank arithmetic to hold.
pub trait Range {
    fn gte_min(&self, score: f64, member: &[u8]) -> bool;
    fn lte_max(&self, score: f64, member: &[u8]) -> bool;
}

impl Range for ScoreRange {
    fn gte_min(&self, score: f64, _: &[u8]) -> bool {
        if self.min.exclusive {
            score > self.min.value
        } else {
            score >= self.min.value
        }
    }

    fn lte_max(&self, score: f64, _: &[u8]) -> bool {
        if self.max.exclusive {
            score < self.max.value
        } else {
            score <= self.max.value
        }
    }
}

impl Range for LexRange {
    fn gte_min(&self, _: f64, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(b) => member >= &b[..],
            LexBound::Exclusive(b) => member > &b[..],
        }
    }

    fn lte_max(&self, _: f64, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(b) => member <= &b[..],
            LexBound::Exclusive(b) => member < &b[..],
        }
    }
}

/// A sorted set (Redis `listpack`/`skiplist`).
#[derive(Debug)]
pub struct ZSetValue {
    repr: Repr,
}

#[derive(Debug)]
enum Repr {
    /// Member/score pairs in (score, member) order in one buffer (Redis's
    /// `listpack`); every operation walks it, as Redis does.
    Listpack(Pack),
    /// Redis's `skiplist` encoding: a member-to-score dict and the ordered list.
    /// Boxed so that small sets stay small.
    Skiplist(Box<Sorted>),
}

#[derive(Debug, Default)]
struct Sorted {
    scores: Dict<f64>,
    list: SkipList,
}

impl Clone for ZSetValue {
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Listpack(p) => Repr::Listpack(p.clone()),
            Repr::Skiplist(z) => {
                let mut scores = Dict::new();
                for (m, s) in z.list.iter() {
                    scores.insert(Bytes::copy_from_slice(m), s);
                }
                Repr::Skiplist(Box::new(Sorted {
                    scores,
                    list: z.list.clone(),
                }))
            }
        };
        ZSetValue { repr }
    }
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::new(true)
    }
}

/// A member/score pair encoded for a [`Pack`].
fn encode_pair(member: &[u8], score: f64) -> Vec<u8> {
    let mut v = Vec::with_capacity(member.len() + 12);
    encode_str(&mut v, member);
    encode_num(&mut v, score);
    v
}

impl Sorted {
    fn insert_new(&mut self, member: &[u8], score: f64) {
        let m = super::value::own(&Bytes::copy_from_slice(member));
        self.scores.insert(m.clone(), score);
        self.list.insert(score, m);
    }
}

impl ZSetValue {
    /// An empty set that reports `listpack` or `skiplist` as Redis's
    /// `createZsetListpackObject`/`createZsetObject` would.
    pub fn new(listpack: bool) -> ZSetValue {
        let repr = if listpack {
            Repr::Listpack(Pack::new())
        } else {
            Repr::Skiplist(Box::default())
        };
        ZSetValue { repr }
    }

    /// Builds a set from distinct members, with the encoding Redis gives a computed
    /// result (ZUNIONSTORE, ZRANGESTORE, GEOSEARCHSTORE): a listpack when it fits.
    pub fn from_members(members: impl IntoIterator<Item = (Bytes, f64)>, lim: Limits) -> Self {
        let mut z = Sorted::default();
        let mut max_len = 0;
        for (m, s) in members {
            max_len = max_len.max(m.len());
            z.list.insert(s, m.clone());
            z.scores.insert(m, s);
        }
        if lim.fits(z.list.len(), max_len) {
            // The list is already in order, so the pairs are appended.
            let mut p = Pack::new();
            for (m, s) in z.list.iter() {
                p.push(&encode_pair(m, s));
            }
            ZSetValue {
                repr: Repr::Listpack(p),
            }
        } else {
            ZSetValue {
                repr: Repr::Skiplist(Box::new(z)),
            }
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self.repr, Repr::Listpack(_))
    }

    /// Bytes used beyond the object header, for `MEMORY USAGE`: for a listpack the
    /// size Redis's would have (each score stored as the string `d2string` makes of
    /// it), for a skip list an estimate of the dict, nodes and members.
    pub fn memory_usage(&self) -> usize {
        match &self.repr {
            Repr::Listpack(p) => alloc_size(
                7 + p
                    .pairs()
                    .map(|x| {
                        lp_entry_size(x.first.str())
                            + lp_entry_size(fmt_g17(x.second.num()).as_bytes())
                    })
                    .sum::<usize>(),
            ),
            Repr::Skiplist(z) => {
                let members: usize = z.list.iter().map(|(m, _)| sds_size(m)).sum();
                DICT_HEADER
                    + 8 * z.scores.bucket_count()
                    + z.list.len() * (DICT_ENTRY + alloc_size(32 + 16))
                    + members
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(p) => p.len(),
            Repr::Skiplist(z) => z.list.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(p) => p
                .pairs()
                .find(|x| x.first.str() == member)
                .map(|x| x.second.num()),
            Repr::Skiplist(z) => z.scores.get(member).copied(),
        }
    }

    /// Adds `member` or changes its score; returns the previous score. A new member
    /// converts a listpack to a skip list when it would no longer fit (Redis's
    /// `zsetAdd` check, made before the insert).
    pub fn insert(&mut self, member: &[u8], score: f64, lim: Limits) -> Option<f64> {
        if let Repr::Listpack(p) = &mut self.repr {
            let found = p.pairs().find(|x| x.first.str() == member);
            if let Some(x) = found {
                let prev = x.second.num();
                if prev != score {
                    let range = x.start..x.end;
                    p.remove(range, 1);
                    Self::pack_insert(p, member, score);
                }
                return Some(prev);
            }
            if p.len() < lim.entries && member.len() <= lim.value {
                Self::pack_insert(p, member, score);
                return None;
            }
            self.convert();
        }
        let Repr::Skiplist(z) = &mut self.repr else {
            return None;
        };
        if let Some(old) = z.scores.get_mut(member) {
            let prev = *old;
            if prev != score {
                *old = score;
                z.list.update_score(prev, member, score);
            }
            return Some(prev);
        }
        z.insert_new(member, score);
        None
    }

    /// Inserts a member that is not in the pack at its place in the order.
    fn pack_insert(p: &mut Pack, member: &[u8], score: f64) {
        let pair = encode_pair(member, score);
        let at = p
            .pairs()
            .find(|x| before(score, member, x.second.num(), x.first.str()))
            .map_or(p.byte_len(), |x| x.start);
        p.insert(at, &pair);
    }

    /// Turns a listpack into a skip list (one way, as in Redis).
    fn convert(&mut self) {
        if let Repr::Listpack(p) = &self.repr {
            let mut z = Sorted::default();
            for x in p.pairs() {
                z.insert_new(x.first.str(), x.second.num());
            }
            self.repr = Repr::Skiplist(Box::new(z));
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Listpack(p) => {
                let x = p.pairs().find(|x| x.first.str() == member)?;
                let score = x.second.num();
                let range = x.start..x.end;
                p.remove(range, 1);
                Some(score)
            }
            Repr::Skiplist(z) => {
                let (_, score) = z.scores.remove(member)?;
                z.list.remove(score, member);
                Some(score)
            }
        }
    }

    /// The 0-based rank of `member`, from the highest score when `rev`.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let r = match &self.repr {
            Repr::Listpack(p) => p.pairs().position(|x| x.first.str() == member)?,
            Repr::Skiplist(z) => {
                let score = z.scores.get(member).copied()?;
                z.list.rank(score, member)?
            }
        };
        Some(if rev { self.len() - 1 - r } else { r })
    }

    /// The member at 0-based rank `rank` (from the lowest score).
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Listpack(p) => p.nth(rank).map(|x| (x.first.str(), x.second.num())),
            Repr::Skiplist(z) => z.list.node_at(rank).map(|id| z.list.entry(id)),
        }
    }

    /// Members from rank `start` on, towards higher scores, or towards lower scores
    /// when `rev` (then `start` counts from the highest score). For a skip list
    /// O(log n) to start and O(1) per member after; a listpack is decoded whole.
    pub fn iter_from(&self, start: usize, rev: bool) -> Iter<'_> {
        match &self.repr {
            Repr::Listpack(p) => {
                let mut v: Vec<(&[u8], f64)> =
                    p.pairs().map(|x| (x.first.str(), x.second.num())).collect();
                if rev {
                    v.reverse();
                }
                let mut it = v.into_iter();
                if start > 0 {
                    it.nth(start - 1);
                }
                Iter {
                    inner: IterRepr::Packed(it),
                }
            }
            Repr::Skiplist(z) => {
                let list = &z.list;
                let at = if rev {
                    list.len()
                        .checked_sub(start + 1)
                        .and_then(|r| list.node_at(r))
                } else {
                    list.node_at(start)
                };
                Iter {
                    inner: IterRepr::Skip {
                        list,
                        at: at.unwrap_or(NIL),
                        rev,
                    },
                }
            }
        }
    }

    /// Every member in order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// The ranks `[start, end)` of the members inside `range`.
    pub fn range_ranks(&self, range: &impl Range) -> (usize, usize) {
        let (start, end) = match &self.repr {
            Repr::Listpack(p) => {
                let count = |pred: &dyn Fn(f64, &[u8]) -> bool| {
                    p.pairs()
                        .take_while(|x| pred(x.second.num(), x.first.str()))
                        .count()
                };
                (
                    count(&|s, m| !range.gte_min(s, m)),
                    count(&|s, m| range.lte_max(s, m)),
                )
            }
            Repr::Skiplist(z) => (
                z.list.count_prefix(|s, m| !range.gte_min(s, m)),
                z.list.count_prefix(|s, m| range.lte_max(s, m)),
            ),
        };
        (start, end.max(start))
    }

    /// Removes the members at ranks `[start, end)`; returns how many.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match &mut self.repr {
            Repr::Listpack(p) => {
                let from = p.nth(start).map_or(0, |x| x.start);
                let to = p.nth(end - 1).map_or(from, |x| x.end);
                p.remove(from..to, end - start);
            }
            Repr::Skiplist(_) => {
                let doomed: Vec<(Bytes, f64)> = self
                    .iter_from(start, false)
                    .take(end - start)
                    .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                    .collect();
                if let Repr::Skiplist(z) = &mut self.repr {
                    for (m, s) in &doomed {
                        z.scores.remove(m);
                        z.list.remove(*s, m);
                    }
                }
            }
        }
        end - start
    }

    /// Removes and returns the lowest (or, when `max`, highest) member.
    pub fn pop(&mut self, max: bool) -> Option<(Bytes, f64)> {
        let rank = if max { self.len().checked_sub(1)? } else { 0 };
        let (m, s) = self.at(rank)?;
        let m = Bytes::copy_from_slice(m);
        self.remove(&m);
        Some((m, s))
    }

    /// A uniformly random member.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.at(rng.random_range(0..self.len()))
    }

    /// One step of a ZSCAN: the buckets of the member dict at `cursor` for a skip
    /// list; a listpack has no cursor and is visited whole (returns 0).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Listpack(p) => {
                for x in p.pairs() {
                    f(x.first.str(), x.second.num());
                }
                0
            }
            Repr::Skiplist(z) => z.scores.scan(cursor, |m, &s| f(m, s)),
        }
    }
}

/// Members of a [`ZSetValue`] in order from some rank.
pub struct Iter<'a> {
    inner: IterRepr<'a>,
}

enum IterRepr<'a> {
    Skip {
        list: &'a SkipList,
        at: u32,
        rev: bool,
    },
    Packed(std::vec::IntoIter<(&'a [u8], f64)>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterRepr::Packed(it) => it.next(),
            IterRepr::Skip { list, at, rev } => {
                if *at == NIL {
                    return None;
                }
                let id = *at;
                *at = if *rev {
                    list.cold[id as usize].back
                } else {
                    list.link(id, 0).next
                };
                Some(list.entry(id))
            }
        }
    }
}

/// No node.
const NIL: u32 = u32::MAX;
/// The header node's index in the arena.
const HEAD: u32 = 0;
/// Enough levels for 4^32 members at p = 1/4.
const MAX_LEVEL: usize = 32;

#[derive(Debug, Clone, Copy)]
struct Link {
    next: u32,
    /// Level-0 steps from this node to `next`; for the last link of a level, the
    /// number of nodes after this one.
    span: u32,
}

const NO_LINK: Link = Link { next: NIL, span: 0 };

/// The levels whose links a node keeps beside its score. With p = 1/4, 98% of the
/// nodes have no other level.
const INLINE: usize = 3;

/// What a search reads of a node: its score and its lowest links, 32 bytes aligned
/// so that one never straddles two cache lines. Searches step through the low
/// levels' nodes, too many to stay in the cache, so each step costs one line; the
/// member is read only when the scores tie.
#[derive(Debug, Clone, Copy)]
#[repr(align(32))]
struct Hot {
    score: f64,
    low: [Link; INLINE],
}

/// The rest of a node, read when its member is compared, returned or moved.
#[derive(Debug, Clone)]
struct Cold {
    member: Bytes,
    back: u32,
    /// Levels `INLINE` and up (empty, unallocated, for most nodes).
    high: Box<[Link]>,
}

/// A skip list with spans over (score, member), in an arena: node `i` is `hot[i]`
/// and `cold[i]`.
#[derive(Debug, Clone)]
pub struct SkipList {
    hot: Vec<Hot>,
    cold: Vec<Cold>,
    free: Vec<u32>,
    level: usize,
    len: usize,
    tail: u32,
}

/// Whether (s1, m1) sorts before (s2, m2).
fn before(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && m1 < m2)
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        SkipList {
            hot: vec![Hot {
                score: 0.0,
                low: [NO_LINK; INLINE],
            }],
            cold: vec![Cold {
                member: Bytes::new(),
                back: NIL,
                high: vec![NO_LINK; MAX_LEVEL - INLINE].into_boxed_slice(),
            }],
            free: Vec::new(),
            level: 1,
            len: 0,
            tail: NIL,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn link(&self, id: u32, level: usize) -> Link {
        match level.checked_sub(INLINE) {
            None => self.hot[id as usize].low[level],
            Some(high) => self.cold[id as usize].high[high],
        }
    }

    fn link_mut(&mut self, id: u32, level: usize) -> &mut Link {
        match level.checked_sub(INLINE) {
            None => &mut self.hot[id as usize].low[level],
            Some(high) => &mut self.cold[id as usize].high[high],
        }
    }

    fn score(&self, id: u32) -> f64 {
        self.hot[id as usize].score
    }

    fn member(&self, id: u32) -> &[u8] {
        &self.cold[id as usize].member
    }

    fn entry(&self, id: u32) -> (&[u8], f64) {
        (self.member(id), self.score(id))
    }

    fn first(&self) -> Option<u32> {
        Some(self.link(HEAD, 0).next).filter(|&n| n != NIL)
    }

    fn random_level() -> usize {
        let mut rng = rand::rng();
        let mut level = 1;
        while level < MAX_LEVEL && rng.random_range(0..4) == 0 {
            level += 1;
        }
        level
    }

    /// How node `id` compares with (score, member); its member is read only when
    /// the scores tie.
    fn cmp(&self, id: u32, score: f64, member: &[u8]) -> Ordering {
        match self.score(id).partial_cmp(&score) {
            Some(Ordering::Equal) | None => self.member(id).cmp(member),
            Some(o) => o,
        }
    }

    /// The last node before (score, member) at each level, and its rank.
    fn find_update(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let l = self.link(x, i);
                if l.next == NIL || self.cmp(l.next, score, member) != Ordering::Less {
                    break;
                }
                rank[i] += l.span;
                x = l.next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Inserts a member that is not in the list.
    pub fn insert(&mut self, score: f64, member: Bytes) {
        let (mut update, mut rank) = self.find_update(score, &member);
        let level = Self::random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_mut(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let hot = Hot {
            score,
            low: [NO_LINK; INLINE],
        };
        let cold = Cold {
            member,
            back: if update[0] == HEAD { NIL } else { update[0] },
            high: vec![NO_LINK; level.saturating_sub(INLINE)].into_boxed_slice(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.hot[id as usize] = hot;
                self.cold[id as usize] = cold;
                id
            }
            None => {
                self.hot.push(hot);
                self.cold.push(cold);
                (self.hot.len() - 1) as u32
            }
        };
        for i in 0..level {
            let prev = self.link(update[i], i);
            let before_new = rank[0] - rank[i];
            *self.link_mut(id, i) = Link {
                next: prev.next,
                span: prev.span - before_new,
            };
            *self.link_mut(update[i], i) = Link {
                next: id,
                span: before_new + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(u, i).span += 1;
        }
        let next = self.link(id, 0).next;
        if next == NIL {
            self.tail = id;
        } else {
            self.cold[next as usize].back = id;
        }
        self.len += 1;
    }

    /// Removes (score, member); returns the member's bytes if it was there.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> Option<Bytes> {
        let (update, _) = self.find_update(score, member);
        let x = self.found(&update, score, member)?;
        Some(self.unlink(x, &update))
    }

    /// Gives (old, member) the score `new`. As Redis's `zslUpdateScore`, the node
    /// stays where it is when it still sorts between its neighbours (a small
    /// ZINCRBY, usually), so that takes one search instead of two.
    pub fn update_score(&mut self, old: f64, member: &[u8], new: f64) {
        let (update, _) = self.find_update(old, member);
        let Some(x) = self.found(&update, old, member) else {
            return;
        };
        let back = self.cold[x as usize].back;
        let next = self.link(x, 0).next;
        if (back == NIL || self.score(back) < new) && (next == NIL || self.score(next) > new) {
            self.hot[x as usize].score = new;
            return;
        }
        let member = self.unlink(x, &update);
        self.insert(new, member);
    }

    /// The node after `update[0]` if it is (score, member).
    fn found(&self, update: &[u32; MAX_LEVEL], score: f64, member: &[u8]) -> Option<u32> {
        let x = self.link(update[0], 0).next;
        (x != NIL && self.score(x) == score && self.member(x) == member).then_some(x)
    }

    /// Takes node `x` out of the list, given the last node before it at each level;
    /// returns its member's bytes.
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) -> Bytes {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let l = self.link(u, i);
            if l.next == x {
                let xl = self.link(x, i);
                *self.link_mut(u, i) = Link {
                    next: xl.next,
                    span: l.span + xl.span - 1,
                };
            } else {
                self.link_mut(u, i).span -= 1;
            }
        }
        let next = self.link(x, 0).next;
        let back = self.cold[x as usize].back;
        if next == NIL {
            self.tail = back;
        } else {
            self.cold[next as usize].back = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let cold = &mut self.cold[x as usize];
        cold.high = Box::default();
        self.free.push(x);
        std::mem::take(&mut cold.member)
    }

    /// The 0-based rank of (score, member), if present.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut rank = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL || self.cmp(l.next, score, member) == Ordering::Greater {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
            if x != HEAD && self.score(x) == score && self.member(x) == member {
                return Some(rank - 1);
            }
        }
        None
    }

    /// How many nodes satisfy `pred`, which must hold for a prefix of the order.
    pub fn count_prefix(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut count = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL {
                    break;
                }
                let (member, score) = self.entry(l.next);
                if !pred(score, member) {
                    break;
                }
                count += l.span as usize;
                x = l.next;
            }
        }
        count
    }

    /// The node at 0-based `rank`, and how many links the search followed.
    fn find_rank(&self, rank: usize) -> (Option<u32>, usize) {
        let target = rank + 1;
        let mut traversed = 0usize;
        let mut steps = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL || traversed + l.span as usize > target {
                    break;
                }
                traversed += l.span as usize;
                x = l.next;
                steps += 1;
            }
            if traversed == target {
                return (Some(x), steps);
            }
        }
        (None, steps)
    }

    fn node_at(&self, rank: usize) -> Option<u32> {
        self.find_rank(rank).0
    }

    /// Every (member, score) in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: IterRepr::Skip {
                list: self,
                at: self.first().unwrap_or(NIL),
                rev: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BIG: Limits = Limits {
        entries: usize::MAX,
        value: usize::MAX,
    };

    fn member(i: u32) -> Vec<u8> {
        format!("m{i}").into_bytes()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, i8),
        Remove(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..60, -5i8..5).prop_map(|(m, s)| Op::Insert(m, s)),
            (0u32..60).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The set agrees with a sorted Vec on contents, ranks, rank lookups,
        /// reverse iteration and range counts after any sequence of changes.
        #[test]
        fn matches_sorted_vec_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut z = ZSetValue::new(false);
            let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(m, s) => {
                        let (m, s) = (member(m), f64::from(s));
                        let old = model.iter().position(|(_, x)| *x == m).map(|i| model.remove(i).0);
                        prop_assert_eq!(z.insert(&m, s, BIG), old);
                        model.push((s, m));
                    }
                    Op::Remove(m) => {
                        let m = member(m);
                        let old = model.iter().position(|(_, x)| *x == m).map(|i| model.remove(i).0);
                        prop_assert_eq!(z.remove(&m), old);
                    }
                }
                model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            }
            prop_assert_eq!(z.len(), model.len());
            let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
            prop_assert_eq!(&got, &model);
            let back: Vec<Vec<u8>> = z.iter_from(0, true).map(|(m, _)| m.to_vec()).collect();
            let want: Vec<Vec<u8>> = model.iter().rev().map(|(_, m)| m.clone()).collect();
            prop_assert_eq!(back, want);
            for (i, (s, m)) in model.iter().enumerate() {
                prop_assert_eq!(z.rank(m, false), Some(i));
                prop_assert_eq!(z.rank(m, true), Some(model.len() - 1 - i));
                let (am, as_) = z.at(i).expect("rank in range");
                prop_assert_eq!((as_, am.to_vec()), (*s, m.clone()));
                let from: Vec<Vec<u8>> = z.iter_from(i, false).map(|(m, _)| m.to_vec()).collect();
                prop_assert_eq!(from.len(), model.len() - i);
            }
            prop_assert!(z.at(model.len()).is_none());
            for lo in -6..6 {
                for hi in lo..6 {
                    let r = ScoreRange {
                        min: ScoreBound { value: f64::from(lo), exclusive: lo % 2 == 0 },
                        max: ScoreBound { value: f64::from(hi), exclusive: false },
                    };
                    let want = model.iter().filter(|(s, m)| r.gte_min(*s, m) && r.lte_max(*s, m)).count();
                    let (a, b) = z.range_ranks(&r);
                    prop_assert_eq!(b - a, want);
                }
            }
        }

        #[test]
        fn remove_ranks_matches_model(n in 0usize..80, a in 0usize..90, len in 0usize..40) {
            let mut z = ZSetValue::new(false);
            for i in 0..n {
                z.insert(&member(i as u32), (i % 7) as f64, BIG);
            }
            let mut model: Vec<Vec<u8>> = z.iter().map(|(m, _)| m.to_vec()).collect();
            let end = (a + len).min(n);
            let removed = z.remove_ranks(a, end);
            let want = end.saturating_sub(a);
            prop_assert_eq!(removed, want);
            if a < n {
                model.drain(a..end);
            }
            let got: Vec<Vec<u8>> = z.iter().map(|(m, _)| m.to_vec()).collect();
            prop_assert_eq!(got, model);
        }
    }

    #[test]
    fn rank_lookup_on_a_large_set_is_logarithmic() {
        let mut list = SkipList::new();
        let n = 200_000u32;
        for i in 0..n {
            list.insert(f64::from(i), Bytes::from(member(i)));
        }
        let mut worst = 0;
        for r in (0..n as usize).step_by(997) {
            let (id, steps) = list.find_rank(r);
            let id = id.expect("present");
            assert_eq!(list.entry(id).1, r as f64);
            worst = worst.max(steps);
        }
        // log4(200k) is about 9 levels with a few steps each; a scan would be
        // hundreds of thousands.
        assert!(worst < 200, "rank search followed {worst} links");
    }

    #[test]
    fn listpack_converts_one_way() {
        let lim = Limits {
            entries: 3,
            value: 4,
        };
        let mut z = ZSetValue::new(true);
        for m in ["a", "b", "c"] {
            z.insert(m.as_bytes(), 1.0, lim);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"d", 1.0, lim);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(b"d");
        z.remove(b"c");
        assert_eq!(z.encoding(), "skiplist");
        let mut y = ZSetValue::new(true);
        y.insert(b"long!", 1.0, lim);
        assert_eq!(y.encoding(), "skiplist");
        let c = ZSetValue::from_members([(Bytes::from_static(b"x"), 1.0)], lim);
        assert_eq!(c.encoding(), "listpack");
        assert_eq!(c.clone().score(b"x"), Some(1.0));
    }
}
