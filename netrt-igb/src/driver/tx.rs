//! TX queue: context and data descriptors, one tail write per burst,
//! completion reclaim (linux: igb_xmit_frame_ring, igb_tso, igb_tx_csum,
//! igb_tx_map, igb_clean_tx_irq).

use std::io;
use std::sync::Arc;

use crate::desc::{tx, L4Type, TxContextDesc, TxDataDesc};
use crate::device::IgbDevice;
use crate::dma::{BufId, BufPool, DmaRegion, DEFAULT_BUF_SIZE};
use crate::handoff;
use crate::regs::{self, txdctl, txq};

use super::ring::{write_tail, Ring, DEFAULT_RING_SIZE};
use super::stats::QueueCounters;

/// Frames reclaimed per clean (linux: IGB_DEFAULT_TX_WORK).
pub const TX_CLEAN_LIMIT: usize = 128;
/// Largest non-TSO frame (linux: MAX_JUMBO_FRAME_SIZE, 0x3F00).
pub const MAX_TX_FRAME: usize = 16128;
/// Largest TSO payload (IP datagram after the headers), as in Linux's
/// 64 KiB GSO limit.
pub const MAX_TSO_PAYLOAD: usize = 65535;

/// TX queue parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxConfig {
    /// Descriptors in the ring (multiple of 8, 8..=4096).
    pub ring_size: u32,
    /// Size of the DMA buffers frames are copied into (multiple of 128,
    /// at most 64 KiB; one data descriptor per buffer).
    pub buf_size: usize,
}

impl Default for TxConfig {
    fn default() -> Self {
        TxConfig {
            ring_size: DEFAULT_RING_SIZE,
            buf_size: DEFAULT_BUF_SIZE,
        }
    }
}

/// Network-layer protocol of an offloaded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L3Type {
    /// IPv4: the IP header checksum is inserted too.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// Checksum / segmentation offload request for one frame.
///
/// The driver does not touch the frame's bytes: the stack prepares the
/// headers the way the device expects (for TSO and L4 checksum insertion,
/// the L4 checksum field holds the pseudo-header sum, as Linux prepares
/// it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxOffload {
    /// Network-layer protocol.
    pub l3: L3Type,
    /// Transport protocol (TCP or UDP).
    pub l4: L4Type,
    /// Ethernet header length (14, or 18 with a VLAN tag).
    pub maclen: u8,
    /// IP header length.
    pub iplen: u16,
    /// TCP header length (TSO only).
    pub l4len: u8,
    /// Maximum segment size (TSO only).
    pub mss: u16,
    /// Segment the payload into `mss`-sized TCP segments.
    pub tso: bool,
    /// Insert the L4 checksum (and the IPv4 header checksum).
    pub csum: bool,
}

impl TxOffload {
    /// Checksum offload for a TCP or UDP frame.
    pub fn checksum(l3: L3Type, l4: L4Type, maclen: u8, iplen: u16) -> TxOffload {
        TxOffload {
            l3,
            l4,
            maclen,
            iplen,
            l4len: 0,
            mss: 0,
            tso: false,
            csum: true,
        }
    }

    /// TCP segmentation (implies checksum insertion).
    pub fn tso(l3: L3Type, maclen: u8, iplen: u16, l4len: u8, mss: u16) -> TxOffload {
        TxOffload {
            l3,
            l4: L4Type::Tcp,
            maclen,
            iplen,
            l4len,
            mss,
            tso: true,
            csum: true,
        }
    }

    /// Header length the device replicates per segment.
    fn hdr_len(&self) -> usize {
        self.maclen as usize + self.iplen as usize + self.l4len as usize
    }

    /// Whether the request is one the hardware can carry out for a frame of
    /// `len` bytes.
    fn is_valid_for(&self, len: usize) -> bool {
        let min_ip = match self.l3 {
            L3Type::Ipv4 => 20,
            L3Type::Ipv6 => 40,
        };
        let basics = (14..=127).contains(&self.maclen)
            && (min_ip..=511).contains(&self.iplen)
            && matches!(self.l4, L4Type::Tcp | L4Type::Udp);
        if !basics {
            return false;
        }
        if self.tso {
            let hdr = self.hdr_len();
            self.l4 == L4Type::Tcp
                && (20..=60).contains(&self.l4len)
                && self.mss > 0
                && len > hdr
                && len - hdr <= MAX_TSO_PAYLOAD
        } else {
            len >= self.maclen as usize + self.iplen as usize && len <= MAX_TX_FRAME
        }
    }

