//! The built-in `proc` collector (Linux): CPU, load, RAM, network interfaces, disks and uptime,
//! read from `/proc` and charted with netdata 1.37's chart ids, dimensions and units.
//!
//! * [`parse`]: pure parsers of the files' text;
//! * [`charts`]: the chart and dimension definitions;
//! * [`devices`]: which interfaces and disks get charts, and disk names.

pub mod charts;
pub mod devices;
pub mod parse;
