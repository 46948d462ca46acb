//! Redis glob matching for KEYS, SCAN MATCH, PSUBSCRIBE and friends.
//!
//! [`glob_match`] reproduces Redis 7.0's `stringmatchlen` byte for byte,
//! including its odd corners, because a drop-in replacement must return the
//! same keys for the same pattern:
//!
//! - `*` matches any run of bytes, `?` any single byte, and `\x` the byte `x`.
//! - `[...]` matches one byte from a class; `[^...]` negates it; `a-z` is a
//!   range, and a reversed range such as `[z-a]` means the same as `[a-z]`.
//!   Range bounds compare as C `char`, which is signed on x86-64 (the
//!   platform we match), so bytes `0x80..=0xff` sort *below* ASCII: `[a-\xff]` matches
//!   everything from `0xff` (-1) to `a`.
//! - Inside a class, `\x` matches `x` case-sensitively even in nocase mode.
//! - An unterminated class (`[abc`) is closed at the end of the pattern, and
//!   its last byte still counts as a member.
//! - `nocase` folds ASCII letters only.
//! - A non-empty pattern never matches the empty string, not even `*`. Redis
//!   callers (KEYS, SCAN) special-case the pattern `*` before matching; ours
//!   must do the same.
//!
//! Two protections against hostile patterns come from Redis too. Each `*`
//! recurses for the rest of the pattern, and more than 1000 nested levels
//! give "no match". And once the rest of a pattern after a `*` has failed at
//! every position of the remaining string, no earlier `*` can succeed by
//! consuming more, so the whole search stops there ("skip longer matches"):
//! `a*a*a*…b` against a long run of `a` costs polynomial, not exponential,
//! time.

/// Deepest `*` recursion before a pattern is declared not to match.
const MAX_NESTING: u32 = 1000;

/// Matches `string` against the Redis glob `pattern`; see the module docs for
/// the exact semantics.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut matcher = Matcher {
        pattern,
        string,
        nocase,
        skip_longer_matches: false,
    };
    matcher.matches(0, 0, 0)
}

struct Matcher<'a> {
    pattern: &'a [u8],
    string: &'a [u8],
    nocase: bool,
    /// Set once the rest of the pattern after some `*` failed everywhere in
    /// the remaining string; every enclosing `*` then gives up at once.
    skip_longer_matches: bool,
}

impl Matcher<'_> {
    /// The pattern byte at `i`, or 0 past the end: Redis reads its
    /// NUL-terminated pattern one byte beyond the length in a few places.
    fn pat(&self, i: usize) -> u8 {
        self.pattern.get(i).copied().unwrap_or(0)
    }

    /// Matches `pattern[pi..]` against `string[si..]`.
    fn matches(&mut self, mut pi: usize, mut si: usize, nesting: u32) -> bool {
        if nesting > MAX_NESTING {
            return false;
        }
        let plen = self.pattern.len();
        let slen = self.string.len();
        while pi < plen && si < slen {
            match self.pattern[pi] {
                b'*' => {
                    while pi < plen && self.pat(pi + 1) == b'*' {
                        pi += 1;
                    }
                    if plen - pi == 1 {
                        return true;
                    }
                    while si < slen {
                        if self.matches(pi + 1, si, nesting + 1) {
                            return true;
                        }
                        if self.skip_longer_matches {
                            return false;
                        }
                        si += 1;
                    }
                    self.skip_longer_matches = true;
                    return false;
                }
                b'?' => si += 1,
                b'[' => {
                    let (matched, end) = self.class(pi + 1, self.string[si]);
                    if !matched {
                        return false;
                    }
                    pi = end;
                    si += 1;
                }
                b'\\' => {
                    if plen - pi >= 2 {
                        pi += 1;
                    }
                    if !self.eq(self.pattern[pi], self.string[si]) {
                        return false;
                    }
                    si += 1;
                }
                p => {
                    if !self.eq(p, self.string[si]) {
                        return false;
                    }
                    si += 1;
                }
            }
            pi += 1;
            if si == slen {
                while self.pat(pi) == b'*' {
                    pi += 1;
                }
                break;
            }
        }
        pi == plen && si == slen
    }

    /// Matches byte `c` against the class whose body starts at `pi` (just
    /// after `[`). Returns whether it matched and the index of the class's
    /// last byte: the `]`, or the pattern's last byte if unterminated.
    fn class(&self, mut pi: usize, c: u8) -> (bool, usize) {
        let plen = self.pattern.len();
        let negate = self.pat(pi) == b'^';
        if negate {
            pi += 1;
        }
        let mut matched = false;
        loop {
            let rest = plen - pi;
            if rest >= 2 && self.pattern[pi] == b'\\' {
                pi += 1;
                // Escapes inside a class compare exactly, even with nocase.
                if self.pattern[pi] == c {
                    matched = true;
                }
            } else if self.pat(pi) == b']' {
                break;
            } else if rest == 0 {
                // Unterminated: step back onto the last byte, which the
                // caller's increment then moves past.
                pi -= 1;
                break;
            } else if rest >= 3 && self.pattern[pi + 1] == b'-' {
                let mut start = c_char(self.pattern[pi]);
                let mut end = c_char(self.pattern[pi + 2]);
                let mut ch = c_char(c);
                if start > end {
                    std::mem::swap(&mut start, &mut end);
                }
                if self.nocase {
                    start = c_tolower(start);
                    end = c_tolower(end);
                    ch = c_tolower(ch);
                }
                pi += 2;
                if ch >= start && ch <= end {
                    matched = true;
                }
            } else if self.eq(self.pattern[pi], c) {
                matched = true;
            }
            pi += 1;
        }
        (matched != negate, pi)
    }

    fn eq(&self, p: u8, s: u8) -> bool {
        if self.nocase {
            p.eq_ignore_ascii_case(&s)
        } else {
            p == s
        }
    }
}

