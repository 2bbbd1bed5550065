//! The `rrdpipe` command: parse arguments, load the configuration, run until SIGTERM/SIGINT,
//! and load the configuration again on SIGHUP.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;

use clap::Parser;

use rrdpipe::agent::{Agent, Reloaded};
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

/// Changes the log level of the running process (`None` when `RUST_LOG` decides it).
type LogLevel = Option<Box<dyn Fn(&str) -> Result<(), String>>>;

fn init_logs(level: &str) -> LogLevel {
    let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
    let env_decides = from_env.is_some();
    let filter = from_env.unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter_reloading();
    let handle = builder.reload_handle();
    builder.init();
    if env_decides {
        return None;
    }
    Some(Box::new(move |level: &str| {
        handle.reload(tracing_subscriber::EnvFilter::new(level)).map_err(|e| e.to_string())
    }))
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
    let set_log_level = init_logs(&loaded.config.global.log_level);
    let shutdown = Shutdown::new();
    let signals = watch_signals(&shutdown);
    let mut agent = match Agent::start(&loaded.config, shutdown.clone()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rrdpipe: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!("rrdpipe started with {}", args.config.display());
    let mut log_level = loaded.config.global.log_level.clone();
    match signals {
        Some(events) => {
            while let Ok(Event::Reload) = events.recv() {
                reload(&mut agent, &args.config, &mut log_level, &set_log_level);
            }
        }
        None => while !shutdown.wait_timeout(std::time::Duration::from_secs(3600)) {},
    }
    tracing::info!("stopping");
    agent.stop();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// What a signal asks of the running agent.
enum Event {
    /// SIGHUP: load the configuration again.
    Reload,
}

/// Triggers `shutdown` on SIGTERM or SIGINT (ending the returned channel) and sends
/// [`Event::Reload`] on SIGHUP. `None` when the handlers cannot be installed.
fn watch_signals(shutdown: &Shutdown) -> Option<mpsc::Receiver<Event>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rrdpipe: cannot install signal handlers: {e}; stop with SIGKILL, restart to reload");
            return None;
        }
    };
    let (tx, rx) = mpsc::channel();
    let shutdown = shutdown.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    if tx.send(Event::Reload).is_err() {
                        return;
                    }
                    continue;
                }
                tracing::info!("received signal {sig}; shutting down");
                shutdown.trigger();
                return;
            }
        })
        .expect("spawn the signal thread");
    Some(rx)
}

/// SIGHUP: read the configuration file again and apply it; an invalid one changes nothing.
fn reload(agent: &mut Agent, path: &Path, log_level: &mut String, set_log_level: &LogLevel) {
    tracing::info!("received SIGHUP; reading {} again", path.display());
    let loaded = match config::load(path) {
        Ok(l) => l,
        Err(errors) => {
            for w in &errors.warnings {
                tracing::warn!("{w}");
            }
            for e in &errors.errors {
                tracing::error!("{e}");
            }
            tracing::error!(
                "configuration not reloaded: fix the errors above and send SIGHUP again; running on with the configuration loaded before"
            );
            return;
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let level = &loaded.config.global.log_level;
    if level != log_level {
        match set_log_level {
            Some(set) => match set(level) {
                Ok(()) => tracing::info!("log level is now {level}"),
                Err(e) => tracing::error!("cannot change the log level to {level}: {e}"),
            },
            None => {
                tracing::info!("[global] log level changed to {level}, but RUST_LOG decides the log level")
            }
        }
        *log_level = level.clone();
    }
    log_reloaded(&agent.reload(&loaded.config));
}

/// One line for each thing a reload did, and one for what it could not do.
fn log_reloaded(r: &Reloaded) {
    let list = |names: &[String]| names.join(", ");
    if !r.exporters_started.is_empty() {
        tracing::info!("reload: started exporters {}", list(&r.exporters_started));
    }
    if !r.exporters_changed.is_empty() {
        tracing::info!("reload: restarted exporters {} with their new settings", list(&r.exporters_changed));
    }
    if !r.exporters_stopped.is_empty() {
        tracing::info!("reload: stopped exporters {}", list(&r.exporters_stopped));
    }
    for refused in &r.exporters_refused {
        tracing::error!("reload: {refused}; it runs on with its previous settings, if it ran");
    }
    if !r.plugins_stopped.is_empty() {
        tracing::info!("reload: stopped plugins {}", list(&r.plugins_stopped));
    }
    if !r.plugins_started.is_empty() {
        tracing::info!("reload: started plugins {}", list(&r.plugins_started));
    }
    if !r.need_restart.is_empty() {
        tracing::warn!(
            "reload: changed settings that take effect only after a restart: {}",
            r.need_restart.join(", ")
        );
    }
    tracing::info!("configuration reloaded");
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
