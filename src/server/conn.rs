//! One client connection: read → decode → dispatch → encode → write.
//!
//! Pipelining is free: every complete request in the read buffer is decoded first,
//! then the whole batch runs under a single acquisition of the store lock, and all
//! replies go out in one write. Replies that wait for replicas (quorum levels) are
//! awaited after the lock is released, in order. A pipeline's replicated writes reach
//! each peer as one batch frame (`cluster::coordinator::Outbound`), so their quorum
//! waits overlap instead of costing one round trip each. A protocol error answers with
//! Redis's error text and closes only this connection, after the replies of the requests
//! before it.
//!
//! Nothing here waits while holding the store lock. A command that must wait for a
//! `CLIENT PAUSE` to end stops the batch; the loop flushes the replies so far and
//! sleeps until the pause's deadline or until the pause changes, then asks again.
//! `DEBUG SLEEP` and `WAIT` hold their reply the same way.
//!
//! Published messages arrive on the client's pub/sub queue (`store::pubsub`). The idle
//! loop selects on it and writes them in order; a batch first writes the messages
//! already queued, so a message always precedes the replies of commands that ran after
//! it was published. Writing a message is cancelled by a kill, so a subscriber that
//! stops reading is still closed when it passes its output buffer limit.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};
use tracing::debug;

use super::gate::Gate;
use super::{Role, Shared};
use crate::clients::{Client, Origin};
use crate::cluster::coordinator::{Deadline, Outbound, Pending, Slot};
use crate::commands::dispatch::held_by_pause;
use crate::commands::scripting::while_busy;
use crate::commands::{dispatch, Action, Ctx};
use crate::resp::{encode, parse_request, Decoder, Limits, Reply};
use crate::store::pubsub::Outbox;
use crate::store::unix_ms;

const READ_CHUNK: usize = 16 * 1024;

/// Output of one batch: encoded replies, interleaved with replies still waiting for
/// replicas (each with the protocol version it must be encoded in).
enum Segment {
    Bytes(BytesMut),
    Wait(Pending, u8),
}

