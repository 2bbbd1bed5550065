//! Collectors: the built-in `proc` collector and external plugins speaking netdata's plugins.d protocol.
//!
//! * [`proc`]: the built-in Linux collector of CPU, load, RAM, network, disk and uptime charts;
//! * [`plugins_d`]: external plugins: the protocol parser, per-plugin sessions, the supervisor.

pub mod plugins_d;
pub mod proc;
