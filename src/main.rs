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
    /// Configuration file (netdata.conf syntax) [default: /etc/rrdpipe/rrdpipe.conf]
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Validate the configuration, print it with every key and its value, and exit (0 valid, 2 invalid).
    #[arg(long)]
    check_config: bool,

    /// Run a self-contained demonstration: collect this machine's metrics and export them as
    /// graphite lines to a built-in receiver that prints them. No server needed.
    #[arg(long, conflicts_with_all = ["config", "check_config"])]
    demo: bool,

    /// How long the demonstration runs, in seconds [default: 30]. Only with --demo.
    #[arg(long, value_name = "N")]
    seconds: Option<u64>,

    /// How log lines are written to stderr: `text` for people, `json` (one object a line, the
    /// event's fields and spans as keys) for log collectors.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The `--log-format` choices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO exporter{instance=g}: message key=value`.
    Text,
    /// `{"timestamp":…,"level":"INFO","message":…,"key":…,"spans":[…]}`.
    Json,
}

/// Where the configuration is read from when `-c` is not given.
const DEFAULT_CONFIG: &str = "/etc/rrdpipe/rrdpipe.conf";

/// Print to stderr; a closed stderr is not worth a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Changes the log level of the running process.
type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String>>;

/// What changes the log level (`None` when `RUST_LOG` decides it).
type LogLevel = Option<SetLogLevel>;