pub async fn serve(mut stream: TcpStream, peer: SocketAddr, role: Role, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let now = unix_ms();
    // Published messages for this client arrive here (see `store::pubsub`).
    let (outbox, mut pushes) = Outbox::new();
    let queued = outbox.queued.clone();
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut dec = Decoder::default();
    let mut pending: VecDeque<Vec<Bytes>> = VecDeque::new();
    // A connection opened while a script is busy is answered (BUSY, SCRIPT KILL...)
    // before it can even be registered, as Redis answers it from inside the script.
    let busy_at_connect = shared.lock_or_busy().await.is_none();
    if busy_at_connect
        && !answer_unregistered(&mut stream, &shared, &mut rbuf, &mut dec, &mut pending).await
    {
        return;
    }
    let (client, kill, max_bulk) = {
        let mut store = shared.lock_store().await;
        store.stats.total_connections += 1;
        if store.clients.len() as u64 >= store.params.maxclients {
            store.stats.rejected_connections += 1;
            (None, None, 0)
        } else {
            let id = store.clients.next_id();
            let authed = store.params.requirepass.is_none();
            let mut client = Client::new(id, peer.to_string(), laddr, now, authed);
            client.outbox = Some(outbox);
            client.origin = if role == Role::Datastore {
                Origin::Local
            } else {
                Origin::Client
            };
            let kill = store.clients.register(&client);
            (Some(client), Some(kill), store.params.proto_max_bulk_len)
        }
    };
    let (Some(mut client), Some(kill)) = (client, kill) else {
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    };
    debug!(id = client.id, %peer, "client connected");
    let mut stop = Stop::new(kill.clone(), shared.shutdown.subscribe());
    // The idle wait polls the pub/sub queue only after a message woke it.
    let push_gate = Gate::default();
    // The replies of a batch, kept for the next one (see `write_segments`).
    let mut wbuf = BytesMut::new();
    let mut read_bytes = 0u64;
    let mut max_bulk = max_bulk;
    'conn: loop {
        let limits = Limits {
            max_bulk_len: max_bulk,
            authenticated: client.authenticated,
        };
        let mut proto_err = None;
        loop {
            match parse_request(&mut dec, &mut rbuf, &limits) {
                Ok(Some(cmd)) => pending.push_back(cmd),
                Ok(None) => break,
                Err(e) => {
                    proto_err = Some(e);
                    break;
                }
            }
        }
        while !pending.is_empty() {
            let store = 'lock: {
                if let Some(store) = shared.lock_or_busy().await {
                    break 'lock store;
                }
                // A script has run past busy-reply-threshold and holds the lock.
                let (out, shutdown_now) =
                    busy_replies(&shared, client.proto, &mut pending, Some(&mut client));
                if stream.write_all(&out).await.is_err() || shutdown_now {
                    if shutdown_now {
                        shared.trigger_shutdown();
                    }
                    break 'conn;
                }
                if pending.is_empty() {
                    continue 'conn;
                }
                // The next command needs the store: wait for the script.
                shared.lock_store().await
            };
            let batch = Batch {
                shared: &shared,
                client: &mut client,
                read_bytes: &mut read_bytes,
                qbuf: (rbuf.len(), rbuf.capacity()),
                pushes: Pushes {
                    rx: &mut pushes,
                    queued: &queued,
                },
            };
            let out = std::mem::take(&mut wbuf);
            let (segments, out, end, bulk) = batch.run(store, &mut pending, out);
            max_bulk = bulk;
            if let BatchEnd::Action(Action::Sleep(d)) = end {
                // The reply is held back for the sleep, as if the server were busy.
                if !sleep_or_stop(d, &mut stop).await {
                    break 'conn;
                }
            }
            match write_segments(&mut stream, segments, out).await {
                Ok(out) => wbuf = out,
                Err(_) => break 'conn,
            }
            match end {
                BatchEnd::Action(Action::Shutdown) => {
                    shared.trigger_shutdown();
                    break 'conn;
                }
                BatchEnd::Paused => {
                    if !wait_for_unpause(&shared, &mut stop).await {
                        break 'conn;
                    }
                }
                BatchEnd::Action(Action::Sleep(_)) | BatchEnd::Done => {}
                BatchEnd::Action(Action::Block(b)) => {
                    let conn = BlockedConn {
                        stream: &mut stream,
                        rbuf: &mut rbuf,
                        read_bytes: &mut read_bytes,
                        stop: &mut stop,
                        shared: &shared,
                        id: client.id,
                    };
                    let Some(reply) = conn.wait(b.rx, b.timeout).await else {
                        break 'conn;
                    };
                    if !b.silent {
                        let mut out = BytesMut::new();
                        encode(&reply, client.proto, &mut out);
                        if stream.write_all(&out).await.is_err() {
                            break 'conn;
                        }
                    }
                    // More requests may have arrived while blocked: parse them now.
                    if proto_err.is_none() {
                        continue 'conn;
                    }
                }
            }
            if client.close_after_reply {
                break 'conn;
            }
        }
        if let Some(e) = proto_err {
            crate::stats::metrics()
                .client_protocol_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut out = BytesMut::new();
            encode(&Reply::Error(format!("ERR {e}")), client.proto, &mut out);
            let _ = stream.write_all(&out).await;
            debug!(id = client.id, "protocol error: {e}");
            break;
        }
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 2 {
            rbuf.reserve(READ_CHUNK);
        }
        // In this order: while requests keep coming, the others are not even polled
        // (tokio's cooperative budget still makes the read pending now and then, so a
        // kill is never starved).
        let pushed = tokio::select! {
            biased;
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    read_bytes += n as u64;
                    None
                }
            },
            Some(msg) = std::future::poll_fn(|cx| push_gate.poll(cx, |cx| pushes.poll_recv(cx))) => Some(msg),
            _ = stop.wait() => break,
        };
        if let Some(msg) = pushed {
            // Let the publishers that are ready now run first, so that one write
            // carries their messages too, as Redis writes a subscriber's buffer once
            // per event-loop pass. Without this each message woke this task and made
            // its own write.
            tokio::task::yield_now().await;
            let mut out = BytesMut::from(&msg[..]);
            let mut p = Pushes {
                rx: &mut pushes,
                queued: &queued,
            };
            // At most 1 MB per write, so the loop returns to reading requests.
            let taken = msg.len() + p.take(&mut out, 1 << 20);
            // A subscriber that stops reading blocks this write: the kill (from the
            // output buffer limit) must still end it.
            tokio::select! {
                r = stream.write_all(&out) => if r.is_err() { break },
                _ = stop.wait() => break,
            }
            p.written(taken);
            crate::stats::metrics()
                .net_output_bytes
                .fetch_add(out.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let mut store = shared.lock_store().await;
    store.pubsub.remove(client.id);
    store.monitors.remove(client.id);
    store.blocking.remove(client.id);
    if client.tracking {
        store.tracking.disable(client.id);
        store.sync_event_logs();
    }
    store.watch.unwatch_all(client.id, &client.watched);
    store.clients.unregister(client.id);
    debug!(id = client.id, "client disconnected");
}

/// Why a batch returned.
enum BatchEnd {
    /// Every queued request ran (or the client must be closed).
    Done,
    /// A command asked the connection to act.
    Action(Action),
    /// The next queued request must wait for a `CLIENT PAUSE` to end.
    Paused,
}

/// The two reasons a connection ends from outside, CLIENT KILL and server shutdown,
/// as one future that lives as long as the connection. Every wait of the connection
/// selects on it; because it persists, its waiters are registered once, not again
/// (and removed again) on every read of every request. It is the kill `Notify`'s
/// only waiter, so `notify_one` always reaches it.
struct Stop {
    fut: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
    /// Polled only once it woke: the waits poll it once or twice per request.
    gate: Gate,
}

impl Stop {
    fn new(kill: Arc<Notify>, mut shutdown: watch::Receiver<bool>) -> Stop {
        let fut = Box::pin(async move {
            tokio::select! {
                _ = kill.notified() => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
        });
        Stop {
            fut,
            done: false,
            gate: Gate::default(),
        }
    }

    /// Completes when the connection must end, and at once every time after.
    /// Cancel-safe: dropping it keeps the registration for the next wait.
    async fn wait(&mut self) {
        if !self.done {
            let (gate, fut) = (&self.gate, &mut self.fut);
            std::future::poll_fn(|cx| gate.poll(cx, |cx| fut.as_mut().poll(cx))).await;
            self.done = true;
        }
    }
}

/// Sleeps for `d` unless the client is killed or the server shuts down first.
/// Returns whether the connection should go on.
async fn sleep_or_stop(d: Duration, stop: &mut Stop) -> bool {
    // Duration::MAX (WAIT with no timeout) would overflow the timer: cap it at a year.
    let d = d.min(Duration::from_secs(365 * 24 * 3600));
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait() => false,
    }
}

/// Waits, outside the store lock, until the current pause ends or changes. Returns
/// whether the connection should go on.
async fn wait_for_unpause(shared: &Shared, stop: &mut Stop) -> bool {
    let (pause, mut changed) = {
        let store = shared.lock_store().await;
        (
            store.clients.active_pause(unix_ms()),
            store.clients.pause_watch(),
        )
    };
    let Some(pause) = pause else {
        return true;
    };
    let left = Duration::from_millis(pause.until_ms.saturating_sub(unix_ms()));
    tokio::select! {
        _ = tokio::time::sleep(left) => true,
        _ = changed.changed() => true,
        _ = stop.wait() => false,
    }
}

/// A connection whose command blocked on keys, waiting outside the store lock.
struct BlockedConn<'a> {
    stream: &'a mut TcpStream,
    rbuf: &'a mut BytesMut,
    read_bytes: &'a mut u64,
    stop: &'a mut Stop,
    shared: &'a Shared,
    id: u64,
}

