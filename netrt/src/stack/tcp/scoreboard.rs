//! The sender's SACK scoreboard and loss recovery choices (RFC 6675).
//!
//! [`Scoreboard`] records which bytes of `[SND.UNA, SND.NXT)` the peer
//! reported with SACK blocks (a sorted list of disjoint ranges), and from
//! that answers RFC 6675's questions:
//!
//! * [`is_lost`](Scoreboard::is_lost): are `DupThresh` (3) discontiguous
//!   SACKed ranges, or more than `(DupThresh − 1)·SMSS` SACKed bytes,
//!   above this sequence number?
//! * [`pipe`](Scoreboard::pipe): the bytes estimated in the network:
//!   unSACKed bytes not deemed lost, plus retransmitted bytes.
//! * [`next_seg`](Scoreboard::next_seg): what to send next during
//!   recovery (rules 1-4: a lost hole, new data, any hole, the rescue
//!   retransmission).
//!
//! Everything is computed per *hole* (an unSACKed gap), not per segment:
//! between two SACKed ranges the amount SACKed above a byte is the same
//! for every byte, so a hole is lost or not as a whole.
//! // linux: tcp_sacktag_write_queue, tcp_mark_head_lost, tcp_packets_in_flight

use std::collections::VecDeque;

use crate::wire::tcp::{SackBlock, SeqNumber};

/// RFC 6675 `DupThresh`.
pub const DUP_THRESH: u32 = 3;

/// Blocks longer than this (the largest window) are bogus.
const MAX_SPAN: u32 = 1 << 30;

/// What an ACK changed on the scoreboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckInfo {
    /// Bytes newly acknowledged cumulatively.
    pub cum_acked: u32,
    /// Bytes newly SACKed (not SACKed before).
    pub newly_sacked: u32,
    /// A D-SACK block (RFC 2883): the peer received this range twice.
    pub dsack: Option<SackBlock>,
    /// Blocks ignored as invalid (outside `[SND.UNA, SND.NXT)`, empty,
    /// reversed): to be counted and otherwise dropped.
    pub bogus: u32,
}

/// What [`Scoreboard::next_seg`] says to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextSeg {
    /// Retransmit `len` bytes at `seq` (RFC 6675 rule 1 when `lost`,
    /// rule 3 otherwise); then call
    /// [`on_retransmit`](Scoreboard::on_retransmit).
    Retransmit {
        /// First byte.
        seq: SeqNumber,
        /// Bytes, at most one MSS.
        len: u32,
        /// The hole is deemed lost (rule 1) rather than merely unSACKed
        /// (rule 3).
        lost: bool,
    },
    /// Send new data (rule 2).
    NewData,
    /// The rescue retransmission (rule 4) of `len` bytes at `seq`; then
    /// call [`on_rescue`](Scoreboard::on_rescue).
    Rescue {
        /// First byte.
        seq: SeqNumber,
        /// Bytes, at most one MSS.
        len: u32,
    },
    /// Nothing may be sent.
    Nothing,
}

/// One unSACKed gap `[start, end)` and whether it is deemed lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    start: SeqNumber,
    end: SeqNumber,
    lost: bool,
}

/// The SACK scoreboard of one connection.
#[derive(Debug, Clone)]
pub struct Scoreboard {
    snd_una: SeqNumber,
    snd_nxt: SeqNumber,
    /// SACKed ranges, sorted, disjoint and not adjacent.
    sacked: VecDeque<(SeqNumber, SeqNumber)>,
    sacked_bytes: u32,
    /// Recovery state: the recovery point (SND.NXT at entry).
    recovery_point: Option<SeqNumber>,
    /// End of the highest retransmitted range (`HighRxt` + 1).
    high_rxt: SeqNumber,
    /// `RescueRxt`.
    rescue_rxt: Option<SeqNumber>,
}

impl Scoreboard {
    /// A scoreboard with nothing outstanding, `SND.UNA = SND.NXT = isn`.
    pub fn new(isn: SeqNumber) -> Scoreboard {
        Scoreboard {
            snd_una: isn,
            snd_nxt: isn,
            sacked: VecDeque::new(),
            sacked_bytes: 0,
            recovery_point: None,
            high_rxt: isn,
            rescue_rxt: None,
        }
    }

