//! `redmite status [-c conf]`: the cluster as a person wants to read it, one row per
//! node (DC, rack, address, state, keys, queued writes, replication lag), gathered
//! from each node's stats endpoint.
//!
//! A seed line names a node's peer port but not its stats port, so every node is
//! assumed to use the same stats port as the configured one (as Dynomite's sample
//! configs and docker images do).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// One row of the table.
struct Row {
    dc: String,
    rack: String,
    node: String,
    state: String,
    keys: String,
    queued: String,
    lag_ms: String,
    peers_up: String,
}

/// GETs `path` from `addr` and returns the body of a 200 reply.
fn fetch(addr: &str, path: &str) -> anyhow::Result<String> {
    let sock = addr.to_socket_addrs()?.next().context("no address")?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("malformed reply")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "{}",
        head.lines().next().unwrap_or("")
    );
    Ok(body.to_string())
}

fn row_from_info(dc: &str, rack: &str, node: &str, info: &serde_json::Value, pool: &str) -> Row {
    let peers = info[pool]["peers"].as_object();
    let (mut queued, mut lag, mut up, mut total) = (0u64, 0u64, 0, 0);
    for p in peers.into_iter().flat_map(|m| m.values()) {
        total += 1;
        up += (p["state"] == "up") as usize;
        queued += p["queued"].as_u64().unwrap_or(0);
        lag = lag.max(p["lag_ms"].as_u64().unwrap_or(0));
    }
    Row {
        dc: dc.to_string(),
        rack: rack.to_string(),
        node: node.to_string(),
        state: info["state"].as_str().unwrap_or("?").to_string(),
        keys: info["keys"].as_u64().map_or("?".into(), |k| k.to_string()),
        queued: queued.to_string(),
        lag_ms: lag.to_string(),
        peers_up: format!("{up}/{total}"),
    }
}

/// Prints the table for the cluster described by the dynomite.yml at `conf`.
pub fn run(conf: &Path) -> anyhow::Result<bool> {
    let cfg = crate::config::load_file(conf).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(stats) = cfg.stats_listen.clone() else {
        anyhow::bail!("{} has no stats_listen to ask the nodes on", conf.display());
    };
    let stats_port = stats.port;
    let mut nodes = vec![(
        cfg.datacenter.clone(),
        cfg.rack.clone(),
        cfg.dyn_listen.host.clone(),
        cfg.dyn_listen.port,
    )];
    for s in &cfg.dyn_seeds {
        nodes.push((s.dc.clone(), s.rack.clone(), s.host.clone(), s.port));
    }
    nodes.sort();
    let mut rows = Vec::new();
    let mut all_ok = true;
    for (dc, rack, host, port) in &nodes {
        // The configured node's stats address may be a wildcard: ask it on loopback.
        let stats_host = if host == &cfg.dyn_listen.host && stats.host != "0.0.0.0" {
            stats.host.clone()
        } else if host == "0.0.0.0" {
            "127.0.0.1".to_string()
        } else {
            host.clone()
        };
        let node = format!("{host}:{port}");
        let info = fetch(&format!("{stats_host}:{stats_port}"), "/info")
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).map_err(Into::into));
        rows.push(match info {
            Ok(i) => row_from_info(dc, rack, &node, &i, &cfg.pool_name),
            Err(e) => {
                all_ok = false;
                Row {
                    dc: dc.clone(),
                    rack: rack.clone(),
                    node,
                    state: format!("UNREACHABLE ({e})"),
                    keys: "-".into(),
                    queued: "-".into(),
                    lag_ms: "-".into(),
                    peers_up: "-".into(),
                }
            }
        });
    }
    print!("{}", table(&rows));
    Ok(all_ok)
}

fn table(rows: &[Row]) -> String {
    let header = [
        "DC", "RACK", "NODE", "KEYS", "QUEUED", "LAG_MS", "PEERS_UP", "STATE",
    ];
    let cells: Vec<[&str; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.dc.as_str(),
                &r.rack,
                &r.node,
                &r.keys,
                &r.queued,
                &r.lag_ms,
                &r.peers_up,
                &r.state,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for c in &cells {
        for (w, v) in widths.iter_mut().zip(c) {
            *w = (*w).max(v.len());
        }
    }
    let mut out = String::new();
    for line in std::iter::once(&header).chain(cells.iter()) {
        let cols: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(cols.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up() {
        let info: serde_json::Value = serde_json::from_str(
            r#"{"state":"NORMAL","keys":7,"pool":{"peers":{"a":{"state":"up","queued":2,"lag_ms":5},"b":{"state":"down","queued":1,"lag_ms":9}}}}"#,
        )
        .unwrap();
        let r = row_from_info("dc1", "rack1", "10.0.0.1:8101", &info, "pool");
        assert_eq!(
            (r.queued.as_str(), r.lag_ms.as_str(), r.peers_up.as_str()),
            ("3", "9", "1/2")
        );
        let t = table(&[r]);
        assert_eq!(
            t,
            "DC   RACK   NODE           KEYS  QUEUED  LAG_MS  PEERS_UP  STATE\n\
             dc1  rack1  10.0.0.1:8101  7     3       9       1/2       NORMAL\n"
        );
    }
}