impl BlockedConn<'_> {
    /// Awaits the blocked command's reply: served by another client's push, freed by
    /// CLIENT UNBLOCK, or the timeout reply when `timeout` passes. `None` means the
    /// connection must close (killed, disconnected, shutting down); the waiter is
    /// removed then. Requests that arrive meanwhile are buffered, not run.
    async fn wait(
        self,
        mut rx: tokio::sync::oneshot::Receiver<Reply>,
        timeout: Option<std::time::Duration>,
    ) -> Option<Reply> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timer);
        let timed_out = loop {
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 2 {
                self.rbuf.reserve(READ_CHUNK);
            }
            tokio::select! {
                r = &mut rx => return r.ok(),
                _ = &mut timer => break true,
                r = self.stream.read_buf(self.rbuf) => match r {
                    Ok(0) | Err(_) => break false,
                    Ok(n) => *self.read_bytes += n as u64,
                },
                _ = self.stop.wait() => break false,
            }
        };
        let removed = self
            .shared
            .lock_store()
            .await
            .blocking
            .remove(self.id)
            .is_some();
        if !timed_out {
            return None;
        }
        if removed {
            return Some(Reply::NilArray);
        }
        // Served (under the lock) just before the timer fired.
        rx.try_recv().ok()
    }
}

/// Writes a batch's output: `segments` (replies around quorum waits, usually none),
/// then `last`. Returns `last`'s buffer emptied, for the next batch's replies, unless
/// it grew past `KEEP_WBUF` (one big reply must not pin its memory for the life of the
/// connection).
async fn write_segments(
    stream: &mut TcpStream,
    segments: Vec<Segment>,
    last: BytesMut,
) -> std::io::Result<BytesMut> {
    const KEEP_WBUF: usize = 4 * READ_CHUNK;
    let reuse = |mut b: BytesMut| {
        b.clear();
        if b.capacity() > KEEP_WBUF {
            b = BytesMut::new();
        }
        b
    };
    if segments.is_empty() {
        if !last.is_empty() {
            stream.write_all(&last).await?;
        }
        return Ok(reuse(last));
    }
    // Sized for the bytes already there and a short reply per wait, so that the
    // replies are appended without regrowing (a split-off segment has no spare room).
    let cap = segments
        .iter()
        .map(|s| match s {
            Segment::Bytes(b) => b.len(),
            Segment::Wait(..) => 16,
        })
        .sum::<usize>()
        + last.len();
    let mut out = BytesMut::with_capacity(cap);
    let mut deadline = Deadline::default();
    for seg in segments {
        match seg {
            Segment::Bytes(b) => out.extend_from_slice(&b),
            Segment::Wait(p, proto) => {
                let reply = p.resolve(&mut deadline).await;
                encode(&reply, proto, &mut out);
            }
        }
    }
    out.extend_from_slice(&last);
    if !out.is_empty() {
        stream.write_all(&out).await?;
    }
    Ok(reuse(last))
}

