//! The emulated igb: a register file with the real offsets and semantics,
//! a transmit engine that runs on the `TDT` write, a receive path entered
//! from the wire, RSS, MSI-X with auto-clear/auto-mask/throttling, and
//! clear-on-read statistics.
//!
//! ```text
//! driver ── write_reg(TDT) ──▶ tx engine ──▶ Attachment (cable, TAP)
//!                                                  │
//! driver ◀── waker (MSI-X) ◀── rx path ◀── Endpoint::deliver
//! ```
//!
//! Concurrency: registers are atomics; the TX engine takes its queue's
//! lock (uncontended: one driver thread per queue); the RX path takes the
//! target RX queue's lock only to write the ring, once per run of frames
//! for that queue. No lock is shared by all queues on the data path. Ring
//! base, length and buffer size are latched when a queue is enabled
//! (`RXDCTL`/`TXDCTL.ENABLE`), as the datasheet requires them to be set
//! before.
//!
//! Transmit checksum offload follows the hardware convention: the
//! driver/stack seeds the L4 checksum field with the
//! pseudo-header sum — including the L4 length for plain checksum offload,
//! without it for TSO (linux: `igb_tso`) — and the device folds in the rest.
//! On a link that carries checksum metadata the device leaves the seed in
//! place and the frame travels as `CHECKSUM_PARTIAL`; the receiving device
//! reports it verified.
//!
//! Interrupt throttling (`EITR`): a vector fires at most once per interval;
//! a firing due inside the interval is deferred to its end by a timer
//! thread (one per device, started by the first non-zero `EITR` write,
//! parked otherwise) unless a later cause fires it first.
//!
//! Not modelled: VLAN insertion/stripping (frames pass untagged and
//! unstripped), header split, SCTP CRC offload, IPv6 RSS, VMDq, flow
//! control, the PHY, and the on-chip packet buffer: a frame that finds no
//! descriptor is dropped (counted in `MPC` and `RNBC`) whether or not
//! `SRRCTL.DROP_EN` is set. The `CTRL.RST` reset clears registers, contexts,
//! statistics and interrupt state but keeps the attachment and wakers.

mod irq;
mod offload;
pub(crate) mod packet;
mod regfile;
mod rx;
mod tx;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;

use parking_lot::Mutex;

use crate::attach::{Attachment, Burst, Endpoint, RxMeta};
use crate::device::IgbDevice;
use crate::dma::DmaRegion;
use crate::regs::{self, ctrl, ivar, rctl, rxcsum, rxq, status, tctl, txq};
use crate::rss::{SharedToeplitz, KEY_LEN};

use irq::{Interrupts, VECTORS};
use regfile::RegFile;
use rx::{RxCounters, RxQueueDev, RxState};
use tx::{TxCounters, TxQueueDev};

/// Receive address low register `n` (0..16).
const fn ral(n: u32) -> u32 {
    0x5400 + 8 * n
}
/// Receive address high register `n`; bit 31 is "address valid".
const fn rah(n: u32) -> u32 {
    0x5404 + 8 * n
}
/// `RAH` address valid.
const RAH_AV: u32 = 0x8000_0000;
/// Receive address entries checked by the unicast filter.
const RAR_ENTRIES: u32 = 16;
/// Multicast table array: 128 registers, 4096 hash bits.
const MTA: u32 = 0x5200;
/// `RCTL` multicast offset field (which address bits index the MTA).
const RCTL_MO_SHIFT: u32 = 12;
/// TSO TCP flag masks, first (11:0) and middle (27:16) segments.
const DTXTCPFLGL: u32 = 0x359C;
/// TSO TCP flag mask, last segment (11:0).
const DTXTCPFLGH: u32 = 0x35A0;
/// Statistics block: writes are ignored, reads of the counters clear them.
const STATS_RANGE: std::ops::Range<u32> = 0x4000..0x4200;
/// Broadcast / multicast packets received and transmitted, undersize and
/// oversize receive counts (clear on read, like the rest).
const BPRC: u32 = 0x4078;
const MPRC: u32 = 0x407C;
const RUC: u32 = 0x40A4;
const ROC: u32 = 0x40AC;
const MPTC: u32 = 0x40F0;
const BPTC: u32 = 0x40F4;
/// `IVAR_MISC` byte routing the "other" cause (link status change).
const IVAR_MISC_OTHER_SHIFT: u32 = 8;

