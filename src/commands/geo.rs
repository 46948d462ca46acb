//! Geo commands (Redis's `geo.c`, `geohash.c`, `geohash_helper.c`).
//!
//! A geo index is a sorted set whose scores are 52-bit geohashes: longitude and
//! latitude (the latter limited to the Web Mercator range ±85.05112878) each
//! quantised to 26 bits and interleaved, latitude in the even bits. A search turns
//! its circle or box into the geohash cell that contains the centre plus its eight
//! neighbours, at a precision chosen from the radius, reads each cell as one score
//! range of the set, and keeps the points whose haversine distance passes. Every
//! step (cell size estimate, neighbour pruning, the order cells are visited, the
//! distance formula and Earth radius) follows Redis, so the same data and query
//! give the same members in the same order, and distances print the same digits.

use bytes::Bytes;

use super::table::{flags::*, Begin, Command, Find, KeySpec};
use super::zset::{get_zset, zadd_generic, AddFlags};
use super::{arg_f64, arg_i64, is_kw, CmdError, Ctx, Lookup};
use crate::num::parse_f64;
use crate::resp::Reply;
use crate::store::notify as ev;
use crate::store::value::Value;
use crate::store::zset::{ScoreBound, ScoreRange, ZSetValue};

const G: &str = "geo";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), G, geoadd).key_spec(&["RW", "update"], "").doc(
        "3.2.0",
        "Add one or more geospatial items in the geospatial index represented using a sorted set",
    ),
    Command::new("geopos", -2, READONLY, (1, 1, 1), G, geopos).doc(
        "3.2.0",
        "Returns longitude and latitude of members of a geospatial index",
    ),
    Command::new("geodist", -4, READONLY, (1, 1, 1), G, geodist).doc(
        "3.2.0",
        "Returns the distance between two members of a geospatial index",
    ),
    Command::new("geohash", -2, READONLY, (1, 1, 1), G, geohash).doc(
        "3.2.0",
        "Returns members of a geospatial index as standard geohash strings",
    ),
    Command::new(
        "georadius",
        -6,
        WRITE | DENYOOM | MOVABLE_KEYS,
        (1, 1, 1),
        G,
        georadius,
    ).key_specs(&[
        KeySpec::at(1, &["RO", "access"]),
        KeySpec {
            notes: "",
            flags: &["OW", "update"],
            begin: Begin::Keyword("STORE", 6),
            find: Find::Range(0, 1, 0),
        },
        KeySpec {
            notes: "",
            flags: &["OW", "update"],
            begin: Begin::Keyword("STOREDIST", 6),
            find: Find::Range(0, 1, 0),
        },
    ])
    .finder(georadius_keys)
    .doc(
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
    ),
    Command::new("georadius_ro", -6, READONLY, (1, 1, 1), G, georadius_ro)
        .doc("3.2.10", "A read-only variant for GEORADIUS"),
    Command::new(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM | MOVABLE_KEYS,
        (1, 1, 1),
        G,
        georadiusbymember,
    ).key_specs(&[
        KeySpec::at(1, &["RO", "access"]),
        KeySpec {
            notes: "",
            flags: &["OW", "update"],
            begin: Begin::Keyword("STORE", 5),
            find: Find::Range(0, 1, 0),
        },
        KeySpec {
            notes: "",
            flags: &["OW", "update"],
            begin: Begin::Keyword("STOREDIST", 5),
            find: Find::Range(0, 1, 0),
        },
    ])
    .finder(georadiusbymember_keys)
    .doc(
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
    ),
    Command::new(
        "georadiusbymember_ro",
        -5,
        READONLY,
        (1, 1, 1),
        G,
        georadiusbymember_ro,
    )
    .doc("3.2.10", "A read-only variant for GEORADIUSBYMEMBER"),
    Command::new("geosearch", -7, READONLY, (1, 1, 1), G, geosearch).doc(
        "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
    ),
    Command::new("geosearchstore", -8, WRITE | DENYOOM, (1, 2, 1), G, geosearchstore).key_specs(&[
        KeySpec::at(1, &["OW", "update"]),
        KeySpec::at(2, &["RO", "access"]),
    ]).doc(
        "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
    ),
];

/// The source key, then the key after the first STORE and STOREDIST keywords from
/// `from` on (Redis's key specs for GEORADIUS).
fn store_keys(args: &[Bytes], from: usize) -> Vec<usize> {
    let mut keys = vec![1];
    for kw in ["store", "storedist"] {
        if let Some(i) = (from..args.len().saturating_sub(1)).find(|&i| is_kw(&args[i], kw)) {
            keys.push(i + 1);
        }
    }
    keys
}

