//! RX queue: buffer posting, the clean loop, refill batching.
//!
//! # How received frames are handed out
//!
//! A frame is lent to a callback as an [`RxFrame`] that borrows the DMA
//! buffers it sits in. When the callback returns, the buffers go straight
//! back to the queue's pool and are re-posted at the next refill. This
//! keeps the steady state free of heap allocation and of any shared
//! structure: the pool is owned by the queue and used through `&mut self`.
//! The stack copies what it keeps into its own packet buffer (one copy,
//! from memory that is still hot after the device wrote it), which is the
//! price for not having to return buffers across cores.

use std::io;
use std::sync::Arc;

use crate::desc::{rx::status, RssType, RxChecksum, RxDescRead, RxDescWb};
use crate::device::IgbDevice;
use crate::dma::{BufId, BufPool, DmaRegion, DEFAULT_BUF_SIZE};
use crate::handoff;
use crate::regs::{self, rxdctl, rxq, srrctl};

use super::ring::{write_tail, Ring, DEFAULT_RING_SIZE};
use super::stats::QueueCounters;

/// Buffers re-posted per tail write (linux: IGB_RX_BUFFER_WRITE).
pub const RX_REFILL_BATCH: u32 = 16;
/// Largest frame the queue reassembles from several descriptors
/// (linux: MAX_JUMBO_FRAME_SIZE, 0x3F00).
pub const MAX_RX_FRAME: usize = 16128;

/// RX queue parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxConfig {
    /// Descriptors in the ring (multiple of 8, 8..=4096).
    pub ring_size: u32,
    /// Packet buffer size in bytes: a multiple of 1 KiB up to 16 KiB
    /// (`SRRCTL.BSIZEPKT` counts KiB).
    pub buf_size: usize,
    /// Drop frames when no descriptor is free instead of stalling the
    /// packet buffer (`SRRCTL.DROP_EN`; linux sets it with several queues).
    pub drop_en: bool,
}

impl Default for RxConfig {
    fn default() -> Self {
        RxConfig {
            ring_size: DEFAULT_RING_SIZE,
            buf_size: DEFAULT_BUF_SIZE,
            drop_en: true,
        }
    }
}

impl RxConfig {
    fn validate(&self) -> io::Result<()> {
        super::ring::validate_ring_size(self.ring_size)?;
        if self.buf_size == 0 || !self.buf_size.is_multiple_of(1024) || self.buf_size > 16384 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "RX buffer size must be a multiple of 1024 bytes up to 16 KiB",
            ));
        }
        Ok(())
    }
}

/// One buffer of a frame being assembled.
#[derive(Clone, Copy, Debug)]
struct Frag {
    buf: BufId,
    len: u16,
}

/// A received frame, lent to the [`RxQueue::rx_burst`] callback.
///
/// The bytes stay in the DMA buffers they arrived in; a frame larger than
/// one buffer is several segments.
#[derive(Debug)]
pub struct RxFrame<'a> {
    pool: &'a BufPool,
    frags: &'a [Frag],
    len: usize,
    wb: RxDescWb,
}

impl<'a> RxFrame<'a> {
    /// Frame length in bytes (FCS stripped when `RCTL.SECRC` is set).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame has no bytes (never true for a delivered frame).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buffers the frame spans.
    pub fn num_segments(&self) -> usize {
        self.frags.len()
    }

    /// The frame's bytes, one slice per buffer, in order.
    pub fn segments(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let pool = self.pool;
        self.frags.iter().map(move |f| {
            // SAFETY: every buffer in `frags` was taken off the ring after
            // its descriptor showed DD (acquire) and is not re-posted until
            // the frame is released, so the device no longer writes it. The
            // length was checked against the buffer size when the fragment
            // was recorded, so `bytes` cannot fail; an empty slice would be
            // returned rather than panicking if it somehow did.
            unsafe { pool.bytes(f.buf, f.len as usize) }.unwrap_or(&[])
        })
    }

