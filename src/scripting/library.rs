//! Redis 7.0 functions: libraries of Lua functions loaded with FUNCTION LOAD and
//! called with FCALL.
//!
//! A library is code whose first line is `#!lua name=<library>`. Loading it runs the
//! code once in a *loading* environment where only `redis.register_function`,
//! `redis.log`, the log levels and the version constants exist (everything else,
//! `redis.call` and the Lua libraries included, is a "nonexistent global variable"),
//! and collects the functions it registers. Those functions keep the environment
//! they were compiled in, which is the same table scripts run in: once the load is
//! over, its metatable reads through to the full globals again, so a function sees
//! what an EVAL script sees (without `KEYS` and `ARGV`: it gets its keys and
//! arguments as two tables).
//!
//! The functions live in a Lua VM of their own, as in Redis, so that SCRIPT FLUSH
//! keeps them and FUNCTION FLUSH keeps the script cache.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};

use super::{error_message, redis_error, Busy, LoadError, ScriptFlags, Vm};
use crate::resp::Reply;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// The chunk name of library code: errors read `user_function:2: ...`.
const USER_FUNCTION: &str = "@user_function";
/// How long a library's code may run while it loads (Redis's `LOAD_TIMEOUT_MS`).
pub const LOAD_TIMEOUT_MS: u64 = 500;
const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// One registered function.
#[derive(Clone)]
pub struct FunctionInfo {
    pub name: String,
    /// `None` when registered without one (FUNCTION LIST shows a null).
    pub description: Option<Bytes>,
    pub flags: ScriptFlags,
    func: Function,
}

/// A loaded library: its code as given to FUNCTION LOAD and its functions by name.
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: BTreeMap<String, FunctionInfo>,
}

/// How FUNCTION RESTORE treats the libraries already loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Add the payload's libraries; a library that exists already is an error.
    Append,
    /// Add them, replacing libraries of the same name.
    Replace,
    /// Drop every library first.
    Flush,
}

/// Every loaded library, and the VM their functions live in.
///
/// Libraries are kept in name order, so FUNCTION LIST and FUNCTION DUMP are
/// deterministic (Redis lists them in its hash table's order).
pub struct Functions {
    vm: Option<FunctionVm>,
    libraries: BTreeMap<String, Library>,
    /// Function name in lower case → its library's name and its own name: function
    /// names are unique across libraries regardless of case, and FCALL finds them
    /// regardless of case (Redis's function dictionary compares case-insensitively;
    /// library names and the functions within one library are case-sensitive).
    owners: HashMap<String, (String, String)>,
    busy: Arc<Busy>,
    rand: Arc<AtomicU64>,
}

/// The functions' Lua VM with what loading a library needs.
pub struct FunctionVm {
    vm: Vm,
    /// What library code sees while it loads (see the module docs).
    load_globals: Table,
    /// The functions registered by the code being loaded; `None` when no load runs.
    registered: Arc<parking_lot::Mutex<Option<Vec<FunctionInfo>>>>,
}

/// The parsed `#!lua name=...` line of a library.
struct Meta {
    name: String,
    /// Where the code Lua compiles starts: the newline ending the shebang line, so
    /// that line numbers count it.
    body_at: usize,
}

impl Functions {
    pub fn new(busy: Arc<Busy>, rand: Arc<AtomicU64>) -> Functions {
        Functions {
            vm: None,
            libraries: BTreeMap::new(),
            owners: HashMap::default(),
            busy,
            rand,
        }
    }

    /// FUNCTION LOAD: creates the library `code` declares, replacing one of the same
    /// name only if `replace`. Returns its name. `timeout_ms` bounds how long its
    /// code may run (0: no limit, for code that arrives from a peer).
    pub fn load(
        &mut self,
        code: &Bytes,
        replace: bool,
        timeout_ms: u64,
    ) -> Result<String, LoadError> {
        let meta = parse_meta(code)?;
        if !replace && self.libraries.contains_key(&meta.name) {
            return Err(format!("ERR Library '{}' already exists", meta.name));
        }
        let lib = self.create(&meta, code, timeout_ms)?;
        if let Some(f) = lib
            .functions
            .keys()
            .find(|f| self.owner(f).is_some_and(|owner| owner != lib.name))
        {
            return Err(format!("ERR Function {f} already exists"));
        }
        let name = lib.name.clone();
        self.unlink(&name);
        self.link(lib);
        Ok(name)
    }

