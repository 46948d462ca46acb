//! Long brackets as Redis's Lua reads them.
//!
//! Lua 5.1 is built by default with `LUA_COMPAT_LSTR` 1, which refuses `[[` inside
//! a `[[...]]` string or comment ("nesting of [[...]] is deprecated"). Redis builds
//! its Lua without it: the `[[` is text and the first `]]` closes. The bundled Lua
//! cannot be built that way, so a script whose level-0 long brackets hold `[[` has
//! those brackets raised to a level (`[=[...]=]`) whose closing text the content
//! does not hold, which Lua reads as Redis's does. Only delimiters change, never a
//! line break, so error messages keep their line numbers.

use std::borrow::Cow;

/// `src` with every level-0 long bracket that holds `[[` raised to a free level;
/// borrowed when there is none (almost every script).
pub fn unnest(src: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memmem::find(src, b"[[").is_none() {
        return Cow::Borrowed(src);
    }
    // (start of the opening `[[`, start of the closing `]]` if any, level to use)
    let mut raise = Vec::new();
    let mut i = 0;
    while i < src.len() {
        match src[i] {
            b'\'' | b'"' => i = skip_short_string(src, i),
            b'-' if src.get(i + 1) == Some(&b'-') => {
                i += 2;
                if long_open(src, i).is_none() {
                    i += memchr::memchr(b'\n', &src[i..]).unwrap_or(src.len() - i);
                }
            }
            b'[' => match long_open(src, i) {
                Some(level) => {
                    let body = i + level + 2;
                    let close = find_close(src, body, level);
                    let end = close.map_or(src.len(), |c| c + level + 2);
                    // Unclosed, it is raised too: Lua then reports it unfinished,
                    // as Redis's does, rather than nested.
                    let content = &src[body..close.unwrap_or(src.len())];
                    if level == 0 && memchr::memmem::find(content, b"[[").is_some() {
                        raise.push((i, close, free_level(content)));
                    }
                    i = end;
                }
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    if raise.is_empty() {
        return Cow::Borrowed(src);
    }
    let mut out = Vec::with_capacity(src.len() + raise.len() * 8);
    let mut from = 0;
    for (open, close, level) in raise {
        let eq = "=".repeat(level);
        out.extend_from_slice(&src[from..open]);
        out.extend_from_slice(format!("[{eq}[").as_bytes());
        from = open + 2;
        if let Some(close) = close {
            out.extend_from_slice(&src[from..close]);
            out.extend_from_slice(format!("]{eq}]").as_bytes());
            from = close + 2;
        }
    }
    out.extend_from_slice(&src[from..]);
    Cow::Owned(out)
}

/// The level of the long bracket opening at `i` (`[`, `=`s, `[`), if one does.
fn long_open(src: &[u8], i: usize) -> Option<usize> {
    if src.get(i) != Some(&b'[') {
        return None;
    }
    let level = src[i + 1..].iter().take_while(|&&c| c == b'=').count();
    (src.get(i + 1 + level) == Some(&b'[')).then_some(level)
}

/// Where the closing bracket of `level` starts, searching from `from`.
fn find_close(src: &[u8], from: usize, level: usize) -> Option<usize> {
    let close = format!("]{}]", "=".repeat(level));
    memchr::memmem::find(&src[from..], close.as_bytes()).map(|p| from + p)
}

/// The smallest level from 1 whose closing bracket `content` does not hold.
fn free_level(content: &[u8]) -> usize {
    (1..)
        .find(|&n| find_close(content, 0, n).is_none())
        .unwrap_or(1)
}

/// Past the quoted string opening at `i`: its closing quote, or the line's end
/// (where Lua reports an unfinished string); `\` escapes the next byte.
fn skip_short_string(src: &[u8], i: usize) -> usize {
    let quote = src[i];
    let mut j = i + 1;
    while j < src.len() {
        match src[j] {
            b'\\' => j += 2,
            b'\n' => return j,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    src.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(src: &str, want: &str) {
        assert_eq!(
            String::from_utf8_lossy(&unnest(src.as_bytes())),
            want,
            "{src}"
        );
    }

    #[test]
    fn only_level_zero_brackets_holding_double_brackets_change() {
        check("return [[a[[b]]", "return [=[a[[b]=]");
        check("return [[a]] .. [[b[[c]]", "return [[a]] .. [=[b[[c]=]");
        // The content holds `]=]`: the next free level.
        check("return [[x]=][[y]]", "return [==[x]=][[y]==]");
        // Already levelled, or no `[[` inside: unchanged.
        check("return [=[a[[b]]]=]", "return [=[a[[b]]]=]");
        check("return t[ [[k]] ]", "return t[ [[k]] ]");
        // Comments are long brackets too; line comments and strings are not.
        check("--[[ a [[ b ]]\nreturn 1", "--[=[ a [[ b ]=]\nreturn 1");
        check("-- [[ a [[ b ]]\nreturn 1", "-- [[ a [[ b ]]\nreturn 1");
        check("return '[[a[[b]]'", "return '[[a[[b]]'");
        check("return \"\\\"[[a[[b]]\"", "return \"\\\"[[a[[b]]\"");
        // Unclosed: raised, so that Lua reports it unfinished rather than nested.
        check("return [[a[[b", "return [=[a[[b");
        check("return [[ab", "return [[ab");
    }

    #[test]
    fn line_breaks_stay_where_they_are() {
        let src = "local a = [[one\n[[two\n]]\nreturn a";
        let out = unnest(src.as_bytes());
        let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
        assert_eq!(lines(&out), lines(src.as_bytes()));
    }

    proptest! {
        /// Any text: no panic, and nothing but `=` added (so the same lines).
        #[test]
        fn any_text_keeps_its_lines_and_gains_only_levels(
            src in proptest::collection::vec(
                prop_oneof![Just(b'['), Just(b']'), Just(b'='), Just(b'-'), Just(b'\''),
                    Just(b'"'), Just(b'\\'), Just(b'\n'), Just(b'a')],
                0..64,
            )
        ) {
            let out = unnest(&src);
            let without_eq = |b: &[u8]| b.iter().filter(|&&c| c != b'=').copied().collect::<Vec<u8>>();
            prop_assert_eq!(without_eq(&out), without_eq(&src));
        }
    }
}
