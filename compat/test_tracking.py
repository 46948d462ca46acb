#!/usr/bin/env python3
"""CLIENT TRACKING, differential: the same steps against redis-server and redmite.

    python3 compat/test_tracking.py      # starts redis-server and $REDMITE_BIN itself

Two or three raw connections per server (RESP3 and RESP2 with REDIRECT). After every
step each connection sends PING and reads up to its PONG, so every invalidation push a
step caused is read in order before the next step: no timing is involved. Prints each
difference and exits 1 if there is any.
"""
import os
import shlex
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Server, encode_command, resolve_redmite_bin  # noqa: E402


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, *args):
        self.s.sendall(encode_command([a.encode() for a in args]))

    def until_pong(self):
        """Sends PING and returns everything received before its reply."""
        self.send("PING")
        while True:
            for pong in (b"+PONG\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"):
                at = self.buf.find(pong)
                if at >= 0:
                    out, self.buf = self.buf[:at], self.buf[at + len(pong):]
                    return out
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk


def steps():
    """(connection, command) pairs; connections: a (RESP3), b (writer), r (RESP2
    redirect target), c (RESP2 tracking into r)."""
    return [
        ("a", "CLIENT TRACKING ON"), ("a", "GET k1"), ("a", "MGET k2 k3"),
        ("b", "SET k1 v"), ("b", "SET k1 w"), ("b", "MSET k2 x k3 y"),
        ("a", "CLIENT TRACKINGINFO"), ("a", "CLIENT TRACKING ON BCAST PREFIX x"),
        ("a", "CLIENT TRACKING OFF"),
        ("a", "CLIENT TRACKING ON BCAST PREFIX user: PREFIX obj"),
        ("b", "SET user:1 a"), ("b", "MSET obj1 a other b"), ("b", "DEL user:1 nothere"),
        ("a", "CLIENT TRACKINGINFO"), ("a", "CLIENT TRACKING ON BCAST PREFIX us"),
        ("b", "FLUSHDB"), ("a", "CLIENT TRACKING OFF"),
        ("a", "CLIENT TRACKING ON PREFIX p"),
        ("a", "CLIENT TRACKING ON OPTIN"), ("a", "GET k5"), ("b", "SET k5 1"),
        ("a", "CLIENT CACHING YES"), ("a", "GET k5"), ("b", "SET k5 2"),
        ("a", "CLIENT CACHING NO"), ("a", "CLIENT TRACKING ON OPTOUT"),
        ("a", "CLIENT TRACKING ON OPTIN OPTOUT"), ("a", "CLIENT TRACKING OFF"),
        ("a", "CLIENT TRACKING ON OPTIN OPTOUT"), ("a", "CLIENT CACHING YES"),
        ("a", "CLIENT TRACKING ON BCAST OPTIN"), ("a", "CLIENT GETREDIR"),
        ("a", "CLIENT TRACKING ON NOLOOP"), ("a", "GET k6"), ("a", "SET k6 x"),
        ("a", "GET k6"), ("b", "SET k6 y"), ("a", "CLIENT TRACKING OFF"),
        ("a", "CLIENT TRACKING ON OPTOUT"), ("a", "CLIENT CACHING NO"), ("a", "GET k7"),
        ("b", "SET k7 1"), ("a", "GET k8"), ("b", "SET k8 1"),
        ("a", "CLIENT TRACKING OFF"), ("a", "CLIENT TRACKING ON REDIRECT 999999"),
        ("a", "CLIENT TRACKING BOGUS"), ("a", "CLIENT TRACKING ON BOGUS"),
        ("a", "CLIENT CACHING YES"), ("a", "CLIENT TRACKINGINFO"),
        ("r", "SUBSCRIBE __redis__:invalidate"),
        ("c", "CLIENT TRACKING ON REDIRECT {r}"), ("c", "GET k9"), ("b", "SET k9 1"),
        ("c", "CLIENT GETREDIR"), ("c", "CLIENT TRACKINGINFO"), ("c", "GET k10"),
        ("b", "FLUSHALL"), ("c", "CLIENT TRACKING OFF"),
    ] + store_steps() + swapdb_steps()