/// The receiving end of a connection's published messages.
struct Pushes<'a> {
    rx: &'a mut mpsc::UnboundedReceiver<Bytes>,
    /// Bytes queued and not yet taken (shared with `store::pubsub`).
    queued: &'a std::sync::atomic::AtomicUsize,
}

impl Pushes<'_> {
    /// Appends the messages waiting now to `out`, in order, until `out` holds `cap`
    /// bytes. Returns how many bytes it took: they still count against the client's
    /// output buffer limit until the caller has written them and calls
    /// [`Pushes::written`].
    fn take(&mut self, out: &mut BytesMut, cap: usize) -> usize {
        // Senders add to the count right after sending, under the store lock: under
        // the lock (a batch) zero means an empty queue, and outside it (the idle loop,
        // which has just received a message still counted) the count is not zero.
        let queued = self.queued.load(std::sync::atomic::Ordering::Acquire);
        if queued == 0 {
            return 0;
        }
        // Room for all of it at once: grown by doubling, a 1 MB take could hold a
        // 2 MB buffer while the socket is full, beside the queue it came from.
        out.reserve(queued.min(cap.saturating_sub(out.len())));
        let mut taken = 0;
        while out.len() < cap {
            let Ok(msg) = self.rx.try_recv() else { break };
            taken += msg.len();
            out.extend_from_slice(&msg);
        }
        taken
    }

    fn written(&self, n: usize) {
        self.queued
            .fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
    }

    /// Takes every waiting message into a batch's output, which is written right
    /// after: all of them, so none is left to follow a later reply.
    fn drain(&mut self, out: &mut BytesMut) {
        let n = self.take(out, usize::MAX);
        self.written(n);
    }
}

