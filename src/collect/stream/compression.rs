//! netdata's compressed stream (the COMPRESSION capability): lz4 frames in, plugins.d text out.
//!
//! One job: turn the bytes a child sends after a handshake that settled on compression back
//! into the text it compressed, with fixed memory, and say clearly what is wrong with a stream
//! that cannot be read.
//!
//! # The framing (netdata 1.37)
//! The child compresses each message it commits (one chart's `BEGIN`…`END`, a chart's
//! definition; at most [`MAX_MESSAGE`] bytes) as one lz4 *block* in streaming mode, and sends
//! a 4-byte header, then the block:
//!
//! ```text
//!   0xFA  0x80|len[0..7]  0x80|len[7..14]  '\n'      then `len` bytes of lz4 block
//! ```
//!
//! (`'z' | 0x80`, the compressed length in two 7-bit groups with the high bit set, a newline.)
//! In lz4's streaming mode a block may copy from anything in the last 64 KiB of the text that
//! came before it, in earlier blocks, so the decoder keeps that much of the text as history
//! and decodes each block against it. A block that does not decode, decodes to more than
//! [`MAX_MESSAGE`] bytes, or a header without the signature, is an error: the stream cannot be
//! resynchronised, and the connection is to be closed (the child reconnects and starts a new
//! stream with a fresh history).

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};

use crate::collect::plugins_d::lines::Input;

/// The most text one frame carries (netdata's `COMPRESSION_MAX_MSG_SIZE`).
pub const MAX_MESSAGE: usize = 16 * 1024;
/// The header before each block.
pub const HEADER_SIZE: usize = 4;
/// The largest length a header can hold (14 bits).
pub const MAX_BLOCK: usize = (1 << 14) - 1;
/// How far back a block may copy from (lz4's window).
const WINDOW: usize = 64 * 1024;
/// The decoder's buffer: the window and room for two frames of text before it is compacted.
const HISTORY: usize = WINDOW + 2 * MAX_MESSAGE;
/// Compressed bytes read ahead: at least one whole frame.
const READ_AHEAD: usize = 2 * (HEADER_SIZE + MAX_BLOCK);

/// The header of a block of `len` compressed bytes (`len` ≤ [`MAX_BLOCK`]).
pub fn encode_header(len: usize) -> [u8; HEADER_SIZE] {
    debug_assert!(len <= MAX_BLOCK);
    [b'z' | 0x80, 0x80 | (len & 0x7f) as u8, 0x80 | ((len >> 7) & 0x7f) as u8, b'\n']
}

/// The compressed length a header announces; `None` when it is not netdata's signature.
pub fn decode_header(h: [u8; HEADER_SIZE]) -> Option<usize> {
    if h[0] != b'z' | 0x80 || h[1] & 0x80 == 0 || h[2] & 0x80 == 0 || h[3] != b'\n' {
        return None;
    }
    Some((h[1] & 0x7f) as usize | ((h[2] & 0x7f) as usize) << 7)
}

/// Why a compressed stream cannot be read on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Where a header was due, these bytes are not netdata's lz4 signature.
    BadSignature([u8; HEADER_SIZE]),
    /// A header announces an empty block.
    Empty,
    /// A block does not decode (holds lz4's reason).
    Corrupt(String),
    /// A block decodes to more than [`MAX_MESSAGE`] bytes.
    TooLarge,
    /// The connection ended inside a frame, this many bytes into it.
    Truncated(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadSignature(h) => write!(
                f,
                "bytes {h:02x?} where a frame header was due are not netdata's lz4 signature \
                 (is the child compressing with another algorithm, or is something else writing to the connection?)"
            ),
            FrameError::Empty => f.write_str("a frame header announces an empty block"),
            FrameError::Corrupt(why) => write!(f, "an lz4 block does not decode: {why}"),
            FrameError::TooLarge => write!(f, "an lz4 block decodes to more than {MAX_MESSAGE} bytes"),
            FrameError::Truncated(n) => write!(f, "the connection ended {n} bytes into a frame"),
        }
    }
}

