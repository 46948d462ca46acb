#!/usr/bin/env python3
"""Unit tests of run.py's RESP frame reader, tokeniser and comparison modes.
Standard library only:  python3 compat/test_resp_reader.py"""

import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402


def frames_from(data, n, chunk=1):
    """Feed `data` through a socket pair in `chunk`-byte pieces and read n frames."""
    a, b = socket.socketpair()

    def writer():
        for i in range(0, len(data), chunk):
            a.sendall(data[i:i + chunk])
        a.close()
    t = threading.Thread(target=writer)
    t.start()
    c = run.Conn.__new__(run.Conn)
    c.sock, c.buf, c.pos = b, bytearray(), 0
    b.settimeout(5)
    out = [c.read_frame() for _ in range(n)]
    t.join()
    b.close()
    return out


class ReaderTest(unittest.TestCase):
    SAMPLES = [
        b"+OK\r\n", b"-ERR x y\r\n", b":-12\r\n", b"$-1\r\n", b"$0\r\n\r\n",
        b"$5\r\na\r\nbc\r\n", b"*-1\r\n", b"*0\r\n", b"_\r\n", b",3.14\r\n", b",inf\r\n",
        b"#t\r\n", b"(12345678901234567890\r\n", b"!8\r\nSYNTAX x\r\n",
        b"=15\r\ntxt:Some string\r\n",
        b"*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n%1\r\n+k\r\n~2\r\n:1\r\n:2\r\n",
        b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.05\r\n"
        b"*2\r\n:2039123\r\n:9543892\r\n",
    ]

    def test_each_frame_exact(self):
        data = b"".join(self.SAMPLES)
        for chunk in (1, 3, 7, 4096):
            got = frames_from(data, len(self.SAMPLES), chunk)
            self.assertEqual([f.raw for f in got], self.SAMPLES)

    def test_attribute_frame(self):
        f = frames_from(self.SAMPLES[-1], 1)[0]
        self.assertEqual(f.type, b"*")
        self.assertEqual(f.count(), 2)
        self.assertTrue(f.attrs.startswith(b"|1\r\n"))

    def test_counts(self):
        f = frames_from(b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", 1)[0]
        self.assertEqual(f.count(), 4)


class SplitArgsTest(unittest.TestCase):
    def test_split(self):
        sa = run.split_args
        self.assertEqual(sa('SET k v'), [b"SET", b"k", b"v"])
        self.assertEqual(sa('SET k "\\x00\\r\\n"'), [b"SET", b"k", b"\x00\r\n"])
        self.assertEqual(sa('a "" \'\''), [b"a", b"", b""])
        self.assertEqual(sa("a 'x\\'y \\n'"), [b"a", b"x'y \\n"])
        self.assertEqual(sa('a "q\\"uote\\\\"'), [b"a", b'q"uote\\'])
        self.assertEqual(sa('a "\\xzz"'), [b"a", b"xzz"])
        self.assertEqual(sa('  a   b  '), [b"a", b"b"])
        self.assertEqual(sa('a "h\xc3\xa9"'.encode("latin-1").decode("utf-8")),
                         [b"a", "h\xe9".encode("utf-8")])
        with self.assertRaises(run.CaseError):
            sa('a "b')
        with self.assertRaises(run.CaseError):
            sa('a "b"c')


class CompareTest(unittest.TestCase):
    def f(self, data):
        return frames_from(data, 1)[0]

    def test_modes(self):
        a = self.f(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")
        b = self.f(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n")
        self.assertFalse(run.replies_match(None, a, b))
        self.assertTrue(run.replies_match("sort", a, b))
        m1 = self.f(b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n")
        m2 = self.f(b"%2\r\n+b\r\n:2\r\n+a\r\n:1\r\n")
        m3 = self.f(b"%2\r\n+b\r\n:1\r\n+a\r\n:2\r\n")
        self.assertTrue(run.replies_match("sort", m1, m2))
        self.assertFalse(run.replies_match("sort", m1, m3))
        s1 = self.f(b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")
        s2 = self.f(b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\ny\r\n$1\r\nx\r\n")
        s3 = self.f(b"*2\r\n$1\r\n5\r\n*2\r\n$1\r\ny\r\n$1\r\nx\r\n")
        self.assertTrue(run.replies_match("scan", s1, s2))
        self.assertFalse(run.replies_match("scan", s1, s3))
        self.assertTrue(run.replies_match("type", self.f(b":1\r\n"), self.f(b":2\r\n")))
        self.assertFalse(run.replies_match("type", a, self.f(b"*1\r\n:1\r\n")))
        self.assertTrue(run.replies_match("err", self.f(b"-ERR a\r\n"), self.f(b"-ERR b\r\n")))
        self.assertFalse(run.replies_match("err", self.f(b"-ERR a\r\n"),
                                           self.f(b"-WRONGTYPE a\r\n")))
        self.assertFalse(run.replies_match("err", self.f(b"-ERR a\r\n"), self.f(b"+OK\r\n")))


if __name__ == "__main__":
    unittest.main()
