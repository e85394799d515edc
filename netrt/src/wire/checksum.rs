//! The Internet checksum (RFC 1071), incremental updates (RFC 1624) and the
//! IPv4 pseudo-header.
//!
//! Terminology follows Linux: a *partial sum* (`csum_partial`, folded here to
//! 16 bits) is the one's complement sum of the data read as big-endian 16-bit
//! words, not inverted; the *checksum* written into a header is its
//! complement. A buffer whose stored checksum is right sums to `0xffff`.
//!
//! Partial sums combine: the sum of a chain of buffers is the one's
//! complement sum of their partial sums, with the partial of a buffer that
//! starts at an odd byte offset byte-swapped first ([`add_at`],
//! [`Checksum`]). That is what lets a checksum be computed over chained
//! buffers, or a payload checksum be reused when only a header changes.

use std::net::Ipv4Addr;

/// One's complement sum of `data` as big-endian 16-bit words, folded to 16
/// bits and not inverted (an odd trailing byte is padded with a zero byte).
///
/// Returns 0 only when every byte of `data` is 0; otherwise `1..=0xffff`.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let folded = fold(sum_native(data));
    // One's complement addition commutes with byte swapping (RFC 1071 §2B):
    // the sum of native-endian words is the byte-swapped sum of big-endian
    // words on a little-endian host, so its memory image is already the
    // network-order result.
    u16::from_be_bytes(folded.to_ne_bytes())
}

/// The checksum to store for `data`: the complement of [`sum`].
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Sums `data` as native-endian words into a wide accumulator.
///
/// Each 8-byte load is split into its two 32-bit halves, added into 64-bit
/// lanes: 2^32 ≡ 1 (mod 0xffff), so this keeps the one's complement sum, and
/// a lane absorbs 2^31 loads (16 GiB) before it could overflow. No carry is
/// handled inside the loop, the four lanes are independent, and the loop
/// vectorises.
#[inline]
fn sum_native(data: &[u8]) -> u64 {
    #[inline(always)]
    fn halves(word: [u8; 8]) -> u64 {
        let v = u64::from_ne_bytes(word);
        (v & 0xffff_ffff) + (v >> 32)
    }

    let (words, tail) = data.as_chunks::<8>();
    let (blocks, rest) = words.as_chunks::<4>();
    let mut lanes = [0u64; 4];
    for block in blocks {
        for (lane, &word) in lanes.iter_mut().zip(block) {
            *lane += halves(word);
        }
    }
    let mut acc = lanes.into_iter().fold(0, add64);
    for &word in rest {
        acc = add64(acc, halves(word));
    }
    if !tail.is_empty() {
        // The tail starts at a multiple of 8, so zero padding after it keeps
        // every byte in its lane: exactly RFC 1071's odd-byte rule.
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        acc = add64(acc, halves(last));
    }
    acc
}

/// 64-bit one's complement addition (end-around carry).
#[inline(always)]
fn add64(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

/// Folds a wide one's complement sum to 16 bits (end-around carry).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    // Four end-around folds bring any u64 down to 16 bits.
    acc as u16
}

/// One's complement addition of two partial sums (`csum_add`).
#[inline]
pub const fn add(a: u16, b: u16) -> u16 {
    let s = a as u32 + b as u32;
    ((s & 0xffff) + (s >> 16)) as u16
}

/// One's complement subtraction of a partial sum (`csum_sub`).
#[inline]
pub const fn sub(a: u16, b: u16) -> u16 {
    add(a, !b)
}

/// Adds the partial sum of a block that starts `offset` bytes into the
/// checksummed data (`csum_block_add`): a block at an odd offset has its
/// words straddling the pairs, so its sum is byte-swapped first.
#[inline]
pub const fn add_at(acc: u16, block: u16, offset: usize) -> u16 {
    if offset & 1 == 1 {
        add(acc, block.swap_bytes())
    } else {
        add(acc, block)
    }
}

/// One's complement sum of several partial sums of even-offset blocks.
#[inline]
pub fn combine(partials: &[u16]) -> u16 {
    partials.iter().fold(0, |acc, &p| add(acc, p))
}

/// Partial sum of the IPv4 pseudo-header (RFC 793/768): source, destination,
/// zero, protocol, and the transport length (header + payload).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let s = u32::from(src);
    let d = u32::from(dst);
    let acc = u64::from(s >> 16)
        + u64::from(s & 0xffff)
        + u64::from(d >> 16)
        + u64::from(d & 0xffff)
        + u64::from(protocol)
        + u64::from(length);
    fold(acc)
}

/// Incrementally updates a stored checksum after a 16-bit field changed
/// from `old` to `new` (RFC 1624, eqn. 3: `HC' = ~(~HC + ~m + m')`).
///
/// Used for TTL decrement when forwarding and for address/port rewrites.
/// Callers must skip it for a UDP checksum of 0 ("no checksum").
#[inline]
pub const fn update_u16(check: u16, old: u16, new: u16) -> u16 {
    !add(add(!check, !old), new)
}

/// [`update_u16`] for a changed 32-bit field (an IPv4 address).
#[inline]
pub const fn update_u32(check: u16, old: u32, new: u32) -> u16 {
    let acc = add(add(!check, !(old >> 16) as u16), !(old as u16));
    !add(add(acc, (new >> 16) as u16), new as u16)
}

/// Streaming partial sum over a chain of buffers of any lengths.
///
/// ```
/// use netrt::wire::checksum::{self, Checksum};
/// let data = [0x45u8, 0x00, 0x00, 0x1c, 0xab];
/// let mut c = Checksum::new();
/// c.add_bytes(&data[..3]);
/// c.add_bytes(&data[3..]);
/// assert_eq!(c.sum(), checksum::sum(&data));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    sum: u16,
    len: usize,
}

