//! Appending a line's short pieces to an output buffer without a library call per piece.
//!
//! One job: copy byte strings of a few to a few dozen bytes into a `Vec<u8>` fast. A line is
//! five or six such pieces, and `extend_from_slice` calls the C library's `memmove` for each
//! (its length is not known at compile time), which costs more than the copy. An [`Appender`]
//! copies each piece with a few fixed-size loads and stores (overlapping at the ends, never
//! outside the source or the reserved room) and sets the buffer's length once, when it is
//! dropped. A [`Room`] is one line's reservation: its pieces are written with only a bound
//! check against the reserved size, held in a register, and a literal padded in its source can
//! be copied in whole 16-byte moves. Pure: no I/O.

use std::ptr;

/// Writes into the spare capacity of a `Vec<u8>`; see the module docs.
pub struct Appender<'a> {
    out: &'a mut Vec<u8>,
    /// Bytes written: `out`'s length once committed.
    len: usize,
}

impl<'a> Appender<'a> {
    /// An appender with room for `expect` more bytes (more is reserved when a piece needs it).
    #[inline]
    pub fn new(out: &'a mut Vec<u8>, expect: usize) -> Appender<'a> {
        out.reserve(expect);
        let len = out.len();
        Appender { out, len }
    }

    /// Room for `n` more bytes after what was written.
    #[inline]
    fn spare(&mut self, n: usize) -> *mut u8 {
        if self.out.capacity() - self.len < n {
            self.grow(n);
        }
        // SAFETY: `len ≤ capacity`, so the offset stays within (or one past) the allocation.
        unsafe { self.out.as_mut_ptr().add(self.len) }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        // SAFETY: bytes up to `len` were all written by this appender (or were there before).
        unsafe { self.out.set_len(self.len) };
        self.out.reserve(n);
    }

    /// Appends `src`.
    #[inline]
    pub fn bytes(&mut self, src: &[u8]) {
        self.room(src.len()).bytes(src);
    }

    /// Appends one byte.
    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.room(1).byte(b);
    }

    /// Appends `src` with every byte mapped through `map`.
    #[inline]
    pub fn mapped(&mut self, src: &[u8], map: &[u8; 256]) {
        self.room(src.len()).mapped(src, map);
    }

    /// Reserves `max` bytes for one line's pieces, written through the [`Room`] with no
    /// capacity check each, only a bound check against `max` held in a register. What was
    /// written is committed when the room is dropped.
    #[inline(always)]
    pub fn room(&mut self, max: usize) -> Room<'_> {
        let dst = self.spare(max);
        Room { dst, len: 0, max, committed: &mut self.len }
    }

    /// Runs a writer that takes a `Vec` on the buffer, with what was appended so far; appending
    /// goes on after what it wrote.
    #[inline]
    pub fn with_vec(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        // SAFETY: bytes up to `len` were all written, and `len ≤ capacity`.
        unsafe { self.out.set_len(self.len) };
        write(self.out);
        self.len = self.out.len();
    }
}

/// `max` reserved bytes of a buffer's spare capacity, filled from the start; see
/// [`Appender::room`]. Every write checks that it stays within `max` (a compare of two
/// registers) and panics otherwise, so a miscounted reservation can never write out of bounds.
pub struct Room<'a> {
    dst: *mut u8,
    len: usize,
    max: usize,
    /// The appender's length, advanced by `len` on drop.
    committed: &'a mut usize,
}

impl Drop for Room<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        *self.committed += self.len;
    }
}

