//! The latency monitor (`LATENCY`): for each event class ("command", "fast-command",
//! "expire-cycle"...), the latest 160 one-second samples at or above
//! `latency-monitor-threshold` milliseconds, and the all-time maximum.
//!
//! As Redis's `latency.c`: samples in the same second keep only the highest value,
//! the series is a ring of [`TS_LEN`] slots, and an event class exists from its first
//! sample until `LATENCY RESET`. `LATENCY DOCTOR`'s report and `LATENCY GRAPH`'s
//! sparkline are worded and drawn as Redis does, for the events redmite records.

/// Redis's `LATENCY_TS_LEN`.
pub const TS_LEN: usize = 160;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Unix seconds; 0 marks an unused slot.
    pub time: u64,
    pub latency_ms: u64,
}

/// One event class's samples.
#[derive(Debug, Clone)]
pub struct Series {
    pub samples: [Sample; TS_LEN],
    /// The next slot to write.
    idx: usize,
    pub max: u64,
}

impl Series {
    fn new() -> Series {
        Series {
            samples: [Sample::default(); TS_LEN],
            idx: 0,
            max: 0,
        }
    }

    /// The most recent sample.
    pub fn last(&self) -> Sample {
        self.samples[(self.idx + TS_LEN - 1) % TS_LEN]
    }

    /// The used samples, oldest first.
    pub fn history(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..TS_LEN)
            .map(move |j| self.samples[(self.idx + j) % TS_LEN])
            .filter(|s| s.time != 0)
    }
}

/// Every event class seen since start or the last reset, in first-seen order.
#[derive(Debug, Default)]
pub struct Latency {
    events: Vec<(String, Series)>,
}

/// What the report needs to know about the configuration.
pub struct Settings {
    pub threshold_ms: u64,
    pub slowlog_slower_than: i64,
    pub hz: u64,
    /// AnonHugePages of the process, in bytes (Redis warns when it is not 0).
    pub thp_bytes: u64,
}

impl Latency {
    /// Records `latency_ms` for `event` when the monitor is on and it reaches the
    /// threshold (Redis's `latencyAddSampleIfNeeded`).
    pub fn add_if_needed(&mut self, threshold_ms: u64, event: &str, latency_ms: u64, now: u64) {
        if threshold_ms != 0 && latency_ms >= threshold_ms {
            self.add(event, latency_ms, now);
        }
    }

    fn add(&mut self, event: &str, latency: u64, now: u64) {
        let ts = match self.events.iter().position(|(e, _)| e == event) {
            Some(i) => &mut self.events[i].1,
            None => {
                self.events.push((event.to_string(), Series::new()));
                let last = self.events.len() - 1;
                &mut self.events[last].1
            }
        };
        ts.max = ts.max.max(latency);
        let prev = (ts.idx + TS_LEN - 1) % TS_LEN;
        if ts.samples[prev].time == now {
            let p = &mut ts.samples[prev];
            p.latency_ms = p.latency_ms.max(latency);
            return;
        }
        ts.samples[ts.idx] = Sample {
            time: now,
            latency_ms: latency,
        };
        ts.idx = (ts.idx + 1) % TS_LEN;
    }

    pub fn get(&self, event: &[u8]) -> Option<(&str, &Series)> {
        self.events
            .iter()
            .find(|(e, _)| e.as_bytes() == event)
            .map(|(e, s)| (e.as_str(), s))
    }

    pub fn events(&self) -> impl Iterator<Item = (&str, &Series)> {
        self.events.iter().map(|(e, s)| (e.as_str(), s))
    }

    /// Drops one event class (case-insensitive, as Redis) or all of them; returns
    /// how many were dropped.
    pub fn reset(&mut self, event: Option<&[u8]>) -> usize {
        let before = self.events.len();
        self.events
            .retain(|(e, _)| event.is_some_and(|ev| !e.as_bytes().eq_ignore_ascii_case(ev)));
        before - self.events.len()
    }

