//! Labels of a host or a chart: an ordered list of `name = value`, each with its source, as
//! netdata keeps them, capped so that no source can make them large.
//!
//! One job: take labels from anywhere (`[host labels]`, the machine, a plugin's `LABEL` and
//! `CLABEL` lines, a child's stream), clean them as netdata does, and say which of them an
//! exporter sends. It knows no output format: each format applies its own rules on top.
//!
//! # Cleaning (netdata's `rrdlabels_sanitize_name` and `_value`)
//! Leading and trailing blanks and control characters are removed, and each run of them inside
//! becomes one character (a space in values, `_` in names; a control character is `_` in
//! both). In values `,` becomes `.`, `;` and `=` become `:`, `\` becomes `/`, and every other
//! ASCII byte outside letters, digits and ` ()+-./:@_` becomes `_`; other UTF-8 characters are
//! kept. Names follow the same table, lower-cased, with ` :;=+@()` as `_` and non-ASCII
//! characters as one `_` each. A name made only of `_` (or of nothing) is refused; an empty
//! value becomes `[none]`. Names keep at most [`NAME_MAX`] bytes and values [`VALUE_MAX`].
//! So a cleaned label holds no quote, newline, `;` or `=`.
//!
//! # Caps
//! A set keeps at most [`MAX_LABELS`] labels and [`MAX_BYTES`] bytes of names and values;
//! what would go past either is refused ([`Added::Refused`]), so a hostile source cannot make
//! every exported line large. A label with a name already in the set replaces it in place.
//!
//! # Sources
//! A label's source is netdata's bit set ([`source`]): automatic (1), configured (2),
//! Kubernetes (4), cloud (8). An exporter sends a label when `send configured labels` is on
//! and its source has the configured bit, or `send automatic labels` is on and it has the
//! automatic bit ([`LabelFilter`]).
//!
//! Sets are shared as `Arc<Labels>` and replaced whole on change: readers take a snapshot and
//! never hold a lock while they format.

/// netdata's label source bits (`RRDLABEL_SRC_*`).
pub mod source {
    /// Found by the agent itself (`_os_name`, ...).
    pub const AUTO: u32 = 1;
    /// Configured by the user (`[host labels]`, a plugin's label with source 2).
    pub const CONFIG: u32 = 2;
    /// Found from Kubernetes (netdata sets [`AUTO`] with it).
    pub const K8S: u32 = 4;
    /// Found from the cloud connection (netdata sets [`AUTO`] with it).
    pub const ACLK: u32 = 8;
}

use std::sync::{Arc, OnceLock};

/// The empty set, shared: a chart or host without labels costs no allocation of its own.
pub fn none() -> Arc<Labels> {
    static EMPTY: OnceLock<Arc<Labels>> = OnceLock::new();
    EMPTY.get_or_init(Arc::default).clone()
}

/// Labels a set keeps at most.
pub const MAX_LABELS: usize = 64;
/// Bytes of names and values a set keeps at most.
pub const MAX_BYTES: usize = 8 * 1024;
/// The longest name kept, in bytes (netdata's 200, less its terminator).
pub const NAME_MAX: usize = 199;
/// The longest value kept, in bytes (netdata's 800, less its terminator).
pub const VALUE_MAX: usize = 799;

/// One label, cleaned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The name: lower case, no blanks, never empty.
    pub name: Box<str>,
    /// The value, never empty.
    pub value: Box<str>,
    /// netdata's source bits ([`source`]).
    pub source: u32,
}

/// What [`Labels::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// A new label.
    New,
    /// A label of that name was replaced.
    Replaced,
    /// The name is empty once cleaned: nothing was added.
    EmptyName,
    /// The set is full ([`MAX_LABELS`] or [`MAX_BYTES`]): nothing was added.
    Refused,
}

/// An ordered set of labels; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    list: Vec<Label>,
    /// Bytes of names and values.
    bytes: usize,
}

impl Labels {
    /// An empty set.
    pub fn new() -> Labels {
        Labels::default()
    }

    /// A set of `pairs` from `source`, in their order (a repeated name keeps its first place
    /// and its last value).
    pub fn from_pairs(pairs: &[(String, String)], source: u32) -> Labels {
        let mut labels = Labels::new();
        for (name, value) in pairs {
            labels.add(name, value, source);
        }
        labels
    }

    /// Adds `name = value` from `source`, cleaned; see the module docs.
    pub fn add(&mut self, name: &str, value: &str, source: u32) -> Added {
        let name = clean_name(name);
        if name.is_empty() {
            return Added::EmptyName;
        }
        let value = clean_value(value);
        self.put(Label { name: name.into(), value: value.into(), source })
    }

