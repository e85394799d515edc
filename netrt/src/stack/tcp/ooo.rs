//! The receive side's out-of-order queue and its SACK blocks.
//!
//! Segments that arrive beyond `RCV.NXT` wait here, as a sequence-sorted
//! list of non-overlapping pieces, each a view into the buffer it arrived
//! in (no copy). There is no small fixed limit on the number of gaps:
//! the only bound is memory ([`OooQueue::mem`], [`OooQueue::prune`]),
//! which the socket checks against its receive buffer.
//!
//! Insertion keeps new data only: a segment's head overlapping a queued
//! piece is cut, pieces it covers entirely are replaced by it (TCP bytes
//! at one sequence number are the same in every copy), and its tail is
//! cut where the next piece begins; each piece thus stays one contiguous
//! view of one buffer. The overlap is reported for a D-SACK (RFC 2883).
//! // linux: tcp_data_queue_ofo, tcp_ofo_queue
//!
//! SACK blocks (RFC 2018 §4): the first block holds the most recently
//! received segment, then blocks holding other recently received
//! segments, most recent first, then any other blocks.
//! // linux: tcp_sack_new_ofo_skb
//!
//! Sequence numbers are ordered wrap-safely; everything queued lies
//! within 2^30 (the largest window) of `RCV.NXT`, so the order of pieces
//! is well defined.

use std::collections::VecDeque;
use std::ops::Range;

use crate::wire::tcp::{SackBlock, SackBlocks, SeqNumber};

/// The largest receive window (RFC 7323: 2^30); data further out is
/// refused, which keeps sequence comparisons consistent.
pub const MAX_WINDOW: u32 = 1 << 30;

/// How many recently received segments are remembered for SACK order.
const RECENT: usize = SackBlocks::MAX;

/// One queued piece: `len` bytes at `seq`, held in `data[off..off+len]`.
#[derive(Debug)]
struct Piece<P> {
    seq: SeqNumber,
    data: P,
    off: usize,
    len: u32,
}

impl<P> Piece<P> {
    fn end(&self) -> SeqNumber {
        self.seq + self.len
    }
}

/// Data that became in order, handed back by [`OooQueue::pop_in_order`].
#[derive(Debug)]
pub struct InOrder<P> {
    /// Sequence number of the first byte of [`bytes`](Self::bytes).
    pub seq: SeqNumber,
    /// The buffer the segment arrived in.
    pub data: P,
    /// The new bytes within `data`.
    pub range: Range<usize>,
}

impl<P: AsRef<[u8]>> InOrder<P> {
    /// The in-order bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data.as_ref()[self.range.clone()]
    }
}

/// What an insertion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inserted {
    /// Bytes not held before (queued now).
    pub new_bytes: u32,
    /// A range of the segment that was already held or already
    /// received (the first one found), for a D-SACK block.
    pub duplicate: Option<SackBlock>,
}

/// The out-of-order queue, generic over the buffer type (`Vec<u8>`, a
/// packet buffer...).
#[derive(Debug)]
pub struct OooQueue<P> {
    pieces: VecDeque<Piece<P>>,
    /// Sum of the pieces' lengths.
    bytes: usize,
    /// Memory held: whole buffers plus bookkeeping.
    mem: usize,
    /// Starts of recently inserted data, most recent first.
    recent: [SeqNumber; RECENT],
    recent_len: usize,
}

