//! An emulated igb port as a [`NetDevice`] (linux: the netdev half of
//! `igb_main.c`).
//!
//! Each queue pair ([`QueueVector`]) sits with its qdisc behind its own
//! mutex. Queue `q` is polled by core `q % cores` and transmitted on by
//! the tasks of core `q` (XPS), so with at least as many queues as cores
//! the lock is only ever taken by one core: one uncontended lock per
//! packet. Per queue:
//!
//! * **RX** — a NAPI instance registered on the queue's core and woken by
//!   the vector's MSI-X ([`QueueVector::set_waker`]). Its poll reclaims TX
//!   completions and receives up to `budget` frames, each copied once into
//!   a pooled [`PacketBuf`] (the DMA buffer goes straight back to the
//!   ring), then — with the queue lock released — hands them to
//!   [`netif::receive`]. Under budget it completes and unmasks the vector.
//! * **TX** — `xmit` picks the queue of the calling core (XPS). Outside a
//!   poll or task batch (batching off, a foreign thread), with nothing
//!   queued, the frame goes straight to the ring (linux:
//!   `TCQ_F_CAN_BYPASS`); otherwise it is enqueued into the queue's
//!   `pfifo_fast`, which is run: up to [`TX_BATCH`] frames dequeued and
//!   given to [`QueueVector::tx_burst`], one tail write per burst. Inside
//!   a NAPI poll the run is deferred to the end of the poll (so a poll's
//!   replies go out as one burst), and from a task to the end of the
//!   core's task batch (so a batch's sends go out as one burst; see
//!   [`percore::defer_tx`]), or earlier once [`TX_BATCH`] frames wait. Frames the ring cannot take stay queued
//!   and the queue's NAPI is kicked to retry after its TX clean.
//!
//! The lock is never held while stack code runs: received frames are
//! collected under it and handed to `netif` after it is released, and taps
//! see transmitted frames before it is taken, so a transmit from the
//! receive path (or from a tap) cannot deadlock.

use std::fmt;
use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::Waker;

use netrt_igb::driver::{
    QueueCounters, QueueStats, QueueVector, RxFrame, StatsSnapshot, NAPI_WEIGHT,
};
use netrt_igb::port::EmulatedPort;
use netrt_igb::regs::{self, rctl};
use parking_lot::Mutex;

use super::{DevCounter, DevCounters, DevFeatures, DevStats, NetDevice};
use crate::runtime::napi::{Napi, NapiHandle};
use crate::runtime::Handle;
use crate::stack::gro::{self, Gro};
use crate::stack::ns::NsInner;
use crate::stack::percore::{self, TxFlush};
use crate::stack::ptype::{TapDirection, Taps};
use crate::stack::qdisc::{tos_to_priority, PfifoFast, Qdisc, QdiscStats, DEFAULT_TXQUEUELEN};
use crate::stack::rss_hint::RssSteering;
use crate::stack::skb::{CsumState, PacketBuf};
use crate::stack::{netif, IfIndex};
use crate::wire::{ethernet, EthernetAddress};

/// Frames handed to the driver per `tx_burst` (one tail write each).
pub const TX_BATCH: usize = 64;
/// Headroom of received frames: forwarding re-pushes an Ethernet header,
/// ICMP errors build new packets, so little is needed.
const RX_HEADROOM: usize = 64;
/// Default (and largest) IP MTU of an igb device.
pub const ETH_MTU: usize = 1500;
/// Smallest IP MTU (RFC 791: every host takes 68-byte datagrams).
pub const MIN_MTU: usize = 68;
/// VLAN tag room allowed on top of MTU + Ethernet header.
const VLAN_HLEN: usize = 4;

/// An igb port in a namespace.
pub struct IgbNetDev {
    // Field order matters on drop: NAPI instances are unregistered first,
    // before the queues they poll go away.
    napis: OnceLock<Box<[NapiHandle]>>,
    ifindex: IfIndex,
    name: String,
    mac: EthernetAddress,
    mtu: AtomicUsize,
    promiscuous: bool,
    rps: AtomicBool,
    /// Generic receive offload on (the default) or off.
    gro: AtomicBool,
    ns: Weak<NsInner>,
    taps: Taps,
    queues: Box<[Arc<IgbQueue>]>,
    /// The same queues as `TxFlush` objects, for the deferred-TX list.
    flushers: Box<[Arc<dyn TxFlush>]>,
    counters: Arc<DevCounters>,
    /// What the port's RSS was programmed with (for [`NetDevice::rx_core`]).
    rss: RssSteering,
    port: EmulatedPort,
    /// Whatever keeps the wire running while the device lives (a TAP's
    /// receive tasks, see [`super::tap`]); dropped with the device.
    backend: OnceLock<Box<dyn std::any::Any + Send + Sync>>,
}

