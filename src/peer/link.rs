//! One outbound link to a peer node: a bounded queue, one task that writes and reads,
//! reconnection with backoff, and hints for writes the peer has not acknowledged.
//!
//! **Why writes are queued, not fire-and-forget.** Dynomite drops a replica's write when
//! the link is down, so replicas drift apart for good. Here a replicated write is
//! *durable* on its link: it stays queued until the peer acknowledges it, and after a
//! reconnect every unacknowledged write is sent again, in order. Each durable write
//! carries a per-link sequence number and the sender's incarnation id, so the receiver
//! applies a resent write at most once. Reads and other non-durable requests fail at
//! once when the link is down (`ERR Peer: Peer Node is not connected`), as in Dynomite.
//!
//! Requests are pushed while the caller holds the store lock, so writes reach every
//! link in the order they were applied locally. Pushing never blocks: when the hint
//! queue is full the oldest unsent write is dropped and counted (a later anti-entropy
//! pass repairs what hints could not).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch, Notify};
use tracing::{info, warn};

use super::codec::{self, Frame, MsgType, RedmiteExt};

/// Dynomite's texts for requests a peer could not answer.
pub const NOT_CONNECTED: &str = "ERR Peer: Peer Node is not connected";
pub const REFUSED: &str = "ERR Peer: Peer Node refused connection";
pub const TIMED_OUT: &str = "ERR Peer: Peer Node timed out";

/// Unacknowledged durable writes kept per link before the oldest are dropped.
const MAX_HINTS: usize = 1_000_000;
const MAX_HINT_BYTES: usize = 256 * 1024 * 1024;

/// What a peer answered, or why it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerReply {
    /// The reply's RESP bytes (in the protocol the request asked for) and the peer's
    /// canonical checksum of it.
    Reply {
        bytes: Bytes,
        checksum: u32,
    },
    Failed(&'static str),
}

struct Outgoing {
    frame: Bytes,
    durable: bool,
    waiter: Option<oneshot::Sender<PeerReply>>,
    sent_at: Option<Instant>,
    queued_at: Instant,
}

impl Outgoing {
    fn fail(&mut self, why: &'static str) {
        if let Some(w) = self.waiter.take() {
            let _ = w.send(PeerReply::Failed(why));
        }
    }
}

#[derive(Default)]
struct LinkState {
    next_id: u64,
    next_seq: u64,
    /// Not written yet (including hints waiting for the link to come back).
    queue: VecDeque<Outgoing>,
    /// Written and awaiting a reply, in the order the peer will answer.
    inflight: VecDeque<Outgoing>,
    durable_bytes: usize,
}

/// Counters for one link (stats endpoint, INFO).
#[derive(Debug, Default)]
pub struct LinkStats {
    pub requests: AtomicU64,
    pub replies: AtomicU64,
    pub failed: AtomicU64,
    pub dropped_hints: AtomicU64,
    pub reconnects: AtomicU64,
    /// Round-trip times of requests on this link (µs), for the stats endpoint.
    pub rtt: crate::stats::Histogram,
    /// Times the peer was marked down after `server_failure_limit` failures in a row.
    pub marked_down: AtomicU64,
}

/// When a peer that keeps failing is given up on for a while (Dynomite's
/// `server_failure_limit`, `server_retry_timeout` and `auto_eject_hosts`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Consecutive failures (refused connects, lost or stuck connections) after which
    /// the peer is marked down.
    pub failure_limit: u32,
    /// How long a peer marked down waits before the next try; also the cap of the
    /// backoff between earlier tries.
    pub retry_timeout: Duration,
    /// Whether peers are marked down at all (`auto_eject_hosts`); if not, retries back
    /// off up to `retry_timeout` forever.
    pub eject: bool,
}

/// The handle other tasks use to send to one peer.
pub struct Link {
    pub name: String,
    pub addr: String,
    pub dc: String,
    pub rack: String,
    pub same_dc: bool,
    /// This process's incarnation id, stamped on every durable write.
    incarnation: u32,
    /// How long a reply may take before the connection is considered stuck.
    stall: Duration,
    up: AtomicBool,
    /// Set by the stats endpoint's `/peer/down/<name>`: the link counts as down
    /// (writes queue as hints, reads fail) until `/peer/up` or `/peer/reset`.
    admin_down: AtomicBool,
    state: Mutex<LinkState>,
    wake: Notify,
    pub stats: LinkStats,
}