impl Room<'_> {
    /// Where the next `n` bytes go.
    #[inline(always)]
    fn next(&mut self, n: usize) -> *mut u8 {
        assert!(n <= self.max - self.len, "a line outgrew the room reserved for it");
        // SAFETY: `len + n ≤ max`, and `max` bytes from `dst` are spare capacity of one buffer.
        unsafe { self.dst.add(self.len) }
    }

    /// Appends `src`.
    #[inline(always)]
    pub fn bytes(&mut self, src: &[u8]) {
        let n = src.len();
        let dst = self.next(n);
        // SAFETY: `next` checked the `n` bytes at `dst`; spare capacity overlaps no slice.
        unsafe { copy_short(src.as_ptr(), dst, n) };
        self.len += n;
    }

    /// Appends one byte.
    #[inline(always)]
    pub fn byte(&mut self, b: u8) {
        let dst = self.next(1);
        // SAFETY: `next` checked the byte at `dst`.
        unsafe { dst.write(b) };
        self.len += 1;
    }

    /// Appends the first `n` (at most 8) bytes of `word` in little-endian order: one 8-byte
    /// store, whose bytes past `n` the next piece overwrites (or the buffer's length hides).
    #[inline(always)]
    pub fn word(&mut self, word: u64, n: usize) {
        debug_assert!(n <= 8);
        let dst = self.next(8);
        // SAFETY: `next` checked the 8 bytes at `dst`.
        unsafe { ptr::write_unaligned(dst.cast::<[u8; 8]>(), word.to_le_bytes()) };
        self.len += n;
    }

    /// Appends the first `n` bytes of `src`, copied 16 bytes at a time: `src` must hold `n`
    /// rounded up to a multiple of 16 (a padded literal), and the room as much. The bytes
    /// written past `n` are overwritten by the next piece or hidden by the buffer's length.
    #[inline(always)]
    pub fn padded(&mut self, src: &[u8], n: usize) {
        let whole = n.next_multiple_of(16);
        assert!(whole <= src.len(), "a padded piece lacks its padding");
        let dst = self.next(whole);
        let mut i = 0;
        while i < n {
            // SAFETY: `i + 16 ≤ whole`, checked against `src` and by `next` against the room.
            unsafe { move_n::<16>(src.as_ptr().add(i), dst.add(i)) };
            i += 16;
        }
        self.len += n;
    }

    /// Appends `src` with every byte mapped through `map`.
    #[inline(always)]
    pub fn mapped(&mut self, src: &[u8], map: &[u8; 256]) {
        let dst = self.next(src.len());
        for (i, &b) in src.iter().enumerate() {
            // SAFETY: `next` checked `src.len()` bytes at `dst`; `i < src.len()`.
            unsafe { dst.add(i).write(map[b as usize]) };
        }
        self.len += src.len();
    }
}

impl Drop for Appender<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: bytes up to `len` were all written, and `len ≤ capacity`.
        unsafe { self.out.set_len(self.len) };
    }
}

/// Copies `n` bytes from `src` to `dst` with fixed-size moves: two overlapping moves cover
/// any length from one size to twice it.
///
/// # Safety
/// `src` must be readable and `dst` writable for `n` bytes, and the two must not overlap.
#[inline]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    unsafe {
        if n >= 16 {
            let mut i = 0;
            while i + 16 <= n {
                move_n::<16>(src.add(i), dst.add(i));
                i += 16;
            }
            if i < n {
                move_n::<16>(src.add(n - 16), dst.add(n - 16));
            }
        } else if n >= 8 {
            move_n::<8>(src, dst);
            move_n::<8>(src.add(n - 8), dst.add(n - 8));
        } else if n >= 4 {
            move_n::<4>(src, dst);
            move_n::<4>(src.add(n - 4), dst.add(n - 4));
        } else if n > 0 {
            dst.write(src.read());
            dst.add(n / 2).write(src.add(n / 2).read());
            dst.add(n - 1).write(src.add(n - 1).read());
        }
    }
}

