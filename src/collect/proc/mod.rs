//! The built-in `proc` collector (Linux): CPU, load, RAM, network interfaces, disks and uptime,
//! read from `/proc` and charted with netdata 1.37's chart ids, dimensions and units.
//!
//! * [`parse`]: pure parsers of the files' text.

pub mod parse;