/// Send log lines to stderr in `format`, at `level` unless `RUST_LOG` is set (then it decides,
/// span filters such as `[exporter{instance=g}]=debug` included).
fn init_logs(level: &str, format: LogFormat) -> LogLevel {
    use tracing_subscriber::EnvFilter;
    let from_env = EnvFilter::try_from_default_env().ok();
    let env_decides = from_env.is_some();
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // A closed stderr (`rrdpipe --demo 2>&1 | head`) must not turn into a panic.
        .log_internal_errors(false);
    let set: SetLogLevel = match format {
        LogFormat::Text => {
            let builder = builder.with_ansi(std::io::stderr().is_terminal()).with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            Box::new(move |level: &str| handle.reload(EnvFilter::new(level)).map_err(|e| e.to_string()))
        }
        LogFormat::Json => {
            let builder = builder.json().flatten_event(true).with_ansi(false).with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            Box::new(move |level: &str| handle.reload(EnvFilter::new(level)).map_err(|e| e.to_string()))
        }
    };
    (!env_decides).then_some(set)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.demo {
        return run_demo(&args);
    }
    if args.seconds.is_some() {
        say!("rrdpipe: --seconds sets how long --demo runs; use it with --demo, e.g. rrdpipe --demo --seconds 10");
        return ExitCode::from(2);
    }
    let Some(config) = config_path(&args) else {
        return ExitCode::from(2);
    };
    let Some(loaded) = load_config(&config) else {
        return ExitCode::from(2);
    };
    if args.check_config {
        return check_config(&loaded);
    }
    let set_log_level = init_logs(&loaded.config.global.log_level, args.log_format);
    rrdpipe::collect::stream::fds::raise_nofile_limit();
    let shutdown = Shutdown::new();
    let signals = watch_signals(&shutdown);
    let mut agent = match Agent::start(&loaded.config, shutdown.clone()) {
        Ok(a) => a,
        Err(e) => {
            say!("rrdpipe: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(config = %config.display(), "rrdpipe started");
    let mut log_level = loaded.config.global.log_level.clone();
    match signals {
        Some(events) => {
            while let Ok(Event::Reload) = events.recv() {
                reload(&mut agent, &config, &mut log_level, &set_log_level);
            }
        }
        None => while !shutdown.wait_timeout(std::time::Duration::from_secs(3600)) {},
    }
    tracing::info!("stopping");
    agent.stop();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// `--demo`: run the demonstration until its time is up or a signal stops it.
fn run_demo(args: &Args) -> ExitCode {
    init_logs("info", args.log_format);
    let seconds = args.seconds.unwrap_or(30);
    match demo::run(std::time::Duration::from_secs(seconds), stop_on_signals()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say!("rrdpipe: demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration file to read: `-c` made absolute (so a reload after a `chdir` reads the
/// same file), else the default one. `None`, having said how to start, when neither is given.
fn config_path(args: &Args) -> Option<PathBuf> {
    match &args.config {
        Some(path) => Some(std::path::absolute(path).unwrap_or_else(|_| path.clone())),
        None if !Path::new(DEFAULT_CONFIG).exists() => {
            say!(
                "rrdpipe: no configuration at {DEFAULT_CONFIG}.\n\
                 \x20 To see rrdpipe work right away:  rrdpipe --demo\n\
                 \x20 To run it, start from the example configuration (every key, commented):\n\
                 \x20   cp /usr/share/doc/rrdpipe/rrdpipe.conf.example {DEFAULT_CONFIG}   (examples/rrdpipe.conf in the source)\n\
                 \x20 or name another file:  rrdpipe -c FILE"
            );
            None
        }
        None => Some(PathBuf::from(DEFAULT_CONFIG)),
    }
}

/// Load the configuration at `path`, printing its warnings; `None`, having printed every
/// error, when it cannot be used.
fn load_config(path: &Path) -> Option<config::Loaded> {
    let loaded = match config::load(path) {
        Ok(l) => l,
        Err(errors) => {
            for w in &errors.warnings {
                say!("warning: {w}");
            }
            say!("{errors}");
            say!("rrdpipe: not starting: fix the configuration errors above");
            return None;
        }
    };
    for w in &loaded.warnings {
        say!("warning: {w}");
    }
    Some(loaded)
}

/// `--check-config`: print the effective configuration (exit 0), or what would keep it from
/// starting (exit 2).
fn check_config(loaded: &config::Loaded) -> ExitCode {
    let problems = rrdpipe::agent::check(&loaded.config);
    if !problems.is_empty() {
        for p in &problems {
            say!("{p}");
        }
        say!("rrdpipe: the configuration would not start: fix the problems above");
        return ExitCode::from(2);
    }
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(loaded.config.effective().as_bytes());
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
            say!("rrdpipe: cannot install signal handlers: {e}; stop with SIGKILL, restart to reload");
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
                tracing::info!(signal = sig, "received a stop signal; shutting down");
                shutdown.trigger();
                return;
            }
        })
        .expect("spawn the signal thread");
    Some(rx)
}

/// SIGHUP: read the configuration file again and apply it; an invalid one changes nothing.
fn reload(agent: &mut Agent, path: &Path, log_level: &mut String, set_log_level: &LogLevel) {
    tracing::info!(config = %path.display(), "received SIGHUP; reading the configuration again");
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
                Ok(()) => tracing::info!(log_level = %level, "log level changed"),
                Err(e) => tracing::error!(log_level = %level, error = %e, "cannot change the log level"),
            },
            None => {
                tracing::info!(log_level = %level, "[global] log level changed, but RUST_LOG decides the log level")
            }
        }
        *log_level = level.clone();
    }
    log_reloaded(&agent.reload(&loaded.config));
}

/// One line for each thing a reload did, and one for what it could not do.
fn log_reloaded(r: &Reloaded) {
    if !r.exporters_started.is_empty() {
        tracing::info!(exporters = ?r.exporters_started, "reload: started exporters");
    }
    if !r.exporters_changed.is_empty() {
        tracing::info!(exporters = ?r.exporters_changed, "reload: restarted exporters with their new settings");
    }
    if !r.exporters_stopped.is_empty() {
        tracing::info!(exporters = ?r.exporters_stopped, "reload: stopped exporters");
    }
    for refused in &r.exporters_refused {
        tracing::error!("reload: {refused}; it runs on with its previous settings, if it ran");
    }
    if !r.plugins_stopped.is_empty() {
        tracing::info!(plugins = ?r.plugins_stopped, "reload: stopped plugins");
    }
    if !r.plugins_started.is_empty() {
        tracing::info!(plugins = ?r.plugins_started, "reload: started plugins");
    }
    match &r.certificate {
        Some(Ok(cert)) => tracing::info!(
            certificate = %cert.display(),
            "reload: read [web] ssl key and ssl certificate again; new connections get them, connected \
             children and clients keep theirs"
        ),
        Some(Err(e)) => tracing::error!(
            "reload: cannot use the new certificate: {e}. The port still serves the certificate it had; fix the \
             files and reload again (SIGHUP)"
        ),
        None => {}
    }
    if !r.need_restart.is_empty() {
        tracing::warn!(settings = ?r.need_restart, "reload: changed settings that take effect only after a restart");
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
                        tracing::info!(signal = sig, "received a stop signal; shutting down");
                        s.trigger();
                    }
                })
                .expect("spawn the signal thread");
        }
        Err(e) => say!("rrdpipe: cannot install signal handlers: {e}; stop with SIGKILL"),
    }
    shutdown
}
