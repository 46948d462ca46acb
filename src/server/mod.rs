//! The client-facing server: the listener, one task per connection, background cron,
//! and graceful shutdown.
//!
//! [`run`] takes an already-bound listener and a shutdown future, so tests and the
//! binary start it the same way (mini-redis's shape).

mod conn;
mod cron;
mod gate;
mod store_lock;

use std::future::Future;
use std::sync::Arc;

pub use store_lock::{StoreGuard, StoreLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::cluster::coordinator::Cluster;
use crate::cluster::live::LiveCluster;
use crate::store::Store;

/// How long an async task waits for the store lock before it checks whether a busy
/// script holds it (the client then gets BUSY).
const LOCK_SLICE: std::time::Duration = std::time::Duration::from_millis(5);

/// State shared by every connection task.
pub struct Shared {
    /// Taken once per batch of commands. Async code takes it through
    /// [`Shared::lock_store`] or [`Shared::lock_or_busy`], never by blocking on it,
    /// so that a long Lua script (which holds it) cannot stall every runtime thread.
    pub store: StoreLock,
    /// The running script's state, readable without the lock.
    pub busy: Arc<crate::scripting::Busy>,
    /// The replication layer, when the node runs with a dynomite.yml topology; read the
    /// current version with [`Shared::cluster`].
    pub live: Option<Arc<LiveCluster>>,
    /// Seed providers and gossip, when the configuration asks for them
    /// (`crate::membership::prepare` sets it).
    pub membership: std::sync::OnceLock<Arc<crate::membership::Membership>>,
    /// Flips to true when the server is shutting down; connections and the listener
    /// watch it.
    pub shutdown: watch::Sender<bool>,
}

impl Shared {
    pub fn new(store: Store, cluster: Option<crate::cluster::coordinator::Cluster>) -> Arc<Shared> {
        let (tx, _) = watch::channel(false);
        Arc::new(Shared {
            busy: store.scripts.busy.clone(),
            store: StoreLock::new(store),
            live: cluster.map(|c| Arc::new(LiveCluster::new(c))),
            membership: std::sync::OnceLock::new(),
            shutdown: tx,
        })
    }

    /// The current topology version, `None` without a dynomite.yml topology. Hold it for
    /// one batch of work, not longer: membership may replace it.
    pub fn cluster(&self) -> Option<Arc<Cluster>> {
        self.live.as_ref().map(|l| l.load())
    }

    /// Takes the store lock, waiting as a task (never blocking the thread) for as long
    /// as it is held, a running script included.
    pub async fn lock_store(&self) -> StoreGuard<'_> {
        loop {
            if let Some(store) = self.store.lock_within(LOCK_SLICE).await {
                return store;
            }
        }
    }

    /// [`Shared::lock_store`] for a client's commands: `None` once the running
    /// script has passed `busy-reply-threshold` (the client gets BUSY then).
    pub async fn lock_or_busy(&self) -> Option<StoreGuard<'_>> {
        loop {
            if let Some(store) = self.store.lock_within(LOCK_SLICE).await {
                return Some(store);
            }
            if self.busy.timed_out(crate::store::unix_ms()) {
                return None;
            }
        }
    }

    /// Asks every task to stop (SHUTDOWN command, signals).
    pub fn trigger_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Which path a listener's connections take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client port (`listen`): commands are routed and replicated.
    Client,
    /// The embedded datastore's port (`servers:`): local only, never replicated, for
    /// tools that talk to the backend Redis of a Dynomite node directly.
    Datastore,
    /// The peer port (`dyn_listen`).
    Peer,
}

/// Serves clients on `listeners` until `signal` completes or SHUTDOWN is called.
pub async fn run(
    listeners: Vec<(TcpListener, Role)>,
    shared: Arc<Shared>,
    signal: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let cron = tokio::spawn(cron::run(shared.clone()));
    if let Some(cluster) = shared.cluster() {
        for link in cluster.links.iter().flatten() {
            tokio::spawn(crate::peer::link::run(
                link.clone(),
                cluster.retry,
                shared.shutdown.subscribe(),
            ));
        }
    }
    // After the initial links: membership starts the links of members it adds.
    if let Some(m) = shared.membership.get() {
        tokio::spawn(crate::membership::run(shared.clone(), m.clone()));
    }
    for (listener, role) in listeners {
        tokio::spawn(accept_loop(listener, role, shared.clone()));
    }
    let mut stop = shared.shutdown.subscribe();
    tokio::select! {
        _ = signal => info!("received a shutdown signal"),
        _ = stop.wait_for(|s| *s) => info!("SHUTDOWN requested by a client"),
    }
    shared.trigger_shutdown();
    cron.abort();
    info!("redmite is now ready to exit, bye bye...");
    Ok(())
}

async fn accept_loop(listener: TcpListener, role: Role, shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                match role {
                    Role::Peer => {
                        tokio::spawn(crate::peer::inbound::serve_peer(stream, peer, shared))
                    }
                    _ => tokio::spawn(conn::serve(stream, peer, role, shared)),
                };
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
