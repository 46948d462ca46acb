//! `math.random` and `math.randomseed` on Redis's own `rand48` generator, so a
//! script's random sequence is the same as under Redis (seeded with 0 when the VM
//! is created, and by `math.randomseed(n)`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mlua::{Lua, MultiValue, Table, Value};

use super::arg_error;

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;
const LRAND48_MAX: i64 = i32::MAX as i64;

fn seed(v: i32) -> u64 {
    (((v as u32 as u64) << 16) | 0x330E) & MASK
}

/// Advances the state and returns the next 31-bit value (`lrand48`).
fn next(state: &AtomicU64) -> i64 {
    let x = (state
        .load(Ordering::Relaxed)
        .wrapping_mul(A)
        .wrapping_add(C))
        & MASK;
    state.store(x, Ordering::Relaxed);
    (x >> 17) as i64
}

fn int_arg(lua: &Lua, v: &Value, n: usize, f: &str) -> mlua::Result<i64> {
    match v {
        Value::Integer(i) => Ok(*i),
        Value::Number(x) => Ok(*x as i64),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|x| x as i64)
            .ok_or_else(|| arg_error(lua, n, f, "number expected, got string")),
        other => Err(arg_error(
            lua,
            n,
            f,
            &format!("number expected, got {}", other.type_name()),
        )),
    }
}

/// The generator's state before any `math.randomseed`: rand48's built-in initial
/// value (Redis never seeds it itself).
pub fn initial() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0x1234_ABCD_330E))
}

pub fn install(lua: &Lua, math: &Table, state: Arc<AtomicU64>) -> mlua::Result<()> {
    let st = state.clone();
    math.raw_set(
        "random",
        lua.create_function(move |lua, args: MultiValue| {
            let r = (next(&st) % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
            match args.len() {
                0 => Ok(r),
                1 => {
                    let u = int_arg(lua, &args[0], 1, "random")?;
                    if u < 1 {
                        return Err(arg_error(lua, 1, "random", "interval is empty"));
                    }
                    Ok((r * u as f64).floor() + 1.0)
                }
                2 => {
                    let l = int_arg(lua, &args[0], 1, "random")?;
                    let u = int_arg(lua, &args[1], 2, "random")?;
                    if l > u {
                        return Err(arg_error(lua, 2, "random", "interval is empty"));
                    }
                    Ok((r * (u - l + 1) as f64).floor() + l as f64)
                }
                _ => Err(super::lua_error(lua, "wrong number of arguments")),
            }
        })?,
    )?;
    math.raw_set(
        "randomseed",
        lua.create_function(move |lua, args: MultiValue| {
            let v = int_arg(lua, args.front().unwrap_or(&Value::Nil), 1, "randomseed")?;
            state.store(seed(v as i32), Ordering::Relaxed);
            Ok(())
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_redis() {
        let value = |s: &AtomicU64| {
            crate::num::fmt_g((next(s) % LRAND48_MAX) as f64 / LRAND48_MAX as f64, 14)
        };
        // Redis 7.0: a fresh server's first `tostring(math.random())` values.
        let s = initial();
        assert_eq!(value(&s), "0.39646477363839");
        assert_eq!(value(&s), "0.84048536971234");
        // After `math.randomseed(0)`.
        let s = AtomicU64::new(seed(0));
        assert_eq!(value(&s), "0.17082803611217");
    }
}