def store_steps():
    """Commands that read some keys and write others invalidate only what they wrote
    (Redis's `signalModifiedKey` on the destination), and a multi-key write only the
    keys it changed."""
    setup = [("b", "SADD s1 1 2"), ("b", "SADD s2 2 3"), ("b", "SET str1 v"),
             ("b", "ZADD z1 1 a"), ("b", "ZADD z2 2 b"), ("b", "RPUSH l1 a b"),
             ("b", "SET bits1 a"), ("b", "PFADD h1 a"), ("b", "GEOADD g1 1 1 m"),
             ("b", "RPUSH l3 x")]
    reads = ["SMEMBERS s1", "SMEMBERS s2", "SMEMBERS d1", "GET str1", "GET str2",
             "ZRANGE z1 0 -1", "ZRANGE z2 0 -1", "ZRANGE zd 0 -1", "LRANGE l1 0 -1",
             "LRANGE l2 0 -1", "LRANGE l3 0 -1", "GET bits1", "GET bitsd", "PFCOUNT h1",
             "GET hd", "ZRANGE g1 0 -1", "ZRANGE gd 0 -1", "EXISTS gone1", "EXISTS gone2"]
    writes = ["SUNIONSTORE d1 s1 s2", "SINTERSTORE d1 s1 s2", "SDIFFSTORE d1 s1 s2",
              "ZUNIONSTORE zd 2 z1 z2", "ZINTERSTORE zd 2 z1 z2", "ZDIFFSTORE zd 2 z1 z2",
              "ZRANGESTORE zd z1 0 -1", "COPY str1 str2", "COPY str1 str2 REPLACE",
              "SORT l1 ALPHA STORE l2", "BITOP AND bitsd bits1 bits1", "PFMERGE hd h1",
              "GEOSEARCHSTORE gd g1 FROMLONLAT 1 1 BYRADIUS 10 km",
              "GEORADIUS g1 1 1 10 km STORE gd", "SMOVE s1 s2 1", "LMOVE l1 l3 LEFT LEFT",
              "DEL str2 gone1", "UNLINK gone2 str2", "LMPOP 2 gone1 l3 LEFT",
              "BLPOP gone1 l3 1", "ZMPOP 2 gone1 z1 MIN", "RENAME str1 str3",
              "EVAL \"return redis.call('sunionstore','d1','s1','s2')\" 3 d1 s1 s2"]
    out = list(setup)
    for w in writes:
        out += [("a", "CLIENT TRACKING ON")] + [("a", r) for r in reads]
        out += [("b", w), ("a", "CLIENT TRACKING OFF")]
    return out


def swapdb_steps():
    """SWAPDB, FLUSHDB and FLUSHALL with keys cached in db 0 and db 1."""
    out = [("b", "SET k1 a"), ("b", "SELECT 1"), ("b", "SET k1 b"), ("b", "SELECT 0")]
    for w in ["SWAPDB 0 1", "SWAPDB 1 2", "SWAPDB 0 0", "FLUSHDB", "FLUSHALL"]:
        out += [("a", "CLIENT TRACKING ON"), ("a", "GET k1"), ("a", "SELECT 1"),
                ("a", "GET k2"), ("a", "SELECT 0"), ("b", "SELECT 1"), ("b", w),
                ("b", "SELECT 0"), ("a", "CLIENT TRACKING OFF"),
                ("a", "CLIENT TRACKING ON BCAST"), ("a", "GET k1"), ("b", w),
                ("a", "CLIENT TRACKING OFF")]
    return out


def run(port):
    conns = {n: Conn(port) for n in ("a", "b", "r", "c")}
    conns["a"].send("HELLO", "3")
    transcript = [conns["a"].until_pong()[:0]]
    ids = {}
    for name, conn in conns.items():
        conn.send("CLIENT", "ID")
        ids[name] = conn.until_pong().split(b"\r\n")[0][1:].decode()
    conns["b"].send("FLUSHALL")
    conns["b"].until_pong()
    for name, command in steps():
        conns[name].send(*shlex.split(command.format(**ids)))
        # The actor's reply first, so the others' PINGs cannot overtake its command.
        for other in sorted(conns, key=lambda n: n != name):
            # Client ids differ between the servers: the redirect target's is named.
            got = conns[other].until_pong()
            if other == "c":
                got = got.replace(b":%s\r\n" % ids["r"].encode(), b":<r>\r\n")
            transcript.append((command, other, got))
    return transcript


def main():
    if not shutil.which("redis-server"):
        print("redis-server not found in PATH")
        return 2
    workdir = tempfile.mkdtemp(prefix="redmite-tracking-")
    rbin = resolve_redmite_bin()
    servers = [
        Server("redis-server", lambda p: ["redis-server", "--save", "", "--appendonly", "no",
                                           "--bind", "127.0.0.1", "--port", str(p)], workdir),
        Server("redmite", lambda p: [rbin, "--port", str(p), "--bind", "127.0.0.1",
                                      "--dyn-listen", "none", "--stats-listen", "none"], workdir),
    ]
    try:
        for s in servers:
            s.start()
        want, got = (run(s.port) for s in servers)
    finally:
        for s in servers:
            s.stop()
    diffs = 0
    for w, g in zip(want, got):
        if w != g:
            diffs += 1
            print("DIFF after %r on %s:\n  redis:   %r\n  redmite: %r" % (w[0], w[1], w[2], g[2]))
    print("%d passed, %d failed" % (len(want) - diffs, diffs))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
