//! Background work Redis does in `serverCron`: active expiry and incremental rehash.
//!
//! Runs `hz` times a second. `DEBUG SET-ACTIVE-EXPIRE 0` turns active expiry off
//! (keys then expire only when read), as tests of lazy expiry need. Each run holds the store lock for at most a small time
//! budget, so expired keys are reclaimed without ever being read and no client waits
//! long behind it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;
use crate::store::unix_ms;

/// The share of each tick spent on expiry, as Redis's default effort (25%).
const BUDGET_SHARE: u32 = 4;

pub async fn run(shared: Arc<Shared>) {
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::from_os_rng();
    loop {
        let hz = shared.lock_store().await.params.hz.max(1);
        let period = Duration::from_millis(1000 / hz);
        tokio::time::sleep(period).await;
        let mut store = shared.lock_store().await;
        let now = unix_ms();
        let deadline = Instant::now() + period / BUDGET_SHARE;
        let active_expire = store.active_expire;
        let cycle_start = Instant::now();
        for db in store.dbs.iter_mut() {
            if active_expire {
                db.active_expire(now, &mut rng, deadline);
            }
            db.data.rehash_for(Duration::from_micros(500));
            db.expires.rehash_for(Duration::from_micros(200));
            if Instant::now() >= deadline {
                break;
            }
        }
        // Redis's "expire-cycle" latency event: how long this cycle held the server.
        if active_expire {
            let ms = cycle_start.elapsed().as_millis() as u64;
            let threshold = store.params.latency_threshold_ms;
            store
                .latency
                .add_if_needed(threshold, "expire-cycle", ms, now / 1000);
        }
        // `expired` events and tracking invalidations for what active expiry deleted.
        store.flush_logged_events(now, 0);
        store.send_deferred();
    }
}
