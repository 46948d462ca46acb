//! Redis 7.0's read-only script globals, on stock Lua 5.1.
//!
//! Redis's patched Lua has a read-only flag on tables: the global table, the library
//! tables (`redis`, `string`, `cjson`...) and the string metatable refuse every
//! assignment, an existing name included (`redis = nil`, `string.rep = nil`,
//! `rawset(_G, ...)`, `setmetatable(_G, ...)` all fail with "Attempt to modify a
//! readonly table"). Stock Lua has no such flag, so this module builds the same
//! behaviour from metatables:
//!
//! * scripts run in an environment table that stays empty: its metatable reads
//!   through to the real globals and sends every assignment to an error;
//! * each library table is replaced by an empty read-only proxy of it, and string
//!   methods go through the proxy of `string`;
//! * the functions that bypass metatables see through the proxies (`rawget`,
//!   `next`, `pairs`, `ipairs`) or refuse them (`rawset`, `setmetatable`), and
//!   `getmetatable` shows what Redis shows. They are Rust functions, not Lua
//!   wrappers, so a script's `return rawget(1)` keeps the script's frame (a Lua
//!   function would be tail-called) and errors carry `user_script:N:` as the C
//!   originals' do;
//! * `loadstring`/`load` give the chunks they compile the same environment.

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::lua_error;

const READONLY: &str = "Attempt to modify a readonly table";

/// Builds the sandbox on `globals` (whose dangerous functions are already removed)
/// and returns the environment scripts must run in. `setfenv` is the original, kept
/// out of the scripts' reach; `conv` turns a caught error into what a script's
/// `pcall` returns.
pub(super) fn install(
    lua: &Lua,
    globals: &Table,
    setfenv: Function,
    conv: Function,
) -> mlua::Result<Table> {
    // proxy -> the table it protects, and proxy -> what getmetatable shows for it
    // (nil for a library table, as in Redis).
    let real = lua.create_table()?;
    let shown = lua.create_table()?;
    let env: Table = lua.load(CHUNK).set_name(super::INTERNAL).call((
        globals.clone(),
        real.clone(),
        shown.clone(),
        setfenv,
        conv,
    ))?;
    let builtin = |name: &str| globals.raw_get::<Function>(name);
    let (b_next, b_ipairs, b_getmetatable) = (
        builtin("next")?,
        builtin("ipairs")?,
        builtin("getmetatable")?,
    );
    let unwrap = {
        let real = real.clone();
        move |t: Table| -> mlua::Result<Table> {
            Ok(real.raw_get::<Option<Table>>(t.clone())?.unwrap_or(t))
        }
    };
    let is_proxy = {
        let real = real.clone();
        move |t: &Table| -> mlua::Result<bool> {
            Ok(real.raw_get::<Value>(t.clone())? != Value::Nil)
        }
    };

    let ro = is_proxy.clone();
    let rawset = lua.create_function(move |lua, args: MultiValue| {
        let t = table_arg(lua, &args, 1, "rawset")?;
        if ro(&t)? {
            return Err(mlua::Error::RuntimeError(READONLY.into()));
        }
        let k = any_arg(lua, &args, 2, "rawset")?;
        let v = any_arg(lua, &args, 3, "rawset")?;
        match &k {
            Value::Nil => return Err(mlua::Error::RuntimeError("table index is nil".into())),
            Value::Number(n) if n.is_nan() => {
                return Err(mlua::Error::RuntimeError("table index is NaN".into()))
            }
            _ => {}
        }
        t.raw_set(k, v)?;
        Ok(t)
    })?;

    let ro = is_proxy.clone();
    let setmetatable = lua.create_function(move |lua, args: MultiValue| {
        let t = table_arg(lua, &args, 1, "setmetatable")?;
        if ro(&t)? {
            return Err(mlua::Error::RuntimeError(READONLY.into()));
        }
        let mt = match args.get(1) {
            Some(Value::Nil) => None,
            Some(Value::Table(mt)) => Some(mt.clone()),
            _ => {
                return Err(super::arg_error(
                    lua,
                    2,
                    "setmetatable",
                    "nil or table expected",
                ))
            }
        };
        if let Some(old) = t.metatable() {
            if old.raw_get::<Value>("__metatable")? != Value::Nil {
                return Err(lua_error(lua, "cannot change a protected metatable"));
            }
        }
        t.set_metatable(mt)?;
        Ok(t)
    })?;

    let real_of = real.clone();
    let getmetatable = lua.create_function(move |lua, args: MultiValue| {
        let v = any_arg(lua, &args, 1, "getmetatable")?;
        if let Value::Table(t) = &v {
            if real_of.raw_get::<Value>(t.clone())? != Value::Nil {
                return shown.raw_get::<Value>(t.clone());
            }
        }
        b_getmetatable.call::<Value>(v)
    })?;

    let un = unwrap.clone();
    let rawget = lua.create_function(move |lua, args: MultiValue| {
        let t = table_arg(lua, &args, 1, "rawget")?;
        let k = any_arg(lua, &args, 2, "rawget")?;
        un(t)?.raw_get::<Value>(k)
    })?;

    let (un, next_fn) = (unwrap.clone(), b_next.clone());
    let next = lua.create_function(move |lua, args: MultiValue| {
        let t = table_arg(lua, &args, 1, "next")?;
        let k = args.get(1).cloned().unwrap_or(Value::Nil);
        // Its only error, "invalid key to 'next'", without the traceback mlua adds.
        next_fn.call::<MultiValue>((un(t)?, k)).map_err(|e| {
            let text = super::error_message(&e);
            let text = text.split("\nstack traceback:").next().unwrap_or_default();
            mlua::Error::RuntimeError(text.to_string())
        })
    })?;

    let un = unwrap.clone();
    let pairs = lua.create_function(move |lua, args: MultiValue| {
        let t = table_arg(lua, &args, 1, "pairs")?;
        Ok((b_next.clone(), un(t)?, Value::Nil))
    })?;

    let ipairs = lua.create_function(move |lua, args: MultiValue| {
        let t = table_arg(lua, &args, 1, "ipairs")?;
        b_ipairs.call::<MultiValue>(unwrap(t)?)
    })?;

    for (name, f) in [
        ("rawset", rawset),
        ("setmetatable", setmetatable),
        ("getmetatable", getmetatable),
        ("rawget", rawget),
        ("next", next),
        ("pairs", pairs),
        ("ipairs", ipairs),
    ] {
        globals.raw_set(name, f)?;
    }
    Ok(env)
}

