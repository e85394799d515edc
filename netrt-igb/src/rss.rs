//! Receive-side scaling: the Toeplitz hash and the redirection table.
//!
//! The igb computes a 32-bit Toeplitz hash over the flow's addresses (and
//! ports) with a 40-byte secret key, then picks the receive queue as
//! `RETA[hash & 0x7F] & 0xF`. The same function is used by the device model
//! (to steer frames) and by the stack (to predict where a flow lands, e.g.
//! when `connect` picks an ephemeral port).
//!
//! Definition: for every set bit `i` of the input (most significant bit of
//! byte 0 first) the 32-bit window of the key starting at bit `i` is XORed
//! into the result. [`Toeplitz`] precomputes, per input byte position, the
//! XOR of the windows selected by each of the 256 byte values, so hashing
//! costs one table load per input byte.

use std::net::Ipv4Addr;

use crate::loom::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Length of the igb RSS key in bytes (`RSSRK` holds 10 registers).
pub const KEY_LEN: usize = 40;

/// Longest input a 40-byte key can hash (the last window needs 4 key bytes).
pub const MAX_INPUT: usize = KEY_LEN - 4;

/// Symmetric key: `0x6d5a` repeated. Its windows repeat every 16 bits, so
/// swapping source and destination (addresses 32 bits apart, ports 16 bits
/// apart) does not change the hash: hash(a→b) == hash(b→a). Both directions
/// of a flow therefore land on the same queue index.
pub const SYMMETRIC_KEY: [u8; KEY_LEN] = {
    let mut key = [0u8; KEY_LEN];
    let mut i = 0;
    while i < KEY_LEN {
        key[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    key
};

/// Key of the classic RSS verification suite (Microsoft's sample key).
pub const VERIFICATION_KEY: [u8; KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// Number of redirection table entries.
pub const RETA_SIZE: usize = 128;

/// Toeplitz hash of `input` under `key`, computed bit by bit.
///
/// Reference implementation: slow but obviously correct. Input bytes
/// beyond what the key covers (the first `key.len() - 4`) are ignored, the
/// same as hardware that never hashes more than its key allows.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let covered = input.len().min(key.len().saturating_sub(4));
    let mut hash = 0u32;
    for bit in 0..covered * 8 {
        if input[bit / 8] & (0x80 >> (bit % 8)) != 0 {
            hash ^= key_window(key, bit).unwrap_or(0);
        }
    }
    hash
}

/// The 32 key bits starting at bit `bit` (MSB of byte 0 is bit 0), or
/// `None` when the key is too short to supply them.
fn key_window(key: &[u8], bit: usize) -> Option<u32> {
    let byte = bit / 8;
    if bit + 32 > key.len() * 8 {
        return None;
    }
    // Five bytes cover any 32-bit window starting inside `byte`.
    let mut wide = 0u64;
    for i in 0..5 {
        wide = wide << 8 | u64::from(key.get(byte + i).copied().unwrap_or(0));
    }
    Some((wide >> (8 - bit % 8)) as u32)
}

/// Entries per input byte of a lookup table: two nibbles of 16 values.
const ROW: usize = 32;

/// Fills a nibble lookup table for `key` covering `rows` input bytes:
/// entry `(pos * 2 + half) * 16 + v` is the XOR of the key windows selected
/// by the set bits of nibble value `v`, where half 0 is the high nibble of
/// input byte `pos` and half 1 the low one. Nibbles (rather than whole
/// bytes) keep the table at 1 KiB per key and cheap to republish.
fn fill_table(key: &[u8], rows: usize, mut set: impl FnMut(usize, u32)) {
    for pos in 0..rows {
        for half in 0..2 {
            // Windows for the nibble's bits, most significant first.
            let first_bit = pos * 8 + half * 4;
            let windows: [u32; 4] =
                std::array::from_fn(|b| key_window(key, first_bit + b).unwrap_or(0));
            let mut entries = [0u32; 16];
            for v in 1..16usize {
                // From the value without its lowest set bit: one XOR each.
                let low = v.trailing_zeros() as usize; // counted from the LSB
                entries[v] = entries[v & (v - 1)] ^ windows[3 - low];
            }
            for (v, &h) in entries.iter().enumerate() {
                set((pos * 2 + half) * 16 + v, h);
            }
        }
    }
}

/// Input bytes a table for `key` must cover to hash up to `max_input`.
fn table_rows(key: &[u8], max_input: usize) -> usize {
    key.len().min(KEY_LEN).saturating_sub(4).min(max_input)
}

/// Toeplitz hasher with a precomputed table for one key: two loads per
/// input byte.
#[derive(Clone)]
pub struct Toeplitz {
    table: Box<[u32]>,
    rows: usize,
}

impl Toeplitz {
    /// Precomputes the table for `key` (at most [`KEY_LEN`] bytes are used).
    pub fn new(key: &[u8]) -> Self {
        let rows = table_rows(key, MAX_INPUT);
        let mut table = vec![0u32; rows * ROW].into_boxed_slice();
        fill_table(key, rows, |i, h| table[i] = h);
        Toeplitz { table, rows }
    }

    /// Hash of `input`; bytes beyond what the key covers are ignored.
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        input
            .iter()
            .take(self.rows)
            .enumerate()
            .fold(0, |h, (pos, &b)| {
                let row = &self.table[pos * ROW..pos * ROW + ROW];
                h ^ row[usize::from(b >> 4)] ^ row[16 + usize::from(b & 0xF)]
            })
    }
}

impl std::fmt::Debug for Toeplitz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toeplitz")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// Hash input for an IPv4 2-tuple: source address, destination address,
/// in network byte order.
pub fn ipv4_2tuple(src: Ipv4Addr, dst: Ipv4Addr) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&src.octets());
    out[4..].copy_from_slice(&dst.octets());
    out
}