fn georadius_keys(args: &[Bytes]) -> Vec<usize> {
    store_keys(args, 6)
}

fn georadiusbymember_keys(args: &[Bytes]) -> Vec<usize> {
    store_keys(args, 5)
}

// ---- geohash arithmetic (geohash.c, geohash_helper.c) ----

const STEP_MAX: u8 = 26;
const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;
const LONG_MIN: f64 = -180.0;
const LONG_MAX: f64 = 180.0;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Hash {
    bits: u64,
    step: u8,
}

impl Hash {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug)]
struct Span {
    min: f64,
    max: f64,
}

#[derive(Clone, Copy, Debug)]
struct Area {
    lon: Span,
    lat: Span,
}

const MERCATOR_LON: Span = Span {
    min: LONG_MIN,
    max: LONG_MAX,
};
const MERCATOR_LAT: Span = Span {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spreads the 32 bits of `v` to the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// Gathers the even bits of `v` into the low 32 bits.
fn squash(v: u64) -> u64 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x
}

/// `lat` in the even bits, `lon` in the odd bits.
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// The inverse of [`interleave`]: latitude in the low half, longitude in the high.
fn deinterleave(bits: u64) -> u64 {
    squash(bits) | (squash(bits >> 1) << 32)
}

fn encode(lon_r: Span, lat_r: Span, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_offset = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(Hash {
        bits: interleave(lat_offset as u32, lon_offset as u32),
        step,
    })
}

fn decode(lon_r: Span, lat_r: Span, h: Hash) -> Area {
    let sep = deinterleave(h.bits);
    let ilat = sep as u32;
    let ilon = (sep >> 32) as u32;
    let div = (1u64 << h.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    Area {
        lat: Span {
            min: lat_r.min + (f64::from(ilat) / div) * lat_scale,
            max: lat_r.min + (f64::from(ilat.wrapping_add(1)) / div) * lat_scale,
        },
        lon: Span {
            min: lon_r.min + (f64::from(ilon) / div) * lon_scale,
            max: lon_r.min + (f64::from(ilon.wrapping_add(1)) / div) * lon_scale,
        },
    }
}

/// The 52-bit score of a position (GEOADD).
fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(MERCATOR_LON, MERCATOR_LAT, lon, lat, STEP_MAX).map(align52)
}

/// The centre of the cell a score names, clamped to the valid range.
fn lonlat_of(score: f64) -> (f64, f64) {
    let area = decode(
        MERCATOR_LON,
        MERCATOR_LAT,
        Hash {
            bits: score as u64,
            step: STEP_MAX,
        },
    );
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

fn align52(h: Hash) -> u64 {
    h.bits << (52 - u32::from(h.step) * 2)
}

/// Moves a hash one cell east (`d > 0`) or west along the odd (longitude) bits.
fn move_x(h: &mut Hash, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(h.step) * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    let x = if d > 0 {
        x.wrapping_add(zz + 1)
    } else {
        (x | zz).wrapping_sub(zz + 1)
    };
    h.bits = (x & (0xaaaa_aaaa_aaaa_aaaa >> shift)) | y;
}

/// Moves a hash one cell north (`d > 0`) or south along the even (latitude) bits.
fn move_y(h: &mut Hash, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(h.step) * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    let y = if d > 0 {
        y.wrapping_add(zz + 1)
    } else {
        (y | zz).wrapping_sub(zz + 1)
    };
    h.bits = x | (y & (0x5555_5555_5555_5555 >> shift));
}

/// The cell moved by (dx, dy) cells.
fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    if dx != 0 {
        move_x(&mut n, dx);
    }
    if dy != 0 {
        move_y(&mut n, dy);
    }
    n
}

/// The geohash precision whose cells cover `range_m` metres around latitude `lat`.
fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(d: f64) -> f64 {
    d * D_R
}

fn rad_deg(r: f64) -> f64 {
    r / D_R
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// The haversine distance in metres, as Redis computes it.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// A search area: a circle or a box around a centre, sizes in `unit`s.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Circle { radius: f64 },
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    kind: Kind,
    lon: f64,
    lat: f64,
    /// Metres per unit.
    conversion: f64,
}