/// One queue pair with its qdisc.
struct IgbQueue {
    state: Mutex<QueueState>,
    /// Schedules this queue's NAPI (retry after the ring filled up).
    kick: OnceLock<Waker>,
    counters: Arc<DevCounters>,
    /// The driver's counters of this queue pair (read without the lock).
    driver: Arc<QueueCounters>,
}

struct QueueState {
    /// The driver's queue pair: RX clean, TX clean, `tx_burst`.
    qv: QueueVector,
    /// linux: the TX queue's `Qdisc` (pfifo_fast).
    qdisc: PfifoFast<PacketBuf>,
    /// Frames dequeued from the qdisc but not yet taken by the ring:
    /// sent first on the next run (linux: `dev_requeue_skb`).
    pending: Vec<PacketBuf>,
}

impl IgbNetDev {
    /// Wraps `port` as device `ifindex` of namespace `ns`, registers one
    /// NAPI instance per queue on `rt` (queue `q` on core `q % cores`).
    /// Interrupts stay masked until [`IgbNetDev::start`].
    pub(crate) fn new(
        rt: &Handle,
        ns: &Arc<NsInner>,
        ifindex: IfIndex,
        name: &str,
        mut port: EmulatedPort,
    ) -> io::Result<Arc<IgbNetDev>> {
        let vectors = port.take_vectors();
        if vectors.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the port's queue vectors were taken already",
            ));
        }
        let rctl_bits = port.port().device().read_reg(regs::RCTL);
        let rss = RssSteering::from_regs(|r| port.port().device().read_reg(r), rt.cores());
        let counters = Arc::new(DevCounters::default());
        let queues: Box<[Arc<IgbQueue>]> = vectors
            .into_iter()
            .map(|qv| {
                let driver = qv.counters().clone();
                Arc::new(IgbQueue {
                    driver,
                    state: Mutex::new(QueueState {
                        qv,
                        qdisc: PfifoFast::new(DEFAULT_TXQUEUELEN),
                        pending: Vec::with_capacity(TX_BATCH),
                    }),
                    kick: OnceLock::new(),
                    counters: counters.clone(),
                })
            })
            .collect();
        let flushers = queues
            .iter()
            .map(|q| q.clone() as Arc<dyn TxFlush>)
            .collect();
        let dev = Arc::new(IgbNetDev {
            napis: OnceLock::new(),
            ifindex,
            name: name.to_string(),
            mac: EthernetAddress(port.model().config().mac),
            mtu: AtomicUsize::new(ETH_MTU),
            promiscuous: rctl_bits & rctl::UPE != 0,
            rps: AtomicBool::new(false),
            gro: AtomicBool::new(true),
            ns: Arc::downgrade(ns),
            taps: ns.taps.clone(),
            queues,
            flushers,
            counters,
            rss,
            port,
            backend: OnceLock::new(),
        });
        let cores = rt.cores().max(1);
        let mut napis = Vec::with_capacity(dev.queues.len());
        for (i, q) in dev.queues.iter().enumerate() {
            let napi = rt.register_napi(
                i % cores,
                Box::new(IgbNapi {
                    dev: Arc::downgrade(&dev),
                    queue: i,
                    batch: Vec::with_capacity(NAPI_WEIGHT),
                    gro: Gro::new(),
                }),
            )?;
            let _ = q.kick.set(napi.waker());
            q.state.lock().qv.set_waker(Some(napi.waker()));
            napis.push(napi);
        }
        let _ = dev.napis.set(napis.into_boxed_slice());
        Ok(dev)
    }

    /// Unmasks every queue's interrupt and polls each once, so frames that
    /// arrived before the device was up are picked up (linux: `igb_up`).
    pub(crate) fn start(&self) {
        for q in self.queues.iter() {
            q.state.lock().qv.enable_irq();
        }
        for napi in self.napis.get().into_iter().flat_map(|n| n.iter()) {
            napi.schedule();
        }
    }

    /// Ties `backend` to the device's lifetime (set once; a second one is
    /// dropped at once).
    pub(crate) fn keep_backend(&self, backend: Box<dyn std::any::Any + Send + Sync>) {
        let _ = self.backend.set(backend);
    }

    /// Sets the IP MTU (`ip link set mtu`): 68 (the IPv4 minimum) up to
    /// 1500 (the port takes no jumbo frames). `InvalidInput` otherwise.
    pub fn set_mtu(&self, mtu: usize) -> io::Result<()> {
        if !(MIN_MTU..=ETH_MTU).contains(&mtu) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("MTU {mtu} outside {MIN_MTU}..={ETH_MTU}"),
            ));
        }
        self.mtu.store(mtu, Ordering::Relaxed);
        Ok(())
    }

    /// Turns Receive Packet Steering on or off: frames are spread over the
    /// runtime's cores by RSS hash through the cores' backlogs.
    pub fn set_rps(&self, on: bool) {
        self.rps.store(on, Ordering::Relaxed);
    }

    /// Number of queue pairs.
    pub fn num_queues(&self) -> usize {
        self.queues.len()
    }

    /// The driver's counters of queue pair `queue`.
    pub fn queue_stats(&self, queue: usize) -> Option<QueueStats> {
        Some(self.queues.get(queue)?.driver.snapshot())
    }

    /// The qdisc counters of TX queue `queue` (`tc -s qdisc`).
    pub fn qdisc_stats(&self, queue: usize) -> Option<QdiscStats> {
        Some(self.queues.get(queue)?.state.lock().qdisc.stats())
    }

    /// Hardware and per-queue statistics (`ethtool -S`).
    pub fn hw_stats(&self) -> StatsSnapshot {
        self.port.port().stats()
    }

    /// The emulated port (device model, cable).
    pub fn port(&self) -> &EmulatedPort {
        &self.port
    }

    /// The TX queue of the packet's flow (its socket's home core) or of
    /// the calling core (linux: `netdev_pick_tx`: the socket's queue,
    /// else XPS).
    #[inline]
    fn tx_queue(&self, frame: &PacketBuf) -> usize {
        let core = match frame.meta().tx_core {
            Some(c) => usize::from(c),
            None => crate::runtime::current_core().unwrap_or(0),
        };
        core % self.queues.len()
    }

    /// Whether the hardware can send `frame` (linux: `validate_xmit_skb`
    /// plus the driver's length check).
    #[inline]
    fn fits(&self, frame: &PacketBuf) -> bool {
        let tso = frame.meta().offload.is_some_and(|o| o.tso);
        frame.len() >= ethernet::HEADER_LEN
            && (tso || frame.len() <= self.mtu() + ethernet::HEADER_LEN + VLAN_HLEN)
    }
}

