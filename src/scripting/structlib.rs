//! The `struct` library (Roberto Ierusalimschy's struct 0.2 as Redis ships it):
//! `pack(fmt, ...)`, `unpack(fmt, s [, pos])` (values, then the next position) and
//! `size(fmt)`. Formats: `<` `>` `=` endianness, `!n` alignment, `x` padding, `b B h
//! H l L T i[n] I[n]` integers, `f d` floats, `s` zero-terminated and `c[n]` fixed
//! strings.

use mlua::{Lua, MultiValue, Table, Value};

use super::lua_error;

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            let fmt = fmt_arg(lua, &args, "pack")?;
            pack(lua, &fmt, &args)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| {
            let fmt = fmt_arg(lua, &args, "unpack")?;
            let data = match args.get(1) {
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                Some(other) => {
                    return Err(super::arg_error(
                        lua,
                        2,
                        "unpack",
                        &format!("string expected, got {}", other.type_name()),
                    ))
                }
                None => {
                    return Err(super::arg_error(
                        lua,
                        2,
                        "unpack",
                        "string expected, got no value",
                    ))
                }
            };
            let pos = match args.get(2) {
                Some(Value::Integer(i)) => *i,
                Some(Value::Number(x)) => *x as i64,
                _ => 1,
            };
            if pos < 1 {
                return Err(super::arg_error(
                    lua,
                    3,
                    "unpack",
                    "offset must be 1 or greater",
                ));
            }
            unpack(lua, &fmt, &data, pos as usize - 1)
        })?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|lua, args: MultiValue| {
            let fmt = fmt_arg(lua, &args, "size")?;
            let mut size = 0usize;
            let mut it = Format::new(&fmt);
            while let Some(item) = it.next(lua, "size")? {
                if matches!(item.kind, b's') || (item.kind == b'c' && item.size == 0) {
                    return Err(super::arg_error(
                        lua,
                        1,
                        "size",
                        "options 'c0' - 's' have undefined sizes",
                    ));
                }
                size += it.padding(size, item.size) + item.size;
            }
            Ok(size as i64)
        })?,
    )?;
    Ok(t)
}

fn fmt_arg(lua: &Lua, args: &MultiValue, f: &str) -> mlua::Result<Vec<u8>> {
    match args.front() {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(other) => Err(super::arg_error(
            lua,
            1,
            f,
            &format!("string expected, got {}", other.type_name()),
        )),
        None => Err(super::arg_error(lua, 1, f, "string expected, got no value")),
    }
}

struct Item {
    kind: u8,
    size: usize,
}

struct Format<'a> {
    fmt: &'a [u8],
    i: usize,
    little: bool,
    align: usize,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8]) -> Self {
        Format {
            fmt,
            i: 0,
            little: true,
            align: 1,
        }
    }

    fn number(&mut self, default: usize) -> usize {
        let start = self.i;
        let mut n = 0usize;
        while self.i < self.fmt.len() && self.fmt[self.i].is_ascii_digit() {
            n = n
                .saturating_mul(10)
                .saturating_add((self.fmt[self.i] - b'0') as usize);
            self.i += 1;
        }
        if self.i == start {
            default
        } else {
            n
        }
    }

    /// The next item that occupies bytes; endianness and alignment options are
    /// applied on the way.
    fn next(&mut self, lua: &Lua, f: &str) -> mlua::Result<Option<Item>> {
        while self.i < self.fmt.len() {
            let c = self.fmt[self.i];
            self.i += 1;
            let size = match c {
                b' ' => continue,
                b'<' | b'=' => {
                    self.little = true;
                    continue;
                }
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'!' => {
                    self.align = self.number(8);
                    continue;
                }
                b'x' | b'b' | b'B' => 1,
                b'h' | b'H' => 2,
                b'l' | b'L' | b'T' | b'd' => 8,
                b'f' => 4,
                b'i' | b'I' => {
                    let n = self.number(4);
                    if n > 8 {
                        return Err(lua_error(
                            lua,
                            format!("integral size {n} is larger than limit of 8"),
                        ));
                    }
                    n
                }
                b'c' => self.number(1),
                b's' => 0,
                other => {
                    return Err(super::arg_error(
                        lua,
                        1,
                        f,
                        &format!("invalid format option '{}'", other as char),
                    ))
                }
            };
            return Ok(Some(Item { kind: c, size }));
        }
        Ok(None)
    }

    fn padding(&self, at: usize, size: usize) -> usize {
        let align = size.min(self.align);
        if align <= 1 || !align.is_power_of_two() {
            return 0;
        }
        (align - (at & (align - 1))) & (align - 1)
    }
}

fn num_arg(lua: &Lua, args: &MultiValue, n: usize) -> mlua::Result<f64> {
    match args.get(n) {
        Some(Value::Integer(i)) => Ok(*i as f64),
        Some(Value::Number(x)) => Ok(*x),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| super::arg_error(lua, n + 1, "pack", "number expected, got string")),
        other => Err(super::arg_error(
            lua,
            n + 1,
            "pack",
            &format!(
                "number expected, got {}",
                other.map_or("no value", |v| v.type_name())
            ),
        )),
    }
}

