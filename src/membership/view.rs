//! A node's view of the cluster's members: pure data and merge rules, no I/O, no clock
//! (callers pass the time in).
//!
//! Members are identified by their peer address (`host:port`). Each record carries a
//! version, `(generation, heartbeat)`: the generation is the node's start time, the
//! heartbeat a counter only the node itself advances (every gossip round and on every
//! state change). Merging keeps, for each member, the record with the highest version,
//! so newer information wins whichever path it took. Members learned from seeds (the
//! static list or a provider) enter at version `(0, 0)` and are replaced by the first
//! record gossip brings about them.
//!
//! Members are added, never removed: a node that leaves is shown `DOWN` once its
//! heartbeat has not advanced for the failure-detection window.

use std::collections::BTreeMap;

use crate::peer::gossip::{state, Record};

/// What changed in a merge.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// A member was added or its dc, rack or tokens changed: the ring must be rebuilt.
    pub topology: bool,
    /// Some member's record got newer (state or heartbeat).
    pub any: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    record: Record,
    /// The optional `dyn_seeds` name, kept locally (it is not gossiped).
    name: Option<String>,
    /// When (ms, caller's clock) this member's version last advanced.
    advanced_at: u64,
}

/// The members this node knows, itself included.
#[derive(Debug, Clone)]
pub struct View {
    local: (String, u16),
    members: BTreeMap<(String, u16), Entry>,
}

impl View {
    /// A view holding only the local node.
    pub fn new(local: Record, now: u64) -> View {
        let key = (local.host.clone(), local.port);
        let mut members = BTreeMap::new();
        members.insert(
            key.clone(),
            Entry {
                record: local,
                name: None,
                advanced_at: now,
            },
        );
        View {
            local: key,
            members,
        }
    }

    /// The local node's record.
    pub fn local(&self) -> &Record {
        // The local entry is inserted by `new` and never removed.
        &self.members[&self.local].record
    }

    fn local_mut(&mut self) -> &mut Record {
        let key = self.local.clone();
        &mut self
            .members
            .get_mut(&key)
            .expect("the local entry is never removed")
            .record
    }

    /// Advances the local heartbeat (one gossip round).
    pub fn beat(&mut self, now: u64) {
        let key = self.local.clone();
        if let Some(e) = self.members.get_mut(&key) {
            e.record.heartbeat += 1;
            e.advanced_at = now;
        }
    }

    /// Sets the local node's state; a change advances the heartbeat so it spreads.
    pub fn set_local_state(&mut self, code: u8, now: u64) -> bool {
        if self.local().state == code {
            return false;
        }
        self.local_mut().state = code;
        self.beat(now);
        true
    }

    /// Whether `r` describes the local node: its address, or its dc, rack and tokens
    /// (two nodes of one rack cannot hold the same tokens, as in Dynomite's
    /// `gossip_add_node_if_absent`).
    pub fn is_local(&self, r: &Record) -> bool {
        let me = self.local();
        (r.host == me.host && r.port == me.port)
            || (r.dc == me.dc && r.rack == me.rack && r.tokens == me.tokens)
    }

    /// Adds a member named by a seed list (static `dyn_seeds` or a provider). A known
    /// member that gossip has not reached yet takes the seed's dc, rack and tokens; one
    /// gossip already describes keeps gossip's (newer) record.
    pub fn learn_seed(&mut self, seed: Record, name: Option<String>, now: u64) -> Changes {
        if self.is_local(&seed) || seed.tokens.is_empty() {
            return Changes::default();
        }
        let key = (seed.host.clone(), seed.port);
        match self.members.get_mut(&key) {
            None => {
                self.members.insert(
                    key,
                    Entry {
                        record: Record {
                            generation: 0,
                            heartbeat: 0,
                            ..seed
                        },
                        name,
                        advanced_at: now,
                    },
                );
                Changes {
                    topology: true,
                    any: true,
                }
            }
            Some(e) if e.record.version() == (0, 0) && !same_place(&e.record, &seed) => {
                e.record.dc = seed.dc;
                e.record.rack = seed.rack;
                e.record.tokens = seed.tokens;
                Changes {
                    topology: true,
                    any: true,
                }
            }
            Some(_) => Changes::default(),
        }
    }

    /// Merges records from a peer's gossip. Records about the local node are ignored
    /// (only this node speaks for itself), as are records without tokens.
    pub fn merge(&mut self, records: Vec<Record>, now: u64) -> Changes {
        let mut changes = Changes::default();
        for r in records {
            if self.is_local(&r) || r.tokens.is_empty() {
                continue;
            }
            let key = (r.host.clone(), r.port);
            match self.members.get_mut(&key) {
                None => {
                    self.members.insert(
                        key,
                        Entry {
                            record: r,
                            name: None,
                            advanced_at: now,
                        },
                    );
                    changes.topology = true;
                    changes.any = true;
                }
                Some(e) if r.version() > e.record.version() => {
                    changes.topology |= !same_place(&e.record, &r);
                    changes.any = true;
                    e.record = r;
                    e.advanced_at = now;
                }
                Some(_) => {}
            }
        }
        changes
    }

