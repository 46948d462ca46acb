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
    List(Box<super::list::ListValue>),
    Hash(Box<super::hash::HashValue>),
    Set(Box<super::set::SetValue>),
    ZSet(Box<super::zset::ZSetValue>),
}

/// A string value. `enc` records how Redis would have encoded the object, which
/// `OBJECT ENCODING` and `MEMORY USAGE` report.
#[derive(Debug, Clone)]
pub struct StrValue {
    pub data: Bytes,
    pub enc: StrEnc,
}

/// How Redis encodes a string object; which one depends on the command that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrEnc {
    /// Redis's `tryObjectEncoding` (SET, MSET, INCR...): `int` when the bytes are a
    /// canonical 64-bit integer, `embstr` when short, `raw` otherwise.
    Auto,
    /// `createStringObject` (INCRBYFLOAT): never `int`; `embstr` when short.
    NoInt,
    /// A modified-in-place buffer (APPEND, SETRANGE): always `raw`.
    Raw,
}

impl Value {
    /// A string value copied out of a request argument. Small arguments are copied so
    /// that stored values never pin a whole read buffer in memory; large ones are the
    /// buffer, so sharing them is free.
    pub fn string(data: &Bytes) -> Value {
        Value::string_owned(own(data))
    }

    pub fn string_owned(data: Bytes) -> Value {
        Value::string_enc(data, StrEnc::Auto)
    }

    /// A string value with the encoding the creating command gives it.
    pub fn string_enc(data: Bytes, enc: StrEnc) -> Value {
        Value::Str(StrValue { data, enc })
    }

    /// The `TYPE` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The `OBJECT ENCODING` name, as Redis 7.0 reports it.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(v) => v.encoding(),
            Value::Hash(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
        }
    }

    pub fn as_str(&self) -> Option<&Bytes> {
        match self {
            Value::Str(s) => Some(&s.data),
            _ => None,
        }
    }

    /// The string value for in-place modification (APPEND, SETRANGE).
    pub fn as_str_mut(&mut self) -> Option<&mut StrValue> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl StrValue {
    /// The `OBJECT ENCODING` name: `int`, `embstr` or `raw`.
    pub fn encoding(&self) -> &'static str {
        match self.enc {
            StrEnc::Raw => "raw",
            StrEnc::Auto if self.data.len() <= 20 && parse_i64(&self.data).is_some() => "int",
            _ if self.data.len() > EMBSTR_MAX => "raw",
            _ => "embstr",
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
            Value::Str(s) => match s.encoding() {
                "int" => 0,
                "embstr" => alloc_size(16 + 3 + s.data.len() + 1) - 16,
                _ => alloc_size(s.data.len() + 9),
            },
            Value::List(v) => v.memory_usage(),
            Value::Hash(v) => v.memory_usage(),
            Value::Set(v) => v.memory_usage(),
            Value::ZSet(v) => v.memory_usage(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    /// Every key pays for an `Object` inside its keyspace entry, and every small
    /// collection for its boxed value, so these sizes are the per-key overhead the
    /// memory targets (bench/memory.sh) depend on: a regression here shows up as
    /// RSS on every key.
    #[test]
    fn per_key_structures_stay_small() {
        assert!(size_of::<Value>() <= 40, "Value is {}", size_of::<Value>());
        assert!(
            size_of::<Object>() <= 48,
            "Object is {}",
            size_of::<Object>()
        );
        let hash = size_of::<super::super::hash::HashValue>();
        let zset = size_of::<super::super::zset::ZSetValue>();
        assert!(hash <= 32, "HashValue is {hash}");
        assert!(zset <= 32, "ZSetValue is {zset}");
    }
}
