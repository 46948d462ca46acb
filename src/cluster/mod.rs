//! Where a key lives and when a replicated request is done.
//!
//! Everything in `cluster` is pure (no sockets, no async, no clocks) so it can be tested
//! exhaustively and fuzzed: `hash` turns a key into a Dynomite token, `ring` turns the
//! static topology (DC → rack → nodes with tokens) into owners and replica sets, and
//! `quorum` accumulates replica replies until a consistency level is satisfied.
//! The networking layers call into these; these never call out.

pub mod coordinator;
pub mod hash;
pub mod quorum;
pub mod ring;
