//! The keyspace: in-memory data structures with no I/O, no locks and no async.
pub mod dict;
