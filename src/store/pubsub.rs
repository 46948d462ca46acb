//! The pub/sub registry: who listens to which channel, pattern and shard channel, and
//! the queue each subscriber's connection drains.
//!
//! A subscriber's messages are encoded once per protocol under the store lock and sent
//! on an unbounded channel to its connection task, which writes them in order. The
//! bound is in bytes, not messages: every send adds to the subscriber's
//! [`Outbox::queued`] counter and the connection subtracts what it has written. Past
//! `client-output-buffer-limit pubsub` (the hard limit, or the soft limit for longer
//! than its seconds) the subscriber is dropped from the registry and its connection is
//! asked to close, so a client that stops reading never makes the server grow without
//! bound (Redis's `checkClientOutputBufferLimits`).
//!
//! Like the rest of `store`, this knows nothing about sockets: the connection owns the
//! receiving end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, Notify};

use crate::glob::glob_match;
use crate::resp::{encode, Reply};

/// The sending side of a connection's push queue, kept in its `Client`.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes sent and not yet written to the socket.
    pub queued: Arc<AtomicUsize>,
}

impl Outbox {
    /// A new queue: the outbox for the `Client`, the receiver for its connection.
    pub fn new() -> (Outbox, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Outbox {
                tx,
                queued: Arc::new(AtomicUsize::new(0)),
            },
            rx,
        )
    }
}

/// The three kinds of subscription, each with its own confirmation texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    pub fn subscribe_msg(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    pub fn unsubscribe_msg(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// `client-output-buffer-limit pubsub <hard> <soft> <soft-seconds>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

#[derive(Debug)]
struct Subscriber {
    outbox: Outbox,
    proto: u8,
    kill: Arc<Notify>,
    /// Subscriptions in the order they were made (UNSUBSCRIBE without arguments
    /// answers in this order).
    channels: Vec<Bytes>,
    patterns: Vec<Bytes>,
    shard: Vec<Bytes>,
    /// When the queue first went above the soft limit (Unix ms).
    soft_since: Option<u64>,
}

impl Subscriber {
    fn list(&mut self, kind: Kind) -> &mut Vec<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// Every subscription on this node.
#[derive(Debug, Default)]
pub struct PubSub {
    /// Channel → subscriber ids, in subscription order (the delivery order).
    channels: HashMap<Bytes, Vec<u64>>,
    patterns: HashMap<Bytes, Vec<u64>>,
    shard: HashMap<Bytes, Vec<u64>>,
    subs: HashMap<u64, Subscriber>,
    /// Subscribers dropped for exceeding their output buffer limit.
    pub disconnected: u64,
}

impl PubSub {
    fn index(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<u64>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Subscribes client `id` to `name`. Returns false if it already was.
    pub fn subscribe(
        &mut self,
        id: u64,
        outbox: &Outbox,
        proto: u8,
        kill: &Arc<Notify>,
        kind: Kind,
        name: &Bytes,
    ) -> bool {
        let sub = self.subs.entry(id).or_insert_with(|| Subscriber {
            outbox: outbox.clone(),
            proto,
            kill: kill.clone(),
            channels: Vec::new(),
            patterns: Vec::new(),
            shard: Vec::new(),
            soft_since: None,
        });
        sub.proto = proto;
        let list = sub.list(kind);
        if list.contains(name) {
            return false;
        }
        list.push(name.clone());
        self.index(kind).entry(name.clone()).or_default().push(id);
        true
    }

    /// Unsubscribes client `id` from `name`. Returns false if it was not subscribed.
    pub fn unsubscribe(&mut self, id: u64, kind: Kind, name: &[u8]) -> bool {
        let Some(sub) = self.subs.get_mut(&id) else {
            return false;
        };
        let list = sub.list(kind);
        let Some(pos) = list.iter().position(|n| n == name) else {
            return false;
        };
        list.remove(pos);
        if sub.channels.is_empty() && sub.patterns.is_empty() && sub.shard.is_empty() {
            self.subs.remove(&id);
        }
        let index = self.index(kind);
        if let Some(ids) = index.get_mut(name) {
            ids.retain(|&i| i != id);
            if ids.is_empty() {
                index.remove(name);
            }
        }
        true
    }

    /// Records that client `id` switched protocol (HELLO): its messages change shape.
    pub fn set_proto(&mut self, id: u64, proto: u8) {
        if let Some(s) = self.subs.get_mut(&id) {
            s.proto = proto;
        }
    }

    /// The names client `id` is subscribed to, in subscription order.
    pub fn subscriptions(&self, id: u64, kind: Kind) -> Vec<Bytes> {
        self.subs
            .get(&id)
            .map(|s| match kind {
                Kind::Channel => s.channels.clone(),
                Kind::Pattern => s.patterns.clone(),
                Kind::Shard => s.shard.clone(),
            })
            .unwrap_or_default()
    }

    /// Drops every subscription of client `id` (disconnect, RESET).
    pub fn remove(&mut self, id: u64) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.subscriptions(id, kind) {
                self.unsubscribe(id, kind, &name);
            }
        }
        self.subs.remove(&id);
    }

