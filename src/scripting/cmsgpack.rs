//! The `cmsgpack` library (lua-cmsgpack 0.4 as Redis ships it): `pack(...)`
//! concatenates the MessagePack encoding of each argument, `unpack(s)` returns every
//! value in `s`. Tables whose keys are exactly 1..n are arrays, other tables maps;
//! integral numbers use the smallest integer encoding, others a float when exact,
//! else a double; nesting deeper than 16 encodes nil, as lua-cmsgpack does.

use mlua::{Lua, MultiValue, Table, Value};

use super::lua_error;

const MAX_NESTING: usize = 16;

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(super::arg_error(
                    lua,
                    0,
                    "pack",
                    "MessagePack pack needs input.",
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::LuaString| {
            let bytes = s.as_bytes().to_vec();
            let mut d = Decoder { s: &bytes, i: 0 };
            let mut out = MultiValue::new();
            while d.i < bytes.len() {
                match d.value(lua)? {
                    Some(v) => out.push_back(v),
                    None => return Err(lua_error(lua, "Missing bytes in input.")),
                }
            }
            Ok(out)
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::LuaString, Option<i64>)| {
            let bytes = s.as_bytes().to_vec();
            let start = offset.unwrap_or(0).max(0) as usize;
            let mut d = Decoder {
                s: &bytes,
                i: start,
            };
            if start >= bytes.len() {
                return Ok((Value::Integer(-1), Value::Nil));
            }
            let v = d
                .value(lua)?
                .ok_or_else(|| lua_error(lua, "Missing bytes in input."))?;
            let next = if d.i >= bytes.len() { -1 } else { d.i as i64 };
            Ok((Value::Integer(next), v))
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        let u = i as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if i >= -32 {
        out.push(i as i8 as u8);
    } else if i >= -128 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn encode_number(x: f64, out: &mut Vec<u8>) {
    if x.is_finite() && x.floor() == x && x.abs() < 9.2e18 {
        encode_int(x as i64, out);
    } else if (x as f32) as f64 == x || x.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(x as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&x.to_be_bytes());
    }
}

fn encode_len(n: usize, fix: u8, fix_max: usize, m16: u8, m32: u8, out: &mut Vec<u8>) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(m16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// lua-cmsgpack's `table_is_an_array`: every key a positive integer and as many keys
/// as the largest one.
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    Ok(super::integer_keys(t)?.and_then(|(max, count)| (max == count).then_some(max)))
}

fn encode(v: &Value, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(*i, out),
        Value::Number(x) => encode_number(*x, out),
        Value::String(s) => {
            let b = s.as_bytes();
            let n = b.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else if n <= 0xff {
                out.extend_from_slice(&[0xd9, n as u8]);
            } else if n <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => match array_len(t)? {
            Some(n) => {
                encode_len(n, 0x90, 15, 0xdc, 0xdd, out);
                for i in 1..=n {
                    encode(&t.raw_get::<Value>(i)?, depth + 1, out)?;
                }
            }
            None => {
                let pairs: Vec<(Value, Value)> =
                    t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                encode_len(pairs.len(), 0x80, 15, 0xde, 0xdf, out);
                for (k, v) in &pairs {
                    encode(k, depth + 1, out)?;
                    encode(v, depth + 1, out)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

struct Decoder<'a> {
    s: &'a [u8],
    i: usize,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let b = self.s.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(b)
    }

    fn uint(&mut self, n: usize) -> Option<u64> {
        Some(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    /// The next value, `None` when the input ends inside it.
    fn value(&mut self, lua: &Lua) -> mlua::Result<Option<Value>> {
        let Some(&c) = self.s.get(self.i) else {
            return Ok(None);
        };
        self.i += 1;
        let num = |x: f64| Some(Value::Number(x));
        Ok(match c {
            0x00..=0x7f => Some(Value::Integer(c as i64)),
            0xe0..=0xff => Some(Value::Integer(c as i8 as i64)),
            0xc0 => Some(Value::Nil),
            0xc2 => Some(Value::Boolean(false)),
            0xc3 => Some(Value::Boolean(true)),
            0xcc => self.uint(1).map(|u| Value::Integer(u as i64)),
            0xcd => self.uint(2).map(|u| Value::Integer(u as i64)),
            0xce => self.uint(4).map(|u| Value::Integer(u as i64)),
            0xcf => self.uint(8).and_then(|u| num(u as f64)),
            0xd0 => self.uint(1).map(|u| Value::Integer(u as u8 as i8 as i64)),
            0xd1 => self.uint(2).map(|u| Value::Integer(u as u16 as i16 as i64)),
            0xd2 => self.uint(4).map(|u| Value::Integer(u as u32 as i32 as i64)),
            0xd3 => self.uint(8).and_then(|u| num(u as i64 as f64)),
            0xca => self
                .uint(4)
                .and_then(|u| num(f32::from_bits(u as u32) as f64)),
            0xcb => self.uint(8).and_then(|u| num(f64::from_bits(u))),
            0xa0..=0xbf => self.string(lua, (c & 0x1f) as usize)?,
            0xd9 | 0xc4 => match self.uint(1) {
                Some(n) => self.string(lua, n as usize)?,
                None => None,
            },
            0xda | 0xc5 => match self.uint(2) {
                Some(n) => self.string(lua, n as usize)?,
                None => None,
            },
            0xdb | 0xc6 => match self.uint(4) {
                Some(n) => self.string(lua, n as usize)?,
                None => None,
            },
            0x90..=0x9f => self.array(lua, (c & 0x0f) as usize)?,
            0xdc => match self.uint(2) {
                Some(n) => self.array(lua, n as usize)?,
                None => None,
            },
            0xdd => match self.uint(4) {
                Some(n) => self.array(lua, n as usize)?,
                None => None,
            },
            0x80..=0x8f => self.map(lua, (c & 0x0f) as usize)?,
            0xde => match self.uint(2) {
                Some(n) => self.map(lua, n as usize)?,
                None => None,
            },
            0xdf => match self.uint(4) {
                Some(n) => self.map(lua, n as usize)?,
                None => None,
            },
            _ => return Err(lua_error(lua, "Bad data format in input.")),
        })
    }

    fn string(&mut self, lua: &Lua, n: usize) -> mlua::Result<Option<Value>> {
        match self.take(n) {
            Some(b) => Ok(Some(Value::String(lua.create_string(b)?))),
            None => Ok(None),
        }
    }

    fn array(&mut self, lua: &Lua, n: usize) -> mlua::Result<Option<Value>> {
        let t = lua.create_table()?;
        for i in 1..=n {
            let Some(v) = self.value(lua)? else {
                return Ok(None);
            };
            t.raw_set(i, v)?;
        }
        Ok(Some(Value::Table(t)))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> mlua::Result<Option<Value>> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let Some(k) = self.value(lua)? else {
                return Ok(None);
            };
            let Some(v) = self.value(lua)? else {
                return Ok(None);
            };
            if k != Value::Nil {
                t.raw_set(k, v)?;
            }
        }
        Ok(Some(Value::Table(t)))
    }
}