/// A byte as C's signed `char` on x86-64, which is how Redis compares range
/// bounds there. (On aarch64 `char` is unsigned; we follow x86-64.)
fn c_char(b: u8) -> i32 {
    i32::from(b as i8)
}

/// C `tolower` in the "C" locale (Redis never sets `LC_CTYPE`).
fn c_tolower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Cases checked against redis-server 7.0.15, as (pattern, string,
    /// nocase, expected): case-sensitive ones with `KEYS` (one key per case),
    /// nocase ones in spirit with `CONFIG GET`, which matches config names
    /// with nocase (`[\M]axmemor?` finds nothing, `\Maxmemor?` finds
    /// `maxmemory`). A further 900k random pattern/key pairs over
    /// `ab*?[]^-\AB\xff\x80z` agreed with `KEYS` when this was written.
    const CASES: &[(&[u8], &[u8], bool, bool)] = &[
        // Literals, `?` and `*`.
        (b"hello", b"hello", false, true),
        (b"hello", b"hell", false, false),
        (b"hello", b"helloo", false, false),
        (b"h?llo", b"hallo", false, true),
        (b"h?llo", b"hllo", false, false),
        (b"h*llo", b"hllo", false, true),
        (b"h*llo", b"heeeello", false, true),
        (b"**", b"", false, false),
        (b"a**", b"a", false, true),
        (b"*a", b"a", false, true),
        (b"*a*", b"bab", false, true),
        (b"*?", b"", false, false),
        (b"", b"", false, true),
        (b"", b"a", false, false),
        (b"a*b*c", b"aXbYc", false, true),
        (b"a*b*c", b"aXbY", false, false),
        // Classes, negation and ranges.
        (b"h[ae]llo", b"hello", false, true),
        (b"h[ae]llo", b"hillo", false, false),
        (b"h[^e]llo", b"hallo", false, true),
        (b"h[^e]llo", b"hello", false, false),
        (b"h[a-b]llo", b"hbllo", false, true),
        (b"h[a-b]llo", b"hcllo", false, false),
        (b"[z-a]", b"m", false, true),
        (b"[z-a]", b"A", false, false),
        (b"[a-]", b"-", false, false),
        (b"[a-]", b"]", false, true),
        (b"[a-]", b"^", false, true),
        (b"[]", b"]", false, false),
        (b"[]]", b"]", false, false),
        (b"[]a]", b"a", false, false),
        (b"[^]", b"x", false, true),
        (b"[^]a", b"xa", false, true),
        (b"[-a]", b"-", false, true),
        (b"[a-z-9]", b"-", false, true),
        // Unterminated classes and trailing escapes.
        (b"[abc", b"c", false, true),
        (b"[abc", b"d", false, false),
        (b"[abc", b"ab", false, false),
        (b"[", b"[", false, false),
        (b"[", b"a", false, false),
        (b"[^", b"x", false, true),
        (b"a[", b"a", false, false),
        (b"[a\\", b"\\", false, true),
        (b"\\", b"\\", false, true),
        (b"a\\", b"a\\", false, true),
        // Escapes.
        (b"\\*", b"*", false, true),
        (b"\\*", b"a", false, false),
        (b"\\?", b"?", false, true),
        (b"\\[a]", b"[a]", false, true),
        (b"\\a", b"a", false, true),
        (b"[\\]]", b"]", false, true),
        (b"[\\^]", b"^", false, true),
        (b"[\\-a]", b"-", false, true),
        (b"[a\\-c]", b"b", false, false),
        (b"[\\a-c]", b"b", false, false),
        // Signed-char ranges: 0x80..=0xff sort below ASCII.
        (b"[a-\xff]", b"\x80", false, false),
        (b"[a-\xff]", b"\xff", false, true),
        (b"[a-\xff]", b"0", false, true),
        (b"[a-\xff]", b"b", false, false),
        (b"[\x80-\xff]", b"\x90", false, true),
        (b"[\x80-\xff]", b"a", false, false),
        (b"[\x01-\x7f]", b"\x80", false, false),
        // Case folding is ASCII only; class escapes stay exact.
        (b"HeLLo", b"hello", true, true),
        (b"HeLLo", b"hello", false, false),
        (b"[A-C]", b"b", true, true),
        (b"[a-c]", b"B", true, true),
        (b"[^A]", b"a", true, false),
        (b"[\\A]", b"a", true, false),
        (b"\\A", b"a", true, true),
        (b"\xc9", b"\xe9", true, false),
        (b"[Z-a]", b"_", true, false),
    ];

    #[test]
    fn table() {
        for &(pattern, string, nocase, expected) in CASES {
            assert_eq!(
                glob_match(pattern, string, nocase),
                expected,
                "pattern {:?} string {:?} nocase {nocase}",
                pattern.escape_ascii().to_string(),
                string.escape_ascii().to_string(),
            );
        }
    }

    #[test]
    fn nesting_limit() {
        // 1001 stars nest 1001 levels: one too many, so no match, as Redis.
        // The k-th star is handled at nesting k - 1 and recurses at nesting
        // k, so the 1001st star's recursion is one level too deep.
        let string = vec![b'a'; 2000];
        let deep = [&b"a*".repeat(1001)[..], b"a"].concat();
        assert!(!glob_match(&deep, &string, false));
        let shallow = [&b"a*".repeat(1000)[..], b"a"].concat();
        assert!(glob_match(&shallow, &string, false));
        // A trailing star matches without recursing.
        assert!(glob_match(&b"a*".repeat(1001), &string, false));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pattern = [&b"a*".repeat(30)[..], b"b"].concat();
        let string = vec![b'a'; 10_000];
        let start = std::time::Instant::now();
        assert!(!glob_match(&pattern, &string, false));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    /// Plain glob semantics for patterns made of literals, `?` and `*`,
    /// plus Redis's rule that only the empty pattern matches "".
    fn reference(pattern: &[u8], string: &[u8]) -> bool {
        if string.is_empty() {
            return pattern.is_empty();
        }
        // dp[j]: pattern[..i] matches string[..j].
        let mut dp = vec![false; string.len() + 1];
        dp[0] = true;
        for &p in pattern {
            let mut next = vec![false; string.len() + 1];
            for j in 0..=string.len() {
                next[j] = match p {
                    b'*' => dp[j] || (j > 0 && next[j - 1]),
                    b'?' => j > 0 && dp[j - 1],
                    lit => j > 0 && dp[j - 1] && string[j - 1] == lit,
                };
            }
            dp = next;
        }
        dp[string.len()]
    }

    proptest! {
        #[test]
        fn agrees_with_reference(
            pattern in proptest::collection::vec(prop::sample::select(b"ab*?".to_vec()), 0..12),
            string in proptest::collection::vec(prop::sample::select(b"ab".to_vec()), 0..12),
        ) {
            prop_assert_eq!(glob_match(&pattern, &string, false), reference(&pattern, &string));
        }

        #[test]
        fn never_panics(
            pattern in proptest::collection::vec(prop::sample::select(b"ab*?[]^-\\\xff".to_vec()), 0..16),
            string in proptest::collection::vec(any::<u8>(), 0..16),
            nocase in any::<bool>(),
        ) {
            let _ = glob_match(&pattern, &string, nocase);
        }
    }
}
