//! Log levels: Dynomite's `-v 0..11` verbosity mapped onto `tracing` levels.

use tracing::level_filters::LevelFilter;

/// Dynomite's levels are EMERG(0) .. PVERB(11) with 5 = NOTICE/INFO by default:
/// 0..=2 error, 3..=4 warn, 5 info, 6..=7 debug, 8..=11 trace.
pub fn verbosity_to_level(v: u8) -> LevelFilter {
    match v {
        0..=2 => LevelFilter::ERROR,
        3..=4 => LevelFilter::WARN,
        5 => LevelFilter::INFO,
        6..=7 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}
