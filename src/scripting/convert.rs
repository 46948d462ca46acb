//! Redis 7.0's conversions between command replies and Lua values, both ways.
//!
//! Replies become Lua values in the protocol the script chose with `redis.setresp`
//! (RESP2 by default: a null is `false`, a map a flat array, a double a string); a
//! script's return value becomes a reply (numbers truncated to integers, arrays
//! stopping at the first nil, `{err=}`/`{ok=}`/`{double=}`/`{map=}`/`{set=}` tables,
//! booleans as RESP2 or RESP3 want them).

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::resp::Reply;

/// A command's reply as the Lua value `redis.call` returns.
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp: u8) -> mlua::Result<Value> {
    let resp3 = resp == 3;
    Ok(match reply {
        Reply::Status(s) => single(lua, "ok", Value::String(lua.create_string(s)?))?,
        Reply::StatusOwned(s) => single(lua, "ok", Value::String(lua.create_string(s)?))?,
        Reply::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", error_text(&format!("-{e}")))?;
            Value::Table(t)
        }
        Reply::Int(i) => Value::Integer(*i),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        // A reply encoded by its command (an array of bulks read from the store).
        Reply::Raw(b) => match crate::resp::parse_reply(b) {
            Some((r, _)) => reply_to_lua(lua, &r, resp)?,
            None => Value::String(lua.create_string(b)?),
        },
        Reply::Nil | Reply::NilArray | Reply::None => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => array(lua, items.iter(), resp)?,
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp)?, true)?;
            }
            single(lua, "set", Value::Table(set))?
        }
        Reply::Set(items) => array(lua, items.iter(), resp)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(reply_to_lua(lua, k, resp)?, reply_to_lua(lua, v, resp)?)?;
            }
            single(lua, "map", Value::Table(map))?
        }
        Reply::Map(pairs) => array(lua, pairs.iter().flat_map(|(k, v)| [k, v]), resp)?,
        Reply::Double(d) if resp3 => single(lua, "double", Value::Number(*d))?,
        Reply::Double(d) => Value::String(lua.create_string(crate::num::fmt_g17(*d))?),
        Reply::Bool(b) if resp3 => Value::Boolean(*b),
        Reply::Bool(b) => Value::Integer(i64::from(*b)),
        Reply::Verbatim(b) if resp3 => {
            let v = lua.create_table()?;
            v.raw_set("format", "txt")?;
            v.raw_set("string", lua.create_string(b)?)?;
            single(lua, "verbatim_string", Value::Table(v))?
        }
        Reply::Verbatim(b) => Value::String(lua.create_string(b)?),
    })
}

fn single(lua: &Lua, key: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(key, v)?;
    Ok(Value::Table(t))
}

fn array<'a>(lua: &Lua, items: impl Iterator<Item = &'a Reply>, resp: u8) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, item) in items.enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp)?)?;
    }
    Ok(Value::Table(t))
}

/// An error text as Redis's `luaPushErrorBuff` stores it in `{err=...}`: from
/// `-CODE message` it keeps the code; a text without a space gets `ERR`; no
/// trailing CR/LF.
pub fn error_text(with_dash: &str) -> String {
    let (code, msg) = match with_dash.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code, msg),
            None => ("ERR", rest),
        },
        None => ("ERR", with_dash),
    };
    format!("{code} {}", msg.trim_matches(|c| c == '\r' || c == '\n'))
}

/// Redis replaces CR and LF in error and status texts by spaces.
fn one_line(s: &[u8]) -> String {
    String::from_utf8_lossy(s).replace(['\r', '\n'], " ")
}

/// A script's return value as its reply.
pub fn lua_to_reply(v: &Value, resp3: bool) -> Reply {
    match v {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(c_long_long(*n)),
        Value::Boolean(b) if resp3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Int(1),
        Value::Table(t) => table_to_reply(t, resp3),
        Value::Error(e) => Reply::Bulk(Bytes::from(super::error_message(e))),
        _ => Reply::Nil,
    }
}

/// C's `(long long)` cast on x86-64: out of range (and NaN) gives `LLONG_MIN`.
fn c_long_long(n: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn table_to_reply(t: &Table, resp3: bool) -> Reply {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        return Reply::Error(one_line(&e.as_bytes()));
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        return Reply::StatusOwned(one_line(&s.as_bytes()));
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return Reply::Double(d),
        Ok(Value::Integer(i)) => return Reply::Double(i as f64),
        _ => {}
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs = m
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| (lua_to_reply(&k, resp3), lua_to_reply(&v, resp3)))
            .collect();
        return Reply::Map(pairs);
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let items = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| lua_to_reply(&k, resp3))
            .collect();
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(lua_to_reply(&v, resp3)),
        }
    }
    Reply::Array(items)
}

/// The reply of a script that raised an error: the handler's table
/// `{err=..., source=..., line=...}` as `<err> script: <sha>, on <source>:<line>.`.
pub fn error_table_reply(v: &Value, sha: &str) -> Reply {
    let Value::Table(t) = v else {
        return Reply::Error(format!("ERR Error running script {sha}, execution failure"));
    };
    let err = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => one_line(&s.as_bytes()),
        _ => "(null)".to_string(),
    };
    let source = t
        .raw_get::<Option<mlua::LuaString>>("source")
        .ok()
        .flatten();
    let line = t.raw_get::<Option<i64>>("line").ok().flatten();
    match (source, line) {
        (Some(src), Some(line)) => Reply::Error(format!(
            "{err} script: {sha}, on {}:{line}.",
            src.to_string_lossy()
        )),
        _ => Reply::Error(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        assert_eq!(error_text("-bar"), "ERR bar");
        assert_eq!(error_text("-FOO bar baz"), "FOO bar baz");
        assert_eq!(error_text("-ERR x\r\n"), "ERR x");
    }
}
