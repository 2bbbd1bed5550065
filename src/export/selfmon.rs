//! Self-monitoring: an exporter's counters written back into the store as `netdata.*` charts.
//!
//! One job: turn [`Stats`] into chart collections on the local host, so the agent's own health is
//! stored and exported like any other chart. The legacy `[backend]` uses netdata's
//! `netdata.backend_*` ids; an exporting instance `NAME` uses `netdata.exporting_NAME_*`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::stats::Stats;
use crate::rrd::{Algorithm, Chart, ChartDef, ChartType, DimensionDef, Host};

/// The four self-monitoring charts of one exporter.
#[derive(Debug)]
pub struct ExporterCharts {
    metrics: Arc<Chart>,
    bytes: Arc<Chart>,
    ops: Arc<Chart>,
    cpu: Arc<Chart>,
}

/// One self-monitoring chart.
struct Spec<'a> {
    suffix: &'a str,
    title: &'a str,
    units: &'a str,
    priority: i64,
    chart_type: ChartType,
    dims: &'a [(&'a str, Algorithm, i64)],
}

fn define(host: &Host, stem: &str, every: u32, spec: Spec) -> Arc<Chart> {
    let mut def = ChartDef::new(&format!("netdata.{stem}_{}", spec.suffix), every);
    def.family = stem.to_string();
    def.title = spec.title.to_string();
    def.units = spec.units.to_string();
    def.priority = spec.priority;
    def.chart_type = spec.chart_type;
    def.plugin = "rrdpipe".to_string();
    let (chart, _) = host.define_chart(&def);
    for (dim, algo, divisor) in spec.dims {
        chart.add_dimension(&DimensionDef::new(dim, *algo).scaled(1, *divisor));
    }
    chart
}

impl ExporterCharts {
    /// Define the charts on `host` (the local host). `legacy` selects netdata's `backend_*` ids.
    pub fn new(host: &Host, name: &str, legacy: bool, every: u32) -> ExporterCharts {
        let stem = if legacy { "backend".to_string() } else { format!("exporting_{name}") };
        use Algorithm::{Absolute as A, Incremental as I};
        let spec = |suffix, title, units, priority, chart_type, dims| Spec {
            suffix,
            title,
            units,
            priority,
            chart_type,
            dims,
        };
        ExporterCharts {
            metrics: define(
                host,
                &stem,
                every,
                spec(
                    "metrics",
                    "Buffered Metrics",
                    "metrics",
                    130600,
                    ChartType::Line,
                    &[("buffered", A, 1), ("lost", A, 1), ("sent", A, 1), ("replayed", A, 1)],
                ),
            ),
            bytes: define(
                host,
                &stem,
                every,
                spec(
                    "bytes",
                    "Exported Data Size",
                    "KB",
                    130610,
                    ChartType::Area,
                    &[("buffered", A, 1024), ("lost", A, 1024), ("sent", A, 1024), ("received", A, 1024)],
                ),
            ),
            ops: define(
                host,
                &stem,
                every,
                spec(
                    "ops",
                    "Exporting Operations",
                    "operations",
                    130620,
                    ChartType::Line,
                    &[
                        ("write", A, 1),
                        ("discard", A, 1),
                        ("reconnect", A, 1),
                        ("failure", A, 1),
                        ("read", A, 1),
                    ],
                ),
            ),
            cpu: define(
                host,
                &stem,
                every,
                spec(
                    "thread_cpu",
                    "Exporting Thread CPU usage",
                    "milliseconds/s",
                    130630,
                    ChartType::Stacked,
                    &[("user", I, 1000), ("system", I, 1000)],
                ),
            ),
        }
    }

    /// Collect one interval's counters at `now_ut`. The first call only primes the charts, as
    /// for any chart; call it once at start so the first interval is stored.
    pub fn update(&self, stats: &Stats, now_ut: u64) {
        let i = stats.take_interval();
        let g = |a: &std::sync::atomic::AtomicU64| a.load(Relaxed) as i64;
        let _ = self.metrics.collect(
            &[
                (0, g(&stats.buffered_metrics)),
                (1, i.lost_metrics as i64),
                (2, i.sent_metrics as i64),
                (3, i.replayed_metrics as i64),
            ],
            now_ut,
        );
        let _ = self.bytes.collect(
            &[
                (0, g(&stats.buffered_bytes)),
                (1, i.lost_bytes as i64),
                (2, i.sent_bytes as i64),
                (3, i.received_bytes as i64),
            ],
            now_ut,
        );
        let _ = self.ops.collect(
            &[
                (0, i.writes as i64),
                (1, i.discards as i64),
                (2, i.reconnects as i64),
                (3, i.failures as i64),
                (4, i.reads as i64),
            ],
            now_ut,
        );
        let user = g(&stats.formatter_user_us) + g(&stats.sender_user_us);
        let system = g(&stats.formatter_system_us) + g(&stats.sender_system_us);
        let _ = self.cpu.collect(&[(0, user), (1, system)], now_ut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rrd::storage_number::unpack;
    use crate::rrd::{Db, HostInfo};

    #[test]
    fn charts_carry_the_interval_counters() {
        let db = Db::new(HostInfo { hostname: "h".into(), ..Default::default() }, 60);
        let host = db.localhost();
        let charts = ExporterCharts::new(&host, "backend", true, 10);
        let stats = Stats::default();
        charts.update(&stats, 1_000_000_000); // primes at t=1000
        stats.sent_metrics(42);
        stats.sent_bytes(2048);
        stats.failures(1);
        stats.set_buffered(7, 1024);
        charts.update(&stats, 1_010_000_000);
        let m = host.chart("netdata.backend_metrics").unwrap();
        {
            let d = m.read();
            assert_eq!(unpack(d.value_at(0, 1010)), 7.0);
            assert_eq!(unpack(d.value_at(1, 1010)), 0.0);
            assert_eq!(unpack(d.value_at(2, 1010)), 42.0);
        }
        let b = host.chart("netdata.backend_bytes").unwrap();
        assert_eq!(unpack(b.read().value_at(2, 1010)), 2.0, "KB");
        let o = host.chart("netdata.backend_ops").unwrap();
        assert_eq!(unpack(o.read().value_at(3, 1010)), 1.0);
        // The next interval starts from zero again.
        charts.update(&stats, 1_020_000_000);
        assert_eq!(unpack(m.read().value_at(2, 1020)), 0.0);
        assert!(host.chart("netdata.backend_thread_cpu").is_some());
    }

    #[test]
    fn instance_charts_are_named_after_the_instance() {
        let db = Db::new(HostInfo::default(), 60);
        ExporterCharts::new(&db.localhost(), "vm", false, 1);
        for s in ["metrics", "bytes", "ops", "thread_cpu"] {
            assert!(db.localhost().chart(&format!("netdata.exporting_vm_{s}")).is_some(), "{s}");
        }
    }
}