/// # Safety
/// As [`copy_short`], for `N` bytes.
#[inline(always)]
unsafe fn move_n<const N: usize>(src: *const u8, dst: *mut u8) {
    unsafe { ptr::write_unaligned(dst.cast::<[u8; N]>(), ptr::read_unaligned(src.cast::<[u8; N]>())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length from 0 to 100, at every offset into the buffer, with and without room
    /// reserved: the bytes land exactly, nothing before them changes.
    #[test]
    fn every_length_lands_exactly() {
        let src: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
        for prefix in 0..20 {
            for n in 0..=100 {
                for expect in [0, n, 200] {
                    let mut out: Vec<u8> = (0..prefix as u8).collect();
                    {
                        let mut a = Appender::new(&mut out, expect);
                        a.bytes(&src[..n]);
                        a.byte(b'|');
                        a.bytes(&src[100 - n..]);
                    }
                    let mut want: Vec<u8> = (0..prefix as u8).collect();
                    want.extend_from_slice(&src[..n]);
                    want.push(b'|');
                    want.extend_from_slice(&src[100 - n..]);
                    assert_eq!(out, want, "prefix {prefix}, n {n}, expect {expect}");
                }
            }
        }
    }

    /// A word's first `n` bytes land; the bytes it stored past them are overwritten by the
    /// next piece or cut off by the length.
    #[test]
    fn words_keep_their_first_bytes() {
        for n in 0..=8 {
            let mut out = b"ab".to_vec();
            {
                let mut a = Appender::new(&mut out, 0);
                a.room(8).word(u64::from_le_bytes(*b"12345678"), n);
                a.byte(b'|');
                a.room(8).word(u64::from_le_bytes(*b"xyzXYZ!?"), n);
            }
            let mut want = b"ab".to_vec();
            want.extend_from_slice(&b"12345678"[..n]);
            want.push(b'|');
            want.extend_from_slice(&b"xyzXYZ!?"[..n]);
            assert_eq!(out, want, "n {n}");
        }
    }

    /// A padded piece of every length lands exactly after any prefix; the bytes it copies past
    /// its length are overwritten by the next piece or cut off by the buffer's length.
    #[test]
    fn padded_pieces_land_exactly() {
        let padded: Vec<u8> = (0..80u8).map(|i| b'a' + i % 26).collect();
        for prefix in 0..5 {
            for n in 0..=64usize {
                let mut out: Vec<u8> = b"xyzw"[..prefix].to_vec();
                {
                    let mut a = Appender::new(&mut out, 0);
                    let mut r = a.room(n.next_multiple_of(16) + 1);
                    r.padded(&padded, n);
                    r.byte(b'|');
                }
                let mut want = b"xyzw"[..prefix].to_vec();
                want.extend_from_slice(&padded[..n]);
                want.push(b'|');
                assert_eq!(out, want, "prefix {prefix}, n {n}");
            }
        }
    }

    /// A room never writes past what was reserved for it, nor a padded piece past its source:
    /// a miscounted reservation stops with a panic instead of writing out of bounds.
    #[test]
    #[should_panic(expected = "a line outgrew the room reserved for it")]
    fn a_room_refuses_to_outgrow_its_reservation() {
        let mut out = Vec::new();
        let mut a = Appender::new(&mut out, 0);
        let mut r = a.room(10);
        r.bytes(b"0123456789");
        r.byte(b'!');
    }

    #[test]
    #[should_panic(expected = "a padded piece lacks its padding")]
    fn a_padded_piece_needs_its_padding() {
        let mut out = Vec::new();
        let mut a = Appender::new(&mut out, 0);
        a.room(64).padded(b"only 17 bytes....", 17);
    }

    #[test]
    fn mapped_and_vec_interleave() {
        let mut map = [0u8; 256];
        for (i, m) in map.iter_mut().enumerate() {
            *m = if (i as u8).is_ascii_lowercase() { i as u8 - 32 } else { b'_' };
        }
        let mut out = b"x".to_vec();
        {
            let mut a = Appender::new(&mut out, 4);
            a.mapped(b"ab c", &map);
            a.with_vec(|v| v.extend_from_slice(b" via vec "));
            a.bytes(b"tail");
            a.mapped(b"zz", &map);
        }
        assert_eq!(out, b"xAB_C via vec tailZZ");
    }
}
