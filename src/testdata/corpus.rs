//! A recorded corpus of real metrics: every dimension's storage numbers, slot by slot, as the
//! store held them. `examples/record_corpus.rs` writes one; the block codec's tests and the
//! benchmarks replay it.
//!
//! The file is gzip of: the line `rrdpipe corpus 1`, one line per series
//! (`chart TAB dimension TAB algorithm TAB update every TAB first slot time TAB count`), an
//! empty line, then every series' storage numbers back to back, little-endian `u32`, in the
//! order of the lines. Reading and writing do no I/O of their own: they take a reader or writer.

use std::io::{self, BufRead, BufReader, Read, Write};

use flate2::{read::GzDecoder, write::GzEncoder, Compression};

use crate::rrd::storage_number::StorageNumber;

const MAGIC: &str = "rrdpipe corpus 1";

/// One dimension's slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    /// The chart's id, e.g. `system.cpu`.
    pub chart: String,
    /// The dimension's id.
    pub dimension: String,
    /// netdata's name of the dimension's algorithm, e.g. `incremental`.
    pub algorithm: String,
    /// Seconds between the slots.
    pub update_every: u32,
    /// The time of the first slot (seconds since the epoch).
    pub first_t: i64,
    /// The storage numbers, one per slot, oldest first; empty slots are `0`.
    pub values: Vec<StorageNumber>,
}

/// Every recorded series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Corpus {
    /// In recording order (chart by chart, dimensions in definition order).
    pub series: Vec<Series>,
}

impl Corpus {
    /// Samples in all series, empty slots included.
    pub fn samples(&self) -> usize {
        self.series.iter().map(|s| s.values.len()).sum()
    }
}

fn field(s: &str) -> String {
    s.replace(['\t', '\n'], "_")
}

/// Write `corpus` to `w`, gzip-compressed.
pub fn write(corpus: &Corpus, w: impl Write) -> io::Result<()> {
    let mut z = GzEncoder::new(w, Compression::best());
    writeln!(z, "{MAGIC}")?;
    for s in &corpus.series {
        let (chart, dimension, algorithm) = (field(&s.chart), field(&s.dimension), field(&s.algorithm));
        let (ue, first, n) = (s.update_every, s.first_t, s.values.len());
        writeln!(z, "{chart}\t{dimension}\t{algorithm}\t{ue}\t{first}\t{n}")?;
    }
    writeln!(z)?;
    for s in &corpus.series {
        let bytes: Vec<u8> = s.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        z.write_all(&bytes)?;
    }
    z.finish()?.flush()
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("not an rrdpipe corpus: {what}"))
}

fn parse_line(line: &str) -> io::Result<(Series, usize)> {
    let f: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
    let [chart, dimension, algorithm, ue, first, n] = f[..] else {
        return Err(invalid(format!("series line {line:?} does not have 6 fields")));
    };
    let number =
        |s: &str| s.parse::<i64>().map_err(|_| invalid(format!("{s:?} in {line:?} is not a number")));
    let series = Series {
        chart: chart.to_string(),
        dimension: dimension.to_string(),
        algorithm: algorithm.to_string(),
        update_every: number(ue)? as u32,
        first_t: number(first)?,
        values: Vec::new(),
    };
    Ok((series, number(n)? as usize))
}

/// Read a corpus written by [`write`].
pub fn read(r: impl Read) -> io::Result<Corpus> {
    let mut r = BufReader::new(GzDecoder::new(r));
    let mut line = String::new();
    r.read_line(&mut line)?;
    if line.trim_end() != MAGIC {
        return Err(invalid(format!("first line {:?}", line.trim_end())));
    }
    let mut series = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(invalid("the header does not end".into()));
        }
        if line == "\n" {
            break;
        }
        series.push(parse_line(&line)?);
    }
    let mut corpus = Corpus::default();
    for (mut s, n) in series {
        let mut bytes = vec![0u8; n * 4];
        r.read_exact(&mut bytes)?;
        s.values = bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        corpus.series.push(s);
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corpus_reads_back_as_written() {
        let corpus = Corpus {
            series: vec![
                Series {
                    chart: "system.cpu".into(),
                    dimension: "us\ter".into(),
                    algorithm: "incremental".into(),
                    update_every: 1,
                    first_t: 1_700_000_000,
                    values: vec![0, 0x0100_0001, u32::MAX],
                },
                Series {
                    chart: "apps.mem".into(),
                    dimension: "ssh".into(),
                    algorithm: "absolute".into(),
                    update_every: 2,
                    first_t: 1_700_000_002,
                    values: vec![7],
                },
            ],
        };
        let mut bytes = Vec::new();
        write(&corpus, &mut bytes).unwrap();
        let back = read(&bytes[..]).unwrap();
        assert_eq!(back.series[0].dimension, "us_er", "a tab cannot split a field");
        assert_eq!(back.series[0].values, [0, 0x0100_0001, u32::MAX]);
        assert_eq!(back.series[1], corpus.series[1]);
        assert_eq!(back.samples(), 4);
    }

    #[test]
    fn a_file_of_another_kind_is_refused_with_what_it_is() {
        let mut bytes = Vec::new();
        let mut z = GzEncoder::new(&mut bytes, Compression::fast());
        z.write_all(b"hello\n").unwrap();
        z.finish().unwrap();
        let e = read(&bytes[..]).unwrap_err();
        assert_eq!(e.to_string(), "not an rrdpipe corpus: first line \"hello\"");
    }
}