    /// Adds a label already cleaned, within the caps.
    fn put(&mut self, label: Label) -> Added {
        let size = label.name.len() + label.value.len();
        match self.list.iter().position(|l| l.name == label.name) {
            Some(i) => {
                let old = self.list[i].name.len() + self.list[i].value.len();
                if self.bytes - old + size > MAX_BYTES {
                    return Added::Refused;
                }
                self.bytes = self.bytes - old + size;
                self.list[i] = label;
                Added::Replaced
            }
            None => {
                if self.list.len() >= MAX_LABELS || self.bytes + size > MAX_BYTES {
                    return Added::Refused;
                }
                self.bytes += size;
                self.list.push(label);
                Added::New
            }
        }
    }

    /// `base` with `over` on top: a label of `over` replaces the one of `base` with its name.
    /// Both are within the caps; so is the result (what does not fit is left out).
    pub fn merged(base: &Labels, over: &Labels) -> Labels {
        let mut all = base.clone();
        for l in &over.list {
            all.put(l.clone());
        }
        all
    }

    /// The labels, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.list.iter()
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Bytes of names and values.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The value of the label `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.list.iter().find(|l| &*l.name == name).map(|l| &*l.value)
    }

    /// Appends to `out` the labels `filter` lets through, as `(name, value)`.
    pub fn sent_into(&self, filter: LabelFilter, out: &mut Vec<(String, String)>) {
        for l in self.list.iter().filter(|l| filter.sends(l.source)) {
            out.push((l.name.to_string(), l.value.to_string()));
        }
    }
}

/// Which labels an exporter sends, by source: its `send configured labels` and `send automatic
/// labels`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabelFilter {
    /// Labels with the configured bit.
    pub configured: bool,
    /// Labels with the automatic bit.
    pub automatic: bool,
}

impl LabelFilter {
    /// Whether a label from `source` is sent.
    pub fn sends(self, source: u32) -> bool {
        (self.configured && source & source::CONFIG != 0) || (self.automatic && source & source::AUTO != 0)
    }

    /// Whether any label can be sent.
    pub fn any(self) -> bool {
        self.configured || self.automatic
    }
}

/// Blanks and control characters: runs of them collapse, and they are trimmed at both ends.
fn is_blank(c: char) -> bool {
    c.is_ascii_whitespace() || c.is_ascii_control()
}

/// A value byte as netdata's table maps it (ASCII only).
fn value_byte(b: u8) -> u8 {
    match b {
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => b,
        b' ' | b'(' | b')' | b'+' | b'-' | b'.' | b'/' | b':' | b'@' | b'_' => b,
        b',' => b'.',
        b';' | b'=' => b':',
        b'\\' => b'/',
        _ => b'_',
    }
}

/// A name byte as netdata's table maps it (ASCII only).
fn name_byte(b: u8) -> u8 {
    match b {
        b'A'..=b'Z' => b.to_ascii_lowercase(),
        b' ' | b':' | b';' | b'=' | b'+' | b'@' | b'(' | b')' => b'_',
        _ => value_byte(b),
    }
}

/// Cleans `s` by netdata's rules into at most `max` bytes; `names` picks the name table.
fn clean(s: &str, max: usize, names: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    // Starts as if after a blank, so leading blanks are dropped.
    let mut after_blank = true;
    for c in s.chars() {
        let piece = if c.is_ascii() {
            let b = c as u8;
            if is_blank(c) {
                if after_blank {
                    continue;
                }
                after_blank = true;
                // A blank run keeps its first character, mapped (a space stays one in values).
                if names || b != b' ' {
                    '_'
                } else {
                    ' '
                }
            } else {
                after_blank = false;
                (if names { name_byte(b) } else { value_byte(b) }) as char
            }
        } else {
            after_blank = false;
            if names {
                '_'
            } else {
                c
            }
        };
        if out.len() + piece.len_utf8() > max {
            break;
        }
        out.push(piece);
    }
    if after_blank && !out.is_empty() {
        out.pop();
    }
    if out.bytes().all(|b| b == b'_') {
        out.clear();
    }
    out
}

/// A label name cleaned by netdata's rules; empty when it cannot be a name.
pub fn clean_name(s: &str) -> String {
    clean(s, NAME_MAX, true)
}

