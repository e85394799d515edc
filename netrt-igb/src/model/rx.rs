//! The receive path: a frame arrives from the wire, is filtered by MAC
//! address, steered to a queue by RSS, written into the buffers the driver
//! posted, and announced by an interrupt.
//!
//! Everything up to the queue choice (filtering, parsing, hashing,
//! checksum verification) runs without a lock; only writing into the
//! chosen ring takes that queue's device-side lock, because several
//! transmitting threads may deliver into one queue at once.

use parking_lot::{Mutex, MutexGuard};

use crate::attach::RxMeta;
use crate::desc::{rx, CsumState, RssType, RxChecksum, RxDescRead, RxDescWb, DESC_SIZE};
use crate::dma::Iova;
use crate::handoff;
use crate::regs::{self, rctl, rxcsum, rxdctl, rxq, srrctl};
use crate::rss;

use super::packet::{self, Ipv4View, L4Kind, ETHERTYPE_IPV6, ETH_HLEN};
use super::{IgbModel, MacClass, RxDrop};

/// Largest frame (no FCS) accepted without `RCTL.LPE`: 1518 with an
/// 802.1Q tag.
const MAX_STD_FRAME: usize = 1518;
/// Largest frame accepted with `RCTL.LPE` (the 82576's jumbo limit).
const MAX_JUMBO_FRAME: usize = 9728;
/// Packet buffer size when `SRRCTL.BSIZEPKT` is 0.
const DEFAULT_BUF: usize = 2048;
/// Ethernet FCS: counted in the octet statistics though not carried.
pub(super) const FCS_LEN: u64 = 4;

/// Per-queue counters, updated under the queue lock.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RxCounters {
    pub packets: u64,
    pub octets: u64,
    pub broadcast: u64,
    pub multicast: u64,
    pub missed: u64,
    pub no_buffers: u64,
}

/// Ring geometry, latched from the queue registers when the queue is
/// enabled (the datasheet requires base, length and buffer size to be set
/// before `RXDCTL.ENABLE`), so the per-frame path reads two registers.
#[derive(Clone, Copy, Debug)]
pub(super) struct RxRing {
    base: Iova,
    len: u32,
    buf_size: usize,
    /// The whole ring lies in DMA memory.
    valid: bool,
}

/// Device-side state of one RX queue, behind its lock.
#[derive(Default)]
pub(super) struct RxState {
    pub counters: RxCounters,
    /// `None` while the queue is disabled.
    pub ring: Option<RxRing>,
    /// Next descriptor to fill (mirrored in `RDH`).
    pub head: u32,
}

/// Device-side state of one RX queue.
#[derive(Default)]
pub(super) struct RxQueueDev {
    pub state: Mutex<RxState>,
}

/// `x` modulo `len` for `x < 2 * len`, without a division.
#[inline]
pub(super) fn wrap(x: u32, len: u32) -> u32 {
    if x >= len {
        x - len
    } else {
        x
    }
}

/// Receive configuration, read once per run of frames.
struct RxControl {
    rctl: u32,
    rxcsum: u32,
    mrqc: u32,
}

/// What the device learnt about a frame before choosing a ring.
struct Classified {
    queue: u16,
    pkt_info: u16,
    rss_hash: u32,
    /// Status bits for the last descriptor (checksum results).
    csum_status: u32,
    class: MacClass,
}

