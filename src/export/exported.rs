//! Where an exporter's windows got to for each streaming child, kept on disk across restarts.
//!
//! One job: the file `[directories] lib`/`exporting/NAME.exported`. After a restart the store is
//! empty and each child replays what it still has (replication); the slots it replays that an
//! instance had already sent before the stop must not be sent again. The instance writes, per
//! child host (its machine GUID) and chart `update every`, the end of the last window it handed
//! out, plus the charts whose own cursor differs; at its next start it sends a replayed chart's
//! windows only after those ends.
//!
//! The format is text, one record a line: `GUID UE END` for a host's charts of `update every`
//! UE, `GUID UE END CHART` for one chart. Lines that do not parse are skipped. Parsing and
//! formatting are pure; [`load`] and [`save`] do the I/O (save writes a temporary file and
//! renames it, so a crash leaves the old file or the new one).

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The window ends of one file: `(guid, ue)` → end, and `(guid, ue, chart)` → end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    hosts: HashMap<(Box<str>, u32), i64>,
    charts: HashMap<(Box<str>, u32, Box<str>), i64>,
}

impl Exported {
    /// Nothing known.
    pub fn new() -> Exported {
        Exported::default()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.charts.is_empty()
    }

    /// Windows of the host's charts of `update every` `ue` were handed out up to `end`.
    pub fn set_host(&mut self, guid: &str, ue: u32, end: i64) {
        self.hosts.insert((guid.into(), ue), end);
    }

    /// Windows of one chart were handed out up to `end` (when it differs from its host's).
    pub fn set_chart(&mut self, guid: &str, ue: u32, chart: &str, end: i64) {
        self.charts.insert((guid.into(), ue, chart.into()), end);
    }

    /// Forget everything of the hosts `guids` (one pass, however many).
    pub fn forget_hosts(&mut self, guids: &std::collections::HashSet<String>) {
        if self.is_empty() {
            return;
        }
        self.hosts.retain(|(g, _), _| !guids.contains(&**g));
        self.charts.retain(|(g, _, _), _| !guids.contains(&**g));
    }

    /// The end of the last window handed out for `chart` of host `guid`, if known.
    pub fn end_of(&self, guid: &str, ue: u32, chart: &str) -> Option<i64> {
        let key = (Box::<str>::from(guid), ue, Box::<str>::from(chart));
        self.charts.get(&key).or_else(|| self.hosts.get(&(key.0, ue))).copied()
    }

    /// The file's text, sorted.
    pub fn format(&self) -> String {
        let mut lines: Vec<String> =
            self.hosts.iter().map(|((g, ue), end)| format!("{g} {ue} {end}\n")).collect();
        lines.extend(self.charts.iter().map(|((g, ue, c), end)| format!("{g} {ue} {end} {c}\n")));
        lines.sort();
        lines.concat()
    }

    /// Read a file's text; lines that do not parse are skipped.
    pub fn parse(text: &str) -> Exported {
        let mut e = Exported::new();
        for line in text.lines() {
            let mut w = line.splitn(4, ' ');
            let (Some(g), Some(ue), Some(end)) = (w.next(), w.next(), w.next()) else { continue };
            let (Ok(ue), Ok(end)) = (ue.parse::<u32>(), end.parse::<i64>()) else { continue };
            if g.is_empty() {
                continue;
            }
            match w.next() {
                Some(c) if !c.is_empty() => e.set_chart(g, ue, c, end),
                Some(_) => {}
                None => e.set_host(g, ue, end),
            }
        }
        e
    }
}

/// Read `path`; a missing file is nothing known.
pub fn load(path: &Path) -> io::Result<Exported> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Exported::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Exported::new()),
        Err(e) => Err(e),
    }
}

/// Write `text` ([`Exported::format`]) to `path` (its folder is created), replacing it at once;
/// with `sync`, on the disk before it replaces the old file (a killed process needs no sync:
/// the rename alone is atomic for every reader after it).
pub fn save(path: &Path, text: &str, sync: bool) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    // Never through a link planted in its place: the file is created anew, or refused.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    if sync {
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_of_its_own_wins_over_its_host_and_the_text_reads_back() {
        let mut e = Exported::new();
        e.set_host("g1", 1, 1000);
        e.set_host("g1", 5, 995);
        e.set_chart("g1", 1, "system.cpu", 980);
        assert_eq!(e.format(), "g1 1 1000\ng1 1 980 system.cpu\ng1 5 995\n");
        assert_eq!(e.end_of("g1", 1, "system.cpu"), Some(980));
        assert_eq!(e.end_of("g1", 1, "system.load"), Some(1000));
        assert_eq!(e.end_of("g1", 5, "system.load"), Some(995));
        assert_eq!(e.end_of("g1", 10, "system.load"), None);
        assert_eq!(e.end_of("g2", 1, "system.cpu"), None);
        assert_eq!(Exported::parse(&e.format()), e);
        let garbled = Exported::parse("g1 x 1000\n\ng1 1\ng1 1 12 a chart with spaces\ng2 2 7\n");
        assert_eq!(garbled.format(), "g1 1 12 a chart with spaces\ng2 2 7\n");
    }

    #[test]
    fn saving_replaces_the_file_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exporting/x.exported");
        assert!(load(&path).unwrap().is_empty());
        let mut e = Exported::new();
        e.set_host("g", 1, 42);
        save(&path, &e.format(), true).unwrap();
        e.set_host("g", 1, 43);
        save(&path, &e.format(), true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "g 1 43\n");
        assert_eq!(load(&path).unwrap(), e);
    }
}