/// A label value cleaned by netdata's rules; `[none]` when nothing is left.
pub fn clean_value(s: &str) -> String {
    let v = clean(s, VALUE_MAX, false);
    if v.is_empty() {
        "[none]".to_string()
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cleaned_as_netdata_cleans_them() {
        assert_eq!(clean_value("  a  b\t\n c  "), "a b_c");
        assert_eq!(clean_value("x;y=z,w\\v"), "x:y:z.w/v");
        assert_eq!(clean_value("\"quoted\" 'q' {x}|~"), "_quoted_ _q_ _x___");
        assert_eq!(clean_value("line1\nline2\r\n"), "line1_line2");
        assert_eq!(clean_value("héllo 日本"), "héllo 日本");
        assert_eq!(clean_value("user@host (1+2):/x"), "user@host (1+2):/x");
        assert_eq!(clean_value(""), "[none]");
        assert_eq!(clean_value(" \n\t "), "[none]");
        assert_eq!(clean_value("___"), "[none]");
    }

    #[test]
    fn names_are_lower_case_with_underscores() {
        assert_eq!(clean_name("Room Number"), "room_number");
        assert_eq!(clean_name("a:b;c=d+e@f(g)"), "a_b_c_d_e_f_g_");
        assert_eq!(clean_name("dots.and-dash/slash\\"), "dots.and-dash/slash/");
        assert_eq!(clean_name("Ünï"), "_n_");
        assert_eq!(clean_name("  _os_name "), "_os_name");
        assert_eq!(clean_name("___"), "");
        assert_eq!(clean_name(" \"\" "), "");
    }

    #[test]
    fn lengths_are_capped_on_character_boundaries() {
        assert_eq!(clean_name(&"n".repeat(10_000)).len(), NAME_MAX);
        assert_eq!(clean_value(&"v".repeat(10_000)).len(), VALUE_MAX);
        let v = clean_value(&"é".repeat(1000));
        assert_eq!(v.len(), 798);
        assert!(v.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_name_added_again_replaces_in_place() {
        let mut l = Labels::new();
        assert_eq!(l.add("a", "1", source::CONFIG), Added::New);
        assert_eq!(l.add("B", "2", source::AUTO), Added::New);
        assert_eq!(l.add("A", "3", source::AUTO), Added::Replaced);
        assert_eq!(l.add(" ", "x", source::AUTO), Added::EmptyName);
        let all: Vec<_> = l.iter().map(|l| (&*l.name, &*l.value, l.source)).collect();
        assert_eq!(all, [("a", "3", source::AUTO), ("b", "2", source::AUTO)]);
        assert_eq!(l.bytes(), 4);
    }

    #[test]
    fn caps_hold_against_ten_thousand_labels_of_ten_kilobytes() {
        let mut l = Labels::new();
        let big = "v".repeat(10 * 1024);
        let mut refused = 0;
        for i in 0..10_000 {
            if l.add(&format!("k{i}"), &big, source::CONFIG) == Added::Refused {
                refused += 1;
            }
        }
        // Each label is 799 + 2..3 bytes: ten fit in 8 KiB.
        assert_eq!(l.len(), 10);
        assert_eq!(refused, 9_990);
        assert!(l.bytes() <= MAX_BYTES);
        let mut small = Labels::new();
        for i in 0..10_000 {
            small.add(&format!("k{i}"), "v", source::CONFIG);
        }
        assert_eq!(small.len(), MAX_LABELS);
        assert_eq!(small.get("k63"), Some("v"));
        assert_eq!(small.get("k64"), None);
    }

    #[test]
    fn merged_puts_the_second_set_on_top() {
        let base = Labels::from_pairs(&[("a".into(), "1".into()), ("b".into(), "2".into())], source::CONFIG);
        let mut over = Labels::new();
        over.add("b", "x", source::AUTO);
        over.add("c", "y", source::AUTO);
        let m = Labels::merged(&base, &over);
        let all: Vec<_> = m.iter().map(|l| (&*l.name, &*l.value, l.source)).collect();
        assert_eq!(all, [("a", "1", 2), ("b", "x", 1), ("c", "y", 1)]);
    }

    #[test]
    fn filters_choose_by_source_bits() {
        let mut l = Labels::new();
        for (name, src) in [("none", 0), ("auto", 1), ("conf", 2), ("both", 3), ("k8s", 5), ("k8s_only", 4)] {
            l.add(name, "v", src);
        }
        let names = |f: LabelFilter| {
            let mut out = Vec::new();
            l.sent_into(f, &mut out);
            out.into_iter().map(|(k, _)| k).collect::<Vec<_>>().join(",")
        };
        assert_eq!(names(LabelFilter { configured: true, automatic: false }), "conf,both");
        assert_eq!(names(LabelFilter { configured: false, automatic: true }), "auto,both,k8s");
        assert_eq!(names(LabelFilter { configured: true, automatic: true }), "auto,conf,both,k8s");
        assert_eq!(names(LabelFilter::default()), "");
    }
}
