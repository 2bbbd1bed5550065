//! The `rrdpipe` command: parse arguments, load the configuration, run until SIGTERM/SIGINT.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use rrdpipe::agent::Agent;
use rrdpipe::shutdown::Shutdown;
use rrdpipe::{config, demo};

/// A metrics agent: netdata-compatible collection into a round-robin store, exported to
/// Graphite, OpenTSDB, JSON and Prometheus remote-write receivers.
#[derive(Parser, Debug)]
#[command(name = "rrdpipe", version, about)]
struct Args {
    /// Configuration file (netdata.conf syntax).
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = "/etc/rrdpipe/rrdpipe.conf")]
    config: PathBuf,

    /// Validate the configuration, print it with every key and its value, and exit (0 valid, 2 invalid).
    #[arg(long)]
    check_config: bool,

    /// Run a self-contained demonstration: collect this machine's metrics and export them as
    /// graphite lines to a built-in receiver that prints them. No server needed.
    #[arg(long)]
    demo: bool,

    /// How long the demonstration runs, in seconds.
    #[arg(long, default_value_t = 30, requires = "demo")]
    seconds: u64,
}

fn init_logs(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.demo {
        init_logs("info");
        return match demo::run(std::time::Duration::from_secs(args.seconds), stop_on_signals()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rrdpipe: demo failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let loaded = match config::load(&args.config) {
        Ok(l) => l,
        Err(errors) => {
            for w in &errors.warnings {
                eprintln!("warning: {w}");
            }
            eprintln!("{errors}");
            eprintln!("rrdpipe: not starting: fix the configuration errors above");
            return ExitCode::from(2);
        }
    };
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    if args.check_config {
        print!("{}", loaded.config.effective());
        return ExitCode::SUCCESS;
    }
    init_logs(&loaded.config.global.log_level);
    rrdpipe::collect::stream::fds::raise_nofile_limit();
    let shutdown = stop_on_signals();
    let agent = match Agent::start(&loaded.config, shutdown.clone()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rrdpipe: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!("rrdpipe started with {}", args.config.display());
    while !shutdown.wait_timeout(std::time::Duration::from_secs(3600)) {}
    tracing::info!("stopping");
    agent.stop();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// A shutdown signal triggered by SIGTERM or SIGINT.
fn stop_on_signals() -> Shutdown {
    let shutdown = Shutdown::new();
    let s = shutdown.clone();
    match signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT]) {
        Ok(mut signals) => {
            std::thread::Builder::new()
                .name("signals".into())
                .spawn(move || {
                    if let Some(sig) = signals.forever().next() {
                        tracing::info!("received signal {sig}; shutting down");
                        s.trigger();
                    }
                })
                .expect("spawn the signal thread");
        }
        Err(e) => eprintln!("rrdpipe: cannot install signal handlers: {e}; stop with SIGKILL"),
    }
    shutdown
}