impl std::error::Error for FrameError {}

/// lz4 streaming decoder: the last 64 KiB of text as history, and the text of the last block
/// until it is read.
#[derive(Debug)]
pub struct Decoder {
    buf: Box<[u8]>,
    /// The end of the text decoded so far (history and the last block).
    end: usize,
    /// The start of the last block's text not read yet.
    read: usize,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder at the start of a stream (no history).
    pub fn new() -> Decoder {
        Decoder { buf: vec![0u8; HISTORY].into_boxed_slice(), end: 0, read: 0 }
    }

    /// Decode one block (what follows a header) against the history; its text is then
    /// [`pending`](Self::pending). Call only once the previous block's text was all read.
    pub fn decompress(&mut self, block: &[u8]) -> Result<(), FrameError> {
        debug_assert_eq!(self.read, self.end, "the previous block's text was not all read");
        if block.is_empty() {
            return Err(FrameError::Empty);
        }
        // Room for one byte more than a message (see below).
        if self.end + MAX_MESSAGE + 1 > self.buf.len() {
            // Keep the window, move it to the front.
            let keep = self.end.min(WINDOW);
            self.buf.copy_within(self.end - keep..self.end, 0);
            self.end = keep;
        }
        let (history, free) = self.buf.split_at_mut(self.end);
        let dict = &history[history.len().saturating_sub(WINDOW)..];
        // One byte more than allowed, to tell "too large" from "exactly the limit".
        let n = lz4_flex::block::decompress_into_with_dict(block, &mut free[..MAX_MESSAGE + 1], dict)
            .map_err(|e| match e {
                lz4_flex::block::DecompressError::OutputTooSmall { .. } => FrameError::TooLarge,
                e => FrameError::Corrupt(e.to_string()),
            })?;
        if n > MAX_MESSAGE {
            return Err(FrameError::TooLarge);
        }
        self.read = self.end;
        self.end += n;
        Ok(())
    }

    /// The decoded text not read yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.read..self.end]
    }

    /// Mark `n` bytes of [`pending`](Self::pending) as read.
    pub fn consume(&mut self, n: usize) {
        self.read = (self.read + n).min(self.end);
    }
}

/// netdata's sending side of the framing, for tests and the replay benchmark
/// (`examples/stream_replay.rs`); rrdpipe itself never sends a stream. Each message becomes one
/// frame whose block may copy from the last 64 KiB of text before it, as netdata's sender does.
#[derive(Debug, Default)]
pub struct Encoder {
    /// The text sent so far, at least its last [`WINDOW`] bytes.
    text: Vec<u8>,
}

impl Encoder {
    /// An encoder at the start of a stream.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Append `message` to `out` as frames: one, unless it is longer than [`MAX_MESSAGE`] or
    /// its block longer than [`MAX_BLOCK`], when it is split in halves.
    pub fn frame(&mut self, message: &[u8], out: &mut Vec<u8>) {
        if message.is_empty() {
            return;
        }
        let dict = &self.text[self.text.len().saturating_sub(WINDOW)..];
        let block = lz4_flex::block::compress_with_dict(message, dict);
        if message.len() > MAX_MESSAGE || block.len() > MAX_BLOCK {
            let (a, b) = message.split_at(message.len() / 2);
            self.frame(a, out);
            self.frame(b, out);
            return;
        }
        out.extend_from_slice(&encode_header(block.len()));
        out.extend_from_slice(&block);
        self.text.extend_from_slice(message);
        if self.text.len() > 2 * WINDOW {
            self.text.drain(..self.text.len() - WINDOW);
        }
    }
}

/// Byte counts of a compressed connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Bytes received (headers and blocks).
    pub compressed: u64,
    /// Text decoded from them.
    pub decompressed: u64,
    /// Frames decoded.
    pub frames: u64,
}

