#!/usr/bin/env python3
"""Smoke test of redmite with the redis-py client, over RESP2 and RESP3.

    python3 compat/test_redis_py.py            # starts $REDMITE_BIN on a free port

Needs the `redis` package from PyPI (redis-py).  Prints `N passed, M failed`
and exits non-zero on any failure.
"""

import os
import shutil
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run import Server, resolve_redmite_bin  # noqa: E402  (also installs cleanup handlers)

try:
    import redis
except ImportError:
    print("redis-py is not installed (pip install redis)")
    sys.exit(2)

CLIENT_NAME = "compat-smoke"


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        try:
            ok = fn()
        except Exception as e:  # noqa: BLE001 - report every failure
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            if os.environ.get("COMPAT_TRACEBACK"):
                traceback.print_exc()
            self.failed += 1
            return
        if ok is False:
            print("FAIL %s" % name)
            self.failed += 1
        else:
            self.passed += 1


def expect(actual, expected):
    if actual != expected:
        raise AssertionError("expected %r, got %r" % (expected, actual))
    return True


def run_suite(port, protocol, res):
    p = "[RESP%d] " % protocol
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol,
                    client_name=CLIENT_NAME, decode_responses=True,
                    socket_timeout=10)
    rb = redis.Redis(host="127.0.0.1", port=port, protocol=protocol,
                     socket_timeout=10)
    try:
        res.check(p + "ping", lambda: expect(r.ping(), True))
        res.check(p + "flushall", lambda: expect(r.flushall(), True))
        # client name was sent on connect (CLIENT SETNAME; SETINFO errors
        # are ignored by redis-py on servers older than 7.2)
        res.check(p + "client_getname", lambda: expect(r.client_getname(), CLIENT_NAME))
        res.check(p + "set", lambda: expect(r.set("greeting", "hello"), True))
        res.check(p + "get", lambda: expect(r.get("greeting"), "hello"))
        res.check(p + "get missing", lambda: expect(r.get("nope"), None))
        res.check(p + "set nx", lambda: expect(r.set("greeting", "x", nx=True), None))
        res.check(p + "binary value", lambda: (
            rb.set(b"bin", b"\x00\xff\r\n"), expect(rb.get(b"bin"), b"\x00\xff\r\n"))[-1])
        res.check(p + "incr", lambda: expect(r.incr("counter"), 1))
        res.check(p + "incrby", lambda: expect(r.incrby("counter", 41), 42))
        res.check(p + "incrbyfloat", lambda: expect(r.incrbyfloat("fl", 1.5), 1.5))
        res.check(p + "decr", lambda: expect(r.decr("counter"), 41))
        res.check(p + "incr error", lambda: expect_error(
            lambda: r.incr("greeting"), "value is not an integer or out of range"))
        res.check(p + "expire", lambda: expect(r.expire("greeting", 100), True))
        res.check(p + "ttl", lambda: expect(r.ttl("greeting"), 100))
        res.check(p + "pttl", lambda: 99000 < r.pttl("greeting") <= 100000)
        res.check(p + "persist", lambda: expect(r.persist("greeting"), True))
        res.check(p + "ttl after persist", lambda: expect(r.ttl("greeting"), -1))
        res.check(p + "set ex", lambda: expect(r.set("tmp", "v", ex=50), True))
        res.check(p + "ttl ex", lambda: expect(r.ttl("tmp"), 50))
        res.check(p + "mset", lambda: expect(r.mset({"a": "1", "b": "2", "c": "3"}), True))
        res.check(p + "mget", lambda: expect(r.mget(["a", "b", "missing", "c"]),
                                             ["1", "2", None, "3"]))
        res.check(p + "exists", lambda: expect(r.exists("a", "b", "missing"), 2))
        res.check(p + "type", lambda: expect(r.type("a"), "string"))
        res.check(p + "delete", lambda: expect(r.delete("a", "b", "missing"), 2))
        res.check(p + "select out of range error", lambda: expect_error(
            lambda: r.execute_command("SELECT", "99"), "DB index is out of range"))

        def pipeline():
            pipe = r.pipeline(transaction=False)
            for i in range(1000):
                pipe.set("key:%d" % i, str(i))
            out = pipe.execute()
            expect(out, [True] * 1000)
            pipe = r.pipeline(transaction=False)
            for i in range(1000):
                pipe.get("key:%d" % i)
            pipe.incr("key:7")
            pipe.get("nope")
            out = pipe.execute()
            return expect(out, [str(i) for i in range(1000)] + [8, None])
        res.check(p + "pipeline(transaction=False) 1000 sets/gets", pipeline)

        res.check(p + "dbsize", lambda: expect(r.dbsize(), 1000 + 6))
        res.check(p + "scan_iter over 1000 keys", lambda: expect(
            sorted(r.scan_iter(match="key:*", count=100)),
            sorted("key:%d" % i for i in range(1000))))
        res.check(p + "scan_iter all keys", lambda: expect(
            len(set(r.scan_iter())), 1000 + 6))
        res.check(p + "scan_iter _type", lambda: expect(
            len(set(r.scan_iter(match="key:1*", _type="string"))), 111))
        res.check(p + "keys", lambda: expect(
            sorted(r.keys("key:99?")), sorted("key:99%d" % i for i in range(10))))

        def info():
            i = r.info()
            return isinstance(i, dict) and "redis_version" in i
        res.check(p + "info has redis_version", info)
        res.check(p + "info server section", lambda: "redis_version" in r.info("server"))
        res.check(p + "config_get", lambda: expect(r.config_get("databases"),
                                                   {"databases": "16"}))
        res.check(p + "echo", lambda: expect(r.echo("hi there"), "hi there"))
        res.check(p + "time", lambda: isinstance(r.time(), tuple) and len(r.time()) == 2)

        def pubsub():
            ps = r.pubsub()
            ps.subscribe("news")
            ps.psubscribe("n*")
            expect(ps.get_message(timeout=5)["type"], "subscribe")
            expect(ps.get_message(timeout=5)["type"], "psubscribe")
            expect(r.publish("news", "hi"), 2)
            m = ps.get_message(timeout=5)
            expect((m["type"], m["channel"], m["data"]), ("message", "news", "hi"))
            m = ps.get_message(timeout=5)
            expect((m["type"], m["pattern"], m["data"]), ("pmessage", "n*", "hi"))
            expect(r.pubsub_numsub("news"), [("news", 1)])
            expect(r.pubsub_numpat(), 1)
            ps.unsubscribe()
            ps.punsubscribe()
            expect(ps.get_message(timeout=5)["type"], "unsubscribe")
            expect(ps.get_message(timeout=5)["type"], "punsubscribe")
            ps.close()
            return expect(r.publish("news", "nobody"), 0)
        res.check(p + "pubsub subscribe/psubscribe/publish/unsubscribe", pubsub)
        def lock():
            # redis-py's own Lock: acquire, extend, reacquire and release are Lua scripts.
            lk = r.lock("resource", timeout=10)
            expect(lk.acquire(blocking=False), True)
            expect(r.lock("resource", timeout=10).acquire(blocking=False), False)
            expect(lk.extend(5), True)
            expect(lk.reacquire(), True)
            lk.release()
            return expect(r.exists("resource"), 0)
        res.check(p + "redis-py Lock (Lua scripts)", lock)

        def rate_limiter():
            # A fixed-window limiter as client docs write it: INCR, EXPIRE on first hit.
            limiter = r.register_script(
                "local n = redis.call('INCR', KEYS[1]) "
                "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
                "if n > tonumber(ARGV[2]) then return 0 end return 1")
            got = [limiter(keys=["rl:user"], args=[60, 3]) for _ in range(5)]
            expect(got, [1, 1, 1, 0, 0])
            return expect(0 < r.ttl("rl:user") <= 60, True)
        res.check(p + "rate limiter (register_script, EVALSHA)", rate_limiter)

        def sliding_window():
            # A sliding-window limiter on a sorted set.
            script = r.register_script(
                "local now = tonumber(ARGV[1]) "
                "redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - tonumber(ARGV[2])) "
                "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end "
                "redis.call('ZADD', KEYS[1], now, ARGV[4]) "
                "redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1")
            got = [script(keys=["sw"], args=[1000 + i, 100, 2, "req%d" % i]) for i in range(4)]
            expect(got, [1, 1, 0, 0])
            return expect(script(keys=["sw"], args=[1200, 100, 2, "late"]), 1)
        res.check(p + "sliding window limiter (ZSET script)", sliding_window)
        res.check(p + "script_exists/flush", lambda: (
            expect(r.script_exists(r.script_load("return 1")), [True]),
            expect(r.script_flush(), True)))

        def functions():
            # Functions through redis-py's own helpers: load, call, list, dump/restore.
            r.function_flush()
            lib = ("#!lua name=pylib\n"
                   "redis.register_function('py_incr', function(keys, args) "
                   "return redis.call('INCRBY', keys[1], args[1]) end)\n"
                   "redis.register_function{function_name='py_get', description='reads', "
                   "callback=function(keys) return redis.call('GET', keys[1]) end, "
                   "flags={'no-writes'}}")
            expect(r.function_load(lib), "pylib")
            expect(r.fcall("py_incr", 1, "fn:n", 5), 5)
            expect(r.fcall_ro("py_get", 1, "fn:n"), "5")
            expect_error(lambda: r.fcall_ro("py_incr", 1, "fn:n", 1),
                         "Can not execute a script with write flag using *_ro command.")
            listed = r.function_list(library="pylib")
            expect(len(listed), 1)
            payload = rb.function_dump()
            expect(r.function_flush(), True)
            expect_error(lambda: r.fcall("py_incr", 1, "fn:n", 1), "Function not found")
            expect(r.function_restore(payload), True)
            expect(r.fcall("py_incr", 1, "fn:n", 1), 6)
            expect(r.function_delete("pylib"), True)
            return expect(r.function_list(), [])
        res.check(p + "functions (function_load, fcall, fcall_ro, list, dump/restore)", functions)
        res.check(p + "flushdb", lambda: expect(r.flushdb(), True))
        res.check(p + "dbsize after flush", lambda: expect(r.dbsize(), 0))
    finally:
        r.close()
        rb.close()


def expect_error(fn, fragment):
    try:
        fn()
    except redis.ResponseError as e:
        if fragment not in str(e):
            raise AssertionError("error %r does not contain %r" % (str(e), fragment))
        return True
    raise AssertionError("no error raised")


def main():
    workdir = tempfile.mkdtemp(prefix="redmite-redispy-")
    rbin = resolve_redmite_bin()
    srv = Server("redmite", lambda p: [rbin, "--port", str(p), "--bind", "127.0.0.1"], workdir)
    res = Results()
    try:
        try:
            srv.start()
        except RuntimeError as e:
            print("ERROR: %s" % e)
            return 2
        for protocol in (2, 3):
            run_suite(srv.port, protocol, res)
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (res.passed, res.failed))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
