//! The stream of a real netdata 1.37 child, as captured in `tests/fixtures/stream/child.txt`:
//! its handshake request with the fields a test changes, and the data that follows it.

/// rrdpipe's answer to the captured request: it offers capabilities as bits (`ver=15352`: the
/// child had `enable compression = no`), and gets host and chart labels.
pub const CAPTURED_ACCEPTED: &[u8] = b"Hit me baby, push them over with the version=4800";

/// The captured handshake (request line and headers, through the blank line) with each query
/// field named in `set` given the value there, and the stream data after it.
pub fn captured_child(set: &[(&str, &str)]) -> (String, Vec<u8>) {
    let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stream/child.txt"))
        .expect("read the captured child stream");
    let end = data.windows(4).position(|w| w == b"\r\n\r\n").expect("request in the fixture") + 4;
    let request = String::from_utf8(data[..end].to_vec()).expect("the handshake is UTF-8");
    let request = request
        .split('&')
        .map(|kv| match kv.split_once('=').and_then(|(k, _)| set.iter().find(|(name, _)| *name == k)) {
            Some((name, value)) => format!("{name}={value}"),
            None => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    (request, data[end..].to_vec())
}