impl Shape {
    /// Redis's `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
    fn bounds(&self) -> [f64; 4] {
        let (h, w) = match self.kind {
            Kind::Circle { radius } => (radius, radius),
            Kind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 { bottom } else { top };
        [
            self.lon - delta,
            self.lat - lat_delta,
            self.lon + delta,
            self.lat + lat_delta,
        ]
    }

    /// The distance from the centre if the point at `score` is inside.
    fn contains(&self, score: f64) -> Option<(f64, f64, f64)> {
        let (lon, lat) = lonlat_of(score);
        let d = match self.kind {
            Kind::Circle { radius } => {
                let d = distance(self.lon, self.lat, lon, lat);
                if d > radius * self.conversion {
                    return None;
                }
                d
            }
            Kind::Box { width, height } => {
                if lat_distance(lat, self.lat) > height * self.conversion / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > width * self.conversion / 2.0 {
                    return None;
                }
                distance(self.lon, self.lat, lon, lat)
            }
        };
        Some((lon, lat, d))
    }

    /// The cells to read, in Redis's order: centre, N, S, E, W, NE, NW, SE, SW
    /// (`geohashCalculateAreasByShapeWGS84`); pruned cells are zero.
    fn cells(&self) -> [Hash; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius = match self.kind {
            Kind::Circle { radius } => radius,
            Kind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps(radius, self.lat);
        let at = |steps| {
            encode(MERCATOR_LON, MERCATOR_LAT, self.lon, self.lat, steps).unwrap_or_default()
        };
        let mut hash = at(steps);
        let area_of = |h| decode(MERCATOR_LON, MERCATOR_LAT, h);
        let too_coarse = area_of(moved(hash, 0, 1)).lat.max < max_lat
            || area_of(moved(hash, 0, -1)).lat.min > min_lat
            || area_of(moved(hash, 1, 0)).lon.max < max_lon
            || area_of(moved(hash, -1, 0)).lon.min > min_lon;
        if steps > 1 && too_coarse {
            steps -= 1;
            hash = at(steps);
        }
        let area = area_of(hash);
        let mut n = moved(hash, 0, 1);
        let mut s = moved(hash, 0, -1);
        let mut e = moved(hash, 1, 0);
        let mut w = moved(hash, -1, 0);
        let mut ne = moved(hash, 1, 1);
        let mut nw = moved(hash, -1, 1);
        let mut se = moved(hash, 1, -1);
        let mut sw = moved(hash, -1, -1);
        if steps >= 2 {
            let zero = Hash::default();
            if area.lat.min < min_lat {
                (s, sw, se) = (zero, zero, zero);
            }
            if area.lat.max > max_lat {
                (n, ne, nw) = (zero, zero, zero);
            }
            if area.lon.min < min_lon {
                (w, sw, nw) = (zero, zero, zero);
            }
            if area.lon.max > max_lon {
                (e, se, ne) = (zero, zero, zero);
            }
        }
        [hash, n, s, e, w, ne, nw, se, sw]
    }
}

/// A point found by a search.
struct Found {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    dist: f64,
}

/// The members of `z` inside `shape`, in Redis's discovery order; stops after
/// `limit` when it is not 0 (ANY).
fn find_in_shape(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Found> {
    let cells = shape.cells();
    let mut out = Vec::new();
    let mut last = 0;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        if last != 0 && cell == cells[last] {
            continue;
        }
        if !out.is_empty() && limit != 0 && out.len() >= limit {
            break;
        }
        let min = align52(cell);
        let max = align52(Hash {
            bits: cell.bits + 1,
            step: cell.step,
        });
        let range = ScoreRange {
            min: ScoreBound {
                value: min as f64,
                exclusive: false,
            },
            max: ScoreBound {
                value: max as f64,
                exclusive: true,
            },
        };
        let (a, b) = z.range_ranks(&range);
        for (m, s) in z.iter_from(a, false).take(b - a) {
            if let Some((lon, lat, dist)) = shape.contains(s) {
                out.push(Found {
                    member: Bytes::copy_from_slice(m),
                    score: s,
                    lon,
                    lat,
                    dist,
                });
            }
            if !out.is_empty() && limit != 0 && out.len() >= limit {
                break;
            }
        }
        last = i;
    }
    out
}

// ---- reply formatting ----

/// Redis's `fixedpoint_d2string(d, 4)`: rounded to 4 decimals, always printed.
fn fixed4(d: f64) -> String {
    let v = (d * 10000.0).round_ties_even() as i64;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10000, a % 10000)
}

fn distance_reply(d: f64) -> Reply {
    Reply::Bulk(Bytes::from(fixed4(d)))
}

/// Redis's "human" long double text (`%.17Lf` without trailing zeros).
fn human(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = format!("{v:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// A coordinate: a bulk string in RESP2, a double with the same digits in RESP3
/// (Redis's `addReplyHumanLongDouble`).
fn coord_reply(ctx: &Ctx, v: f64) -> Reply {
    let s = human(v);
    if ctx.client.proto >= 3 {
        Reply::Raw(Bytes::from(format!(",{s}\r\n")))
    } else {
        Reply::Bulk(Bytes::from(s))
    }
}

// ---- argument parsing ----

fn lonlat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = arg_f64(lon)?;
    let lat = arg_f64(lat)?;
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(CmdError::err(format!(
            "invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)]
        .into_iter()
        .find(|(u, _)| is_kw(arg, u))
        .map(|(_, f)| f)
        .ok_or_else(|| CmdError::err("unsupported unit provided. please use M, KM, FT, MI"))
}

/// `radius unit` → (radius, metres per unit).
fn radius_arg(r: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = parse_f64(r).ok_or_else(|| CmdError::err("need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((r, unit(u)?))
}

/// `width height unit` → (width, height, metres per unit).
fn box_arg(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let w = parse_f64(w).ok_or_else(|| CmdError::err("need numeric width"))?;
    let h = parse_f64(h).ok_or_else(|| CmdError::err("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((w, h, unit(u)?))
}

/// The sorted set at `key`, already looked up (and type-checked) by the caller.
fn zset_ref<'c>(ctx: &'c Ctx, key: &[u8]) -> Option<&'c ZSetValue> {
    match ctx.store.dbs[ctx.client.db].data.get(key).map(|o| &o.value) {
        Some(Value::ZSet(z)) => Some(z),
        _ => None,
    }
}

fn member_lonlat(z: &ZSetValue, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member)
        .map(lonlat_of)
        .ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

// ---- GEOADD GEOPOS GEODIST GEOHASH ----

/// GEOADD: NX/XX/CH, then longitude/latitude/member triples, applied as the ZADD
/// of their 52-bit scores (which is also what Redis runs and replicates).
fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut i = 2;
    let (mut nx, mut xx) = (false, false);
    while i < args.len() {
        if is_kw(&args[i], "nx") {
            nx = true;
        } else if is_kw(&args[i], "xx") {
            xx = true;
        } else if !is_kw(&args[i], "ch") {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if !rest.len().is_multiple_of(3) || (xx && nx) {
        return Err(CmdError::Syntax);
    }
    let mut zargs: Vec<Bytes> = Vec::with_capacity(i + rest.len() / 3 * 2);
    zargs.push(Bytes::from_static(b"zadd"));
    zargs.extend(args[1..i].iter().cloned());
    for t in rest.chunks(3) {
        let (lon, lat) = lonlat(&t[0], &t[1])?;
        let score = score_of(lon, lat).unwrap_or(0);
        zargs.push(Bytes::from(score.to_string()));
        zargs.push(t[2].clone());
    }
    zadd_generic(ctx, &zargs, AddFlags::default())
}

fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let scores: Vec<Option<f64>> = match get_zset(ctx, &args[1], Lookup::READ)? {
        None => vec![None; args.len() - 2],
        Some(z) => args[2..].iter().map(|m| z.score(m)).collect(),
    };
    Ok(Reply::Array(
        scores
            .into_iter()
            .map(|s| match s {
                None => Reply::NilArray,
                Some(s) => {
                    let (lon, lat) = lonlat_of(s);
                    Reply::Array(vec![coord_reply(ctx, lon), coord_reply(ctx, lat)])
                }
            })
            .collect(),
    ))
}

fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let to_meter = match args.len() {
        5 => unit(&args[4])?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    let Some(z) = get_zset(ctx, &args[1], Lookup::READ)? else {
        return Ok(Reply::Nil);
    };
    let (Some(a), Some(b)) = (z.score(&args[2]), z.score(&args[3])) else {
        return Ok(Reply::Nil);
    };
    let (lon1, lat1) = lonlat_of(a);
    let (lon2, lat2) = lonlat_of(b);
    Ok(distance_reply(distance(lon1, lat1, lon2, lat2) / to_meter))
}

fn geohash(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let z = get_zset(ctx, &args[1], Lookup::READ)?;
    let z = z.as_deref();
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::Nil,
                Some(score) => {
                    // Re-encode with the standard ±90 latitude range.
                    let (lon, lat) = lonlat_of(score);
                    let std_lon = Span {
                        min: -180.0,
                        max: 180.0,
                    };
                    let std_lat = Span {
                        min: -90.0,
                        max: 90.0,
                    };
                    let bits = encode(std_lon, std_lat, lon, lat, 26).map_or(0, |h| h.bits);
                    let text: Vec<u8> = (0..11)
                        .map(|i| {
                            let idx = if i == 10 {
                                0
                            } else {
                                ((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
                            };
                            ALPHABET[idx]
                        })
                        .collect();
                    Reply::Bulk(Bytes::from(text))
                }
            })
            .collect(),
    ))
}

// ---- GEORADIUS GEORADIUSBYMEMBER GEOSEARCH GEOSEARCHSTORE ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    /// GEORADIUS[_RO]: longitude latitude radius unit.
    Coords,
    /// GEORADIUSBYMEMBER[_RO]: member radius unit.
    Member,
    /// GEOSEARCH[STORE]: FROMMEMBER/FROMLONLAT and BYRADIUS/BYBOX options.
    Search,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Redis's `georadiusGeneric`. `nostore` is set for the `_RO` variants and
/// `searchstore` for GEOSEARCHSTORE.
fn georadius_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    src_idx: usize,
    variant: Variant,
    nostore: bool,
    searchstore: bool,
) -> Result<Reply, CmdError> {
    let src = &args[src_idx];
    let exists = get_zset(ctx, src, Lookup::READ)?.is_some();
    let mut shape = Shape {
        kind: Kind::Circle { radius: 0.0 },
        lon: 0.0,
        lat: 0.0,
        conversion: 0.0,
    };
    let mut storekey: Option<&Bytes> = None;
    let mut storedist = false;
    let base = match variant {
        Variant::Coords => {
            (shape.lon, shape.lat) = lonlat(&args[2], &args[3])?;
            let (r, c) = radius_arg(&args[4], &args[5])?;
            (shape.kind, shape.conversion) = (Kind::Circle { radius: r }, c);
            6
        }
        Variant::Member if !exists => 5,
        Variant::Member => {
            let z = zset_ref(ctx, src).ok_or(CmdError::WrongType)?;
            (shape.lon, shape.lat) = member_lonlat(z, &args[2])?;
            let (r, c) = radius_arg(&args[3], &args[4])?;
            (shape.kind, shape.conversion) = (Kind::Circle { radius: r }, c);
            5
        }
        Variant::Search => {
            if searchstore {
                storekey = Some(&args[1]);
                3
            } else {
                2
            }
        }
    };
    let search = variant == Variant::Search;

    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let rest = &args[base.min(args.len())..];
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        let left = rest.len() - i - 1;
        if is_kw(a, "withdist") {
            withdist = true;
        } else if is_kw(a, "withhash") {
            withhash = true;
        } else if is_kw(a, "withcoord") {
            withcoord = true;
        } else if is_kw(a, "any") {
            any = true;
        } else if is_kw(a, "asc") {
            sort = Sort::Asc;
        } else if is_kw(a, "desc") {
            sort = Sort::Desc;
        } else if is_kw(a, "count") && left >= 1 {
            count = arg_i64(&rest[i + 1])?;
            if count <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is_kw(a, "store") || is_kw(a, "storedist")) && left >= 1 && !nostore && !search {
            storekey = Some(&rest[i + 1]);
            storedist = is_kw(a, "storedist");
            i += 1;
        } else if is_kw(a, "storedist") && search && searchstore {
            storedist = true;
        } else if is_kw(a, "frommember") && left >= 1 && search && !fromloc {
            if exists {
                let z = zset_ref(ctx, src).ok_or(CmdError::WrongType)?;
                (shape.lon, shape.lat) = member_lonlat(z, &rest[i + 1])?;
            }
            frommember = true;
            i += 1;
        } else if is_kw(a, "fromlonlat") && left >= 2 && search && !frommember {
            (shape.lon, shape.lat) = lonlat(&rest[i + 1], &rest[i + 2])?;
            fromloc = true;
            i += 2;
        } else if is_kw(a, "byradius") && left >= 2 && search && !bybox {
            let (r, c) = radius_arg(&rest[i + 1], &rest[i + 2])?;
            (shape.kind, shape.conversion) = (Kind::Circle { radius: r }, c);
            byradius = true;
            i += 2;
        } else if is_kw(a, "bybox") && left >= 3 && search && !byradius {
            let (w, h, c) = box_arg(&rest[i + 1], &rest[i + 2], &rest[i + 3])?;
            shape.kind = Kind::Box {
                width: w,
                height: h,
            };
            shape.conversion = c;
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }

    if storekey.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdError::err(format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if searchstore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(&args[0]);
    if search && !(frommember || fromloc) {
        return Err(CmdError::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search && !(byradius || bybox) {
        return Err(CmdError::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    let Some(z) = zset_ref(ctx, src).filter(|_| exists) else {
        return Ok(match storekey {
            Some(dst) => {
                if ctx.db().remove(dst).is_some() {
                    ctx.store.dirty += 1;
                    ctx.notify(ev::GENERIC, "del", dst);
                }
                Reply::Int(0)
            }
            None => Reply::Array(Vec::new()),
        });
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let mut found = find_in_shape(z, &shape, limit);
    if found.is_empty() && storekey.is_none() {
        return Ok(Reply::Array(Vec::new()));
    }
    match sort {
        Sort::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    if count != 0 {
        found.truncate(count as usize);
    }
    for f in &mut found {
        f.dist /= shape.conversion;
    }

    let Some(dst) = storekey else {
        let with = withdist || withhash || withcoord;
        let items = found
            .into_iter()
            .map(|f| {
                if !with {
                    return Reply::Bulk(f.member);
                }
                let mut v = vec![Reply::Bulk(f.member)];
                if withdist {
                    v.push(distance_reply(f.dist));
                }
                if withhash {
                    v.push(Reply::Int(f.score as i64));
                }
                if withcoord {
                    v.push(Reply::Array(vec![
                        coord_reply(ctx, f.lon),
                        coord_reply(ctx, f.lat),
                    ]));
                }
                Reply::Array(v)
            })
            .collect();
        return Ok(Reply::Array(items));
    };
    let n = found.len();
    if n == 0 {
        if ctx.db().remove(dst).is_some() {
            ctx.store.dirty += 1;
            ctx.notify(ev::GENERIC, "del", dst);
        }
        return Ok(Reply::Int(0));
    }
    let mut seen = std::collections::HashSet::new();
    let members: Vec<(Bytes, f64)> = found
        .into_iter()
        .filter(|f| seen.insert(f.member.clone()))
        .map(|f| (f.member, if storedist { f.dist } else { f.score }))
        .collect();
    let z = ZSetValue::from_members(members, super::zset::limits(ctx));
    let lru = ctx.lru();
    ctx.db().set(dst, Value::ZSet(Box::new(z)), lru);
    ctx.store.dirty += n as u64;
    let event = if args[0].eq_ignore_ascii_case(b"geosearchstore") {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    ctx.notify(ev::ZSET, event, dst);
    ctx.signal_ready(dst);
    Ok(Reply::Int(n as i64))
}

fn georadius(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    georadius_generic(ctx, args, 1, Variant::Coords, false, false)
}

fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    georadius_generic(ctx, args, 1, Variant::Coords, true, false)
}

fn georadiusbymember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    georadius_generic(ctx, args, 1, Variant::Member, false, false)
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    georadius_generic(ctx, args, 1, Variant::Member, true, false)
}

fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    georadius_generic(ctx, args, 1, Variant::Search, false, false)
}

fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    georadius_generic(ctx, args, 2, Variant::Search, false, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (a, b) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0xdead_beef, 0x1234_5678),
            (u32::MAX, 7),
        ] {
            let d = deinterleave(interleave(a, b));
            assert_eq!((d as u32, (d >> 32) as u32), (a, b));
        }
    }

    #[test]
    fn palermo_score_and_back() {
        // The score Redis stores for GEOADD Sicily 13.361389 38.115556 "Palermo".
        let s = score_of(13.361389, 38.115556).expect("in range");
        assert_eq!(s, 3479099956230698);
        let (lon, lat) = lonlat_of(s as f64);
        assert_eq!(human(lon), "13.36138933897018433");
        assert_eq!(human(lat), "38.11555639549629859");
    }

    #[test]
    fn fixed_point_distances() {
        assert_eq!(fixed4(0.0), "0.0000");
        assert_eq!(fixed4(166274.15156960033), "166274.1516");
        assert_eq!(fixed4(0.00049), "0.0005");
        assert_eq!(fixed4(12.5), "12.5000");
    }
}
