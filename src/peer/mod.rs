//! The node-to-node (peer) link.
//!
//! `codec` is the pure byte ↔ frame layer for the peer port (`dyn_listen`). It speaks
//! Dynomite's plaintext dnode header so that a redmite node can later talk to real Dynomite
//! nodes during a migration, and a versioned redmite extension of it between redmite nodes.
//! Connection handling lives elsewhere and only calls into the codec.

pub mod codec;
