//! The query string of an API request, and netdata's ways of spelling a parameter.
//!
//! One job: decode `a=1&b=x%20y&flag` once and answer typed questions about it, each error
//! naming the parameter so the 400 tells the client what to fix. Pure.

/// Decoded query parameters, in request order (a repeated name keeps every value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decode a query string (without `?`): `+` is a space, `%XX` a byte, invalid UTF-8 is
    /// replaced (U+FFFD) rather than refused.
    pub fn parse(query: &str) -> Query {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of the first of `names` present (netdata's aliases, e.g. `source`,
    /// `data`, `data-source`, `datasource`).
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present at all (`alarms?all`).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// A yes/no parameter as netdata reads one (`yes`/`no`, `1`/`0`, `true`/`false`, `on`/`off`),
    /// `default` when absent; anything else is an error naming the parameter.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("yes" | "1" | "true" | "on") => Ok(true),
            Some("no" | "0" | "false" | "off") => Ok(false),
            Some(other) => Err(format!("parameter '{name}' must be yes or no, not '{other}'")),
        }
    }

    /// An integer parameter, `default` when absent or empty; anything else is an error naming it.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("parameter '{name}' must be an integer, not '{v}'")),
        }
    }
}

/// Percent-decode one component (`+` is a space).
fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_bare_names() {
        let q = Query::parse("chart=system.cpu&filter=a+b%2Ac&all&x=%FF&chart=two");
        assert_eq!(q.get("chart"), Some("system.cpu"));
        assert_eq!(q.all("chart").collect::<Vec<_>>(), ["system.cpu", "two"]);
        assert_eq!(q.get("filter"), Some("a b*c"));
        assert!(q.has("all"));
        assert_eq!(q.get("all"), Some(""));
        assert_eq!(q.get("x"), Some("\u{FFFD}"));
        assert_eq!(q.get("missing"), None);
    }

    #[test]
    fn aliases_flags_and_integers() {
        let q = Query::parse("data-source=sum&names=no&timestamps=maybe&points=12&after=x");
        assert_eq!(q.get_any(&["source", "data", "data-source", "datasource"]), Some("sum"));
        assert_eq!(q.flag("names", true), Ok(false));
        assert_eq!(q.flag("help", false), Ok(false));
        assert_eq!(
            q.flag("timestamps", true),
            Err("parameter 'timestamps' must be yes or no, not 'maybe'".into())
        );
        assert_eq!(q.int("points", 0), Ok(12));
        assert_eq!(q.int("before", -3), Ok(-3));
        assert_eq!(q.int("after", 0), Err("parameter 'after' must be an integer, not 'x'".into()));
    }
}