    /// `LATENCY DOCTOR`'s report.
    pub fn report(&self, s: &Settings, now: u64) -> String {
        if self.events.is_empty() && s.threshold_ms == 0 {
            return DISABLED.to_string();
        }
        let mut out = String::new();
        let mut adv = Advice::default();
        let mut advices = 0;
        for (n, (event, ts)) in self.events.iter().enumerate() {
            if n == 0 {
                out.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
            }
            let st = analyze(ts, now);
            out.push_str(&format!(
                "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
                n + 1,
                event,
                st.samples,
                st.avg,
                st.mad,
                st.period as f64 / st.samples.max(1) as f64,
                ts.max
            ));
            match event.to_ascii_lowercase().as_str() {
                "command" => {
                    if s.slowlog_slower_than < 0 {
                        adv.slowlog_enabled = true;
                        advices += 1;
                    } else if (s.slowlog_slower_than / 1000) as u64 > s.threshold_ms {
                        adv.slowlog_tuning = true;
                        advices += 1;
                    }
                    adv.slowlog_inspect = true;
                    adv.large_objects = true;
                    advices += 2;
                }
                "fast-command" => {
                    adv.scheduler = true;
                    advices += 1;
                }
                "expire-cycle" => {
                    adv.hz = true;
                    adv.large_objects = true;
                    advices += 2;
                }
                _ => {}
            }
            out.push('\n');
        }
        if s.thp_bytes > 0 {
            adv.disable_thp = true;
            advices += 1;
        }
        if self.events.is_empty() && advices == 0 {
            out.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        } else if !self.events.is_empty() && advices == 0 {
            out.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        } else {
            out.push_str("\nI have a few advices for you:\n\n");
            let t = s.threshold_ms * 1000;
            if adv.slowlog_enabled {
                out.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {t}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"));
            }
            if adv.slowlog_tuning {
                out.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {t}'.\n"));
            }
            if adv.slowlog_inspect {
                out.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
            }
            if adv.scheduler {
                out.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
            }
            if adv.hz && s.hz < 100 {
                out.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
            }
            if adv.large_objects {
                out.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
            }
            if adv.disable_thp {
                out.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
            }
        }
        out
    }

    /// `LATENCY GRAPH <event>`: a title, a rule and an 80-column, 4-row sparkline of
    /// the samples, each labelled with how long ago it was (as Redis's
    /// `latencyCommandGenSparkeline`).
    pub fn graph(event: &str, ts: &Series, now: u64) -> String {
        let samples: Vec<(u64, String)> = ts
            .history()
            .map(|s| (s.latency_ms, ago(now.saturating_sub(s.time))))
            .collect();
        let max = samples.iter().map(|s| s.0).max().unwrap_or(0);
        let min = samples.iter().map(|s| s.0).min().unwrap_or(0);
        let mut out = format!(
            "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
            ts.max
        );
        out.push_str(&"-".repeat(80));
        out.push('\n');
        for (i, chunk) in samples.chunks(80).enumerate() {
            if i != 0 {
                out.push('\n');
            }
            render(&mut out, chunk, min as f64, max as f64, 4);
        }
        out
    }
}

const DISABLED: &str = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n";

#[derive(Default)]
struct Advice {
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    hz: bool,
    large_objects: bool,
    disable_thp: bool,
}

struct Analysis {
    samples: u64,
    avg: u64,
    mad: u64,
    /// Seconds from the oldest sample to now (at least 1).
    period: u64,
}

fn analyze(ts: &Series, now: u64) -> Analysis {
    let used: Vec<Sample> = ts.samples.iter().copied().filter(|s| s.time != 0).collect();
    if used.is_empty() {
        return Analysis {
            samples: 0,
            avg: 0,
            mad: 0,
            period: 0,
        };
    }
    let n = used.len() as u64;
    let avg = used.iter().map(|s| s.latency_ms).sum::<u64>() / n;
    let oldest = used.iter().map(|s| s.time).min().unwrap_or(now);
    let period = now.saturating_sub(oldest).max(1);
    let mad = used.iter().map(|s| s.latency_ms.abs_diff(avg)).sum::<u64>() / n;
    Analysis {
        samples: n,
        avg,
        mad,
        period,
    }
}