/// Answers the queued requests while a busy script holds the store lock (see
/// `commands::scripting::while_busy`). Returns the replies and whether the server
/// must shut down (SHUTDOWN NOSAVE).
/// Stops at the first command that must wait for the store (left in `pending`).
/// Inside MULTI a refused command dooms the transaction, as any refused command.
fn busy_replies(
    shared: &Shared,
    proto: u8,
    pending: &mut VecDeque<Vec<Bytes>>,
    mut client: Option<&mut Client>,
) -> (BytesMut, bool) {
    let mut out = BytesMut::new();
    while let Some(args) = pending.pop_front() {
        let Some((reply, action)) = while_busy(&shared.busy, &args, unix_ms()) else {
            pending.push_front(args);
            break;
        };
        if let Some(c) = client.as_deref_mut() {
            if args[0].eq_ignore_ascii_case(b"exec") {
                // Refused EXEC ends the transaction (the watched keys stay until
                // the next EXEC/UNWATCH, which need the store).
                c.multi = None;
                c.multi_error = false;
            } else if c.multi.is_some() && matches!(reply, Reply::Error(_)) {
                c.multi_error = true;
            }
        }
        encode(&reply, proto, &mut out);
        if matches!(action, Some(Action::Shutdown)) {
            return (out, true);
        }
    }
    (out, false)
}

/// Serves a connection accepted while a busy script holds the store lock: reads its
/// requests and answers them with [`busy_replies`] until the script ends or a
/// request needs the store (left in `pending` for the connection to run once it is
/// registered). `false`: the connection closed, or SHUTDOWN NOSAVE stopped the
/// server.
async fn answer_unregistered(
    stream: &mut TcpStream,
    shared: &Shared,
    rbuf: &mut BytesMut,
    dec: &mut Decoder,
    pending: &mut VecDeque<Vec<Bytes>>,
) -> bool {
    let limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: false,
    };
    loop {
        while let Ok(Some(cmd)) = parse_request(dec, rbuf, &limits) {
            pending.push_back(cmd);
        }
        // The script may have ended while this connection waited for input.
        if !shared.busy.running() {
            return true;
        }
        if !pending.is_empty() {
            let (out, shutdown_now) = busy_replies(shared, 2, pending, None);
            if stream.write_all(&out).await.is_err() || shutdown_now {
                if shutdown_now {
                    shared.trigger_shutdown();
                }
                return false;
            }
            if !pending.is_empty() {
                return true;
            }
        }
        let read =
            tokio::time::timeout(std::time::Duration::from_millis(10), stream.read_buf(rbuf));
        if let Ok(Ok(0) | Err(_)) = read.await {
            return false;
        }
    }
}

