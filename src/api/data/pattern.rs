//! The `dimensions` parameter of `/api/v1/data`: netdata's simple pattern as its query
//! engine reads it.
//!
//! Words are separated by `|`, `,` and the control spaces (not by a space, so names with
//! spaces can be asked for); `\` escapes the next character; `!` before a word negates it;
//! `*` matches any run of characters; a word without `*` matches exactly. The first word that
//! matches decides. An empty string matches nothing. Pure.

use crate::pattern::glob_match;

/// A compiled dimension pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimPattern {
    /// `(negative, the word split at each unescaped *)`.
    words: Vec<(bool, Vec<String>)>,
}

fn is_separator(c: char) -> bool {
    matches!(c, '|' | ',' | '\t' | '\r' | '\n' | '\x0c' | '\x0b')
}

impl DimPattern {
    /// Compile `list`; `None` when it holds no word (netdata then selects every dimension).
    pub fn new(list: &str) -> Option<DimPattern> {
        let mut words = Vec::new();
        let mut chars = list.chars().peekable();
        loop {
            while chars.peek().is_some_and(|&c| is_separator(c)) {
                chars.next();
            }
            let negative = chars.peek() == Some(&'!');
            if negative {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let mut parts = vec![String::new()];
            let mut escaped = false;
            for c in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                    continue;
                } else if is_separator(c) {
                    break;
                } else if c == '*' {
                    parts.push(String::new());
                    continue;
                }
                parts.last_mut().expect("never empty").push(c);
            }
            if parts.len() == 1 && parts[0].is_empty() {
                continue;
            }
            words.push((negative, parts));
        }
        (!words.is_empty()).then_some(DimPattern { words })
    }

    /// Whether `s` is selected: the first word that matches decides.
    pub fn matches(&self, s: &str) -> bool {
        if s.is_empty() {
            return false;
        }
        self.words.iter().find(|(_, parts)| glob_match(parts, s)).is_some_and(|(negative, _)| !negative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_at_bars_and_commas_never_at_spaces() {
        let p = DimPattern::new("|a|name with spaces,c").unwrap();
        assert!(p.matches("a") && p.matches("name with spaces") && p.matches("c"));
        assert!(!p.matches("name") && !p.matches("b") && !p.matches(""));
    }

    #[test]
    fn escapes_negation_and_globs() {
        let p = DimPattern::new(r"semi;colon\,comma").unwrap();
        assert!(p.matches("semi;colon,comma"));
        let p = DimPattern::new("!b*|*").unwrap();
        assert!(p.matches("a") && !p.matches("bee") && !p.matches("b"));
        let p = DimPattern::new("x*z|*mid*").unwrap();
        assert!(p.matches("xz") && p.matches("xyz") && p.matches("amidb") && !p.matches("zx"));
        assert_eq!(DimPattern::new("||,"), None);
        assert_eq!(DimPattern::new("!"), None);
    }
}