/// Lua's type name of argument `n` (1-based), `no value` when absent.
fn type_name(args: &MultiValue, n: usize) -> &'static str {
    match args.get(n - 1) {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `luaL_checktype(L, n, LUA_TTABLE)`.
fn table_arg(lua: &Lua, args: &MultiValue, n: usize, f: &str) -> mlua::Result<Table> {
    match args.get(n - 1) {
        Some(Value::Table(t)) => Ok(t.clone()),
        _ => Err(super::arg_error(
            lua,
            n,
            f,
            &format!("table expected, got {}", type_name(args, n)),
        )),
    }
}

/// `luaL_checkany(L, n)`.
fn any_arg(lua: &Lua, args: &MultiValue, n: usize, f: &str) -> mlua::Result<Value> {
    args.get(n - 1)
        .cloned()
        .ok_or_else(|| super::arg_error(lua, n, f, "value expected"))
}

/// The Lua half: the proxies, the global table's metatable, the scripts'
/// environment, `pcall` (returning Redis's error strings) and `loadstring`/`load`.
/// Returns the environment.
const CHUNK: &str = r#"
local G, real, shown, setfenv, conv = ...
local error, setmetatable, getmetatable, rawset, pcall = error, setmetatable, getmetatable, rawset, pcall
local loadstring, load = loadstring, load
local RO = "Attempt to modify a readonly table"
setmetatable(real, {__mode = "k"})
setmetatable(shown, {__mode = "k"})
local function fix(ok, ...)
  if ok then return ok, ... end
  return ok, conv((...))
end
G.pcall = function(f, ...) return fix(pcall(f, ...)) end
local function refuse() error(RO, 2) end
local function readonly(t)
  local p = setmetatable({}, {__index = t, __newindex = refuse})
  real[p] = t
  return p
end
local function protect(name)
  local p = readonly(G[name])
  rawset(G, name, p)
  return p
end
for _, name in ipairs({"redis", "cjson", "cmsgpack", "struct", "bit", "math", "table", "coroutine"}) do
  protect(name)
end
-- String methods go through the protected library; getmetatable("") returns the
-- string metatable as a read-only proxy.
local string_mt = getmetatable("")
string_mt.__index = protect("string")
string_mt.__metatable = readonly(string_mt)
local G_mt = {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
}
setmetatable(G, G_mt)
-- Always empty, so every assignment reaches `refuse`.
local env = readonly(G)
shown[env] = readonly(G_mt)
rawset(G, "_G", env)
local function sandboxed(f, ...)
  if f then setfenv(f, env) end
  return f, ...
end
G.loadstring = function(...) return sandboxed(loadstring(...)) end
G.load = function(...) return sandboxed(load(...)) end
return env
"#;