/// A compressed connection read as the text it carries: [`Read`] gives decoded text, and the
/// descriptor is the connection's, so a [`LineReader`](crate::collect::plugins_d::lines::LineReader)
/// reads lines from it as from a plain one. Each `read` reads the connection at most once;
/// when that brought only part of a frame it fails with `WouldBlock` (the line reader then
/// waits again). A broken stream fails with `InvalidData` holding a [`FrameError`].
#[derive(Debug)]
pub struct Lz4Reader<R> {
    inner: R,
    decoder: Decoder,
    raw: Box<[u8]>,
    raw_start: usize,
    raw_end: usize,
    eof: bool,
    stats: FrameStats,
}

impl<R: Read + AsRawFd> Lz4Reader<R> {
    /// Read the compressed stream of `inner` from its first frame.
    pub fn new(inner: R) -> Lz4Reader<R> {
        Lz4Reader {
            inner,
            decoder: Decoder::new(),
            raw: vec![0u8; READ_AHEAD].into_boxed_slice(),
            raw_start: 0,
            raw_end: 0,
            eof: false,
            stats: FrameStats::default(),
        }
    }

    /// Byte counts so far.
    pub fn stats(&self) -> FrameStats {
        self.stats
    }

    /// The next whole frame's block in the read-ahead, consumed; `None` while it has not all
    /// arrived.
    fn next_block(&mut self) -> Result<Option<(usize, usize)>, FrameError> {
        let avail = &self.raw[self.raw_start..self.raw_end];
        let Some(header) = avail.first_chunk::<HEADER_SIZE>() else { return Ok(None) };
        let len = decode_header(*header).ok_or(FrameError::BadSignature(*header))?;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if avail.len() < HEADER_SIZE + len {
            return Ok(None);
        }
        let start = self.raw_start + HEADER_SIZE;
        self.raw_start = start + len;
        Ok(Some((start, start + len)))
    }

    /// Decode the next whole frame, if one has arrived; whether one was.
    fn decode_next(&mut self) -> Result<bool, FrameError> {
        let Some((s, e)) = self.next_block()? else { return Ok(false) };
        self.decoder.decompress(&self.raw[s..e])?;
        self.stats.frames += 1;
        self.stats.decompressed += self.decoder.pending().len() as u64;
        Ok(true)
    }

    /// Read once from the connection into the read-ahead.
    fn fill(&mut self) -> io::Result<()> {
        if self.raw_start > 0 {
            self.raw.copy_within(self.raw_start..self.raw_end, 0);
            self.raw_end -= self.raw_start;
            self.raw_start = 0;
        }
        match self.inner.read(&mut self.raw[self.raw_end..])? {
            0 => self.eof = true,
            n => {
                self.raw_end += n;
                self.stats.compressed += n as u64;
            }
        }
        Ok(())
    }
}

fn invalid(e: FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<R: Read + AsRawFd> Read for Lz4Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut filled = false;
        loop {
            let pending = self.decoder.pending();
            if !pending.is_empty() {
                let n = pending.len().min(out.len());
                out[..n].copy_from_slice(&pending[..n]);
                self.decoder.consume(n);
                return Ok(n);
            }
            if self.decode_next().map_err(invalid)? {
                continue;
            }
            if self.eof {
                return match self.raw_end - self.raw_start {
                    0 => Ok(0),
                    n => Err(invalid(FrameError::Truncated(n))),
                };
            }
            if filled {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.fill()?;
            filled = true;
        }
    }
}