/// Configuration of an emulated port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    /// RX/TX queue pairs (1..=16; the 82576 has 16, the I350 8).
    pub num_queues: u16,
    /// Station address, loaded into `RAL0`/`RAH0` at reset (as from the
    /// EEPROM).
    pub mac: [u8; 6],
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            num_queues: 1,
            mac: [0x02, 0, 0, 0, 0, 0x01],
        }
    }
}

/// Destination class of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacClass {
    Unicast,
    Multicast,
    Broadcast,
}

/// Classifies a frame by its destination MAC address.
pub(crate) fn mac_class(frame: &[u8]) -> Option<MacClass> {
    let dst = frame.get(..6)?;
    Some(if dst == [0xff; 6] {
        MacClass::Broadcast
    } else if dst[0] & 1 != 0 {
        MacClass::Multicast
    } else {
        MacClass::Unicast
    })
}

macro_rules! device_counters {
    ($($(#[$doc:meta])* $field:ident => $bump:ident,)*) => {
        /// Events the device counts outside its statistics registers
        /// (cumulative; for diagnostics and tests).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct ModelCounters {
            $($(#[$doc])* pub $field: u64,)*
        }

        #[derive(Default)]
        struct DevCounters {
            $($field: AtomicU64,)*
        }

        impl DevCounters {
            $(
                #[inline]
                fn $bump(&self) {
                    self.$field.fetch_add(1, Ordering::Relaxed);
                }
            )*

            fn snapshot(&self) -> ModelCounters {
                ModelCounters { $($field: self.$field.load(Ordering::Relaxed),)* }
            }
        }
    };
}

device_counters! {
    /// Frames shorter than an Ethernet header.
    rx_undersize => bump_undersize,
    /// Frames longer than the receiver accepts.
    rx_oversize => bump_oversize,
    /// Frames steered to a queue the device does not have.
    rx_no_queue => bump_rx_no_queue,
    /// Frames dropped because the RX ring registers or memory were unusable.
    rx_ring_faults => bump_rx_ring_fault,
    /// TX ring registers or descriptor memory unusable.
    tx_bad_ring => bump_tx_bad_ring,
    /// TX descriptors of a reserved type, or frames too long to send.
    tx_bad_desc => bump_tx_bad_desc,
    /// Frames dropped because a TX buffer was outside DMA memory.
    tx_dma_drops => bump_tx_dma_drop,
    /// Frames dropped because their offload request did not fit them.
    tx_offload_errors => bump_tx_offload_error,
    /// Frames sent while no attachment was plugged in.
    tx_no_link => bump_tx_no_link,
}

/// Clear-on-read counters for the registers that have no per-queue home.
#[derive(Default)]
struct ReadClear {
    undersize: AtomicU64,
    oversize: AtomicU64,
    no_queue: AtomicU64,
}

/// Receive drops before a queue is chosen.
#[derive(Clone, Copy, Debug)]
enum RxDrop {
    Undersize,
    Oversize,
    NoQueue,
}

/// The two halves of a 64-bit octet counter: reading the low half latches
/// the value, reading the high half returns the latched high bits and
/// clears both (so `L` then `H` is one consistent 64-bit read).
#[derive(Default)]
struct OctetLatch(Mutex<Option<u64>>);

/// An emulated igb port.
pub struct IgbModel {
    cfg: ModelConfig,
    dma: Arc<DmaRegion>,
    regs: RegFile,
    irq: Arc<Interrupts>,
    rss: SharedToeplitz,
    /// Serialises RSS key rewrites (readers hash without it).
    rekey: Mutex<()>,
    rx: Box<[RxQueueDev]>,
    tx: Box<[TxQueueDev]>,
    attachment: Mutex<Option<Arc<dyn Attachment>>>,
    linked: AtomicBool,
    counters: DevCounters,
    read_clear: ReadClear,
    gorc: OctetLatch,
    gotc: OctetLatch,
}

impl fmt::Debug for IgbModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IgbModel")
            .field("config", &self.cfg)
            .field("linked", &self.linked.load(Ordering::Relaxed))
            .field("counters", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl IgbModel {
    /// A powered-on port with `config`, reaching memory through `dma`.
    /// `num_queues` is clamped to 1..=16.
    pub fn new(config: ModelConfig, dma: Arc<DmaRegion>) -> Arc<IgbModel> {
        let cfg = ModelConfig {
            num_queues: config.num_queues.clamp(1, regs::MAX_QUEUES),
            ..config
        };
        let n = usize::from(cfg.num_queues);
        let model = IgbModel {
            cfg,
            dma,
            regs: RegFile::new(),
            irq: Interrupts::new(),
            rss: SharedToeplitz::new(&[0; KEY_LEN], 12),
            rekey: Mutex::new(()),
            rx: (0..n).map(|_| RxQueueDev::default()).collect(),
            tx: (0..n).map(|_| TxQueueDev::default()).collect(),
            attachment: Mutex::new(None),
            linked: AtomicBool::new(false),
            counters: DevCounters::default(),
            read_clear: ReadClear::default(),
            gorc: OctetLatch::default(),
            gotc: OctetLatch::default(),
        };
        model.reset();
        Arc::new(model)
    }

    /// The configuration (with `num_queues` clamped).
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Plugs the port into `attachment` (link up).
    pub fn set_attachment(&self, attachment: Arc<dyn Attachment>) {
        self.plug(Some(attachment));
    }

    /// Unplugs the port (link down); frames sent meanwhile are dropped and
    /// counted in [`ModelCounters::tx_no_link`].
    pub fn detach(&self) {
        self.plug(None);
    }

    /// Whether an attachment is plugged in (`STATUS.LU`).
    pub fn link_up(&self) -> bool {
        self.linked.load(Ordering::Acquire)
    }

    /// Device events outside the statistics registers.
    pub fn counters(&self) -> ModelCounters {
        self.counters.snapshot()
    }

    /// How many times MSI-X vector `vector` has fired (sent its message).
    pub fn interrupts_fired(&self, vector: u16) -> u64 {
        self.irq.fired(usize::from(vector))
    }

    fn plug(&self, attachment: Option<Arc<dyn Attachment>>) {
        let carries = attachment
            .as_ref()
            .is_some_and(|a| a.carries_csum_offload());
        // Each TX queue keeps its own copy so the engine never reads a
        // shared lock; updating them all here also drops every reference
        // to an old attachment (a cable's ends refer back to ports).
        for q in self.tx.iter() {
            let mut st = q.state.lock();
            st.attachment = attachment.clone();
            st.carries_csum = carries;
            st.unsegmented_tso = carries
                && attachment
                    .as_ref()
                    .is_some_and(|a| a.wants_unsegmented_tso());
        }
        let up = attachment.is_some();
        *self.attachment.lock() = attachment;
        if self.linked.swap(up, Ordering::AcqRel) != up {
            // Link status change: the "other" cause.
            let entry = self.regs.load(regs::IVAR_MISC) >> IVAR_MISC_OTHER_SHIFT;
            if entry & ivar::VALID != 0 {
                self.irq.raise(1 << (entry & ivar::VECTOR_MASK));
            }
        }
    }

    /// `EICR` bits raised by queue `q`'s RX (or TX) completion.
    #[inline]
    fn queue_cause(&self, q: u16, rx: bool) -> u32 {
        if !self.irq.msix_mode() {
            return 1 << (q & 0xF);
        }
        let reg = self.regs.load(regs::ivar(ivar::index(q)));
        let shift = if rx {
            ivar::rx_shift(q)
        } else {
            ivar::tx_shift(q)
        };
        let entry = (reg >> shift) & 0xFF;
        if entry & ivar::VALID == 0 {
            0
        } else {
            1 << (entry & ivar::VECTOR_MASK)
        }
    }

    /// Unicast/multicast/broadcast filtering (`RAL`/`RAH`, `MTA`, `RCTL`
    /// `UPE`/`MPE`/`BAM`). `None` drops the frame silently, as hardware
    /// does with frames not addressed to it.
    fn mac_filter(&self, frame: &[u8], rctl: u32) -> Option<MacClass> {
        let class = mac_class(frame)?;
        let dst = &frame[..6];
        let accept = match class {
            MacClass::Broadcast => rctl & rctl::BAM != 0,
            MacClass::Multicast => rctl & rctl::MPE != 0 || self.mta_hit(dst, rctl),
            MacClass::Unicast => rctl & rctl::UPE != 0 || self.rar_hit(dst),
        };
        accept.then_some(class)
    }

    fn rar_hit(&self, dst: &[u8]) -> bool {
        (0..RAR_ENTRIES).any(|n| {
            let high = self.regs.load(rah(n));
            high & RAH_AV != 0
                && dst[..4] == self.regs.load(ral(n)).to_le_bytes()
                && dst[4..6] == (high as u16).to_le_bytes()
        })
    }

    /// Multicast hash filter: 12 bits of the address picked by `RCTL.MO`.
    fn mta_hit(&self, dst: &[u8], rctl: u32) -> bool {
        let (b4, b5) = (u32::from(dst[4]), u32::from(dst[5]));
        let hash = match (rctl >> RCTL_MO_SHIFT) & 3 {
            0 => (b4 >> 4) | (b5 << 4),
            1 => (b4 >> 3) | (b5 << 5),
            2 => (b4 >> 2) | (b5 << 6),
            _ => b4 | (b5 << 8),
        } & 0xFFF;
        self.regs.load(MTA + 4 * (hash >> 5)) & (1 << (hash & 31)) != 0
    }

    /// Power-on / `CTRL.RST` state. Data paths are excluded by holding
    /// every queue lock.
    fn reset(&self) {
        let mut txs: Vec<_> = self.tx.iter().map(|q| q.state.lock()).collect();
        let mut rxs: Vec<_> = self.rx.iter().map(|q| q.state.lock()).collect();
        let mac = self.cfg.mac;
        let mut defaults = vec![
            (regs::CTRL, ctrl::FD),
            (regs::RXCSUM, rxcsum::IPOFLD | rxcsum::TUOFLD),
            (DTXTCPFLGL, 0x0FF6_0FF6),
            (DTXTCPFLGH, 0x0000_0FFF),
            (ral(0), u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]])),
            (
                rah(0),
                u32::from(u16::from_le_bytes([mac[4], mac[5]])) | RAH_AV,
            ),
        ];
        for q in 0..regs::MAX_QUEUES {
            // BSIZEPKT 2 KiB, BSIZEHDR 256 bytes.
            defaults.push((regs::rx_queue_base(q) + regs::rxq::SRRCTL, 0x0000_0402));
        }
        self.regs.reset(&defaults);
        for st in txs.iter_mut() {
            st.reset();
        }
        for st in rxs.iter_mut() {
            **st = RxState::default();
        }
        self.irq.reset();
        {
            let _w = self.rekey.lock();
            self.rss.set_key(&[0; KEY_LEN]);
        }
        *self.gorc.0.lock() = None;
        *self.gotc.0.lock() = None;
        for c in [
            &self.read_clear.undersize,
            &self.read_clear.oversize,
            &self.read_clear.no_queue,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Re-reads the 40-byte key from `RSSRK` into the hasher.
    fn rekey_rss(&self) {
        let _w = self.rekey.lock();
        let mut key = [0u8; KEY_LEN];
        for (n, chunk) in key.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&self.regs.load(regs::rssrk(n as u32)).to_le_bytes());
        }
        self.rss.set_key(&key);
    }

    // ---- statistics ---------------------------------------------------

    fn take_rx(&self, field: fn(&mut RxCounters) -> &mut u64) -> u64 {
        self.rx
            .iter()
            .map(|q| std::mem::take(field(&mut q.state.lock().counters)))
            .sum()
    }

    fn take_tx(&self, field: fn(&mut TxCounters) -> &mut u64) -> u64 {
        self.tx
            .iter()
            .map(|q| std::mem::take(field(&mut q.state.lock().counters)))
            .sum()
    }

    fn read_octets(latch: &OctetLatch, take: impl FnOnce() -> u64, high: bool) -> u32 {
        let mut l = latch.0.lock();
        if high {
            // After a low read, report what it latched (later counts stay
            // for the next pair); without one, take the lot.
            let v = match l.take() {
                Some(v) => v,
                None => take(),
            };
            (v >> 32) as u32
        } else {
            let v = l.unwrap_or(0) + take();
            *l = Some(v);
            v as u32
        }
    }

    /// Drops counted in both a clear-on-read register and the cumulative
    /// diagnostics.
    fn count_rx_drop(&self, kind: RxDrop) {
        let (reg, bump): (&AtomicU64, fn(&DevCounters)) = match kind {
            RxDrop::Undersize => (&self.read_clear.undersize, DevCounters::bump_undersize),
            RxDrop::Oversize => (&self.read_clear.oversize, DevCounters::bump_oversize),
            RxDrop::NoQueue => (&self.read_clear.no_queue, DevCounters::bump_rx_no_queue),
        };
        reg.fetch_add(1, Ordering::Relaxed);
        bump(&self.counters);
    }

    fn read_stat(&self, offset: u32) -> u32 {
        use regs::stats::*;
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let v = match offset {
            MPC => self.take_rx(|c| &mut c.missed) + take(&self.read_clear.no_queue),
            RNBC => self.take_rx(|c| &mut c.no_buffers),
            GPRC => self.take_rx(|c| &mut c.packets),
            BPRC => self.take_rx(|c| &mut c.broadcast),
            MPRC => self.take_rx(|c| &mut c.multicast),
            GPTC => self.take_tx(|c| &mut c.packets),
            BPTC => self.take_tx(|c| &mut c.broadcast),
            MPTC => self.take_tx(|c| &mut c.multicast),
            TSCTC => self.take_tx(|c| &mut c.tso_contexts),
            RUC => take(&self.read_clear.undersize),
            ROC => take(&self.read_clear.oversize),
            GORCL | GORCH => {
                let take = || self.take_rx(|c| &mut c.octets);
                return Self::read_octets(&self.gorc, take, offset == GORCH);
            }
            GOTCL | GOTCH => {
                let take = || self.take_tx(|c| &mut c.octets);
                return Self::read_octets(&self.gotc, take, offset == GOTCH);
            }
            _ => 0,
        };
        // 32-bit counters saturate rather than wrap between reads.
        v.min(u64::from(u32::MAX)) as u32
    }

    // ---- register dispatch -------------------------------------------

    fn read(&self, offset: u32) -> u32 {
        match offset {
            regs::STATUS => {
                status::FD | status::SPEED_1000 | if self.link_up() { status::LU } else { 0 }
            }
            regs::EICR => self.irq.read_eicr(),
            regs::EIMS => self.irq.eims(),
            regs::EIAC => self.irq.eiac(),
            regs::EIAM => self.irq.eiam(),
            regs::GPIE => self.irq.gpie(),
            regs::EICS | regs::EIMC => 0,
            o if (regs::EITR_BASE..regs::EITR_BASE + 4 * VECTORS as u32).contains(&o) => {
                self.irq.read_eitr(((o - regs::EITR_BASE) / 4) as usize)
            }
            o if STATS_RANGE.contains(&o) => self.read_stat(o),
            o => self.regs.load(o),
        }
    }

    fn write(&self, offset: u32, value: u32) {
        match offset {
            regs::CTRL if value & ctrl::RST != 0 => self.reset(),
            regs::STATUS => {}
            regs::TCTL => {
                self.regs.store(offset, value);
                if value & tctl::EN != 0 {
                    // Descriptors posted while disabled go now.
                    for q in 0..self.cfg.num_queues {
                        self.transmit_queue(q);
                    }
                }
            }
            regs::EICR => self.irq.write_eicr(value),
            regs::EICS => self.irq.write_eics(value),
            regs::EIMS => self.irq.write_eims(value),
            regs::EIMC => self.irq.write_eimc(value),
            regs::EIAC => self.irq.set_eiac(value),
            regs::EIAM => self.irq.set_eiam(value),
            regs::GPIE => self.irq.set_gpie(value),
            o if (regs::EITR_BASE..regs::EITR_BASE + 4 * VECTORS as u32).contains(&o) => self
                .irq
                .write_eitr(((o - regs::EITR_BASE) / 4) as usize, value),
            o if (regs::RSSRK..regs::rssrk(regs::RSSRK_REGS)).contains(&o) => {
                self.regs.store(o, value);
                self.rekey_rss();
            }
            o if STATS_RANGE.contains(&o) => {}
            o if (regs::RXQ_BASE..regs::rx_queue_base(regs::MAX_QUEUES)).contains(&o) => {
                self.regs.store(o, value);
                let q = ((o - regs::RXQ_BASE) / regs::QUEUE_STRIDE) as u16;
                let Some(dev) = self.rx.get(usize::from(q)) else {
                    return;
                };
                match (o - regs::RXQ_BASE) % regs::QUEUE_STRIDE {
                    rxq::RXDCTL => self.latch_rx_ring(q, &mut dev.state.lock()),
                    rxq::RDH => dev.state.lock().head = value,
                    _ => {}
                }
            }
            o if (regs::TXQ_BASE..regs::tx_queue_base(regs::MAX_QUEUES)).contains(&o) => {
                self.regs.store(o, value);
                let q = ((o - regs::TXQ_BASE) / regs::QUEUE_STRIDE) as u16;
                let Some(dev) = self.tx.get(usize::from(q)) else {
                    return;
                };
                match (o - regs::TXQ_BASE) % regs::QUEUE_STRIDE {
                    txq::TDT => self.transmit_queue(q),
                    txq::TXDCTL => {
                        self.latch_tx_ring(q, &mut dev.state.lock());
                        self.transmit_queue(q);
                    }
                    txq::TDH => dev.state.lock().head = value,
                    _ => {}
                }
            }
            o => self.regs.store(o, value),
        }
    }
}

impl IgbDevice for IgbModel {
    fn read_reg(&self, offset: u32) -> u32 {
        self.read(offset)
    }

    fn write_reg(&self, offset: u32, value: u32) {
        self.write(offset, value)
    }

    fn dma(&self) -> &Arc<DmaRegion> {
        &self.dma
    }

    fn set_msix_waker(&self, vector: u16, waker: Option<Waker>) {
        self.irq.set_waker(usize::from(vector), waker);
    }

    fn num_queues(&self) -> u16 {
        self.cfg.num_queues
    }
}

impl Endpoint for IgbModel {
    fn deliver(&self, frame: &[u8], meta: &RxMeta) {
        self.receive(std::iter::once((frame, *meta)));
    }

    fn deliver_burst(&self, burst: &Burst, trust_csum: bool) {
        self.receive(burst.iter().map(|(frame, meta)| {
            let rx = if trust_csum {
                RxMeta::from_tx(meta)
            } else {
                RxMeta::default()
            };
            (frame, rx)
        }));
    }

    fn set_attachment(&self, attachment: Option<Arc<dyn Attachment>>) {
        self.plug(attachment);
    }
}