    /// Every record, the local node's first (the gossip payload).
    pub fn records(&self) -> Vec<Record> {
        let mut out = vec![self.local().clone()];
        out.extend(
            self.members
                .iter()
                .filter(|(k, _)| **k != self.local)
                .map(|(_, e)| e.record.clone()),
        );
        out
    }

    /// The other members with their optional seed names, in address order.
    pub fn peers(&self) -> impl Iterator<Item = (&Record, Option<&str>)> {
        self.members
            .iter()
            .filter(|(k, _)| **k != self.local)
            .map(|(_, e)| (&e.record, e.name.as_deref()))
    }

    /// A member's state as this node believes it: `None` when the member is unknown or
    /// never heard from (seeds only), `DOWN` once its version has not advanced for
    /// `down_after` ms, else the state it announced.
    pub fn state_of(&self, host: &str, port: u16, now: u64, down_after: u64) -> Option<u8> {
        let e = self.members.get(&(host.to_string(), port))?;
        if (host, port) == (self.local.0.as_str(), self.local.1) {
            return Some(e.record.state);
        }
        if e.record.version() == (0, 0) {
            return None;
        }
        if now.saturating_sub(e.advanced_at) > down_after {
            return Some(state::DOWN);
        }
        Some(e.record.state)
    }
}

/// Whether two records put a node in the same place of the ring.
fn same_place(a: &Record, b: &Record) -> bool {
    a.dc == b.dc && a.rack == b.rack && a.tokens == b.tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(host: &str, rack: &str, token: u32, generation: u64, heartbeat: u64) -> Record {
        Record {
            host: host.into(),
            port: 8101,
            dc: "dc1".into(),
            rack: rack.into(),
            tokens: vec![token],
            state: state::NORMAL,
            generation,
            heartbeat,
        }
    }

    #[test]
    fn newer_records_win_and_new_members_change_the_topology() {
        let mut v = View::new(rec("a", "r1", 0, 100, 1), 0);
        let c = v.merge(vec![rec("b", "r2", 0, 50, 3)], 10);
        assert_eq!(
            c,
            Changes {
                topology: true,
                any: true
            }
        );
        // An older record is ignored; a newer one replaces, without a topology change.
        assert_eq!(
            v.merge(vec![rec("b", "r2", 0, 50, 2)], 20),
            Changes::default()
        );
        let mut standby = rec("b", "r2", 0, 50, 4);
        standby.state = state::STANDBY;
        let c = v.merge(vec![standby], 30);
        assert!(c.any && !c.topology);
        assert_eq!(v.state_of("b", 8101, 30, 1000), Some(state::STANDBY));
        // A restart (new generation) wins even with a lower heartbeat.
        assert!(v.merge(vec![rec("b", "r2", 0, 60, 0)], 40).any);
        assert_eq!(v.state_of("b", 8101, 40, 1000), Some(state::NORMAL));
        // Silence past the window reads as DOWN.
        assert_eq!(v.state_of("b", 8101, 2000, 1000), Some(state::DOWN));
    }

    #[test]
    fn records_about_the_local_node_are_ignored() {
        let mut v = View::new(rec("a", "r1", 0, 100, 1), 0);
        assert_eq!(
            v.merge(vec![rec("a", "r1", 0, 999, 9)], 1),
            Changes::default()
        );
        // Same dc, rack and token under another address is this node too.
        assert_eq!(
            v.learn_seed(rec("10.0.0.1", "r1", 0, 0, 0), None, 1),
            Changes::default()
        );
        assert_eq!(v.records().len(), 1);
        assert_eq!(v.local().generation, 100);
    }

    #[test]
    fn seeds_enter_unversioned_and_gossip_overrides_them() {
        let mut v = View::new(rec("a", "r1", 0, 100, 1), 0);
        assert!(
            v.learn_seed(rec("b", "r2", 0, 7, 7), Some("bee".into()), 0)
                .topology
        );
        assert_eq!(v.state_of("b", 8101, 0, 1000), None);
        assert_eq!(
            v.peers().next().map(|(r, n)| (r.version(), n)),
            Some(((0, 0), Some("bee")))
        );
        // A provider moving the unreached seed's tokens updates it.
        assert!(v.learn_seed(rec("b", "r2", 5, 0, 0), None, 1).topology);
        assert!(v.merge(vec![rec("b", "r2", 9, 1, 1)], 2).topology);
        // Once gossip spoke, the seed list no longer overrides it.
        assert_eq!(
            v.learn_seed(rec("b", "r2", 5, 0, 0), None, 3),
            Changes::default()
        );
        assert_eq!(
            v.peers().next().map(|(r, _)| r.tokens.clone()),
            Some(vec![9])
        );
    }

    #[test]
    fn a_local_state_change_advances_the_heartbeat() {
        let mut v = View::new(rec("a", "r1", 0, 100, 1), 0);
        assert!(v.set_local_state(state::STANDBY, 5));
        assert!(!v.set_local_state(state::STANDBY, 6));
        assert_eq!(v.local().heartbeat, 2);
        assert_eq!(v.records()[0].state, state::STANDBY);
    }
}
