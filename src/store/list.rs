//! A list (Redis `quicklist`/`listpack`).
//!
//! Placeholder: the data-types work fills this in.

/// A list (Redis `quicklist`/`listpack`).
#[derive(Debug, Clone, Default)]
pub struct ListValue {}

impl ListValue {
    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "unknown"
    }

    /// Bytes used, for `MEMORY USAGE`.
    pub fn memory_usage(&self) -> usize {
        0
    }
}
