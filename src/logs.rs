//! What goes into log lines: how often a recurring condition is logged, and text from outside
//! made safe to print.
//!
//! One job: keep the log readable under stress. A condition that persists (a backend down, a
//! listener out of file descriptors, a client guessing keys) is logged once, then summarised at
//! most once per period, and once more when it clears; text that comes from plugins, children or
//! receivers is escaped so that it can never forge or break a log line.

use std::fmt;
use std::time::{Duration, Instant};

/// How often a persisting condition is logged again.
pub const REPEAT_LOG_EVERY: Duration = Duration::from_secs(300);

/// Logs a persisting condition once, then a reminder at most every [`REPEAT_LOG_EVERY`], and
/// once more when it clears.
#[derive(Debug, Default)]
pub struct Persisting {
    since: Option<Instant>,
    last_log: Option<Instant>,
    count: u64,
}

impl Persisting {
    /// Record one occurrence; returns whether to log it.
    pub fn occur(&mut self, now: Instant) -> bool {
        self.count += 1;
        self.since.get_or_insert(now);
        match self.last_log {
            Some(t) if now.duration_since(t) < REPEAT_LOG_EVERY => false,
            _ => {
                self.last_log = Some(now);
                true
            }
        }
    }

    /// Whether it occurred before (so a log line should say that it repeats silently).
    pub fn repeats(&self) -> bool {
        self.count > 1
    }

    /// Clear; returns (occurrences, duration) when something had persisted.
    pub fn clear(&mut self, now: Instant) -> Option<(u64, Duration)> {
        let r = self.since.map(|s| (self.count, now.duration_since(s)));
        *self = Persisting::default();
        r
    }
}

/// The suffix of a log line about a condition that may repeat.
pub fn repeat_note(p: &Persisting) -> &'static str {
    if p.repeats() {
        " (this repeats silently; logged again every 5 minutes)"
    } else {
        ""
    }
}

/// Counts a frequent event and says when to log a summary: the first occurrence at once, then
/// at most one line per `period` carrying how many occurred since the last line.
#[derive(Debug)]
pub struct Tally {
    period: Duration,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl Tally {
    /// A tally that logs at most once per `period`.
    pub fn new(period: Duration) -> Tally {
        Tally { period, last_log: None, unlogged: 0 }
    }

    /// Record one occurrence. Returns `Some(n)` when a line should be logged now, `n` being the
    /// occurrences it covers (this one included); `None` while within the period.
    pub fn occur(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        match self.last_log {
            Some(t) if now.duration_since(t) < self.period => None,
            _ => {
                self.last_log = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

/// Text from outside (a plugin, a child, a receiver) shown with every control character and
/// backslash escaped (`\r`, `\n`, `\t`, `\0`, `\\`, `\xNN`, `\u{NNNN}`), so that it cannot end
/// or forge a log line. Invalid UTF-8 is shown as `\xNN` bytes.
pub struct Escaped<'a>(pub &'a [u8]);

impl<'a> Escaped<'a> {
    /// Escape a string.
    pub fn str(s: &'a str) -> Escaped<'a> {
        Escaped(s.as_bytes())
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '\r' => f.write_str("\\r")?,
                    '\n' => f.write_str("\\n")?,
                    '\t' => f.write_str("\\t")?,
                    '\0' => f.write_str("\\0")?,
                    c if (c as u32) < 0x80 && c.is_ascii_control() => write!(f, "\\x{:02x}", c as u32)?,
                    // C1 controls, line/paragraph separators and bidi overrides can also
                    // rearrange or break what a terminal or log viewer shows.
                    c if c.is_control()
                        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
                    {
                        write!(f, "\\u{{{:04x}}}", c as u32)?
                    }
                    c => fmt::Write::write_char(f, c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_leaves_plain_text_alone() {
        assert_eq!(Escaped::str("system.cpu user=1.5 ünïcode").to_string(), "system.cpu user=1.5 ünïcode");
    }

    #[test]
    fn escaped_escapes_every_control_character() {
        let raw = b"a\rb\nc\td\0e\\f\x1b[31mg\x7fh";
        assert_eq!(Escaped(raw).to_string(), "a\\rb\\nc\\td\\0e\\\\f\\x1b[31mg\\x7fh");
        assert_eq!(Escaped::str("x\u{85}y\u{2028}z\u{202e}").to_string(), "x\\u{0085}y\\u{2028}z\\u{202e}");
    }

    #[test]
    fn escaped_shows_invalid_utf8_as_bytes() {
        assert_eq!(Escaped(b"ok\xff\xfe!").to_string(), "ok\\xff\\xfe!");
    }

    #[test]
    fn tally_logs_first_then_once_per_period_with_the_count() {
        let t0 = Instant::now();
        let mut t = Tally::new(Duration::from_secs(60));
        assert_eq!(t.occur(t0), Some(1));
        for i in 1..=1000 {
            assert_eq!(t.occur(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(t.occur(t0 + Duration::from_secs(60)), Some(1001));
        assert_eq!(t.occur(t0 + Duration::from_secs(61)), None);
        assert_eq!(t.occur(t0 + Duration::from_secs(120)), Some(2));
    }

    #[test]
    fn persisting_logs_once_then_every_five_minutes_and_reports_on_clear() {
        let t0 = Instant::now();
        let mut p = Persisting::default();
        assert!(p.occur(t0));
        assert!(!p.repeats());
        assert!(!p.occur(t0 + Duration::from_secs(299)));
        assert!(p.repeats());
        assert!(p.occur(t0 + Duration::from_secs(300)));
        assert_eq!(p.clear(t0 + Duration::from_secs(310)), Some((3, Duration::from_secs(310))));
        assert_eq!(p.clear(t0), None);
    }
}
