//! The Lua 5.1 engine behind EVAL and friends and FCALL, with Redis 7.0's sandbox.
//!
//! One Lua VM per server for scripts (created at first use, dropped by SCRIPT
//! FLUSH), holding the compiled scripts by SHA1, and one for the function libraries
//! (`library`, dropped by FUNCTION FLUSH), built the same way. The VM knows nothing about commands: a script's
//! `redis.call` goes through the `exec` closure the caller passes to [`Vm::run`]
//! (`commands::scripting` resolves and runs the command there, under the store lock
//! the caller already holds, which is what makes a script atomic).
//!
//! * Sandbox: the base, table, string, math and coroutine libraries, minus what Redis
//!   7.0 removes (`print`, `setfenv`, `require`, `loadfile`, `dofile`, `os`, `io`,
//!   `debug`...). Globals and library tables are read-only, existing names included
//!   ("Attempt to modify a readonly table"), and unknown reads fail ("Script
//!   attempted to access nonexistent global variable"): see `sandbox`.
//! * Errors: whatever a script raises is turned, as Redis's `__redis__err__handler`
//!   does, into a table `{err=..., source=..., line=...}` whose reply is
//!   `<err> script: <sha>, on <source>:<line>.`.
//! * Busy scripts: [`Busy`] is shared with the connections (outside the store lock),
//!   so that once a script runs longer than `busy-reply-threshold` they answer BUSY
//!   instead of waiting, and SCRIPT KILL can ask the script to stop: an instruction
//!   count hook checks the kill flag.

mod bit;
mod brackets;
mod cjson;
mod cmsgpack;
mod convert;
mod library;
mod lzf;
mod rand48;
mod rdb;
mod sandbox;
mod structlib;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::resp::Reply;

pub use library::{flag_names, FunctionInfo, Functions, Library, RestorePolicy, LOAD_TIMEOUT_MS};

/// The chunk name of user scripts: errors read `user_script:1: ...`.
const USER_SCRIPT: &str = "@user_script";
/// The chunk name of the engine's own Lua code; error positions skip its frames.
const INTERNAL: &str = "=redis";
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
/// How long a script runs on its worker before that worker's other tasks move away.
const HAND_OFF_AFTER_MS: u64 = 1;

/// The state of the running script, shared with every connection.
#[derive(Debug, Default)]
pub struct Busy {
    /// Unix ms when the running script started; 0 when none runs.
    started_ms: AtomicU64,
    /// `busy-reply-threshold` when it started.
    limit_ms: AtomicU64,
    kill: AtomicBool,
    /// The running script has run a write command (SCRIPT KILL refuses then).
    wrote: AtomicBool,
    /// What runs: an EVAL script (`None`) or a function, with what FUNCTION STATS
    /// shows about it. SCRIPT KILL and FUNCTION KILL each stop only their own kind,
    /// and the BUSY text names the right one.
    function: parking_lot::Mutex<Option<RunningFunction>>,
    /// Whether `function` is set, so that the end of every EVAL does not take its lock.
    function_set: AtomicBool,
    /// Unix ms after which a FUNCTION LOAD's code is stopped (0: no load runs).
    /// Checked by the same instruction hook as the kill flag.
    load_deadline_ms: AtomicU64,
}

/// A function being run (FCALL), as FUNCTION STATS reports it while it is busy.
#[derive(Debug, Clone)]
pub struct RunningFunction {
    pub name: String,
    /// The FCALL command that runs it.
    pub command: Vec<Bytes>,
    /// Libraries and functions loaded (they cannot change while it runs).
    pub libraries: usize,
    pub functions: usize,
}

/// What SCRIPT KILL or FUNCTION KILL achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Kill {
    Killed,
    NotBusy,
    Unkillable,
    /// SCRIPT KILL while a function runs.
    IsFunction,
    /// FUNCTION KILL while an EVAL script runs.
    IsEval,
}

