//! The streaming handshake as bytes: the child's `STREAM` request in, the parent's reply out.
//!
//! One job: turn the request a netdata child sends when it connects into a typed
//! [`StreamRequest`], and hold the exact reply strings a child understands. It does no I/O,
//! reads no clock and knows nothing of API keys, hosts or sockets.
//!
//! # The request
//! One line, `STREAM key=…&hostname=…&machine_guid=…&… HTTP/1.1`, then headers, then an empty
//! line. Some values are sent without URL encoding and contain spaces
//! (`NETDATA_CONTAINER_OS_NAME=Debian GNU/Linux`), so the query ends at the **last** ` HTTP/` of
//! the line, not at the first space. The query is split on `&` into `name=value` pairs and each
//! name and value is then URL-decoded (`%XX`, and `+` as a space); splitting before decoding
//! keeps an encoded `%26` inside a value. Empty values count as absent. ASCII control
//! characters in decoded values become `_`, so a hostname cannot break a log line.
//!
//! # The reply
//! Raw bytes, written once, with no status line, headers or newline: the child compares them
//! exactly. A child that offers capability negotiation (`VCAPS`) and replication is accepted
//! with `Hit me baby, push them over with the version=N`, `N` the capability bits answered
//! ([`answered_capabilities`], [`accept_reply`]); any other with [`REPLY_V1`] (the plugins.d
//! text protocol, no compression, no replication, no labels).

use std::fmt;

/// Accepts the child at protocol version 1.
pub const REPLY_V1: &[u8] = b"Hit me baby, push them over...";
/// Refuses the child; it retries in 60 s. Sent for a wrong key and for a full parent.
pub const REPLY_NOT_PERMITTED: &[u8] = b"You are not permitted to access this. Check the logs for more info.";
/// Refuses a second connection of the same machine; the child retries in 120 s.
pub const REPLY_ALREADY_STREAMING: &[u8] = b"This GUID is already streaming to this server";
/// Refuses a child that is this agent itself; the child retries in an hour.
pub const REPLY_SAME_LOCALHOST: &[u8] = b"Don't hit me baby, you are trying to stream my localhost back";

/// Capability bit: the child negotiates capabilities as a bit mask (netdata's `STREAM_CAP_VCAPS`).
pub const CAP_VCAPS: u64 = 1 << 6;
/// Capability bit: replication (netdata's `STREAM_CAP_REPLICATION`).
pub const CAP_REPLICATION: u64 = 1 << 12;

/// The capability bits to answer a child that offered `offered` (its `ver`): `VCAPS` and
/// `REPLICATION` when `replication` is on and the child offers both, so that it reads the
/// answer as a bit mask and keeps only those; 0 (plain version 1) otherwise. The child needs
/// nothing else for replication.
pub fn answered_capabilities(offered: Option<u64>, replication: bool) -> u64 {
    let wanted = CAP_VCAPS | CAP_REPLICATION;
    match offered {
        Some(ver) if replication && ver & wanted == wanted => wanted,
        _ => 0,
    }
}

/// The reply accepting a child with capabilities `caps` (0: [`REPLY_V1`]).
pub fn accept_reply(caps: u64) -> Vec<u8> {
    if caps == 0 {
        REPLY_V1.to_vec()
    } else {
        format!("Hit me baby, push them over with the version={caps}").into_bytes()
    }
}

/// The longest request accepted, headers included. netdata's is about 2 KiB.
pub const MAX_REQUEST: usize = 16 * 1024;

/// What a child announced when it connected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamRequest {
    /// `key`: the API key (a UUID).
    pub key: String,
    /// `hostname`: the child's hostname.
    pub hostname: String,
    /// `machine_guid`: the child's machine GUID (a UUID).
    pub machine_guid: String,
    /// `update_every`: the child's default collection interval (1 when absent or not a number).
    pub update_every: u32,
    /// `os`: the child's operating system, as announced.
    pub os: String,
    /// `tags`: the child's host tags, as announced.
    pub tags: String,
    /// `ver`: the capabilities the child offers; `None` from a child that does not say.
    pub capabilities: Option<u64>,
}

/// Why a request was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The first line does not start with `STREAM ` (holds up to 40 bytes of it).
    NotStream(String),
    /// No `key`.
    MissingKey,
    /// `key` is not a UUID.
    BadKey(String),
    /// No `hostname`.
    MissingHostname,
    /// No `machine_guid`.
    MissingMachineGuid,
    /// `machine_guid` is not a UUID.
    BadMachineGuid(String),
    /// More than [`MAX_REQUEST`] bytes without the empty line that ends a request.
    TooLong,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::NotStream(start) => {
                write!(
                    f,
                    "not a streaming request (it starts with {start:?}); only netdata children connect here"
                )
            }
            RequestError::MissingKey => {
                f.write_str("the request has no API key; set 'api key' in the child's stream.conf")
            }
            RequestError::BadKey(k) => {
                write!(f, "API key {k:?} is not a UUID; generate one with uuidgen and use it on both sides")
            }
            RequestError::MissingHostname => f.write_str("the request has no hostname"),
            RequestError::MissingMachineGuid => f.write_str("the request has no machine GUID"),
            RequestError::BadMachineGuid(g) => write!(f, "machine GUID {g:?} is not a UUID"),
            RequestError::TooLong => write!(f, "the request is longer than {MAX_REQUEST} bytes"),
        }
    }
}