    /// The context descriptor for this request (context slot 0).
    fn context(&self) -> TxContextDesc {
        let (mss, l4len) = if self.tso {
            (self.mss, self.l4len)
        } else {
            (0, 0)
        };
        TxContextDesc::new(
            self.maclen,
            self.iplen,
            0,
            self.l3 == L3Type::Ipv4,
            self.l4,
            mss,
            l4len,
            0,
        )
    }

    /// `olinfo_status` for a frame of `len` bytes.
    fn olinfo(&self, len: usize) -> u32 {
        let paylen = if self.tso { len - self.hdr_len() } else { len };
        let ixsm = self.l3 == L3Type::Ipv4 && (self.tso || self.csum);
        TxDataDesc::olinfo(paylen as u32, 0, ixsm, self.csum || self.tso)
    }
}

/// A frame to transmit: its bytes, possibly in several pieces, and an
/// optional offload request. Implemented for anything that is `AsRef<[u8]>`
/// and for [`Gather`]; the stack implements it for its packet type.
pub trait TxFrame {
    /// The frame's bytes in order.
    fn segments(&self) -> impl Iterator<Item = &[u8]>;

    /// Offload request, if any.
    fn offload(&self) -> Option<TxOffload> {
        None
    }
}

impl<T: AsRef<[u8]> + ?Sized> TxFrame for T {
    fn segments(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.as_ref())
    }
}

/// A frame given as several slices (headers and payload kept apart),
/// gathered into DMA buffers on transmit.
#[derive(Clone, Copy, Debug)]
pub struct Gather<'a> {
    /// The pieces, in order.
    pub parts: &'a [&'a [u8]],
    /// Offload request.
    pub offload: Option<TxOffload>,
}

impl TxFrame for Gather<'_> {
    fn segments(&self) -> impl Iterator<Item = &[u8]> {
        self.parts.iter().copied()
    }

    fn offload(&self) -> Option<TxOffload> {
        self.offload
    }
}

/// Per-descriptor bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
struct TxSlot {
    /// Buffer owned by this data descriptor until completion.
    buf: Option<BufId>,
    /// Set on a frame's first slot: the frame's last slot (whose DD marks
    /// the whole frame done; linux: next_to_watch) and its length.
    frame: Option<(u32, u32)>,
}

/// A TX descriptor ring and its copy buffers.
pub struct TxQueue {
    dev: Arc<dyn IgbDevice>,
    region: Arc<DmaRegion>,
    queue: u16,
    block: u32,
    ring: Ring,
    pool: BufPool,
    slots: Vec<TxSlot>,
    next_to_use: u32,
    next_to_clean: u32,
    /// The context descriptor last written (the device keeps it).
    ctx: Option<TxContextDesc>,
    counters: Arc<QueueCounters>,
}

impl std::fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxQueue")
            .field("queue", &self.queue)
            .field("size", &self.ring.size())
            .field("next_to_use", &self.next_to_use)
            .field("next_to_clean", &self.next_to_clean)
            .finish()
    }
}

impl TxQueue {
    /// Sets up TX queue `queue` of `dev` (linux: igb_configure_tx_ring).
    /// Queue setup must not run concurrently with other configuration of
    /// the same device.
    pub fn new(dev: Arc<dyn IgbDevice>, queue: u16, cfg: &TxConfig) -> io::Result<TxQueue> {
        Self::with_counters(dev, queue, cfg, Arc::default())
    }

