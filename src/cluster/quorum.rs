//! The reply accumulator of a replicated request: when is it done, and with which reply.
//!
//! Why this exists: Dynomite's response manager (src/dyn_response_mgr.c) decides when a
//! request sent to several racks can be answered. Its rules are the client-visible contract
//! of the consistency levels, but its implementation holds at most three replies (#764) and
//! fails every request of a one-rack DC under DC_SAFE_QUORUM (#573/#652). This is the same
//! contract as a sans-IO state machine, for any number of racks:
//!
//! - With R racks in a DC the quorum is q = ⌊R/2⌋ + 1. Every good reply carries a checksum
//!   of its bytes ([`checksum`]); error replies (Redis `-ERR…` or a transport failure such as
//!   `ERR Peer: Peer Node is not connected`) never count toward the quorum.
//! - Done with a good reply once q good replies have the same checksum. That reply is the
//!   first one received with the winning checksum, as Dynomite returns `responses[0]` or
//!   `[1]`. Two checksums can never both reach q, since 2q > R.
//! - If q good replies can no longer arrive, done with the first error reply received.
//! - If q good replies are in (or can still arrive) but no checksum can reach q, DC_QUORUM
//!   answers with the first good reply received and DC_SAFE_QUORUM with
//!   `ERR Dynomite: Failed to achieve Quorum`. Dynomite waits for every reply before
//!   deciding this; we decide as soon as the outstanding replies can no longer change the
//!   answer, which gives the same answer sooner.
//! - DC_ONE is the quorum rule with R = 1: the own rack's reply, good or error.
//! - DC_EACH_SAFE_QUORUM applies the SAFE rule in every DC with racks; it succeeds when every
//!   DC agrees (answering with the local DC's reply) and fails with the first DC failure.
//! - Replies from DCs a level does not count (remote DCs below EACH) are ignored: cross-DC
//!   replication is acknowledged elsewhere, not by the client's reply.
//!
//! No I/O, no clocks: a timeout is reported by the caller as [`Tracker::peer_failed`].

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

/// The error text of a SAFE quorum mismatch (Dynomite's exact wording, without `-` and CRLF).
pub const QUORUM_FAILED: &str = "ERR Dynomite: Failed to achieve Quorum";

/// A consistency level of `read_consistency` / `write_consistency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Level {
    /// Only the coordinator's own rack answers.
    #[default]
    DcOne,
    /// A quorum of the local DC's racks; a final mismatch returns the first reply.
    DcQuorum,
    /// As DC_QUORUM, but a final mismatch is an error.
    DcSafeQuorum,
    /// A SAFE quorum in every DC (Dynomite's beta level from PR #720).
    DcEachSafeQuorum,
}

/// The error for a level name Dynomite does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown consistency level {name:?}; expected DC_ONE, DC_QUORUM, DC_SAFE_QUORUM or DC_EACH_SAFE_QUORUM")]
pub struct UnknownLevel {
    pub name: String,
}

impl Level {
    /// Every level, weakest first.
    pub const ALL: [Level; 4] = [
        Level::DcOne,
        Level::DcQuorum,
        Level::DcSafeQuorum,
        Level::DcEachSafeQuorum,
    ];

    /// The upper-case name, as Dynomite prints it in `/get_consistency`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::DcOne => "DC_ONE",
            Level::DcQuorum => "DC_QUORUM",
            Level::DcSafeQuorum => "DC_SAFE_QUORUM",
            Level::DcEachSafeQuorum => "DC_EACH_SAFE_QUORUM",
        }
    }

    /// Whether a final checksum mismatch is an error rather than the first reply.
    fn is_safe(self) -> bool {
        matches!(self, Level::DcSafeQuorum | Level::DcEachSafeQuorum)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = UnknownLevel;

    /// Case-insensitive, as Dynomite's config and `DYNO_CONFIG:CONN_CONSISTENCY` are.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownLevel { name: s.to_owned() })
    }
}