impl<P: AsRef<[u8]>> Default for OooQueue<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: AsRef<[u8]>> OooQueue<P> {
    /// An empty queue (allocates nothing until the first insertion).
    pub fn new() -> Self {
        OooQueue {
            pieces: VecDeque::new(),
            bytes: 0,
            mem: 0,
            recent: [SeqNumber(0); RECENT],
            recent_len: 0,
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Queued bytes (payload only).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Memory held, for receive-buffer accounting: the whole buffers the
    /// pieces live in (a trimmed segment still holds its buffer) plus
    /// per-piece bookkeeping. // linux: truesize
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// Number of queued pieces.
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }

    /// The highest sequence number queued plus one, if any.
    pub fn highest(&self) -> Option<SeqNumber> {
        self.pieces.back().map(Piece::end)
    }

    fn piece_mem(p: &Piece<P>) -> usize {
        p.data.as_ref().len() + std::mem::size_of::<Piece<P>>()
    }

    /// Queues the segment `data` at `seq`, given the current `rcv_nxt`.
    /// Bytes before `rcv_nxt` or more than [`MAX_WINDOW`] past it are
    /// not queued (the caller has checked the window; this is the last
    /// line of defence).
    pub fn insert(&mut self, rcv_nxt: SeqNumber, seq: SeqNumber, data: P) -> Inserted {
        let total = data.as_ref().len().min(MAX_WINDOW as usize) as u32;
        let mut out = Inserted::default();
        if total == 0 {
            return out;
        }
        let (mut s, mut e) = (seq, seq + total);
        let limit = rcv_nxt + MAX_WINDOW;
        if s < rcv_nxt {
            let dup_end = e.min(rcv_nxt);
            out.duplicate = Some(block(s, dup_end));
            if e <= rcv_nxt {
                return out;
            }
            s = rcv_nxt;
        }
        if s >= limit {
            return out;
        }
        e = e.min(limit);

        let mut i = self.pieces.partition_point(|p| p.end() <= s);
        if let Some(p) = self.pieces.get(i).filter(|p| p.seq <= s) {
            // The head is already held.
            let held_end = p.end();
            out.duplicate.get_or_insert(block(s, e.min(held_end)));
            if e <= held_end {
                return out;
            }
            s = held_end;
            i += 1;
        }
        // Pieces entirely inside [s, e) give way to the new segment.
        let mut j = i;
        while self.pieces.get(j).is_some_and(|p| p.end() <= e) {
            j += 1;
        }
        let mut replaced = 0;
        if j > i {
            out.duplicate
                .get_or_insert(block(self.pieces[i].seq, self.pieces[i].end()));
            for p in self.pieces.drain(i..j) {
                replaced += p.len;
                self.bytes -= p.len as usize;
                self.mem -= Self::piece_mem(&p);
            }
        }
        // The tail stops where the next piece begins.
        if let Some(next) = self.pieces.get(i).filter(|p| p.seq < e) {
            out.duplicate.get_or_insert(block(next.seq, e));
            e = next.seq;
        }
        if e <= s {
            // Only the bytes between two adjacent pieces: nothing new.
            return out;
        }

        let piece = Piece {
            seq: s,
            off: s.distance(seq) as usize,
            len: e.distance(s),
            data,
        };
        out.new_bytes = piece.len - replaced;
        self.bytes += piece.len as usize;
        self.mem += Self::piece_mem(&piece);
        self.pieces.insert(i, piece);
        self.note_recent(s);
        out
    }

    fn note_recent(&mut self, s: SeqNumber) {
        self.recent.copy_within(0..RECENT - 1, 1);
        self.recent[0] = s;
        self.recent_len = (self.recent_len + 1).min(RECENT);
    }

    /// The next in-order data once `rcv_nxt` reached it: the first piece
    /// when it begins at or before `rcv_nxt`, with bytes before `rcv_nxt`
    /// cut. Call repeatedly (advancing `rcv_nxt`) to drain every piece
    /// that became in order.
    pub fn pop_in_order(&mut self, rcv_nxt: SeqNumber) -> Option<InOrder<P>> {
        loop {
            let first = self.pieces.front()?;
            if first.seq > rcv_nxt {
                return None;
            }
            let p = self.pieces.pop_front()?;
            self.bytes -= p.len as usize;
            self.mem -= Self::piece_mem(&p);
            if p.end() <= rcv_nxt {
                continue; // already received through another path
            }
            let cut = rcv_nxt.distance(p.seq) as usize;
            return Some(InOrder {
                seq: rcv_nxt,
                range: p.off + cut..p.off + p.len as usize,
                data: p.data,
            });
        }
    }

    /// Drops pieces from the highest sequence numbers down until at most
    /// `max_mem` is held; returns the payload bytes dropped (their SACK
    /// blocks vanish, so the sender will retransmit them).
    /// // linux: tcp_prune_ofo_queue
    pub fn prune(&mut self, max_mem: usize) -> usize {
        let mut dropped = 0;
        while self.mem > max_mem {
            let Some(p) = self.pieces.pop_back() else {
                break;
            };
            dropped += p.len as usize;
            self.bytes -= p.len as usize;
            self.mem -= Self::piece_mem(&p);
        }
        dropped
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.pieces.clear();
        self.bytes = 0;
        self.mem = 0;
        self.recent_len = 0;
    }

    /// The contiguous block of queued data containing `seq`.
    fn block_containing(&self, seq: SeqNumber) -> Option<SackBlock> {
        let i = self.pieces.partition_point(|p| p.end() <= seq);
        self.pieces.get(i).filter(|p| p.seq <= seq)?;
        let (mut lo, mut hi) = (i, i);
        while lo > 0 && self.pieces[lo - 1].end() == self.pieces[lo].seq {
            lo -= 1;
        }
        while hi + 1 < self.pieces.len() && self.pieces[hi].end() == self.pieces[hi + 1].seq {
            hi += 1;
        }
        Some(block(self.pieces[lo].seq, self.pieces[hi].end()))
    }

    /// SACK blocks for the next ACK, at most `max` (4 without
    /// timestamps, 3 with): `dsack` first when given (RFC 2883), then the
    /// block of the most recent segment, the blocks of other recent
    /// segments, then the remaining blocks from the highest down.
    pub fn sack_blocks(&self, dsack: Option<SackBlock>, max: usize) -> SackBlocks {
        let max = max.min(SackBlocks::MAX);
        let mut out = SackBlocks::new();
        if max == 0 {
            return out;
        }
        if let Some(d) = dsack {
            out.push(d);
        }
        let first = out.len();
        let add = |out: &mut SackBlocks, b: SackBlock| {
            if out.len() < max && !out.as_slice()[first..].contains(&b) {
                out.push(b);
            }
        };
        for &seq in &self.recent[..self.recent_len] {
            if let Some(b) = self.block_containing(seq) {
                add(&mut out, b);
            }
        }
        // The rest, walking blocks from the top.
        let mut k = self.pieces.len();
        while k > 0 && out.len() < max {
            let right = self.pieces[k - 1].end();
            k -= 1;
            while k > 0 && self.pieces[k - 1].end() == self.pieces[k].seq {
                k -= 1;
            }
            add(&mut out, block(self.pieces[k].seq, right));
        }
        out
    }
}

fn block(left: SeqNumber, right: SeqNumber) -> SackBlock {
    SackBlock { left, right }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seg(start: u32, len: usize) -> Vec<u8> {
        (0..len).map(|i| (start as usize + i) as u8).collect()
    }

    fn blk(l: u32, r: u32) -> SackBlock {
        block(SeqNumber(l), SeqNumber(r))
    }

    /// Drains everything in order from `rcv_nxt`, checking the bytes.
    fn drain(q: &mut OooQueue<Vec<u8>>, rcv_nxt: &mut SeqNumber, out: &mut Vec<u8>) {
        while let Some(d) = q.pop_in_order(*rcv_nxt) {
            assert_eq!(d.seq, *rcv_nxt);
            out.extend_from_slice(d.bytes());
            *rcv_nxt += d.bytes().len() as u32;
        }
    }

    #[test]
    fn holes_fill_and_drain_in_order() {
        let mut q = OooQueue::new();
        let nxt = SeqNumber(1000);
        assert_eq!(
            q.insert(nxt, SeqNumber(1200), seg(1200, 100)).new_bytes,
            100
        );
        assert_eq!(q.insert(nxt, SeqNumber(1100), seg(1100, 50)).new_bytes, 50);
        assert!(q.pop_in_order(nxt).is_none());
        assert_eq!(q.bytes(), 150);
        let mut rcv = SeqNumber(1100); // 1000..1100 arrived in order
        let mut out = Vec::new();
        drain(&mut q, &mut rcv, &mut out);
        assert_eq!(rcv, SeqNumber(1150));
        assert_eq!(out, seg(1100, 50));
        q.insert(rcv, SeqNumber(1150), seg(1150, 50));
        drain(&mut q, &mut rcv, &mut out);
        assert_eq!(rcv, SeqNumber(1300));
        assert_eq!(out, seg(1100, 200));
        assert!(q.is_empty());
        assert_eq!((q.bytes(), q.mem()), (0, 0));
    }

    #[test]
    fn overlaps_keep_new_data_only_and_report_duplicates() {
        let mut q = OooQueue::new();
        let nxt = SeqNumber(0);
        q.insert(nxt, SeqNumber(100), seg(100, 100)); // [100, 200)
        q.insert(nxt, SeqNumber(300), seg(300, 100)); // [300, 400)
                                                      // Exact duplicate.
        let r = q.insert(nxt, SeqNumber(120), seg(120, 30));
        assert_eq!(
            r,
            Inserted {
                new_bytes: 0,
                duplicate: Some(blk(120, 150))
            }
        );
        // Head overlap: [150, 250) adds [200, 250).
        let r = q.insert(nxt, SeqNumber(150), seg(150, 100));
        assert_eq!(
            r,
            Inserted {
                new_bytes: 50,
                duplicate: Some(blk(150, 200))
            }
        );
        // Tail overlap: [280, 320) adds [280, 300).
        let r = q.insert(nxt, SeqNumber(280), seg(280, 40));
        assert_eq!(r.new_bytes, 20);
        assert_eq!(r.duplicate, Some(blk(300, 320)));
        // Covering several pieces: [50, 500) replaces everything.
        let r = q.insert(nxt, SeqNumber(50), seg(50, 450));
        assert_eq!(r.new_bytes, 50 + 30 + 100);
        assert_eq!(q.pieces(), 1);
        assert_eq!(q.bytes(), 450);
        // Below rcv_nxt is a duplicate too.
        let r = q.insert(SeqNumber(60), SeqNumber(0), seg(0, 60));
        assert_eq!(
            r,
            Inserted {
                new_bytes: 0,
                duplicate: Some(blk(0, 60))
            }
        );
        let mut rcv = SeqNumber(50);
        let mut out = Vec::new();
        drain(&mut q, &mut rcv, &mut out);
        assert_eq!(out, seg(50, 450));
    }

    #[test]
    fn gap_between_adjacent_pieces_is_a_duplicate() {
        let mut q = OooQueue::new();
        let nxt = SeqNumber(0);
        q.insert(nxt, SeqNumber(100), seg(100, 100));
        q.insert(nxt, SeqNumber(200), seg(200, 100));
        let r = q.insert(nxt, SeqNumber(150), seg(150, 100));
        assert_eq!(
            r,
            Inserted {
                new_bytes: 0,
                duplicate: Some(blk(150, 200))
            }
        );
        assert_eq!(q.pieces(), 2);
        assert_eq!(q.sack_blocks(None, 4).as_slice(), &[blk(100, 300)]);
    }

    #[test]
    fn wraps_around_zero() {
        let mut q = OooQueue::new();
        let mut rcv = SeqNumber(u32::MAX - 99);
        q.insert(rcv, SeqNumber(50), seg(50, 50));
        q.insert(rcv, SeqNumber(u32::MAX - 49), seg(1, 100));
        assert_eq!(
            q.sack_blocks(None, 4).as_slice(),
            &[blk(u32::MAX - 49, 100)]
        );
        let mut out = Vec::new();
        q.insert(rcv, rcv, seg(7, 50));
        drain(&mut q, &mut rcv, &mut out);
        assert_eq!(rcv, SeqNumber(100));
        assert_eq!(out.len(), 200);
    }

    #[test]
    fn refuses_data_beyond_the_largest_window() {
        let mut q: OooQueue<Vec<u8>> = OooQueue::new();
        let nxt = SeqNumber(0);
        let r = q.insert(nxt, SeqNumber(MAX_WINDOW), vec![1; 10]);
        assert_eq!(r, Inserted::default());
        let r = q.insert(nxt, SeqNumber(MAX_WINDOW - 4), vec![1; 10]);
        assert_eq!(r.new_bytes, 4);
        assert_eq!(q.insert(nxt, SeqNumber(5), Vec::new()), Inserted::default());
    }

    #[test]
    fn sack_order_follows_rfc_2018() {
        let mut q = OooQueue::new();
        let nxt = SeqNumber(0);
        // Three holes: blocks A=[100,200) B=[300,400) C=[500,600).
        q.insert(nxt, SeqNumber(500), seg(0, 100));
        q.insert(nxt, SeqNumber(100), seg(0, 100));
        q.insert(nxt, SeqNumber(300), seg(0, 100));
        let s = q.sack_blocks(None, 4);
        assert_eq!(s.as_slice(), &[blk(300, 400), blk(100, 200), blk(500, 600)]);
        // A segment extending A comes first, merged with A.
        q.insert(nxt, SeqNumber(200), seg(0, 50));
        let s = q.sack_blocks(None, 4);
        assert_eq!(s.as_slice(), &[blk(100, 250), blk(300, 400), blk(500, 600)]);
        // Only 3 fit with timestamps; a D-SACK takes the first slot.
        let s = q.sack_blocks(Some(blk(10, 20)), 3);
        assert_eq!(s.as_slice(), &[blk(10, 20), blk(100, 250), blk(300, 400)]);
        assert!(q.sack_blocks(None, 0).is_empty());
        // Blocks that become in order disappear.
        let mut rcv = SeqNumber(100);
        let mut out = Vec::new();
        drain(&mut q, &mut rcv, &mut out);
        assert_eq!(
            q.sack_blocks(None, 4).as_slice(),
            &[blk(300, 400), blk(500, 600)]
        );
        // Five blocks: the four most relevant are reported.
        for s in [700, 900, 1100] {
            q.insert(rcv, SeqNumber(s), seg(0, 10));
        }
        let s = q.sack_blocks(None, 4);
        assert_eq!(
            s.as_slice(),
            &[blk(1100, 1110), blk(900, 910), blk(700, 710), blk(500, 600)]
        );
    }

    #[test]
    fn prune_drops_the_highest_first() {
        let mut q = OooQueue::new();
        let nxt = SeqNumber(0);
        for s in [100u32, 300, 500] {
            q.insert(nxt, SeqNumber(s), seg(s, 100));
        }
        let per_piece = q.mem() / 3;
        assert_eq!(q.prune(2 * per_piece), 100);
        assert_eq!(q.highest(), Some(SeqNumber(400)));
        assert_eq!(q.prune(0), 200);
        assert!(q.is_empty());
        assert_eq!(q.mem(), 0);
    }

    proptest! {
        /// Any arrival order of any overlapping cover of the stream,
        /// with draining interleaved, reassembles the stream exactly.
        #[test]
        fn random_arrivals_reassemble(
            len in 1usize..3000,
            isn_back in 0u32..2000,
            cuts in prop::collection::vec((0usize..3000, 1usize..400), 0..40),
            order in prop::collection::vec(any::<u32>(), 1..200),
            drain_every in 1usize..8,
        ) {
            let isn = SeqNumber(0u32.wrapping_sub(isn_back)); // crosses 0
            let stream: Vec<u8> = (0..len).map(|i| (i * 7 + i / 256) as u8).collect();
            // A cover: consecutive segments, plus random overlapping ones.
            let mut segs: Vec<(usize, usize)> = Vec::new();
            let mut at = 0;
            let mut sizes = order.iter().cycle();
            while at < len {
                let n = 1 + (*sizes.next().unwrap() as usize % 300);
                let n = n.min(len - at);
                segs.push((at, n));
                at += n;
            }
            for (s, n) in cuts {
                let s = s % len;
                segs.push((s, n.min(len - s)));
            }
            // Shuffle by the random keys.
            let mut keyed: Vec<(u32, (usize, usize))> = segs
                .into_iter()
                .enumerate()
                .map(|(i, s)| (order[i % order.len()].rotate_left(i as u32), s))
                .collect();
            keyed.sort_by_key(|k| k.0);

            let mut q = OooQueue::new();
            let mut rcv = isn;
            let mut out = Vec::new();
            for (k, (_, (s, n))) in keyed.iter().enumerate() {
                let seq = isn + *s as u32;
                q.insert(rcv, seq, stream[*s..*s + *n].to_vec());
                prop_assert!(q.bytes() <= len);
                if k % drain_every == 0 {
                    drain(&mut q, &mut rcv, &mut out);
                    // SACK blocks lie above rcv_nxt, non-empty, distinct.
                    let sacks = q.sack_blocks(None, 4);
                    let sacks = sacks.as_slice();
                    for (x, b) in sacks.iter().enumerate() {
                        prop_assert!(b.left > rcv && b.left < b.right);
                        prop_assert!(!sacks[..x].contains(b));
                    }
                }
            }
            drain(&mut q, &mut rcv, &mut out);
            prop_assert_eq!(&out, &stream);
            prop_assert!(q.is_empty());
            prop_assert_eq!(q.mem(), 0);
        }
    }
}
