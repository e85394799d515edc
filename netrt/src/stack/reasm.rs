//! IPv4 reassembly on input (RFC 791 §3.2, RFC 815), shaped like Linux's
//! `ip_fragment.c`.
//!
//! Fragments are grouped by (source, destination, identification,
//! protocol). Each datagram in progress keeps its fragments in an ordered
//! map of disjoint byte ranges; it completes when the first fragment
//! (offset 0) and the last (MF clear) are in and the ranges cover the
//! whole payload, and is then returned as one contiguous datagram.
//!
//! **Overlap policy.** A fragment that exactly repeats one already held
//! (same offset and end) is a harmless duplicate and is ignored. Any other
//! overlap discards the *whole* datagram, as Linux has done for IPv4 since
//! the FragmentSmack fixes and as RFC 5722 requires for IPv6: overlapping
//! fragments have no legitimate use and are the classic way to smuggle
//! bytes past a filter. So is a fragment contradicting the known length (a
//! second, different last fragment, or data past the end), or an empty
//! non-last fragment.
//!
//! **Limits.** A datagram may not grow past 65,535 bytes (header
//! included). Each datagram expires `timeout` (30 s, Linux `ipfrag_time`)
//! after its first fragment arrived; one whose first fragment was received
//! yields [`ReasmAction::TimeExceeded`] so the caller can send ICMP time
//! exceeded, code 1. Memory held by all datagrams (data plus a fixed
//! per-fragment and per-datagram overhead standing in for `skb` truesize)
//! stays below `high_thresh` (4 MiB, Linux `ipfrag_high_thresh`): when a
//! fragment would pass it the oldest datagrams are evicted.
//!
//! Nothing here trusts its input: every length is checked before it is
//! used, and malformed fragments are counted and dropped. Reassembly is not
//! the steady-state path, so fragments are copied into owned buffers.
//! // linux: ip_defrag → ip_frag_queue → ip_frag_reasm

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::wire::ipv4::{HEADER_LEN, MAX_PACKET_LEN};
use crate::wire::Ipv4Packet;

/// Reassembly limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasmConfig {
    /// How long a datagram may take to complete (Linux `ipfrag_time`).
    pub timeout: Duration,
    /// Most memory all datagrams in progress may hold, in bytes (Linux
    /// `ipfrag_high_thresh`).
    pub high_thresh: usize,
}

impl Default for ReasmConfig {
    fn default() -> Self {
        ReasmConfig {
            timeout: Duration::from_secs(30),
            high_thresh: 4 * 1024 * 1024,
        }
    }
}

/// Bookkeeping charged per stored fragment besides its data.
pub const FRAG_OVERHEAD: usize = 128;
/// Bookkeeping charged per datagram in progress.
pub const QUEUE_OVERHEAD: usize = 256;

/// What became of a fragment given to [`Reassembler::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasmOutcome {
    /// It completed its datagram: the whole datagram, header from the
    /// first fragment (options included), total length set, fragment
    /// fields cleared and checksum recomputed.
    Complete(Vec<u8>),
    /// Stored (or an exact duplicate, ignored); the datagram is not
    /// complete yet.
    Pending,
    /// Dropped, and with it the datagram it belonged to where the reason
    /// says so. Counted in `ReasmFails`.
    Dropped(ReasmDrop),
}

/// Why a fragment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasmDrop {
    /// Not an IPv4 fragment with consistent lengths.
    Malformed,
    /// The datagram would exceed 65,535 bytes (it is discarded).
    Oversize,
    /// It overlapped a fragment held without repeating it exactly (the
    /// datagram is discarded).
    Overlap,
    /// It contradicted the datagram's known length, or was an empty
    /// non-last fragment (the datagram is discarded).
    Inconsistent,
    /// The memory limit evicted its datagram.
    Evicted,
}

/// Work [`Reassembler::poll`] hands the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasmAction {
    /// A datagram whose first fragment had arrived timed out: send ICMP
    /// time exceeded, code 1 (fragment reassembly time exceeded), to `src`
    /// (after checking it is a unicast address).
    TimeExceeded {
        /// The datagram's source: the ICMP error's destination.
        src: Ipv4Addr,
        /// The first fragment as received (header and data), to quote in
        /// the ICMP error.
        first_fragment: Vec<u8>,
    },
}