    /// Copies the frame into `out`, returning the number of bytes copied
    /// (less than [`Self::len`] if `out` is shorter).
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        let mut n = 0;
        for seg in self.segments() {
            let take = seg.len().min(out.len() - n);
            out[n..n + take].copy_from_slice(&seg[..take]);
            n += take;
            if n == out.len() {
                break;
            }
        }
        n
    }

    /// The frame as one contiguous slice, when it fits in one buffer.
    pub fn as_slice(&self) -> Option<&'a [u8]> {
        match self.frags.len() {
            1 => self.segments().next(),
            _ => None,
        }
    }

    /// RSS hash written back by the device.
    pub fn rss_hash(&self) -> u32 {
        self.wb.rss
    }

    /// Which fields the RSS hash covers.
    pub fn rss_type(&self) -> RssType {
        self.wb.rss_type()
    }

    /// Packet-type bits (see [`crate::desc::rx::ptype`]).
    pub fn packet_type(&self) -> u16 {
        self.wb.packet_type()
    }

    /// Hardware checksum verdict.
    pub fn checksum(&self) -> RxChecksum {
        self.wb.checksum()
    }

    /// Stripped VLAN tag, if the frame had one.
    pub fn vlan(&self) -> Option<u16> {
        self.wb.vlan_present().then_some(self.wb.vlan)
    }

    /// The raw write-back of the frame's last descriptor.
    pub fn descriptor(&self) -> &RxDescWb {
        &self.wb
    }
}

/// An RX descriptor ring and its buffers.
pub struct RxQueue {
    dev: Arc<dyn IgbDevice>,
    region: Arc<DmaRegion>,
    queue: u16,
    block: u32,
    ring: Ring,
    pool: BufPool,
    /// Buffer posted in each slot; `None` while the slot waits for refill.
    bufs: Vec<Option<BufId>>,
    /// Next slot to look at for DD (linux: next_to_clean).
    next_to_clean: u32,
    /// Next slot to post; the tail register (linux: next_to_use).
    next_to_use: u32,
    /// Cleaned slots not yet re-posted.
    unposted: u32,
    refill_batch: u32,
    /// Buffers of the frame being assembled (capacity fixed at setup).
    frags: Vec<Frag>,
    max_frags: usize,
    /// Dropping the rest of a frame that was already found bad.
    discarding: bool,
    counters: Arc<QueueCounters>,
}

impl std::fmt::Debug for RxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxQueue")
            .field("queue", &self.queue)
            .field("size", &self.ring.size())
            .field("next_to_clean", &self.next_to_clean)
            .field("next_to_use", &self.next_to_use)
            .field("unposted", &self.unposted)
            .finish()
    }
}

impl RxQueue {
    /// Sets up RX queue `queue` of `dev` (linux: igb_configure_rx_ring) and
    /// posts a full ring of buffers. Queue setup must not run concurrently
    /// with other configuration of the same device.
    pub fn new(dev: Arc<dyn IgbDevice>, queue: u16, cfg: &RxConfig) -> io::Result<RxQueue> {
        Self::with_counters(dev, queue, cfg, Arc::default())
    }

