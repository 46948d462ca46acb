//! Process-level start-up: configuration, logging, pid file, daemonizing, the tokio
//! runtime, listeners and signals. `main.rs` calls [`main`] and nothing else.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use tokio::net::TcpListener;
use tracing::info;

use crate::cli::Cli;
use crate::cluster::coordinator::Cluster;
use crate::config::DynoConfig;
use crate::params::Params;
use crate::server::Role;
use crate::store::Store;

/// Runs the program described by `cli` to completion.
pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Some(crate::cli::Command::Healthcheck { addr, timeout_ms }) => {
            return Ok(crate::healthcheck::run(&crate::healthcheck::Options {
                addr: addr.clone(),
                timeout: std::time::Duration::from_millis(*timeout_ms),
            }));
        }
        Some(crate::cli::Command::Status { conf }) => {
            let all_reachable = crate::stats::status::run(conf)?;
            return Ok(if all_reachable {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        None => {}
    }
    if cli.describe_stats {
        print!("{}", crate::stats::counters::describe());
        return Ok(ExitCode::SUCCESS);
    }
    if cli.mbuf_size.is_some() || cli.max_msgs.is_some() || cli.admin.is_some() {
        eprintln!("redmite: -m, -M and -x are deprecated Dynomite options and are ignored");
    }
    if cli.daemonize {
        return daemonize();
    }
    let mut params = Params::default();
    let conf = cli.conf_file.clone().or(cli.positional_conf.clone());
    let is_yaml = conf
        .as_ref()
        .and_then(|p| p.extension())
        .is_some_and(|e| e == "yml" || e == "yaml");
    let mut dyno = None;
    if let Some(path) = &conf {
        // `-c` is Dynomite's flag, so its file is a dynomite.yml unless it is named
        // `*.conf`; a positional file is a redis.conf unless it is named `*.yml`.
        let is_dynomite =
            is_yaml || (cli.conf_file.is_some() && path.extension().is_none_or(|e| e != "conf"));
        if is_dynomite {
            if cli.test_conf {
                let (ok, msg) = crate::config::test_conf(path);
                if !ok {
                    if let Err(e) = crate::config::load_file(path) {
                        eprintln!("{e}");
                    }
                }
                println!("{msg}");
                return Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            let cfg = crate::config::load_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            for w in &cfg.warnings {
                eprintln!("redmite: warning: {w}");
            }
            if let Some(p) = &cfg.requirepass {
                params
                    .set("requirepass", p, true)
                    .map_err(|e| anyhow::anyhow!("redmite_requirepass: {e:?}"))?;
            }
            params
                .set("databases", &cfg.databases.to_string(), true)
                .map_err(|e| anyhow::anyhow!("redmite_databases: {e:?}"))?;
            params
                .set("maxmemory", &cfg.maxmemory.to_string(), true)
                .map_err(|e| anyhow::anyhow!("redmite_maxmemory: {e:?}"))?;
            if let crate::config::Listen::Tcp(hp) = &cfg.listen {
                params
                    .set("port", &hp.port.to_string(), true)
                    .map_err(|e| anyhow::anyhow!("listen: {e:?}"))?;
            }
            dyno = Some(cfg);
        } else {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read configuration file '{}'", path.display()))?;
            crate::cli::apply_redis_conf(&mut params, &text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if cli.test_conf {
                println!(
                    "redmite: configuration file '{}' syntax is valid",
                    path.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
    } else if cli.test_conf {
        anyhow::bail!("-t needs a configuration file (-c FILE)");
    } else {
        // Without a file, a single Dynomite node on loopback (clients on 8102, peers on
        // 8101, stats on 22222), as `dynomite` starts without `-c`.
        dyno = Some(DynoConfig::single_node_default());
    }
    if cli.gossip {
        // `-g`, as Dynomite's: gossip on whatever the file says.
        if let Some(cfg) = dyno.as_mut() {
            cfg.enable_gossip = true;
        }
    }
    let mut ports = Ports {
        peer: true,
        datastore: conf.is_some(),
    };
    for (name, value) in &cli.overrides {
        params
            .set(name, value, true)
            .map_err(|e| anyhow::anyhow!("bad value for --{name} '{value}': {e:?}"))?;
        if name == "port" {
            params.port_override = Some(params.port);
        }
    }
    if let Some(cfg) = dyno.as_mut() {
        ports.peer = listen_overrides(cfg, &cli)?;
        if conf.is_none() && cli.overrides.iter().any(|(n, _)| n == "bind") {
            if let (crate::config::Listen::Tcp(hp), Some(host)) =
                (&mut cfg.listen, params.bind.first())
            {
                hp.host = host.trim_start_matches('-').to_string();
            }
        }
    }
    init_logging(&cli)?;
    if let Some(path) = &conf {
        info!("configuration loaded from '{}'", path.display());
    }
    if let Some(pid) = &cli.pid_file {
        std::fs::write(pid, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pid file '{}'", pid.display()))?;
    }
    crate::info::set_allocator_background_threads(params.get("jemalloc-bg-thread") == Some("yes"));
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = dyno.as_ref().and_then(|cfg| cfg.threads) {
        runtime.worker_threads(n as usize);
    }
    let runtime = runtime.enable_all().build()?;
    let result = runtime.block_on(serve(params, conf, dyno, ports));
    if let Some(pid) = &cli.pid_file {
        let _ = std::fs::remove_file(pid);
    }
    result.map(|_| ExitCode::SUCCESS)
}

/// Which of a Dynomite node's optional ports are opened.
struct Ports {
    /// `dyn_listen` (off with `--dyn-listen none`).
    peer: bool,
    /// The `servers:` endpoint: only when a configuration file names it.
    datastore: bool,
}

/// Applies `--dyn-listen` and `--stats-listen` (`host:port` or `none`). Returns whether
/// the peer port is opened.
fn listen_overrides(cfg: &mut DynoConfig, cli: &Cli) -> anyhow::Result<bool> {
    fn parse(flag: &str, v: &str) -> anyhow::Result<Option<crate::config::HostPort>> {
        if v.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        crate::config::HostPort::parse(v)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("bad value for --{flag} '{v}': {e}"))
    }
    let mut open_peer = true;
    if let Some(v) = &cli.dyn_listen {
        match parse("dyn-listen", v)? {
            Some(hp) => cfg.dyn_listen = hp,
            None => open_peer = false,
        }
    }
    if let Some(v) = &cli.stats_listen {
        cfg.stats_listen = parse("stats-listen", v)?;
    }
    Ok(open_peer)
}

/// Resolves `host:port` to the first address.
async fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve address '{host}'"))?
        .next()
        .with_context(|| format!("no address for '{host}'"))
}

/// Listens on `host:port` with Redis's `tcp-backlog` as the accept queue's length (the
/// kernel caps it at `net.core.somaxconn`). tokio's own `bind` asks for 128, and a burst
/// of connections past that (1,000 scrapers starting at once, a client pool opening)
/// waits for SYN retransmits a second at a time.
async fn bind(host: &str, port: u16, what: &str, backlog: u32) -> anyhow::Result<TcpListener> {
    let addr = resolve(host, port).await?;
    let listen = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(backlog)
    };
    let listener = listen().with_context(|| format!("cannot listen for {what} on {addr}"))?;
    info!("listening for {what} on {}", listener.local_addr()?);
    Ok(listener)
}

async fn serve(
    mut params: Params,
    conf: Option<std::path::PathBuf>,
    dyno: Option<DynoConfig>,
    ports: Ports,
) -> anyhow::Result<()> {
    info!(
        "{} worker threads",
        tokio::runtime::Handle::current().metrics().num_workers()
    );
    let mut listeners = Vec::new();
    let mut cluster = None;
    let backlog = params.get_int("tcp-backlog").clamp(1, i64::from(u32::MAX)) as u32;
    match &dyno {
        Some(cfg) => {
            let incarnation: u32 = rand::random();
            let c = Cluster::from_config(cfg, incarnation)?;
            info!(
                "node {}:{} in dc '{}' rack '{}' with {} peers; read {} write {}",
                cfg.dyn_listen.host,
                cfg.dyn_listen.port,
                cfg.datacenter,
                cfg.rack,
                c.links.iter().flatten().count(),
                c.read_level().as_str(),
                c.write_level().as_str()
            );
            cluster = Some(c);
            let listen = match &cfg.listen {
                crate::config::Listen::Tcp(hp) => hp.clone(),
                crate::config::Listen::Unix(p) => {
                    anyhow::bail!("unix socket listen '{}' is not supported yet", p.display())
                }
            };
            listeners.push((
                bind(
                    &listen.host,
                    params.port_override.unwrap_or(listen.port),
                    "clients",
                    backlog,
                )
                .await?,
                Role::Client,
            ));
            if ports.peer {
                listeners.push((
                    bind(&cfg.dyn_listen.host, cfg.dyn_listen.port, "peers", backlog).await?,
                    Role::Peer,
                ));
            }
            if let (true, crate::config::Listen::Tcp(hp)) = (ports.datastore, &cfg.server.endpoint)
            {
                listeners.push((
                    bind(&hp.host, hp.port, "local datastore clients", backlog).await?,
                    Role::Datastore,
                ));
            }
        }
        None => {
            for host in params.bind.clone() {
                let host = host.trim_start_matches('-').to_string();
                listeners.push((
                    bind(&host, params.port, "clients", backlog).await?,
                    Role::Client,
                ));
            }
        }
    }
    params.port = listeners
        .first()
        .and_then(|(l, _)| l.local_addr().ok())
        .map_or(params.port, |a| a.port());
    let mut store = Store::new(params, crate::commands::table().entries.len());
    store.config_file = conf;
    let shared = crate::server::Shared::new(store, cluster);
    if let Some(cfg) = &dyno {
        crate::membership::prepare(&shared, cfg);
    }
    if let Some((cfg, hp)) = dyno
        .as_ref()
        .and_then(|cfg| Some((cfg, cfg.stats_listen.as_ref()?)))
    {
        let listener = bind(&hp.host, hp.port, "stats", backlog).await?;
        crate::stats::start(listener, shared.clone(), cfg)?;
    }
    info!(
        "redmite {} ready to accept connections",
        env!("CARGO_PKG_VERSION")
    );
    crate::server::run(listeners, shared, shutdown_signal()).await
}

/// Completes on SIGINT or SIGTERM (what `docker stop` sends).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Logs to stderr or `-o FILE` at `-v`'s level; the level stays changeable at run
/// time through the stats endpoint (`stats::log`).
fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = crate::config::verbosity_to_level(cli.verbosity);
    let (filter, handle) = tracing_subscriber::reload::Layer::new(level);
    crate::stats::log::install(
        cli.verbosity,
        Box::new(move |l| {
            let _ = handle.reload(l);
        }),
    );
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    match &cli.output {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file '{}'", path.display()))?;
            registry
                .with(
                    fmt.with_ansi(false)
                        .with_writer(std::sync::Mutex::new(file)),
                )
                .init();
        }
        // Colours only on a terminal: a redirected stderr (systemd, docker logs, a file)
        // gets plain text that grep and log shippers can read.
        None => registry
            .with(
                fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    Ok(())
}

/// Starts a copy of this process without `-d`, detached from the terminal, and exits.
fn daemonize() -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe()?;
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "-d" && a != "--daemonize")
        .collect();
    std::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start the daemon process")?;
    Ok(ExitCode::SUCCESS)
}