impl Link {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        addr: String,
        dc: String,
        rack: String,
        same_dc: bool,
        incarnation: u32,
        stall: Duration,
    ) -> Arc<Link> {
        Arc::new(Link {
            name,
            addr,
            dc,
            rack,
            same_dc,
            incarnation,
            stall,
            up: AtomicBool::new(false),
            admin_down: AtomicBool::new(false),
            state: Mutex::new(LinkState {
                next_seq: 1,
                ..Default::default()
            }),
            wake: Notify::new(),
            stats: LinkStats::default(),
        })
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire) && !self.admin_down.load(Ordering::Relaxed)
    }

    /// Marks the peer down (or not) by an operator's request.
    pub fn set_admin_down(&self, down: bool) {
        if self.admin_down.swap(down, Ordering::Relaxed) != down {
            info!(peer = %self.name, "peer marked {} by the stats endpoint", if down { "down" } else { "up" });
        }
        if !down {
            self.wake.notify_one();
        }
    }

    /// How long the oldest unacknowledged request has waited (0 when none): the
    /// replication lag towards this peer.
    pub fn lag(&self) -> Duration {
        let s = self.state.lock();
        s.inflight
            .front()
            .or(s.queue.front())
            .map_or(Duration::ZERO, |o| o.queued_at.elapsed())
    }

    /// Unacknowledged requests (queued plus in flight), for stats.
    pub fn pending(&self) -> usize {
        let s = self.state.lock();
        s.queue.len() + s.inflight.len()
    }

    /// Queues one request. A durable request is a replicated write: it is numbered,
    /// kept until acknowledged and resent after reconnects. With `want_reply`, the
    /// returned receiver gets the peer's reply (or the reason there is none).
    pub fn send(
        &self,
        msg_type: MsgType,
        mut ext: RedmiteExt,
        payload: Bytes,
        durable: bool,
        want_reply: bool,
    ) -> Option<oneshot::Receiver<PeerReply>> {
        let (tx, rx) = if want_reply {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let up = self.is_up();
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if !up && !durable {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            if let Some(tx) = tx {
                let _ = tx.send(PeerReply::Failed(NOT_CONNECTED));
            }
            return rx;
        }
        let mut st = self.state.lock();
        st.next_id += 1;
        let id = st.next_id;
        ext.origin = self.incarnation;
        if durable {
            ext.version = st.next_seq;
            st.next_seq += 1;
        } else {
            ext.version = 0;
        }
        let frame = Frame::redmite(id, msg_type, self.same_dc, ext, payload);
        let mut buf = BytesMut::with_capacity(frame.payload.len() + 64);
        if codec::encode(&frame, &mut buf).is_err() {
            if let Some(tx) = tx {
                let _ = tx.send(PeerReply::Failed(REFUSED));
            }
            return rx;
        }
        let mut out = Outgoing {
            frame: buf.freeze(),
            durable,
            waiter: tx,
            sent_at: None,
            queued_at: Instant::now(),
        };
        if !up {
            // A hint: the write waits for the link, but the caller learns now that the
            // peer is unreachable, as Dynomite reports it.
            out.fail(NOT_CONNECTED);
        }
        if durable {
            st.durable_bytes += out.frame.len();
            while st.queue.len() + st.inflight.len() >= MAX_HINTS
                || st.durable_bytes > MAX_HINT_BYTES
            {
                let Some(pos) = st.queue.iter().position(|o| o.durable) else {
                    break;
                };
                if let Some(mut old) = st.queue.remove(pos) {
                    st.durable_bytes -= old.frame.len();
                    old.fail(REFUSED);
                    self.stats.dropped_hints.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        st.queue.push_back(out);
        drop(st);
        self.wake.notify_one();
        rx
    }

    /// Marks the link down: fails what cannot be retried, keeps durable writes (in their
    /// original order) for the next connection.
    fn went_down(&self) {
        self.up.store(false, Ordering::Release);
        let mut st = self.state.lock();
        let mut kept = VecDeque::new();
        let mut drained: Vec<Outgoing> = st.inflight.drain(..).collect();
        drained.extend(st.queue.drain(..));
        for mut o in drained {
            o.fail(REFUSED);
            if o.durable {
                o.sent_at = None;
                kept.push_back(o);
            } else {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        st.queue = kept;
    }

    /// Moves everything queued to in-flight and returns the bytes to write.
    fn take_batch(&self, out: &mut BytesMut) {
        if self.admin_down.load(Ordering::Relaxed) {
            return;
        }
        let mut st = self.state.lock();
        let now = Instant::now();
        while let Some(mut o) = st.queue.pop_front() {
            out.extend_from_slice(&o.frame);
            o.sent_at = Some(now);
            st.inflight.push_back(o);
        }
    }

    /// Delivers one reply to the oldest in-flight request.
    fn deliver(&self, frame: Frame) {
        let checksum = frame.ext().ok().flatten().map_or(0, |e| e.checksum);
        let mut st = self.state.lock();
        if let Some(mut o) = st.inflight.pop_front() {
            if let Some(t) = o.sent_at {
                self.stats.rtt.record(t.elapsed().as_micros() as u64);
            }
            if o.durable {
                st.durable_bytes = st.durable_bytes.saturating_sub(o.frame.len());
            }
            if let Some(w) = o.waiter.take() {
                let _ = w.send(PeerReply::Reply {
                    bytes: frame.payload,
                    checksum,
                });
            }
            self.stats.replies.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// When the oldest in-flight request was written, if any.
    fn oldest_inflight(&self) -> Option<Instant> {
        self.state.lock().inflight.front().and_then(|o| o.sent_at)
    }
}

/// Keeps the link connected until shutdown. Every refused connect and every lost or
/// stuck connection is a failure; between failures the backoff doubles from 100 ms up
/// to the retry timeout, and after `failure_limit` failures in a row the peer is marked
/// down and tried again only every `retry_timeout`. A peer never reached yet is not
/// marked down (it may simply start later than this node). Requests to a peer that is
/// not connected fail at once (durable writes stay queued as hints).
pub async fn run(link: Arc<Link>, policy: RetryPolicy, mut shutdown: watch::Receiver<bool>) {
    const FIRST: Duration = Duration::from_millis(100);
    let cap = policy.retry_timeout.max(FIRST);
    let mut backoff = FIRST;
    let mut failures = 0u32;
    let mut reached = false;
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        let connect = tokio::time::timeout(link.stall, TcpStream::connect(&link.addr)).await;
        if !reached && failures == 0 {
            // A peer that is down when we start would otherwise never be mentioned.
            match &connect {
                Ok(Err(e)) => {
                    warn!(peer = %link.name, addr = %link.addr, "peer unreachable: {e}; retrying")
                }
                Err(_) => {
                    warn!(peer = %link.name, addr = %link.addr, "peer unreachable: connect timed out; retrying")
                }
                Ok(Ok(_)) => {}
            }
        }
        if let Ok(Ok(stream)) = connect {
            let _ = stream.set_nodelay(true);
            backoff = FIRST;
            failures = 0;
            reached = true;
            link.up.store(true, Ordering::Release);
            link.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            info!(peer = %link.name, addr = %link.addr, dc = %link.dc, rack = %link.rack, "peer link up");
            let why = serve(&link, stream, &mut shutdown).await;
            link.went_down();
            warn!(peer = %link.name, addr = %link.addr, "peer link down: {why}");
        }
        failures = failures.saturating_add(1);
        let wait = if reached && policy.eject && failures >= policy.failure_limit.max(1) {
            if failures == policy.failure_limit.max(1) {
                link.stats.marked_down.fetch_add(1, Ordering::Relaxed);
                warn!(
                    peer = %link.name, addr = %link.addr,
                    "peer marked down after {failures} consecutive failures; retrying every {} ms",
                    policy.retry_timeout.as_millis()
                );
            }
            cap
        } else {
            let b = backoff;
            backoff = (backoff * 2).min(cap);
            b
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(&mut shutdown) => return,
        }
    }
}

async fn serve(link: &Link, stream: TcpStream, shutdown: &mut watch::Receiver<bool>) -> String {
    let (mut rd, mut wr) = stream.into_split();
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut wbuf = BytesMut::with_capacity(16 * 1024);
    // Hints queued while the link was down go out first.
    link.wake.notify_one();
    loop {
        let stall_check = match link.oldest_inflight() {
            Some(t) => tokio::time::sleep_until((t + link.stall).into()),
            None => tokio::time::sleep(link.stall),
        };
        tokio::select! {
            _ = link.wake.notified() => {
                // One scheduler turn first, so that the frames other connections queue
                // in that turn leave in this write: at `-P 1 -c 50` the coordinator then
                // made a third of the peer writes (and the replicas as many fewer
                // reads and replies), which cut the cluster's CPU per quorum write by
                // about 30% (BENCHMARKS.md).
                tokio::task::yield_now().await;
                link.take_batch(&mut wbuf);
                if !wbuf.is_empty() {
                    if let Err(e) = wr.write_all(&wbuf).await {
                        return format!("write failed: {e}");
                    }
                    wbuf.clear();
                }
            }
            r = rd.read_buf(&mut rbuf) => match r {
                Ok(0) => return "closed by peer".into(),
                Err(e) => return format!("read failed: {e}"),
                Ok(_) => loop {
                    match codec::decode(&mut rbuf) {
                        Ok(Some(frame)) if frame.msg_type == MsgType::Res => link.deliver(frame),
                        Ok(Some(_)) => return "peer sent a request on a reply link".into(),
                        Ok(None) => break,
                        Err(e) => return format!("bad frame: {e}"),
                    }
                },
            },
            _ = stall_check => {
                if link.oldest_inflight().is_some_and(|t| t.elapsed() >= link.stall) {
                    return format!("no reply within {:?}", link.stall);
                }
            }
            _ = stopped(shutdown) => return "shutting down".into(),
        }
    }
}

/// Completes when shutdown is signalled (dropping the watch guard before returning, so
/// the future stays `Send`).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