impl Busy {
    fn begin(&self, now_ms: u64, limit_ms: u64) {
        self.kill.store(false, Ordering::SeqCst);
        self.wrote.store(false, Ordering::SeqCst);
        self.limit_ms.store(limit_ms, Ordering::SeqCst);
        self.started_ms.store(now_ms.max(1), Ordering::SeqCst);
    }

    fn end(&self) {
        self.started_ms.store(0, Ordering::SeqCst);
        self.kill.store(false, Ordering::SeqCst);
        // Only the runner writes `function_set`: a plain load spares every EVAL a
        // locked swap.
        if self.function_set.load(Ordering::SeqCst) {
            self.function_set.store(false, Ordering::SeqCst);
            *self.function.lock() = None;
        }
    }

    /// Says that the next run is the function `f` (FCALL), not an EVAL script.
    pub fn set_function(&self, f: RunningFunction) {
        *self.function.lock() = Some(f);
        self.function_set.store(true, Ordering::SeqCst);
    }

    /// Whether what runs (or ran last, until it ends) is a function, not a script.
    pub fn runs_function(&self) -> bool {
        self.function_set.load(Ordering::SeqCst)
    }

    /// The running function, if what runs is a function.
    pub fn running_function(&self) -> Option<RunningFunction> {
        self.function.lock().clone()
    }

    /// Records that the running script wrote to the keyspace.
    pub fn mark_write(&self) {
        self.wrote.store(true, Ordering::SeqCst);
    }

    /// How long the running script has run.
    pub fn duration_ms(&self, now_ms: u64) -> u64 {
        let started = self.started_ms.load(Ordering::SeqCst);
        if started == 0 {
            0
        } else {
            now_ms.saturating_sub(started)
        }
    }

    /// Whether a script is running.
    pub fn running(&self) -> bool {
        self.started_ms.load(Ordering::SeqCst) != 0
    }

    /// Whether a script has been running for longer than `busy-reply-threshold`:
    /// other clients get BUSY then.
    pub fn timed_out(&self, now_ms: u64) -> bool {
        let started = self.started_ms.load(Ordering::SeqCst);
        started != 0 && now_ms.saturating_sub(started) >= self.limit_ms.load(Ordering::SeqCst)
    }

    /// SCRIPT KILL (`function` false) or FUNCTION KILL from another client, with
    /// Redis's order of checks: nothing busy, already written, wrong kind.
    pub fn kill(&self, now_ms: u64, function: bool) -> Kill {
        if !self.timed_out(now_ms) {
            return Kill::NotBusy;
        }
        if self.wrote.load(Ordering::SeqCst) {
            return Kill::Unkillable;
        }
        match (function, self.runs_function()) {
            (false, true) => return Kill::IsFunction,
            (true, false) => return Kill::IsEval,
            _ => {}
        }
        self.kill.store(true, Ordering::SeqCst);
        Kill::Killed
    }

    /// Once the running script has run for [`HAND_OFF_AFTER_MS`], the runtime worker
    /// running it hands its other tasks (new connections and their BUSY replies) to
    /// another thread. Doing that around every script (`block_in_place` per EVALSHA)
    /// cost two thirds of EVALSHA's throughput. A handoff that loses the race to take
    /// its core back is retried by the next hook call; once handed off, the call is
    /// a no-op.
    fn hand_off_if_long(&self) {
        let started = self.started_ms.load(Ordering::Relaxed);
        if started == 0 || crate::store::unix_ms().saturating_sub(started) < HAND_OFF_AFTER_MS {
            return;
        }
        let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
        if matches!(flavor, Ok(tokio::runtime::RuntimeFlavor::MultiThread)) {
            tokio::task::block_in_place(|| ());
        }
    }

    /// Whether a FUNCTION LOAD's code has run past its deadline.
    fn load_timed_out(&self) -> bool {
        let deadline = self.load_deadline_ms.load(Ordering::Relaxed);
        deadline != 0 && crate::store::unix_ms() > deadline
    }

