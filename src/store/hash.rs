//! A hash (Redis `listpack`/`hashtable`).
//!
//! Placeholder: the data-types work fills this in.

/// A hash (Redis `listpack`/`hashtable`).
#[derive(Debug, Clone, Default)]
pub struct HashValue {}

impl HashValue {
    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "unknown"
    }

    /// Bytes used, for `MEMORY USAGE`.
    pub fn memory_usage(&self) -> usize {
        0
    }
}