    /// `SND.UNA` as the scoreboard knows it.
    pub fn snd_una(&self) -> SeqNumber {
        self.snd_una
    }

    /// New data was sent: `SND.NXT` advanced to `snd_nxt`.
    pub fn on_send(&mut self, snd_nxt: SeqNumber) {
        if snd_nxt > self.snd_nxt {
            self.snd_nxt = snd_nxt;
        }
    }

    /// Bytes SACKed and not yet cumulatively acknowledged.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked_bytes
    }

    /// The end of the highest SACKed range.
    pub fn highest_sacked(&self) -> Option<SeqNumber> {
        self.sacked.back().map(|r| r.1)
    }

    /// Whether `seq` was SACKed.
    pub fn is_sacked(&self, seq: SeqNumber) -> bool {
        let i = self.sacked.partition_point(|r| r.1 <= seq);
        self.sacked.get(i).is_some_and(|r| r.0 <= seq)
    }

    /// Processes an ACK: the cumulative acknowledgement `ack` and the
    /// SACK blocks it carried. Invalid blocks are ignored and counted; a
    /// D-SACK block (first block below `ack`, or inside the second one)
    /// is returned, not recorded.
    pub fn on_ack(&mut self, ack: SeqNumber, blocks: &[SackBlock]) -> AckInfo {
        let mut info = AckInfo::default();
        if ack > self.snd_una && ack <= self.snd_nxt {
            info.cum_acked = ack.distance(self.snd_una);
            self.snd_una = ack;
            self.trim_below(ack);
            if self.high_rxt < ack {
                self.high_rxt = ack;
            }
        }
        for (i, b) in blocks.iter().enumerate() {
            if i == 0 && is_dsack(b, blocks.get(1), ack) {
                info.dsack = Some(*b);
                continue;
            }
            let (mut l, r) = (b.left, b.right);
            let valid = l < r && r.distance(l) <= MAX_SPAN && r > self.snd_una && r <= self.snd_nxt;
            if !valid {
                info.bogus += 1;
                continue;
            }
            if l < self.snd_una {
                l = self.snd_una; // partly acknowledged already
            }
            info.newly_sacked += self.mark(l, r);
        }
        info
    }

    /// Records `[l, r)` as SACKed; returns the bytes not SACKed before.
    fn mark(&mut self, l: SeqNumber, r: SeqNumber) -> u32 {
        // Ranges touching [l, r) (overlapping or adjacent) merge into it.
        let i = self.sacked.partition_point(|x| x.1 < l);
        let mut j = i;
        let (mut nl, mut nr) = (l, r);
        let mut before = 0;
        while let Some(&(xl, xr)) = self.sacked.get(j) {
            if xl > r {
                break;
            }
            nl = nl.min(xl);
            nr = nr.max(xr);
            before += xr.distance(xl);
            j += 1;
        }
        let new = nr.distance(nl) - before;
        if j > i {
            self.sacked[i] = (nl, nr);
            self.sacked.drain(i + 1..j);
        } else {
            self.sacked.insert(i, (nl, nr));
        }
        self.sacked_bytes += new;
        new
    }

    fn trim_below(&mut self, una: SeqNumber) {
        while let Some(&(l, r)) = self.sacked.front() {
            if r <= una {
                self.sacked.pop_front();
                self.sacked_bytes -= r.distance(l);
            } else {
                if l < una {
                    self.sacked[0].0 = una;
                    self.sacked_bytes -= una.distance(l);
                }
                break;
            }
        }
    }

    /// RFC 6675 `IsLost(seq)`: `DupThresh` discontiguous SACKed ranges
    /// above `seq`, or more than `(DupThresh − 1)·mss` SACKed bytes.
    pub fn is_lost(&self, seq: SeqNumber, mss: u32) -> bool {
        let mut ranges = 0;
        let mut bytes = 0u32;
        for &(l, r) in self.sacked.iter().rev() {
            if r <= seq {
                break;
            }
            // Only what lies above `seq` counts.
            let l = l.max(seq + 1);
            if l < r {
                ranges += 1;
                bytes = bytes.saturating_add(r.distance(l));
            }
            if lost_by(ranges, bytes, mss) {
                return true;
            }
        }
        false
    }

    /// The unSACKed holes of `[SND.UNA, SND.NXT)`, lowest first, each
    /// with its loss verdict. Walks the ranges once.
    fn holes(&self, mss: u32) -> impl Iterator<Item = Hole> + '_ {
        // SACKed ranges and bytes above each hole: count from the top.
        let n = self.sacked.len();
        let mut above_bytes = self.sacked_bytes;
        let mut k = 0;
        let mut start = self.snd_una;
        std::iter::from_fn(move || loop {
            if start >= self.snd_nxt {
                return None;
            }
            let (end, next_start) = match self.sacked.get(k) {
                Some(&(l, r)) => (l, r),
                None => (self.snd_nxt, self.snd_nxt),
            };
            let hole = Hole {
                start,
                end,
                lost: lost_by((n - k) as u32, above_bytes, mss),
            };
            if let Some(&(l, r)) = self.sacked.get(k) {
                above_bytes -= r.distance(l);
            }
            k += 1;
            start = next_start;
            if hole.start < hole.end {
                return Some(hole);
            }
        })
    }

    /// RFC 6675 `SetPipe`: unSACKed bytes not deemed lost, plus bytes
    /// retransmitted during this recovery (below `HighRxt`).
    pub fn pipe(&self, mss: u32) -> u32 {
        let mut pipe = 0u32;
        for h in self.holes(mss) {
            if !h.lost {
                pipe += h.end.distance(h.start);
            }
            if self.high_rxt > h.start {
                pipe += self.high_rxt.min(h.end).distance(h.start);
            }
        }
        pipe
    }

    /// Starts loss recovery at the current `SND.NXT` (the recovery
    /// point); nothing retransmitted yet.
    pub fn enter_recovery(&mut self) {
        self.recovery_point = Some(self.snd_nxt);
        self.high_rxt = self.snd_una;
        self.rescue_rxt = None;
    }

    /// Whether recovery is in progress.
    pub fn in_recovery(&self) -> bool {
        self.recovery_point.is_some()
    }

    /// The recovery point, while in recovery.
    pub fn recovery_point(&self) -> Option<SeqNumber> {
        self.recovery_point
    }

    /// Recovery ends once the cumulative ACK covers the recovery point;
    /// returns whether it just ended.
    pub fn maybe_exit_recovery(&mut self) -> bool {
        match self.recovery_point {
            Some(rp) if self.snd_una >= rp => {
                self.recovery_point = None;
                self.high_rxt = self.snd_una;
                self.rescue_rxt = None;
                true
            }
            _ => false,
        }
    }

    /// An RTO: every SACK is discarded as Linux does by default when the
    /// peer may have reneged, and recovery ends. // linux: tcp_enter_loss
    pub fn on_rto(&mut self) {
        self.sacked.clear();
        self.sacked_bytes = 0;
        self.recovery_point = None;
        self.high_rxt = self.snd_una;
        self.rescue_rxt = None;
    }

    /// Records a retransmission of `[seq, seq + len)` (`HighRxt`).
    pub fn on_retransmit(&mut self, seq: SeqNumber, len: u32) {
        let end = seq + len;
        if end > self.high_rxt {
            self.high_rxt = end;
        }
    }

    /// Records the rescue retransmission (`RescueRxt = RecoveryPoint`).
    pub fn on_rescue(&mut self) {
        self.rescue_rxt = self.recovery_point;
    }

    /// RFC 6675 `NextSeg()`: what to send next in recovery. `new_data`
    /// says whether unsent data exists and the receive window allows it.
    pub fn next_seg(&self, mss: u32, new_data: bool) -> NextSeg {
        let mss = mss.max(1);
        let top = self.highest_sacked();
        // Rules 1 and 3: the first hole above HighRxt, below the highest
        // SACKed byte.
        let mut candidate = None;
        for h in self.holes(mss) {
            if top.is_none_or(|t| h.start >= t) {
                break;
            }
            let s = h.start.max(self.high_rxt);
            if s < h.end {
                candidate = Some((s, h.end.distance(s).min(mss), h.lost));
                break;
            }
        }
        if let Some((seq, len, true)) = candidate {
            return NextSeg::Retransmit {
                seq,
                len,
                lost: true,
            };
        }
        if new_data {
            return NextSeg::NewData;
        }
        if let Some((seq, len, lost)) = candidate {
            return NextSeg::Retransmit { seq, len, lost };
        }
        // Rule 4: once per recovery, the highest unSACKed segment.
        let rescue_ok = self.in_recovery() && self.rescue_rxt.is_none_or(|r| self.snd_una > r);
        if rescue_ok {
            if let Some(h) = self.holes(mss).last() {
                let len = h.end.distance(h.start).min(mss);
                return NextSeg::Rescue {
                    seq: h.end - len,
                    len,
                };
            }
        }
        NextSeg::Nothing
    }
}

