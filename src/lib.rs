//! redmite: an in-memory, Redis-compatible store with a Dynomite-compatible
//! replication layer, in one binary.
//!
//! # Layout
//! - [`resp`]: the wire protocol, pure byte ↔ value code.
//! - [`store`]: the keyspace (databases, values, expiry); no I/O, no async.
//! - [`commands`]: the command table, the one dispatch gate, and the handlers.
//! - [`server`]: listener, connections, background cron.
//! - [`scripting`]: Lua 5.1 for EVAL and SCRIPT, its sandbox and libraries.
//! - [`cluster`], [`peer`], [`config`]: the Dynomite layer (ring, coordinator, peer links,
//!   dynomite.yml).
//! - [`membership`]: seed providers (florida, DNS) and gossip, which add members at run time.
//! - [`stats`]: the stats HTTP endpoint, Prometheus metrics, histograms, `redmite status`.
//! - [`healthcheck`]: `redmite healthcheck`, the probe container images run.
//! - [`params`]: Redis-style runtime parameters (CONFIG GET/SET, `--name value`).
//! - [`clients`], [`info`], [`num`], [`glob`]: supporting pieces.
//!
//! See `ARCHITECTURE.md` for the invariants between them.

pub mod app;
pub mod cli;
pub mod clients;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod glob;
pub mod healthcheck;
pub mod info;
pub mod membership;
pub mod num;
pub mod params;
pub mod peer;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod stats;
pub mod store;

/// The Redis version whose behaviour redmite implements, reported as `redis_version`
/// so that clients gating features on it work.
pub const REDIS_VERSION: &str = "7.0.15";