    pub(crate) fn with_counters(
        dev: Arc<dyn IgbDevice>,
        queue: u16,
        cfg: &RxConfig,
        counters: Arc<QueueCounters>,
    ) -> io::Result<RxQueue> {
        cfg.validate()?;
        let (region, ring) = Ring::for_queue(&*dev, queue, cfg.ring_size, "RX")?;
        let size = cfg.ring_size;
        // A frame may not hold more than half the ring, so that refills can
        // always make progress on small rings.
        let max_frags = MAX_RX_FRAME
            .div_ceil(cfg.buf_size)
            .min(size as usize / 2)
            .max(1);
        // Posted buffers (at most size - 1) plus one frame being assembled.
        let pool = BufPool::new(&region, size as usize + max_frags, cfg.buf_size)?;
        let block = regs::rx_queue_base(queue);
        let mut q = RxQueue {
            dev,
            region,
            queue,
            block,
            ring,
            pool,
            bufs: vec![None; size as usize],
            next_to_clean: 0,
            next_to_use: 0,
            unposted: size - 1,
            refill_batch: RX_REFILL_BATCH.min(size / 2),
            frags: Vec::with_capacity(max_frags),
            max_frags,
            discarding: false,
            counters,
        };
        let dev = &*q.dev;
        dev.write_reg(block + rxq::RXDCTL, 0);
        q.ring.program(dev, block);
        let mut srr = srrctl::bsizepkt(cfg.buf_size as u32) | srrctl::DESCTYPE_ADV_ONEBUF;
        if cfg.drop_en {
            srr |= srrctl::DROP_EN;
        }
        dev.write_reg(block + rxq::SRRCTL, srr);
        // PTHRESH 8, HTHRESH 8, WTHRESH 1 (linux, 82576 with MSI-X).
        dev.write_reg(block + rxq::RXDCTL, rxdctl::ENABLE | 8 | 8 << 8 | 1 << 16);
        // Keep one slot free: head == tail means the ring is empty.
        q.refill();
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

    /// Buffer size in bytes.
    pub fn buf_size(&self) -> usize {
        self.pool.buf_size()
    }

    /// Descriptors currently owned by the device (posted, not cleaned).
    pub fn posted(&self) -> u32 {
        self.ring.distance(self.next_to_clean, self.next_to_use)
    }

    /// The queue's counters.
    pub fn counters(&self) -> &Arc<QueueCounters> {
        &self.counters
    }

    /// Receives up to `budget` frames, lending each to `f` (linux:
    /// igb_clean_rx_irq). Returns the number of frames consumed, delivered
    /// or dropped for errors.
    ///
    /// Descriptors are consumed while their status dword, loaded with
    /// acquire ordering before anything else, shows DD. A frame spanning
    /// several descriptors is delivered at its EOP descriptor, whose
    /// write-back carries the frame's metadata; a frame whose later
    /// descriptors are not written yet stays assembled across calls.
    /// Frames with RXE, an impossible length, or too many fragments are
    /// counted in `rx_errors` and dropped. Cleaned slots are re-posted in
    /// batches of [`RX_REFILL_BATCH`] with one `RDT` write.
    pub fn rx_burst(&mut self, budget: usize, mut f: impl FnMut(RxFrame<'_>)) -> usize {
        let (mut done, mut packets, mut bytes, mut errors, mut faults) = (0, 0, 0, 0, 0);
        let buf_size = self.pool.buf_size();
        while done < budget && self.next_to_clean != self.next_to_use {
            let at = self.ring.slot(self.next_to_clean);
            let wb = match handoff::poll::<RxDescWb, _>(&*self.region, at, status::DD) {
                Ok(Some(wb)) => wb,
                Ok(None) => break,
                Err(_) => {
                    // Our own ring faulted: nothing sane can follow.
                    faults += 1;
                    break;
                }
            };
            let slot = self.next_to_clean as usize;
            self.next_to_clean = self.ring.next(self.next_to_clean);
            self.unposted += 1;
            let Some(buf) = self.bufs[slot].take() else {
                // Invariant: every slot below the tail holds a buffer.
                faults += 1;
                continue;
            };
            let len = wb.length as usize;
            if self.discarding || len > buf_size || self.frags.len() == self.max_frags {
                self.discarding = true;
                self.pool.free(buf);
            } else {
                self.frags.push(Frag {
                    buf,
                    len: wb.length,
                });
            }
            if !wb.eop() {
                continue;
            }
            done += 1;
            let total: usize = self.frags.iter().map(|fr| fr.len as usize).sum();
            if self.discarding || wb.rxe() || total == 0 {
                errors += 1;
            } else {
                packets += 1;
                bytes += total as u64;
                f(RxFrame {
                    pool: &self.pool,
                    frags: &self.frags,
                    len: total,
                    wb,
                });
            }
            for fr in self.frags.drain(..) {
                self.pool.free(fr.buf);
            }
            self.discarding = false;
        }
        if self.unposted >= self.refill_batch {
            self.refill();
        }
        let c = &self.counters;
        QueueCounters::add(&c.rx_packets, packets);
        QueueCounters::add(&c.rx_bytes, bytes);
        QueueCounters::add(&c.rx_errors, errors);
        QueueCounters::add(&c.dma_errors, faults);
        done
    }

    /// Posts a buffer in every unposted slot and moves the tail once
    /// (linux: igb_alloc_rx_buffers).
    fn refill(&mut self) {
        let mut posted = 0;
        while self.unposted > 0 {
            let Some(buf) = self.pool.alloc() else {
                // Cannot happen with the pool sized at setup; count it so a
                // sizing bug shows up instead of silently starving the ring.
                QueueCounters::add(&self.counters.rx_alloc_failed, 1);
                break;
            };
            let i = self.next_to_use;
            let desc = RxDescRead::new(self.pool.iova(buf).0);
            if handoff::publish(&*self.region, self.ring.slot(i), &desc).is_err() {
                self.pool.free(buf);
                QueueCounters::add(&self.counters.dma_errors, 1);
                break;
            }
            self.bufs[i as usize] = Some(buf);
            self.next_to_use = self.ring.next(i);
            self.unposted -= 1;
            posted += 1;
        }
        if posted > 0 {
            write_tail(&*self.dev, self.block + rxq::RDT, self.next_to_use);
        }
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        // Stop the device from using the ring before its memory is freed.
        self.dev.write_reg(self.block + rxq::RXDCTL, 0);
    }
}