/// The checksum that decides whether two replicas' replies agree: the IEEE CRC32 of the
/// reply bytes, as Dynomite's `msg_payload_crc32`.
pub fn checksum(reply_bytes: &[u8]) -> u32 {
    crc32fast::hash(reply_bytes)
}

/// One replica's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A non-error reply: its encoded bytes and their [`checksum`].
    Ok { checksum: u32, bytes: Bytes },
    /// An error reply or a transport failure, as error text without `-` and CRLF
    /// (e.g. `ERR Peer: Peer Node is not connected`, `WRONGTYPE …`).
    Err(Bytes),
}

impl Reply {
    /// A good reply, checksummed.
    pub fn ok(bytes: Bytes) -> Reply {
        Reply::Ok {
            checksum: checksum(&bytes),
            bytes,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A quorum of replies agreed; this is the first of them received.
    Agreed(Bytes),
    /// DC_QUORUM only: no agreement was possible, so the first good reply received.
    FirstReply(Bytes),
    /// Too few good replies: the first error received (its text, without `-` and CRLF).
    Error(Bytes),
    /// A SAFE level saw enough good replies but no agreement: [`QUORUM_FAILED`].
    QuorumFailed,
}

impl Outcome {
    /// Whether the client gets an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Outcome::Error(_) | Outcome::QuorumFailed)
    }

    /// The reply bytes (good replies) or the error text (errors).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Outcome::Agreed(b) | Outcome::FirstReply(b) | Outcome::Error(b) => b,
            Outcome::QuorumFailed => Bytes::from_static(QUORUM_FAILED.as_bytes()),
        }
    }
}

/// Why a tracker cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error("the local DC (index {0}) has no racks")]
    NoLocalRacks(usize),
}

/// Accumulates the replies of one replicated request.
#[derive(Debug, Clone)]
pub struct Tracker {
    level: Level,
    local_dc: usize,
    /// The local DC's replies, which every level waits for.
    local: Tally,
    /// DC_EACH_SAFE_QUORUM only: one tally per DC index, `None` for the local DC (its
    /// tally is `local`) and DCs without racks. Empty for the other levels, so that
    /// the usual tracker (one per replicated write) allocates nothing for it.
    remote: Vec<Option<Tally>>,
    decided: Option<Outcome>,
}

/// The replies of one DC.
#[derive(Debug, Clone)]
struct Tally {
    expected: usize,
    quorum: usize,
    /// Inline for up to three racks, the usual layout: no allocation per request.
    goods: smallvec::SmallVec<[(u32, Bytes); 3]>,
    errors: usize,
    first_error: Option<Bytes>,
}

impl Tracker {
    /// A tracker for `level`, where `racks_per_dc[i]` is the number of racks (replicas) of
    /// DC `i` and `local_dc` is the coordinator's DC. DC_ONE waits for one reply from the
    /// local DC whatever its rack count; EACH waits on every DC that has racks.
    pub fn new(
        level: Level,
        local_dc: usize,
        racks_per_dc: &[usize],
    ) -> Result<Tracker, TrackerError> {
        let local_racks = racks_per_dc.get(local_dc).copied().unwrap_or(0);
        if local_racks == 0 {
            return Err(TrackerError::NoLocalRacks(local_dc));
        }
        let local = Tally::new(if level == Level::DcOne {
            1
        } else {
            local_racks
        });
        let remote = if level == Level::DcEachSafeQuorum {
            racks_per_dc
                .iter()
                .enumerate()
                .map(|(i, &racks)| (i != local_dc && racks > 0).then(|| Tally::new(racks)))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Tracker {
            level,
            local_dc,
            local,
            remote,
            decided: None,
        })
    }

    /// The tally of DC `dc`, if this level counts its replies.
    fn tally(&self, dc: usize) -> Option<&Tally> {
        if dc == self.local_dc {
            Some(&self.local)
        } else {
            self.remote.get(dc)?.as_ref()
        }
    }

