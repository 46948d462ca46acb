//! The token ring: which node of each rack owns a key, and which racks replicate it.
//!
//! Why this exists: Dynomite's placement is a pure function of the static topology
//! (DC → rack → nodes with 32-bit tokens), the `hash:` function and `hash_tag`. Every node
//! must compute it identically, including a real Dynomite node during a migration, so the
//! rules below follow Dynomite's `vnode_dispatch` (src/dyn_vnode.c), `dnode_peer_pool_run`
//! (rack sorting, src/dyn_dnode_peer.c) and `req_forward_remote_dc` (src/dyn_client.c):
//!
//! - Each rack holds a full ring, so a rack is a replica. Inside a rack the (token, node)
//!   pairs are sorted; the owner of a hash is the node of the first token ≥ hash, and a hash
//!   above the highest token (or at or below the lowest) belongs to the lowest-token node.
//!   A node therefore owns `(previous token, own token]`, the lowest one also the wrap-around.
//! - Racks in a DC are sorted by name; DCs are sorted by name too, so indices agree on every
//!   node. Ties between equal tokens are broken by node name, then address, never by local
//!   list position, so that every node picks the same owner (Dynomite leaves this to `qsort`).
//! - A write leaving the DC goes to one rack per remote DC: the one at
//!   `(index of my rack in my DC) mod (racks in the remote DC)`, then the other racks in
//!   index order if that fails.
//! - With `hash_tag`, only the text between the first open char and the next close char is
//!   hashed (see [`tagged_key`]).
//!
//! One deliberate difference: Dynomite sends a zero-length hashed key (an empty key, or an
//! empty tag such as `{}`) to whichever node received the request, so its placement depends
//! on the coordinator. Redmite hashes the empty string like any other key, which is
//! deterministic (under the default `murmur` it hashes to 0, so the lowest-token node owns it).
//!
//! The module is pure: no I/O, no async, no panics on any key.

use std::cmp::Ordering;

use super::hash::{hash, HashKind};

/// A node of the ring: an index into [`Ring::nodes`]. The local node is always `NodeId(0)`,
/// as in Dynomite, where `peers[0]` is the node itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// A rack, by its DC index and its index within that DC (both in name order).
///
/// Only a [`Ring`] hands these out, so a `RackId` always names an existing rack of the ring
/// that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RackId {
    dc: usize,
    rack: usize,
}

impl RackId {
    /// The DC index, the same index [`super::quorum::Tracker`] uses.
    pub fn dc(self) -> usize {
        self.dc
    }

    /// The rack's index within its DC, in rack-name order.
    pub fn rack(self) -> usize {
        self.rack
    }
}

/// One node as the topology describes it (the local node or a `dyn_seeds` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The optional name of a seed, or its host when none is given.
    pub name: String,
    pub host: String,
    /// The peer port (`dyn_listen`).
    pub port: u16,
    pub dc: String,
    pub rack: String,
    /// The node's tokens; at least one is required.
    pub tokens: Vec<u32>,
    /// True only for the node this process runs; [`Ring::from_nodes`] sets it.
    pub is_local: bool,
}

/// Why a topology cannot form a ring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// Dynomite crashes on its first request without tokens; we refuse the topology.
    #[error("node {node:?} has no tokens")]
    NoTokens { node: String },
    #[error("too many nodes in the topology")]
    TooManyNodes,
}

/// The whole topology, indexed for routing.
#[derive(Debug, Clone)]
pub struct Ring {
    nodes: Vec<NodeInfo>,
    /// Each node's rack, index-aligned with `nodes`.
    node_racks: Vec<RackId>,
    dcs: Vec<Dc>,
    local_rack: RackId,
    hash: HashKind,
    hash_tag: Option<[u8; 2]>,
}

#[derive(Debug, Clone)]
struct Dc {
    name: String,
    racks: Vec<Rack>,
}

#[derive(Debug, Clone)]
struct Rack {
    name: String,
    /// (token, node), sorted by token then by the node's name and address. Never empty.
    continuum: Vec<(u32, NodeId)>,
}

