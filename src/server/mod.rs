//! The client-facing server: the listener, one task per connection, background cron,
//! and graceful shutdown.
//!
//! [`run`] takes an already-bound listener and a shutdown future, so tests and the
//! binary start it the same way (mini-redis's shape).

mod conn;
mod cron;

use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::store::Store;

/// State shared by every connection task.
pub struct Shared {
    pub store: Mutex<Store>,
    /// Flips to true when the server is shutting down; connections and the listener
    /// watch it.
    pub shutdown: watch::Sender<bool>,
}

impl Shared {
    pub fn new(store: Store) -> Arc<Shared> {
        let (tx, _) = watch::channel(false);
        Arc::new(Shared {
            store: Mutex::new(store),
            shutdown: tx,
        })
    }

    /// Asks every task to stop (SHUTDOWN command, signals).
    pub fn trigger_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Serves clients on `listeners` until `signal` completes or SHUTDOWN is called.
pub async fn run(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    signal: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let cron = tokio::spawn(cron::run(shared.clone()));
    for listener in listeners {
        tokio::spawn(accept_loop(listener, shared.clone()));
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

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    conn::serve(stream, peer, shared).await;
                });
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