    /// Active channels (with at least one subscriber) matching `pattern`.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let index = match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        };
        index
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// How many channels (patterns, shard channels) have subscribers.
    pub fn len(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel => self.channels.len(),
            Kind::Pattern => self.patterns.len(),
            Kind::Shard => self.shard.len(),
        }
    }

    /// Whether nobody subscribes to anything.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// How many clients subscribe to `name`.
    pub fn numsub(&self, kind: Kind, name: &[u8]) -> usize {
        let index = match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        };
        index.get(name).map_or(0, Vec::len)
    }

    /// Delivers `message` on `channel` (PUBLISH, or SPUBLISH with `Kind::Shard`) to
    /// every matching subscriber and returns how many received it.
    pub fn publish(
        &mut self,
        kind: Kind,
        channel: &Bytes,
        message: &Bytes,
        limit: Limit,
        now_ms: u64,
    ) -> usize {
        // The messages to send, each with the ids that receive it, in delivery order.
        // (Borrowing the indexes apart from `subs` avoids copying the id lists.)
        let PubSub {
            channels,
            patterns,
            shard,
            subs,
            ..
        } = self;
        let mut groups: Vec<(Reply, &Vec<u64>)> = Vec::new();
        let (index, head) = match kind {
            Kind::Shard => (&*shard, "smessage"),
            _ => (&*channels, "message"),
        };
        if let Some(ids) = index.get(channel) {
            let msg = Reply::Push(vec![
                Reply::bulk(head),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(message.clone()),
            ]);
            groups.push((msg, ids));
        }
        if kind == Kind::Channel {
            for (pattern, ids) in patterns.iter() {
                if glob_match(pattern, channel, false) {
                    let msg = Reply::Push(vec![
                        Reply::bulk("pmessage"),
                        Reply::Bulk(pattern.clone()),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ]);
                    groups.push((msg, ids));
                }
            }
        }
        let mut receivers = 0;
        let mut over = Vec::new();
        for (reply, ids) in groups {
            // Encoded at most once per protocol version.
            let mut encoded: [Option<Bytes>; 2] = [None, None];
            for &id in ids {
                receivers += 1;
                let Some(sub) = subs.get_mut(&id) else {
                    continue;
                };
                let slot = &mut encoded[usize::from(sub.proto == 3)];
                let bytes = slot
                    .get_or_insert_with(|| {
                        // Sized up front: grown by doubling, the last `\r\n` after a
                        // large payload doubles the buffer, and a queued message would
                        // hold twice the bytes its subscriber's limit counts.
                        let mut out = BytesMut::with_capacity(push_len(&reply));
                        encode(&reply, sub.proto, &mut out);
                        out.freeze()
                    })
                    .clone();
                let len = bytes.len();
                if sub.outbox.tx.send(bytes).is_err() {
                    continue;
                }
                let queued = sub.outbox.queued.fetch_add(len, Ordering::AcqRel) + len;
                if exceeds(&mut sub.soft_since, queued as u64, limit, now_ms) {
                    over.push(id);
                }
            }
        }
        for id in over {
            self.disconnect(id);
        }
        receivers
    }

    /// Drops a subscriber whose queue went over its limit and asks its connection to
    /// close, as Redis's `freeClientAsync` after `checkClientOutputBufferLimits`.
    fn disconnect(&mut self, id: u64) {
        if let Some(sub) = self.subs.get(&id) {
            sub.kill.notify_one();
            tracing::warn!(
                id,
                "client scheduled to be closed ASAP for overcoming of output buffer limits"
            );
            self.disconnected += 1;
        }
        self.remove(id);
    }
}