/// Hash input for an IPv4 4-tuple (TCP or UDP): source address, destination
/// address, source port, destination port, in network byte order.
pub fn ipv4_4tuple(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&ipv4_2tuple(src, dst));
    out[8..10].copy_from_slice(&src_port.to_be_bytes());
    out[10..].copy_from_slice(&dst_port.to_be_bytes());
    out
}

/// Queue chosen by a redirection table for `hash`:
/// `RETA[hash & 0x7F] & 0xF`.
#[inline]
pub fn reta_queue(reta: &[u8; RETA_SIZE], hash: u32) -> u16 {
    u16::from(reta[(hash & 0x7F) as usize] & 0x0F)
}

/// Redirection table spreading `queues` queues round-robin over the 128
/// entries (what Linux's `igb_setup_mrqc` writes by default).
pub fn default_reta(queues: u16) -> [u8; RETA_SIZE] {
    let queues = queues.clamp(1, 16);
    std::array::from_fn(|i| (i % usize::from(queues)) as u8)
}

/// A [`Toeplitz`] table that one writer may replace while many readers hash
/// concurrently, without a lock on the read side.
///
/// Readers never write shared memory (no reference count, no reader lock):
/// a seqlock. The writer (serialised by the caller) makes the sequence odd,
/// rewrites the table, and makes it even again; a reader that sees an odd
/// or changed sequence retries. The table entries are atomics so a torn
/// read is merely discarded, never undefined behaviour. Used by the device
/// model, whose `RSSRK` writes are rare and whose RX path hashes per frame
/// from many transmitting threads.
pub struct SharedToeplitz {
    seq: AtomicU64,
    rows: usize,
    table: Box<[AtomicU32]>,
}

impl SharedToeplitz {
    /// A hasher for `key`, able to hash inputs of up to `max_input` bytes.
    pub fn new(key: &[u8], max_input: usize) -> Self {
        let rows = max_input.min(MAX_INPUT);
        let table = (0..rows * ROW).map(|_| AtomicU32::new(0)).collect();
        let this = SharedToeplitz {
            seq: AtomicU64::new(0),
            rows,
            table,
        };
        this.store_rows(key);
        this
    }