impl IgbModel {
    /// The receive path for a run of frames from the wire (linux
    /// counterpart: the NIC's half of `igb_clean_rx_irq`). Consecutive
    /// frames for the same queue are written under one acquisition of its
    /// lock, and the interrupt causes are raised once at the end.
    pub(super) fn receive<'a>(&self, frames: impl Iterator<Item = (&'a [u8], RxMeta)>) {
        let ctl = RxControl {
            rctl: self.regs.load(regs::RCTL),
            rxcsum: self.regs.load(regs::RXCSUM),
            mrqc: self.regs.load(regs::MRQC),
        };
        if ctl.rctl & rctl::EN == 0 {
            return;
        }
        let mut causes = 0;
        // The queue whose lock is held, and its interrupt cause.
        let mut held: Option<(u16, u32, MutexGuard<'_, RxState>)> = None;
        for (frame, meta) in frames {
            let Some(c) = self.admit(frame, &meta, &ctl) else {
                continue;
            };
            let (cause, st) = match &mut held {
                Some((q, cause, st)) if *q == c.queue => (*cause, st),
                _ => {
                    // Release the previous queue before taking the next.
                    held = None;
                    let Some(dev) = self.rx.get(usize::from(c.queue)) else {
                        // RETA names a queue this device does not have.
                        self.count_rx_drop(RxDrop::NoQueue);
                        continue;
                    };
                    let cause = self.queue_cause(c.queue, true);
                    let (_, cause, st) = held.insert((c.queue, cause, dev.state.lock()));
                    (*cause, st)
                }
            };
            if self.write_to_ring(c.queue, frame, &c, st) {
                causes |= cause;
            }
        }
        drop(held);
        self.irq.raise(causes);
    }

    /// Length checks and the MAC filter, then classification; `None` drops
    /// the frame.
    fn admit(&self, frame: &[u8], meta: &RxMeta, ctl: &RxControl) -> Option<Classified> {
        let max = if ctl.rctl & rctl::LPE != 0 {
            MAX_JUMBO_FRAME
        } else {
            MAX_STD_FRAME
        };
        if frame.len() < ETH_HLEN {
            self.count_rx_drop(RxDrop::Undersize);
            return None;
        }
        if frame.len() > max {
            self.count_rx_drop(RxDrop::Oversize);
            return None;
        }
        let class = self.mac_filter(frame, ctl.rctl)?;
        Some(self.classify(frame, meta, class, ctl))
    }

    /// Parses, hashes and checksums a frame: everything that needs no lock.
    fn classify(
        &self,
        frame: &[u8],
        meta: &RxMeta,
        class: MacClass,
        ctl: &RxControl,
    ) -> Classified {
        let ip = packet::parse_ipv4(frame);
        let (rss_type, hash) = self.rss_hash(ip.as_ref(), ctl.mrqc);
        let queue = match rss_type {
            RssType::None => 0,
            _ => self.reta_queue(hash),
        };
        let ptype = match &ip {
            Some(ip) => {
                rx::ptype::IPV4
                    | match ip.l4 {
                        L4Kind::Tcp { .. } => rx::ptype::TCP,
                        L4Kind::Udp { .. } => rx::ptype::UDP,
                        L4Kind::Other => 0,
                    }
            }
            None if packet::ethertype(frame) == Some(ETHERTYPE_IPV6) => rx::ptype::IPV6,
            None => 0,
        };
        let rss_hash = if ctl.rxcsum & rxcsum::PCSD != 0 {
            hash
        } else {
            0
        };
        Classified {
            queue,
            pkt_info: RxDescWb::make_pkt_info(rss_type, ptype),
            rss_hash,
            csum_status: checksum_status(frame, ip.as_ref(), meta, ctl.rxcsum),
            class,
        }
    }

    /// RSS hash per `MRQC` (linux: the fields `igb_setup_mrqc` enables).
    fn rss_hash(&self, ip: Option<&Ipv4View>, mrqc: u32) -> (RssType, u32) {
        let Some(ip) = ip else {
            return (RssType::None, 0);
        };
        if mrqc & regs::mrqc::MODE_MASK != regs::mrqc::ENABLE_RSS {
            return (RssType::None, 0);
        }
        let (src, dst) = (ip.src.into(), ip.dst.into());
        match ip.l4 {
            L4Kind::Tcp { src_port, dst_port } if mrqc & regs::mrqc::FIELD_IPV4_TCP != 0 => (
                RssType::Ipv4Tcp,
                self.rss
                    .hash(&rss::ipv4_4tuple(src, dst, src_port, dst_port)),
            ),
            L4Kind::Udp { src_port, dst_port } if mrqc & regs::mrqc::FIELD_IPV4_UDP != 0 => (
                RssType::Ipv4Udp,
                self.rss
                    .hash(&rss::ipv4_4tuple(src, dst, src_port, dst_port)),
            ),
            _ if mrqc & regs::mrqc::FIELD_IPV4 != 0 => {
                (RssType::Ipv4, self.rss.hash(&rss::ipv4_2tuple(src, dst)))
            }
            _ => (RssType::None, 0),
        }
    }

    /// `RETA[hash & 0x7F] & 0xF`, read straight from the registers.
    fn reta_queue(&self, hash: u32) -> u16 {
        let entry = (hash & regs::reta::HASH_MASK) as usize;
        let word = self.regs.load(regs::reta((entry / 4) as u32));
        u16::from((word >> (8 * (entry % 4))) as u8 & regs::reta::QUEUE_MASK)
    }

    /// Latches (or, when disabled, forgets) queue `q`'s ring registers.
    /// Called on `RXDCTL` writes with the queue lock held.
    pub(super) fn latch_rx_ring(&self, q: u16, st: &mut RxState) {
        let base = regs::rx_queue_base(q);
        if self.regs.load(base + rxq::RXDCTL) & rxdctl::ENABLE == 0 {
            st.ring = None;
            return;
        }
        let ring = Iova::from_parts(
            self.regs.load(base + rxq::RDBAL),
            self.regs.load(base + rxq::RDBAH),
        );
        let len = self.regs.load(base + rxq::RDLEN) / DESC_SIZE as u32;
        let buf_size = match srrctl::packet_buffer_bytes(self.regs.load(base + rxq::SRRCTL)) {
            0 => DEFAULT_BUF,
            n => n as usize,
        };
        let valid = len != 0 && self.dma.contains(ring, len as usize * DESC_SIZE);
        st.ring = Some(RxRing {
            base: ring,
            len,
            buf_size,
            valid,
        });
    }

    /// Writes the frame into queue `q`'s posted buffers and the write-back
    /// descriptors. Called with the queue lock held; false when dropped.
    fn write_to_ring(&self, q: u16, frame: &[u8], c: &Classified, st: &mut RxState) -> bool {
        let base = regs::rx_queue_base(q);
        let Some(RxRing {
            base: ring,
            len,
            buf_size,
            valid,
        }) = st.ring
        else {
            st.counters.missed += 1;
            return false;
        };
        let head = st.head;
        let tail = self.regs.load_acquire(base + rxq::RDT);
        if !valid || head >= len || tail >= len {
            // A ring the device cannot use: nothing to write into.
            self.counters.bump_rx_ring_fault();
            st.counters.missed += 1;
            return false;
        }
        // Most frames fit one buffer: skip the division.
        let need = if frame.len() <= buf_size {
            1
        } else {
            frame.len().div_ceil(buf_size) as u32
        };
        let avail = if tail >= head {
            tail - head
        } else {
            tail + len - head
        };
        if need > avail {
            st.counters.missed += 1;
            st.counters.no_buffers += 1;
            return false;
        }
        let mut error = 0;
        let mut slot = head;
        let mut rest = frame;
        for i in 0..need {
            let (chunk, after) = rest.split_at(rest.len().min(buf_size));
            rest = after;
            let at = handoff::slot(ring, slot);
            slot = wrap(slot + 1, len);
            // The ring range was checked above, so this cannot fault.
            let read = handoff::fetch::<RxDescRead, _>(&*self.dma, at);
            match read {
                Ok(d) if self.dma.write(Iova(d.pkt_addr), chunk).is_ok() => {}
                // A buffer address outside DMA memory: counted by the
                // region; the frame is handed over marked bad.
                _ => error = rx::status::RXE,
            }
            let last = i + 1 == need;
            let status = rx::status::DD
                | if last {
                    rx::status::EOP | c.csum_status
                } else {
                    0
                };
            let wb = RxDescWb {
                pkt_info: c.pkt_info,
                hdr_info: 0,
                rss: c.rss_hash,
                status_error: status | error,
                length: chunk.len() as u16,
                vlan: 0,
            };
            if handoff::publish(&*self.dma, at, &wb).is_err() {
                self.counters.bump_rx_ring_fault();
            }
        }
        st.head = slot;
        self.regs.store(base + rxq::RDH, slot);
        if error != 0 {
            return true;
        }
        let counters = &mut st.counters;
        counters.packets += 1;
        counters.octets += frame.len() as u64 + FCS_LEN;
        match c.class {
            MacClass::Broadcast => counters.broadcast += 1,
            MacClass::Multicast => counters.multicast += 1,
            MacClass::Unicast => {}
        }
        true
    }
}

