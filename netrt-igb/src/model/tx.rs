//! The transmit engine: runs synchronously in the `TDT` write (as QEMU's
//! igb does), walking descriptors from the head to the new tail, gathering
//! each frame's buffers, performing offloads, and handing the result to
//! the attachment.
//!
//! One lock per queue serialises the engine (the driver writes a queue's
//! tail from the core that owns it, so the lock is uncontended); it also
//! holds the queue's scratch buffers, so no frame allocates once warm.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::attach::{Attachment, Burst, TxMeta};
use crate::desc::{tx, Descriptor, TxContextDesc, TxDataDesc, TxDesc, DESC_SIZE};
use crate::dma::Iova;
use crate::handoff;
use crate::regs::{self, tctl, txdctl, txq};

use super::offload::{self, TsoFlagMasks};
use super::rx::{wrap, FCS_LEN};
use super::{mac_class, IgbModel, MacClass, DTXTCPFLGH, DTXTCPFLGL};

/// Largest frame the engine gathers: a 256 KiB TSO payload (PAYLEN is 18
/// bits) plus headers. Anything longer is malformed and dropped.
const MAX_GATHER: usize = (1 << 18) + 512;
/// `TCTL.PSP` pads short frames to 64 bytes with the FCS: 60 without.
const MIN_FRAME: usize = 60;
/// Legacy descriptor command bits that mean the same in both formats.
const LEGACY_CMD: u32 = tx::cmd::EOP | tx::cmd::RS;
/// A burst goes to the attachment when it holds this many frames...
const BURST_FRAMES: usize = 64;
/// ...or this many bytes (and at the end of every tail write).
const BURST_BYTES: usize = 256 << 10;

/// Per-queue counters, updated under the queue lock.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TxCounters {
    pub packets: u64,
    pub octets: u64,
    pub broadcast: u64,
    pub multicast: u64,
    pub tso_contexts: u64,
}

/// Ring geometry, latched when the queue is enabled (`TXDCTL.ENABLE`).
#[derive(Clone, Copy, Debug)]
struct Ring {
    base: Iova,
    len: u32,
}

/// Device-side state of one TX queue, behind its lock.
#[derive(Default)]
pub(super) struct TxState {
    /// `None` while the queue is disabled.
    ring: Option<Ring>,
    /// Next descriptor to fetch (mirrored in `TDH` after each burst).
    pub head: u32,
    /// Context slots (the 82576 keeps two per queue).
    ctx: [TxContextDesc; 2],
    /// Frames ready for the attachment; plain frames are gathered straight
    /// into it.
    burst: Burst,
    /// A TSO frame being gathered; only grows, `len` bytes are in use.
    frame: Vec<u8>,
    /// The TSO segment being built.
    seg: Vec<u8>,
    /// Descriptors of the current frame that asked for a status write-back.
    rs: Vec<u32>,
    /// Where frames go; a copy of the port's attachment kept here so the
    /// engine reads it without touching a shared lock.
    pub attachment: Option<Arc<dyn Attachment>>,
    /// The attachment carries checksum offload as metadata.
    pub carries_csum: bool,
    /// The attachment cuts TSO frames itself (implies `carries_csum`).
    pub unsegmented_tso: bool,
    pub counters: TxCounters,
}

impl TxState {
    /// Power-on state; the attachment (wiring, not a register) stays.
    pub fn reset(&mut self) {
        self.ring = None;
        self.head = 0;
        self.ctx = Default::default();
        self.counters = TxCounters::default();
    }
}

/// Device-side state of one TX queue.
#[derive(Default)]
pub(super) struct TxQueueDev {
    pub state: Mutex<TxState>,
}

/// One frame's descriptors, gathered.
struct Gathered {
    /// First data descriptor: offload request (TSE, IXSM/TXSM, PAYLEN, IDX).
    first: TxDataDesc,
    /// Bytes gathered: into `TxState::frame` for TSO, else at
    /// `Burst::next_start` of `TxState::burst`.
    len: usize,
    /// A buffer could not be read: drop the frame.
    dma_fault: bool,
    /// Longer than anything the device can send.
    oversize: bool,
}

enum Step {
    /// A frame occupying descriptors up to (excluding) `next`.
    Frame(Gathered, u32),
    /// Context or malformed descriptors only, up to `next`.
    NoFrame(u32),
    /// The tail cuts a frame short (no EOP yet): wait for more.
    Incomplete,
}

