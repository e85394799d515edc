//! Queueing disciplines between IPv4 output and the driver.
//!
//! [`Qdisc`] is the interface `dev_queue_xmit` uses: enqueue with the
//! packet's priority (Linux `skb->priority`: the socket's `SO_PRIORITY`, or
//! derived from the IPv4 TOS by [`tos_to_priority`]), dequeue what the
//! driver may send next. [`PfifoFast`] is the default: three FIFO bands,
//! band 0 always served first, the band chosen by a 16-entry priority map.
//! Rings are allocated when the qdisc is built, so enqueue and dequeue
//! never allocate. // linux: net/sched/sch_generic.c (pfifo_fast)

use std::collections::VecDeque;
use std::io;

/// A queueing discipline over packets of type `P`.
pub trait Qdisc<P>: Send {
    /// Queues `pkt` with Linux-style `priority` (0..=15; higher bits are
    /// ignored). A full queue hands the packet back, counted as a drop.
    fn enqueue(&mut self, pkt: P, priority: u8) -> Result<(), P>;

    /// The next packet to transmit, if any.
    fn dequeue(&mut self) -> Option<P>;

    /// Packets queued.
    fn len(&self) -> usize;

    /// True when nothing is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters (`tc -s qdisc`).
    fn stats(&self) -> QdiscStats;
}

/// Qdisc counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QdiscStats {
    /// Packets handed to the driver (dequeued).
    pub sent: u64,
    /// Packets refused because their band was full.
    pub dropped: u64,
    /// Packets queued now.
    pub backlog: usize,
}

/// Linux's logical packet priorities (`TC_PRIO_*`), the values
/// [`tos_to_priority`] produces and priority maps are indexed by.
pub mod tc_prio {
    /// Normal traffic.
    pub const BESTEFFORT: u8 = 0;
    /// "Minimize cost": below best effort.
    pub const FILLER: u8 = 1;
    /// "Maximize throughput".
    pub const BULK: u8 = 2;
    /// "Minimize delay" and "maximize throughput" together.
    pub const INTERACTIVE_BULK: u8 = 4;
    /// "Minimize delay".
    pub const INTERACTIVE: u8 = 6;
    /// Network control traffic.
    pub const CONTROL: u8 = 7;
    /// Highest priority value; priorities are masked with it.
    pub const MAX: u8 = 15;
}

/// RFC 1349 TOS bits (inside the old TOS byte, below the precedence).
const TOS_LOWDELAY: u8 = 0x10;
const TOS_THROUGHPUT: u8 = 0x08;
const TOS_RELIABILITY: u8 = 0x04;
const TOS_MINCOST: u8 = 0x02;

/// The priority of a packet from its IPv4 TOS byte, from the four RFC 1349
/// TOS bits only: precedence and ECN bits are ignored, as in Linux (so most
/// DSCP values land in best effort). "Minimize delay" makes it
/// interactive, "maximize throughput" bulk, both interactive-bulk, and
/// "minimize cost" alone filler. // linux: rt_tos2priority / ip_tos2prio
#[inline]
pub const fn tos_to_priority(tos: u8) -> u8 {
    TOS2PRIO[((tos & 0x1e) >> 1) as usize]
}

/// [`tos_to_priority`] for each value of the four TOS bits.
const TOS2PRIO: [u8; 16] = {
    let mut table = [tc_prio::BESTEFFORT; 16];
    let mut i = 0;
    while i < 16 {
        let tos = (i as u8) << 1;
        let lowdelay = tos & TOS_LOWDELAY != 0;
        let throughput = tos & TOS_THROUGHPUT != 0;
        table[i] = match (lowdelay, throughput) {
            (true, true) => tc_prio::INTERACTIVE_BULK,
            (true, false) => tc_prio::INTERACTIVE,
            (false, true) => tc_prio::BULK,
            (false, false) if tos & (TOS_MINCOST | TOS_RELIABILITY) == TOS_MINCOST => {
                tc_prio::FILLER
            }
            (false, false) => tc_prio::BESTEFFORT,
        };
        i += 1;
    }
    table
};

/// Number of bands of [`PfifoFast`].
pub const PFIFO_FAST_BANDS: usize = 3;

