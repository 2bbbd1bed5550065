//! The agent: builds the store, starts collectors and exporters, and stops them on shutdown.
