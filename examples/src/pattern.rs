//! The deterministic body served by `GET /bytes/N` and a hash to check it.
//!
//! Byte `i` (counting from 0) of the body is `(i % 251) as u8`. 251 is
//! prime, so the pattern does not line up with any power-of-two buffer or
//! segment size: a lost, duplicated or reordered block changes the content,
//! not just the length. Reproduce it elsewhere with
//!
//! ```text
//! python3 -c 'import sys; n=int(sys.argv[1]); sys.stdout.buffer.write(bytes(i % 251 for i in range(n)))' N
//! ```
//!
//! and compare with `sha256sum` (the interop suite) or with [`fnv1a`] over
//! [`fill`] (the tests here; no crypto dependency needed).

/// The pattern's period in bytes.
pub const PERIOD: usize = 251;

/// A block of the pattern starting at offset 0, a whole number of periods
/// long, so `BLOCK[off % PERIOD..]` continues the pattern from any offset.
/// Static: serving a body allocates nothing.
pub static BLOCK: [u8; PERIOD * 256] = block();

const fn block() -> [u8; PERIOD * 256] {
    let mut b = [0u8; PERIOD * 256];
    let mut i = 0;
    while i < b.len() {
        b[i] = (i % PERIOD) as u8;
        i += 1;
    }
    b
}

/// Byte `i` of the pattern.
pub fn byte_at(i: u64) -> u8 {
    (i % PERIOD as u64) as u8
}

/// The longest run of the pattern starting at body offset `offset`, at
/// most `max` bytes long (never empty for `max > 0`).
pub fn slice_at(offset: u64, max: u64) -> &'static [u8] {
    let start = (offset % PERIOD as u64) as usize;
    let len = (BLOCK.len() - start).min(usize::try_from(max).unwrap_or(usize::MAX));
    &BLOCK[start..start + len]
}

/// Fills `buf` with the pattern from body offset `offset`.
pub fn fill(offset: u64, buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        let s = slice_at(offset + done as u64, (buf.len() - done) as u64);
        buf[done..done + s.len()].copy_from_slice(s);
        done += s.len();
    }
}

/// Incremental 64-bit FNV-1a, a cheap content check for bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The hash of nothing.
    pub fn new() -> Fnv1a {
        Fnv1a(Self::OFFSET)
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ b as u64).wrapping_mul(Self::PRIME);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a::new()
    }
}

/// FNV-1a of `data`.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h = Fnv1a::new();
    h.update(data);
    h.finish()
}

/// FNV-1a of the first `len` bytes of the pattern (what a correct
/// `GET /bytes/len` body hashes to).
pub fn pattern_hash(len: u64) -> u64 {
    let mut h = Fnv1a::new();
    let mut off = 0;
    while off < len {
        let s = slice_at(off, len - off);
        h.update(s);
        off += s.len() as u64;
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_the_pattern() {
        for (i, &b) in BLOCK.iter().enumerate() {
            assert_eq!(b, byte_at(i as u64));
        }
        assert_eq!(BLOCK[250], 250);
        assert_eq!(BLOCK[251], 0);
    }

    #[test]
    fn slices_continue_from_any_offset() {
        for off in [0u64, 1, 250, 251, 252, 64_255, 64_256, 1 << 40] {
            let s = slice_at(off, 10_000);
            assert!(!s.is_empty());
            for (k, &b) in s.iter().enumerate() {
                assert_eq!(b, byte_at(off + k as u64), "offset {off} + {k}");
            }
        }
        assert_eq!(slice_at(5, 3).len(), 3);
        assert!(slice_at(0, u64::MAX).len() == BLOCK.len());
    }

    #[test]
    fn fill_matches_byte_at() {
        let mut buf = vec![0u8; 200_000];
        fill(1234, &mut buf);
        assert!(buf
            .iter()
            .enumerate()
            .all(|(k, &b)| b == byte_at(1234 + k as u64)));
    }

    #[test]
    fn fnv_known_values() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        let mut h = Fnv1a::new();
        h.update(b"foo");
        h.update(b"bar");
        assert_eq!(h.finish(), fnv1a(b"foobar"));
    }

    #[test]
    fn pattern_hash_matches_materialised_body() {
        for len in [0u64, 1, 251, 100_000, 64_256 * 2 + 17] {
            let mut buf = vec![0u8; len as usize];
            fill(0, &mut buf);
            assert_eq!(pattern_hash(len), fnv1a(&buf), "len {len}");
        }
        assert_ne!(pattern_hash(1000), pattern_hash(1001));
    }
}