/// Default priority → band map (`tc qdisc show`: `priomap 1 2 2 2 1 2 0 0
/// 1 1 1 1 1 1 1 1`): interactive and control in band 0, best effort and
/// interactive-bulk in band 1, bulk and filler in band 2, unnamed
/// priorities 8..=15 in band 1.
pub const DEFAULT_PRIOMAP: [u8; 16] = {
    let mut map = [1u8; 16];
    map[tc_prio::FILLER as usize] = 2;
    map[tc_prio::BULK as usize] = 2;
    map[3] = 2;
    map[5] = 2;
    map[tc_prio::INTERACTIVE as usize] = 0;
    map[tc_prio::CONTROL as usize] = 0;
    map
};

/// Default queue length of a device (`txqueuelen`).
pub const DEFAULT_TXQUEUELEN: usize = 1000;

/// Three-band strict-priority FIFO, the default qdisc. Each band holds up
/// to `limit` packets (Linux sizes each band's ring by `txqueuelen`).
#[derive(Debug)]
pub struct PfifoFast<P> {
    bands: [VecDeque<P>; PFIFO_FAST_BANDS],
    priomap: [u8; 16],
    limit: usize,
    sent: u64,
    dropped: u64,
}

impl<P> PfifoFast<P> {
    /// A qdisc with the default priority map, `limit` packets per band
    /// (rings allocated now).
    pub fn new(limit: usize) -> Self {
        PfifoFast {
            bands: std::array::from_fn(|_| VecDeque::with_capacity(limit)),
            priomap: DEFAULT_PRIOMAP,
            limit,
            sent: 0,
            dropped: 0,
        }
    }

    /// A qdisc with its own priority map; `InvalidInput` if an entry names
    /// a band past the third.
    pub fn with_priomap(limit: usize, priomap: [u8; 16]) -> io::Result<Self> {
        if priomap.iter().any(|&b| usize::from(b) >= PFIFO_FAST_BANDS) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "pfifo_fast has 3 bands",
            ));
        }
        Ok(PfifoFast {
            priomap,
            ..PfifoFast::new(limit)
        })
    }

    /// The band a packet of `priority` goes to.
    #[inline]
    pub fn band(&self, priority: u8) -> usize {
        usize::from(self.priomap[usize::from(priority & tc_prio::MAX)])
    }

    /// Packets queued in `band` (0 if there is no such band).
    pub fn band_len(&self, band: usize) -> usize {
        self.bands.get(band).map_or(0, VecDeque::len)
    }
}

impl<P> Default for PfifoFast<P> {
    fn default() -> Self {
        PfifoFast::new(DEFAULT_TXQUEUELEN)
    }
}

impl<P: Send> Qdisc<P> for PfifoFast<P> {
    #[inline]
    fn enqueue(&mut self, pkt: P, priority: u8) -> Result<(), P> {
        let band = self.band(priority);
        let queue = &mut self.bands[band];
        if queue.len() >= self.limit {
            self.dropped += 1;
            return Err(pkt);
        }
        // Within the capacity reserved at construction: no allocation.
        queue.push_back(pkt);
        Ok(())
    }

    #[inline]
    fn dequeue(&mut self) -> Option<P> {
        let pkt = self.bands.iter_mut().find_map(VecDeque::pop_front)?;
        self.sent += 1;
        Some(pkt)
    }

    fn len(&self) -> usize {
        self.bands.iter().map(VecDeque::len).sum()
    }