/// The IsLost test on what lies above: ranges and bytes.
fn lost_by(ranges: u32, bytes: u32, mss: u32) -> bool {
    ranges >= DUP_THRESH || bytes > (DUP_THRESH - 1).saturating_mul(mss)
}

/// RFC 2883: the first block is a D-SACK when it lies below the
/// cumulative ACK or inside the second block.
fn is_dsack(first: &SackBlock, second: Option<&SackBlock>, ack: SeqNumber) -> bool {
    if first.left >= first.right {
        return false;
    }
    if first.right <= ack {
        return true;
    }
    second.is_some_and(|s| s.left < s.right && first.left >= s.left && first.right <= s.right)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn b(l: u32, r: u32) -> SackBlock {
        SackBlock {
            left: SeqNumber(l),
            right: SeqNumber(r),
        }
    }

    fn board(base: u32, sent: u32) -> Scoreboard {
        let mut sb = Scoreboard::new(SeqNumber(base));
        sb.on_send(SeqNumber(base) + sent);
        sb
    }

    #[test]
    fn first_segment_lost_three_dupacks() {
        // Ten segments out, the first lost; dupACKs SACK 1, 2, 3.
        let mut sb = board(0, 10 * MSS);
        let i = sb.on_ack(SeqNumber(0), &[b(1000, 2000)]);
        assert_eq!(i.newly_sacked, 1000);
        assert!(!sb.is_lost(SeqNumber(0), MSS));
        sb.on_ack(SeqNumber(0), &[b(1000, 3000)]);
        // 2000 bytes above: not more than (3 - 1) * 1000.
        assert!(!sb.is_lost(SeqNumber(0), MSS));
        let i = sb.on_ack(SeqNumber(0), &[b(1000, 4000)]);
        assert_eq!(i.newly_sacked, 1000);
        assert!(sb.is_lost(SeqNumber(0), MSS));
        assert!(!sb.is_lost(SeqNumber(4000), MSS));
        // Pipe: the lost hole does not count; 4000..10000 does.
        assert_eq!(sb.pipe(MSS), 6000);
        sb.enter_recovery();
        let n = sb.next_seg(MSS, true);
        assert_eq!(
            n,
            NextSeg::Retransmit {
                seq: SeqNumber(0),
                len: 1000,
                lost: true
            }
        );
        sb.on_retransmit(SeqNumber(0), 1000);
        // The retransmission is in the pipe now.
        assert_eq!(sb.pipe(MSS), 7000);
        // Nothing lost remains: new data (rule 2) ...
        assert_eq!(sb.next_seg(MSS, true), NextSeg::NewData);
        // ... or, without any, the rescue of the last segment (rule 4).
        let rescue = NextSeg::Rescue {
            seq: SeqNumber(9000),
            len: 1000,
        };
        assert_eq!(sb.next_seg(MSS, false), rescue);
        sb.on_rescue();
        assert_eq!(sb.next_seg(MSS, false), NextSeg::Nothing);
        // The retransmission is acknowledged up to the SACKed data.
        let i = sb.on_ack(SeqNumber(4000), &[]);
        assert_eq!(i.cum_acked, 4000);
        assert_eq!(sb.sacked_bytes(), 0);
        assert!(!sb.maybe_exit_recovery());
        assert_eq!(sb.pipe(MSS), 6000);
        // Everything acknowledged: recovery over.
        sb.on_ack(SeqNumber(10_000), &[]);
        assert!(sb.maybe_exit_recovery());
        assert!(!sb.in_recovery());
        assert_eq!(sb.pipe(MSS), 0);
    }

    #[test]
    fn discontiguous_blocks_and_rule_three() {
        // Holes: [0,2000) [3000,4000) [5000,6000) [7000,8000).
        let mut sb = board(0, 8 * MSS);
        let i = sb.on_ack(SeqNumber(0), &[b(6000, 7000), b(4000, 5000), b(2000, 3000)]);
        assert_eq!(i.newly_sacked, 3000);
        // Three ranges above 0: lost. Above 3000: two ranges, 2000 bytes.
        assert!(sb.is_lost(SeqNumber(0), MSS));
        assert!(sb.is_lost(SeqNumber(1999), MSS));
        assert!(!sb.is_lost(SeqNumber(3000), MSS));
        // Pipe: [3000,4000) + [5000,6000) + [7000,8000).
        assert_eq!(sb.pipe(MSS), 3000);
        sb.enter_recovery();
        // Rule 1: two segments of the lost hole, one MSS at a time.
        for seq in [0, 1000] {
            let n = sb.next_seg(MSS, false);
            let want = NextSeg::Retransmit {
                seq: SeqNumber(seq),
                len: 1000,
                lost: true,
            };
            assert_eq!(n, want);
            sb.on_retransmit(SeqNumber(seq), 1000);
        }
        assert_eq!(sb.pipe(MSS), 5000);
        // No lost hole left: new data wins over rule 3 ...
        assert_eq!(sb.next_seg(MSS, true), NextSeg::NewData);
        // ... else rule 3 retransmits the next unSACKed hole.
        let want = NextSeg::Retransmit {
            seq: SeqNumber(3000),
            len: 1000,
            lost: false,
        };
        assert_eq!(sb.next_seg(MSS, false), want);
        // A larger MSS makes 2000 SACKed bytes insufficient; smaller one
        // makes [3000,4000) lost (2000 > 2 * 500).
        assert!(sb.is_lost(SeqNumber(3000), 500));
    }

    #[test]
    fn merging_and_cumulative_trimming() {
        let mut sb = board(1000, 10 * MSS);
        sb.on_ack(SeqNumber(1000), &[b(3000, 4000)]);
        sb.on_ack(SeqNumber(1000), &[b(5000, 6000), b(3000, 4000)]);
        assert_eq!(sb.sacked_bytes(), 2000);
        // A block bridging both merges them (only the gap is new).
        let i = sb.on_ack(SeqNumber(1000), &[b(3500, 5500)]);
        assert_eq!(i.newly_sacked, 1000);
        assert_eq!(sb.sacked_bytes(), 3000);
        assert!(sb.is_sacked(SeqNumber(4500)));
        assert!(!sb.is_sacked(SeqNumber(6000)));
        // Adjacent blocks merge too.
        sb.on_ack(SeqNumber(1000), &[b(6000, 6500)]);
        assert_eq!(sb.highest_sacked(), Some(SeqNumber(6500)));
        // A cumulative ACK inside the range trims it.
        let i = sb.on_ack(SeqNumber(4000), &[]);
        assert_eq!(i.cum_acked, 3000);
        assert_eq!(sb.sacked_bytes(), 2500);
        sb.on_ack(SeqNumber(7000), &[]);
        assert_eq!(sb.sacked_bytes(), 0);
        assert_eq!(sb.highest_sacked(), None);
    }

    #[test]
    fn bogus_blocks_are_ignored() {
        let mut sb = board(10_000, 5 * MSS);
        let blocks = [
            b(12_000, 11_000),      // reversed
            b(14_000, 16_000),      // beyond SND.NXT
            b(12_000, 12_000),      // empty
            b(0x8000_0000, 12_000), // wrapped nonsense
        ];
        let i = sb.on_ack(SeqNumber(10_000), &blocks);
        assert_eq!(i.bogus, 4);
        assert_eq!((i.newly_sacked, sb.sacked_bytes()), (0, 0));
        // An ACK beyond SND.NXT does not move SND.UNA.
        let i = sb.on_ack(SeqNumber(20_000), &[]);
        assert_eq!(i.cum_acked, 0);
        assert_eq!(sb.snd_una(), SeqNumber(10_000));
        // A block starting below SND.UNA counts from SND.UNA.
        let i = sb.on_ack(SeqNumber(11_000), &[b(11_500, 12_000), b(10_500, 13_000)]);
        assert_eq!(i.cum_acked, 1000);
        assert_eq!(i.newly_sacked, 2000);
        assert_eq!(i.dsack, Some(b(11_500, 12_000)));
        assert_eq!(sb.sacked_bytes(), 2000);
    }

    #[test]
    fn dsack_detection() {
        let mut sb = board(0, 10 * MSS);
        sb.on_ack(SeqNumber(5000), &[]);
        // First block below the cumulative ACK.
        let i = sb.on_ack(SeqNumber(5000), &[b(1000, 2000), b(6000, 7000)]);
        assert_eq!(i.dsack, Some(b(1000, 2000)));
        assert_eq!(i.newly_sacked, 1000);
        // First block inside the second.
        let i = sb.on_ack(SeqNumber(5000), &[b(8000, 8500), b(8000, 9000)]);
        assert_eq!(i.dsack, Some(b(8000, 8500)));
        assert_eq!(i.newly_sacked, 1000);
        // Not a D-SACK: first block beside the second.
        let i = sb.on_ack(SeqNumber(5000), &[b(9000, 9500), b(6000, 7000)]);
        assert_eq!(i.dsack, None);
        assert_eq!(i.newly_sacked, 500);
    }

    #[test]
    fn wraps_and_rto_clears() {
        let base = u32::MAX - 2500;
        let mut sb = board(base, 6 * MSS);
        let s = |off: u32| SeqNumber(base) + off;
        let blocks = [
            SackBlock {
                left: s(1000),
                right: s(2000),
            },
            SackBlock {
                left: s(3000),
                right: s(5000),
            },
        ];
        sb.on_ack(s(0), &blocks);
        assert_eq!(sb.sacked_bytes(), 3000);
        assert!(sb.is_lost(s(0), MSS));
        assert!(!sb.is_lost(s(2000), MSS));
        assert_eq!(sb.pipe(MSS), 2000); // [2000,3000) + [5000,6000)
        sb.on_rto();
        assert_eq!(sb.sacked_bytes(), 0);
        assert_eq!(sb.pipe(MSS), 6000);
        assert_eq!(sb.next_seg(MSS, false), NextSeg::Nothing);
    }

    proptest::proptest! {
        /// Arbitrary ACKs and blocks never break the invariants: ranges
        /// sorted, disjoint, inside [SND.UNA, SND.NXT), byte count exact,
        /// pipe bounded by what is outstanding plus retransmitted.
        #[test]
        fn invariants_hold_on_any_input(
            base in proptest::prelude::any::<u32>(),
            acks in proptest::collection::vec(
                (0u32..12_000, proptest::collection::vec((0u32..13_000, 0u32..13_000), 0..5)),
                1..30,
            ),
        ) {
            let mut sb = board(base, 10 * MSS);
            sb.enter_recovery();
            for (ack, blocks) in acks {
                let blocks: Vec<SackBlock> = blocks
                    .iter()
                    .map(|&(l, r)| SackBlock { left: SeqNumber(base) + l, right: SeqNumber(base) + r })
                    .collect();
                sb.on_ack(SeqNumber(base) + ack, &blocks);
                let mut sum = 0;
                let mut prev_end: Option<SeqNumber> = None;
                for &(l, r) in &sb.sacked {
                    proptest::prop_assert!(l < r && l >= sb.snd_una && r <= sb.snd_nxt);
                    if let Some(p) = prev_end {
                        proptest::prop_assert!(p < l, "sorted, disjoint, not adjacent");
                    }
                    prev_end = Some(r);
                    sum += r.distance(l);
                }
                proptest::prop_assert_eq!(sum, sb.sacked_bytes());
                let outstanding = sb.snd_nxt.distance(sb.snd_una);
                proptest::prop_assert!(sb.pipe(MSS) <= 2 * outstanding);
                match sb.next_seg(MSS, false) {
                    NextSeg::Retransmit { seq, len, .. } | NextSeg::Rescue { seq, len } => {
                        proptest::prop_assert!(len > 0 && len <= MSS);
                        proptest::prop_assert!(seq >= sb.snd_una && seq + len <= sb.snd_nxt);
                        proptest::prop_assert!(!sb.is_sacked(seq));
                        sb.on_retransmit(seq, len);
                    }
                    _ => {}
                }
            }
        }
    }
}