    /// Replaces the key. Callers must serialise writers (the device model
    /// holds its register-write lock); readers may run concurrently.
    pub fn set_key(&self, key: &[u8]) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before any table store (pairs with the
        // reader's acquire fence).
        fence(Ordering::Release);
        self.store_rows(key);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    fn store_rows(&self, key: &[u8]) {
        let rows = table_rows(key, self.rows);
        fill_table(key, rows, |i, h| self.table[i].store(h, Ordering::Relaxed));
        // A shorter key leaves no stale rows behind.
        for e in &self.table[rows * ROW..] {
            e.store(0, Ordering::Relaxed);
        }
    }

    /// Hash of `input` under the current key (bytes beyond the table's
    /// reach are ignored).
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let h = input
                    .iter()
                    .take(self.rows)
                    .enumerate()
                    .fold(0, |h, (pos, &b)| {
                        let row = &self.table[pos * ROW..pos * ROW + ROW];
                        h ^ row[usize::from(b >> 4)].load(Ordering::Relaxed)
                            ^ row[16 + usize::from(b & 0xF)].load(Ordering::Relaxed)
                    });
                // Orders the table loads before the re-check of the sequence.
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return h;
                }
            }
            // A writer is mid-update: wait for it (loom must see a yield).
            #[cfg(loom)]
            crate::loom::thread::yield_now();
            #[cfg(not(loom))]
            std::hint::spin_loop();
        }
    }
}

