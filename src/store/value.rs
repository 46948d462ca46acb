//! The values a key can hold, and the per-key metadata Redis keeps beside them.

use bytes::Bytes;

use crate::num::parse_i64;

/// Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`: short strings report `embstr`.
const EMBSTR_MAX: usize = 44;

/// A stored object: the value plus the access clock Redis keeps in `robj.lru`
/// (seconds for LRU/IDLETIME; reserved for LFU data when an LFU policy is selected).
#[derive(Debug, Clone)]
pub struct Object {
    pub value: Value,
    pub lru: u32,
}

/// The value of a key. Collection types are boxed so that the common string case keeps
/// each keyspace entry small.
#[derive(Debug, Clone)]
pub enum Value {
    Str(StrValue),
}

/// A string value. `raw` records that Redis would have turned this into a `raw`
/// encoded object (APPEND, SETRANGE), which `OBJECT ENCODING` reports.
#[derive(Debug, Clone)]
pub struct StrValue {
    pub data: Bytes,
    pub raw: bool,
}

impl Value {
    /// A string value copied out of a request argument. Small arguments are copied so
    /// that stored values never pin a whole read buffer in memory; large ones are the
    /// buffer, so sharing them is free.
    pub fn string(data: &Bytes) -> Value {
        Value::Str(StrValue {
            data: own(data),
            raw: false,
        })
    }

    pub fn string_owned(data: Bytes) -> Value {
        Value::Str(StrValue { data, raw: false })
    }

    /// The `TYPE` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// The `OBJECT ENCODING` name, as Redis 7.0 reports it.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.data.len() <= 20 && parse_i64(&s.data).is_some() {
                    "int"
                } else if s.raw || s.data.len() > EMBSTR_MAX {
                    "raw"
                } else {
                    "embstr"
                }
            }
        }
    }

    pub fn as_str(&self) -> Option<&Bytes> {
        match self {
            Value::Str(s) => Some(&s.data),
        }
    }
}

/// Copies `data` unless it is large. See [`Value::string`].
pub fn own(data: &Bytes) -> Bytes {
    if data.len() >= 64 * 1024 {
        data.clone()
    } else {
        Bytes::copy_from_slice(data)
    }
}

/// An estimate of the bytes a key and its value use, close to Redis's `MEMORY USAGE`
/// for the same data (object header, dict entry and allocator size classes).
pub fn memory_usage(key: &[u8], value: &Value) -> usize {
    let entry = 24 + 16 + alloc_size(key.len() + 4);
    entry
        + match value {
            Value::Str(s) => {
                if s.data.len() <= 20 && parse_i64(&s.data).is_some() {
                    0
                } else if !s.raw && s.data.len() <= EMBSTR_MAX {
                    alloc_size(16 + 3 + s.data.len() + 1) - 16
                } else {
                    alloc_size(s.data.len() + 9)
                }
            }
        }
}

/// jemalloc's size class for an allocation of `n` bytes (the small classes).
pub fn alloc_size(n: usize) -> usize {
    match n {
        0..=8 => 8,
        9..=16 => 16,
        17..=128 => n.div_ceil(16) * 16,
        _ => {
            let mut class = 128;
            while class < n {
                let step = class / 4;
                let mut c = class;
                while c < class * 2 && c < n {
                    c += step;
                }
                if c >= n {
                    return c;
                }
                class *= 2;
            }
            class
        }
    }
}