/// Writes go to the connection as they are: a parent's replies are never compressed.
impl<R: Write> Write for Lz4Reader<R> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: AsRawFd> AsRawFd for Lz4Reader<R> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl<R: Input> Input for Lz4Reader<R> {
    fn has_buffered(&mut self) -> bool {
        if !self.decoder.pending().is_empty() {
            return true;
        }
        // A whole frame (or a broken header, to be reported) is waiting.
        let avail = &self.raw[self.raw_start..self.raw_end];
        let whole = match avail.first_chunk::<HEADER_SIZE>() {
            Some(h) => decode_header(*h).is_none_or(|len| avail.len() >= HEADER_SIZE + len),
            None => false,
        };
        // Or the layer below (a TLS session) holds bytes that came with the last records.
        whole || self.inner.has_buffered()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    /// One message as one frame.
    fn frame(e: &mut Encoder, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        e.frame(message, &mut out);
        out
    }

    #[test]
    fn headers_are_netdatas_signature_with_the_length_in_two_7_bit_groups() {
        assert_eq!(encode_header(0x1234), [0xfa, 0x80 | 0x34, 0x80 | 0x24, b'\n']);
        assert_eq!(encode_header(5), [0xfa, 0x85, 0x80, 0x0a]);
        assert_eq!(encode_header(MAX_BLOCK), [0xfa, 0xff, 0xff, 0x0a]);
        for len in [1, 127, 128, 300, 16383] {
            assert_eq!(decode_header(encode_header(len)), Some(len));
        }
        // netdata's own encoding of 1000 (a little-endian u32 of `len << 8 | SIGNATURE`-style bits).
        let netdata_1000 = (((1000u32 & 0x7f) | 0x80 | (((1000 & (0x7f << 7)) << 1) | 0x8000)) << 8)
            | ((b'z' as u32 | 0x80) | (0x80 << 8) | (0x80 << 16) | ((b'\n' as u32) << 24));
        assert_eq!(decode_header(netdata_1000.to_le_bytes()), Some(1000));
        for bad in [*b"CHAR", [0xfa, 0x05, 0x80, b'\n'], [0xfa, 0x85, 0x80, b' '], [0x7a, 0x85, 0x80, b'\n']]
        {
            assert_eq!(decode_header(bad), None, "{bad:x?}");
        }
    }

    #[test]
    fn a_literal_block_decodes_from_bytes() {
        // lz4 block: token 0x50 (5 literals, no match), "hello".
        let frame: &[u8] = &[0xfa, 0x86, 0x80, b'\n', 0x50, b'h', b'e', b'l', b'l', b'o'];
        assert_eq!(decode_header(frame[..4].try_into().unwrap()), Some(6));
        let mut d = Decoder::new();
        d.decompress(&frame[4..]).unwrap();
        assert_eq!(d.pending(), b"hello");
        // The next block copies 5 bytes from 5 back, in the previous block: token 0x01 (no
        // literal, match of 4+1), offset 5, then the 5 literals lz4 requires at the end.
        d.consume(5);
        d.decompress(&[0x01, 0x05, 0x00, 0x50, b'!', b'!', b'!', b'!', b'\n']).unwrap();
        assert_eq!(d.pending(), b"hello!!!!\n");
    }

    #[test]
    fn blocks_copy_from_earlier_blocks_over_compactions() {
        let mut sender = Encoder::new();
        let mut d = Decoder::new();
        let mut wire = 0usize;
        let mut text = 0usize;
        for i in 0..3000 {
            let msg = format!(
                "BEGIN \"system.cpu\" 1000000\nSET \"user\" = {}\nSET \"system\" = {}\nEND\n",
                i * 7,
                i % 13
            );
            let f = frame(&mut sender, msg.as_bytes());
            wire += f.len();
            text += msg.len();
            let len = decode_header(f[..4].try_into().unwrap()).unwrap();
            assert_eq!(len, f.len() - 4);
            d.decompress(&f[4..]).unwrap();
            assert_eq!(d.pending(), msg.as_bytes(), "message {i}");
            d.consume(msg.len());
        }
        assert!(wire * 3 < text, "the history is used: {wire} bytes for {text}");
    }

    #[test]
    fn full_messages_fill_the_buffer_to_its_end_and_are_compacted() {
        // Six messages of the largest size: the sixth starts exactly one message before the
        // end of the buffer, so it is decoded after the window is moved to the front.
        let mut sender = Encoder::new();
        let mut d = Decoder::new();
        for i in 0..12u8 {
            let msg: Vec<u8> = (0..MAX_MESSAGE).map(|j| b'a' + ((j / 100) as u8 + i) % 26).collect();
            let f = frame(&mut sender, &msg);
            assert_eq!(decode_header(f[..4].try_into().unwrap()), Some(f.len() - 4), "one frame");
            d.decompress(&f[4..]).unwrap();
            assert_eq!(d.pending(), &msg[..], "message {i}");
            d.consume(MAX_MESSAGE);
        }
    }

    #[test]
    fn a_block_needing_history_fails_without_it() {
        let mut sender = Encoder::new();
        let msg = b"SET \"a_long_dimension_name\" = 12345\n".repeat(4);
        frame(&mut sender, &msg);
        let second = frame(&mut sender, &msg);
        let mut fresh = Decoder::new();
        assert!(matches!(fresh.decompress(&second[4..]), Err(FrameError::Corrupt(_))));
    }

    #[test]
    fn oversized_and_empty_blocks_are_errors() {
        let mut d = Decoder::new();
        let big = lz4_flex::block::compress(&vec![b'x'; MAX_MESSAGE + 1]);
        assert_eq!(d.decompress(&big), Err(FrameError::TooLarge));
        let exact = lz4_flex::block::compress(&vec![b'x'; MAX_MESSAGE]);
        d.decompress(&exact).unwrap();
        assert_eq!(d.pending().len(), MAX_MESSAGE);
        d.consume(MAX_MESSAGE);
        assert_eq!(d.decompress(&[]), Err(FrameError::Empty));
        // A match reaching before the start of the stream.
        assert!(matches!(Decoder::new().decompress(&[0x00, 0xff, 0xff]), Err(FrameError::Corrupt(_))));
    }

    #[test]
    fn the_encoder_splits_what_one_frame_cannot_hold() {
        // 40 000 bytes that do not compress: more than a message, and blocks over 14 bits.
        let mut x = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let wire = frame(&mut Encoder::new(), &noise);
        let mut d = Decoder::new();
        let (mut at, mut text, mut frames) = (0, Vec::new(), 0);
        while at < wire.len() {
            let len = decode_header(wire[at..at + 4].try_into().unwrap()).unwrap();
            assert!(len <= MAX_BLOCK);
            d.decompress(&wire[at + 4..at + 4 + len]).unwrap();
            text.extend_from_slice(d.pending());
            d.consume(usize::MAX);
            at += 4 + len;
            frames += 1;
        }
        assert_eq!(text, noise);
        assert_eq!(frames, 4, "halves of halves: 10 000 bytes a frame");
    }

    proptest::proptest! {
        /// Whatever a child sends, the decoder answers text or an error: no panic, never more
        /// than a frame's worth of text, and the same history for the next frame.
        #[test]
        fn arbitrary_blocks_decode_or_fail_cleanly(
            blocks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 1..8),
        ) {
            let mut d = Decoder::new();
            for b in &blocks {
                match d.decompress(b) {
                    Ok(()) => {
                        proptest::prop_assert!(d.pending().len() <= MAX_MESSAGE);
                        d.consume(usize::MAX);
                    }
                    Err(FrameError::Empty) => proptest::prop_assert!(b.is_empty()),
                    Err(_) => {}
                }
            }
        }

        /// A real stream with one byte changed: text up to the damage, then an error or text;
        /// never a panic.
        #[test]
        fn a_damaged_stream_is_read_up_to_an_error(at in 0usize..2000, xor in 1u8..=255) {
            let mut e = Encoder::new();
            let mut wire = Vec::new();
            for i in 0..40 {
                e.frame(format!("BEGIN \"c{}\" 0\nSET \"x\" = {i}\nEND\n", i % 4).as_bytes(), &mut wire);
            }
            let at = at % wire.len();
            wire[at] ^= xor;
            let (mut w, r) = UnixStream::pair().unwrap();
            w.write_all(&wire).unwrap();
            drop(w);
            let mut reader = Lz4Reader::new(r);
            let (text, _end) = read_all(&mut reader);
            proptest::prop_assert!(text.len() <= 40 * MAX_MESSAGE);
        }
    }