/// Checksum status bits for the last descriptor (linux: what
/// `igb_rx_checksum` decodes).
fn checksum_status(frame: &[u8], ip: Option<&Ipv4View>, meta: &RxMeta, cfg: u32) -> u32 {
    let Some(ip) = ip else {
        return RxChecksum::NONE.to_status(false);
    };
    let verdict = |ok: bool| if ok { CsumState::Good } else { CsumState::Bad };
    let ip_state = if cfg & rxcsum::IPOFLD != 0 {
        verdict(packet::ipv4_header_ok(frame, ip))
    } else {
        CsumState::NotChecked
    };
    let is_udp = matches!(ip.l4, L4Kind::Udp { .. });
    let l4_state = match ip.l4 {
        _ if cfg & rxcsum::TUOFLD == 0 => CsumState::NotChecked,
        L4Kind::Other => CsumState::NotChecked,
        // Offload metadata from a link that cannot damage frames: the
        // field holds only the pseudo-header seed (linux: veth).
        _ if meta.csum_verified => CsumState::Good,
        _ => match packet::ipv4_l4_ok(frame, ip) {
            Some(ok) => verdict(ok),
            None => CsumState::NotChecked,
        },
    };
    RxChecksum {
        ip: ip_state,
        l4: l4_state,
    }
    .to_status(is_udp)
}
