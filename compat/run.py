#!/usr/bin/env python3
"""Differential compatibility suite: real redis-server (the oracle) vs redmite.

Standard library only.  See compat/README.md for the case file format.

    python3 compat/run.py [--only GLOB] [--proto 2|3] [--redis-only] [-v]
"""

import argparse
import atexit
import fnmatch
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
CASES_DIR = os.path.join(HERE, "cases")

READ_TIMEOUT = 10.0        # seconds to wait for one reply
START_TIMEOUT = 15.0       # seconds to wait for a server to answer PING

AGGREGATES = b"*~>%|"
ERROR_TYPES = b"-!"


# --------------------------------------------------------------------------
# Process management
# --------------------------------------------------------------------------

_PROCS = []


def _kill_group(p, sig):
    """Signal the process group of a server we started (each runs in its own
    session, so a wrapper script's children go too)."""
    try:
        os.killpg(p.pid, sig)
    except OSError:
        try:
            p.send_signal(sig)
        except OSError:
            pass


def _stop_proc(p):
    if p.poll() is None:
        _kill_group(p, signal.SIGTERM)
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            _kill_group(p, signal.SIGKILL)
            p.wait(timeout=3)
    # a wrapper may have exited while a child it started lives on
    _kill_group(p, signal.SIGKILL)


def _cleanup():
    while _PROCS:
        p = _PROCS.pop()
        try:
            _stop_proc(p)
        except Exception:
            pass


def _on_signal(signum, _frame):
    _cleanup()
    sys.exit(128 + signum)


