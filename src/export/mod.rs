//! Exporting: turns completed slots of the store into lines and request bodies for the backends.

pub mod format;