/// The part of `key` that is hashed under `tag` (twemproxy's and Dynomite's rule).
///
/// Without a tag, or when the open char is absent, or when no close char follows it, the
/// whole key is hashed. Otherwise the bytes strictly between the first open char and the
/// first close char after it are hashed, even when that is empty (`{}` gives `b""`).
pub fn tagged_key(key: &[u8], tag: Option<[u8; 2]>) -> &[u8] {
    let Some([open, close]) = tag else {
        return key;
    };
    let Some(start) = memchr::memchr(open, key) else {
        return key;
    };
    let after = &key[start + 1..];
    match memchr::memchr(close, after) {
        Some(end) => &after[..end],
        None => key,
    }
}

impl Ring {
    /// Builds the ring from the local node and its peers (the `dyn_seeds`).
    ///
    /// The local node becomes `NodeId(0)` and the peers follow in the given order;
    /// `is_local` is set on the local node and cleared on the peers, whatever was passed.
    pub fn from_nodes(
        local: NodeInfo,
        peers: Vec<NodeInfo>,
        hash: HashKind,
        hash_tag: Option<[u8; 2]>,
    ) -> Result<Ring, RingError> {
        let mut nodes = Vec::with_capacity(peers.len() + 1);
        nodes.push(NodeInfo {
            is_local: true,
            ..local
        });
        nodes.extend(peers.into_iter().map(|p| NodeInfo {
            is_local: false,
            ..p
        }));
        if u32::try_from(nodes.len()).is_err() {
            return Err(RingError::TooManyNodes);
        }
        if let Some(n) = nodes.iter().find(|n| n.tokens.is_empty()) {
            return Err(RingError::NoTokens {
                node: n.name.clone(),
            });
        }

        let mut dc_names: Vec<&str> = nodes.iter().map(|n| n.dc.as_str()).collect();
        dc_names.sort_unstable();
        dc_names.dedup();
        let mut dcs: Vec<Dc> = dc_names
            .iter()
            .map(|&dc| {
                let mut racks: Vec<&str> = nodes
                    .iter()
                    .filter(|n| n.dc == dc)
                    .map(|n| n.rack.as_str())
                    .collect();
                racks.sort_unstable();
                racks.dedup();
                Dc {
                    name: dc.to_owned(),
                    racks: racks
                        .into_iter()
                        .map(|r| Rack {
                            name: r.to_owned(),
                            continuum: Vec::new(),
                        })
                        .collect(),
                }
            })
            .collect();

        let mut node_racks = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            // Both searches succeed: the lists were built from these very nodes.
            let dc = dcs
                .binary_search_by(|d| d.name.as_str().cmp(&n.dc))
                .unwrap_or_default();
            let rack = dcs[dc]
                .racks
                .binary_search_by(|r| r.name.as_str().cmp(&n.rack))
                .unwrap_or_default();
            node_racks.push(RackId { dc, rack });
            let id = NodeId(i as u32);
            dcs[dc].racks[rack]
                .continuum
                .extend(n.tokens.iter().map(|&t| (t, id)));
        }
        for rack in dcs.iter_mut().flat_map(|d| d.racks.iter_mut()) {
            rack.continuum.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| node_order(&nodes, a.1, b.1))
                    .then_with(|| a.1.cmp(&b.1))
            });
        }
        let local_rack = node_racks[0];
        Ok(Ring {
            nodes,
            node_racks,
            dcs,
            local_rack,
            hash,
            hash_tag,
        })
    }

    /// All nodes; index with [`NodeId`].
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// One node, or `None` for an id of another ring.
    pub fn node(&self, id: NodeId) -> Option<&NodeInfo> {
        self.nodes.get(id.0 as usize)
    }

    /// This process's node.
    pub fn local(&self) -> NodeId {
        NodeId(0)
    }

    /// The rack a node belongs to.
    pub fn rack_of(&self, id: NodeId) -> Option<RackId> {
        self.node_racks.get(id.0 as usize).copied()
    }

    /// The hash function in use.
    pub fn hash_kind(&self) -> HashKind {
        self.hash
    }

    /// The `hash_tag` in use.
    pub fn hash_tag(&self) -> Option<[u8; 2]> {
        self.hash_tag
    }

    /// The local node's DC index.
    pub fn local_dc(&self) -> usize {
        self.local_rack.dc
    }

    /// The local node's rack.
    pub fn local_rack(&self) -> RackId {
        self.local_rack
    }

    /// How many DCs the topology has; DC indices are `0..dc_count()`, in name order.
    pub fn dc_count(&self) -> usize {
        self.dcs.len()
    }

    /// A DC's name.
    pub fn dc_name(&self, dc: usize) -> Option<&str> {
        self.dcs.get(dc).map(|d| d.name.as_str())
    }

    /// The DC index of a name.
    pub fn dc_index(&self, name: &str) -> Option<usize> {
        self.dcs
            .binary_search_by(|d| d.name.as_str().cmp(name))
            .ok()
    }

    /// A rack's name.
    pub fn rack_name(&self, rack: RackId) -> Option<&str> {
        self.rack_entry(rack).map(|r| r.name.as_str())
    }

    /// How many racks (replicas) a DC has; 0 for an unknown index.
    pub fn rack_count(&self, dc: usize) -> usize {
        self.dcs.get(dc).map_or(0, |d| d.racks.len())
    }

    /// The racks of the local DC, in name order. These are the key's replicas that count
    /// toward DC_QUORUM and DC_SAFE_QUORUM.
    pub fn local_dc_racks(&self) -> impl ExactSizeIterator<Item = RackId> + '_ {
        self.racks_of_dc(self.local_rack.dc)
    }

    /// The racks of a DC, in name order (empty for an unknown index).
    pub fn racks_of_dc(&self, dc: usize) -> impl ExactSizeIterator<Item = RackId> + '_ {
        (0..self.rack_count(dc)).map(move |rack| RackId { dc, rack })
    }

    /// The token of `key` under this ring's hash function and hash tag.
    pub fn hash_key(&self, key: &[u8]) -> u32 {
        hash(self.hash, tagged_key(key, self.hash_tag))
    }

    /// The owner of a token within a rack: the node of the first token ≥ `token`, wrapping
    /// to the lowest-token node.
    ///
    /// A `RackId` always comes from this ring, so the rack exists; should one from another
    /// ring be out of range, the local node is returned rather than panicking.
    pub fn owner_in_rack(&self, rack: RackId, token: u32) -> NodeId {
        let Some(r) = self.rack_entry(rack) else {
            debug_assert!(false, "RackId {rack:?} is not from this ring");
            return self.local();
        };
        let c = &r.continuum;
        // `partition_point` gives the first entry with token ≥ `token`; past the end wraps.
        let i = c.partition_point(|&(t, _)| t < token);
        c.get(i)
            .or_else(|| c.first())
            .map_or(self.local(), |&(_, n)| n)
    }

    /// The owner of `key` within a rack.
    pub fn owner(&self, rack: RackId, key: &[u8]) -> NodeId {
        self.owner_in_rack(rack, self.hash_key(key))
    }

    /// The owner of `key` in the local rack (the node DC_ONE reads from).
    pub fn local_owner(&self, key: &[u8]) -> NodeId {
        self.owner(self.local_rack, key)
    }

    /// Whether the local node owns `key` in its rack (always true with one node per rack).
    pub fn is_local_key(&self, key: &[u8]) -> bool {
        self.local_owner(key) == self.local()
    }

    /// Every replica of `key`: its owner in each rack of each DC, DCs and racks in index
    /// order. The coordinator picks from these according to the consistency level.
    pub fn replicas_for_key(&self, key: &[u8]) -> Vec<(RackId, NodeId)> {
        let token = self.hash_key(key);
        (0..self.dcs.len())
            .flat_map(|dc| self.racks_of_dc(dc))
            .map(|rack| (rack, self.owner_in_rack(rack, token)))
            .collect()
    }

    /// The rack of `remote_dc` that receives this node's cross-DC writes:
    /// `(index of my rack in my DC) mod (racks in the remote DC)`.
    pub fn preferred_remote_rack(&self, remote_dc: usize) -> Option<RackId> {
        let n = self.rack_count(remote_dc);
        (n > 0).then(|| RackId {
            dc: remote_dc,
            rack: self.local_rack.rack % n,
        })
    }

    /// The racks of `remote_dc` in the order a cross-DC write tries them: the preferred one,
    /// then every other rack in index order (Dynomite's failover loop).
    pub fn remote_rack_order(&self, remote_dc: usize) -> Vec<RackId> {
        let Some(first) = self.preferred_remote_rack(remote_dc) else {
            return Vec::new();
        };
        std::iter::once(first)
            .chain(self.racks_of_dc(remote_dc).filter(|&r| r != first))
            .collect()
    }

    /// Splits a multi-key command (MGET, MSET, DEL, EXISTS) by the keys' owners in the local
    /// rack, as Dynomite does before routing each fragment like a single-key request.
    ///
    /// Returns one group per owner, in order of each owner's first key, with the indices of
    /// its keys in ascending order, so replies can be merged back into key order.
    pub fn split_keys_by_local_owner<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
    ) -> Vec<(NodeId, Vec<usize>)> {
        let mut groups: Vec<(NodeId, Vec<usize>)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let owner = self.local_owner(key.as_ref());
            match groups.iter_mut().find(|(n, _)| *n == owner) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((owner, vec![i])),
            }
        }
        groups
    }

    fn rack_entry(&self, rack: RackId) -> Option<&Rack> {
        self.dcs.get(rack.dc)?.racks.get(rack.rack)
    }
}

