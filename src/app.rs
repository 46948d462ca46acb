//! Process-level start-up: configuration, logging, pid file, daemonizing, the tokio
//! runtime, listeners and signals. `main.rs` calls [`main`] and nothing else.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use tokio::net::TcpListener;
use tracing::info;

use crate::cli::Cli;
use crate::params::Params;
use crate::store::Store;

/// Runs the program described by `cli` to completion.
pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.mbuf_size.is_some() || cli.max_msgs.is_some() || cli.admin.is_some() {
        eprintln!("redmite: -m, -M and -x are deprecated Dynomite options and are ignored");
    }
    if cli.daemonize {
        return daemonize();
    }
    let mut params = Params::default();
    let conf = cli.conf_file.clone().or(cli.positional_conf.clone());
    if let Some(path) = &conf {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file '{}'", path.display()))?;
        crate::cli::apply_redis_conf(&mut params, &text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    if cli.test_conf {
        println!(
            "redmite: configuration file '{}' syntax is valid",
            conf.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (name, value) in &cli.overrides {
        params
            .set(name, value, true)
            .map_err(|e| anyhow::anyhow!("bad value for --{name} '{value}': {e:?}"))?;
    }
    init_logging(&cli)?;
    if let Some(pid) = &cli.pid_file {
        std::fs::write(pid, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pid file '{}'", pid.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(serve(params, conf));
    if let Some(pid) = &cli.pid_file {
        let _ = std::fs::remove_file(pid);
    }
    result.map(|_| ExitCode::SUCCESS)
}

async fn serve(params: Params, conf: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for host in &params.bind {
        let host = host.trim_start_matches('-');
        let addr: SocketAddr = tokio::net::lookup_host((host, params.port))
            .await
            .with_context(|| format!("cannot resolve bind address '{host}'"))?
            .next()
            .with_context(|| format!("no address for '{host}'"))?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        info!("listening for clients on {}", listener.local_addr()?);
        listeners.push(listener);
    }
    let mut store = Store::new(params, crate::commands::table().entries.len());
    store.config_file = conf;
    let shared = crate::server::Shared::new(store);
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

fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    let level = crate::config::verbosity_to_level(cli.verbosity);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    match &cli.output {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file '{}'", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => builder.with_writer(std::io::stderr).init(),
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
