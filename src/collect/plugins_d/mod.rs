//! External plugins speaking netdata's plugins.d protocol.
//!
//! * [`lines`]: bounded line reading from a pipe, with a timeout to notice shutdown;
//! * [`parser`]: one line of bytes → one [`parser::Command`]; pure, no I/O;
//! * [`session`]: applies commands from one source (a plugin process, later a streaming child)
//!   to one host of the store;
//! * [`supervisor`]: finds `*.plugin` executables, runs them, feeds their output to sessions and
//!   restarts or disables them.

pub mod lines;
pub mod parser;
pub mod session;
pub mod supervisor;