impl IgbModel {
    /// Latches (or, when disabled, forgets) queue `q`'s ring registers.
    /// Called on `TXDCTL` writes with the queue lock held.
    pub(super) fn latch_tx_ring(&self, q: u16, st: &mut TxState) {
        let base = regs::tx_queue_base(q);
        st.ring = (self.regs.load(base + txq::TXDCTL) & txdctl::ENABLE != 0).then(|| Ring {
            base: Iova::from_parts(
                self.regs.load(base + txq::TDBAL),
                self.regs.load(base + txq::TDBAH),
            ),
            len: self.regs.load(base + txq::TDLEN) / DESC_SIZE as u32,
        });
    }

    /// Processes queue `q`'s descriptors from the head to `TDT`.
    pub(super) fn transmit_queue(&self, q: u16) {
        let Some(queue) = self.tx.get(usize::from(q)) else {
            return;
        };
        let base = regs::tx_queue_base(q);
        let mut st = queue.state.lock();
        let tctl = self.regs.load(regs::TCTL);
        let Some(ring) = st.ring else { return };
        if tctl & tctl::EN == 0 {
            return;
        }
        let tail = self.regs.load_acquire(base + txq::TDT);
        let mut head = st.head;
        if head == tail {
            return;
        }
        if ring.len == 0 || head >= ring.len || tail >= ring.len {
            self.counters.bump_tx_bad_ring();
            return;
        }
        let masks = TsoFlagMasks::from_regs(self.regs.load(DTXTCPFLGL), self.regs.load(DTXTCPFLGH));
        let psp = tctl & tctl::PSP != 0;
        while head != tail {
            let next = match self.gather(&mut st, ring, head, tail) {
                Step::Frame(g, next) => {
                    self.send_frame(&mut st, &g, masks, psp);
                    next
                }
                Step::NoFrame(next) => next,
                Step::Incomplete => break,
            };
            // Write back DD where asked, after the buffers were read.
            for &i in &st.rs {
                if handoff::tx_write_back(&*self.dma, handoff::slot(ring.base, i)).is_err() {
                    self.counters.bump_tx_bad_ring();
                }
            }
            head = next;
        }
        flush_burst(&mut st);
        if head == st.head {
            return;
        }
        st.head = head;
        self.regs.store(base + txq::TDH, head);
        drop(st);
        self.irq.raise(self.queue_cause(q, false));
    }

    /// Reads descriptors from `head` up to the end of one frame.
    fn gather(&self, st: &mut TxState, ring: Ring, head: u32, tail: u32) -> Step {
        st.rs.clear();
        let mut first: Option<TxDataDesc> = None;
        let (mut len, mut dma_fault, mut oversize) = (0usize, false, false);
        let mut idx = head;
        loop {
            if idx == tail {
                return Step::Incomplete;
            }
            let this = idx;
            let at = handoff::slot(ring.base, this);
            idx = wrap(idx + 1, ring.len);
            let Ok(words) = handoff::fetch_words(&*self.dma, at, TxDataDesc::STATUS_DWORD) else {
                // The ring itself is unreadable: skip the slot.
                self.counters.bump_tx_bad_ring();
                if first.is_none() {
                    return Step::NoFrame(idx);
                }
                dma_fault = true;
                continue;
            };
            let data = match TxDesc::decode(words) {
                TxDesc::Context(c) => {
                    st.ctx[usize::from(c.idx() & 1)] = c;
                    if first.is_none() {
                        return Step::NoFrame(idx);
                    }
                    continue;
                }
                TxDesc::Data(d) => d,
                // Legacy format: a plain buffer, no offloads.
                TxDesc::Other(w) if w[2] & tx::cmd::DEXT == 0 => TxDataDesc {
                    buffer_addr: u64::from(w[1]) << 32 | u64::from(w[0]),
                    cmd_type_len: w[2] & (tx::LEN_MASK | LEGACY_CMD),
                    olinfo_status: 0,
                },
                TxDesc::Other(_) => {
                    self.counters.bump_tx_bad_desc();
                    if first.is_none() {
                        return Step::NoFrame(idx);
                    }
                    continue;
                }
            };
            if data.rs() {
                st.rs.push(this);
            }
            let first = *first.get_or_insert(data);
            let n = usize::from(data.len());
            let end = len + n;
            if end > MAX_GATHER {
                oversize = true;
            } else if !dma_fault {
                let into = if first.tse() {
                    if st.frame.len() < end {
                        st.frame.resize(end, 0);
                    }
                    &mut st.frame[len..end]
                } else {
                    let start = st.burst.next_start();
                    st.burst.extend(start, len, n)
                };
                if self.dma.read(Iova(data.buffer_addr), into).is_err() {
                    dma_fault = true;
                }
                len = end;
            }
            if data.eop() {
                return Step::Frame(
                    Gathered {
                        first,
                        len,
                        dma_fault,
                        oversize,
                    },
                    idx,
                );
            }
        }
    }