impl std::fmt::Debug for SharedToeplitz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedToeplitz")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// An address and port.
    type Endpoint = (Ipv4Addr, u16);

    /// (destination, source, 2-tuple hash, 4-tuple hash) from IGB.md.
    const VECTORS: [(Endpoint, Endpoint, u32, u32); 3] = [
        (
            (Ipv4Addr::new(161, 142, 100, 80), 1766),
            (Ipv4Addr::new(66, 9, 149, 187), 2794),
            0x323e8fc2,
            0x51ccc178,
        ),
        (
            (Ipv4Addr::new(65, 69, 140, 83), 4739),
            (Ipv4Addr::new(199, 92, 111, 2), 14230),
            0xd718262a,
            0xc626b0ea,
        ),
        (
            (Ipv4Addr::new(12, 22, 207, 184), 38024),
            (Ipv4Addr::new(24, 19, 198, 95), 12898),
            0xd2d0a5de,
            0x5c2b394a,
        ),
    ];

    #[test]
    fn verification_vectors_bitwise_and_table() {
        let fast = Toeplitz::new(&VERIFICATION_KEY);
        let shared = SharedToeplitz::new(&VERIFICATION_KEY, 12);
        for ((dst, dport), (src, sport), h2, h4) in VECTORS {
            let two = ipv4_2tuple(src, dst);
            let four = ipv4_4tuple(src, dst, sport, dport);
            assert_eq!(
                toeplitz(&VERIFICATION_KEY, &two),
                h2,
                "2-tuple {src}->{dst}"
            );
            assert_eq!(
                toeplitz(&VERIFICATION_KEY, &four),
                h4,
                "4-tuple {src}->{dst}"
            );
            assert_eq!(fast.hash(&two), h2);
            assert_eq!(fast.hash(&four), h4);
            assert_eq!(shared.hash(&two), h2);
            assert_eq!(shared.hash(&four), h4);
        }
    }

    #[test]
    fn symmetric_key_is_symmetric() {
        assert_eq!(&SYMMETRIC_KEY[..4], &[0x6d, 0x5a, 0x6d, 0x5a]);
        let t = Toeplitz::new(&SYMMETRIC_KEY);
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..1000 {
            // xorshift: arbitrary addresses and ports.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = Ipv4Addr::from((x >> 32) as u32);
            let b = Ipv4Addr::from(x as u32);
            let (pa, pb) = ((x >> 16) as u16, (x >> 40) as u16);
            let fwd = t.hash(&ipv4_4tuple(a, b, pa, pb));
            let rev = t.hash(&ipv4_4tuple(b, a, pb, pa));
            assert_eq!(fwd, rev);
            assert_eq!(fwd, toeplitz(&SYMMETRIC_KEY, &ipv4_4tuple(a, b, pa, pb)));
            assert_eq!(t.hash(&ipv4_2tuple(a, b)), t.hash(&ipv4_2tuple(b, a)));
        }
        // The verification key is not symmetric: the property is the key's.
        let v = Toeplitz::new(&VERIFICATION_KEY);
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        assert_ne!(
            v.hash(&ipv4_4tuple(a, b, 1000, 80)),
            v.hash(&ipv4_4tuple(b, a, 80, 1000))
        );
    }

    #[test]
    fn table_matches_bitwise_for_all_lengths() {
        let t = Toeplitz::new(&VERIFICATION_KEY);
        let input: Vec<u8> = (0..MAX_INPUT as u8)
            .map(|i| i.wrapping_mul(37) ^ 0xa5)
            .collect();
        for len in 0..=MAX_INPUT {
            assert_eq!(
                t.hash(&input[..len]),
                toeplitz(&VERIFICATION_KEY, &input[..len]),
                "len {len}"
            );
        }
        // Input longer than the key covers: extra bytes are ignored.
        let mut long = input.clone();
        long.extend_from_slice(&[0xff; 8]);
        assert_eq!(t.hash(&long), t.hash(&input));
        assert_eq!(toeplitz(&VERIFICATION_KEY, &long), t.hash(&input));
    }

    #[test]
    fn reta_picks_queue() {
        let mut reta = default_reta(4);
        assert_eq!(&reta[..6], &[0, 1, 2, 3, 0, 1]);
        // hash & 0x7F indexes the table; only the low 4 bits are the queue.
        assert_eq!(reta_queue(&reta, 0x51ccc178), u16::from(reta[0x78]));
        assert_eq!(reta_queue(&reta, 0x51ccc178), (0x78 % 4) as u16);
        reta[0x78] = 0xF3;
        assert_eq!(reta_queue(&reta, 0x51ccc178), 3);
        assert_eq!(reta_queue(&reta, 0xffff_ff78), 3);
        assert_eq!(reta_queue(&reta, 0x0000_00f8), 3);
        assert_eq!(default_reta(1), [0u8; RETA_SIZE]);
    }

    #[test]
    fn shared_key_replacement() {
        let s = SharedToeplitz::new(&SYMMETRIC_KEY, 12);
        let input = ipv4_4tuple(Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8), 9, 10);
        assert_eq!(s.hash(&input), toeplitz(&SYMMETRIC_KEY, &input));
        s.set_key(&VERIFICATION_KEY);
        assert_eq!(s.hash(&input), toeplitz(&VERIFICATION_KEY, &input));
        // A short key leaves no stale rows from the previous key.
        s.set_key(&VERIFICATION_KEY[..8]);
        assert_eq!(s.hash(&input), toeplitz(&VERIFICATION_KEY[..8], &input));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::{thread, Arc};

    /// A reader racing a key replacement sees the old or the new hash,
    /// never a mixture of the two tables.
    #[test]
    fn reader_sees_whole_table() {
        let old = [0x80u8, 0, 0, 0, 0x01];
        let new = [0x01u8, 0, 0, 0, 0x80];
        let input = [0xffu8];
        let (h_old, h_new) = (toeplitz(&old, &input), toeplitz(&new, &input));
        assert_ne!(h_old, h_new);
        loom::model(move || {
            let s = Arc::new(SharedToeplitz::new(&old, 1));
            let reader = {
                let s = s.clone();
                thread::spawn(move || s.hash(&input))
            };
            s.set_key(&new);
            let seen = reader.join().unwrap();
            assert!(seen == h_old || seen == h_new, "torn hash {seen:#x}");
            assert_eq!(s.hash(&input), h_new);
        });
    }
}
