//! The packet buffer (the stack's `sk_buff`).
//!
//! A [`PacketBuf`] is one contiguous byte buffer with a *head* and a
//! *tail*: the packet's bytes are `buf[head..tail]`. Room before `head`
//! (headroom) lets each layer prepend its header on transmit without
//! copying (`push_front`, Linux `skb_push`); receive parses by advancing
//! `head` past each header (`pull_front`, `skb_pull`), so the bytes of an
//! already parsed header stay readable before the head (the Ethernet header
//! through [`PacketBuf::mac_header`]).
//!
//! Storage comes from a per-thread pool of fixed-size buffers in two size
//! classes ([`SMALL_BUF`] for anything up to a jumbo-free Ethernet frame,
//! [`LARGE_BUF`] for a 64 KiB datagram or TSO super-frame) and returns to
//! the pool of the thread that drops the buffer. In the steady state a
//! packet costs no heap allocation: the pool only allocates when it is
//! empty and only frees when it is full ([`SMALL_POOL_MAX`],
//! [`LARGE_POOL_MAX`]). [`pool_stats`] shows the calling thread's counters.
//!
//! Buffers are plain heap memory; a received frame is copied once out of
//! the driver's DMA buffer (which goes straight back to the RX ring), like
//! Linux's `copybreak` path for small frames.

use std::cell::RefCell;
use std::fmt;

use netrt_igb::driver::{TxFrame, TxOffload};

use super::IfIndex;
use crate::wire::ethernet;

/// Size of a small-class buffer: a 1518-byte Ethernet frame plus headroom,
/// rounded to a friendly size.
pub const SMALL_BUF: usize = 2048 + 256;
/// Size of a large-class buffer: a 65,535-byte IP datagram with Ethernet
/// header and headroom.
pub const LARGE_BUF: usize = 64 * 1024 + 512;
/// Small buffers a thread's pool keeps at most (about 4.5 MiB).
pub const SMALL_POOL_MAX: usize = 2048;
/// Large buffers a thread's pool keeps at most (about 2 MiB).
pub const LARGE_POOL_MAX: usize = 32;

/// What is known about a packet's transport checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CsumState {
    /// Nothing: software must verify (RX) or has computed it (TX).
    #[default]
    None,
    /// The device (or the cable / loopback) vouches for it on receive
    /// (linux: `CHECKSUM_UNNECESSARY`): software must not verify it.
    ///
    /// Over an in-memory link (cable, loopback) the sender may have used
    /// checksum offload, in which case the field holds only the
    /// pseudo-header seed, as with Linux veth. Code that sends such a
    /// packet on (forwarding) must not trust the field: it re-arms the
    /// offload (seed in the field, [`CsumState::Partial`] with an offload
    /// request) or computes the checksum.
    Verified,
    /// The checksum field holds only the pseudo-header sum; the device is
    /// asked to finish it on transmit (linux: `CHECKSUM_PARTIAL`).
    Partial,
}

/// Per-packet metadata that travels with the bytes (linux: the `sk_buff`
/// fields other than data pointers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    /// Device the packet arrived on (`None` for locally generated packets).
    pub in_dev: Option<IfIndex>,
    /// RSS hash reported by the device (0 if none).
    pub rss_hash: u32,
    /// Checksum knowledge.
    pub csum: CsumState,
    /// Offload request for the driver on transmit (checksum / TSO).
    pub offload: Option<TxOffload>,
    /// Segmentation offload: a TCP segment larger than the MTU is to be
    /// cut into segments of this many payload bytes by the device (TSO);
    /// 0 for an ordinary packet. // linux: skb_shinfo(skb)->gso_size
    pub gso_size: u16,
    /// The IP TOS byte: the device qdisc maps it to a Linux priority
    /// ([`tos_to_priority`](super::qdisc::tos_to_priority)) and that to a
    /// pfifo_fast band.
    pub priority: u8,
    /// Wire segments GRO merged into this TCP packet (0 or 1: not merged;
    /// linux: `skb_shinfo(skb)->gso_segs`). TCP counts segments and paces
    /// its ACKs by it.
    pub gro_segs: u16,
    /// Payload bytes of each merged segment but the last, which may be
    /// shorter (0: not merged; linux: `gso_size`).
    pub gro_mss: u16,
    /// The core whose TX queue should carry the packet: a TCP socket's
    /// home core, so all of a connection's segments leave through one
    /// queue and cannot overtake each other (linux: the socket's cached
    /// `sk_tx_queue_mapping`). `None`: the calling core's (XPS).
    pub tx_core: Option<u16>,
}

