//! Where a key lives and when a replicated request is done.
//!
//! Everything in `cluster` is pure (no sockets, no async, no clocks) so it can be tested
//! exhaustively and fuzzed: `hash` turns a key into a Dynomite token, `ring` turns the
//! static topology (DC → rack → nodes with tokens) into owners and replica sets, and
//! `quorum` accumulates replica replies until a consistency level is satisfied.
//! The networking layers call into these; these never call out. `coordinator` applies
//! them to commands, and `live` holds the node's current topology version, which
//! `crate::membership` replaces when nodes join.

pub mod coordinator;
pub mod hash;
pub mod live;
pub mod quorum;
pub mod ring;
