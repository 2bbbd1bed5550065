//! Parent mode: netdata agents ("children") stream their charts into this agent's store.
//!
//! A child connects to a `[web] bind to` address, sends one `STREAM` request naming its API key
//! and identity and offering its capabilities, and, once answered with those both sides have,
//! streams plugins.d lines (CHART, DIMENSION, BEGIN, SET, END, VARIABLE), lz4-compressed when
//! they settled on compression. Each child becomes a host of the store; its lines go through the same
//! [`plugins_d::session::Session`](crate::collect::plugins_d::session::Session) as a local
//! plugin's, so a child's charts are stored, and exported, exactly like local ones.
//!
//! * [`request`]: the `STREAM` request parser and netdata's refusals; pure;
//! * [`capabilities`]: what a child offers, what this parent implements, and the reply that
//!   settles on both; pure;
//! * [`compression`]: netdata's lz4 frames, read back into the text they carry;
//! * [`access`]: API keys, machine GUID sections, `allow from` and hostnames; pure;
//! * [`gate`]: connections that have not sent their request yet, bounded so idle ones cannot
//!   keep out real ones (protocol-agnostic: the HTTP API is to share it);
//! * [`throttle`]: the per-address allowance of refusals; pure;
//! * [`registry`]: one live connection per machine GUID and hostname, at most `max children`;
//! * [`receiver`]: one child's read loop, from its socket into its session;
//! * [`replication`]: what to ask a child to replay, and storing what it replays;
//! * [`listener`]: the accepting thread, handshakes, and one thread per child;
//! * [`tls`]: TLS on the listening port: certificate, sniffing, handshakes, plain-or-TLS [`tls::Conn`];
//! * [`fds`]: the open file limit and the descriptors left for connections;
//! * [`machine_guid`]: this agent's persistent machine GUID.

pub mod access;
pub mod capabilities;
pub mod compression;
pub mod fds;
pub mod gate;
pub mod listener;
pub mod machine_guid;
pub mod receiver;
pub mod registry;
pub mod replication;
pub mod request;
pub mod throttle;
pub mod tls;

pub use listener::{start, StreamConfig, StreamHandle};

#[cfg(test)]
mod tests;
