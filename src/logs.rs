//! What goes into log lines: how often a recurring condition is logged, and text from outside
//! made safe to print.
//!
//! One job: keep the log readable under stress. A condition that persists (a backend down, a
//! listener out of file descriptors, a client guessing keys) is logged once, then summarised at
//! most once per period, and once more when it clears; text that comes from plugins, children or
//! receivers is escaped so that it can never forge or break a log line.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How often a persisting condition is logged again.
pub const REPEAT_LOG_EVERY: Duration = Duration::from_secs(300);

/// Episodes remembered at most by one [`Episodes`]; occurrences of a new key beyond that are
/// not logged.
const MAX_EPISODES: usize = 4096;

/// What to log for one occurrence of a recurring condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// The first of an episode: log it in full.
    First,
    /// A reminder (at most once per period while it lasts): log it, saying how many occurred
    /// since the last line (this one included).
    Reminder(u64),
    /// Nothing to log.
    Silent,
}

/// The one throttle every log of a recurring condition goes through: the first occurrence is
/// logged, then at most one line per `period` carrying the occurrences since the last line;
/// [`Recurring::clear`] ends the episode with its total and length. [`Persisting`], [`Tally`]
/// and [`Episodes`] are its three uses.
#[derive(Debug)]
pub struct Recurring {
    period: Duration,
    since: Option<Instant>,
    last: Option<Instant>,
    last_log: Option<Instant>,
    total: u64,
    unlogged: u64,
}

impl Recurring {
    /// A condition logged at most once per `period`.
    pub fn new(period: Duration) -> Recurring {
        Recurring { period, since: None, last: None, last_log: None, total: 0, unlogged: 0 }
    }

    /// Record one occurrence at `now`; says what to log.
    pub fn occur(&mut self, now: Instant) -> Note {
        self.total += 1;
        self.unlogged += 1;
        self.since.get_or_insert(now);
        self.last = Some(now);
        match self.last_log {
            Some(t) if now.saturating_duration_since(t) < self.period => Note::Silent,
            _ => {
                self.last_log = Some(now);
                let n = std::mem::take(&mut self.unlogged);
                if self.total == 1 {
                    Note::First
                } else {
                    Note::Reminder(n)
                }
            }
        }
    }

    /// Whether it occurred more than once in this episode.
    pub fn repeats(&self) -> bool {
        self.total > 1
    }

    /// End the episode at `now`: its occurrences and how long it lasted, when there was one.
    pub fn clear(&mut self, now: Instant) -> Option<(u64, Duration)> {
        let r = self.since.map(|s| (self.total, now.saturating_duration_since(s)));
        *self = Recurring::new(self.period);
        r
    }
}

/// A persisting condition (a backend down, a plugin failing): logged once, then a reminder at
/// most every [`REPEAT_LOG_EVERY`], and once more when it clears.
#[derive(Debug)]
pub struct Persisting(Recurring);

impl Default for Persisting {
    fn default() -> Persisting {
        Persisting(Recurring::new(REPEAT_LOG_EVERY))
    }
}

impl Persisting {
    /// Record one occurrence; returns whether to log it.
    pub fn occur(&mut self, now: Instant) -> bool {
        self.0.occur(now) != Note::Silent
    }

    /// Whether it occurred before (so a log line should say that it repeats silently).
    pub fn repeats(&self) -> bool {
        self.0.repeats()
    }

    /// Clear; returns (occurrences, duration) when something had persisted.
    pub fn clear(&mut self, now: Instant) -> Option<(u64, Duration)> {
        self.0.clear(now)
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
pub struct Tally(Recurring);

impl Tally {
    /// A tally that logs at most once per `period`.
    pub fn new(period: Duration) -> Tally {
        Tally(Recurring::new(period))
    }

    /// Record one occurrence. Returns `Some(n)` when a line should be logged now, `n` being the
    /// occurrences it covers (this one included); `None` while within the period.
    pub fn occur(&mut self, now: Instant) -> Option<u64> {
        match self.0.occur(now) {
            Note::First => Some(1),
            Note::Reminder(n) => Some(n),
            Note::Silent => None,
        }
    }
}

/// Episodes of recurring conditions, one per key (e.g. an address and a kind of refusal): the
/// first occurrence is logged, then a reminder at most every [`REPEAT_LOG_EVERY`], and a
/// summary once none occurred for `quiet_after`.
#[derive(Debug)]
pub struct Episodes<K> {
    map: HashMap<K, Recurring>,
    quiet_after: Duration,
}

impl<K: Eq + Hash + Clone> Episodes<K> {
    /// Episodes that end after `quiet_after` without an occurrence.
    pub fn new(quiet_after: Duration) -> Episodes<K> {
        Episodes { map: HashMap::new(), quiet_after }
    }

    /// Record one occurrence of `key` at `now`.
    pub fn occur(&mut self, key: K, now: Instant) -> Note {
        if !self.map.contains_key(&key) && self.map.len() >= MAX_EPISODES {
            return Note::Silent;
        }
        self.map.entry(key).or_insert_with(|| Recurring::new(REPEAT_LOG_EVERY)).occur(now)
    }

    /// End the episodes without an occurrence for `quiet_after`: each with its occurrences and
    /// how long it lasted (first to last occurrence).
    pub fn ended(&mut self, now: Instant) -> Vec<(K, u64, Duration)> {
        let quiet = self.quiet_after;
        let is_over = |e: &Recurring| e.last.is_some_and(|l| now.saturating_duration_since(l) >= quiet);
        let done: Vec<K> = self.map.iter().filter(|(_, e)| is_over(e)).map(|(k, _)| k.clone()).collect();
        done.into_iter()
            .filter_map(|k| {
                let mut e = self.map.remove(&k)?;
                let last = e.last?;
                e.clear(last).map(|(n, d)| (k, n, d))
            })
            .collect()
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
    fn episodes_log_the_first_then_reminders_with_counts_then_a_summary() {
        let t0 = Instant::now();
        let mut e: Episodes<&str> = Episodes::new(Duration::from_secs(30));
        assert_eq!(e.occur("a", t0), Note::First);
        for i in 1..=1000 {
            assert_eq!(e.occur("a", t0 + Duration::from_millis(i)), Note::Silent);
        }
        assert_eq!(e.occur("b", t0), Note::First, "keys are separate");
        assert_eq!(e.occur("a", t0 + Duration::from_secs(300)), Note::Reminder(1001));
        assert_eq!(e.ended(t0 + Duration::from_secs(310)), vec![("b", 1, Duration::ZERO)]);
        assert_eq!(e.ended(t0 + Duration::from_secs(329)), vec![]);
        assert_eq!(e.ended(t0 + Duration::from_secs(330)), vec![("a", 1002, Duration::from_secs(300))]);
        assert_eq!(e.occur("a", t0 + Duration::from_secs(400)), Note::First, "a new episode");
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
