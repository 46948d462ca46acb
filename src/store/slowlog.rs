//! The slow log (`SLOWLOG`): the most recent commands that ran for at least
//! `slowlog-log-slower-than` microseconds, newest first, at most `slowlog-max-len`.
//!
//! Entries keep a trimmed copy of the arguments, as Redis's `slowlogCreateEntry`:
//! at most [`MAX_ARGC`] arguments (the last one then says how many were left out)
//! and at most [`MAX_STRING`] bytes of each (with how many bytes were cut), so a
//! huge MSET costs the log a bounded amount of memory.

use std::collections::VecDeque;

use bytes::Bytes;

/// Redis's `SLOWLOG_ENTRY_MAX_ARGC`.
pub const MAX_ARGC: usize = 32;
/// Redis's `SLOWLOG_ENTRY_MAX_STRING`.
pub const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    /// Unix seconds when it was logged.
    pub time: u64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    /// The client's `ip:port` (`?:0` for commands a script ran).
    pub peer: String,
    pub name: Bytes,
}

/// The log itself, newest entry first.
#[derive(Debug, Default)]
pub struct SlowLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// Who ran a logged command.
pub struct Caller<'a> {
    pub peer: &'a str,
    pub name: Option<&'a Bytes>,
}

impl SlowLog {
    /// Logs `args` if it ran for at least `slower_than` µs (a negative threshold turns
    /// the log off), then trims the log to `max_len` entries. As in Redis, lowering
    /// `slowlog-max-len` takes effect at the next push.
    pub fn push(
        &mut self,
        slower_than: i64,
        max_len: u64,
        args: &[Bytes],
        duration_us: u64,
        who: Caller,
        now_secs: u64,
    ) {
        if slower_than < 0 {
            return;
        }
        if duration_us >= slower_than as u64 {
            let id = self.next_id;
            self.next_id += 1;
            self.entries.push_front(Entry {
                id,
                time: now_secs,
                duration_us,
                args: trim_args(args),
                peer: who.peer.to_string(),
                name: who.name.cloned().unwrap_or_default(),
            });
        }
        while self.entries.len() as u64 > max_len {
            self.entries.pop_back();
        }
    }

    /// The newest `count` entries.
    pub fn latest(&self, count: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(count)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `SLOWLOG RESET`: drops the entries; ids keep counting.
    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

/// The arguments as an entry keeps them (see the module doc).
fn trim_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (i, a) in args.iter().take(kept).enumerate() {
        if kept != args.len() && i == kept - 1 {
            let more = args.len() - kept + 1;
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if a.len() > MAX_STRING {
            let mut s = a[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            out.push(Bytes::from(s));
        } else {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Caller<'static> {
        Caller {
            peer: "127.0.0.1:1",
            name: None,
        }
    }

    #[test]
    fn trims_arguments_like_redis() {
        let mut args: Vec<Bytes> = vec![Bytes::from_static(b"RPUSH"), Bytes::from_static(b"L")];
        args.extend((0..40).map(|i| Bytes::from(i.to_string())));
        let t = trim_args(&args);
        assert_eq!(t.len(), 32);
        assert_eq!(t[30], Bytes::from_static(b"28"));
        assert_eq!(t[31], Bytes::from_static(b"... (11 more arguments)"));
        let big = Bytes::from(vec![b'x'; 200]);
        let t = trim_args(&[Bytes::from_static(b"SET"), big]);
        assert_eq!(t[1].len(), 128 + "... (72 more bytes)".len());
        assert!(t[1].ends_with(b"x... (72 more bytes)"));
        // Exactly 32 arguments and 128 bytes are kept whole.
        let args: Vec<Bytes> = (0..32).map(|_| Bytes::from(vec![b'y'; 128])).collect();
        assert_eq!(trim_args(&args), args);
    }

    #[test]
    fn threshold_and_length() {
        let mut log = SlowLog::default();
        let args = [Bytes::from_static(b"PING")];
        log.push(-1, 10, &args, 1_000_000, who(), 1);
        assert!(log.is_empty());
        log.push(100, 10, &args, 99, who(), 1);
        assert!(log.is_empty());
        log.push(100, 10, &args, 100, who(), 1);
        log.push(0, 10, &args, 0, who(), 2);
        assert_eq!(log.len(), 2);
        assert_eq!(log.latest(10).map(|e| e.id).collect::<Vec<_>>(), [1, 0]);
        // A shorter maximum applies at the next push; a skipped command still trims.
        log.push(100, 1, &args, 1, who(), 3);
        assert_eq!(log.len(), 1);
        log.reset();
        log.push(0, 1, &args, 5, who(), 4);
        assert_eq!(log.latest(1).next().map(|e| e.id), Some(2));
    }
}