    /// FUNCTION DELETE. Whether the library existed.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        match std::str::from_utf8(name) {
            Ok(name) => self.unlink(name).is_some(),
            Err(_) => false,
        }
    }

    /// FUNCTION FLUSH: drops every library and the VM with them.
    pub fn flush(&mut self) {
        self.libraries.clear();
        self.owners.clear();
        self.vm = None;
    }

    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// The function called `name`, if loaded.
    pub fn get(&self, name: &[u8]) -> Option<&FunctionInfo> {
        let name = std::str::from_utf8(name).ok()?;
        let (lib, name) = self.owners.get(&name.to_ascii_lowercase())?;
        self.libraries.get(lib)?.functions.get(name)
    }

    /// The library of the function called `name` (in any case).
    fn owner(&self, name: &str) -> Option<&str> {
        self.owners
            .get(&name.to_ascii_lowercase())
            .map(|(lib, _)| lib.as_str())
    }

    /// How many libraries and functions are loaded.
    /// The bytes the functions' Lua heap holds (0 before the first FUNCTION LOAD).
    pub fn vm_memory(&self) -> usize {
        self.vm.as_ref().map_or(0, |f| f.vm.used_memory())
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.libraries.len(), self.owners.len())
    }

    /// Takes the VM out so a function can run while the caller keeps using the
    /// store; [`Functions::put_back`] returns it. `None` when nothing was ever loaded.
    pub fn take_vm(&mut self) -> Option<FunctionVm> {
        self.vm.take()
    }

    pub fn put_back(&mut self, vm: FunctionVm) {
        self.vm = Some(vm);
    }

    /// FUNCTION DUMP: every library as Redis's payload (see `scripting::rdb`).
    pub fn dump(&self) -> Vec<u8> {
        super::rdb::dump(self.libraries.values().map(|l| &l.code[..]))
    }

    /// FUNCTION RESTORE: loads every library of `payload` (all or none of them).
    pub fn restore(&mut self, payload: &[u8], policy: RestorePolicy) -> Result<(), LoadError> {
        let codes = super::rdb::parse(payload)?;
        // The payload's libraries are created first, as Redis loads them into a
        // library set of their own, so a bad payload leaves the current one alone.
        let mut new: BTreeMap<String, Library> = BTreeMap::new();
        for code in codes {
            let meta = parse_meta(&code)?;
            if new.contains_key(&meta.name) {
                return Err(format!("ERR Library '{}' already exists", meta.name));
            }
            let lib = self.create(&meta, &code, 0)?;
            let clash = lib.functions.keys().find(|f| {
                new.values()
                    .flat_map(|l| l.functions.keys())
                    .any(|g| g.eq_ignore_ascii_case(f))
            });
            if let Some(f) = clash {
                return Err(format!("ERR Function {f} already exists"));
            }
            new.insert(lib.name.clone(), lib);
        }
        match policy {
            RestorePolicy::Flush => {
                self.libraries.clear();
                self.owners.clear();
            }
            RestorePolicy::Append => {
                if let Some(name) = new.keys().find(|n| self.libraries.contains_key(*n)) {
                    return Err(format!("ERR Library {name} already exists"));
                }
            }
            RestorePolicy::Replace => {}
        }
        let replaced: Vec<&String> = new
            .keys()
            .filter(|n| self.libraries.contains_key(*n))
            .collect();
        let clash = new.values().flat_map(|l| l.functions.keys()).find(|f| {
            self.owner(f)
                .is_some_and(|owner| !replaced.iter().any(|r| *r == owner))
        });
        if let Some(f) = clash {
            return Err(format!("ERR Function {f} already exists"));
        }
        for lib in new.into_values() {
            self.unlink(&lib.name);
            self.link(lib);
        }
        Ok(())
    }

    fn link(&mut self, lib: Library) {
        for f in lib.functions.keys() {
            self.owners
                .insert(f.to_ascii_lowercase(), (lib.name.clone(), f.clone()));
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in lib.functions.keys() {
            self.owners.remove(&f.to_ascii_lowercase());
        }
        Some(lib)
    }

    /// Compiles the library's code and runs it in the loading environment.
    fn create(&mut self, meta: &Meta, code: &Bytes, timeout_ms: u64) -> Result<Library, LoadError> {
        let fvm = match &mut self.vm {
            Some(vm) => vm,
            None => self.vm.insert(
                FunctionVm::new(self.busy.clone(), self.rand.clone())
                    .map_err(|e| format!("ERR {e}"))?,
            ),
        };
        let functions = fvm.run_loader(&code[meta.body_at..], &self.busy, timeout_ms)?;
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        Ok(Library {
            name: meta.name.clone(),
            code: code.clone(),
            functions: functions.into_iter().map(|f| (f.name.clone(), f)).collect(),
        })
    }
}