    pub(crate) fn with_counters(
        dev: Arc<dyn IgbDevice>,
        queue: u16,
        cfg: &TxConfig,
        counters: Arc<QueueCounters>,
    ) -> io::Result<TxQueue> {
        let (region, ring) = Ring::for_queue(&*dev, queue, cfg.ring_size, "TX")?;
        // One buffer per descriptor covers the worst case: at most
        // size - 1 data descriptors are in flight.
        let pool = BufPool::new(&region, cfg.ring_size as usize, cfg.buf_size)?;
        let block = regs::tx_queue_base(queue);
        let q = TxQueue {
            dev,
            region,
            queue,
            block,
            slots: vec![TxSlot::default(); ring.size() as usize],
            ring,
            pool,
            next_to_use: 0,
            next_to_clean: 0,
            ctx: None,
            counters,
        };
        let dev = &*q.dev;
        dev.write_reg(block + txq::TXDCTL, 0);
        q.ring.program(dev, block);
        // PTHRESH 8, HTHRESH 1, WTHRESH 16 (linux defaults).
        dev.write_reg(block + txq::TXDCTL, txdctl::ENABLE | 8 | 1 << 8 | 16 << 16);
        Ok(q)
    }

    /// Queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Ring size in descriptors.
    pub fn ring_size(&self) -> u32 {
        self.ring.size()
    }

    /// Descriptors handed to the device and not yet reclaimed.
    pub fn in_flight(&self) -> u32 {
        self.ring.distance(self.next_to_clean, self.next_to_use)
    }

    /// Descriptors free for new frames (one slot always stays empty).
    pub fn free_descriptors(&self) -> u32 {
        self.ring.size() - 1 - self.in_flight()
    }

    /// The queue's counters.
    pub fn counters(&self) -> &Arc<QueueCounters> {
        &self.counters
    }

    /// Queues frames for transmission; returns how many of `frames` (a
    /// prefix) were taken. The rest did not fit in the ring and stay with
    /// the caller (counted once in `tx_busy`). A frame the hardware can
    /// never send (empty, oversized, bad offload request, more descriptors
    /// than the ring has) counts as taken and is dropped into `tx_errors`,
    /// so a caller never retries it forever. The tail is written once.
    pub fn tx_burst<F: TxFrame>(&mut self, frames: &[F]) -> usize {
        let mut taken = 0;
        let (mut errors, mut contexts, mut busy) = (0, 0, 0);
        let start = self.next_to_use;
        for frame in frames {
            let len: usize = frame.segments().map(<[u8]>::len).sum();
            let offload = frame.offload().filter(|o| o.tso || o.csum);
            let valid = match &offload {
                Some(o) => o.is_valid_for(len),
                None => (1..=MAX_TX_FRAME).contains(&len),
            };
            let data_descs = len.div_ceil(self.pool.buf_size()) as u32;
            let ctx = offload
                .map(|o| o.context())
                .filter(|c| Some(*c) != self.ctx);
            let needed = data_descs + ctx.is_some() as u32;
            if !valid || needed > self.ring.size() - 1 {
                errors += 1;
                taken += 1;
                continue;
            }
            if needed > self.free_descriptors() {
                self.clean(TX_CLEAN_LIMIT);
                if needed > self.free_descriptors() {
                    busy += 1;
                    break;
                }
            }
            let first = self.next_to_use;
            if let Some(c) = ctx {
                if !self.post(&c) {
                    break;
                }
                self.ctx = Some(c);
                contexts += 1;
            }
            let olinfo = offload.map_or(TxDataDesc::olinfo(len as u32, 0, false, false), |o| {
                o.olinfo(len)
            });
            let tse = if offload.is_some_and(|o| o.tso) {
                tx::cmd::TSE
            } else {
                0
            };
            match self.map_frame(frame, data_descs, tse, olinfo) {
                Some(last) => {
                    self.slots[first as usize].frame = Some((last, len as u32));
                    taken += 1;
                }
                None => {
                    // A fault on our own ring: unwind this frame's slots.
                    self.unwind(first);
                    break;
                }
            }
        }
        let c = &self.counters;
        if self.next_to_use != start {
            write_tail(&*self.dev, self.block + txq::TDT, self.next_to_use);
            QueueCounters::add(&c.tx_tail_writes, 1);
        }
        QueueCounters::add(&c.tx_errors, errors);
        QueueCounters::add(&c.tx_contexts, contexts);
        QueueCounters::add(&c.tx_busy, busy);
        taken
    }

