//! Collectors: the built-in `proc` collector and external plugins speaking netdata's plugins.d protocol.
//!
//! * [`proc`]: the built-in Linux collector of CPU, load, RAM, network, disk and uptime charts.

pub mod proc;
