//! SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input
//! PRF"), the keyed hash behind TCP initial sequence numbers and SYN
//! cookies: a pseudo-random function of short inputs under a 128-bit
//! secret key, so off-path attackers cannot predict its outputs.
//! // linux: lib/siphash.c
//!
//! `std`'s `DefaultHasher` is SipHash-1-3 with an unspecified, changeable
//! algorithm; sequence numbers want a fixed, specified PRF.

use std::hash::{BuildHasher, RandomState};

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SipKey {
    k0: u64,
    k1: u64,
}

impl SipKey {
    /// The key from its 16 bytes (little-endian halves, as the paper).
    pub const fn from_bytes(b: [u8; 16]) -> SipKey {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            lo[i] = b[i];
            hi[i] = b[8 + i];
            i += 1;
        }
        SipKey {
            k0: u64::from_le_bytes(lo),
            k1: u64::from_le_bytes(hi),
        }
    }

    /// A fresh secret key.
    ///
    /// The entropy comes from `std`'s randomly seeded hasher keys (seeded
    /// from the OS per thread), stretched through two hashes; no syscall
    /// after the first use on a thread.
    pub fn random() -> SipKey {
        let state = RandomState::new();
        let k0 = state.hash_one(0x5eed_0000_u64);
        let k1 = RandomState::new().hash_one(k0 ^ 0x5eed_0001);
        SipKey { k0, k1 }
    }

    /// SipHash-2-4 of `data` under this key.
    #[inline]
    pub fn hash(&self, data: &[u8]) -> u64 {
        siphash24(self, data)
    }
}

impl std::fmt::Debug for SipKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret: never printed.
        f.write_str("SipKey(..)")
    }
}

/// The four-word SipHash state.
struct State([u64; 4]);

impl State {
    fn new(key: &SipKey) -> State {
        State([
            key.k0 ^ 0x736f_6d65_7073_6575,
            key.k1 ^ 0x646f_7261_6e64_6f6d,
            key.k0 ^ 0x6c79_6765_6e65_7261,
            key.k1 ^ 0x7465_6462_7974_6573,
        ])
    }

    #[inline(always)]
    fn round(&mut self) {
        let v = &mut self.0;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    #[inline(always)]
    fn compress(&mut self, m: u64) {
        self.0[3] ^= m;
        self.round();
        self.round();
        self.0[0] ^= m;
    }
}

/// SipHash-2-4 of `data` under `key`.
pub fn siphash24(key: &SipKey, data: &[u8]) -> u64 {
    let mut s = State::new(key);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        s.compress(u64::from_le_bytes(b));
    }
    // The last word: the remaining bytes, the length (mod 256) on top.
    let rest = words.remainder();
    let mut b = [0u8; 8];
    b[..rest.len()].copy_from_slice(rest);
    b[7] = data.len() as u8;
    s.compress(u64::from_le_bytes(b));
    s.0[2] ^= 0xff;
    for _ in 0..4 {
        s.round();
    }
    s.0[0] ^ s.0[1] ^ s.0[2] ^ s.0[3]
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The reference implementation's `vectors_sip64`, first 17 entries:
    /// key 00..0f, message 00..(n-1) for n = 0..16.
    const VECTORS: [u64; 17] = [
        0x726fdb47dd0e0e31,
        0x74f839c593dc67fd,
        0x0d6c8009d9a94f5a,
        0x85676696d7fb7e2d,
        0xcf2794e0277187b7,
        0x18765564cd99a68d,
        0xcbc9466e58fee3ce,
        0xab0200f58b01d137,
        0x93f5f5799a932462,
        0x9e0082df0ba9e4b0,
        0x7a5dbbc594ddb9f3,
        0xf4b32f46226bada7,
        0x751e8fbc860ee5fb,
        0x14ea5627c0843d90,
        0xf723ca908e7af2ee,
        0xa129ca6149be45e5,
        0x3f2acc7f57c29bdb,
    ];

    fn key() -> SipKey {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        SipKey::from_bytes(k)
    }

    #[test]
    fn reference_vectors() {
        let msg: Vec<u8> = (0..16).collect();
        for (n, want) in VECTORS.iter().enumerate() {
            assert_eq!(key().hash(&msg[..n]), *want, "length {n}");
        }
    }

    #[test]
    fn paper_appendix_example() {
        // Appendix A: the 15-byte message 00..0e.
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&key(), &msg), 0xa129ca6149be45e5);
    }

    #[test]
    fn random_keys_differ_and_are_not_printed() {
        let (a, b) = (SipKey::random(), SipKey::random());
        assert_ne!(a, b);
        assert_ne!(a.hash(b"x"), b.hash(b"x"));
        assert_eq!(format!("{a:?}"), "SipKey(..)");
    }
}