/// Orders two nodes by name, then host and port, so equal tokens resolve the same way on
/// every node regardless of where each node sits in its own list.
fn node_order(nodes: &[NodeInfo], a: NodeId, b: NodeId) -> Ordering {
    match (nodes.get(a.0 as usize), nodes.get(b.0 as usize)) {
        (Some(x), Some(y)) => (&x.name, &x.host, x.port).cmp(&(&y.name, &y.host, y.port)),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn node(name: &str, dc: &str, rack: &str, tokens: &[u32]) -> NodeInfo {
        NodeInfo {
            name: name.to_owned(),
            host: format!("{name}.example"),
            port: 8101,
            dc: dc.to_owned(),
            rack: rack.to_owned(),
            tokens: tokens.to_vec(),
            is_local: false,
        }
    }

    fn name_of(ring: &Ring, id: NodeId) -> &str {
        ring.node(id).map_or("?", |n| n.name.as_str())
    }

    /// 2 DCs × 2 racks, one node per rack, token 0 everywhere: full copies.
    fn full_copy() -> Ring {
        // Peers listed out of name order on purpose: racks and DCs get sorted.
        Ring::from_nodes(
            node("a1", "dc-a", "r1", &[0]),
            vec![
                node("b2", "dc-b", "r2", &[0]),
                node("a2", "dc-a", "r2", &[0]),
                node("b1", "dc-b", "r1", &[0]),
            ],
            HashKind::Murmur,
            None,
        )
        .expect("valid topology")
    }

    #[test]
    fn full_copy_every_key_is_local_in_each_rack() {
        let ring = full_copy();
        assert_eq!(ring.dc_count(), 2);
        assert_eq!(ring.dc_name(0), Some("dc-a"));
        assert_eq!(ring.local_dc(), 0);
        let racks: Vec<_> = ring.local_dc_racks().map(|r| ring.rack_name(r)).collect();
        assert_eq!(racks, [Some("r1"), Some("r2")]);
        for key in [&b"foo"[..], b"bar", b"", b"hello world", b"a"] {
            assert!(ring.is_local_key(key));
            let owners: Vec<_> = ring
                .replicas_for_key(key)
                .into_iter()
                .map(|(r, n)| (ring.dc_name(r.dc()), ring.rack_name(r), name_of(&ring, n)))
                .collect();
            assert_eq!(
                owners,
                [
                    (Some("dc-a"), Some("r1"), "a1"),
                    (Some("dc-a"), Some("r2"), "a2"),
                    (Some("dc-b"), Some("r1"), "b1"),
                    (Some("dc-b"), Some("r2"), "b2"),
                ]
            );
        }
        let split = ring.split_keys_by_local_owner(&["x", "y", "z"]);
        assert_eq!(split, [(NodeId(0), vec![0, 1, 2])]);
    }

    /// One rack sharded over two nodes with tokens 0 and 2147483647. Owners by hand from the
    /// murmur vectors: (0, 2147483647] → n2; everything else (0 itself, and above
    /// 2147483647, wrapping) → n1, the lowest-token node.
    #[test]
    fn sharded_rack_owners_by_hand() {
        let ring = Ring::from_nodes(
            node("n1", "dc", "r", &[0]),
            vec![node("n2", "dc", "r", &[2147483647])],
            HashKind::Murmur,
            None,
        )
        .expect("valid topology");
        let rack = ring.local_rack();
        let cases: &[(&[u8], u32, &str)] = &[
            (b"foo", 3303027599, "n1"),
            (b"bar", 516654467, "n2"),
            (b"a", 1262581116, "n2"),
            (b"hello world", 1578702139, "n2"),
            (b"", 0, "n1"),
            (b"user:1000", 2384768711, "n1"),
            (b"0123456789ab", 223225889, "n2"),
        ];
        for &(key, token, owner) in cases {
            assert_eq!(ring.hash_key(key), token);
            assert_eq!(name_of(&ring, ring.owner(rack, key)), owner, "{key:?}");
        }
        // Boundaries: a node owns its own token; one past the max wraps to the lowest.
        assert_eq!(name_of(&ring, ring.owner_in_rack(rack, 2147483647)), "n2");
        assert_eq!(name_of(&ring, ring.owner_in_rack(rack, 2147483648)), "n1");
        assert_eq!(name_of(&ring, ring.owner_in_rack(rack, 1)), "n2");
        assert_eq!(name_of(&ring, ring.owner_in_rack(rack, u32::MAX)), "n1");

        let keys: [&[u8]; 5] = [b"foo", b"bar", b"user:1000", b"a", b""];
        assert_eq!(
            ring.split_keys_by_local_owner(&keys),
            [(NodeId(0), vec![0, 2, 4]), (NodeId(1), vec![1, 3])]
        );
    }

    #[test]
    fn hash_tags() {
        let t = Some(*b"{}");
        assert_eq!(tagged_key(b"user:{42}:name", t), b"42");
        assert_eq!(tagged_key(b"{a}{b}", t), b"a");
        assert_eq!(
            tagged_key(b"x{}y", t),
            b"",
            "empty tag content is hashed as empty"
        );
        assert_eq!(tagged_key(b"x{y", t), b"x{y", "no close char: whole key");
        assert_eq!(
            tagged_key(b"x}y{", t),
            b"x}y{",
            "close before open only: whole key"
        );
        assert_eq!(tagged_key(b"plain", t), b"plain");
        assert_eq!(tagged_key(b"a{b}c", None), b"a{b}c");
        assert_eq!(tagged_key(b"a$b$c$", Some(*b"$$")), b"b");

        let ring = Ring::from_nodes(
            node("n1", "dc", "r", &[0]),
            vec![node("n2", "dc", "r", &[2147483647])],
            HashKind::Murmur,
            t,
        )
        .expect("valid topology");
        // {foo} hashes like foo (n1), {bar} like bar (n2).
        assert_eq!(ring.hash_key(b"user:{foo}"), 3303027599);
        assert_eq!(ring.local_owner(b"x{foo}y"), NodeId(0));
        assert_eq!(ring.local_owner(b"x{bar}y"), NodeId(1));
    }

    #[test]
    fn remote_rack_choice_and_failover() {
        // Local DC has racks r1, r2, r3 (local is r3, index 2); remote DC has two racks.
        let ring = Ring::from_nodes(
            node("l3", "dc1", "r3", &[0]),
            vec![
                node("l1", "dc1", "r1", &[0]),
                node("l2", "dc1", "r2", &[0]),
                node("x2", "dc2", "rb", &[0]),
                node("x1", "dc2", "ra", &[0]),
                node("y1", "dc3", "q1", &[0]),
                node("y2", "dc3", "q2", &[0]),
                node("y3", "dc3", "q3", &[0]),
                node("y4", "dc3", "q4", &[0]),
            ],
            HashKind::Murmur,
            None,
        )
        .expect("valid topology");
        assert_eq!(ring.local_rack().rack(), 2);
        let names = |dc| -> Vec<_> {
            ring.remote_rack_order(dc)
                .into_iter()
                .filter_map(|r| ring.rack_name(r))
                .collect()
        };
        // 2 mod 2 = 0 → ra first.
        assert_eq!(names(1), ["ra", "rb"]);
        // 2 mod 4 = 2 → q3 first, then the others in index order.
        assert_eq!(names(2), ["q3", "q1", "q2", "q4"]);
        assert!(ring.remote_rack_order(7).is_empty());
    }

    #[test]
    fn rejects_nodes_without_tokens() {
        let err = Ring::from_nodes(
            node("n1", "dc", "r", &[0]),
            vec![node("n2", "dc", "r", &[])],
            HashKind::Murmur,
            None,
        );
        assert_eq!(
            err.err(),
            Some(RingError::NoTokens {
                node: "n2".to_owned()
            })
        );
    }

    #[test]
    fn equal_tokens_resolve_by_name_on_every_node() {
        // The same topology seen from two different local nodes picks the same owner.
        let a = Ring::from_nodes(
            node("zed", "dc", "r", &[100]),
            vec![node("amy", "dc", "r", &[100])],
            HashKind::Murmur,
            None,
        )
        .expect("valid");
        let b = Ring::from_nodes(
            node("amy", "dc", "r", &[100]),
            vec![node("zed", "dc", "r", &[100])],
            HashKind::Murmur,
            None,
        )
        .expect("valid");
        for t in [0, 50, 100, 101, u32::MAX] {
            let oa = a.owner_in_rack(a.local_rack(), t);
            let ob = b.owner_in_rack(b.local_rack(), t);
            assert_eq!(name_of(&a, oa), "amy");
            assert_eq!(name_of(&b, ob), "amy");
        }
    }

    /// The literal rule from the notes, written independently of the implementation:
    /// sort the pairs; if hash > max or hash ≤ min, the lowest pair; else the first ≥ hash.
    fn reference_owner(pairs: &[(u32, String)], h: u32) -> String {
        let mut sorted = pairs.to_vec();
        sorted.sort();
        let (min, max) = (sorted[0].0, sorted[sorted.len() - 1].0);
        if h > max || h <= min {
            return sorted[0].1.clone();
        }
        sorted
            .iter()
            .find(|(t, _)| *t >= h)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }

    /// Ownership as ranges: a node owns h if one of its tokens t has prev < h ≤ t, where
    /// prev is the next lower distinct token, or if h is outside (min, max] and t is the min.
    fn owns_by_range(tokens: &[u32], all: &[u32], h: u32) -> bool {
        let min = all.iter().copied().min().unwrap_or(0);
        let max = all.iter().copied().max().unwrap_or(0);
        tokens.iter().any(|&t| {
            if h <= min || h > max {
                return t == min;
            }
            let prev = all.iter().copied().filter(|&x| x < t).max();
            prev.is_some_and(|p| p < h) && h <= t
        })
    }

    proptest! {
        #[test]
        fn owner_matches_reference(
            node_tokens in prop::collection::vec(
                prop::collection::vec(any::<u32>(), 1..4), 1..6),
            probes in prop::collection::vec(any::<u32>(), 1..40),
        ) {
            // Distinct tokens across nodes so that exactly one node owns each range.
            let mut seen = std::collections::HashSet::new();
            let node_tokens: Vec<Vec<u32>> = node_tokens
                .into_iter()
                .map(|ts| ts.into_iter().filter(|t| seen.insert(*t)).collect::<Vec<_>>())
                .filter(|ts| !ts.is_empty())
                .collect();
            prop_assume!(!node_tokens.is_empty());
            let mut infos: Vec<NodeInfo> = node_tokens
                .iter()
                .enumerate()
                .map(|(i, ts)| node(&format!("n{i}"), "dc", "r", ts))
                .collect();
            let local = infos.remove(0);
            let ring = Ring::from_nodes(local, infos, HashKind::Murmur, None).expect("valid");
            let pairs: Vec<(u32, String)> = node_tokens
                .iter()
                .enumerate()
                .flat_map(|(i, ts)| ts.iter().map(move |&t| (t, format!("n{i}"))))
                .collect();
            let all: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            let mut probes = probes;
            // Probe the tokens themselves and their neighbours, where off-by-ones hide.
            probes.extend(all.iter().flat_map(|&t| [t, t.wrapping_sub(1), t.wrapping_add(1)]));
            for h in probes {
                let got = name_of(&ring, ring.owner_in_rack(ring.local_rack(), h)).to_owned();
                prop_assert_eq!(&got, &reference_owner(&pairs, h));
                let owners = node_tokens
                    .iter()
                    .filter(|ts| owns_by_range(ts, &all, h))
                    .count();
                prop_assert_eq!(owners, 1, "hash {} has {} owners", h, owners);
                let idx: usize = got[1..].parse().unwrap_or(usize::MAX);
                prop_assert!(owns_by_range(&node_tokens[idx], &all, h));
            }
        }
    }
}
