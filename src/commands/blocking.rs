//! The command side of blocking operations: timeouts, serving ready keys, and
//! CLIENT UNBLOCK. The registry itself and the overall design are in
//! `store::blocking`.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::dispatch::resolve;
use super::{arg_i64, is_kw, CmdError, Ctx};
use crate::num::ld::LongDouble;
use crate::resp::Reply;

/// What the connection awaits after a command blocked.
#[derive(Debug)]
pub struct Blocked {
    /// Receives the reply when a push serves the client or CLIENT UNBLOCK frees it.
    pub rx: oneshot::Receiver<Reply>,
    /// How long to wait (`None` = forever); then the reply is a null array.
    pub timeout: Option<Duration>,
    /// CLIENT REPLY OFF/SKIP silenced the command: write nothing when it ends.
    pub silent: bool,
}

/// Parses a blocking command's timeout in seconds as Redis 7.0's
/// `getTimeoutFromObjectOrReply`: a `long double` (`strtold` syntax), converted to
/// milliseconds rounding up. Values that do not fit in a 64-bit millisecond count
/// (`inf`, `1e400`) become negative, as C's conversion makes them. `None` is 0:
/// block forever.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    let not_float = || CmdError::err("timeout is not a float or out of range");
    let secs = match LongDouble::parse(arg).ok_or_else(not_float)? {
        LongDouble::Inf { .. } => f64::NEG_INFINITY,
        LongDouble::Finite { neg, mant, exp } => {
            let v = mant as f64 * 2f64.powi(exp.clamp(-20_000, 20_000) as i32);
            if neg {
                -v
            } else {
                v
            }
        }
    };
    let ms = (secs * 1000.0).ceil();
    // (long long) of an out-of-range value is LLONG_MIN on x86-64.
    let ms = if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&ms) {
        ms as i64
    } else {
        i64::MIN
    };
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// Serves the clients blocked on keys that commands signalled ready, until no key is
/// ready: re-runs each waiter's command (oldest first) with `serving` set to the key,
/// hands it the reply, and appends the pop's replication effect to `ctx.effects`.
pub fn serve_ready(ctx: &mut Ctx) {
    while let Some((db, key)) = ctx.store.blocking.next_ready() {
        for id in ctx.store.blocking.waiters_on(&(db, key.clone())) {
            let Some(w) = ctx.store.blocking.get(id) else {
                continue;
            };
            if w.tx.is_closed() {
                // Its connection is gone and will unregister it: don't pop for it.
                ctx.store.blocking.remove(id);
                continue;
            }
            let now = ctx.now_ms;
            let kind = w.kind;
            let holds_kind = ctx.store.dbs[db]
                .get(&key, now)
                .is_some_and(|o| o.value.type_name() == kind);
            if !holds_kind {
                break;
            }
            let (args, mut client) = (w.args.clone(), w.client.clone());
            let Ok(entry) = resolve(&args) else {
                ctx.store.blocking.remove(id);
                continue;
            };
            let serve_start = std::time::Instant::now();
            let mut sub = Ctx::new(ctx.store, &mut client, now);
            sub.replicate = ctx.replicate;
            sub.serving = Some(key.clone());
            let dirty_before = sub.store.dirty;
            let result = (entry.cmd.handler)(&mut sub, &args);
            if sub.reblocked {
                break;
            }
            if sub.store.dirty != dirty_before {
                let modified = sub.modified.take();
                super::dispatch::signal_modified(sub.store, db, id, entry, &args, modified);
            }
            let effects = std::mem::take(&mut sub.effects);
            ctx.effects.extend(effects);
            let reply = result.unwrap_or_else(CmdError::into_reply);
            if let Some(w) = ctx.store.blocking.remove(id) {
                let usec = serve_start.elapsed().as_micros() as u64;
                super::dispatch::log_unblocked(ctx.store, &w, usec, now);
                let _ = w.tx.send(reply);
            }
        }
    }
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: frees a blocked client with its timeout
/// reply or an `UNBLOCKED` error. Replies 1 if it was blocked, else 0.
pub fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 4 {
        return Err(CmdError::err(
            "unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.",
        ));
    }
    let id = arg_i64(&args[2])?;
    let error = match args.get(3) {
        None => false,
        Some(a) if is_kw(a, "timeout") => false,
        Some(a) if is_kw(a, "error") => true,
        Some(_) => {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let Ok(id) = u64::try_from(id) else {
        return Ok(Reply::Int(0));
    };
    let done = ctx.store.blocking.unblock(id, |_| {
        if error {
            Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        } else {
            Reply::NilArray
        }
    });
    Ok(Reply::Int(done as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::Client;
    use crate::commands::{dispatch, table, Action};
    use crate::params::Params;
    use crate::store::Store;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect()
    }

    fn run(store: &mut Store, client: &mut Client, line: &str) -> (Reply, Vec<Vec<Bytes>>) {
        let mut ctx = Ctx::new(store, client, 1_000);
        ctx.replicate = true;
        let reply = dispatch(&mut ctx, &args(line));
        (reply, std::mem::take(&mut ctx.effects))
    }

    /// A push that serves waiters replicates itself first, then each waiter's pop
    /// as its non-blocking form, in serving order (FIFO, chained through BLMOVE).
    #[test]
    fn served_pops_replicate_after_the_push() {
        let mut store = Store::new(Params::default(), table().entries.len());
        let mut a = Client::new(1, String::new(), String::new(), 0, true);
        let mut b = Client::new(2, String::new(), String::new(), 0, true);
        let mut c = Client::new(3, String::new(), String::new(), 0, true);
        let mut rxs = Vec::new();
        for (client, line) in [
            (&mut a, "BLPOP dst 0"),
            (&mut b, "BLMOVE src dst LEFT RIGHT 0"),
        ] {
            let mut ctx = Ctx::new(&mut store, client, 1_000);
            assert_eq!(dispatch(&mut ctx, &args(line)), Reply::None);
            match ctx.action.take() {
                Some(Action::Block(blk)) => rxs.push(blk.rx),
                other => panic!("not blocked: {other:?}"),
            }
        }
        assert_eq!(store.blocking.len(), 2);
        let (reply, effects) = run(&mut store, &mut c, "RPUSH src x y");
        assert_eq!(reply, Reply::Int(2));
        assert_eq!(
            effects,
            [
                args("RPUSH src x y"),
                args("LMOVE src dst LEFT RIGHT"),
                args("LPOP dst"),
            ]
        );
        assert_eq!(rxs[1].try_recv().ok(), Some(Reply::bulk("x")));
        assert_eq!(
            rxs[0].try_recv().ok(),
            Some(Reply::Array(vec![Reply::bulk("dst"), Reply::bulk("x")]))
        );
        assert!(store.blocking.is_empty());
    }

    #[test]
    fn timeouts_parse_like_redis() {
        let ok = [
            ("0", None),
            ("1", Some(1000)),
            ("0.0001", Some(1)),
            ("0.5", Some(500)),
            ("1.2345", Some(1235)),
            ("0x10", Some(16000)),
            ("-0.0001", None),
        ];
        for (arg, ms) in ok {
            let want = ms.map(Duration::from_millis);
            assert_eq!(parse_timeout(arg.as_bytes()), Ok(want), "{arg}");
        }
        let not_float = CmdError::err("timeout is not a float or out of range");
        let negative = CmdError::err("timeout is negative");
        let bad = [
            ("x", &not_float),
            ("nan", &not_float),
            (" 1", &not_float),
            ("", &not_float),
            ("-1", &negative),
            ("inf", &negative),
            ("1e400", &negative),
            ("9223372036854775807", &negative),
        ];
        for (arg, err) in bad {
            assert_eq!(parse_timeout(arg.as_bytes()).as_ref(), Err(err), "{arg}");
        }
    }
}