/// Counters, named after their `/proc/net/snmp` Ip fields where one exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasmStats {
    /// Fragments received for reassembly (`ReasmReqds`).
    pub reqds: u64,
    /// Datagrams reassembled (`ReasmOKs`).
    pub oks: u64,
    /// Failures: dropped fragments and discarded, evicted or expired
    /// datagrams (`ReasmFails`).
    pub fails: u64,
    /// Datagrams that expired (`ReasmTimeout`).
    pub timeouts: u64,
    /// Datagrams discarded for an overlap (`ReasmOverlaps`, netstat).
    pub overlaps: u64,
    /// Exact duplicates ignored.
    pub duplicates: u64,
    /// Datagrams evicted by the memory limit.
    pub evictions: u64,
}

/// Datagrams in progress, with their timers and memory account.
#[derive(Debug)]
pub struct Reassembler {
    config: ReasmConfig,
    queues: HashMap<Key, Queue>,
    /// Datagrams by deadline; creation order too, since the timeout is
    /// fixed (the serial breaks ties and names the queue's slot).
    by_age: BTreeMap<(Instant, u64), Key>,
    next_serial: u64,
    mem: usize,
    stats: ReasmStats,
}

/// What makes fragments belong together (RFC 791).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    protocol: u8,
}

#[derive(Debug)]
struct Queue {
    /// Disjoint payload ranges by offset.
    frags: BTreeMap<usize, Vec<u8>>,
    /// Header of the offset-0 fragment, once received.
    first_header: Option<Vec<u8>>,
    /// Highest end seen; the payload length once `last_in`.
    len: usize,
    last_in: bool,
    /// Payload bytes held (ranges are disjoint, so no double count).
    meat: usize,
    /// Memory charged to this datagram.
    mem: usize,
    /// Slot in `by_age`.
    age: (Instant, u64),
}