impl NetDevice for IgbNetDev {
    fn ifindex(&self) -> IfIndex {
        self.ifindex
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn mac(&self) -> EthernetAddress {
        self.mac
    }

    fn mtu(&self) -> usize {
        self.mtu.load(Ordering::Relaxed)
    }

    fn features(&self) -> DevFeatures {
        DevFeatures {
            tx_csum: true,
            tso: true,
            rx_csum_verified: true,
        }
    }

    /// linux: dev_queue_xmit → __dev_xmit_skb → qdisc_run
    fn xmit(&self, frame: PacketBuf) {
        // linux: dev_queue_xmit_nit (taps see the frame as it is queued)
        self.taps
            .deliver(frame.data(), TapDirection::Out, self.ifindex);
        if !self.fits(&frame) {
            self.counters.add(DevCounter::TxDropped, 1);
            return;
        }
        let i = self.tx_queue(&frame);
        let q = &self.queues[i];
        // linux: skb->priority from the TOS (rt_tos2priority)
        let priority = tos_to_priority(frame.meta().priority);
        // Inside a NAPI poll or a task batch: queue, and run the queue once
        // at the end for every frame the poll or batch produced (deferring
        // first is fine: the run happens later on this thread).
        let deferred = percore::defer_tx(&self.flushers[i]);
        let mut st = q.state.lock();
        if deferred {
            if st.qdisc.enqueue(frame, priority).is_err() {
                self.counters.add(DevCounter::TxDropped, 1);
            }
            // From a task, a full burst need not wait: a task sending in a
            // loop would otherwise fill the qdisc up to its limit and drop.
            // (A NAPI poll's output is bounded by its budget and waits for
            // the end of the poll, as in Linux.)
            if st.qdisc.len() >= TX_BATCH && !percore::in_napi_poll() {
                q.run_locked(&mut st);
            }
            return;
        }
        // linux: TCQ_F_CAN_BYPASS: an empty qdisc need not see the frame.
        let frame = if st.pending.is_empty() && st.qdisc.is_empty() {
            if st.qv.tx_burst(std::slice::from_ref(&frame)) == 1 {
                self.counters.tx(frame.len());
                return;
            }
            frame // ring full: queue it
        } else {
            frame
        };
        if st.qdisc.enqueue(frame, priority).is_err() {
            self.counters.add(DevCounter::TxDropped, 1);
        }
        q.run_locked(&mut st);
    }

    fn stats(&self) -> DevStats {
        let mut s = self.counters.snapshot();
        for q in self.queues.iter() {
            let c = q.driver.snapshot();
            s.tx_dropped += c.tx_errors;
            s.rx_dropped += c.rx_errors;
        }
        s
    }

    fn promiscuous(&self) -> bool {
        self.promiscuous
    }

    fn rps_enabled(&self) -> bool {
        self.rps.load(Ordering::Relaxed)
    }

    fn set_gro(&self, on: bool) -> io::Result<()> {
        self.gro.store(on, Ordering::Relaxed);
        Ok(())
    }

    fn gro_enabled(&self) -> bool {
        self.gro.load(Ordering::Relaxed)
    }

    /// RSS as the port computes it, the core polling that queue, then RPS.
    fn rx_core(&self, src: SocketAddrV4, dst: SocketAddrV4) -> Option<usize> {
        let napis = self.napis.get()?;
        self.rss.rx_core(src, dst, self.rps_enabled(), |q| {
            Some(napis.get(usize::from(q))?.core())
        })
    }
}

impl fmt::Debug for IgbNetDev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IgbNetDev")
            .field("ifindex", &self.ifindex)
            .field("name", &self.name)
            .field("mac", &self.mac)
            .field("queues", &self.queues.len())
            .finish_non_exhaustive()
    }
}

