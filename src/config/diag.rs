//! Collected errors and warnings of one configuration load, in file and line order.
//!
//! Every message names `file:line`; the list keeps each message once, so a default that is wrong
//! in `[exporting:global]` is reported once, not once per exporter. It knows nothing of what the
//! messages are about.

use std::collections::HashSet;
use std::fmt::Display;

/// One message and where it points, for sorting.
#[derive(Debug)]
struct Note {
    /// Index of the file in the order files were first mentioned.
    file: usize,
    line: usize,
    text: String,
}

/// Errors and warnings gathered while reading configuration files.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    files: Vec<String>,
    errors: Vec<Note>,
    warnings: Vec<Note>,
    /// The text of every note kept, so that keeping each once stays linear.
    seen: HashSet<String>,
}

impl Diagnostics {
    /// Record an error at `file:line`.
    pub(crate) fn error(&mut self, file: &str, line: usize, message: impl Display) {
        let note = self.note(file, line, message);
        if self.seen.insert(format!("E{}", note.text)) {
            self.errors.push(note);
        }
    }

    /// Record a warning at `file:line`.
    pub(crate) fn warn(&mut self, file: &str, line: usize, message: impl Display) {
        let note = self.note(file, line, message);
        if self.seen.insert(format!("W{}", note.text)) {
            self.warnings.push(note);
        }
    }

    /// Errors and warnings, each sorted by file (in order of first mention) then line.
    pub(crate) fn finish(self) -> (Vec<String>, Vec<String>) {
        (sorted(self.errors), sorted(self.warnings))
    }

    fn note(&mut self, file: &str, line: usize, message: impl Display) -> Note {
        let index = match self.files.iter().position(|f| f == file) {
            Some(i) => i,
            None => {
                self.files.push(file.to_string());
                self.files.len() - 1
            }
        };
        Note { file: index, line, text: format!("{file}:{line}: {message}") }
    }
}

fn sorted(mut notes: Vec<Note>) -> Vec<String> {
    notes.sort_by_key(|n| (n.file, n.line));
    notes.into_iter().map(|n| n.text).collect()
}
