//! Sanitizing and escaping untrusted names for each output format.
//!
//! Chart, dimension, family and label names come from plugins and may hold any text. These
//! rules make sure no name can break a line, add a field, or forge a tag, whatever it contains.
//! This module only transforms strings; it knows nothing of metrics or formats' layouts.
//!
//! # Graphite and OpenTSDB (paths, metric names, tag keys and tag values)
//! Every byte outside `[A-Za-z0-9._-]` becomes `_`; a non-ASCII character (several UTF-8 bytes)
//! becomes a single `_`. So spaces, `;`, `,`, `=`, quotes, `/`, `\`, control characters and
//! non-ASCII letters all turn into `_`, and dots are kept (they separate Graphite path levels:
//! a chart id `system.cpu` stays two levels). Nothing is removed, so a non-empty name stays
//! non-empty; the output has as many characters as the input.
//!
//! A hostname is one Graphite path level (`PREFIX.HOSTNAME.CHART.DIM`): there its dots become
//! `_` too ([`write_path_level`]), so a host named `evil.system.load` cannot add levels and pass
//! for another host's chart, as in netdata. OpenTSDB's `host` tag keeps its dots: a tag value
//! is no path.
//!
//! # JSON strings
//! `"` becomes `\"`, `\` becomes `\\`, newline, carriage return, tab, backspace and form feed
//! become `\n`, `\r`, `\t`, `\b`, `\f`, and every other character below U+0020 becomes
//! `\u00XX` (lowercase hex). Everything else, including non-ASCII UTF-8, is copied unchanged.
//!
//! # Prometheus remote write
//! Metric names keep `[A-Za-z0-9_:]` and label names keep `[A-Za-z0-9_]`; every other character
//! (one `_` per non-ASCII character) becomes `_`, and a name starting with a digit gets a
//! leading `_`, so the results match `[a-zA-Z_:][a-zA-Z0-9_:]*` and `[a-zA-Z_][a-zA-Z0-9_]*`.
//! Label values are sent as they are (protobuf strings carry any UTF-8).

/// Bytes kept as they are in Graphite/OpenTSDB names: `[A-Za-z0-9._-]`.
const PATH_SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-';
        b += 1;
    }
    t
};

use super::append::Appender;

/// [`PATH_SAFE`] as a mapping: a safe byte to itself, any other to `_`.
pub(crate) const PATH_MAP: [u8; 256] = {
    let mut t = [b'_'; 256];
    let mut b = 0;
    while b < 256 {
        if PATH_SAFE[b] {
            t[b] = b as u8;
        }
        b += 1;
    }
    t
};

/// [`PATH_MAP`] for one path level: `.` becomes `_` as well.
const LEVEL_MAP: [u8; 256] = {
    let mut t = PATH_MAP;
    t[b'.' as usize] = b'_';
    t
};

/// Whether `b` starts a character in UTF-8 (it is not a continuation byte `10xxxxxx`).
#[inline]
fn starts_char(b: u8) -> bool {
    b & 0xC0 != 0x80
}

/// Appends `s` to `out` with every character outside `[A-Za-z0-9._-]` replaced by one `_`.
///
/// Used for Graphite paths and tags and for OpenTSDB metric names and tags. ASCII names (all but
/// exotic ones) are mapped byte for byte in one pass with no call; others copy runs of safe
/// bytes. Allocates only if `out` must grow.
#[inline]
pub fn write_path(out: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| PATH_MAP[b as usize]));
        return;
    }
    write_path_utf8(out, s);
}

/// Appends `s` to `out` as a single Graphite path level: as [`write_path`], and `.` becomes
/// `_` too. For the hostname, which must stay one level whatever it holds.
pub fn write_path_level(out: &mut Vec<u8>, s: &str) {
    let start = out.len();
    write_path(out, s);
    for b in &mut out[start..] {
        *b = LEVEL_MAP[*b as usize];
    }
}

/// [`write_path`] through an [`Appender`].
#[inline(always)]
pub(crate) fn append_path(a: &mut Appender<'_>, s: &str) {
    if s.is_ascii() {
        a.mapped(s.as_bytes(), &PATH_MAP);
    } else {
        a.with_vec(|out| write_path_utf8(out, s));
    }
}

/// [`write_json_str`] through an [`Appender`].
#[inline]
pub(crate) fn append_json_str(a: &mut Appender<'_>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        a.bytes(s.as_bytes());
    } else {
        a.with_vec(|out| write_json_str(out, s));
    }
}