impl FunctionVm {
    fn new(busy: Arc<Busy>, rand: Arc<AtomicU64>) -> mlua::Result<FunctionVm> {
        let vm = Vm::new(busy, rand)?;
        let registered = Arc::new(parking_lot::Mutex::new(None::<Vec<FunctionInfo>>));
        let reg = registered.clone();
        // Redis's order of checks: loading at all, the arguments, the name, a
        // duplicate in the library.
        let register = vm.lua.create_function(move |lua, args: MultiValue| {
            if reg.lock().is_none() {
                return Err(redis_error(
                    "redis.register_function can only be called on FUNCTION LOAD command",
                ));
            }
            let f = register_args(lua, &args).map_err(redis_error)?;
            if !valid_name(f.name.as_bytes()) {
                return Err(redis_error(BAD_NAME));
            }
            let mut guard = reg.lock();
            let Some(list) = guard.as_mut() else {
                return Err(redis_error(
                    "redis.register_function can only be called on FUNCTION LOAD command",
                ));
            };
            if list.iter().any(|g| g.name == f.name) {
                return Err(redis_error("Function already exists in the library"));
            }
            list.push(f);
            Ok(())
        })?;
        let api = vm.lua.create_table()?;
        api.raw_set("register_function", register)?;
        for name in [
            "log",
            "LOG_DEBUG",
            "LOG_VERBOSE",
            "LOG_NOTICE",
            "LOG_WARNING",
            "REDIS_VERSION",
            "REDIS_VERSION_NUM",
        ] {
            api.raw_set(name, vm.redis.raw_get::<Value>(name)?)?;
        }
        let load_globals: Table = vm
            .lua
            .load(LOAD_CHUNK)
            .set_name(super::INTERNAL)
            .call(api)?;
        Ok(FunctionVm {
            vm,
            load_globals,
            registered,
        })
    }

