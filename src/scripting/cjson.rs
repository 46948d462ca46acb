//! The `cjson` library as Redis ships it (lua-cjson 2.1 with Redis's settings):
//! numbers with 14 significant digits, `/` escaped, an empty table encodes as `{}`,
//! excessively sparse arrays refused, `cjson.null` for JSON null, lua-cjson's error
//! texts.

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::lua_error;

const MAX_DEPTH: usize = 1000;

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(super::arg_error(lua, 1, "encode", "expected 1 argument"));
            }
            let mut out = Vec::new();
            encode(lua, &args[0], 0, &mut out)?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, args: MultiValue| {
            let s = match args.front() {
                Some(Value::String(s)) if args.len() == 1 => s.as_bytes().to_vec(),
                _ => return Err(super::arg_error(lua, 1, "decode", "expected 1 argument")),
            };
            let mut p = Parser { s: &s, i: 0, lua };
            let v = p.value(0)?;
            p.ws();
            if p.i < s.len() {
                let at = p.i;
                let found = p.token_name();
                return Err(lua_error(
                    lua,
                    format!("Expected the end but found {found} at character {}", at + 1),
                ));
            }
            Ok(v)
        })?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    // Configuration functions answer the current settings; Redis's are fixed.
    t.raw_set(
        "encode_keep_buffer",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    t.raw_set(
        "encode_max_depth",
        lua.create_function(|_, _: MultiValue| Ok(MAX_DEPTH))?,
    )?;
    t.raw_set(
        "decode_max_depth",
        lua.create_function(|_, _: MultiValue| Ok(MAX_DEPTH))?,
    )?;
    t.raw_set(
        "encode_number_precision",
        lua.create_function(|_, _: MultiValue| Ok(14))?,
    )?;
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    t.raw_set(
        "decode_invalid_numbers",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(|_, _: MultiValue| Ok((false, 2, 10)))?,
    )?;
    Ok(t)
}

fn type_error(lua: &Lua, ty: &str, reason: &str) -> mlua::Error {
    lua_error(lua, format!("Cannot serialise {ty}: {reason}"))
}

fn encode_number(lua: &Lua, x: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !x.is_finite() {
        return Err(type_error(lua, "number", "must not be NaN or Inf"));
    }
    out.extend_from_slice(crate::num::fmt_g(x, 14).as_bytes());
    Ok(())
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// lua-cjson's `lua_array_length`: the array length when every key is a positive
/// integer (holes allowed unless excessively sparse), else `None` (an object).
fn array_length(lua: &Lua, t: &Table) -> mlua::Result<Option<usize>> {
    let Some((max, items)) = super::integer_keys(t)? else {
        return Ok(None);
    };
    if max > items * 2 && max > 10 {
        return Err(type_error(lua, "table", "excessively sparse array"));
    }
    Ok(Some(max))
}

fn encode(lua: &Lua, v: &Value, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(x) => encode_number(lua, *x, out)?,
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(lua_error(
                    lua,
                    format!("Cannot serialise, excessive nesting ({depth})"),
                ));
            }
            match array_length(lua, t)? {
                Some(n) if n > 0 => {
                    out.push(b'[');
                    for i in 1..=n {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(lua, &t.raw_get::<Value>(i)?, depth, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, v) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => encode_string(&s.as_bytes(), out),
                            Value::Integer(i) => {
                                out.extend_from_slice(format!("\"{i}\"").as_bytes())
                            }
                            Value::Number(x) => {
                                out.push(b'"');
                                encode_number(lua, *x, out)?;
                                out.push(b'"');
                            }
                            other => {
                                return Err(type_error(
                                    lua,
                                    other.type_name(),
                                    "table key must be a number or string",
                                ))
                            }
                        }
                        out.push(b':');
                        encode(lua, &v, depth, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(type_error(lua, other.type_name(), "type not supported")),
    }
    Ok(())
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    lua: &'a Lua,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// lua-cjson's name for the token at the cursor (for error texts).
    fn token_name(&self) -> &'static str {
        match self.s.get(self.i) {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b'"') => "T_STRING",
            Some(b':') => "T_COLON",
            Some(b',') => "T_COMMA",
            Some(b'-' | b'0'..=b'9') => "T_NUMBER",
            Some(_)
                if self.s[self.i..].starts_with(b"true")
                    || self.s[self.i..].starts_with(b"false") =>
            {
                "T_BOOLEAN"
            }
            Some(_) if self.s[self.i..].starts_with(b"null") => "T_NULL",
            Some(_) => "invalid token",
        }
    }

    fn expected(&self, what: &str) -> mlua::Error {
        lua_error(
            self.lua,
            format!(
                "Expected {what} but found {} at character {}",
                self.token_name(),
                self.i + 1
            ),
        )
    }

    fn value(&mut self, depth: usize) -> mlua::Result<Value> {
        self.ws();
        let lua = self.lua;
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.expected("value"));
        };
        match c {
            b'{' | b'[' => {
                if depth + 1 > MAX_DEPTH {
                    return Err(lua_error(
                        lua,
                        format!(
                            "Found too many nested data structures ({}) at character {}",
                            depth + 1,
                            self.i + 1
                        ),
                    ));
                }
                self.i += 1;
                let t = lua.create_table()?;
                if c == b'[' {
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Value::Table(t));
                    }
                    let mut n = 1;
                    loop {
                        let v = self.value(depth + 1)?;
                        t.raw_set(n, v)?;
                        n += 1;
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Value::Table(t));
                            }
                            _ => return Err(self.expected("comma or array end")),
                        }
                    }
                }
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.expected("object key string"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.expected("colon"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    t.raw_set(k, v)?;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.expected("comma or object end")),
                    }
                }
            }
            b'"' => Ok(Value::String(self.string()?)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => {
                for (word, v) in [
                    (&b"true"[..], Value::Boolean(true)),
                    (b"false", Value::Boolean(false)),
                    (b"null", null()),
                ] {
                    if self.s[self.i..].starts_with(word) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                Err(self.expected("value"))
            }
        }
    }

    fn number(&mut self) -> mlua::Result<Value> {
        let start = self.i;
        let mut end = start;
        while end < self.s.len()
            && matches!(self.s[end], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        {
            end += 1;
        }
        let text = std::str::from_utf8(&self.s[start..end]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(x) => {
                self.i = end;
                Ok(Value::Number(x))
            }
            Err(_) => Err(lua_error(
                self.lua,
                format!(
                    "Expected value but found invalid number at character {}",
                    start + 1
                ),
            )),
        }
    }

    fn string(&mut self) -> mlua::Result<mlua::LuaString> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        let bad = |p: &Self, what: &str| {
            lua_error(
                p.lua,
                format!("Expected value but found {what} at character {}", start + 1),
            )
        };
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err(bad(self, "unexpected end of string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(bad(self, "unexpected end of string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self
                                .hex4()
                                .ok_or_else(|| bad(self, "invalid unicode escape code"))?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.i) != Some(&b'\\')
                                    || self.s.get(self.i + 1) != Some(&b'u')
                                {
                                    return Err(bad(self, "invalid unicode escape code"));
                                }
                                self.i += 2;
                                let lo = self
                                    .hex4()
                                    .ok_or_else(|| bad(self, "invalid unicode escape code"))?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(bad(self, "invalid unicode escape code"));
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            let ch = char::from_u32(cp)
                                .ok_or_else(|| bad(self, "invalid unicode escape code"))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(bad(self, "invalid escape code")),
                    }
                }
                c => out.push(c),
            }
        }
        self.lua.create_string(&out)
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.i += 4;
        Some(v)
    }
}
