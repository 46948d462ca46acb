//! Keyspace notifications (`notify-keyspace-events`): the event classes, their
//! spelling in the parameter, and publishing an event on the `__keyspace@<db>__:<key>`
//! and `__keyevent@<db>__:<event>` channels.
//!
//! Commands call `Ctx::notify` with their class and Redis's event name; that is one
//! test of [`Params::notify_flags`](crate::params::Params) when notifications are off
//! (the default). Two events are not raised by a command but by the keyspace itself,
//! `new` (a key was created) and `expired` (lazy or active expiry): `Db` records them
//! in its event log while someone listens (see [`Db::log_events`](super::Db)), and the
//! store publishes the log before the running command's next event and after the
//! command, so they come out in the order Redis raises them.

use bytes::{Bytes, BytesMut};

use super::Store;

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: DEL, EXPIRE, RENAME, ... (type-independent commands).
pub const GENERIC: u32 = 1 << 2;
/// `$`
pub const STRING: u32 = 1 << 3;
/// `l`
pub const LIST: u32 = 1 << 4;
/// `s`
pub const SET: u32 = 1 << 5;
/// `h`
pub const HASH: u32 = 1 << 6;
/// `z`
pub const ZSET: u32 = 1 << 7;
/// `x`
pub const EXPIRED: u32 = 1 << 8;
/// `e`
pub const EVICTED: u32 = 1 << 9;
/// `t`
pub const STREAM: u32 = 1 << 10;
/// `m`: key misses; left out of `A` on purpose, as in Redis.
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events.
pub const MODULE: u32 = 1 << 13;
/// `n`: key creation; left out of `A`, as in Redis.
pub const NEW: u32 = 1 << 14;
/// `A`
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Parses a `notify-keyspace-events` value (Redis's `keyspaceEventsStringToFlags`).
pub fn parse_classes(s: &str) -> Option<u32> {
    s.chars().try_fold(0, |flags, c| {
        Some(
            flags
                | match c {
                    'A' => ALL,
                    'g' => GENERIC,
                    '$' => STRING,
                    'l' => LIST,
                    's' => SET,
                    'h' => HASH,
                    'z' => ZSET,
                    'x' => EXPIRED,
                    'e' => EVICTED,
                    'K' => KEYSPACE,
                    'E' => KEYEVENT,
                    't' => STREAM,
                    'm' => KEY_MISS,
                    'd' => MODULE,
                    'n' => NEW,
                    _ => return None,
                },
        )
    })
}

/// How `CONFIG GET` spells `flags` (Redis's `keyspaceEventsFlagsToString`: `KEA`
/// reads back as `AKE`).
pub fn classes_to_string(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// An event the keyspace raised by itself (`new`, `expired`), waiting in a `Db`'s log.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub class: u32,
    pub event: &'static str,
    pub key: Bytes,
}

fn channel(prefix: &str, db: usize, name: &[u8]) -> Bytes {
    let mut c = BytesMut::with_capacity(prefix.len() + 8 + name.len());
    c.extend_from_slice(prefix.as_bytes());
    c.extend_from_slice(db.to_string().as_bytes());
    c.extend_from_slice(b"__:");
    c.extend_from_slice(name);
    c.freeze()
}

impl Store {
    /// Publishes one keyspace event if its class is enabled (Redis's
    /// `notifyKeyspaceEvent`): first on the key's channel, then on the event's.
    pub fn notify_keyspace_event(
        &mut self,
        class: u32,
        event: &str,
        key: &Bytes,
        db: usize,
        now_ms: u64,
    ) {
        let flags = self.params.notify_flags;
        if flags & class == 0 {
            return;
        }
        let limit = self.params.pubsub_limit();
        let kind = super::pubsub::Kind::Channel;
        if flags & KEYSPACE != 0 {
            let ch = channel("__keyspace@", db, key);
            let ev = Bytes::copy_from_slice(event.as_bytes());
            self.pubsub.publish(kind, &ch, &ev, limit, now_ms);
        }
        if flags & KEYEVENT != 0 {
            let ch = channel("__keyevent@", db, event.as_bytes());
            self.pubsub.publish(kind, &ch, key, limit, now_ms);
        }
    }

    /// Publishes the events the databases logged by themselves (key creation,
    /// expiry), in order, and lets client tracking see the expired keys.
    pub fn flush_logged_events(&mut self, now_ms: u64, by: u64) {
        for db in 0..self.dbs.len() {
            if self.dbs[db].events.is_empty() {
                continue;
            }
            let events = std::mem::take(&mut self.dbs[db].events);
            for e in events {
                if e.class == EXPIRED {
                    self.key_modified(db, &e.key, by);
                }
                self.notify_keyspace_event(e.class, e.event, &e.key, db, now_ms);
            }
        }
    }

    /// Turns the databases' event logs on or off after `notify-keyspace-events` or
    /// client tracking changed: they record only while someone can use them.
    pub fn sync_event_logs(&mut self) {
        let on = self.params.notify_flags & (KEYSPACE | KEYEVENT) != 0
            && self.params.notify_flags & (NEW | EXPIRED) != 0
            || !self.tracking.is_empty();
        for db in self.dbs.iter_mut() {
            db.log_events = on;
            if !on {
                db.events.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_trip_as_redis_spells_them() {
        let norm = |s: &str| parse_classes(s).map(classes_to_string);
        assert_eq!(norm("KEA").as_deref(), Some("AKE"));
        assert_eq!(norm("xK").as_deref(), Some("xK"));
        assert_eq!(norm("Kx").as_deref(), Some("xK"));
        assert_eq!(norm("gA").as_deref(), Some("A"));
        // `n` is not part of `A` and is not printed next to it.
        assert_eq!(norm("nA").as_deref(), Some("A"));
        assert_eq!(norm("Kn").as_deref(), Some("nK"));
        assert_eq!(norm("Em").as_deref(), Some("Em"));
        assert_eq!(norm("").as_deref(), Some(""));
        assert_eq!(norm("Ag$lshzxeKEtmdn").as_deref(), Some("AKEm"));
        assert_eq!(norm("g$lshzxetdK").as_deref(), Some("AK"));
        assert_eq!(norm("Q"), None);
        assert_eq!(norm("A "), None);
    }

    proptest::proptest! {
        /// Whatever the input, parsing is total and a parsed value reads back as a
        /// string that parses to the same classes (except `n` hidden by `A`).
        #[test]
        fn parse_is_total_and_normal_form_is_stable(s in ".{0,20}") {
            if let Some(flags) = parse_classes(&s) {
                let text = classes_to_string(flags);
                let again = parse_classes(&text).unwrap_or(u32::MAX);
                let mask = if flags & ALL == ALL { !NEW } else { !0 };
                proptest::prop_assert_eq!(again & mask, flags & mask);
                proptest::prop_assert_eq!(classes_to_string(again), text);
            }
        }
    }
}