    /// Offloads one gathered frame (or cuts it into TSO segments) and adds
    /// the result to the burst.
    fn send_frame(&self, st: &mut TxState, g: &Gathered, masks: TsoFlagMasks, psp: bool) {
        if g.dma_fault {
            self.counters.bump_tx_dma_drop();
            return;
        }
        if g.oversize {
            self.counters.bump_tx_bad_desc();
            return;
        }
        if st.attachment.is_none() {
            self.counters.bump_tx_no_link();
            return;
        }
        let d = &g.first;
        let ctx = st.ctx[usize::from(d.ctx_idx() & 1)];
        let carries = st.carries_csum;
        let whole = st.unsegmented_tso && offload::fits_whole_tso(&ctx, d.paylen() as usize);
        let result = if d.tse() && whole {
            let TxState {
                frame,
                burst,
                counters,
                ..
            } = &mut *st;
            let paylen = d.paylen() as usize;
            offload::whole_tso(&mut frame[..g.len], &ctx, paylen).map(|(len, meta)| {
                let start = burst.next_start();
                burst.reserve(len).copy_from_slice(&frame[..len]);
                commit(burst, counters, start, len, meta, psp);
                counters.tso_contexts += 1;
            })
        } else if d.tse() {
            let TxState {
                frame,
                seg,
                burst,
                counters,
                ..
            } = &mut *st;
            let paylen = d.paylen() as usize;
            let emit = |f: &[u8], meta: &TxMeta| {
                let start = burst.next_start();
                burst.reserve(f.len()).copy_from_slice(f);
                commit(burst, counters, start, f.len(), *meta, psp);
            };
            offload::segment(
                &frame[..g.len],
                &ctx,
                paylen,
                d.ixsm(),
                d.txsm(),
                carries,
                masks,
                seg,
                emit,
            )
            .map(|_| counters.tso_contexts += 1)
        } else {
            let start = st.burst.next_start();
            let frame = st.burst.building(start, g.len);
            let meta = if d.ixsm() || d.txsm() {
                offload::insert_checksums(frame, &ctx, d.ixsm(), d.txsm(), carries)
            } else {
                Ok(TxMeta::default())
            };
            meta.map(|meta| commit(&mut st.burst, &mut st.counters, start, g.len, meta, psp))
        };
        if result.is_err() {
            self.counters.bump_tx_offload_error();
        }
        if st.burst.len() >= BURST_FRAMES || st.burst.bytes() >= BURST_BYTES {
            flush_burst(st);
        }
    }
}

/// Makes the `len` bytes at `start` a frame of the burst: pads it (with
/// `TCTL.PSP`) and counts it.
fn commit(
    burst: &mut Burst,
    counters: &mut TxCounters,
    start: usize,
    len: usize,
    meta: TxMeta,
    psp: bool,
) {
    let len = if psp && len < MIN_FRAME {
        burst.extend(start, len, MIN_FRAME - len).fill(0);
        MIN_FRAME
    } else {
        len
    };
    counters.packets += 1;
    counters.octets += len as u64 + FCS_LEN;
    let frame = burst.building(start, len);
    // The group bit first: unicast, the common case, is one test.
    if frame.first().is_some_and(|b| b & 1 != 0) {
        match mac_class(frame) {
            Some(MacClass::Broadcast) => counters.broadcast += 1,
            Some(MacClass::Multicast) => counters.multicast += 1,
            _ => {}
        }
    }
    burst.commit(start, len, meta);
}

/// Hands the burst to the attachment and empties it.
fn flush_burst(st: &mut TxState) {
    if st.burst.is_empty() {
        return;
    }
    if let Some(att) = &st.attachment {
        att.transmit_burst(&st.burst);
    }
    st.burst.clear();
}
