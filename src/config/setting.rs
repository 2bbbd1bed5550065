//! Typed settings: how a key's value is read from text, checked, and written back.
//!
//! A section type lists its keys once, in [`Settings::visit`]. Reading ([`read`]), rendering
//! ([`render`]) and the list of known keys ([`known_keys`]) all walk that one list, so adding a
//! key is one line. This module knows nothing of which sections exist or what they mean.

use std::path::PathBuf;

use super::diag::Diagnostics;
use super::ini::Section;

/// How values of type `T` are read from and written to config text.
pub(crate) trait Kind<T> {
    /// The value, or what was expected (e.g. `expected yes or no`).
    fn parse(&self, text: &str) -> Result<T, String>;
    /// The text that parses back to `value`.
    fn render(&self, value: &T) -> String;
}

/// Something done to every setting of a section, in order.
pub(crate) trait Visit {
    /// The setting `key`, stored in `field`, of kind `kind`.
    fn setting<T>(&mut self, key: &'static str, field: &mut T, kind: &impl Kind<T>);
}

/// A section's settings, listed in the order they are rendered.
pub(crate) trait Settings: Clone {
    /// Call `v.setting` once per key.
    fn visit<V: Visit>(&mut self, v: &mut V);
}

/// Reads settings from a chain of sections: the first section holding a key gives its value.
struct Reader<'a, 'd> {
    chain: &'a [(&'a str, &'a Section)],
    diag: &'d mut Diagnostics,
    found: Vec<&'static str>,
}

impl Visit for Reader<'_, '_> {
    fn setting<T>(&mut self, key: &'static str, field: &mut T, kind: &impl Kind<T>) {
        let Some((file, entry)) =
            self.chain.iter().find_map(|(file, section)| section.get(key).map(|e| (*file, e)))
        else {
            return;
        };
        self.found.push(key);
        match kind.parse(&entry.value) {
            Ok(value) => *field = value,
            Err(expected) => {
                self.diag.error(file, entry.line, format_args!("{key} = \"{}\": {expected}", entry.value))
            }
        }
    }
}

/// Set `settings` from `chain` (`(file, section)`, first wins), reporting bad values to `diag`.
/// Returns the keys that were present somewhere in the chain.
pub(crate) fn read<S: Settings>(
    settings: &mut S,
    chain: &[(&str, &Section)],
    diag: &mut Diagnostics,
) -> Vec<&'static str> {
    let mut reader = Reader { chain, diag, found: Vec::new() };
    settings.visit(&mut reader);
    reader.found
}

struct Writer<'o> {
    out: &'o mut String,
}

impl Visit for Writer<'_> {
    fn setting<T>(&mut self, key: &'static str, field: &mut T, kind: &impl Kind<T>) {
        entry_line(self.out, key, &kind.render(field));
    }
}

/// Append `key = value` lines for every setting of `settings`.
pub(crate) fn render<S: Settings>(settings: &S, out: &mut String) {
    settings.clone().visit(&mut Writer { out });
}

/// Append one `key = value` line as rendered in effective configurations.
pub(crate) fn entry_line(out: &mut String, key: &str, value: &str) {
    out.push_str("    ");
    out.push_str(key);
    if value.is_empty() {
        out.push_str(" =\n");
    } else {
        out.push_str(" = ");
        out.push_str(value);
        out.push('\n');
    }
}

struct KeyList(Vec<&'static str>);

impl Visit for KeyList {
    fn setting<T>(&mut self, key: &'static str, _: &mut T, _: &impl Kind<T>) {
        self.0.push(key);
    }
}

/// The keys `settings` knows, in order.
pub(crate) fn known_keys<S: Settings>(settings: &S) -> Vec<&'static str> {
    let mut list = KeyList(Vec::new());
    settings.clone().visit(&mut list);
    list.0
}

/// Warn about every key of `section` that is not in `known`.
pub(crate) fn warn_unknown(file: &str, section: &Section, known: &[&str], diag: &mut Diagnostics) {
    for entry in &section.entries {
        if !known.contains(&entry.key.as_str()) {
            diag.warn(file, entry.line, unknown_key(&entry.key, &section.name));
        }
    }
}

/// The warning for a key nobody reads.
pub(crate) fn unknown_key(key: &str, section: &str) -> String {
    format!("unknown key '{key}' in [{section}]; ignored")
}

/// What a boolean may be written as.
pub(crate) const BOOL_EXPECTED: &str = "expected yes or no (or true/false, on/off, 1/0)";

/// netdata's boolean spellings, any case.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    const YES: [&str; 4] = ["yes", "true", "on", "1"];
    const NO: [&str; 4] = ["no", "false", "off", "0"];
    if YES.iter().any(|y| text.eq_ignore_ascii_case(y)) {
        Some(true)
    } else if NO.iter().any(|n| text.eq_ignore_ascii_case(n)) {
        Some(false)
    } else {
        None
    }
}