/// A packet: pooled storage, head/tail offsets and [`PacketMeta`].
pub struct PacketBuf {
    buf: Box<[u8]>,
    head: usize,
    tail: usize,
    /// Offset of the Ethernet header, once someone marked it
    /// (linux: `skb->mac_header`).
    mac: Option<usize>,
    meta: PacketMeta,
}

impl PacketBuf {
    /// Headroom that fits Ethernet + IPv4 + TCP headers with options.
    pub const DEFAULT_HEADROOM: usize = 128;

    /// An empty packet with `headroom` bytes before the head and room for
    /// at least `capacity` bytes of data (linux: `alloc_skb` +
    /// `skb_reserve`). Pooled.
    pub fn new(headroom: usize, capacity: usize) -> PacketBuf {
        let buf = pool_take(headroom.saturating_add(capacity));
        PacketBuf {
            buf,
            head: headroom,
            tail: headroom,
            mac: None,
            meta: PacketMeta::default(),
        }
    }

    /// A packet holding a copy of `data` after `headroom` bytes of headroom.
    pub fn from_slice(headroom: usize, data: &[u8]) -> PacketBuf {
        let mut p = PacketBuf::new(headroom, data.len());
        p.extend_from_slice(data);
        p
    }

    /// The packet's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.head..self.tail]
    }

    /// The packet's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.head..self.tail]
    }

    /// Length of the packet's bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    /// Whether the packet holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// Bytes free before the head.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.head
    }

    /// Bytes free after the tail.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.tail
    }

    /// Prepends `n` zeroed bytes and returns them for the caller to fill
    /// (linux: `skb_push`). Reallocates (one copy) if the headroom is
    /// short, leaving [`DEFAULT_HEADROOM`](Self::DEFAULT_HEADROOM) free in
    /// front of the new bytes.
    pub fn push_front(&mut self, n: usize) -> &mut [u8] {
        if n > self.head {
            self.regrow(n + Self::DEFAULT_HEADROOM, 0);
        }
        self.head -= n;
        let bytes = &mut self.buf[self.head..self.head + n];
        bytes.fill(0);
        bytes
    }

    /// Drops `n` bytes from the front, advancing the head past a parsed
    /// header (linux: `skb_pull`). `false` (and no change) if `n` exceeds
    /// the length.
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.head += n;
        true
    }

    /// Appends `n` zeroed bytes and returns them for the caller to fill
    /// (linux: `skb_put`). Reallocates (one copy) if the tailroom is short.
    pub fn put(&mut self, n: usize) -> &mut [u8] {
        let bytes = self.put_uninit(n);
        bytes.fill(0);
        bytes
    }

    /// Appends a copy of `data` (linux: `skb_put_data`).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.put_uninit(data.len()).copy_from_slice(data);
    }

    /// Appends `n` bytes of unspecified (stale, but initialised) content:
    /// for callers that overwrite all of them right away.
    pub(crate) fn put_uninit(&mut self, n: usize) -> &mut [u8] {
        if n > self.tailroom() {
            self.regrow(0, n);
        }
        let at = self.tail;
        self.tail += n;
        &mut self.buf[at..self.tail]
    }

    /// Shortens the packet to `len` bytes; no-op if it is not longer
    /// (linux: `pskb_trim`).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.tail = self.head + len;
        }
    }

    /// The packet's metadata.
    #[inline]
    pub fn meta(&self) -> &PacketMeta {
        &self.meta
    }

    /// The packet's metadata, writable.
    #[inline]
    pub fn meta_mut(&mut self) -> &mut PacketMeta {
        &mut self.meta
    }

    /// Marks the current head as the start of the Ethernet header
    /// (linux: `skb_reset_mac_header`); `netif` does this before pulling
    /// the header, so L3 code can still read the MAC addresses.
    #[inline]
    pub fn reset_mac_header(&mut self) {
        self.mac = Some(self.head);
    }

    /// The Ethernet header marked by
    /// [`reset_mac_header`](Self::reset_mac_header), if it is still in
    /// the buffer (a reallocating `push_front` forgets it).
    pub fn mac_header(&self) -> Option<&[u8]> {
        let at = self.mac?;
        self.buf.get(at..at.checked_add(ethernet::HEADER_LEN)?)
    }

    /// Moves the data into a buffer with at least `headroom` free in front
    /// and `extra` more free at the back. One copy: the slow path of
    /// `push_front`/`put`.
    #[cold]
    fn regrow(&mut self, headroom: usize, extra: usize) {
        let len = self.len();
        let headroom = headroom.max(self.head);
        let need = headroom
            .saturating_add(len)
            .saturating_add(extra.max(self.tailroom()));
        let mut buf = pool_take(need);
        buf[headroom..headroom + len].copy_from_slice(self.data());
        // The mac header keeps its distance to the head if it still fits.
        self.mac = match self.mac {
            Some(m) if m <= self.head && self.head - m <= headroom => {
                let at = headroom - (self.head - m);
                buf[at..headroom].copy_from_slice(&self.buf[m..self.head]);
                Some(at)
            }
            _ => None,
        };
        pool_give(std::mem::replace(&mut self.buf, buf));
        self.head = headroom;
        self.tail = headroom + len;
    }
}