    /// Compiles `body` and runs it in the loading environment; returns the
    /// functions it registered.
    fn run_loader(
        &self,
        body: &[u8],
        busy: &Busy,
        timeout_ms: u64,
    ) -> Result<Vec<FunctionInfo>, LoadError> {
        let vm = &self.vm;
        let chunk = vm
            .lua
            .load(super::brackets::unnest(body).as_ref())
            .set_name(USER_FUNCTION)
            .set_environment(vm.env.clone())
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", error_message(&e)))?;
        let env_mt = vm
            .env
            .metatable()
            .ok_or_else(|| "ERR the functions engine is not available".to_string())?;
        let swap = |index: Value| {
            env_mt
                .raw_set("__index", index)
                .map_err(|e| format!("ERR {e}"))
        };
        swap(Value::Table(self.load_globals.clone()))?;
        *self.registered.lock() = Some(Vec::new());
        if timeout_ms > 0 {
            busy.load_deadline_ms
                .store(crate::store::unix_ms() + timeout_ms, Ordering::Relaxed);
        }
        let out = vm.xpcall.call::<MultiValue>((chunk, vm.handler.clone()));
        busy.load_deadline_ms.store(0, Ordering::Relaxed);
        let registered = self.registered.lock().take().unwrap_or_default();
        swap(Value::Table(vm.globals.clone()))?;
        let out =
            out.map_err(|e| format!("ERR Error registering functions: {}", error_message(&e)))?;
        let mut out = out.into_iter();
        if matches!(out.next(), Some(Value::Boolean(true))) {
            return Ok(registered);
        }
        let err = match out.next() {
            Some(Value::Table(t)) => match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => "(null)".to_string(),
            },
            _ => "(null)".to_string(),
        };
        Err(format!("ERR Error registering functions: {err}"))
    }

    /// Runs the function `f` with its keys and arguments (see [`Vm::run`]).
    pub fn run(
        &self,
        f: &FunctionInfo,
        keys: &[Bytes],
        args: &[Bytes],
        busy: (&Busy, u64, u64),
        exec: &mut dyn FnMut(&[Bytes], u8) -> Reply,
    ) -> Reply {
        self.vm
            .invoke(&f.func, &f.name, Some((keys, args)), busy, exec)
    }
}

/// Library and function names: `[A-Za-z0-9_]+`.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses the library's shebang line as Redis's `functionExtractLibMetaData` and
/// checks its name and engine, with Redis's texts and order of checks.
fn parse_meta(code: &[u8]) -> Result<Meta, LoadError> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let invalid = || "ERR Invalid library metadata".to_string();
    let nl = memchr::memchr(b'\n', code).ok_or_else(invalid)?;
    let parts = crate::resp::split_args(&code[..nl]).ok_or_else(invalid)?;
    let (first, rest) = parts.split_first().ok_or_else(invalid)?;
    let engine = first.get(2..).unwrap_or_default();
    let mut name: Option<&[u8]> = None;
    for part in rest {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(&part[5..]);
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let name = name.ok_or_else(|| "ERR Library name was not given".to_string())?;
    if !valid_name(name) {
        return Err(format!("ERR {BAD_NAME}"));
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(engine)
        ));
    }
    Ok(Meta {
        name: String::from_utf8_lossy(name).into_owned(),
        body_at: nl,
    })
}

/// A string argument as Lua's `lua_tostring` gives it (numbers are converted).
fn lua_string(lua: &Lua, v: &Value) -> Option<Bytes> {
    match v {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| Bytes::copy_from_slice(&s.as_bytes())),
        _ => None,
    }
}

/// The arguments of `redis.register_function`: `(name, callback)` or one table of
/// named arguments, with Redis's error texts.
fn register_args(lua: &Lua, args: &MultiValue) -> Result<FunctionInfo, &'static str> {
    let flags = ScriptFlags {
        shebang: true,
        ..Default::default()
    };
    match args.len() {
        1 => named_register_args(lua, &args[0]),
        2 => {
            let name = lua_string(lua, &args[0])
                .ok_or("first argument to redis.register_function must be a string")?;
            let Value::Function(func) = &args[1] else {
                return Err("second argument to redis.register_function must be a function");
            };
            Ok(FunctionInfo {
                name: String::from_utf8_lossy(&name).into_owned(),
                description: None,
                flags,
                func: func.clone(),
            })
        }
        _ => Err("wrong number of arguments to redis.register_function"),
    }
}