/// A sample's label: seconds, minutes, hours or days ago.
fn ago(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Draws one range of the sparkline (Redis's `sparklineRenderRange` with
/// `SPARKLINE_FILL`): `rows` rows of `_o#` and `|`, then the labels written
/// vertically below a one-row margin.
fn render(out: &mut String, samples: &[(u64, String)], min: f64, max: f64, rows: usize) {
    const FILL: &[u8] = b"_o#";
    let charset_len = FILL.len() as i64;
    let steps = charset_len * rows as i64;
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let has_labels = samples.iter().any(|s| !s.1.is_empty());
    let mut row = 0i64;
    loop {
        let mut go_on = false;
        let mut line = vec![b' '; samples.len()];
        for (j, (value, label)) in samples.iter().enumerate() {
            let relval = *value as f64 - min;
            let step = (((relval * steps as f64) / relmax) as i64).clamp(0, steps - 1);
            if row < rows as i64 {
                let charidx = step - ((rows as i64 - row - 1) * charset_len);
                go_on = true;
                if (0..charset_len).contains(&charidx) {
                    line[j] = FILL[charidx as usize];
                } else if charidx >= charset_len {
                    line[j] = b'|';
                }
            } else {
                if has_labels && row - (rows as i64) < 1 {
                    go_on = true;
                    break;
                }
                let label_char = (row - rows as i64 - 1) as usize;
                if let Some(&c) = label.as_bytes().get(label_char) {
                    go_on = true;
                    line[j] = c;
                }
            }
        }
        if !go_on {
            break;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&line));
        out.push('\n');
    }
}

/// The process's AnonHugePages in bytes, summed over `/proc/self/smaps` as Redis
/// does (0 where the file does not exist).
pub fn thp_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("AnonHugePages:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(threshold_ms: u64) -> Settings {
        Settings {
            threshold_ms,
            slowlog_slower_than: 10_000,
            hz: 10,
            thp_bytes: 0,
        }
    }

    #[test]
    fn samples_in_one_second_keep_the_highest() {
        let mut l = Latency::default();
        l.add_if_needed(0, "command", 500, 10);
        assert!(l.events().next().is_none());
        l.add_if_needed(10, "command", 9, 10);
        assert!(l.events().next().is_none());
        l.add_if_needed(10, "command", 20, 10);
        l.add_if_needed(10, "command", 15, 10);
        l.add_if_needed(10, "command", 12, 11);
        let (_, ts) = l.get(b"command").unwrap();
        assert_eq!(
            ts.history().collect::<Vec<_>>(),
            [
                Sample {
                    time: 10,
                    latency_ms: 20
                },
                Sample {
                    time: 11,
                    latency_ms: 12
                }
            ]
        );
        assert_eq!((ts.last().latency_ms, ts.max), (12, 20));
        // The ring keeps the latest TS_LEN seconds.
        for t in 100..100 + TS_LEN as u64 + 5 {
            l.add_if_needed(10, "command", 10, t);
        }
        let (_, ts) = l.get(b"command").unwrap();
        assert_eq!(ts.history().count(), TS_LEN);
        assert_eq!(ts.history().next().map(|s| s.time), Some(105));
        assert_eq!(l.reset(Some(b"COMMAND")), 1);
        assert_eq!(l.reset(None), 0);
    }

    #[test]
    fn doctor_texts() {
        let l = Latency::default();
        assert!(l.report(&settings(0), 0).starts_with("I'm sorry, Dave"));
        assert!(l
            .report(&settings(1), 0)
            .starts_with("Dave, no latency spike"));
        let mut l = Latency::default();
        l.add_if_needed(1, "command", 30, 100);
        l.add_if_needed(1, "command", 10, 101);
        let r = l.report(&settings(1), 104);
        assert!(r.starts_with("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. command: 2 latency spikes (average 20ms, mean deviation 10ms, period 2.00 sec). Worst all time event 30ms.\n\nI have a few advices for you:\n\n"), "{r}");
        assert!(r.contains("'CONFIG SET slowlog-log-slower-than 1000'"));
        assert!(r.contains("- Check your Slow Log"));
    }

    #[test]
    fn graph_draws_bars_and_labels() {
        let mut l = Latency::default();
        l.add_if_needed(1, "command", 10, 100);
        l.add_if_needed(1, "command", 40, 130);
        let (e, ts) = l.get(b"command").unwrap();
        let g = Latency::graph(e, ts, 130);
        let want = format!(
            "command - high 40 ms, low 10 ms (all time high 40 ms)\n{}\n #\n |\n |\n_|\n  \n30\n0s\ns \n",
            "-".repeat(80)
        );
        assert_eq!(g, want);
    }
}
