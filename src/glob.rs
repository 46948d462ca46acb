//! Temporary glob matcher; replaced by the full Redis-compatible one.

pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    fn eq(a: u8, b: u8, nocase: bool) -> bool {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    }
    match pattern.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob_match(&pattern[1..], &s[i..], nocase)),
        Some(b'?') => !s.is_empty() && glob_match(&pattern[1..], &s[1..], nocase),
        Some(&c) => {
            !s.is_empty() && eq(c, s[0], nocase) && glob_match(&pattern[1..], &s[1..], nocase)
        }
    }
}
