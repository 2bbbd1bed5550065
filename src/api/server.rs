//! Connections, HTTP/1.1, limits, CORS and compression for the API.