    /// SHUTDOWN NOSAVE during a busy script: stop it whatever it wrote.
    pub fn force_kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

/// The flags of a script's `#!lua flags=...` line (Redis 7.0's `SCRIPT_FLAG_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// The script has a shebang line (otherwise it runs in compatibility mode).
    pub shebang: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

/// Scripts known to the server: the VM (made at first use) and the busy state.
pub struct Scripts {
    vm: Option<Vm>,
    pub busy: Arc<Busy>,
    /// `math.random`'s state: one per server, kept across SCRIPT FLUSH, as Redis's.
    rand: Arc<AtomicU64>,
    /// The function libraries (FUNCTION LOAD, FCALL), in a VM of their own as in
    /// Redis: SCRIPT FLUSH does not touch them, nor FUNCTION FLUSH the scripts.
    pub functions: Functions,
}

impl Default for Scripts {
    fn default() -> Self {
        let busy = Arc::<Busy>::default();
        let rand = rand48::initial();
        Scripts {
            vm: None,
            functions: Functions::new(busy.clone(), rand.clone()),
            busy,
            rand,
        }
    }
}

impl Scripts {
    /// Takes the VM out (creating it if needed) so a script can run while the caller
    /// keeps using the store; [`Scripts::put_back`] returns it.
    pub fn take_vm(&mut self) -> Result<Vm, String> {
        match self.vm.take() {
            Some(vm) => Ok(vm),
            None => Vm::new(self.busy.clone(), self.rand.clone()).map_err(|e| e.to_string()),
        }
    }

    pub fn put_back(&mut self, vm: Vm) {
        self.vm = Some(vm);
    }

    /// SCRIPT FLUSH: forget every script and start a fresh VM at next use.
    pub fn flush(&mut self) {
        self.vm = None;
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        let sha = sha_key(sha);
        self.vm
            .as_ref()
            .is_some_and(|vm| vm.scripts.contains_key(sha.as_ref()))
    }

    /// INFO memory's figures for EVAL: the VM's heap (0 before the first script
    /// makes it), the script cache as Redis 7.0 estimates it, and the number of
    /// cached scripts.
    pub fn memory(&self) -> (usize, usize, usize) {
        self.vm.as_ref().map_or((0, 0, 0), |vm| {
            let n = vm.scripts.len();
            let cache: usize = vm
                .scripts
                .values()
                .map(|s| cache_entry_size(s.body.len()))
                .sum();
            (vm.used_memory(), cache + dict_overhead(n), n)
        })
    }
}

/// One script in Redis's `evalScriptsMemory`: its SHA1 as an sds (`sdshdr8`, 40
/// digits, NUL) and its body as the client sent it (an embedded string up to 44
/// bytes, else an sds), as the allocator rounds them, plus its `dictEntry` and
/// `luaScript` (24 + 16 bytes).
fn cache_entry_size(body: usize) -> usize {
    use crate::store::value::alloc_size;
    let body = if body <= 44 {
        alloc_size(16 + 3 + body + 1) - 16
    } else {
        let header = match body {
            0..=255 => 3,
            256..=65535 => 5,
            _ => 9,
        };
        alloc_size(header + body + 1)
    };
    alloc_size(3 + 40 + 1) + body + 24 + 16
}

/// A Redis dict's bucket array for `n` entries: none while empty, then a power of
/// two from 4 that doubles when it is full.
fn dict_overhead(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.next_power_of_two().max(4) * 8
    }
}

struct Script {
    body: Bytes,
    flags: ScriptFlags,
    func: Function,
}

/// Errors of EVAL/SCRIPT LOAD before a script runs, as reply texts.
pub type LoadError = String;

