//! Hosts and the database of hosts: who owns which charts.
//!
//! One job: find or create charts by id under a host, and hand readers a snapshot of the chart
//! list so that a long export walk never holds a lock that a collector needs.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::chart::{Chart, ChartDef};

/// Identity of a host, as a child announces it (or as configured for the local host).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostInfo {
    /// Hostname as exported.
    pub hostname: String,
    /// Machine GUID (empty for the local host unless known).
    pub machine_guid: String,
    /// Default collection interval of the host.
    pub update_every: u32,
    /// Operating system, as announced.
    pub os: String,
    /// Free-form tags, as announced.
    pub tags: String,
}

/// A host: its identity and its charts.
#[derive(Debug)]
pub struct Host {
    info: RwLock<HostInfo>,
    history: usize,
    charts: RwLock<Charts>,
}

#[derive(Debug, Default)]
struct Charts {
    list: Vec<Arc<Chart>>,
    by_id: HashMap<Box<str>, Arc<Chart>>,
}

impl Host {
    /// A host whose charts keep `history` slots per dimension.
    pub fn new(info: HostInfo, history: usize) -> Host {
        Host { info: RwLock::new(info), history, charts: RwLock::new(Charts::default()) }
    }

    /// Hostname.
    pub fn hostname(&self) -> String {
        self.info.read().hostname.clone()
    }

    /// A copy of the host's identity.
    pub fn info(&self) -> HostInfo {
        self.info.read().clone()
    }

    /// Replace the host's identity (a child reconnecting with new details).
    pub fn set_info(&self, info: HostInfo) {
        *self.info.write() = info;
    }

    /// Slots per dimension for this host's charts.
    pub fn history(&self) -> usize {
        self.history
    }

    /// The chart with this id.
    pub fn chart(&self, id: &str) -> Option<Arc<Chart>> {
        self.charts.read().by_id.get(id).cloned()
    }

    /// Create the chart, or redefine it when it exists. Returns it and whether it is new.
    pub fn define_chart(&self, def: &ChartDef) -> (Arc<Chart>, bool) {
        if let Some(c) = self.chart(&def.id) {
            c.redefine(def);
            return (c, false);
        }
        let mut charts = self.charts.write();
        if let Some(c) = charts.by_id.get(def.id.as_str()) {
            let c = c.clone();
            drop(charts);
            c.redefine(def);
            return (c, false);
        }
        let chart = Arc::new(Chart::new(def, self.history));
        charts.list.push(chart.clone());
        charts.by_id.insert(def.id.clone().into(), chart.clone());
        (chart, true)
    }

    /// A snapshot of the chart list, in creation order.
    pub fn charts(&self) -> Vec<Arc<Chart>> {
        self.charts.read().list.clone()
    }

    /// Number of charts.
    pub fn chart_count(&self) -> usize {
        self.charts.read().list.len()
    }
}

/// The database: every host, the local one first.
#[derive(Debug)]
pub struct Db {
    hosts: RwLock<Vec<Arc<Host>>>,
    history: usize,
}

impl Db {
    /// A database whose local host is `localhost`; charts keep `history` slots.
    pub fn new(localhost: HostInfo, history: usize) -> Db {
        Db { hosts: RwLock::new(vec![Arc::new(Host::new(localhost, history))]), history }
    }

    /// The local host.
    pub fn localhost(&self) -> Arc<Host> {
        self.hosts.read()[0].clone()
    }

    /// Every host, the local one first.
    pub fn hosts(&self) -> Vec<Arc<Host>> {
        self.hosts.read().clone()
    }

    /// Find a host by machine GUID, or create it. Returns it and whether it is new.
    pub fn host_by_guid(&self, info: HostInfo) -> (Arc<Host>, bool) {
        let mut hosts = self.hosts.write();
        if let Some(h) = hosts.iter().skip(1).find(|h| h.info.read().machine_guid == info.machine_guid) {
            h.set_info(info);
            return (h.clone(), false);
        }
        let h = Arc::new(Host::new(info, self.history));
        hosts.push(h.clone());
        (h, true)
    }

    /// Whether `host` is the local host.
    pub fn is_localhost(&self, host: &Arc<Host>) -> bool {
        Arc::ptr_eq(&self.hosts.read()[0], host)
    }
}