/// A setting that may be left unset (empty or absent: `None`), otherwise of kind `K`.
pub(crate) struct Opt<K>(pub K);

impl<T, K: Kind<T>> Kind<Option<T>> for Opt<K> {
    fn parse(&self, text: &str) -> Result<Option<T>, String> {
        if text.is_empty() {
            return Ok(None);
        }
        self.0.parse(text).map(Some)
    }
    fn render(&self, value: &Option<T>) -> String {
        value.as_ref().map(|v| self.0.render(v)).unwrap_or_default()
    }
}

/// `yes`/`no` and netdata's other spellings.
pub(crate) struct Bool;

impl Kind<bool> for Bool {
    fn parse(&self, text: &str) -> Result<bool, String> {
        parse_bool(text).ok_or_else(|| BOOL_EXPECTED.to_string())
    }
    fn render(&self, value: &bool) -> String {
        if *value { "yes" } else { "no" }.to_string()
    }
}

/// Any text, kept as written.
pub(crate) struct Text;

impl Kind<String> for Text {
    fn parse(&self, text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn render(&self, value: &String) -> String {
        value.clone()
    }
}

/// Text that must not be empty; `.0` names what is expected (`a host name`).
pub(crate) struct NonEmpty(pub &'static str);

impl Kind<String> for NonEmpty {
    fn parse(&self, text: &str) -> Result<String, String> {
        if text.is_empty() {
            Err(format!("expected {}, not an empty value", self.0))
        } else {
            Ok(text.to_string())
        }
    }
    fn render(&self, value: &String) -> String {
        value.clone()
    }
}

/// Optional text: an empty value means unset.
pub(crate) struct OptText;

impl Kind<Option<String>> for OptText {
    fn parse(&self, text: &str) -> Result<Option<String>, String> {
        Ok((!text.is_empty()).then(|| text.to_string()))
    }
    fn render(&self, value: &Option<String>) -> String {
        value.clone().unwrap_or_default()
    }
}

/// Optional secret text: read like [`OptText`], rendered as `********` when set.
pub(crate) struct Secret;

/// What a set secret renders as.
pub(crate) const MASK: &str = "********";

impl Kind<Option<String>> for Secret {
    fn parse(&self, text: &str) -> Result<Option<String>, String> {
        OptText.parse(text)
    }
    fn render(&self, value: &Option<String>) -> String {
        value.as_ref().map(|_| MASK.to_string()).unwrap_or_default()
    }
}

/// A path that must not be empty; `.0` names what is expected (`a directory`).
pub(crate) struct Path(pub &'static str);

impl Kind<PathBuf> for Path {
    fn parse(&self, text: &str) -> Result<PathBuf, String> {
        if text.is_empty() {
            Err(format!("expected {}, not an empty value", self.0))
        } else {
            Ok(PathBuf::from(text))
        }
    }
    fn render(&self, value: &PathBuf) -> String {
        value.display().to_string()
    }
}

/// A path that may be empty (empty: not set, e.g. `host prefix`).
pub(crate) struct PathOrEmpty;

impl Kind<PathBuf> for PathOrEmpty {
    fn parse(&self, text: &str) -> Result<PathBuf, String> {
        Ok(PathBuf::from(text))
    }
    fn render(&self, value: &PathBuf) -> String {
        value.display().to_string()
    }
}

/// One or more paths written as netdata does: separated by spaces, each optionally in double
/// or single quotes (a path with a space must be quoted): `"/a" "/b"`.
pub(crate) struct PathList;

impl Kind<Vec<PathBuf>> for PathList {
    fn parse(&self, text: &str) -> Result<Vec<PathBuf>, String> {
        let words = split_quoted(text)
            .ok_or("expected directories in quotes, e.g. \"/a\" \"/b\", not an unclosed quote")?;
        if words.is_empty() || words.iter().any(|w| w.is_empty()) {
            return Err(
                "expected one or more directories, e.g. \"/a\" \"/b\", not an empty value".to_string()
            );
        }
        Ok(words.into_iter().map(PathBuf::from).collect())
    }
    fn render(&self, value: &Vec<PathBuf>) -> String {
        value.iter().map(|p| format!("\"{}\"", p.display())).collect::<Vec<_>>().join(" ")
    }
}

/// `text` split at spaces and tabs, a word in double or single quotes kept whole (quotes
/// removed), as netdata splits quoted lists; `None` when a quote is not closed.
pub(crate) fn split_quoted(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut rest = text.trim_start();
    while let Some(first) = rest.chars().next() {
        let (word, after) = if first == '"' || first == '\'' {
            let end = rest[1..].find(first)? + 1;
            (&rest[1..end], &rest[end + 1..])
        } else {
            let end = rest.find([' ', '\t']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        words.push(word.to_string());
        rest = after.trim_start();
    }
    Some(words)
}

/// Command-line words, split as a POSIX shell splits them (quotes and backslashes; no
/// variables, no globs): netdata hands `command options` to a shell.
pub(crate) struct Words;

impl Kind<Vec<String>> for Words {
    fn parse(&self, text: &str) -> Result<Vec<String>, String> {
        shlex::split(text).ok_or_else(|| {
            "expected command-line words, not an unclosed quote or a trailing backslash".to_string()
        })
    }
    fn render(&self, value: &Vec<String>) -> String {
        shlex::try_join(value.iter().map(|w| w.as_str())).unwrap_or_default()
    }
}

/// An optional path: an empty value means unset.
pub(crate) struct OptPath;

impl Kind<Option<PathBuf>> for OptPath {
    fn parse(&self, text: &str) -> Result<Option<PathBuf>, String> {
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }
    fn render(&self, value: &Option<PathBuf>) -> String {
        value.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
    }
}

/// A whole number in `min..=max` (no upper bound but the type's when `max` is `None`), counted
/// in `unit`.
pub(crate) struct Whole {
    /// The smallest value accepted.
    pub min: u64,
    /// The largest value accepted, if below the type's own maximum.
    pub max: Option<u64>,
    /// What is counted, plural (`seconds`).
    pub unit: &'static str,
}

impl<T: TryFrom<u64> + ToString> Kind<T> for Whole {
    fn parse(&self, text: &str) -> Result<T, String> {
        text.parse::<u64>()
            .ok()
            .filter(|n| *n >= self.min && self.max.is_none_or(|max| *n <= max))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| match self.max {
                Some(max) => format!("expected a whole number of {} from {} to {max}", self.unit, self.min),
                None => format!("expected a whole number of {} ≥ {}", self.unit, self.min),
            })
    }
    fn render(&self, value: &T) -> String {
        value.to_string()
    }
}

/// One word out of a fixed list, any case, stored in lower case.
pub(crate) struct Choice {
    /// What the word names (`log level`).
    pub what: &'static str,
    /// The accepted words, lower case.
    pub choices: &'static [&'static str],
}

impl Kind<String> for Choice {
    fn parse(&self, text: &str) -> Result<String, String> {
        self.choices
            .iter()
            .find(|c| text.eq_ignore_ascii_case(c))
            .map(|c| c.to_string())
            .ok_or_else(|| format!("unknown {}. Choose from: {}", self.what, self.choices.join(", ")))
    }
    fn render(&self, value: &String) -> String {
        value.clone()
    }
}

/// A size in bytes: a plain number, or one with a suffix `K`, `M`, `G` or `KiB`, `MiB`, `GiB`
/// (any case, powers of 1024), at least `min` bytes. Rendered with the largest unit that keeps
/// it exact (`1GiB`, `1536KiB`, `1000001`).
pub(crate) struct Size {
    /// The smallest size accepted, in bytes; a power of 1024 so the message can name it.
    pub min: u64,
}

/// Size suffixes and their factors, largest first.
const SIZE_UNITS: [(&str, &str, u64); 3] =
    [("GiB", "G", 1 << 30), ("MiB", "M", 1 << 20), ("KiB", "K", 1 << 10)];

impl Size {
    fn render_bytes(bytes: u64) -> String {
        SIZE_UNITS
            .iter()
            .find(|(_, _, factor)| bytes > 0 && bytes.is_multiple_of(*factor))
            .map(|(unit, _, factor)| format!("{}{unit}", bytes / factor))
            .unwrap_or_else(|| bytes.to_string())
    }
}

impl Kind<u64> for Size {
    fn parse(&self, text: &str) -> Result<u64, String> {
        let expected = || {
            format!(
                "expected a size of at least {}: a number of bytes, or one with a suffix K, M, G \
                 (or KiB, MiB, GiB; powers of 1024), e.g. 1GiB",
                Size::render_bytes(self.min)
            )
        };
        let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, suffix) = text.split_at(digits);
        let suffix = suffix.trim_start();
        let factor = if suffix.is_empty() {
            1
        } else {
            SIZE_UNITS
                .iter()
                .find(|(long, short, _)| {
                    suffix.eq_ignore_ascii_case(long) || suffix.eq_ignore_ascii_case(short)
                })
                .map(|(_, _, factor)| *factor)
                .ok_or_else(expected)?
        };
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .filter(|bytes| *bytes >= self.min)
            .ok_or_else(expected)
    }
    fn render(&self, value: &u64) -> String {
        Size::render_bytes(*value)
    }
}