/// The Lua VM with the compiled scripts.
pub struct Vm {
    lua: Lua,
    globals: Table,
    /// The scripts' environment (`_G` as they see it): empty, reading through to
    /// `globals` and refusing assignments.
    env: Table,
    redis: Table,
    /// The keys a run sets (`KEYS`, `ARGV` in the globals, `call` in `redis`), made
    /// once: a Rust `&str` key is hashed and interned by Lua on every use.
    names: Names,
    xpcall: Function,
    handler: Function,
    /// `(f, handler, keys, args)` → `xpcall` of `f(keys, args)`: how a function is
    /// called (Lua 5.1's `xpcall` passes no arguments).
    fn_call: Function,
    scripts: HashMap<String, Script>,
    /// `redis.setresp`: the protocol command replies are converted from.
    resp: Arc<AtomicU8>,
}

struct Names {
    keys: mlua::LuaString,
    argv: mlua::LuaString,
    call: mlua::LuaString,
}

/// A SHA1 given by a client as the script cache's key (Redis accepts upper-case hex).
/// The usual lower-case one is borrowed, not copied: EVALSHA looks it up per call.
pub fn sha_key(sha: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(sha) {
        Ok(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) => s.into(),
        Ok(s) => s.to_ascii_lowercase().into(),
        Err(_) => String::from_utf8_lossy(sha).to_ascii_lowercase().into(),
    }
}

/// SHA1 of `body` as 40 lower-case hex digits.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

