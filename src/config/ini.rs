//! The netdata.conf syntax: `[section]` lines, `key = value` lines, `#` comments and blank lines,
//! with the line of every section and entry kept for messages.
//!
//! It knows nothing of what sections and keys mean, and does no I/O: it takes a file's display
//! name and its text. Parsing is linear in the file's size: sections and keys already seen are
//! found through hash indexes, never by scanning what was read before.

use std::collections::HashMap;

use super::diag::Diagnostics;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key, trimmed; it may contain spaces.
    pub key: String,
    /// The value, trimmed, otherwise as written (quotes are kept).
    pub value: String,
    /// The 1-based line the value that counts was read from.
    pub line: usize,
}

/// One `[section]` and its entries, in the order first written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// The name between the brackets, trimmed.
    pub name: String,
    /// The 1-based line of the first `[name]` header.
    pub line: usize,
    /// Entries; a key appears once (the last value written wins).
    pub entries: Vec<Entry>,
}

impl Section {
    /// The entry for `key`, if set.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A parsed file: its sections in the order first written. A section written twice is merged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Ini {
    /// The display name used in messages.
    pub file: String,
    /// Sections, each name once.
    pub sections: Vec<Section>,
}

impl Ini {
    /// The section called `name`, if present.
    pub(crate) fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

/// Where entries of the current line go.
enum State {
    /// No section header yet.
    Before,
    /// Into `sections[i]`.
    In(usize),
    /// After a header that could not be parsed: its entries are dropped (already reported).
    Skipping,
}

/// Parse `text` (named `file` in messages). Lines that cannot be parsed are reported to `diag`
/// and skipped, so every problem in a file is reported at once.
pub(crate) fn parse(file: &str, text: &str, diag: &mut Diagnostics) -> Ini {
    let mut sections: Vec<Section> = Vec::new();
    // Where each section name, and each key of a section, already is.
    let mut section_at: HashMap<String, usize> = HashMap::new();
    let mut entry_at: HashMap<(usize, String), usize> = HashMap::new();
    let mut state = State::Before;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let raw = if index == 0 { raw.strip_prefix('\u{feff}').unwrap_or(raw) } else { raw };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            let name = line.strip_suffix(']').map(|l| l[1..].trim()).filter(|n| !n.is_empty());
            state = match name {
                Some(name) => match section_at.get(name) {
                    Some(&i) => State::In(i),
                    None => {
                        section_at.insert(name.to_string(), sections.len());
                        sections.push(Section { name: name.to_string(), line: number, entries: Vec::new() });
                        State::In(sections.len() - 1)
                    }
                },
                None => {
                    cannot_parse(diag, file, number, line);
                    State::Skipping
                }
            };
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            cannot_parse(diag, file, number, line);
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            cannot_parse(diag, file, number, line);
            continue;
        }
        let (index, section) = match state {
            State::In(i) => (i, &mut sections[i]),
            State::Skipping => continue,
            State::Before => {
                diag.error(
                    file,
                    number,
                    format_args!("'{line}' is outside any section; put a [section] line above it"),
                );
                continue;
            }
        };
        match entry_at.get(&(index, key.to_string())) {
            Some(&at) => {
                let previous = &mut section.entries[at];
                diag.warn(
                    file,
                    number,
                    format_args!(
                        "key '{key}' in [{}] was already set at line {}; the value here wins",
                        section.name, previous.line
                    ),
                );
                previous.value = value.to_string();
                previous.line = number;
            }
            None => {
                entry_at.insert((index, key.to_string()), section.entries.len());
                section.entries.push(Entry { key: key.to_string(), value: value.to_string(), line: number })
            }
        }
    }
    Ini { file: file.to_string(), sections }
}

fn cannot_parse(diag: &mut Diagnostics, file: &str, number: usize, line: &str) {
    diag.error(file, number, format_args!("cannot parse '{line}': expected [section] or key = value"));
}