impl std::error::Error for RequestError {}

/// The length of the request at the start of `buf`, through the empty line that ends it
/// (`\r\n\r\n`, or `\n\n`); `None` when it has not all arrived.
pub fn request_len(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        let rest = &buf[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

/// Parse a request (its first line is enough; headers are ignored).
pub fn parse_request(buf: &[u8]) -> Result<StreamRequest, RequestError> {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let mut line = &buf[..line_end];
    if let Some(l) = line.strip_suffix(b"\r") {
        line = l;
    }
    let Some(rest) = line.strip_prefix(b"STREAM ") else {
        let start = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
        return Err(RequestError::NotStream(start));
    };
    let query = match rfind(rest, b" HTTP/") {
        Some(i) => &rest[..i],
        None => rest,
    };
    let query = query.strip_prefix(b"/").unwrap_or(query);
    let query = query.strip_prefix(b"?").unwrap_or(query);

    let mut req = StreamRequest { update_every: 1, ..StreamRequest::default() };
    for pair in query.split(|&b| b == b'&') {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        if value.is_empty() {
            continue;
        }
        let value = decode(value);
        if value.is_empty() {
            continue;
        }
        match decode(name).as_str() {
            "key" => req.key = value,
            "hostname" => req.hostname = value,
            "machine_guid" => req.machine_guid = value,
            "update_every" => {
                req.update_every = value.trim().parse::<u32>().ok().filter(|&n| n > 0).unwrap_or(1)
            }
            "os" => req.os = value,
            "tags" => req.tags = value,
            "ver" => req.capabilities = value.trim().parse::<u64>().ok(),
            _ => {}
        }
    }
    if req.key.is_empty() {
        return Err(RequestError::MissingKey);
    }
    if !is_uuid(&req.key) {
        return Err(RequestError::BadKey(req.key));
    }
    if req.hostname.is_empty() {
        return Err(RequestError::MissingHostname);
    }
    if req.machine_guid.is_empty() {
        return Err(RequestError::MissingMachineGuid);
    }
    if !is_uuid(&req.machine_guid) {
        return Err(RequestError::BadMachineGuid(req.machine_guid));
    }
    Ok(req)
}

/// Whether `s` is a UUID: `8-4-4-4-12` hexadecimal digits.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// URL-decode `s` (`%XX`, `+` as a space; a `%` not followed by two hex digits is kept), then
/// make it UTF-8 (invalid bytes become U+FFFD) with control characters replaced by `_`.
fn decode(s: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).chars().map(|c| if c.is_control() { '_' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "11111111-2222-3333-4444-555555555555";
    const GUID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    /// A request as netdata 1.37.1 sends it (one line up to ` HTTP/1.1`), shortened.
    fn netdata_request() -> Vec<u8> {
        format!(
            "STREAM key={KEY}&hostname=CHILD&registry_hostname=CHILD&machine_guid={GUID}\
             &update_every=1&os=linux&timezone=Etc/UTC&abbrev_timezone=UTC&utc_offset=0&hops=1\
             &ml_capable=0&ml_enabled=0&mc_version=1&tags=&ver=15352\
             &NETDATA_INSTANCE_CLOUD_TYPE=unknown&NETDATA_CONTAINER_OS_NAME=Debian GNU/Linux\
             &NETDATA_SYSTEM_KERNEL_VERSION=6.1.0-18-amd64&NETDATA_PROTOCOL_VERSION=1.1 HTTP/1.1\r\n\
             User-Agent: netdata/v1.37.1\r\nAccept: */*\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_netdata_request_with_unencoded_spaces_parses() {
        let r = netdata_request();
        assert_eq!(request_len(&r), Some(r.len()));
        assert_eq!(
            parse_request(&r),
            Ok(StreamRequest {
                key: KEY.into(),
                hostname: "CHILD".into(),
                machine_guid: GUID.into(),
                update_every: 1,
                os: "linux".into(),
                tags: String::new(),
                capabilities: Some(15352),
            })
        );
    }

    /// The request of a real netdata 1.37.1 child, as captured for the replay benchmark.
    #[test]
    fn the_captured_request_of_a_real_child_parses() {
        let capture = include_bytes!("../../../tests/fixtures/stream/child.txt");
        let len = request_len(capture).expect("the capture starts with the request");
        assert!(capture[..len].windows(26).any(|w| w == b"OS_NAME=Debian GNU/Linux&N"), "unencoded spaces");
        assert_eq!(
            parse_request(&capture[..len]),
            Ok(StreamRequest {
                key: KEY.into(),
                hostname: "CHILD".into(),
                machine_guid: "7022436a-e979-11f1-b6a4-02fc00000001".into(),
                update_every: 1,
                os: "linux".into(),
                tags: String::new(),
                capabilities: Some(15352),
            })
        );
        assert!(capture[len..].starts_with(b"CHART \"system.ip\" "));
    }

    #[test]
    fn the_query_ends_at_the_last_http_marker() {
        // A value holding " HTTP/" itself must not cut the query short.
        let r = format!(
            "STREAM key={KEY}&tags=a HTTP/ b c&hostname=my host&machine_guid={GUID} HTTP/1.1\r\n\r\n"
        );
        let req = parse_request(r.as_bytes()).unwrap();
        assert_eq!((req.tags.as_str(), req.hostname.as_str()), ("a HTTP/ b c", "my host"));
        // No HTTP marker at all: the whole line is the query.
        let r = format!("STREAM key={KEY}&hostname=h&machine_guid={GUID}&os=plan 9\n\n");
        assert_eq!(parse_request(r.as_bytes()).unwrap().os, "plan 9");
    }

    #[test]
    fn values_are_decoded_after_splitting() {
        let r = format!(
            "STREAM key={KEY}&hostname=a%26b+c%2&machine_guid={GUID}&update_every=5&os=%4c%69nux&tags=x%0Ay%zz HTTP/1.1\r\n\r\n"
        );
        let req = parse_request(r.as_bytes()).unwrap();
        assert_eq!(req.hostname, "a&b c%2");
        assert_eq!(req.update_every, 5);
        assert_eq!(req.os, "Linux");
        assert_eq!(req.tags, "x_y%zz", "a newline in a value must not reach a log line");
    }

    #[test]
    fn empty_values_count_as_absent_and_later_values_win() {
        let r = format!(
            "STREAM key=&key={KEY}&hostname=first&hostname=second&machine_guid={GUID}&update_every=0&ver=x HTTP/1.1\r\n\r\n"
        );
        let req = parse_request(r.as_bytes()).unwrap();
        assert_eq!((req.key.as_str(), req.hostname.as_str()), (KEY, "second"));
        assert_eq!(req.update_every, 1, "0 is not an interval");
        assert_eq!(req.capabilities, None);
    }

    #[test]
    fn missing_or_malformed_identities_are_refused() {
        let r = |q: &str| parse_request(format!("STREAM {q} HTTP/1.1\r\n\r\n").as_bytes());
        assert_eq!(r(&format!("hostname=h&machine_guid={GUID}")), Err(RequestError::MissingKey));
        assert_eq!(
            r(&format!("key=secret&hostname=h&machine_guid={GUID}")),
            Err(RequestError::BadKey("secret".into()))
        );
        assert_eq!(r(&format!("key={KEY}&machine_guid={GUID}")), Err(RequestError::MissingHostname));
        assert_eq!(r(&format!("key={KEY}&hostname=h")), Err(RequestError::MissingMachineGuid));
        assert_eq!(
            r(&format!("key={KEY}&hostname=h&machine_guid=1234")),
            Err(RequestError::BadMachineGuid("1234".into()))
        );
        assert_eq!(
            parse_request(b"GET /api/v1/info HTTP/1.1\r\n\r\n"),
            Err(RequestError::NotStream("GET /api/v1/info HTTP/1.1".into()))
        );
    }

    #[test]
    fn a_leading_slash_and_question_mark_are_accepted() {
        let r = format!("STREAM /?key={KEY}&hostname=h&machine_guid={GUID} HTTP/1.1\r\n\r\n");
        assert_eq!(parse_request(r.as_bytes()).unwrap().key, KEY);
    }

    #[test]
    fn request_len_waits_for_the_empty_line() {
        assert_eq!(request_len(b"STREAM key=x HTTP/1.1\r\nUser-Agent: n\r\n"), None);
        assert_eq!(request_len(b"STREAM key=x HTTP/1.1\r\n\r\nCHART"), Some(25));
        assert_eq!(request_len(b"STREAM x\n\nrest"), Some(10));
        assert_eq!(request_len(b""), None);
    }

    #[test]
    fn replication_is_answered_as_a_bit_mask_only_to_children_that_offer_it() {
        // netdata 1.37.1 offers 16376, or 15352 with `enable compression = no`.
        assert_eq!(answered_capabilities(Some(16376), true), 4160);
        assert_eq!(answered_capabilities(Some(15352), true), 4160);
        assert_eq!(accept_reply(4160), b"Hit me baby, push them over with the version=4160");
        assert_eq!(answered_capabilities(Some(15352), false), 0);
        assert_eq!(answered_capabilities(Some(15352 & !4096), true), 0, "no replication offered");
        assert_eq!(answered_capabilities(Some(4096), true), 0, "no capability negotiation");
        assert_eq!(answered_capabilities(None, true), 0);
        assert_eq!(accept_reply(0), REPLY_V1);
    }

    #[test]
    fn uuids_are_checked_by_shape() {
        assert!(is_uuid(KEY) && is_uuid("ABCDEF01-2345-6789-abcd-ef0123456789"));
        for bad in ["", "1111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-55555555555g", "x"] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }
}
