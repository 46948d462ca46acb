//! Generic key commands (Redis's `db.c` and `expire.c`).

use bytes::Bytes;

use super::table::{flags::*, Command};
use super::{CmdError, Ctx};
use crate::resp::Reply;

const G: &str = "generic";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("del", -2, WRITE, (1, -1, 1), G, del),
    Command::new("exists", -2, READONLY | FAST, (1, -1, 1), G, exists),
    Command::new("type", 2, READONLY | FAST, (1, 1, 1), G, type_cmd),
];

fn del(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let now = ctx.now_ms;
    let mut n = 0;
    for key in &args[1..] {
        let db = ctx.db();
        db.expire_if_needed(key, now);
        if db.remove(key).is_some() {
            n += 1;
        }
    }
    ctx.store.dirty += n as u64;
    Ok(Reply::Int(n))
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let now = ctx.now_ms;
    let n = args[1..]
        .iter()
        .filter(|k| ctx.db().contains(k, now))
        .count();
    Ok(Reply::Int(n as i64))
}

fn type_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let now = ctx.now_ms;
    Ok(Reply::Status(
        ctx.db()
            .get(&args[1], now)
            .map_or("none", |o| o.value.type_name()),
    ))
}
