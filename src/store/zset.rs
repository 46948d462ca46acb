//! A sorted set (Redis `listpack`/`skiplist`).
//!
//! Placeholder: the data-types work fills this in.

/// A sorted set (Redis `listpack`/`skiplist`).
#[derive(Debug, Clone, Default)]
pub struct ZSetValue {}

impl ZSetValue {
    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "unknown"
    }

    /// Bytes used, for `MEMORY USAGE`.
    pub fn memory_usage(&self) -> usize {
        0
    }
}
