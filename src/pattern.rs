//! netdata's simple patterns: the `send charts matching` / `send hosts matching` filters, and
//! the `allow from` lists of peer addresses.
//!
//! Space-separated globs where `*` matches any run of characters; a leading `!` negates. The
//! first glob that matches decides; no match means "no". Pure.
//!
//! An address is matched as text, and an IPv4 address that reaches a dual-stack (`[::]`) socket
//! as `::ffff:a.b.c.d` is matched as `a.b.c.d`: `!127.0.0.1 *` shuts out 127.0.0.1 whichever
//! socket it came through.

use std::net::IpAddr;

/// A compiled simple pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimplePattern {
    globs: Vec<(bool, Vec<Box<str>>)>,
    /// The first glob is a plain `*`: everything matches, without reading the string (the
    /// default `send charts matching = *` is asked once per chart on every export walk).
    accepts_all: bool,
}

impl SimplePattern {
    /// Compile a pattern list.
    pub fn new(s: &str) -> SimplePattern {
        let globs: Vec<(bool, Vec<Box<str>>)> = s
            .split_whitespace()
            .map(|w| {
                let (neg, g) = match w.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, w),
                };
                (neg, g.split('*').map(Into::into).collect())
            })
            .collect();
        let accepts_all = matches!(globs.first(), Some((false, parts)) if parts.iter().all(|p| p.is_empty()));
        SimplePattern { globs, accepts_all }
    }

    /// `Some(true)` accepted, `Some(false)` rejected by a negative glob, `None` no glob matched.
    pub fn decide(&self, s: &str) -> Option<bool> {
        if self.accepts_all {
            return Some(true);
        }
        self.globs.iter().find(|(_, parts)| glob_match(parts, s)).map(|(neg, _)| !neg)
    }

    /// Whether `s` is accepted.
    pub fn matches(&self, s: &str) -> bool {
        self.decide(s).unwrap_or(false)
    }

    /// netdata's rule for charts and hosts: the first candidate the pattern decides on wins;
    /// accepted when it accepts the id **or** the name.
    pub fn matches_any(&self, candidates: &[&str]) -> bool {
        candidates.iter().any(|c| self.matches(c))
    }

    /// Whether the peer address `ip` is accepted, an IPv4-mapped IPv6 address being matched as
    /// the IPv4 address it carries.
    pub fn matches_address(&self, ip: IpAddr) -> bool {
        self.matches(&ip.to_canonical().to_string())
    }
}

/// Match `s` against a glob split at `*`.
pub(crate) fn glob_match<P: AsRef<str>>(parts: &[P], s: &str) -> bool {
    if parts.len() == 1 {
        return parts[0].as_ref() == s;
    }
    let first = parts[0].as_ref();
    let last = parts[parts.len() - 1].as_ref();
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        let mid = mid.as_ref();
        if mid.is_empty() {
            continue;
        }
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_everything() {
        let p = SimplePattern::new("*");
        assert!(p.matches(""));
        assert!(p.matches("system.cpu"));
    }

    /// A leading `*` (or `**`) decides for everything; a negated one rejects everything.
    #[test]
    fn leading_star_decides_for_everything() {
        for p in ["*", "** !system.cpu", "* system.*"] {
            let p = SimplePattern::new(p);
            assert_eq!((p.decide("system.cpu"), p.decide("")), (Some(true), Some(true)));
        }
        let p = SimplePattern::new("!* system.cpu");
        assert_eq!(p.decide("system.cpu"), Some(false));
        let p = SimplePattern::new("system.* *");
        assert_eq!((p.decide("system.cpu"), p.decide("net.eth0")), (Some(true), Some(true)));
    }

    #[test]
    fn globs_prefix_suffix_infix() {
        let p = SimplePattern::new("system.* *.eth0 a*b*c");
        assert!(p.matches("system.cpu"));
        assert!(p.matches("net.eth0"));
        assert!(p.matches("abc"));
        assert!(p.matches("axxbyyc"));
        assert!(!p.matches("net.eth1"));
        assert!(!p.matches("acb"));
        assert!(!p.matches("ab"));
    }

    #[test]
    fn first_match_decides_and_negation_rejects() {
        let p = SimplePattern::new("!*.idle system.* !system.cpu");
        assert!(!p.matches("system.idle"));
        assert!(p.matches("system.cpu"), "system.* comes first");
        let p = SimplePattern::new("!system.cpu system.*");
        assert!(!p.matches("system.cpu"));
        assert!(p.matches("system.load"));
        assert_eq!(p.decide("disk.sda"), None);
        assert!(!p.matches("disk.sda"), "no match means no");
    }

    #[test]
    fn default_hosts_pattern() {
        let p = SimplePattern::new("localhost *");
        assert!(p.matches("localhost"));
        assert!(p.matches("child1"));
        let p = SimplePattern::new("localhost");
        assert!(!p.matches("child1"));
    }

    #[test]
    fn id_or_name() {
        let p = SimplePattern::new("probe.my_name");
        assert!(p.matches_any(&["probe.x", "probe.my_name"]));
        assert!(!p.matches_any(&["probe.x", "probe.y"]));
    }

    #[test]
    fn ipv4_mapped_addresses_match_as_ipv4() {
        let p = SimplePattern::new("!127.0.0.1 !::1 *");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(!p.matches_address(mapped), "a dual-stack socket must not bypass !127.0.0.1");
        assert!(!p.matches_address("127.0.0.1".parse().unwrap()));
        assert!(!p.matches_address("::1".parse().unwrap()));
        assert!(p.matches_address("::ffff:10.0.0.7".parse().unwrap()));
        let p = SimplePattern::new("10.* !*");
        assert!(p.matches_address("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!p.matches_address("::ffff:192.168.1.1".parse().unwrap()));
        // A plain IPv6 address stays IPv6, including the IPv4-compatible form.
        assert!(!p.matches_address("::10.1.2.3".parse().unwrap()));
        assert!(SimplePattern::new("fe80::*").matches_address("fe80::1".parse().unwrap()));
    }

    #[test]
    fn empty_pattern_matches_nothing() {
        let p = SimplePattern::new("");
        assert!(!p.matches("a"));
        assert!(!p.matches(""));
    }
}
