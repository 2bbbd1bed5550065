//! Collectors: the built-in `proc` collector, external plugins speaking netdata's plugins.d
//! protocol, and netdata children streaming the same protocol over TCP.
//!
//! * [`proc`]: the built-in Linux collector of CPU, load, RAM, network, disk and uptime charts;
//! * [`plugins_d`]: external plugins: the protocol parser, per-plugin sessions, the supervisor;
//! * [`stream`]: parent mode: netdata children streaming their charts in over TCP.

pub mod plugins_d;
pub mod proc;
pub mod stream;