impl Checksum {
    /// An empty sum.
    #[inline]
    pub const fn new() -> Self {
        Checksum { sum: 0, len: 0 }
    }

    /// Starts from a partial sum that covers no bytes of the chain, e.g. a
    /// pseudo-header (its length does not shift the data's byte offsets).
    #[inline]
    pub const fn with_partial(partial: u16) -> Self {
        Checksum {
            sum: partial,
            len: 0,
        }
    }

    /// Appends the next buffer of the chain.
    #[inline]
    pub fn add_bytes(&mut self, data: &[u8]) -> &mut Self {
        self.add_partial(sum(data), data.len())
    }

    /// Appends a buffer of `len` bytes whose partial sum was already
    /// computed (for example a cached payload sum).
    #[inline]
    pub fn add_partial(&mut self, partial: u16, len: usize) -> &mut Self {
        self.sum = add_at(self.sum, partial, self.len);
        self.len = self.len.wrapping_add(len);
        self
    }

    /// Bytes appended so far.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when no byte was appended.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The partial sum so far.
    #[inline]
    pub const fn sum(&self) -> u16 {
        self.sum
    }

    /// The checksum to store: the complement of the sum.
    #[inline]
    pub const fn finish(&self) -> u16 {
        !self.sum
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 1071 taken literally: 16 bits at a time, carries folded at the end.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            acc += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            i += 2;
        }
        if i < data.len() {
            acc += u32::from(data[i]) << 8;
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: these bytes sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
        assert_eq!(naive_sum(&data), 0xddf2);
    }

    #[test]
    fn ipv4_header_vector() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(sum(&hdr), 0xffff, "a correct header sums to -0");
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(checksum(&hdr), 0xb861);
    }

    #[test]
    fn empty_zero_and_odd() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0; 37]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0xff; 2]), 0xffff);
        assert_eq!(sum(&[0xff; 3]), 0xff00); // 0xffff + 0xff00, carry folded
                                             // Carries out of every lane.
        assert_eq!(sum(&[0xff; 4096]), naive_sum(&[0xff; 4096]));
        assert_eq!(sum(&[0xff; 4099]), naive_sum(&[0xff; 4099]));
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(192, 168, 1, 10);
        let dst = Ipv4Addr::new(10, 200, 3, 255);
        let bytes = [192, 168, 1, 10, 10, 200, 3, 255, 0, 6, 0x05, 0xdc];
        assert_eq!(pseudo_header_v4(src, dst, 6, 1500), sum(&bytes));
    }

    #[test]
    fn seeded_random_against_naive() {
        // A deterministic xorshift sweep of every length 0..600 at every
        // alignment 0..8, besides the proptest below.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut buf = vec![0u8; 608];
        for b in buf.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        for offset in 0..8 {
            for len in 0..600 {
                let data = &buf[offset..offset + len];
                assert_eq!(sum(data), naive_sum(data), "offset {offset} len {len}");
            }
        }
    }

    proptest! {
        #[test]
        fn matches_naive(data in proptest::collection::vec(any::<u8>(), 0..3000), offset in 0usize..16) {
            let offset = offset.min(data.len());
            let slice = &data[offset..];
            prop_assert_eq!(sum(slice), naive_sum(slice));
        }

        #[test]
        fn chained_equals_whole(data in proptest::collection::vec(any::<u8>(), 0..600), cuts in proptest::collection::vec(0usize..600, 0..5)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut c = Checksum::new();
            let mut start = 0;
            for &cut in &cuts {
                c.add_bytes(&data[start..cut]);
                start = cut;
            }
            c.add_bytes(&data[start..]);
            prop_assert_eq!(c.len(), data.len());
            prop_assert_eq!(c.sum(), sum(&data));
            prop_assert_eq!(c.finish(), checksum(&data));
        }

        #[test]
        fn even_blocks_combine(a in proptest::collection::vec(any::<u8>(), 0..100), b in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut a = a;
            if a.len() % 2 == 1 { a.push(0x5a); }
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(combine(&[sum(&a), sum(&b)]), sum(&whole));
            // Subtraction is exact modulo 0xffff, where 0 and 0xffff are one value.
            let norm = |x: u16| if x == 0xffff { 0 } else { x };
            prop_assert_eq!(norm(sub(sum(&whole), sum(&b))), norm(sum(&a)));
        }

        #[test]
        fn incremental_update_matches_recompute(
            data in proptest::collection::vec(any::<u8>(), 4..200),
            idx in any::<prop::sample::Index>(),
            new16 in any::<u16>(),
            new32 in any::<u32>(),
        ) {
            let mut data = data;
            if data.len() % 2 == 1 { data.pop(); }
            data[0] |= 0x40; // a real header never sums to zero (version field)
            let words = data.len() / 2;
            let w = idx.index(words);
            let mut check = checksum(&data);

            let old16 = u16::from_be_bytes([data[2 * w], data[2 * w + 1]]);
            let new16 = if w == 0 { new16 | 0x4000 } else { new16 };
            data[2 * w..2 * w + 2].copy_from_slice(&new16.to_be_bytes());
            check = update_u16(check, old16, new16);
            prop_assert_eq!(check, checksum(&data));

            if words >= 3 {
                let w = 1 + idx.index(words - 2); // an aligned 32-bit field not touching word 0
                let old32 = u32::from_be_bytes(data[2 * w..2 * w + 4].try_into().unwrap());
                data[2 * w..2 * w + 4].copy_from_slice(&new32.to_be_bytes());
                check = update_u32(check, old32, new32);
                prop_assert_eq!(check, checksum(&data));
            }
        }
    }
}