impl Clone for PacketBuf {
    /// A copy of the data (same headroom) and metadata, from the pool
    /// (linux: `skb_copy`).
    fn clone(&self) -> PacketBuf {
        let mut p = PacketBuf::from_slice(self.head, self.data());
        p.meta = self.meta;
        p
    }
}

impl Drop for PacketBuf {
    fn drop(&mut self) {
        pool_give(std::mem::take(&mut self.buf));
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBuf")
            .field("len", &self.len())
            .field("headroom", &self.head)
            .field("tailroom", &self.tailroom())
            .field("meta", &self.meta)
            .finish()
    }
}

impl TxFrame for PacketBuf {
    fn segments(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.data())
    }

    fn offload(&self) -> Option<TxOffload> {
        self.meta.offload
    }
}

/// Counters of one thread's buffer pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers obtained from the heap (pool empty, or oversized request).
    pub allocated: u64,
    /// Buffers taken from the pool.
    pub reused: u64,
    /// Buffers returned to the pool.
    pub recycled: u64,
    /// Buffers given back to the heap (pool full, or oversized).
    pub released: u64,
    /// Small buffers in the pool now.
    pub pooled_small: usize,
    /// Large buffers in the pool now.
    pub pooled_large: usize,
}

/// The calling thread's pool counters.
pub fn pool_stats() -> PoolStats {
    POOL.try_with(|p| {
        let p = p.borrow();
        PoolStats {
            pooled_small: p.small.len(),
            pooled_large: p.large.len(),
            ..p.stats
        }
    })
    .unwrap_or_default()
}

struct Pool {
    small: Vec<Box<[u8]>>,
    large: Vec<Box<[u8]>>,
    stats: PoolStats,
}

thread_local! {
    // linux: the per-CPU page_frag / skb caches. One per thread, so taking
    // and giving back a buffer is a Vec push/pop with no atomics.
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            small: Vec::new(),
            large: Vec::new(),
            stats: PoolStats {
                allocated: 0,
                reused: 0,
                recycled: 0,
                released: 0,
                pooled_small: 0,
                pooled_large: 0,
            },
        })
    };
}