fn named_register_args(lua: &Lua, arg: &Value) -> Result<FunctionInfo, &'static str> {
    let Value::Table(t) = arg else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut description, mut func) = (None, None, None);
    let mut flags = ScriptFlags {
        shebang: true,
        ..Default::default()
    };
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|_| "unknown argument given to redis.register_function")?;
        let key = lua_string(lua, &k)
            .ok_or("named argument key given to redis.register_function is not a string")?;
        if key.eq_ignore_ascii_case(b"function_name") {
            name = Some(lua_string(lua, &v).ok_or(
                "function_name argument given to redis.register_function must be a string",
            )?);
        } else if key.eq_ignore_ascii_case(b"description") {
            description =
                Some(lua_string(lua, &v).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?);
        } else if key.eq_ignore_ascii_case(b"callback") {
            let Value::Function(f) = v else {
                return Err(
                    "callback argument given to redis.register_function must be a function",
                );
            };
            func = Some(f);
        } else if key.eq_ignore_ascii_case(b"flags") {
            let Value::Table(list) = v else {
                return Err("flags argument to redis.register_function must be a table representing function flags");
            };
            read_flags(lua, &list, &mut flags).ok_or("unknown flag given")?;
        } else {
            return Err("unknown argument given to redis.register_function");
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let func = func.ok_or("redis.register_function must get a callback argument")?;
    Ok(FunctionInfo {
        name: String::from_utf8_lossy(&name).into_owned(),
        description,
        flags,
        func,
    })
}

/// Reads `flags={...}` (names compared case-insensitively); `None` on an unknown one.
fn read_flags(lua: &Lua, list: &Table, flags: &mut ScriptFlags) -> Option<()> {
    for i in 1.. {
        let v = list.raw_get::<Value>(i).ok()?;
        if v == Value::Nil {
            break;
        }
        let s = lua_string(lua, &v)?;
        let s = String::from_utf8_lossy(&s).to_ascii_lowercase();
        match s.as_str() {
            "no-writes" => flags.no_writes = true,
            "allow-oom" => flags.allow_oom = true,
            "allow-stale" => flags.allow_stale = true,
            "no-cluster" => flags.no_cluster = true,
            "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
            _ => return None,
        }
    }
    Some(())
}

/// The function flags' names as FUNCTION LIST prints them, in Redis's order.
pub fn flag_names(flags: &ScriptFlags) -> Vec<&'static str> {
    [
        (flags.no_writes, "no-writes"),
        (flags.allow_oom, "allow-oom"),
        (flags.allow_stale, "allow-stale"),
        (flags.no_cluster, "no-cluster"),
        (flags.allow_cross_slot_keys, "allow-cross-slot-keys"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

/// The loading environment: `redis` with only the API given (`register_function`,
/// `log`, constants); any other name, in the globals or in `redis`, is an error
/// naming it, and every assignment is refused.
const LOAD_CHUNK: &str = r#"
local api = ...
local error, setmetatable, tostring = error, setmetatable, tostring
local RO = "Attempt to modify a readonly table"
local function protected(t)
  return setmetatable({}, {
    __index = function(_, k)
      local v = t[k]
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end,
    __newindex = function() error(RO, 2) end,
    __metatable = false,
  })
end
return protected({redis = protected(api)})
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_err(code: &str) -> String {
        match parse_meta(code.as_bytes()) {
            Ok(_) => "ok".into(),
            Err(e) => e,
        }
    }

    #[test]
    fn shebang_rules() {
        assert_eq!(meta_err("return 1"), "ERR Missing library metadata");
        assert_eq!(meta_err("#!lua name=x"), "ERR Invalid library metadata");
        assert_eq!(meta_err("#!lua\n"), "ERR Library name was not given");
        assert_eq!(
            meta_err("#!lua name=a foo=b\n"),
            "ERR Invalid metadata value given: foo=b"
        );
        assert_eq!(
            meta_err("#!lua name=a NAME=b\n"),
            "ERR Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(meta_err("#!lua name=a-b\n"), format!("ERR {BAD_NAME}"));
        assert_eq!(meta_err("#!js name=a\n"), "ERR Engine 'js' not found");
        assert_eq!(meta_err("#!LUA name=a_1\nreturn"), "ok");
        let m = parse_meta(b"#!lua name=lib\ncode").unwrap();
        assert_eq!((m.name.as_str(), m.body_at), ("lib", 14));
    }

    #[test]
    fn flags_in_redis_order() {
        let f = ScriptFlags {
            no_writes: true,
            no_cluster: true,
            ..Default::default()
        };
        assert_eq!(flag_names(&f), ["no-writes", "no-cluster"]);
    }
}
