//! The node's current [`Cluster`], swappable while the node runs.
//!
//! Why a cell: membership (`crate::membership`) adds nodes at run time, which changes the
//! ring and the set of peer links. A `Cluster` itself stays immutable so the write path
//! reads plain fields; a new version replaces the old one here. Each batch of commands
//! takes the current version once ([`LiveCluster::load`]) and uses it to the end, so a
//! batch's routing and its flush always agree. Writes applied before a swap go to the
//! old version's peers only; nothing replays them to a node that joins later.

use std::sync::Arc;

use parking_lot::RwLock;

use super::coordinator::Cluster;

/// The current topology version, shared by every connection.
pub struct LiveCluster {
    current: RwLock<Arc<Cluster>>,
}

impl LiveCluster {
    pub fn new(cluster: Cluster) -> LiveCluster {
        LiveCluster {
            current: RwLock::new(Arc::new(cluster)),
        }
    }

    /// The current version (a reference count, no copy).
    pub fn load(&self) -> Arc<Cluster> {
        self.current.read().clone()
    }

    /// Replaces the current version; batches already running finish on the old one.
    pub fn store(&self, cluster: Arc<Cluster>) {
        *self.current.write() = cluster;
    }
}
