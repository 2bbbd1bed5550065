//! Collectors: the built-in `proc` collector and external plugins speaking netdata's plugins.d protocol.
//!
//! * [`plugins_d`]: external plugins: the protocol parser, per-plugin sessions, the supervisor.

pub mod plugins_d;