fn pack(lua: &Lua, fmt: &[u8], args: &MultiValue) -> mlua::Result<mlua::LuaString> {
    let mut out: Vec<u8> = Vec::new();
    let mut f = Format::new(fmt);
    let mut arg = 1;
    while let Some(item) = f.next(lua, "pack")? {
        let pad = f.padding(out.len(), item.size);
        out.resize(out.len() + pad, 0);
        match item.kind {
            b'x' => out.push(0),
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let x = num_arg(lua, args, arg)?;
                arg += 1;
                let v: u64 = if item.kind.is_ascii_lowercase() {
                    x as i64 as u64
                } else {
                    x as u64
                };
                let bytes = v.to_le_bytes();
                let mut b: Vec<u8> = (0..item.size)
                    .map(|i| if i < 8 { bytes[i] } else { 0 })
                    .collect();
                if !f.little {
                    b.reverse();
                }
                out.extend_from_slice(&b);
            }
            b'f' | b'd' => {
                let x = num_arg(lua, args, arg)?;
                arg += 1;
                let mut b = if item.kind == b'f' {
                    (x as f32).to_le_bytes().to_vec()
                } else {
                    x.to_le_bytes().to_vec()
                };
                if !f.little {
                    b.reverse();
                }
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                let s = match args.get(arg) {
                    Some(Value::String(s)) => s.as_bytes().to_vec(),
                    Some(Value::Integer(i)) => i.to_string().into_bytes(),
                    Some(Value::Number(x)) => crate::num::fmt_g(*x, 14).into_bytes(),
                    other => {
                        return Err(super::arg_error(
                            lua,
                            arg + 1,
                            "pack",
                            &format!(
                                "string expected, got {}",
                                other.map_or("no value", |v| v.type_name())
                            ),
                        ))
                    }
                };
                arg += 1;
                if item.kind == b'c' && item.size > 0 {
                    if s.len() < item.size {
                        return Err(super::arg_error(lua, arg, "pack", "string too short"));
                    }
                    out.extend_from_slice(&s[..item.size]);
                } else {
                    out.extend_from_slice(&s);
                    if item.kind == b's' {
                        out.push(0);
                    }
                }
            }
            _ => {}
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, fmt: &[u8], data: &[u8], mut pos: usize) -> mlua::Result<MultiValue> {
    let mut out = MultiValue::new();
    let mut f = Format::new(fmt);
    let too_short = || super::arg_error(lua, 2, "unpack", "data string too short");
    let mut last_int: Option<i64> = None;
    while let Some(item) = f.next(lua, "unpack")? {
        pos += f.padding(pos, item.size);
        match item.kind {
            b'x' => pos += 1,
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let b = data.get(pos..pos + item.size).ok_or_else(too_short)?;
                let mut v: u64 = 0;
                for k in 0..item.size {
                    let byte = if f.little { b[item.size - 1 - k] } else { b[k] };
                    v = (v << 8) | byte as u64;
                }
                let signed = item.kind.is_ascii_lowercase();
                let n = if signed && item.size < 8 && item.size > 0 {
                    let shift = 64 - 8 * item.size as u32;
                    ((v << shift) as i64 >> shift) as f64
                } else if signed {
                    v as i64 as f64
                } else {
                    v as f64
                };
                last_int = Some(n as i64);
                out.push_back(Value::Number(n));
                pos += item.size;
            }
            b'f' => {
                let b = data.get(pos..pos + 4).ok_or_else(too_short)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                let x = if f.little {
                    f32::from_le_bytes(a)
                } else {
                    f32::from_be_bytes(a)
                };
                out.push_back(Value::Number(x as f64));
                pos += 4;
            }
            b'd' => {
                let b = data.get(pos..pos + 8).ok_or_else(too_short)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let x = if f.little {
                    f64::from_le_bytes(a)
                } else {
                    f64::from_be_bytes(a)
                };
                out.push_back(Value::Number(x));
                pos += 8;
            }
            b'c' => {
                let mut size = item.size;
                if size == 0 {
                    // `c0`: the length is the previous integer read.
                    let Some(n) = last_int.filter(|&n| n >= 0) else {
                        return Err(lua_error(lua, "format 'c0' needs a previous size"));
                    };
                    out.pop_back();
                    size = n as usize;
                }
                let b = data.get(pos..pos + size).ok_or_else(too_short)?;
                out.push_back(Value::String(lua.create_string(b)?));
                pos += size;
            }
            b's' => {
                let rest = data.get(pos..).ok_or_else(too_short)?;
                let end = rest
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| lua_error(lua, "unfinished string in data"))?;
                out.push_back(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
            }
            _ => {}
        }
    }
    out.push_back(Value::Integer(pos as i64 + 1));
    Ok(out)
}