/// An upper bound of a message's encoded size (RESP2 or RESP3): its bulks and, per
/// element, room for a header with a 20-digit length and the `\r\n`s.
fn push_len(reply: &Reply) -> usize {
    match reply {
        Reply::Push(items) => {
            items
                .iter()
                .map(|r| match r {
                    Reply::Bulk(b) => b.len(),
                    _ => 0,
                })
                .sum::<usize>()
                + 26 * (items.len() + 1)
        }
        _ => 64,
    }
}

/// Whether a queue with `queued` bytes waiting is over `limit`; `soft_since` is when
/// it first went over the soft limit (Unix ms), kept by the caller per queue.
pub fn exceeds(soft_since: &mut Option<u64>, queued: u64, limit: Limit, now_ms: u64) -> bool {
    if limit.hard > 0 && queued >= limit.hard {
        return true;
    }
    if limit.soft > 0 && queued >= limit.soft {
        match *soft_since {
            None => *soft_since = Some(now_ms),
            Some(t) if now_ms.saturating_sub(t) / 1000 >= limit.soft_secs => return true,
            Some(_) => {}
        }
    } else {
        *soft_since = None;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message's buffer is sized once: its encoding in either protocol never needs
    /// more than `push_len`, whatever the lengths (a regrowth would double it).
    #[test]
    fn a_message_fits_the_room_reserved_for_it() {
        for n in [0usize, 1, 9, 10, 99, 1000, 1024, 65_536, 1 << 20] {
            let payload = Bytes::from(vec![b'x'; n]);
            let msg = Reply::Push(vec![
                Reply::bulk("pmessage"),
                Reply::Bulk(Bytes::from(vec![b'p'; n % 300])),
                Reply::Bulk(Bytes::from_static(b"channel")),
                Reply::Bulk(payload),
            ]);
            for proto in [2, 3] {
                let mut out = BytesMut::new();
                encode(&msg, proto, &mut out);
                assert!(out.len() <= push_len(&msg), "{n} bytes, RESP{proto}");
            }
        }
    }

    #[test]
    fn hard_limit_drops_the_subscriber() {
        let mut ps = PubSub::default();
        let (outbox, _rx) = Outbox::new();
        let kill = Arc::new(Notify::new());
        let ch = Bytes::from_static(b"ch");
        assert!(ps.subscribe(1, &outbox, 2, &kill, Kind::Channel, &ch));
        assert!(!ps.subscribe(1, &outbox, 2, &kill, Kind::Channel, &ch));
        let limit = Limit {
            hard: 100,
            soft: 0,
            soft_secs: 0,
        };
        let msg = Bytes::from(vec![b'x'; 60]);
        assert_eq!(ps.publish(Kind::Channel, &ch, &msg, limit, 0), 1);
        assert_eq!(ps.numsub(Kind::Channel, b"ch"), 1);
        assert_eq!(ps.publish(Kind::Channel, &ch, &msg, limit, 0), 1);
        assert_eq!(ps.numsub(Kind::Channel, b"ch"), 0);
        assert_eq!(ps.disconnected, 1);
    }
}