atexit.register(_cleanup)
for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A server process we started, plus how to (re)start it."""

    def __init__(self, name, argv_fn, workdir):
        self.name = name
        self.argv_fn = argv_fn      # port -> argv
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.log_path = os.path.join(workdir, name + ".log")

    def start(self):
        last_err = None
        for _attempt in range(3):
            self.port = free_port()
            argv = self.argv_fn(self.port)
            log = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen(
                    argv, cwd=self.workdir, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                log.close()
                raise RuntimeError("%s: cannot execute %r: %s" % (self.name, argv[0], e))
            log.close()
            _PROCS.append(self.proc)
            ok, last_err = self._wait_ready()
            if ok:
                return
            self.stop()
        raise RuntimeError("%s did not start: %s\n--- log tail ---\n%s"
                           % (self.name, last_err, self.log_tail()))

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        err = "timeout"
        delay = 0.005
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, "exited with code %s" % self.proc.returncode
            try:
                c = Conn(self.port, timeout=1.0)
                try:
                    raw, _ = c.command([b"PING"])
                    if raw == b"+PONG\r\n":
                        return True, None
                    err = "PING replied %r" % raw
                finally:
                    c.close()
            except (OSError, ProtocolError) as e:
                err = str(e)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        return False, err

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None:
            _stop_proc(self.proc)
            if self.proc in _PROCS:
                _PROCS.remove(self.proc)
            self.proc = None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------
# RESP
# --------------------------------------------------------------------------

class ProtocolError(Exception):
    pass


class Frame:
    """One parsed RESP frame.  `raw` is the exact bytes of the frame
    (including any attribute frame that preceded it)."""

    __slots__ = ("type", "raw", "header", "children", "attrs")

    def __init__(self, type_, raw, header, children, attrs=b""):
        self.type = type_           # one byte, e.g. b"*"
        self.raw = raw              # exact bytes
        self.header = header        # first line incl. CRLF
        self.children = children    # list of Frame or None for non-aggregates
        self.attrs = attrs          # raw bytes of attribute frame(s), if any

    def count(self):
        return None if self.children is None else len(self.children)


def encode_command(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n" % len(a))
        out.append(a)
        out.append(b"\r\n")
    return b"".join(out)


class Conn:
    """A raw TCP connection with an incremental RESP2/RESP3 frame reader."""

    def __init__(self, port, timeout=READ_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, args):
        self.sock.sendall(encode_command(args))

    def command(self, args):
        self.send(args)
        f = self.read_frame()
        return f.raw, f

    # -- reading --

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed by server")
        self.buf += data

    def _line(self):
        """Return the line starting at pos (without CRLF) and advance."""
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < self.pos + n:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def read_frame(self):
        """Read exactly one complete frame and return it (raw bytes exact)."""
        self.pos = 0
        f = self._frame()
        del self.buf[:self.pos]
        self.pos = 0
        return f

    def _int(self, s):
        try:
            return int(s)
        except ValueError:
            raise ProtocolError("bad length %r" % s)

    def _frame(self):
        start = self.pos
        line = self._line()
        if not line:
            raise ProtocolError("empty line where a frame was expected")
        t = line[:1]
        header = line + b"\r\n"
        if t in (b"+", b"-", b":", b"_", b",", b"#", b"("):
            return Frame(t, bytes(self.buf[start:self.pos]), header, None)
        if t in (b"$", b"!", b"="):
            n = self._int(line[1:])
            if n >= 0:
                self._exact(n)
                if self._exact(2) != b"\r\n":
                    raise ProtocolError("bulk payload not followed by CRLF")
            return Frame(t, bytes(self.buf[start:self.pos]), header, None)
        if t in (b"*", b"~", b">", b"%", b"|"):
            n = self._int(line[1:])
            children = []
            if n > 0:
                k = n * 2 if t in (b"%", b"|") else n
                for _ in range(k):
                    children.append(self._frame())
            if t == b"|":
                # attribute: the real reply follows; keep both in raw
                attrs = bytes(self.buf[start:self.pos])
                inner = self._frame()
                return Frame(inner.type, bytes(self.buf[start:self.pos]),
                             inner.header, inner.children, attrs + inner.attrs)
            return Frame(t, bytes(self.buf[start:self.pos]), header,
                         None if n < 0 else children)
        raise ProtocolError("unknown RESP type byte %r in %r" % (t, line[:80]))


# --------------------------------------------------------------------------
# Case files
# --------------------------------------------------------------------------

class CaseError(Exception):
    pass


def split_args(line):
    """redis-cli (sdssplitargs) style tokenisation.  Returns list of bytes."""
    args = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    raise CaseError("unbalanced double quotes")
                c = line[i]
                if c == "\\" and i + 3 < n and line[i + 1] == "x" and \
                        all(h in "0123456789abcdefABCDEF" for h in line[i + 2:i + 4]):
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == "\\" and i + 1 < n:
                    i += 1
                    c = line[i]
                    cur += {"n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b",
                            "a": b"\a"}.get(c, c.encode("utf-8"))
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise CaseError("closing quote must be followed by a space")
                    i += 1
                    break
                else:
                    cur += c.encode("utf-8")
                i += 1
            elif insq:
                if i >= n:
                    raise CaseError("unbalanced single quotes")
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    cur += b"'"
                    i += 1
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise CaseError("closing quote must be followed by a space")
                    i += 1
                    break
                else:
                    cur += c.encode("utf-8")
                i += 1
            else:
                if i >= n or line[i].isspace():
                    break
                c = line[i]
                if c == '"':
                    inq = True
                elif c == "'":
                    insq = True
                else:
                    cur += c.encode("utf-8")
                i += 1
        args.append(bytes(cur))


MODES = ("sort", "type", "skip", "err", "scan", "noreply")


class Case:
    __slots__ = ("lineno", "text", "args", "mode", "conn", "sleep_ms", "read", "proto")

    def __init__(self, lineno, text):
        self.lineno = lineno
        self.text = text
        self.args = None
        self.mode = None
        self.conn = 0
        self.sleep_ms = None
        self.read = False
        self.proto = None


def parse_case_file(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            c = Case(lineno, s)
            rest = s
            try:
                while rest.startswith("!"):
                    word, _, tail = rest.partition(" ")
                    d = word[1:]
                    tail = tail.lstrip()
                    if d == "sleep":
                        ms, _, tail = tail.partition(" ")
                        if tail.strip():
                            raise CaseError("!sleep must be on its own line")
                        c.sleep_ms = int(ms)
                        rest = ""
                        break
                    if d == "proto":
                        num, _, tail = tail.partition(" ")
                        c.proto = int(num)
                        rest = tail.lstrip()
                        continue
                    if d == "read":
                        if tail.strip():
                            raise CaseError("!read takes no command")
                        c.read = True
                        rest = ""
                        break
                    if d == "conn":
                        num, _, tail = tail.partition(" ")
                        c.conn = int(num)
                        rest = tail.lstrip()
                        continue
                    if d in MODES:
                        if c.mode is not None:
                            raise CaseError("more than one comparison directive")
                        c.mode = d
                        rest = tail
                        continue
                    raise CaseError("unknown directive %r" % word)
                if c.sleep_ms is None and not c.read:
                    c.args = split_args(rest)
                    if not c.args:
                        raise CaseError("no command")
            except (CaseError, ValueError) as e:
                raise CaseError("%s:%d: %s" % (path, lineno, e))
            cases.append(c)
    return cases


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------

def _sorted_norm(f):
    """Canonical bytes of an aggregate with its elements sorted
    (maps/attributes: as a set of key/value pairs)."""
    if f.children is None:
        return f.raw
    ch = [c.raw for c in f.children]
    if f.type in (b"%", b"|"):
        items = sorted(ch[i] + ch[i + 1] for i in range(0, len(ch), 2))
    else:
        items = sorted(ch)
    return f.attrs + f.header + b"".join(items)


def _first_word(f):
    if f.type == b"-":
        body = f.raw[1:]
    else:  # blob error
        body = f.raw.split(b"\r\n", 1)[1]
    return body.split(b" ", 1)[0].split(b"\r\n", 1)[0]


def replies_match(mode, exp, act):
    """Return True if act matches exp under the comparison mode."""
    if mode is None:
        return exp.raw == act.raw
    if mode == "sort":
        return _sorted_norm(exp) == _sorted_norm(act)
    if mode == "scan":
        def norm(f):
            if f.children is None or len(f.children) != 2:
                return f.raw
            return f.attrs + f.header + f.children[0].raw + _sorted_norm(f.children[1])
        return norm(exp) == norm(act)
    if mode == "type":
        return exp.type == act.type and exp.count() == act.count()
    if mode == "err":
        return (exp.type in (b"-", b"!") and act.type in (b"-", b"!")
                and _first_word(exp) == _first_word(act))
    raise ValueError(mode)


def short(b, limit=3000):
    r = repr(b)
    if len(r) > limit:
        r = r[:limit] + "...(%d bytes total)" % len(b)
    return r


# --------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------

class Endpoint:
    """Per-file, per-protocol set of lazily created connections to a server."""

    def __init__(self, server, proto):
        self.server = server
        self.proto = proto
        self.conns = {}

    def get(self, n):
        c = self.conns.get(n)
        if c is None:
            c = Conn(self.server.port)
            if self.proto == 3:
                raw, f = c.command([b"HELLO", b"3"])
                if f.type != b"%":
                    c.close()
                    raise ProtocolError("HELLO 3 did not return a map: %s" % short(raw, 300))
            self.conns[n] = c
        return c

    def drop(self, n):
        c = self.conns.pop(n, None)
        if c:
            c.close()

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}


class Stats:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0


def flushall(server):
    c = Conn(server.port)
    try:
        c.command([b"SELECT", b"0"])
        raw, _ = c.command([b"FLUSHALL"])
        if raw != b"+OK\r\n":
            raise ProtocolError("FLUSHALL on %s replied %r" % (server.name, raw))
    finally:
        c.close()


def exchange(ep, case):
    """Send the case on the endpoint and return a Frame, or an error string."""
    try:
        c = ep.get(case.conn)
        if case.read:
            return c.read_frame()
        if case.mode == "noreply":
            c.send(case.args)
            return None
        return c.command(case.args)[1]
    except (OSError, ProtocolError) as e:
        ep.drop(case.conn)
        return "<%s: %s>" % (type(e).__name__, e)


def report_failure(rel, case, proto, exp, act, why=""):
    print("FAIL %s:%d [RESP%d] %s%s" % (rel, case.lineno, proto, case.text,
                                        (" (" + why + ")") if why else ""))
    print("   expected: %s" % (short(exp.raw) if isinstance(exp, Frame) else exp))
    print("   actual:   %s" % (short(act.raw) if isinstance(act, Frame) else act))


def run_file_diff(path, proto, redis, redmite, stats, verbose):
    rel = os.path.relpath(path, REPO_ROOT)
    cases = parse_case_file(path)
    flushall(redis)
    if not redmite.alive():
        print("NOTE redmite is not running (exit code %s); restarting it"
              % (redmite.proc.returncode if redmite.proc else "?"))
        redmite.stop()
        redmite.start()
    try:
        flushall(redmite)
    except (OSError, ProtocolError) as e:
        print("FAIL %s [RESP%d] FLUSHALL on redmite failed: %s" % (rel, proto, e))
    ep_r = Endpoint(redis, proto)
    ep_m = Endpoint(redmite, proto)
    try:
        for case in cases:
            if case.proto is not None and case.proto != proto:
                continue
            if case.sleep_ms is not None:
                time.sleep(case.sleep_ms / 1000.0)
                continue
            exp = exchange(ep_r, case)
            if isinstance(exp, str):
                raise RuntimeError("%s:%d: redis-server (oracle) failed: %s"
                                   % (rel, case.lineno, exp))
            act = exchange(ep_m, case)
            if case.mode == "noreply":
                if isinstance(act, str):
                    stats.failed += 1
                    report_failure(rel, case, proto, "<no reply>", act)
                else:
                    stats.passed += 1
                continue
            if case.mode == "skip":
                stats.skipped += 1
                if isinstance(act, str):
                    print("NOTE %s:%d [RESP%d] skipped line, but redmite: %s"
                          % (rel, case.lineno, proto, act))
                continue
            if isinstance(act, str):
                stats.failed += 1
                report_failure(rel, case, proto, exp, act)
                if not redmite.alive():
                    print("NOTE redmite died (exit code %s); restarting it\n%s"
                          % (redmite.proc.returncode, redmite.log_tail(10)))
                    ep_m.close()
                    redmite.stop()
                    redmite.start()
                continue
            if replies_match(case.mode, exp, act):
                stats.passed += 1
                if verbose:
                    print("ok   %s:%d [RESP%d] %s -> %s"
                          % (rel, case.lineno, proto, case.text, short(act.raw, 200)))
            else:
                stats.failed += 1
                report_failure(rel, case, proto, exp, act,
                               ("compared with !" + case.mode) if case.mode else "")
        # End-of-file sync check: every connection must be exactly in step
        # (no stray replies left over from a noreply line, for instance).
        for n in sorted(ep_r.conns):
            chk = Case(0, "<end-of-file sync PING on conn %d>" % n)
            chk.args = [b"PING"]
            chk.conn = n
            exp = exchange(ep_r, chk)
            if isinstance(exp, str):
                continue
            act = exchange(ep_m, chk)
            if isinstance(act, str) or act.raw != exp.raw:
                stats.failed += 1
                report_failure(rel, chk, proto, exp, act)
    finally:
        ep_r.close()
        ep_m.close()


def run_file_redis_only(path, proto, redis, stats):
    rel = os.path.relpath(path, REPO_ROOT)
    cases = parse_case_file(path)
    flushall(redis)
    ep = Endpoint(redis, proto)
    try:
        for case in cases:
            if case.proto is not None and case.proto != proto:
                continue
            if case.sleep_ms is not None:
                time.sleep(case.sleep_ms / 1000.0)
                continue
            f = exchange(ep, case)
            if isinstance(f, str):
                raise RuntimeError("%s:%d: %s" % (rel, case.lineno, f))
            stats.passed += 1
            mark = "   "
            if f is not None and f.type in ERROR_TYPES:
                mark = "ERR"
            reply = "<no reply>" if f is None else short(f.raw, 400)
            print("%s %s:%d [RESP%d] %s%s -> %s"
                  % (mark, rel, case.lineno, proto,
                     ("!" + case.mode + " ") if case.mode else "",
                     "!read" if case.read else " ".join(repr(a)[2:-1] for a in case.args),
                     reply))
    finally:
        ep.close()


def resolve_redmite_bin():
    b = os.environ.get("REDMITE_BIN")
    if not b:
        return os.path.join(REPO_ROOT, "target", "release", "redmite")
    if os.path.isabs(b):
        return b
    if os.path.exists(b):
        return os.path.abspath(b)
    return os.path.join(REPO_ROOT, b)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", metavar="FILE_GLOB",
                    help="only case files whose name matches this glob (e.g. '1*' or '*expire*')")
    ap.add_argument("--proto", type=int, choices=(2, 3), help="only this protocol")
    ap.add_argument("--redis-only", action="store_true",
                    help="run the cases against redis-server only and print its replies")
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()

    files = sorted(glob.glob(os.path.join(CASES_DIR, "*.txt")))
    if opts.only:
        pat = opts.only
        if not any(ch in pat for ch in "*?["):
            pat = "*" + pat + "*"     # plain word: substring of the file name
        files = [f for f in files
                 if fnmatch.fnmatch(os.path.basename(f), pat)
                 or fnmatch.fnmatch(os.path.basename(f), pat + ".txt")
                 or fnmatch.fnmatch(os.path.relpath(f, REPO_ROOT), pat)]
    if not files:
        print("no case files selected")
        return 2
    # Parse everything up front so a typo in a case file fails fast.
    try:
        for f in files:
            parse_case_file(f)
    except CaseError as e:
        print("case file error: %s" % e)
        return 2
    protos = [opts.proto] if opts.proto else [2, 3]

    redis_bin = shutil.which("redis-server")
    if not redis_bin:
        print("redis-server not found in PATH")
        return 2
    workdir = tempfile.mkdtemp(prefix="redmite-compat-")
    redis = Server("redis-server", lambda p: [
        redis_bin, "--save", "", "--appendonly", "no",
        "--bind", "127.0.0.1", "--port", str(p)], workdir)
    redmite = None
    stats = Stats()
    try:
        try:
            redis.start()
        except RuntimeError as e:
            print("ERROR: %s" % e)
            return 2
        if opts.redis_only:
            for path in files:
                for proto in protos:
                    run_file_redis_only(path, proto, redis, stats)
            print("%d commands run against redis-server" % stats.passed)
            return 0

        rbin = resolve_redmite_bin()
        redmite = Server("redmite", lambda p: [
            rbin, "--port", str(p), "--bind", "127.0.0.1",
            "--dyn-listen", "none", "--stats-listen", "none"], workdir)
        try:
            redmite.start()
        except RuntimeError as e:
            print("ERROR: %s" % e)
            return 2
        if opts.verbose:
            print("redis-server on port %d, redmite (%s) on port %d"
                  % (redis.port, rbin, redmite.port))
        for path in files:
            for proto in protos:
                run_file_diff(path, proto, redis, redmite, stats, opts.verbose)
    finally:
        if redmite:
            redmite.stop()
        redis.stop()
        _cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    if stats.skipped:
        print("%d skipped (!skip lines, per protocol)" % stats.skipped)
    print("%d passed, %d failed" % (stats.passed, stats.failed))
    return 1 if stats.failed else 0


if __name__ == "__main__":
    sys.exit(main())
