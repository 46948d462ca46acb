//! Integration tests of Lua scripts and functions against the real binary: a busy
//! script or function makes other clients get BUSY (not wait) and SCRIPT KILL or
//! FUNCTION KILL (each only its own kind) stops it; concurrent scripts are atomic;
//! FCALL works through the `redis` crate; INFO counts the cached scripts and their
//! memory as Redis does. Exact replies are covered by
//! `compat/cases/62-scripting.txt` and `63-functions.txt`.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{poll_until, Oracle, Server};

const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// Starts `body` (an endless script) on its own connection; returns the thread that
/// yields the script's reply.
fn run_forever(server: &Server, body: &'static str) -> thread::JoinHandle<Vec<u8>> {
    let mut raw = server.raw();
    thread::spawn(move || raw.cmd(&[b"EVAL", body.as_bytes(), b"0"]))
}

/// Polls with PING on `other` until the server answers BUSY.
fn wait_busy(other: &mut common::Raw) {
    assert!(poll_until(Duration::from_secs(10), || {
        other.cmd(&[b"PING"]) == BUSY
    }));
}

#[test]
fn busy_script_is_answered_busy_and_killed() {
    let server = Server::start(&["--busy-reply-threshold", "200"]);
    let mut other = server.raw();
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    let started = Instant::now();
    let script = run_forever(&server, "while true do end");
    wait_busy(&mut other);
    // Not before the threshold.
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(other.cmd(&[b"GET", b"k"]), BUSY);
    assert_eq!(other.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let reply = script.join().unwrap();
    let text = String::from_utf8_lossy(&reply).into_owned();
    assert!(
        text.starts_with("-ERR Script killed by user with SCRIPT KILL... script: ")
            && text.ends_with(", on @user_script:1.\r\n"),
        "{text}"
    );
    // The server serves everyone again.
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(
        other.cmd(&[b"SCRIPT", b"KILL"]),
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
}

/// Regression (issue 4): a connection opened while a script is busy used to wait
/// for the script instead of being answered. As in Redis 7.0.15, it gets BUSY for
/// ordinary commands, its usual errors for unknown commands and bad arities, a
/// syntax error for SHUTDOWN NOSAVE with extra arguments, and SCRIPT KILL works from
/// it; an ALLOW_BUSY command that needs the store (MULTI, HELLO) is run once the
/// script has ended.
#[test]
fn connection_opened_during_busy_script_gets_busy() {
    let server = Server::start(&["--busy-reply-threshold", "100"]);
    let mut first = server.raw();
    let script = run_forever(&server, "local i = 0 while true do i = i + 1 end");
    wait_busy(&mut first);
    let mut late = server.raw();
    assert_eq!(late.cmd(&[b"PING"]), BUSY);
    assert_eq!(late.cmd(&[b"SET", b"k", b"v"]), BUSY);
    assert_eq!(late.cmd(&[b"CLIENT", b"ID"]), BUSY);
    assert_eq!(late.cmd(&[b"SHUTDOWN"]), BUSY);
    assert_eq!(
        late.cmd(&[b"NOSUCH"]),
        b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
    );
    assert_eq!(
        late.cmd(&[b"GET"]),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        late.cmd(&[b"SHUTDOWN", b"NOSAVE", b"extra"]),
        b"-ERR syntax error\r\n"
    );
    // A second late connection, pipelining: BUSY, then MULTI waits for the script.
    let mut piped = server.raw();
    piped.send(&common::resp_cmd(&[b"GET", b"k"]));
    piped.send(&common::resp_cmd(&[b"MULTI"]));
    assert_eq!(piped.read_frame(), BUSY);
    assert_eq!(late.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let reply = script.join().unwrap();
    assert!(String::from_utf8_lossy(&reply).contains("Script killed by user"));
    assert_eq!(piped.read_frame(), b"+OK\r\n");
    assert_eq!(piped.cmd(&[b"EXEC"]), b"*0\r\n");
    assert_eq!(late.cmd(&[b"PING"]), b"+PONG\r\n");
    assert!(late.cmd(&[b"CLIENT", b"ID"]).starts_with(b":"));
}

#[test]
fn short_scripts_from_many_clients_are_atomic() {
    let server = Server::start(&[]);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut con = server.conn();
            thread::spawn(move || {
                for _ in 0..200 {
                    // Read-modify-write without INCR: only atomic if the script is.
                    let _: i64 = redis::cmd("EVAL")
                        .arg("local v = tonumber(redis.call('get', KEYS[1]) or '0') redis.call('set', KEYS[1], v + 1) return v + 1")
                        .arg(1)
                        .arg("counter")
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut con = server.conn();
    let v: i64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
    assert_eq!(v, 1600);
}

/// A command a script runs is timed from its own start: the Lua code the script ran
/// before it is the script's time (INFO commandstats, SLOWLOG), as in Redis.
#[test]
fn commands_run_by_a_script_are_timed_alone() {
    let server = Server::start(&["--slowlog-log-slower-than", "20000"]);
    let mut raw = server.raw();
    // About 100 ms of Lua before and between the calls (measured by the script's time).
    let body = "local t = 0 for i = 1, 5000000 do t = t + i end \
                redis.call('incr', KEYS[1]) \
                for i = 1, 5000000 do t = t + i end \
                return redis.call('incr', KEYS[1])";
    let started = Instant::now();
    assert_eq!(raw.cmd(&[b"EVAL", body.as_bytes(), b"1", b"n"]), b":2\r\n");
    let elapsed = started.elapsed();
    let stats = String::from_utf8(raw.cmd(&[b"INFO", b"commandstats"])).unwrap();
    let usec = |cmd: &str| -> u64 {
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{cmd}:")))
            .unwrap_or_else(|| panic!("no {cmd} in {stats}"));
        let field = line.split(',').find(|f| f.starts_with("usec=")).unwrap();
        field["usec=".len()..].parse().unwrap()
    };
    let (eval, incr) = (usec("eval"), usec("incr"));
    // The script's own time covers its Lua loops; the two INCRs take microseconds.
    assert!(
        eval >= 20_000 && eval as u128 <= elapsed.as_micros(),
        "eval usec={eval}, elapsed {elapsed:?}"
    );
    assert!(incr < eval / 10, "incr usec={incr}, eval usec={eval}");
    // Only the script is slow enough for the slow log.
    let slowlog = raw.cmd(&[b"SLOWLOG", b"GET"]);
    let text = String::from_utf8_lossy(&slowlog);
    assert!(text.contains("EVAL") || text.contains("eval"), "{text}");
    assert!(!text.contains("$4\r\nincr\r\n"), "{text}");
}

const BUSY_FUNCTION: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";

/// A library with an endless function, one that writes first, and an endless
/// function whose loop is on line 2.
const SPIN_LIBRARY: &str = "#!lua name=busy\n\
    redis.register_function('spin', function(keys, args) while true do end end)\n\
    redis.register_function('spin_after_write', function(keys) redis.call('SET', keys[1], 'v') while true do end end)";

/// Starts `FCALL <function> <args...>` on its own connection; returns the thread
/// that yields its reply.
fn fcall_forever(server: &Server, args: &'static [&'static [u8]]) -> thread::JoinHandle<Vec<u8>> {
    let mut raw = server.raw();
    thread::spawn(move || {
        let mut cmd: Vec<&[u8]> = vec![b"FCALL"];
        cmd.extend_from_slice(args);
        raw.cmd(&cmd)
    })
}

/// A busy function is answered BUSY naming FUNCTION KILL, shows in FUNCTION STATS,
/// is not stopped by SCRIPT KILL, and FUNCTION KILL stops it, as in Redis 7.0.15.
#[test]
fn busy_function_is_killed_by_function_kill_only() {
    let server = Server::start(&["--busy-reply-threshold", "100"]);
    let mut other = server.raw();
    assert_eq!(
        other.cmd(&[b"FUNCTION", b"LOAD", SPIN_LIBRARY.as_bytes()]),
        b"$4\r\nbusy\r\n"
    );
    let function = fcall_forever(&server, &[b"spin", b"1", b"key", b"arg"]);
    assert!(poll_until(Duration::from_secs(10), || {
        other.cmd(&[b"PING"]) == BUSY_FUNCTION
    }));
    assert_eq!(other.cmd(&[b"GET", b"k"]), BUSY_FUNCTION);
    let stats = other.cmd(&[b"FUNCTION", b"STATS"]);
    let text = common::show(&stats);
    assert!(
        stats.starts_with(
            b"*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*5\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n1\r\n$3\r\nkey\r\n$3\r\narg\r\n$11\r\nduration_ms\r\n:"
        ) && stats.ends_with(
            b"$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:2\r\n"
        ),
        "{text}"
    );
    // SCRIPT KILL does not stop a function.
    assert_eq!(other.cmd(&[b"SCRIPT", b"KILL"]), BUSY_FUNCTION);
    assert_eq!(other.cmd(&[b"FUNCTION", b"KILL"]), b"+OK\r\n");
    assert_eq!(
        function.join().unwrap(),
        b"-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n"
    );
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(
        other.cmd(&[b"FUNCTION", b"KILL"]),
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
    // FUNCTION KILL does not stop an EVAL script, and FUNCTION STATS refuses then.
    let script = run_forever(&server, "while true do end");
    wait_busy(&mut other);
    assert_eq!(other.cmd(&[b"FUNCTION", b"KILL"]), BUSY);
    assert_eq!(other.cmd(&[b"FUNCTION", b"STATS"]), BUSY);
    assert_eq!(other.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    assert!(String::from_utf8_lossy(&script.join().unwrap()).contains("Script killed by user"));
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// A function that wrote is unkillable; SHUTDOWN NOSAVE still stops the server.
#[test]
fn busy_function_that_wrote_is_unkillable() {
    let mut server = Server::start(&["--busy-reply-threshold", "100"]);
    let mut other = server.raw();
    other.cmd(&[b"FUNCTION", b"LOAD", SPIN_LIBRARY.as_bytes()]);
    let _function = fcall_forever(&server, &[b"spin_after_write", b"1", b"written"]);
    assert!(poll_until(Duration::from_secs(10), || {
        other.cmd(&[b"PING"]) == BUSY_FUNCTION
    }));
    assert!(other
        .cmd(&[b"FUNCTION", b"KILL"])
        .starts_with(b"-UNKILLABLE Sorry the script already executed write commands"));
    other.send(&common::resp_cmd(&[b"SHUTDOWN", b"NOSAVE"]));
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
}

/// FCALL and FCALL_RO through the `redis` crate: keys and arguments arrive as the
/// function's two tables, writes land, read-only calls of writing functions fail.
#[test]
fn fcall_through_the_redis_crate() {
    let server = Server::start(&[]);
    let mut con = server.conn();
    let lib = "#!lua name=counter\n\
        redis.register_function('bump', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)\n\
        redis.register_function{function_name='peek', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";
    let name: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(lib)
        .query(&mut con)
        .unwrap();
    assert_eq!(name, "counter");
    for i in 1..=3 {
        let v: i64 = redis::cmd("FCALL")
            .arg("bump")
            .arg(1)
            .arg("n")
            .arg(10)
            .query(&mut con)
            .unwrap();
        assert_eq!(v, i * 10);
    }
    let peeked: String = redis::cmd("FCALL_RO")
        .arg("peek")
        .arg(1)
        .arg("n")
        .query(&mut con)
        .unwrap();
    assert_eq!(peeked, "30");
    let refused: redis::RedisResult<i64> = redis::cmd("FCALL_RO")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(1)
        .query(&mut con);
    let err = refused.unwrap_err().to_string();
    assert!(
        err.contains("Can not execute a script with write flag using *_ro command."),
        "{err}"
    );
    // FLUSHALL keeps the functions; FUNCTION FLUSH removes them.
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    let v: i64 = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert_eq!(v, 1);
    let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut con).unwrap();
    let gone: redis::RedisResult<i64> = redis::cmd("FCALL")
        .arg("bump")
        .arg(1)
        .arg("n")
        .arg(1)
        .query(&mut con);
    assert!(gone.unwrap_err().to_string().contains("Function not found"));
}

/// One `field:value` of INFO's memory section.
fn info_memory_field(con: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_string()
}

#[test]
fn info_counts_cached_scripts_and_their_memory_as_redis() {
    let server = Server::start(&[]);
    let oracle = Oracle::start();
    // Bodies on both sides of Redis's 44-byte embedded strings and of the 256-byte
    // sds header, and enough of them for the bucket array to grow twice.
    let bodies: Vec<String> = (0..10)
        .map(|i| format!("return '{}'", "x".repeat(i * 30)))
        .collect();
    let fields = ["number_of_cached_scripts", "used_memory_scripts_eval"];
    for con in [&mut server.conn(), &mut oracle.conn()] {
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(con).unwrap();
        for f in fields {
            assert_eq!(info_memory_field(con, f), "0", "{f} after SCRIPT FLUSH");
        }
    }
    let (mut ours, mut redis) = (server.conn(), oracle.conn());
    for (n, body) in bodies.iter().enumerate() {
        for con in [&mut ours, &mut redis] {
            let _: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(body)
                .query(con)
                .unwrap();
        }
        let count = |con: &mut redis::Connection| info_memory_field(con, fields[0]);
        assert_eq!(count(&mut ours), (n + 1).to_string());
        assert_eq!(count(&mut ours), count(&mut redis));
        // Equal, or Redis is still moving the entries out of its previous bucket
        // array (its dict rehashes a bucket per lookup, in an order its random hash
        // seed decides) and counts that array too.
        let mem = |con: &mut redis::Connection| -> u64 {
            info_memory_field(con, fields[1]).parse().unwrap()
        };
        let (m, r) = (mem(&mut ours), mem(&mut redis));
        let previous = ((n + 1).next_power_of_two() as u64 / 2).max(4) * 8;
        assert!(
            m == r || r == m + previous,
            "used_memory_scripts_eval with {} scripts: {m}, Redis {r}",
            n + 1
        );
    }
    let vm: u64 = info_memory_field(&mut ours, "used_memory_vm_eval")
        .parse()
        .unwrap();
    assert!(vm > 0, "the VM's heap is reported");
}
