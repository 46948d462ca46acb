//! The `bit` library (LuaBitOp 1.0.2, as Redis ships it): 32-bit operations on Lua
//! numbers, results as signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::arg_error;

/// LuaBitOp's `tobit`: the number modulo 2^32 as a signed 32-bit integer (it adds
/// 2^52 + 2^51 and keeps the low word, which rounds fractions to nearest even).
fn tobit(lua: &Lua, v: &Value, n: usize, f: &str) -> mlua::Result<i32> {
    let x = match v {
        Value::Integer(i) => *i as f64,
        Value::Number(x) => *x,
        Value::String(s) => match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
            Some(x) => x,
            None => return Err(arg_error(lua, n, f, "number expected, got string")),
        },
        other => {
            return Err(arg_error(
                lua,
                n,
                f,
                &format!("number expected, got {}", no_value(other)),
            ))
        }
    };
    let b = (x + 6755399441055744.0).to_bits();
    Ok(b as u32 as i32)
}

fn no_value(v: &Value) -> &'static str {
    match v {
        Value::Nil => "no value",
        other => other.type_name(),
    }
}

fn arg(args: &MultiValue, i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Nil)
}

fn fold(lua: &Lua, name: &'static str, op: fn(i32, i32) -> i32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let mut acc = tobit(lua, arg(&args, 0), 1, name)?;
        for i in 1..args.len() {
            acc = op(acc, tobit(lua, &args[i], i + 1, name)?);
        }
        Ok(acc)
    })
}

fn shift(lua: &Lua, name: &'static str, op: fn(i32, u32) -> i32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let x = tobit(lua, arg(&args, 0), 1, name)?;
        let n = tobit(lua, arg(&args, 1), 2, name)? as u32 & 31;
        Ok(op(x, n))
    })
}

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "tobit",
        lua.create_function(|lua, args: MultiValue| tobit(lua, arg(&args, 0), 1, "tobit"))?,
    )?;
    t.raw_set(
        "bnot",
        lua.create_function(|lua, args: MultiValue| Ok(!tobit(lua, arg(&args, 0), 1, "bnot")?))?,
    )?;
    t.raw_set("band", fold(lua, "band", |a, b| a & b)?)?;
    t.raw_set("bor", fold(lua, "bor", |a, b| a | b)?)?;
    t.raw_set("bxor", fold(lua, "bxor", |a, b| a ^ b)?)?;
    t.raw_set(
        "lshift",
        shift(lua, "lshift", |x, n| ((x as u32) << n) as i32)?,
    )?;
    t.raw_set(
        "rshift",
        shift(lua, "rshift", |x, n| ((x as u32) >> n) as i32)?,
    )?;
    t.raw_set("arshift", shift(lua, "arshift", |x, n| x >> n)?)?;
    t.raw_set(
        "rol",
        shift(lua, "rol", |x, n| (x as u32).rotate_left(n) as i32)?,
    )?;
    t.raw_set(
        "ror",
        shift(lua, "ror", |x, n| (x as u32).rotate_right(n) as i32)?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(|lua, args: MultiValue| {
            Ok(tobit(lua, arg(&args, 0), 1, "bswap")?.swap_bytes())
        })?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let x = tobit(lua, arg(&args, 0), 1, "tohex")? as u32;
            let n = match arg(&args, 1) {
                Value::Nil => 8,
                v => tobit(lua, v, 2, "tohex")?,
            };
            let upper = n < 0;
            let n = n.unsigned_abs().min(8) as usize;
            let full = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(full[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}
