//! The demonstration: the whole pipeline on one machine, with a built-in receiver.
//!
//! One job: show a newcomer rrdpipe working end to end without installing a server. It starts
//! a graphite line receiver on a loopback port that prints every line it gets, writes a normal
//! configuration file pointing the legacy `[backend]` at it (so lines travel the same formatter,
//! outbox and TCP transport as for a real Carbon), runs the agent with the `proc` collector and
//! the example plugin, serves the HTTP API on a free loopback port (printed, with a `curl`
//! line to try), and ends with a tally that checks the exporter's own counters against what the
//! receiver got.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::agent::Agent;
use crate::config;
use crate::shutdown::Shutdown;

/// Run the demonstration for `duration` or until `shutdown` is triggered.
pub fn run(duration: Duration, shutdown: Shutdown) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let lines = Arc::new(AtomicU64::new(0));
    let counted = lines.clone();
    let reader_gone = shutdown.clone();
    std::thread::Builder::new().name("demo-receiver".into()).spawn(move || {
        for conn in listener.incoming().flatten() {
            let (counted, reader_gone) = (counted.clone(), reader_gone.clone());
            std::thread::spawn(move || {
                let stdout = std::io::stdout();
                for line in BufReader::new(conn).lines().map_while(Result::ok) {
                    counted.fetch_add(1, Ordering::Relaxed);
                    // Nobody reads any more (`rrdpipe --demo | head`): end the demo quietly.
                    if writeln!(stdout.lock(), "received: {line}").is_err() {
                        reader_gone.trigger();
                        return;
                    }
                }
            });
        }
    })?;

    // A free port for the API, so the demo runs beside a netdata on 19999.
    let api_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = std::env::temp_dir().join(format!("rrdpipe-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins.d");
    let conf = dir.join("rrdpipe.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\n    update every = 1\n    history = 3600\n\
             [directories]\n    plugins = {}\n    lib = {}\n\
             [plugins]\n    proc = yes\n\
             [web]\n    bind to = 127.0.0.1:{api_port}\n\
             [backend]\n    enabled = yes\n    type = graphite\n    destination = tcp:127.0.0.1:{port}\n\
             \x20   data source = average\n    prefix = netdata\n    update every = 2\n",
            plugins.display(),
            dir.display()
        ),
    )?;
    let loaded = config::load(&conf).map_err(|e| e.to_string())?;
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "rrdpipe demo: configuration {}:\n{}",
        conf.display(),
        std::fs::read_to_string(&conf)?
    );
    let _ = writeln!(
        stderr,
        "rrdpipe demo: collecting every second, exporting graphite averages every 2 s to the built-in \
         receiver on 127.0.0.1:{port} for {} s (Ctrl-C stops earlier)",
        duration.as_secs()
    );
    let agent = Agent::start(&loaded.config, shutdown.clone())?;
    if let Some(addr) = agent.stream.as_ref().and_then(|s| s.local_addrs().first()) {
        let _ = writeln!(
            stderr,
            "rrdpipe demo: the status page is at http://{addr}/ and the HTTP API on {addr}; try: \
             curl http://{addr}/api/v1/info (or /api/v1/allmetrics?format=prometheus)"
        );
    }
    shutdown.wait_timeout(duration);
    let stats = agent.exporters[0].1.stats.clone();
    agent.stop();
    std::thread::sleep(Duration::from_millis(300));
    let _ = std::fs::remove_dir_all(&dir);
    let t = stats.totals();
    let _ = writeln!(
        stderr,
        "rrdpipe demo: the exporter formatted {} metrics and delivered {} ({} bytes); the receiver printed {} lines; \
         lost {}",
        t.formatted_metrics,
        t.sent_metrics,
        t.sent_bytes,
        lines.load(Ordering::Relaxed),
        t.lost_metrics
    );
    Ok(())
}
