//! Dynomite's pseudo-commands, which clients of a Dynomite cluster send to its client
//! port: `DYNO_CONFIG:CONN_CONSISTENCY <level>` sets the read and write consistency of
//! the current connection.

use bytes::Bytes;

use super::table::{flags::*, Command};
use super::{CmdError, Ctx};
use crate::cluster::quorum::Level;
use crate::resp::Reply;

pub(super) const COMMANDS: &[Command] = &[Command::new(
    "dyno_config:conn_consistency",
    2,
    FAST | LOCAL | NO_AUTH,
    (0, 0, 0),
    "connection",
    conn_consistency,
)
.doc(
    "0.0.0",
    "Set this connection's read and write consistency level (Dynomite)",
)];

fn conn_consistency(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let level: Level = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdError::Other("ERR Dynomite: Invalid consistency level".into()))?;
    ctx.client.levels = Some((level, level));
    Ok(Reply::OK)
}