/// The queued requests of one connection, run under one store lock.
struct Batch<'a> {
    shared: &'a Shared,
    client: &'a mut Client,
    read_bytes: &'a mut u64,
    /// The query buffer's length and capacity when the batch started.
    qbuf: (usize, usize),
    pushes: Pushes<'a>,
}

impl Batch<'_> {
    /// Runs requests until they are done, one asks the connection to act (sleep, shut
    /// down, close), or one must wait for a pause. Returns the output (the segments
    /// before the last quorum wait, if any, and the rest in `out`, the buffer passed
    /// in), why it stopped, and the current bulk length limit.
    fn run(
        mut self,
        mut store: super::StoreGuard<'_>,
        pending: &mut VecDeque<Vec<Bytes>>,
        mut out: BytesMut,
    ) -> (Vec<Segment>, BytesMut, BatchEnd, usize) {
        let current = self
            .shared
            .cluster()
            .filter(|_| self.client.origin == Origin::Client);
        let cluster = current.as_deref();
        store.stats.net_input_bytes += std::mem::take(self.read_bytes);
        let mut segments = Vec::new();
        out.reserve(READ_CHUNK);
        let mut written = 0;
        let mut end = BatchEnd::Done;
        // The clock is read once for the batch and once per command (at its end, which
        // is the next command's start); Unix time is derived from it.
        let batch_start = std::time::Instant::now();
        let batch_ms = unix_ms();
        let mut started = batch_start;
        // Built on the first command that needs the coordinator.
        let mut peers: Option<Outbound> = None;
        // Messages published before these commands ran go out before their replies.
        self.pushes.drain(&mut out);
        while let Some(args) = pending.pop_front() {
            let now_ms = batch_ms + started.duration_since(batch_start).as_millis() as u64;
            if held_by_pause(&store, self.client, &args, now_ms) {
                pending.push_front(args);
                end = BatchEnd::Paused;
                break;
            }
            let mut ctx = Ctx::with_clock(&mut store, self.client, now_ms, started);
            let slot = match cluster {
                Some(c) if !c.only_dispatches() => {
                    c.execute(&mut ctx, &args, peers.get_or_insert_with(Outbound::default))
                }
                _ => Slot::Ready(dispatch(&mut ctx, &args)),
            };
            let action = ctx.action.take();
            started = ctx.started;
            // A message this command published to its own client precedes its reply,
            // as in Redis; a MONITOR client's line for its own command follows it.
            if !self.client.monitor {
                self.pushes.drain(&mut out);
            }
            match slot {
                Slot::Ready(reply) => encode(&reply, self.client.proto, &mut out),
                Slot::Wait(p) => {
                    // A pipeline of writes has no bytes between its waits.
                    if !out.is_empty() {
                        written += out.len();
                        segments.push(Segment::Bytes(out.split()));
                    }
                    segments.push(Segment::Wait(p, self.client.proto));
                }
            }
            if self.client.monitor {
                self.pushes.drain(&mut out);
            }
            // Tracking invalidations this command caused for its own client follow
            // its reply; they reach the queue now and go out with the next write.
            store.send_deferred();
            if let Some(a) = action {
                end = BatchEnd::Action(a);
                break;
            }
            if self.client.close_after_reply {
                break;
            }
        }
        // One frame per peer for the whole batch, sent before the lock is released.
        if let (Some(c), Some(peers)) = (cluster, peers) {
            c.flush(peers);
        }
        written += out.len();
        self.client.last_interaction_ms =
            batch_ms + started.duration_since(batch_start).as_millis() as u64;
        (self.client.qbuf, self.client.qbuf_cap) = self.qbuf;
        self.client.qbuf_peak = self.client.qbuf_peak.max(self.qbuf.0);
        crate::stats::metrics()
            .net_output_bytes
            .fetch_add(written as u64, std::sync::atomic::Ordering::Relaxed);
        store.clients.update(self.client);
        (segments, out, end, store.params.proto_max_bulk_len)
    }
}
