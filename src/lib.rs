//! redmite: an in-memory, Redis-compatible store with a Dynomite-compatible replication layer.
//!
//! See `ARCHITECTURE.md` for the map of modules.

pub mod glob;
pub mod store;
