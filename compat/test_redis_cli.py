#!/usr/bin/env python3
"""redmite with the stock `redis-cli`, inline commands and `redis-cli --pipe`.

    python3 compat/test_redis_cli.py           # starts $REDMITE_BIN on a free port

Standard library only; needs `redis-cli` (Debian package redis-tools) in PATH.
Prints `N passed, M failed` and exits non-zero on any failure.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run import Server, encode_command, resolve_redmite_bin  # noqa: E402

MASS_KEYS = 100_000


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name, cond, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""))


def cli(port, *args, stdin=None, timeout=60):
    """Run redis-cli and return (returncode, stdout, stderr) as text."""
    p = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(args),
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def raw_exchange(port, payload, expected_len, timeout=10):
    """Send raw bytes and read until expected_len bytes arrived (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(payload)
        buf = b""
        while len(buf) < expected_len:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        return buf
    finally:
        s.close()


def test_cli(port, res):
    rc, out, err = cli(port, "PING")
    res.ok("redis-cli PING", rc == 0 and out == "PONG\n", repr((rc, out, err)))
    rc, out, err = cli(port, "SET", "cli:key", "hello world")
    res.ok("redis-cli SET", rc == 0 and out == "OK\n", repr((rc, out, err)))
    rc, out, err = cli(port, "GET", "cli:key")
    res.ok("redis-cli GET", rc == 0 and out == "hello world\n", repr((rc, out, err)))
    rc, out, err = cli(port, "INCR", "cli:n")
    res.ok("redis-cli INCR", rc == 0 and out == "1\n", repr((rc, out, err)))
    rc, out, err = cli(port, "GET", "cli:missing")
    res.ok("redis-cli GET missing (raw mode prints empty line)",
           rc == 0 and out == "\n", repr((rc, out, err)))
    rc, out, err = cli(port, "--no-raw", "GET", "cli:missing")
    res.ok("redis-cli --no-raw GET missing", rc == 0 and out == "(nil)\n", repr((rc, out, err)))
    rc, out, err = cli(port, "--no-raw", "MGET", "cli:key", "cli:missing")
    res.ok("redis-cli --no-raw MGET", rc == 0 and out == '1) "hello world"\n2) (nil)\n',
           repr((rc, out, err)))
    rc, out, err = cli(port, "--no-raw", "INCR", "cli:key")
    res.ok("redis-cli error reply", rc == 0 and
           out == "(error) ERR value is not an integer or out of range\n", repr((rc, out, err)))
    rc, out, err = cli(port, "-3", "--no-raw", "GET", "cli:missing")
    res.ok("redis-cli -3 (RESP3) GET missing", rc == 0 and out == "(nil)\n", repr((rc, out, err)))
    rc, out, err = cli(port, "-3", "--no-raw", "CONFIG", "GET", "databases")
    res.ok("redis-cli -3 CONFIG GET (map)", rc == 0 and out == '1# "databases" => "16"\n',
           repr((rc, out, err)))
    rc, out, err = cli(port, "-n", "3", "SET", "db3key", "x")
    rc2, out2, _ = cli(port, "-n", "3", "DBSIZE")
    res.ok("redis-cli -n 3 (SELECT on connect)", rc == 0 and out == "OK\n" and out2 == "1\n",
           repr((rc, out, out2)))


def test_cli_stdin(port, res, workdir):
    path = os.path.join(workdir, "cmds.txt")
    with open(path, "wb") as f:
        f.write(b'SET stdin:a "x y"\nGET stdin:a\nDEL stdin:a\n')
    with open(path, "rb") as f:
        rc, out, err = cli(port, stdin=f)
    res.ok("redis-cli commands from stdin", rc == 0 and out == "OK\nx y\n1\n",
           repr((rc, out, err)))


def test_inline(port, res):
    cases = [
        (b"SET inl:a b\r\nGET inl:a\r\nPING\r\n", b"+OK\r\n$1\r\nb\r\n+PONG\r\n"),
        (b"SET inl:b \"x y\"\r\nGET inl:b\r\n", b"+OK\r\n$3\r\nx y\r\n"),
        (b"SET inl:c 'it''s'\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        (b"ECHO \"\\x41\\n\"\r\n", b"$2\r\nA\n\r\n"),
        (b"PING\n", b"+PONG\r\n"),
        (b"\r\n\r\nPING\r\n", b"+PONG\r\n"),
        (b"  GET   inl:a  \r\n", b"$1\r\nb\r\n"),
        (b"NOSUCH x\r\n", b"-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n"),
        (b"GET\r\n", b"-ERR wrong number of arguments for 'get' command\r\n"),
        # inline and multibulk requests mixed on one connection
        (b"PING\r\n" + encode_command([b"ECHO", b"\x00bin"]) + b"ECHO hi\r\n",
         b"+PONG\r\n$4\r\n\x00bin\r\n$2\r\nhi\r\n"),
    ]
    for payload, expected in cases:
        got = raw_exchange(port, payload, len(expected), timeout=5)
        res.ok("inline %r" % payload, got == expected,
               "expected %r, got %r" % (expected, got))


def test_pipe(port, res, workdir):
    path = os.path.join(workdir, "mass.resp")
    with open(path, "wb") as f:
        chunk = []
        for i in range(MASS_KEYS):
            chunk.append(encode_command([b"SET", b"mass:%d" % i, b"value-%d" % i]))
            if len(chunk) == 10000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    rc, out, _ = cli(port, "FLUSHALL")
    res.ok("FLUSHALL before --pipe", rc == 0 and out == "OK\n", repr(out))
    with open(path, "rb") as f:
        rc, out, err = cli(port, "--pipe", stdin=f, timeout=300)
    summary = "errors: 0, replies: %d" % MASS_KEYS
    res.ok("redis-cli --pipe exit code", rc == 0, repr((rc, out[-300:], err[-300:])))
    res.ok("redis-cli --pipe reported '%s'" % summary, summary in out, repr(out[-300:]))
    rc, out, err = cli(port, "DBSIZE")
    res.ok("DBSIZE after --pipe is %d" % MASS_KEYS, rc == 0 and out == "%d\n" % MASS_KEYS,
           repr((rc, out, err)))
    rc, out, err = cli(port, "GET", "mass:99999")
    res.ok("GET last mass-inserted key", rc == 0 and out == "value-99999\n", repr((rc, out, err)))
    rc, out, err = cli(port, "FLUSHALL")
    res.ok("FLUSHALL after --pipe", rc == 0 and out == "OK\n", repr(out))


def main():
    if not shutil.which("redis-cli"):
        print("redis-cli not found in PATH (Debian: apt-get install redis-tools)")
        return 2
    workdir = tempfile.mkdtemp(prefix="redmite-cli-")
    rbin = resolve_redmite_bin()
    srv = Server("redmite", lambda p: [rbin, "--port", str(p), "--bind", "127.0.0.1",
                                          "--dyn-listen", "none", "--stats-listen", "none"], workdir)
    res = Results()
    try:
        try:
            srv.start()
        except RuntimeError as e:
            print("ERROR: %s" % e)
            return 2
        for t in (test_cli, test_inline):
            try:
                t(srv.port, res)
            except Exception as e:  # noqa: BLE001
                res.ok("%s raised" % t.__name__, False, "%s: %s" % (type(e).__name__, e))
        for t in (test_cli_stdin, test_pipe):
            try:
                t(srv.port, res, workdir)
            except Exception as e:  # noqa: BLE001
                res.ok("%s raised" % t.__name__, False, "%s: %s" % (type(e).__name__, e))
        res.ok("redmite still running at the end", srv.alive())
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (res.passed, res.failed))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