impl Vm {
    fn new(busy: Arc<Busy>, rand: Arc<AtomicU64>) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        let globals = lua.globals();
        // The sandbox needs `setfenv` to give `loadstring`'s chunks the scripts'
        // environment; scripts themselves never see it.
        let setfenv = globals.raw_get::<Function>("setfenv")?;
        for name in [
            "print", "setfenv", "getfenv", "require", "module", "newproxy", "loadfile", "dofile",
            "package", "os", "io", "debug",
        ] {
            globals.raw_set(name, Value::Nil)?;
        }
        let resp = Arc::new(AtomicU8::new(2));
        rand48::install(&lua, &globals.raw_get::<Table>("math")?, rand)?;
        let names = Names {
            keys: lua.create_string("KEYS")?,
            argv: lua.create_string("ARGV")?,
            call: lua.create_string("call")?,
        };
        let redis = make_redis_table(&lua, resp.clone(), names.call.clone())?;
        globals.raw_set("redis", redis.clone())?;
        globals.raw_set("cjson", cjson::table(&lua)?)?;
        globals.raw_set("cmsgpack", cmsgpack::table(&lua)?)?;
        globals.raw_set("struct", structlib::table(&lua)?)?;
        globals.raw_set("bit", bit::table(&lua)?)?;
        let handler = lua.create_function(error_handler)?;
        globals.raw_set("__redis__err__handler", handler.clone())?;
        let conv = lua.create_function(|lua, v: Value| caught_error(lua, v))?;
        let env = sandbox::install(&lua, &globals, setfenv, conv)?;
        let xpcall = globals.raw_get::<Function>("xpcall")?;
        let fn_call = lua
            .load(FN_CALL)
            .set_name(INTERNAL)
            .call::<Function>(xpcall.clone())?;
        let hook_busy = busy;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(1000),
            move |_, _| {
                if hook_busy.kill.load(Ordering::Relaxed) {
                    Err(mlua::Error::external(Raised(KILLED.into())))
                } else if hook_busy.load_timed_out() {
                    Err(mlua::Error::external(Raised(
                        "ERR FUNCTION LOAD timeout".into(),
                    )))
                } else {
                    hook_busy.hand_off_if_long();
                    Ok(VmState::Continue)
                }
            },
        )?;
        Ok(Vm {
            lua,
            globals,
            env,
            redis,
            names,
            xpcall,
            handler,
            fn_call,
            scripts: HashMap::default(),
            resp,
        })
    }

    /// Compiles and caches `body` (SCRIPT LOAD, EVAL). Returns its SHA1.
    pub fn load(&mut self, body: &Bytes) -> Result<String, LoadError> {
        let sha = sha1_hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code) = parse_shebang(body)?;
        let func = self
            .lua
            .load(brackets::unnest(&code).as_ref())
            .set_name(USER_SCRIPT)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    error_message(&e)
                )
            })?;
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.clone(),
                flags,
                func,
            },
        );
        Ok(sha)
    }

    /// The bytes the Lua heap holds now.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// The flags of a cached script (`None`: not loaded, NOSCRIPT).
    pub fn flags(&self, sha: &str) -> Option<ScriptFlags> {
        self.scripts.get(sha).map(|s| s.flags)
    }

    /// Runs the cached script `sha` with KEYS and ARGV; `exec` runs one command for
    /// `redis.call`/`redis.pcall` in the protocol the script chose and returns its
    /// reply. `busy` times the run.
    pub fn run(
        &mut self,
        sha: &str,
        keys: &[Bytes],
        argv: &[Bytes],
        busy: (&Busy, u64, u64),
        exec: &mut dyn FnMut(&[Bytes], u8) -> Reply,
    ) -> Reply {
        let Some(script) = self.scripts.get(sha) else {
            return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
        };
        let func = script.func.clone();
        let lua = &self.lua;
        let set = sequence(lua, keys)
            .and_then(|k| self.globals.raw_set(&self.names.keys, k))
            .and_then(|()| sequence(lua, argv))
            .and_then(|a| self.globals.raw_set(&self.names.argv, a));
        if let Err(e) = set {
            return run_error(sha, &e);
        }
        self.invoke(&func, sha, None, busy, exec)
    }

    /// Runs `func` (a script's chunk, or with `fn_args` a function called with its
    /// keys and arguments tables) timed by `busy`, and turns what it returned or
    /// raised into a reply; errors name `label` (the script's SHA1 or the function).
    fn invoke(
        &self,
        func: &Function,
        label: &str,
        fn_args: Option<(&[Bytes], &[Bytes])>,
        busy: (&Busy, u64, u64),
        exec: &mut dyn FnMut(&[Bytes], u8) -> Reply,
    ) -> Reply {
        self.resp.store(2, Ordering::Relaxed);
        let (busy, now_ms, limit_ms) = busy;
        busy.begin(now_ms, limit_ms);
        let result = self.call(func, label, fn_args, exec);
        busy.end();
        result.unwrap_or_else(|e| run_error(label, &e))
    }

    fn call(
        &self,
        func: &Function,
        label: &str,
        fn_args: Option<(&[Bytes], &[Bytes])>,
        exec: &mut dyn FnMut(&[Bytes], u8) -> Reply,
    ) -> mlua::Result<Reply> {
        let lua = &self.lua;
        let exec = std::cell::RefCell::new(exec);
        // `redis.call`: runs one command and raises its error reply. It lives as long
        // as this run (it borrows `exec`); `redis.pcall` is permanent and calls it.
        let call = |lua: &Lua, args: MultiValue| -> mlua::Result<Value> {
            let reply = match command_args(&args) {
                Ok(cmd) => {
                    let mut exec = exec
                        .try_borrow_mut()
                        .map_err(|_| mlua::Error::RecursiveMutCallback)?;
                    exec(&cmd, self.resp.load(Ordering::Relaxed))
                }
                Err(text) => Reply::Error(text.into()),
            };
            match reply {
                Reply::Error(e) => Err(mlua::Error::external(Raised(convert::error_text(
                    &format!("-{e}"),
                )))),
                reply => convert::reply_to_lua(lua, &reply, self.resp.load(Ordering::Relaxed)),
            }
        };
        lua.scope(|scope| {
            self.redis
                .raw_set(&self.names.call, scope.create_function(call)?)?;
            // xpcall's status and the first value returned or raised: Redis keeps
            // one result, and reading two values off the stack builds no list.
            let (ok, value): (bool, Value) = match fn_args {
                None => self.xpcall.call((func, &self.handler))?,
                Some((keys, args)) => self.fn_call.call((
                    func,
                    &self.handler,
                    sequence(lua, keys)?,
                    sequence(lua, args)?,
                ))?,
            };
            let resp3 = self.resp.load(Ordering::Relaxed) == 3;
            Ok(if ok {
                convert::lua_to_reply(&value, resp3)
            } else {
                convert::error_table_reply(&value, label)
            })
        })
    }
}

