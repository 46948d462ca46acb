//! Changing the log level while running (`/setloglevel/N`, `/loglevelup`,
//! `/logleveldown`), on Dynomite's 0..11 verbosity scale.
//!
//! `app::init_logging` installs a setter that swaps the level of the tracing filter
//! through its reload handle; the stats endpoint only calls [`set_verbosity`].

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

type Setter = Box<dyn Fn(tracing_subscriber::filter::LevelFilter) + Send + Sync>;

static VERBOSITY: AtomicU8 = AtomicU8::new(5);
static SETTER: OnceLock<Setter> = OnceLock::new();

/// Records the starting verbosity and how to change the filter.
pub fn install(verbosity: u8, setter: Setter) {
    VERBOSITY.store(verbosity, Ordering::Relaxed);
    let _ = SETTER.set(setter);
}

pub fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// Sets the verbosity (0..=11) and the tracing filter that follows from it.
pub fn set_verbosity(v: u8) {
    let v = v.min(11);
    VERBOSITY.store(v, Ordering::Relaxed);
    let level = crate::config::verbosity_to_level(v);
    if let Some(set) = SETTER.get() {
        set(level);
    }
    tracing::warn!("log verbosity set to {v} ({level})");
}
