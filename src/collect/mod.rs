//! Collectors: the built-in `proc` collector and external plugins speaking netdata's plugins.d protocol.