/// A Lua sequence of `items` as strings (KEYS and ARGV, or a function's two tables).
fn sequence(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    lua.create_sequence_from(items.iter().map(|b| bstr::BStr::new(&b[..])))
}

/// The reply for a run the engine itself failed (not an error the script raised).
fn run_error(label: &str, e: &mlua::Error) -> Reply {
    Reply::Error(format!(
        "ERR Error running script (call to f_{label}): {}",
        error_message(e)
    ))
}

/// Calls a function with its keys and arguments under the error handler. Not a
/// tail call, so that the error handler finds the function's own frame.
const FN_CALL: &str = r#"
local xpcall = ...
return function(f, handler, keys, args)
  return xpcall(function()
    local r = f(keys, args)
    return r
  end, handler)
end
"#;

/// A script error raised from Rust with its full reply text (no `ERR ` added).
#[derive(Debug)]
struct Raised(String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// An error of a `redis.*` function: Redis raises these as `{err="ERR ..."}`, without
/// a position in the text.
fn redis_error(msg: &str) -> mlua::Error {
    mlua::Error::external(Raised(format!("ERR {msg}")))
}

/// An error for a Rust library function, positioned like `luaL_error` (the calling
/// Lua line, `user_script:1: `).
pub(crate) fn lua_error(lua: &Lua, msg: impl std::fmt::Display) -> mlua::Error {
    let pos = lua
        .inspect_stack(1, |d| {
            let line = d.current_line()?;
            let src = d.source().short_src?.into_owned();
            Some(format!("{src}:{line}: "))
        })
        .flatten()
        .unwrap_or_default();
    mlua::Error::RuntimeError(format!("{pos}{msg}"))
}

/// `bad argument #n to 'f' (msg)`, as `luaL_argerror`.
/// The function is named `'?'` when its caller is not Lua code (`pcall(f)`), as
/// Lua names functions from the calling instruction.
pub(crate) fn arg_error(lua: &Lua, n: usize, f: &str, msg: &str) -> mlua::Error {
    let from_lua = lua
        .inspect_stack(1, |d| d.source().what != "C")
        .unwrap_or(false);
    let f = if from_lua { f } else { "?" };
    lua_error(lua, format!("bad argument #{n} to '{f}' ({msg})"))
}

/// The text of an error as Lua would print it (without mlua's traceback).
pub(super) fn error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::WithContext { cause, .. } => error_message(cause),
        mlua::Error::RuntimeError(s) | mlua::Error::SyntaxError { message: s, .. } => s.clone(),
        mlua::Error::ExternalError(x) => x.to_string(),
        other => other.to_string(),
    }
}

/// Whether the error came from [`Raised`] (its text is final).
fn raised_text(e: &mlua::Error) -> Option<String> {
    match e {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            raised_text(cause)
        }
        mlua::Error::ExternalError(x) => x.downcast_ref::<Raised>().map(|r| r.0.clone()),
        _ => None,
    }
}

/// What a script's `pcall` returns for an error, as Redis 7.0's `pcall` wrapper: an
/// error table's `err` string, a Rust error's text, other values unchanged.
fn caught_error(lua: &Lua, v: Value) -> mlua::Result<Value> {
    match &v {
        Value::Table(t) => match t.raw_get::<Value>("err")? {
            Value::String(s) => Ok(Value::String(s)),
            _ => Ok(v),
        },
        Value::Error(e) => {
            let text = raised_text(e).unwrap_or_else(|| error_message(e));
            Ok(Value::String(lua.create_string(text)?))
        }
        _ => Ok(v),
    }
}