    fn tally_mut(&mut self, dc: usize) -> Option<&mut Tally> {
        if dc == self.local_dc {
            Some(&mut self.local)
        } else {
            self.remote.get_mut(dc)?.as_mut()
        }
    }

    /// The level this tracker enforces.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Records one rack's reply from DC `dc`.
    ///
    /// Returns false when the reply is not counted: a DC this level ignores, an unknown DC,
    /// or more replies than the DC has racks. Replies after the outcome is decided are
    /// counted but cannot change it.
    pub fn submit(&mut self, dc: usize, reply: Reply) -> bool {
        let Some(tally) = self.tally_mut(dc) else {
            return false;
        };
        if tally.received() >= tally.expected {
            return false;
        }
        match reply {
            Reply::Ok { checksum, bytes } => tally.goods.push((checksum, bytes)),
            Reply::Err(text) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(text);
            }
        }
        if self.decided.is_none() {
            self.decided = self.evaluate();
        }
        true
    }

    /// Records that a rack of DC `dc` will not answer (not connected, refused, timed out),
    /// with the error text the client should see if this decides the request.
    pub fn peer_failed(&mut self, dc: usize, reason: Bytes) -> bool {
        self.submit(dc, Reply::Err(reason))
    }

    /// The outcome, once the request is done; `None` while it must keep waiting.
    /// Once `Some`, it never changes.
    pub fn outcome(&self) -> Option<Outcome> {
        self.decided.clone()
    }

    /// The outcome, as [`Tracker::outcome`], without copying it.
    pub fn into_outcome(self) -> Option<Outcome> {
        self.decided
    }

    /// Whether the request is done.
    pub fn is_done(&self) -> bool {
        self.decided.is_some()
    }

    /// How many counted replies are still expected across all tracked DCs.
    pub fn outstanding(&self) -> usize {
        self.local.outstanding()
            + self
                .remote
                .iter()
                .flatten()
                .map(Tally::outstanding)
                .sum::<usize>()
    }

    fn evaluate(&self) -> Option<Outcome> {
        let safe = self.level.is_safe();
        if self.level != Level::DcEachSafeQuorum {
            return self.local.verdict(safe);
        }
        let mut local = None;
        let mut all_agreed = true;
        // In DC index order, as the first DC failure decides; under EACH `remote` has
        // a slot for every DC, the local one included.
        for i in 0..self.remote.len() {
            let Some(tally) = self.tally(i) else { continue };
            match tally.verdict(true) {
                Some(Outcome::Agreed(b)) => {
                    if i == self.local_dc {
                        local = Some(b);
                    }
                }
                Some(failure) => return Some(failure),
                None => all_agreed = false,
            }
        }
        if all_agreed {
            local.map(Outcome::Agreed)
        } else {
            None
        }
    }
}

impl Tally {
    fn new(expected: usize) -> Tally {
        Tally {
            expected,
            quorum: expected / 2 + 1,
            goods: smallvec::SmallVec::with_capacity(expected),
            errors: 0,
            first_error: None,
        }
    }

    fn received(&self) -> usize {
        self.goods.len() + self.errors
    }

    fn outstanding(&self) -> usize {
        self.expected.saturating_sub(self.received())
    }

