//! Configuration: netdata.conf-style files, parsed into typed settings.