    fn stats(&self) -> QdiscStats {
        QdiscStats {
            sent: self.sent,
            dropped: self.dropped,
            backlog: self.len(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn tos_to_priority_matches_linux_table() {
        // Linux ip_tos2prio, indexed by (tos & 0x1e) >> 1.
        let linux = [0, 1, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4];
        for (i, &want) in linux.iter().enumerate() {
            assert_eq!(tos_to_priority((i as u8) << 1), want, "index {i}");
        }
        assert_eq!(tos_to_priority(0x10), tc_prio::INTERACTIVE);
        assert_eq!(tos_to_priority(0x08), tc_prio::BULK);
        assert_eq!(tos_to_priority(0x02), tc_prio::FILLER);
        // Precedence and ECN bits do not matter.
        assert_eq!(tos_to_priority(0xe0 | 0x10 | 0x03), tc_prio::INTERACTIVE);
        // DSCP EF (46 << 2 = 0xb8) has the delay and throughput bits.
        assert_eq!(tos_to_priority(0xb8), tc_prio::INTERACTIVE_BULK);
        // DSCP CS1 (0x20) is best effort here.
        assert_eq!(tos_to_priority(0x20), tc_prio::BESTEFFORT);
    }

    #[test]
    fn default_priomap_is_linux_default() {
        assert_eq!(
            DEFAULT_PRIOMAP,
            [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
        );
        let q = PfifoFast::<u32>::default();
        assert_eq!(q.band(tos_to_priority(0x10)), 0, "low delay");
        assert_eq!(q.band(tos_to_priority(0x00)), 1, "normal");
        assert_eq!(q.band(tos_to_priority(0x08)), 2, "throughput");
        assert_eq!(q.band(tc_prio::CONTROL), 0);
        // Only the low four bits of the priority count.
        assert_eq!(q.band(0x10 | tc_prio::CONTROL), 0);
    }

    #[test]
    fn strict_priority_and_fifo_within_band() {
        let mut q = PfifoFast::new(10);
        let bulk = tos_to_priority(0x08);
        let normal = tos_to_priority(0);
        let fast = tos_to_priority(0x10);
        q.enqueue(1, bulk).unwrap();
        q.enqueue(2, normal).unwrap();
        q.enqueue(3, bulk).unwrap();
        q.enqueue(4, fast).unwrap();
        q.enqueue(5, normal).unwrap();
        assert_eq!((q.band_len(0), q.band_len(1), q.band_len(2)), (1, 2, 2));
        assert_eq!(q.len(), 5);
        assert_eq!(q.dequeue(), Some(4));
        // A late arrival in a better band overtakes.
        q.enqueue(6, fast).unwrap();
        let order: Vec<u32> = std::iter::from_fn(|| q.dequeue()).collect();
        assert_eq!(order, [6, 2, 5, 1, 3]);
        assert!(q.is_empty());
        assert_eq!(
            q.stats(),
            QdiscStats {
                sent: 6,
                dropped: 0,
                backlog: 0
            }
        );
    }

    #[test]
    fn each_band_is_bounded_and_drops_are_counted() {
        let mut q = PfifoFast::new(3);
        let caps: Vec<usize> = q.bands.iter().map(VecDeque::capacity).collect();
        for i in 0..3 {
            q.enqueue(i, 0).unwrap();
        }
        assert_eq!(q.enqueue(99, 0), Err(99));
        assert_eq!(q.enqueue(98, 0), Err(98));
        // Another band still has room.
        q.enqueue(10, tc_prio::CONTROL).unwrap();
        assert_eq!(
            q.stats(),
            QdiscStats {
                sent: 0,
                dropped: 2,
                backlog: 4
            }
        );
        // The rings never grew: nothing was allocated after construction.
        let after: Vec<usize> = q.bands.iter().map(VecDeque::capacity).collect();
        assert_eq!(caps, after);
        assert_eq!(q.dequeue(), Some(10));
        assert_eq!(q.dequeue(), Some(0));
        // Dequeueing made room again.
        q.enqueue(3, 0).unwrap();
        let rest: Vec<i32> = std::iter::from_fn(|| q.dequeue()).collect();
        assert_eq!(rest, [1, 2, 3]);
    }

    #[test]
    fn custom_priomap() {
        let mut map = [2u8; 16];
        map[0] = 0;
        let mut q = PfifoFast::with_priomap(4, map).unwrap();
        q.enqueue("low", 5).unwrap();
        q.enqueue("high", 0).unwrap();
        assert_eq!(q.dequeue(), Some("high"));
        let err = PfifoFast::<u8>::with_priomap(4, [3; 16]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn usable_as_a_trait_object() {
        let mut q: Box<dyn Qdisc<Vec<u8>>> = Box::new(PfifoFast::new(2));
        q.enqueue(vec![1], 0).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q.dequeue(), Some(vec![1]));
        assert_eq!(q.dequeue(), None);
        assert_eq!(q.stats().sent, 1);
        // A zero limit refuses everything.
        let mut q = PfifoFast::new(0);
        assert_eq!(q.enqueue(1u8, 0), Err(1));
        assert_eq!(q.stats().dropped, 1);
    }
}
