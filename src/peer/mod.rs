//! The node-to-node (peer) links on `dyn_listen`.
//!
//! `codec` is the pure byte ↔ frame layer. It speaks Dynomite's plaintext dnode header so
//! that a redmite node can later talk to real Dynomite nodes during a migration, and a
//! versioned redmite extension of it between redmite nodes. `link` is one outbound
//! connection per peer with its queue and hints; `inbound` accepts peers' connections and
//! applies their requests through the same command gate as clients. `gossip` is the
//! payload of the gossip frames (a node's view of the cluster).

pub mod batch;
pub mod codec;
pub mod gossip;
pub mod inbound;
pub mod link;