    /// Copies a frame into `descs` buffers and writes one data descriptor
    /// per buffer, EOP|RS on the last. Returns the last slot.
    fn map_frame<F: TxFrame>(
        &mut self,
        frame: &F,
        descs: u32,
        tse: u32,
        olinfo: u32,
    ) -> Option<u32> {
        let buf_size = self.pool.buf_size();
        let mut segs = frame.segments();
        let mut seg: &[u8] = &[];
        let mut last = self.next_to_use;
        for n in 0..descs {
            let buf = self.pool.alloc()?;
            // Gather the next `buf_size` bytes (or what is left).
            let mut fill = 0;
            while fill < buf_size {
                if seg.is_empty() {
                    match segs.next() {
                        Some(s) => seg = s,
                        None => break,
                    }
                    continue;
                }
                let take = seg.len().min(buf_size - fill);
                if self.pool.write(buf, fill, &seg[..take]).is_err() {
                    self.pool.free(buf);
                    return None;
                }
                fill += take;
                seg = &seg[take..];
            }
            let mut cmd = tx::cmd::IFCS | tse;
            if n + 1 == descs {
                cmd |= tx::cmd::EOP | tx::cmd::RS;
            }
            // Every descriptor of the frame carries the same olinfo (PAYLEN
            // and offload options); the hardware reads the first one.
            let desc = TxDataDesc::new(self.pool.iova(buf).0, fill as u16, cmd, olinfo);
            last = self.next_to_use;
            self.slots[last as usize].buf = Some(buf);
            if !self.post(&desc) {
                return None;
            }
        }
        Some(last)
    }

    /// Writes one descriptor at `next_to_use` and advances it.
    fn post<D: crate::desc::Descriptor>(&mut self, desc: &D) -> bool {
        let at = self.ring.slot(self.next_to_use);
        if handoff::publish(&*self.region, at, desc).is_err() {
            QueueCounters::add(&self.counters.dma_errors, 1);
            return false;
        }
        self.next_to_use = self.ring.next(self.next_to_use);
        true
    }

    /// Forgets descriptors written since `first` (not yet visible to the
    /// device: the tail has not moved past them).
    fn unwind(&mut self, first: u32) {
        let mut i = first;
        loop {
            let slot = &mut self.slots[i as usize];
            if let Some(b) = slot.buf.take() {
                self.pool.free(b);
            }
            slot.frame = None;
            if i == self.next_to_use {
                break;
            }
            i = self.ring.next(i);
        }
        self.next_to_use = first;
        // The device never saw a context written in this frame.
        self.ctx = None;
    }

    /// Reclaims up to `limit` completed frames (linux: igb_clean_tx_irq).
    /// Returns the number reclaimed; a result equal to `limit` means more
    /// may be waiting.
    pub fn clean(&mut self, limit: usize) -> usize {
        let (mut frames, mut bytes, mut faults) = (0usize, 0u64, 0u64);
        while frames < limit && self.next_to_clean != self.next_to_use {
            let first = self.next_to_clean;
            let Some((last, len)) = self.slots[first as usize].frame else {
                // Invariant: a frame record sits at every frame start.
                faults += 1;
                break;
            };
            match handoff::tx_done(&*self.region, self.ring.slot(last)) {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    faults += 1;
                    break;
                }
            }
            let mut i = first;
            loop {
                let slot = &mut self.slots[i as usize];
                if let Some(b) = slot.buf.take() {
                    self.pool.free(b);
                }
                slot.frame = None;
                if i == last {
                    break;
                }
                i = self.ring.next(i);
            }
            self.next_to_clean = self.ring.next(last);
            frames += 1;
            bytes += len as u64;
        }
        let c = &self.counters;
        QueueCounters::add(&c.tx_packets, frames as u64);
        QueueCounters::add(&c.tx_bytes, bytes);
        QueueCounters::add(&c.dma_errors, faults);
        frames
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        // Stop the device from using the ring before its memory is freed.
        self.dev.write_reg(self.block + txq::TXDCTL, 0);
    }
}
