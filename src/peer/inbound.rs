//! Inbound peer connections: read frames, apply them, answer in order.
//!
//! Requests run through `Cluster::apply_peer`, which uses the same dispatch gate as
//! client commands with `Origin::Peer`, so a replicated write is never replicated again
//! (except a cross-DC write, which the receiving node fans out to its own DC). All frames
//! that arrived together run under one store lock, and their replies go out in one write,
//! in request order, as Dynomite's peers expect.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use super::codec::{self, Frame, MsgType, RedmiteExt};
use crate::clients::{Client, Origin};
use crate::cluster::coordinator::{reply_checksum, Deadline, Outbound, Slot};
use crate::resp::{encode, Reply};
use crate::server::Shared;
use crate::store::unix_ms;

/// Serves one inbound peer connection until it closes (the accept loop is the
/// server's, shared with the client ports).
pub async fn serve_peer(stream: TcpStream, addr: std::net::SocketAddr, shared: Arc<Shared>) {
    if let Err(why) = serve(stream, shared).await {
        debug!(%addr, "peer connection closed: {why}");
    }
}

/// One reply waiting to be written: already computed, or pending a quorum.
struct Answer {
    id: u64,
    proto: u8,
    slot: Slot,
    /// `Res` for requests, `GossipSynReply` for a gossip exchange.
    msg_type: MsgType,
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    if shared.live.is_none() {
        return Err("this node has no cluster configuration".into());
    }
    let remote = stream.peer_addr().ok();
    let addr = remote.map(|a| a.to_string()).unwrap_or_default();
    let mut client = Client::new(0, addr, String::new(), unix_ms(), true);
    client.origin = Origin::Peer;
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut wbuf = BytesMut::with_capacity(16 * 1024);
    let mut stop = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            },
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        let mut frames: Vec<Frame> = Vec::new();
        loop {
            match codec::decode(&mut rbuf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return Err(format!("bad frame: {e}")),
            }
        }
        if frames.is_empty() {
            continue;
        }
        // The current topology version, for this batch of frames.
        let Some(cluster) = shared.cluster() else {
            return Err("this node has no cluster configuration".into());
        };
        let answers: Vec<Answer> = {
            let mut store = shared.lock_store().await;
            let mut out = Outbound::default();
            let answers = frames
                .iter()
                .filter_map(|f| match f.msg_type {
                    MsgType::Req | MsgType::ReqForward => {
                        let slot = cluster.apply_peer(&mut store, &mut client, f, &mut out);
                        Some(Answer {
                            id: f.id,
                            proto: client.proto,
                            slot,
                            msg_type: MsgType::Res,
                        })
                    }
                    MsgType::GossipSyn => Some(Answer {
                        id: f.id,
                        proto: 2,
                        slot: Slot::Ready(gossip_reply(&shared, &f.payload, remote)),
                        msg_type: MsgType::GossipSynReply,
                    }),
                    _ => None,
                })
                .collect();
            cluster.flush(out);
            answers
        };
        let mut deadline = Deadline::default();
        for a in answers {
            let reply = match a.slot {
                Slot::Ready(r) => r,
                Slot::Wait(p) => p.resolve(&mut deadline).await,
            };
            let checksum = reply_checksum(&reply);
            let mut payload = BytesMut::new();
            encode(&reply, a.proto, &mut payload);
            let ext = RedmiteExt {
                checksum,
                proto: a.proto,
                kind: if a.msg_type == MsgType::GossipSynReply {
                    RedmiteExt::GOSSIP
                } else {
                    RedmiteExt::APPLY
                },
                ..Default::default()
            };
            let frame = Frame::redmite(a.id, a.msg_type, true, ext, payload.freeze());
            codec::encode(&frame, &mut wbuf).map_err(|e| e.to_string())?;
        }
        stream.write_all(&wbuf).await.map_err(|e| e.to_string())?;
        wbuf.clear();
    }
}

/// Merges a peer's gossip into this node's view and answers with the merged view (raw
/// `peer::gossip` payload bytes). A node without gossip answers with an empty payload,
/// which the sender reads as "no gossip here".
fn gossip_reply(shared: &Shared, payload: &[u8], remote: Option<std::net::SocketAddr>) -> Reply {
    match shared.membership.get() {
        Some(m) => Reply::Raw(m.on_syn(shared, payload, remote.map(|a| a.ip()))),
        None => Reply::Raw(bytes::Bytes::new()),
    }
}