/// Size class for a request of `size` bytes: the class's buffer size, or
/// `None` for an oversized (unpooled) request.
fn class_of(size: usize) -> Option<usize> {
    if size <= SMALL_BUF {
        Some(SMALL_BUF)
    } else if size <= LARGE_BUF {
        Some(LARGE_BUF)
    } else {
        None
    }
}

/// A buffer of at least `size` bytes.
fn pool_take(size: usize) -> Box<[u8]> {
    let class = class_of(size);
    let reused = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let buf = match class {
                Some(SMALL_BUF) => p.small.pop(),
                Some(_) => p.large.pop(),
                None => None,
            };
            if buf.is_some() {
                p.stats.reused += 1;
            } else {
                p.stats.allocated += 1;
            }
            buf
        })
        .ok()
        .flatten();
    reused.unwrap_or_else(|| vec![0u8; class.unwrap_or(size)].into_boxed_slice())
}

/// Returns `buf` to the calling thread's pool, or frees it.
fn pool_give(buf: Box<[u8]>) {
    let len = buf.len();
    if len == 0 {
        return; // the empty placeholder left by `Drop`/`regrow`
    }
    // During thread teardown the pool may be gone: the buffer is just freed.
    let _ = POOL.try_with(move |p| {
        let mut p = p.borrow_mut();
        let (list, max) = match len {
            SMALL_BUF => (&mut p.small, SMALL_POOL_MAX),
            LARGE_BUF => (&mut p.large, LARGE_POOL_MAX),
            _ => {
                p.stats.released += 1;
                return;
            }
        };
        if list.len() < max {
            list.push(buf);
            p.stats.recycled += 1;
        } else {
            p.stats.released += 1;
        }
    });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_pull_put_truncate() {
        let mut p = PacketBuf::new(PacketBuf::DEFAULT_HEADROOM, 100);
        assert!(p.is_empty());
        assert_eq!(p.headroom(), 128);
        p.put(4).copy_from_slice(b"data");
        p.push_front(2).copy_from_slice(b"hd");
        assert_eq!(p.data(), b"hddata");
        assert_eq!(p.headroom(), 126);
        assert!(p.pull_front(2));
        assert_eq!(p.data(), b"data");
        assert!(!p.pull_front(5));
        assert_eq!(p.data(), b"data");
        p.truncate(10);
        assert_eq!(p.len(), 4);
        p.truncate(2);
        assert_eq!(p.data(), b"da");
        p.data_mut()[0] = b'D';
        assert_eq!(p.data(), b"Da");
        assert!(p.pull_front(2));
        assert!(p.is_empty());
    }

    #[test]
    fn push_front_without_headroom_reallocates() {
        let mut p = PacketBuf::from_slice(0, b"payload");
        p.meta_mut().priority = 7;
        let hdr = p.push_front(20);
        assert_eq!(hdr, &[0u8; 20]);
        hdr[0] = 0x45;
        assert_eq!(p.len(), 27);
        assert_eq!(p.data()[0], 0x45);
        assert_eq!(&p.data()[20..], b"payload");
        assert_eq!(p.headroom(), PacketBuf::DEFAULT_HEADROOM);
        assert_eq!(p.meta().priority, 7);
    }

    #[test]
    fn put_grows_into_large_class_and_beyond() {
        let mut p = PacketBuf::from_slice(16, &[1, 2, 3]);
        p.reset_mac_header();
        let big = p.put(60_000);
        assert!(big.iter().all(|&b| b == 0));
        big[59_999] = 9;
        assert_eq!(p.len(), 60_003);
        assert_eq!(&p.data()[..3], &[1, 2, 3]);
        assert_eq!(p.data()[60_002], 9);
        assert_eq!(p.headroom(), 16);
        assert!(p.buf.len() == LARGE_BUF);
        // Oversized: still works, just unpooled.
        p.put(LARGE_BUF);
        assert_eq!(p.len(), 60_003 + LARGE_BUF);
        assert_eq!(p.data()[60_002], 9);
    }

    #[test]
    fn mac_header_survives_pull_and_regrow() {
        let mut frame = vec![0u8; 14 + 4];
        frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut p = PacketBuf::from_slice(2, &frame);
        assert_eq!(p.mac_header(), None);
        p.reset_mac_header();
        assert!(p.pull_front(14));
        assert_eq!(p.mac_header().unwrap(), &frame[..14]);
        assert_eq!(p.len(), 4);
        // Growing at the tail keeps the header.
        p.put(4000);
        assert_eq!(p.mac_header().unwrap(), &frame[..14]);
    }

    #[test]
    fn clone_copies_data_and_meta() {
        let mut p = PacketBuf::from_slice(40, b"abc");
        p.meta_mut().rss_hash = 77;
        p.meta_mut().csum = CsumState::Verified;
        let q = p.clone();
        p.data_mut()[0] = b'x';
        assert_eq!(q.data(), b"abc");
        assert_eq!(q.headroom(), 40);
        assert_eq!(
            q.meta(),
            &PacketMeta {
                rss_hash: 77,
                csum: CsumState::Verified,
                ..PacketMeta::default()
            }
        );
    }

    #[test]
    fn tx_frame_exposes_data_and_offload() {
        use netrt_igb::desc::L4Type;
        use netrt_igb::driver::L3Type;
        let mut p = PacketBuf::from_slice(8, b"frame");
        assert_eq!(TxFrame::offload(&p), None);
        let off = TxOffload::checksum(L3Type::Ipv4, L4Type::Udp, 14, 20);
        p.meta_mut().offload = Some(off);
        let segs: Vec<&[u8]> = p.segments().collect();
        assert_eq!(segs, vec![&b"frame"[..]]);
        assert_eq!(TxFrame::offload(&p), Some(off));
    }

    #[test]
    fn steady_state_reuses_pool_buffers() {
        // Run on a fresh thread so other tests' buffers do not interfere.
        std::thread::spawn(|| {
            let warm: Vec<_> = (0..64).map(|_| PacketBuf::new(128, 1500)).collect();
            drop(warm);
            let before = pool_stats();
            assert_eq!(before.pooled_small, 64);
            for round in 0..1000 {
                let batch: Vec<_> = (0..64)
                    .map(|i| PacketBuf::from_slice(128, &[round as u8, i as u8]))
                    .collect();
                assert!(batch.iter().all(|p| p.len() == 2));
            }
            let after = pool_stats();
            assert_eq!(after.allocated, before.allocated, "no heap allocation");
            assert_eq!(after.reused - before.reused, 64_000);
            assert_eq!(after.recycled - before.recycled, 64_000);
            assert_eq!(after.pooled_small, 64);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn pool_is_bounded() {
        std::thread::spawn(|| {
            let many: Vec<_> = (0..SMALL_POOL_MAX + 10)
                .map(|_| PacketBuf::new(0, 10))
                .collect();
            let larges: Vec<_> = (0..LARGE_POOL_MAX + 3)
                .map(|_| PacketBuf::new(0, 10_000))
                .collect();
            drop(many);
            drop(larges);
            let s = pool_stats();
            assert_eq!(s.pooled_small, SMALL_POOL_MAX);
            assert_eq!(s.pooled_large, LARGE_POOL_MAX);
            assert_eq!(s.released, 13);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn buffers_move_between_threads() {
        let p = PacketBuf::from_slice(0, b"cross");
        let back = std::thread::spawn(move || {
            assert_eq!(p.data(), b"cross");
            drop(p);
            pool_stats().recycled
        })
        .join()
        .unwrap();
        assert_eq!(back, 1);
    }
}