    /// This DC's outcome, if the replies so far already determine it.
    fn verdict(&self, safe: bool) -> Option<Outcome> {
        let outstanding = self.outstanding();
        // The most replies that share one checksum, and the first reply with that checksum.
        let mut best: Option<(usize, &Bytes)> = None;
        for (i, (sum, bytes)) in self.goods.iter().enumerate() {
            // Count each checksum once, at its first occurrence.
            if self.goods[..i].iter().any(|(s, _)| s == sum) {
                continue;
            }
            let n = self.goods[i..].iter().filter(|(s, _)| s == sum).count();
            if best.is_none_or(|(m, _)| n > m) {
                best = Some((n, bytes));
            }
        }
        let max_agree = best.map_or(0, |(n, _)| n);
        if let Some((n, bytes)) = best {
            if n >= self.quorum {
                return Some(Outcome::Agreed(bytes.clone()));
            }
        }
        if self.goods.len() + outstanding < self.quorum {
            // Not enough good replies can arrive. There is at least one error, since
            // goods + outstanding < quorum ≤ expected.
            let text = self.first_error.clone().unwrap_or_default();
            return Some(Outcome::Error(text));
        }
        if self.goods.len() >= self.quorum && max_agree + outstanding < self.quorum {
            // Enough good replies, but no checksum can reach the quorum any more.
            return Some(if safe {
                Outcome::QuorumFailed
            } else {
                let first = self.goods.first().map(|(_, b)| b.clone());
                Outcome::FirstReply(first.unwrap_or_default())
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A compact reply alphabet for tables: 'A'..'C' are good replies with distinct bytes,
    /// 'x'..'z' are distinct errors.
    fn reply(c: char) -> Reply {
        match c {
            'A' | 'B' | 'C' | 'D' => Reply::ok(Bytes::from(format!("+{c}\r\n"))),
            _ => Reply::Err(Bytes::from(format!("ERR {c}"))),
        }
    }

    fn show(o: &Option<Outcome>) -> String {
        match o {
            None => "wait".to_owned(),
            Some(Outcome::Agreed(b)) => format!("ok {}", String::from_utf8_lossy(&b[1..2])),
            Some(Outcome::FirstReply(b)) => format!("first {}", String::from_utf8_lossy(&b[1..2])),
            Some(Outcome::Error(b)) => format!("err {}", String::from_utf8_lossy(&b[4..])),
            Some(Outcome::QuorumFailed) => "quorum failed".to_owned(),
        }
    }

    /// Feeds `replies` to a one-DC tracker with R = replies.len() racks (or `racks`) and
    /// returns the outcome after each reply.
    fn run(level: Level, racks: usize, replies: &str) -> Vec<String> {
        let mut t = Tracker::new(level, 0, &[racks]).expect("racks > 0");
        replies
            .chars()
            .map(|c| {
                t.submit(0, reply(c));
                show(&t.outcome())
            })
            .collect()
    }

    /// Hand-checked cases: (level, R, replies in arrival order, outcome after each reply).
    #[test]
    fn table() {
        use Level::*;
        let cases: &[(Level, usize, &str, &[&str])] = &[
            // DC_ONE: the own rack's reply, whatever it is; R is ignored.
            (DcOne, 3, "A", &["ok A"]),
            (DcOne, 3, "x", &["err x"]),
            // R = 1: one rack works under every level (#573/#652 fixed).
            (DcQuorum, 1, "A", &["ok A"]),
            (DcSafeQuorum, 1, "A", &["ok A"]),
            (DcSafeQuorum, 1, "x", &["err x"]),
            (DcEachSafeQuorum, 1, "B", &["ok B"]),
            // R = 2: q = 2, both must match.
            (DcQuorum, 2, "AA", &["wait", "ok A"]),
            (DcQuorum, 2, "AB", &["wait", "first A"]),
            (DcSafeQuorum, 2, "AB", &["wait", "quorum failed"]),
            (DcSafeQuorum, 2, "Ax", &["wait", "err x"]),
            (DcSafeQuorum, 2, "xA", &["err x", "err x"]),
            // R = 3: q = 2, any two of three.
            (DcSafeQuorum, 3, "AAB", &["wait", "ok A", "ok A"]),
            (DcSafeQuorum, 3, "ABB", &["wait", "wait", "ok B"]),
            (DcSafeQuorum, 3, "ABA", &["wait", "wait", "ok A"]),
            (DcSafeQuorum, 3, "ABC", &["wait", "wait", "quorum failed"]),
            (DcQuorum, 3, "ABC", &["wait", "wait", "first A"]),
            (DcQuorum, 3, "AxB", &["wait", "wait", "first A"]),
            (DcSafeQuorum, 3, "xAy", &["wait", "wait", "err x"]),
            (DcSafeQuorum, 3, "xyA", &["wait", "err x", "err x"]),
            (DcSafeQuorum, 3, "xAA", &["wait", "wait", "ok A"]),
            // R = 4: q = 3.
            (DcSafeQuorum, 4, "AABA", &["wait", "wait", "wait", "ok A"]),
            (
                DcSafeQuorum,
                4,
                "AABB",
                &["wait", "wait", "wait", "quorum failed"],
            ),
            (DcSafeQuorum, 4, "ABxy", &["wait", "wait", "wait", "err x"]),
            (DcQuorum, 4, "ABCA", &["wait", "wait", "first A", "first A"]),
            // R = 5: q = 3, more than three racks works (#764 fixed).
            (
                DcSafeQuorum,
                5,
                "ABCBB",
                &["wait", "wait", "wait", "wait", "ok B"],
            ),
            (
                DcSafeQuorum,
                5,
                "ABCDA",
                &["wait", "wait", "wait", "quorum failed", "quorum failed"],
            ),
            (
                DcQuorum,
                5,
                "xyzAA",
                &["wait", "wait", "err x", "err x", "err x"],
            ),
            (
                DcQuorum,
                5,
                "AxAyA",
                &["wait", "wait", "wait", "wait", "ok A"],
            ),
        ];
        for &(level, racks, replies, want) in cases {
            assert_eq!(
                run(level, racks, replies),
                want,
                "{level} R={racks} {replies}"
            );
        }
    }

    /// The contract evaluated only once every reply is in, written from the notes.
    fn oracle(level: Level, replies: &[char]) -> String {
        let r = if level == Level::DcOne {
            1
        } else {
            replies.len()
        };
        let replies = &replies[..r];
        let q = r / 2 + 1;
        let goods: Vec<char> = replies
            .iter()
            .copied()
            .filter(|c| c.is_uppercase())
            .collect();
        for &g in &goods {
            if goods.iter().filter(|&&h| h == g).count() >= q {
                return format!("ok {g}");
            }
        }
        if goods.len() < q {
            let first_err = replies
                .iter()
                .find(|c| c.is_lowercase())
                .copied()
                .unwrap_or('?');
            return format!("err {first_err}");
        }
        if level.is_safe() {
            "quorum failed".to_owned()
        } else {
            format!("first {}", goods[0])
        }
    }

    /// Every sequence of R replies over {A, B, C, x, y}, for R = 1..=5 and every level,
    /// checked against the oracle, and checked never to answer early with something else.
    #[test]
    fn exhaustive_against_oracle() {
        const ALPHABET: [char; 5] = ['A', 'B', 'C', 'x', 'y'];
        for r in 1..=5usize {
            for level in Level::ALL {
                for n in 0..ALPHABET.len().pow(r as u32) {
                    let seq: Vec<char> = (0..r)
                        .map(|i| ALPHABET[(n / ALPHABET.len().pow(i as u32)) % ALPHABET.len()])
                        .collect();
                    let s: String = seq.iter().collect();
                    let expected_replies = if level == Level::DcOne { 1 } else { r };
                    let steps = run(level, r, &s[..expected_replies]);
                    let want = oracle(level, &seq);
                    assert_eq!(steps.last(), Some(&want), "{level} R={r} {s}");
                    // Once decided, the answer never changes and equals the final one.
                    if let Some(first) = steps.iter().position(|o| o != "wait") {
                        assert!(
                            steps[first..].iter().all(|o| *o == want),
                            "{level} {s}: {steps:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn each_safe_quorum_needs_every_dc() {
        // Local DC 1 with 3 racks, DC 0 with 1 rack, DC 2 with 2 racks.
        let mut t = Tracker::new(Level::DcEachSafeQuorum, 1, &[1, 3, 2]).expect("valid");
        assert_eq!(t.outstanding(), 6);
        t.submit(1, reply('A'));
        t.submit(1, reply('A'));
        assert_eq!(
            t.outcome(),
            None,
            "the local DC agrees but the others have not answered"
        );
        t.submit(0, reply('A'));
        t.submit(2, reply('A'));
        assert_eq!(t.outcome(), None);
        t.submit(2, reply('A'));
        assert_eq!(show(&t.outcome()), "ok A");

        // A remote DC's mismatch fails the request even though the local DC agreed.
        let mut t = Tracker::new(Level::DcEachSafeQuorum, 0, &[1, 2]).expect("valid");
        t.submit(0, reply('A'));
        t.submit(1, reply('A'));
        t.submit(1, reply('B'));
        assert_eq!(t.outcome(), Some(Outcome::QuorumFailed));

        // A remote DC's error is returned.
        let mut t = Tracker::new(Level::DcEachSafeQuorum, 0, &[1, 1]).expect("valid");
        assert!(t.peer_failed(
            1,
            Bytes::from_static(b"ERR Peer: Peer Node is not connected")
        ));
        assert_eq!(
            t.outcome().map(Outcome::into_bytes),
            Some(Bytes::from_static(b"ERR Peer: Peer Node is not connected"))
        );
    }

    #[test]
    fn remote_and_surplus_replies_are_ignored() {
        let mut t = Tracker::new(Level::DcQuorum, 0, &[2, 3]).expect("valid");
        assert!(
            !t.submit(1, reply('x')),
            "remote DCs do not count below EACH"
        );
        assert!(!t.submit(9, reply('A')), "unknown DC");
        assert!(t.submit(0, reply('A')));
        assert!(t.submit(0, reply('A')));
        assert!(!t.submit(0, reply('A')), "more replies than racks");
        assert_eq!(show(&t.outcome()), "ok A");
        assert_eq!(t.outstanding(), 0);
        assert_eq!(
            Tracker::new(Level::DcOne, 2, &[1]).err(),
            Some(TrackerError::NoLocalRacks(2))
        );
        assert!(Tracker::new(Level::DcQuorum, 0, &[0]).is_err());
    }

    #[test]
    fn level_names() {
        for level in Level::ALL {
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
            assert_eq!(level.as_str().to_lowercase().parse::<Level>(), Ok(level));
        }
        assert_eq!("dc_Safe_Quorum".parse::<Level>(), Ok(Level::DcSafeQuorum));
        assert!("DC_ALL".parse::<Level>().is_err());
        assert_eq!(Outcome::QuorumFailed.into_bytes(), QUORUM_FAILED.as_bytes());
        assert_eq!(checksum(b"+OK\r\n"), crc32fast::hash(b"+OK\r\n"));
    }

    proptest! {
        /// Random racks, replies and arrival orders: never agreed before q matching replies,
        /// never waiting once every reply is in, and the final answer is the oracle's.
        #[test]
        fn invariants(
            level_i in 0..4usize,
            replies in prop::collection::vec(prop::sample::select(vec!['A', 'B', 'C', 'x', 'y']), 1..9),
        ) {
            let level = Level::ALL[level_i];
            let r = replies.len();
            let q = r / 2 + 1;
            let mut t = Tracker::new(level, 0, &[r]).expect("r > 0");
            let needed = if level == Level::DcOne { 1 } else { r };
            for (i, &c) in replies.iter().take(needed).enumerate() {
                t.submit(0, reply(c));
                if let Some(Outcome::Agreed(b)) = t.outcome() {
                    let seen = &replies[..=i];
                    let matching = seen.iter().filter(|&&x| x.is_uppercase() && x as u8 == b[1]).count();
                    let need = if level == Level::DcOne { 1 } else { q };
                    prop_assert!(matching >= need, "agreed with {} of {} matching", matching, need);
                }
            }
            prop_assert!(t.outcome().is_some(), "still waiting with every reply in");
            prop_assert_eq!(show(&t.outcome()), oracle(level, &replies));
        }
    }
}
