//! The round-robin store: hosts → charts → dimensions, at per-slot resolution.
//!
//! Collectors write collections into it; exporters read completed slots out of it. It knows
//! nothing about where values come from or where they go.
//!
//! * [`storage_number`]: the 32-bit packed value format;
//! * [`codec`]: one dimension's slots of a block, encoded losslessly in few bytes;
//! * [`chart`]: a chart's definition, dimensions and algorithms;
//! * [`ring`]: a chart's slots, the completed blocks compressed;
//! * [`host`]: hosts and the database of hosts, and when an orphan host may be removed;
//! * [`labels`]: the labels of a host or a chart, cleaned and capped;
//! * [`cleanup`]: the thread that removes orphan hosts and gives their memory back.

pub mod chart;
pub mod cleanup;
pub mod codec;
pub mod host;
pub mod labels;
pub mod ring;
pub mod storage_number;

pub use chart::{
    Algorithm, Chart, ChartData, ChartDef, ChartMeta, ChartType, CollectError, DimNames, Dimension,
    DimensionDef, Late,
};
pub use host::{Attachment, Db, Feed, Host, HostInfo, Orphan};
pub use labels::{LabelFilter, Labels};

#[cfg(test)]
mod ring_tests;
#[cfg(test)]
mod tests;