impl IgbQueue {
    /// linux: qdisc_run → sch_direct_xmit. Hands queued frames to the ring
    /// in bursts of up to [`TX_BATCH`], one tail write each.
    fn run_locked(&self, st: &mut QueueState) {
        loop {
            while st.pending.len() < TX_BATCH {
                match st.qdisc.dequeue() {
                    Some(p) => st.pending.push(p),
                    None => break,
                }
            }
            if st.pending.is_empty() {
                return;
            }
            let sent = st.qv.tx_burst(&st.pending);
            let bytes: usize = st.pending[..sent].iter().map(PacketBuf::len).sum();
            self.counters.add(DevCounter::TxPackets, sent as u64);
            self.counters.add(DevCounter::TxBytes, bytes as u64);
            // The driver copied the frames into its DMA buffers: the
            // packet buffers go back to the pool now.
            st.pending.drain(..sent);
            if !st.pending.is_empty() {
                // Ring full: the queue's NAPI reclaims completions and runs
                // the queue again.
                if let Some(kick) = self.kick.get() {
                    kick.wake_by_ref();
                }
                return;
            }
        }
    }
}

impl QueueState {
    /// Whether frames wait for the ring (checked after a TX clean).
    fn has_tx_backlog(&self) -> bool {
        !self.pending.is_empty() || !self.qdisc.is_empty()
    }
}

impl TxFlush for IgbQueue {
    fn flush_tx(&self) {
        self.run_locked(&mut self.state.lock());
    }
}

/// The NAPI instance of one queue pair (linux: `igb_poll`).
struct IgbNapi {
    dev: Weak<IgbNetDev>,
    queue: usize,
    /// Frames of the current poll, received under the queue lock and
    /// processed after it (keeps its capacity: no allocation per poll).
    batch: Vec<PacketBuf>,
    /// TCP segments being merged during the current poll.
    gro: Gro,
}

impl Napi for IgbNapi {
    fn poll(&mut self, budget: usize) -> usize {
        let Some(dev) = self.dev.upgrade() else {
            return 0;
        };
        let Some(ns) = dev.ns.upgrade() else {
            return 0;
        };
        let q = &dev.queues[self.queue];
        let (batch, gro) = (&mut self.batch, &mut self.gro);
        percore::napi_scope(|| {
            let (work, tx_waiting) = {
                let mut st = q.state.lock();
                let work = st.qv.poll(budget, |frame| batch.push(copy_frame(&frame)));
                (work, st.has_tx_backlog())
            };
            let netdev: Arc<dyn NetDevice> = dev.clone();
            let frames = batch.drain(..).inspect(|pkt| dev.counters.rx(pkt.len()));
            let gro_on = gro::enabled(&ns, &dev.gro);
            gro.run(gro_on, frames, &mut |pkt| netif::receive(&ns, &netdev, pkt));
            // TX completions made room: run what waited for the ring.
            if tx_waiting {
                percore::defer_tx(&dev.flushers[self.queue]);
            }
            work
        })
    }

    fn complete(&mut self) {
        if let Some(dev) = self.dev.upgrade() {
            dev.queues[self.queue].state.lock().qv.enable_irq();
        }
    }
}

/// Copies a received frame into a packet buffer with the device's verdicts
/// (linux: `igb_construct_skb`, `igb_rx_hash`, `igb_rx_checksum`).
fn copy_frame(frame: &RxFrame<'_>) -> PacketBuf {
    let len = frame.len();
    let mut pkt = PacketBuf::new(RX_HEADROOM, len);
    frame.copy_to(pkt.put_uninit(len));
    let meta = pkt.meta_mut();
    meta.rss_hash = frame.rss_hash();
    // Only a good L4 verdict spares software the check; a bad one is left
    // for software to find (and count) again, as Linux does.
    if frame.checksum().l4 == netrt_igb::desc::CsumState::Good {
        meta.csum = CsumState::Verified;
    }
    pkt
}