    fn read_all(r: &mut Lz4Reader<UnixStream>) -> (Vec<u8>, io::Result<usize>) {
        let mut text = Vec::new();
        let mut buf = [0u8; 100];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (text, Ok(0)),
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return (text, Err(e)),
            }
        }
    }

    #[test]
    fn the_reader_gives_the_text_of_frames_split_anywhere() {
        let mut sender = Encoder::new();
        let mut wire = Vec::new();
        let mut text = Vec::new();
        for i in 0..200 {
            let msg = format!("CHART \"c{i}\" \"\" \"t\" \"u\"\nDIMENSION \"d\" \"\" absolute 1 1\n");
            wire.extend(frame(&mut sender, msg.as_bytes()));
            text.extend_from_slice(msg.as_bytes());
        }
        let (mut w, r) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            for chunk in wire.chunks(7) {
                w.write_all(chunk).unwrap();
            }
        });
        let mut reader = Lz4Reader::new(r);
        let (got, end) = read_all(&mut reader);
        writer.join().unwrap();
        assert_eq!(end.unwrap(), 0);
        assert_eq!(got, text);
        let st = reader.stats();
        assert_eq!((st.frames, st.decompressed), (200, text.len() as u64));
    }

    #[test]
    fn the_reader_reports_a_bad_signature_and_a_truncated_frame() {
        let mut sender = Encoder::new();
        let good = frame(&mut sender, b"BEGIN \"x\" 0\nEND\n");
        let (mut w, r) = UnixStream::pair().unwrap();
        w.write_all(&good).unwrap();
        w.write_all(b"SET \"plain\" = 1\n").unwrap();
        drop(w);
        let mut reader = Lz4Reader::new(r);
        let (got, end) = read_all(&mut reader);
        assert_eq!(got, b"BEGIN \"x\" 0\nEND\n");
        let e = end.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().starts_with("bytes [53, 45, 54, 20] where a frame header was due"), "{e}");

        let (mut w, r) = UnixStream::pair().unwrap();
        w.write_all(&good[..good.len() - 1]).unwrap();
        drop(w);
        let (got, end) = read_all(&mut Lz4Reader::new(r));
        assert!(got.is_empty());
        assert_eq!(
            end.unwrap_err().to_string(),
            format!("the connection ended {} bytes into a frame", good.len() - 1)
        );
    }

    #[test]
    fn buffered_says_whether_a_read_needs_no_wait() {
        let mut sender = Encoder::new();
        let mut wire = frame(&mut sender, b"one\n");
        wire.extend(frame(&mut sender, b"two\n"));
        let (mut w, r) = UnixStream::pair().unwrap();
        w.write_all(&wire[..wire.len() - 2]).unwrap();
        let mut reader = Lz4Reader::new(r);
        assert!(!reader.has_buffered());
        let mut buf = [0u8; 2];
        assert_eq!(reader.read(&mut buf).unwrap(), 2);
        assert!(reader.has_buffered(), "the rest of the first frame's text");
        assert_eq!(reader.read(&mut buf).unwrap(), 2);
        assert!(!reader.has_buffered(), "the second frame is not whole");
        w.write_all(&wire[wire.len() - 2..]).unwrap();
        assert_eq!(reader.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf, b"tw");
    }
}