/// [`write_path`] for names with non-ASCII characters: one `_` per character.
fn write_path_utf8(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if PATH_SAFE[b as usize] {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if starts_char(b) {
            out.push(b'_');
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether `a` and `b` are the same once sanitized by [`write_path`], without allocating.
pub fn path_eq(a: &str, b: &str) -> bool {
    let map = |c: char| {
        if c.is_ascii() && PATH_SAFE[c as usize] {
            c
        } else {
            '_'
        }
    };
    a.chars().map(map).eq(b.chars().map(map))
}

/// Whether `a` and `b`, each a prefix and a name, are the same once joined and sanitized by
/// [`write_path`], without allocating.
pub fn path_eq_prefixed(a: (&str, &str), b: (&str, &str)) -> bool {
    let map = |c: char| {
        if c.is_ascii() && PATH_SAFE[c as usize] {
            c
        } else {
            '_'
        }
    };
    a.0.chars().chain(a.1.chars()).map(map).eq(b.0.chars().chain(b.1.chars()).map(map))
}

/// Appends `s` to `out` escaped as the inside of a JSON string (no quotes added).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0x00..=0x1F => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xF) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` to `out` as a Prometheus name: characters outside `[A-Za-z0-9_]` (and `:` when
/// `colon` is set) become one `_` each. Does not handle a leading digit; see
/// [`prometheus_metric_name`] and [`prometheus_label_name`].
pub fn push_prometheus(out: &mut String, s: &str, colon: bool) {
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':') {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

/// Makes `name` start with a letter, `_` or `:` by prefixing `_` when it starts with a digit.
fn fix_leading_digit(name: &mut String) {
    if name.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        name.insert(0, '_');
    }
}

/// `s` as a Prometheus metric name, matching `[a-zA-Z_:][a-zA-Z0-9_:]*` (empty stays empty).
pub fn prometheus_metric_name(s: &str) -> String {
    let mut name = String::with_capacity(s.len() + 1);
    push_prometheus(&mut name, s, true);
    fix_leading_digit(&mut name);
    name
}

/// `s` as a Prometheus label name, matching `[a-zA-Z_][a-zA-Z0-9_]*` (empty stays empty).
pub fn prometheus_label_name(s: &str) -> String {
    let mut name = String::with_capacity(s.len() + 1);
    push_prometheus(&mut name, s, false);
    fix_leading_digit(&mut name);
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn path(s: &str) -> String {
        let mut out = Vec::new();
        write_path(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        write_json_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn path_keeps_safe_bytes() {
        assert_eq!(path("system.cpu"), "system.cpu");
        assert_eq!(path("eth0-rx_bytes.A9"), "eth0-rx_bytes.A9");
        assert_eq!(path(""), "");
    }

    #[test]
    fn path_replaces_each_unsafe_character_with_one_underscore() {
        assert_eq!(path("a b;c,d=e\"f'g/h\\i"), "a_b_c_d_e_f_g_h_i");
        assert_eq!(path("x\ny\rz\t\0"), "x_y_z__");
        assert_eq!(path("température"), "temp_rature");
        assert_eq!(path("日本"), "__");
        assert_eq!(path("🦀!"), "__");
    }

    #[test]
    fn a_path_level_has_no_dots() {
        let level = |s: &str| {
            let mut out = Vec::new();
            write_path_level(&mut out, s);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(level("evil.system.load"), "evil_system_load");
        assert_eq!(level("web-1.example.com"), "web-1_example_com");
        assert_eq!(level("h\u{e9}te .x"), "h_te__x");
        assert_eq!(level("plain_host-1"), "plain_host-1");
        assert_eq!(level(""), "");
    }

    #[test]
    fn json_escapes_quotes_backslashes_and_controls() {
        assert_eq!(json(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(json("\n\r\t\u{8}\u{c}"), r"\n\r\t\b\f");
        assert_eq!(json("\0\u{1}\u{1f}"), r"\u0000\u0001\u001f");
        assert_eq!(json("é日🦀\u{7f}"), "é日🦀\u{7f}");
        assert_eq!(json("plain"), "plain");
    }

    #[test]
    fn prometheus_names() {
        assert_eq!(prometheus_metric_name("netdata_system.cpu:x"), "netdata_system_cpu:x");
        assert_eq!(prometheus_metric_name("1st é"), "_1st__");
        assert_eq!(prometheus_label_name("a:b-c"), "a_b_c");
        assert_eq!(prometheus_label_name("9"), "_9");
        assert_eq!(prometheus_label_name(""), "");
    }

    proptest! {
        #[test]
        fn path_output_is_safe_and_one_byte_per_char(s in any::<String>()) {
            let p = path(&s);
            prop_assert_eq!(p.len(), s.chars().count());
            prop_assert!(p.bytes().all(|b| PATH_SAFE[b as usize]));
        }

        #[test]
        fn path_eq_matches_sanitized_equality(a in "[a-c _.é]{0,4}", b in "[a-c _.é]{0,4}") {
            prop_assert_eq!(path_eq(&a, &b), path(&a) == path(&b));
        }

        #[test]
        fn json_string_round_trips(s in any::<String>()) {
            let quoted = format!("\"{}\"", json(&s));
            let back: String = serde_json::from_str(&quoted).unwrap();
            prop_assert_eq!(back, s);
        }

        #[test]
        fn prometheus_names_match_their_patterns(s in any::<String>()) {
            let m = prometheus_metric_name(&s);
            let l = prometheus_label_name(&s);
            if !s.is_empty() {
                prop_assert!(m.as_bytes()[0].is_ascii_alphabetic() || m.starts_with(['_', ':']));
                prop_assert!(l.as_bytes()[0].is_ascii_alphabetic() || l.starts_with('_'));
            }
            prop_assert!(m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'));
            prop_assert!(l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        }
    }
}