impl Reassembler {
    /// An empty reassembler with `config`.
    pub fn new(config: ReasmConfig) -> Self {
        Reassembler {
            config,
            queues: HashMap::new(),
            by_age: BTreeMap::new(),
            next_serial: 0,
            mem: 0,
            stats: ReasmStats::default(),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> ReasmStats {
        self.stats
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// True when no datagram is in progress.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Memory held by datagrams in progress, as charged against
    /// `high_thresh`.
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// When the oldest datagram expires: call [`poll`](Self::poll) then.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_age.keys().next().map(|&(deadline, _)| deadline)
    }

    /// Adds one fragment (a whole IPv4 datagram with MF set or a non-zero
    /// offset; bytes past its total length are ignored) received at `now`.
    pub fn insert(&mut self, pkt: &[u8], now: Instant) -> ReasmOutcome {
        self.stats.reqds += 1;
        match self.insert_inner(pkt, now) {
            Ok(outcome) => outcome,
            Err(reason) => {
                self.stats.fails += 1;
                ReasmOutcome::Dropped(reason)
            }
        }
    }

    fn insert_inner(&mut self, pkt: &[u8], now: Instant) -> Result<ReasmOutcome, ReasmDrop> {
        let packet = Ipv4Packet::new_checked(pkt).map_err(|_| ReasmDrop::Malformed)?;
        if packet.version() != 4 || !packet.is_fragment() {
            return Err(ReasmDrop::Malformed);
        }
        let key = Key {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            ident: packet.ident(),
            protocol: u8::from(packet.protocol()),
        };
        let header_len = packet.header_len();
        let data = packet.payload();
        let offset = usize::from(packet.frag_offset());
        let last = !packet.more_frags();
        let mut end = offset + data.len();
        if !last {
            // Only the last fragment may end off an 8-byte boundary; drop
            // the tail rather than the fragment (Linux does the same).
            end &= !7;
        }
        if end > MAX_PACKET_LEN - HEADER_LEN {
            self.discard(&key);
            return Err(ReasmDrop::Oversize);
        }

        if !self.queues.contains_key(&key) {
            self.create(key, now);
        }
        let queue = self.queues.get_mut(&key).ok_or(ReasmDrop::Malformed)?;

        // linux: the length checks at the top of ip_frag_queue
        let consistent = if last {
            end >= queue.len && (!queue.last_in || end == queue.len)
        } else {
            !(queue.last_in && end > queue.len)
        };
        if !consistent || end == offset {
            self.discard(&key);
            return Err(ReasmDrop::Inconsistent);
        }

        // Stored ranges are disjoint, so only the one starting last before
        // `end` can overlap [offset, end).
        if let Some((&start, held)) = queue.frags.range(..end).next_back() {
            let held_end = start + held.len();
            if held_end > offset {
                if start == offset && held_end == end {
                    self.stats.duplicates += 1;
                    return Ok(ReasmOutcome::Pending);
                }
                self.stats.overlaps += 1;
                self.discard(&key);
                return Err(ReasmDrop::Overlap);
            }
        }

        let first_header = (offset == 0).then(|| &pkt[..header_len]);
        let cost = FRAG_OVERHEAD + (end - offset) + first_header.map_or(0, <[u8]>::len);
        if !self.make_room(cost, &key) {
            return Err(ReasmDrop::Evicted);
        }
        let queue = self.queues.get_mut(&key).ok_or(ReasmDrop::Evicted)?;
        queue.frags.insert(offset, data[..end - offset].to_vec());
        queue.meat += end - offset;
        queue.len = queue.len.max(end);
        queue.last_in |= last;
        if let Some(header) = first_header {
            queue.first_header = Some(header.to_vec());
        }
        queue.mem += cost;
        self.mem += cost;

        if queue.last_in && queue.first_header.is_some() && queue.meat == queue.len {
            let queue = self.remove(&key).ok_or(ReasmDrop::Malformed)?;
            let datagram = assemble(queue).ok_or(ReasmDrop::Oversize)?;
            self.stats.oks += 1;
            return Ok(ReasmOutcome::Complete(datagram));
        }
        Ok(ReasmOutcome::Pending)
    }

    /// Expires every datagram whose deadline is at or before `now`.
    /// // linux: ip_expire
    pub fn poll(&mut self, now: Instant) -> Vec<ReasmAction> {
        let mut actions = Vec::new();
        while let Some((&(deadline, _), &key)) = self.by_age.iter().next() {
            if deadline > now {
                break;
            }
            let Some(mut queue) = self.remove(&key) else {
                continue;
            };
            self.stats.fails += 1;
            self.stats.timeouts += 1;
            if let (Some(mut first), Some(data)) = (queue.first_header.take(), queue.frags.get(&0))
            {
                first.extend_from_slice(data);
                actions.push(ReasmAction::TimeExceeded {
                    src: key.src,
                    first_fragment: first,
                });
            }
        }
        actions
    }

    fn create(&mut self, key: Key, now: Instant) {
        let age = (now + self.config.timeout, self.next_serial);
        self.next_serial += 1;
        self.by_age.insert(age, key);
        self.mem += QUEUE_OVERHEAD;
        self.queues.insert(
            key,
            Queue {
                frags: BTreeMap::new(),
                first_header: None,
                len: 0,
                last_in: false,
                meat: 0,
                mem: QUEUE_OVERHEAD,
                age,
            },
        );
    }

    /// Takes a datagram out of every index and the memory account.
    fn remove(&mut self, key: &Key) -> Option<Queue> {
        let queue = self.queues.remove(key)?;
        self.by_age.remove(&queue.age);
        self.mem -= queue.mem;
        Some(queue)
    }

    /// Drops a datagram because of the fragment being inserted (a no-op if
    /// there is none). Counted once, as that fragment's failure, by
    /// [`insert`](Self::insert), as Linux's `discard_qp` counts once.
    fn discard(&mut self, key: &Key) {
        self.remove(key);
    }

    /// Evicts the oldest datagrams until `cost` more bytes fit under
    /// `high_thresh`. False if `key`'s own datagram had to go.
    /// // linux: inet_frag_evictor (older kernels) / fqdir high_thresh
    fn make_room(&mut self, cost: usize, key: &Key) -> bool {
        while self.mem + cost > self.config.high_thresh {
            let Some((_, &oldest)) = self.by_age.iter().next() else {
                break;
            };
            self.remove(&oldest);
            self.stats.evictions += 1;
            if oldest == *key {
                // This fragment's datagram: counted as the fragment's drop.
                return false;
            }
            self.stats.fails += 1;
        }
        true
    }
}

/// Joins a complete datagram's fragments behind its first header. `None`
/// if the result would pass 65,535 bytes (a long header on a long payload).
fn assemble(queue: Queue) -> Option<Vec<u8>> {
    let header = queue.first_header?;
    let total = header.len() + queue.len;
    if total > MAX_PACKET_LEN {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&header);
    for data in queue.frags.values() {
        out.extend_from_slice(data);
    }
    // Complete means disjoint ranges inside [0, len) adding up to len.
    debug_assert_eq!(out.len(), total);
    let mut packet = Ipv4Packet::new_unchecked(&mut out[..]);
    let dont_frag = packet.dont_frag();
    packet.set_total_len(total as u16);
    packet.set_flags_frag(dont_frag, false, 0);
    packet.fill_checksum();
    Some(out)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::stack::frag::tests::{cut, datagram};
    use proptest::prelude::*;

    fn reasm() -> Reassembler {
        Reassembler::new(ReasmConfig::default())
    }

    /// Feeds `frags` in order; all but the last must be pending, and the
    /// last must complete: returns the datagram.
    fn feed(r: &mut Reassembler, frags: &[Vec<u8>], now: Instant) -> Vec<u8> {
        let (last, rest) = frags.split_last().unwrap();
        for (i, f) in rest.iter().enumerate() {
            assert_eq!(r.insert(f, now), ReasmOutcome::Pending, "fragment {i}");
        }
        match r.insert(last, now) {
            ReasmOutcome::Complete(d) => d,
            other => panic!("expected completion, got {other:?}"),
        }
    }

    /// A raw fragment: `data_len` bytes of `fill` at `offset`.
    fn frag(ident: u16, offset: u16, data_len: usize, more: bool, fill: u8) -> Vec<u8> {
        let mut f = datagram(data_len, &[], false, ident);
        let mut p = Ipv4Packet::new_unchecked(&mut f[..]);
        p.set_flags_frag(false, more, offset);
        p.payload_mut().fill(fill);
        p.fill_checksum();
        f
    }

    fn check_empty(r: &Reassembler) {
        assert!(r.is_empty());
        assert_eq!(r.mem(), 0);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn in_order() {
        let now = Instant::now();
        let d = datagram(3000, &[], false, 1);
        let frags = cut(&d, 1000).unwrap();
        assert_eq!(frags.len(), 4);
        let mut r = reasm();
        assert_eq!(feed(&mut r, &frags, now), d);
        let stats = r.stats();
        assert_eq!((stats.reqds, stats.oks, stats.fails), (4, 1, 0));
        check_empty(&r);
    }

    #[test]
    fn reversed_and_with_options() {
        let now = Instant::now();
        let opts = [0x83, 7, 4, 10, 0, 0, 1, 0x07, 3, 4, 0, 0];
        let d = datagram(2000, &opts, false, 2);
        let mut frags = cut(&d, 300).unwrap();
        frags.reverse();
        let mut r = reasm();
        // The header comes from the first fragment, options and all.
        assert_eq!(feed(&mut r, &frags, now), d);
        check_empty(&r);
    }

    #[test]
    fn random_order_with_duplicates() {
        let now = Instant::now();
        let d = datagram(5000, &[], false, 3);
        let frags = cut(&d, 576).unwrap();
        let order = [3, 0, 7, 3, 5, 1, 0, 8, 6, 2, 4, 9];
        let mut r = reasm();
        let mut done = None;
        for (n, &i) in order.iter().enumerate() {
            match r.insert(&frags[i], now) {
                ReasmOutcome::Pending => assert!(n < order.len() - 1),
                ReasmOutcome::Complete(got) => done = Some(got),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(done.unwrap(), d);
        assert_eq!(r.stats().duplicates, 2);
        assert_eq!(r.stats().fails, 0);
        check_empty(&r);
    }

    #[test]
    fn interleaved_datagrams_stay_apart() {
        let now = Instant::now();
        let a = datagram(1000, &[], false, 10);
        let b = datagram(1000, &[], false, 11);
        let fa = cut(&a, 300).unwrap();
        let fb = cut(&b, 300).unwrap();
        let mut r = reasm();
        for (x, y) in fa.iter().zip(&fb).take(fa.len() - 1) {
            assert_eq!(r.insert(x, now), ReasmOutcome::Pending);
            assert_eq!(r.insert(y, now), ReasmOutcome::Pending);
        }
        assert_eq!(r.len(), 2);
        assert_eq!(r.insert(fb.last().unwrap(), now), ReasmOutcome::Complete(b));
        assert_eq!(r.insert(fa.last().unwrap(), now), ReasmOutcome::Complete(a));
    }

    #[test]
    fn overlaps_discard_the_datagram() {
        let now = Instant::now();
        let cases: [&[(u16, usize, bool)]; 4] = [
            // Tail overlap.
            &[(0, 16, true), (8, 16, true)],
            // Head overlap.
            &[(8, 16, true), (0, 16, true)],
            // New fragment swallows a held one.
            &[(8, 8, true), (0, 24, true)],
            // Same offset, different length (a last fragment this time).
            &[(8, 16, true), (8, 24, false)],
        ];
        for (n, case) in cases.iter().enumerate() {
            let mut r = reasm();
            let (&(o, l, m), rest) = case.split_last().unwrap();
            for &(off, len, more) in rest {
                assert_eq!(
                    r.insert(&frag(1, off, len, more, 0xaa), now),
                    ReasmOutcome::Pending
                );
            }
            assert_eq!(
                r.insert(&frag(1, o, l, m, 0xbb), now),
                ReasmOutcome::Dropped(ReasmDrop::Overlap),
                "case {n}"
            );
            check_empty(&r);
            let stats = r.stats();
            assert_eq!((stats.overlaps, stats.fails), (1, 1), "case {n}");
        }
    }

    #[test]
    fn exact_duplicate_with_other_bytes_is_still_a_duplicate() {
        let now = Instant::now();
        let mut r = reasm();
        assert_eq!(
            r.insert(&frag(1, 0, 16, true, 0xaa), now),
            ReasmOutcome::Pending
        );
        assert_eq!(
            r.insert(&frag(1, 0, 16, true, 0xbb), now),
            ReasmOutcome::Pending
        );
        let done = r.insert(&frag(1, 16, 4, false, 0xcc), now);
        let ReasmOutcome::Complete(d) = done else {
            panic!("{done:?}")
        };
        // The first copy is kept.
        assert_eq!(&d[20..], &[[0xaa; 16].as_slice(), &[0xcc; 4]].concat()[..]);
        assert!(Ipv4Packet::new_checked(&d[..]).unwrap().verify_checksum());
    }

    #[test]
    fn inconsistent_lengths_discard_the_datagram() {
        let now = Instant::now();
        let inconsistent = ReasmOutcome::Dropped(ReasmDrop::Inconsistent);
        // Two different last fragments.
        let mut r = reasm();
        assert_eq!(
            r.insert(&frag(1, 16, 8, false, 1), now),
            ReasmOutcome::Pending
        );
        assert_eq!(r.insert(&frag(1, 32, 8, false, 1), now), inconsistent);
        check_empty(&r);
        // Data past a known end.
        assert_eq!(
            r.insert(&frag(1, 16, 8, false, 1), now),
            ReasmOutcome::Pending
        );
        assert_eq!(r.insert(&frag(1, 24, 8, true, 1), now), inconsistent);
        // A last fragment ending before data already held.
        assert_eq!(
            r.insert(&frag(1, 32, 8, true, 1), now),
            ReasmOutcome::Pending
        );
        assert_eq!(r.insert(&frag(1, 16, 8, false, 1), now), inconsistent);
        // A non-last fragment shorter than 8 bytes is empty once trimmed.
        assert_eq!(r.insert(&frag(1, 16, 7, true, 1), now), inconsistent);
        check_empty(&r);
        assert_eq!(r.stats().fails, 4);
    }

    #[test]
    fn unaligned_non_last_fragment_is_trimmed() {
        let now = Instant::now();
        let mut r = reasm();
        // 13 bytes with MF: only 8 are kept, so the datagram needs 8.. again.
        assert_eq!(
            r.insert(&frag(1, 0, 13, true, 0xaa), now),
            ReasmOutcome::Pending
        );
        let done = r.insert(&frag(1, 8, 4, false, 0xbb), now);
        let ReasmOutcome::Complete(d) = done else {
            panic!("{done:?}")
        };
        assert_eq!(d.len(), 32);
        assert_eq!(
            &d[20..],
            &[0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, 0xbb]
        );
    }

    #[test]
    fn malformed_input_is_counted() {
        let now = Instant::now();
        let mut r = reasm();
        let whole = datagram(100, &[], false, 1);
        let malformed = ReasmOutcome::Dropped(ReasmDrop::Malformed);
        assert_eq!(r.insert(&whole, now), malformed, "not a fragment");
        let f = frag(1, 0, 64, true, 0);
        assert_eq!(r.insert(&f[..40], now), malformed, "truncated");
        assert_eq!(r.insert(&[], now), malformed);
        let mut v6 = f.clone();
        v6[0] = 0x65;
        assert_eq!(r.insert(&v6, now), malformed);
        assert_eq!(r.stats().fails, 4);
        check_empty(&r);
    }

    #[test]
    fn timeout_reports_only_datagrams_with_a_first_fragment() {
        let t0 = Instant::now();
        let mut r = reasm();
        let first = frag(1, 0, 64, true, 0x11);
        assert_eq!(r.insert(&first, t0), ReasmOutcome::Pending);
        assert_eq!(
            r.insert(&frag(2, 64, 64, true, 0x22), t0 + Duration::from_secs(1)),
            ReasmOutcome::Pending
        );
        assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(30)));
        assert!(r.poll(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(r.len(), 2);
        let actions = r.poll(t0 + Duration::from_secs(30));
        assert_eq!(
            actions,
            [ReasmAction::TimeExceeded {
                src: Ipv4Addr::new(192, 0, 2, 1),
                first_fragment: first,
            }]
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(31)));
        // No first fragment: expires silently.
        assert!(r.poll(t0 + Duration::from_secs(60)).is_empty());
        check_empty(&r);
        let stats = r.stats();
        assert_eq!((stats.timeouts, stats.fails), (2, 2));
    }

    #[test]
    fn timeout_is_configurable_and_not_refreshed() {
        let t0 = Instant::now();
        let mut r = Reassembler::new(ReasmConfig {
            timeout: Duration::from_secs(5),
            ..ReasmConfig::default()
        });
        assert_eq!(r.insert(&frag(1, 0, 8, true, 0), t0), ReasmOutcome::Pending);
        // A later fragment does not extend the deadline.
        assert_eq!(
            r.insert(&frag(1, 16, 8, true, 0), t0 + Duration::from_secs(4)),
            ReasmOutcome::Pending
        );
        assert_eq!(r.poll(t0 + Duration::from_secs(5)).len(), 1);
        check_empty(&r);
    }

    #[test]
    fn memory_limit_evicts_the_oldest() {
        let now = Instant::now();
        // Room for about three datagrams holding one 1000-byte fragment.
        let per = QUEUE_OVERHEAD + FRAG_OVERHEAD + 1000 + 20;
        let mut r = Reassembler::new(ReasmConfig {
            high_thresh: 3 * per + 10,
            ..ReasmConfig::default()
        });
        for id in 0..3 {
            assert_eq!(
                r.insert(&frag(id, 0, 1000, true, 0), now),
                ReasmOutcome::Pending
            );
        }
        assert_eq!(r.mem(), 3 * per);
        assert_eq!(
            r.insert(&frag(3, 0, 1000, true, 0), now),
            ReasmOutcome::Pending
        );
        assert_eq!(r.len(), 3);
        assert!(r.mem() <= 3 * per + 10);
        let stats = r.stats();
        assert_eq!((stats.evictions, stats.fails), (1, 1));
        // Datagram 0 is gone: its last fragment starts a new queue...
        assert_eq!(
            r.insert(&frag(0, 1000, 8, false, 0), now),
            ReasmOutcome::Pending
        );
        // ...which evicted datagram 1, while 2 can still complete.
        assert!(
            matches!(r.insert(&frag(2, 1000, 8, false, 0), now), ReasmOutcome::Complete(d) if d.len() == 1028)
        );

        // A datagram that cannot fit even alone is refused.
        let mut r = Reassembler::new(ReasmConfig {
            high_thresh: 500,
            ..ReasmConfig::default()
        });
        assert_eq!(
            r.insert(&frag(1, 0, 1000, true, 0), now),
            ReasmOutcome::Dropped(ReasmDrop::Evicted)
        );
        check_empty(&r);
    }

    #[test]
    fn datagram_size_is_bounded_at_64k() {
        let now = Instant::now();
        // The largest datagram there is reassembles.
        let d = datagram(MAX_PACKET_LEN - HEADER_LEN, &[], false, 1);
        let mut frags = cut(&d, 1500).unwrap();
        frags.reverse();
        let mut r = reasm();
        assert_eq!(feed(&mut r, &frags, now), d);
        // A fragment reaching past it is refused (the "ping of death")...
        let pod = frag(2, 65528, 16, false, 0);
        assert_eq!(
            r.insert(&pod, now),
            ReasmOutcome::Dropped(ReasmDrop::Oversize)
        );
        // ...and takes its datagram with it.
        assert_eq!(
            r.insert(&frag(3, 0, 64, true, 0), now),
            ReasmOutcome::Pending
        );
        let mut pod = frag(3, 65512, 16, false, 0);
        Ipv4Packet::new_unchecked(&mut pod[..]).fill_checksum();
        assert_eq!(
            r.insert(&pod, now),
            ReasmOutcome::Dropped(ReasmDrop::Oversize)
        );
        check_empty(&r);
        // Every fragment fits, but a 60-byte first header makes the whole
        // pass 65,535.
        let opts = [0x83, 39, 4]
            .iter()
            .copied()
            .chain([0u8; 37])
            .collect::<Vec<u8>>();
        let big = datagram(64, &opts, false, 4);
        let mut first = big.clone();
        let mut p = Ipv4Packet::new_unchecked(&mut first[..]);
        p.set_flags_frag(false, true, 0);
        p.fill_checksum();
        assert_eq!(r.insert(&first, now), ReasmOutcome::Pending);
        let mut off = 64;
        while off + 1480 < MAX_PACKET_LEN - HEADER_LEN {
            assert_eq!(
                r.insert(&frag(4, off as u16, 1480, true, 0), now),
                ReasmOutcome::Pending
            );
            off += 1480;
        }
        let tail = MAX_PACKET_LEN - HEADER_LEN - off;
        assert_eq!(
            r.insert(&frag(4, off as u16, tail, false, 0), now),
            ReasmOutcome::Dropped(ReasmDrop::Oversize)
        );
        check_empty(&r);
    }

    fn shuffle<T>(items: &mut [T], mut seed: u64) {
        for i in (1..items.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            items.swap(i, (seed % (i as u64 + 1)) as usize);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn random_fragmentations_reassemble(
            payload in proptest::collection::vec(any::<u8>(), 1..12000),
            mtu in 68usize..2000,
            copied_option in any::<bool>(),
            seed in 1u64..,
            dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let opts: &[u8] = if copied_option { &[0x83, 7, 4, 10, 0, 0, 1, 0] } else { &[] };
            let mut d = datagram(payload.len(), opts, false, 77);
            let hl = d.len() - payload.len();
            d[hl..].copy_from_slice(&payload);
            Ipv4Packet::new_unchecked(&mut d[..]).fill_checksum();
            let mut frags = cut(&d, mtu).unwrap();
            for f in &frags {
                prop_assert!(f.len() <= mtu);
            }
            // A datagram that fits is not cut, and is no fragment.
            prop_assume!(frags.len() > 1);
            let extra: Vec<Vec<u8>> = dups.iter().map(|i| i.get(&frags).clone()).collect();
            frags.extend(extra);
            shuffle(&mut frags, seed);

            let mut r = reasm();
            let now = Instant::now();
            let mut completions = 0;
            for f in &frags {
                match r.insert(f, now) {
                    // Duplicates arriving after completion may build a
                    // second copy, as they would in Linux.
                    ReasmOutcome::Complete(got) => {
                        prop_assert_eq!(&got, &d);
                        completions += 1;
                    }
                    ReasmOutcome::Pending => {}
                    other => prop_assert!(false, "{:?}", other),
                }
            }
            prop_assert!(completions >= 1);
            prop_assert_eq!(r.stats().fails, 0);
        }

        #[test]
        fn random_fragments_never_panic(
            frags in proptest::collection::vec(
                (0u16..8192, 0usize..200, any::<bool>(), 0u16..3),
                1..60,
            ),
        ) {
            let mut r = Reassembler::new(ReasmConfig { high_thresh: 20_000, ..ReasmConfig::default() });
            let now = Instant::now();
            for (unit, len, more, id) in frags {
                let f = frag(id, unit * 8, len, more, unit as u8);
                if let ReasmOutcome::Complete(d) = r.insert(&f, now) {
                    let p = Ipv4Packet::new_checked(&d[..]).unwrap();
                    prop_assert!(p.verify_checksum());
                    prop_assert_eq!(usize::from(p.total_len()), d.len());
                }
                prop_assert!(r.mem() <= 20_000);
            }
            let _ = r.poll(now + Duration::from_secs(30));
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.mem(), 0);
        }
    }
}