/// The `xpcall` message handler, as Redis's `__redis__err__handler`: the error
/// becomes a table `{err=..., source=..., line=...}` located at the first Lua frame
/// of the script (not a C function, not the engine's own code).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let t = match err {
        Value::Table(t) => t,
        other => {
            let text = match &other {
                Value::Error(e) => {
                    raised_text(e).unwrap_or_else(|| format!("ERR {}", error_message(e)))
                }
                Value::String(s) => format!("ERR {}", s.to_string_lossy()),
                Value::Integer(i) => format!("ERR {i}"),
                Value::Number(n) => format!("ERR {}", crate::num::fmt_g(*n, 14)),
                Value::Nil => "ERR nil".to_string(),
                Value::Boolean(b) => format!("ERR {b}"),
                _ => "ERR (error object is not a string)".to_string(),
            };
            let t = lua.create_table()?;
            t.raw_set("err", text)?;
            t
        }
    };
    for level in 1..20 {
        let frame = lua.inspect_stack(level, |d| {
            let src = d.source();
            let what_c = src.what == "C";
            let source = src.source.map(|s| s.into_owned()).unwrap_or_default();
            (what_c, source, d.current_line())
        });
        let Some((what_c, source, line)) = frame else {
            break;
        };
        if what_c || source == INTERNAL {
            continue;
        }
        t.raw_set("source", source)?;
        if let Some(line) = line {
            t.raw_set("line", line)?;
        }
        break;
    }
    Ok(t)
}

/// The arguments of `redis.call`: strings, or numbers formatted as `%.17g`.
fn command_args(args: &MultiValue) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    args.iter()
        .map(|v| match v {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => Ok(Bytes::from(crate::num::fmt_g17(*i as f64))),
            Value::Number(n) => Ok(Bytes::from(crate::num::fmt_g17(*n))),
            _ => Err("ERR Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// The `redis` table's functions (each run adds `call`, which lives as long as the
/// run). `pcall` is `call` with the command's error reply returned as `{err=...}`
/// instead of raised, as Redis's `luaRedisPCallCommand`.
fn make_redis_table(lua: &Lua, resp: Arc<AtomicU8>, call: mlua::LuaString) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    let table = redis.clone();
    redis.raw_set(
        "pcall",
        lua.create_function(move |lua, args: MultiValue| {
            let call: Function = table.raw_get(&call)?;
            match call.call::<Value>(args) {
                Ok(v) => Ok(v),
                Err(e) => match raised_text(&e) {
                    Some(text) => {
                        let t = lua.create_table()?;
                        t.raw_set("err", text)?;
                        Ok(Value::Table(t))
                    }
                    None => Err(e),
                },
            }
        })?,
    )?;
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, v: Value| {
            let Value::String(s) = v else {
                return error_table(lua, "wrong number or type of arguments");
            };
            let s = s.to_string_lossy();
            let with_dash = if s.starts_with('-') {
                s
            } else {
                format!("-{s}")
            };
            error_table(lua, &with_dash)
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, v: Value| {
            let Value::String(s) = v else {
                return error_table(lua, "wrong number or type of arguments");
            };
            let t = lua.create_table()?;
            t.raw_set("ok", s)?;
            Ok(t)
        })?,
    )?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return Err(redis_error("wrong number of arguments"));
            }
            let s = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(i) => i.to_string().into_bytes(),
                Value::Number(n) => crate::num::fmt_g(*n, 14).into_bytes(),
                _ => Vec::new(),
            };
            Ok(sha1_hex(&s))
        })?,
    )?;
    redis.raw_set(
        "log",
        lua.create_function(|_, args: MultiValue| {
            if args.len() < 2 {
                return Err(redis_error("redis.log() requires two arguments or more."));
            }
            let level = match &args[0] {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                _ => return Err(redis_error("First argument must be a number (log level).")),
            };
            if !(0..=3).contains(&level) {
                return Err(redis_error("Invalid debug level."));
            }
            let text: Vec<String> = args
                .iter()
                .skip(1)
                .map(|v| match v {
                    Value::String(s) => s.to_string_lossy(),
                    Value::Integer(i) => i.to_string(),
                    Value::Number(n) => crate::num::fmt_g(*n, 14),
                    _ => String::new(),
                })
                .collect();
            let text = text.join(" ");
            match level {
                0 => tracing::debug!(target: "lua", "{text}"),
                1 | 2 => tracing::info!(target: "lua", "{text}"),
                _ => tracing::warn!(target: "lua", "{text}"),
            }
            Ok(())
        })?,
    )?;
    for (name, v) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, v)?;
    }
    redis.raw_set("REDIS_VERSION", crate::REDIS_VERSION)?;
    redis.raw_set("REDIS_VERSION_NUM", version_num(crate::REDIS_VERSION))?;
    redis.raw_set(
        "setresp",
        lua.create_function(move |_, args: MultiValue| {
            if args.len() != 1 {
                return Err(redis_error("redis.setresp() requires one argument."));
            }
            let v = match &args[0] {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                Value::String(s) => s
                    .to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .map_or(0, |n| n as i64),
                _ => 0,
            };
            if v != 2 && v != 3 {
                return Err(redis_error("RESP version must be 2 or 3."));
            }
            resp.store(v as u8, Ordering::Relaxed);
            Ok(())
        })?,
    )?;
    redis.raw_set(
        "set_repl",
        lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return Err(redis_error("redis.set_repl() requires two arguments."));
            }
            let v = match &args[0] {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                _ => -1,
            };
            if !(0..=3).contains(&v) {
                return Err(redis_error(
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            Ok(())
        })?,
    )?;
    // Effects replication is the only mode since 7.0: these are accepted as no-ops.
    redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    Ok(redis)
}

/// `{err=...}` from an error text starting with `-`, as Redis's `luaPushErrorBuff`:
/// `-CODE msg` keeps its code, a text without a space gets `ERR`.
fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", convert::error_text(text))?;
    Ok(t)
}

/// `7.0.15` → 0x07000f.
fn version_num(v: &str) -> i64 {
    v.split('.')
        .take(3)
        .fold(0, |acc, p| (acc << 8) | p.parse::<i64>().unwrap_or(0))
}

/// Parses a `#!lua flags=a,b` first line. Returns the flags and the code Lua
/// compiles (the shebang line turned into a comment, so line numbers stay).
fn parse_shebang(body: &Bytes) -> Result<(ScriptFlags, Bytes), LoadError> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::default(), body.clone()));
    }
    let end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags {
        shebang: true,
        ..Default::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" => flags.no_cluster = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    let mut code = Vec::with_capacity(body.len());
    code.extend_from_slice(b"--");
    code.extend_from_slice(&body[2..]);
    Ok((flags, Bytes::from(code)))
}

/// The largest key and the number of keys of `t` when every key is a positive integer
/// (as a Lua integer or an integral number), else `None`: the scan that cjson and
/// cmsgpack both make before applying their own rule for what counts as an array.
fn integer_keys(t: &Table) -> mlua::Result<Option<(usize, usize)>> {
    let (mut max, mut count) = (0usize, 0usize);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let idx = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(x) if x >= 1.0 && x.floor() == x => x as usize,
            _ => return Ok(None),
        };
        max = max.max(idx);
        count += 1;
    }
    Ok(Some((max, count)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_number() {
        assert_eq!(version_num("7.0.15"), 458767);
    }

    #[test]
    fn shebang_flags() {
        let (f, code) =
            parse_shebang(&Bytes::from_static(b"#!lua flags=no-writes\nreturn 1")).unwrap();
        assert!(f.no_writes && f.shebang);
        assert_eq!(&code[..], b"--lua flags=no-writes\nreturn 1");
        assert_eq!(
            parse_shebang(&Bytes::from_static(b"#!lua flags=foo\n")).unwrap_err(),
            "ERR Unexpected flag in script shebang: foo"
        );
        assert_eq!(
            parse_shebang(&Bytes::from_static(b"#!luax\n")).unwrap_err(),
            "ERR Unexpected engine in script shebang: #!luax"
        );
    }
}
