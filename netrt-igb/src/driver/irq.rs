//! MSI-X vectors and the NAPI glue (linux: igb_configure_msix,
//! igb_assign_vector, igb_msix_ring, igb_poll, igb_ring_irq_enable).
//!
//! Each queue pair has its own vector. The device runs in MSI-X mode with
//! auto-clear (`EIAC`) and auto-mask (`GPIE.EIAME` + `EIAM`): when the
//! vector fires, its cause is cleared and the vector masked, and the
//! registered [`Waker`] schedules the poll. The poll processes up to its
//! budget; only when it finishes under budget does the runtime call
//! [`QueueVector::enable_irq`] (the `napi_complete_done` path), which
//! unmasks the vector with an `EIMS` write. A cause raised in between fires
//! as soon as the vector is unmasked, so no wakeup is lost.

use std::io;
use std::sync::Arc;
use std::task::Waker;

use crate::device::IgbDevice;
use crate::regs::{self, eitr, gpie, ivar};

use super::rx::{RxConfig, RxFrame, RxQueue};
use super::stats::QueueCounters;
use super::tx::{TxConfig, TxFrame, TxQueue, TX_CLEAN_LIMIT};

/// Interrupt throttling setting for a vector (`EITR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Itr {
    /// No throttling.
    Off,
    /// ~70,000 interrupts/s (linux IGB_70K_ITR).
    Max70k,
    /// ~20,000 interrupts/s (linux IGB_20K_ITR).
    Max20k,
    /// ~6,000 interrupts/s (linux IGB_START_ITR).
    Max6k,
    /// ~4,000 interrupts/s (linux IGB_4K_ITR).
    Max4k,
    /// A minimum interval between interrupts, in µs.
    IntervalUs(u32),
}

impl Itr {
    /// The `EITR` register value.
    pub const fn register_value(self) -> u32 {
        match self {
            Itr::Off => 0,
            Itr::Max70k => eitr::ITR_70K,
            Itr::Max20k => eitr::ITR_20K,
            Itr::Max6k => eitr::ITR_6K,
            Itr::Max4k => eitr::ITR_4K,
            Itr::IntervalUs(us) => eitr::from_interval_us(us),
        }
    }
}

/// One MSI-X vector serving one RX/TX queue pair: the unit a core polls
/// (linux: struct igb_q_vector + its napi_struct).
pub struct QueueVector {
    dev: Arc<dyn IgbDevice>,
    vector: u16,
    rx: RxQueue,
    tx: TxQueue,
    counters: Arc<QueueCounters>,
}

impl std::fmt::Debug for QueueVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueVector")
            .field("vector", &self.vector)
            .field("rx", &self.rx)
            .field("tx", &self.tx)
            .finish()
    }
}

impl QueueVector {
    /// Sets up queue pair `queue` and routes both of its causes to MSI-X
    /// vector `vector`, throttled by `itr`. The vector stays masked until
    /// [`Self::enable_irq`]. Setup must not run concurrently with other
    /// configuration of the same device (it read-modify-writes shared
    /// interrupt registers).
    pub fn new(
        dev: Arc<dyn IgbDevice>,
        queue: u16,
        vector: u16,
        rx: &RxConfig,
        tx: &TxConfig,
        itr: Itr,
    ) -> io::Result<QueueVector> {
        Self::with_counters(dev, queue, vector, rx, tx, itr, Arc::default())
    }

    pub(crate) fn with_counters(
        dev: Arc<dyn IgbDevice>,
        queue: u16,
        vector: u16,
        rx: &RxConfig,
        tx: &TxConfig,
        itr: Itr,
        counters: Arc<QueueCounters>,
    ) -> io::Result<QueueVector> {
        if vector as u32 > ivar::VECTOR_MASK {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("MSI-X vector {vector} out of range"),
            ));
        }
        let txq = TxQueue::with_counters(Arc::clone(&dev), queue, tx, Arc::clone(&counters))?;
        let rxq = RxQueue::with_counters(Arc::clone(&dev), queue, rx, Arc::clone(&counters))?;
        let qv = QueueVector {
            dev,
            vector,
            rx: rxq,
            tx: txq,
            counters,
        };
        qv.disable_irq();
        qv.route(queue);
        qv.set_itr(itr);
        Ok(qv)
    }

    /// Programs MSI-X mode and points the queue pair's IVAR bytes, auto
    /// clear and auto mask at this vector.
    fn route(&self, queue: u16) {
        let dev = &*self.dev;
        let mode = gpie::MSIX_MODE | gpie::EIAME | gpie::PBA | gpie::NSICR;
        dev.write_reg(regs::GPIE, dev.read_reg(regs::GPIE) | mode);
        let reg = regs::ivar(ivar::index(queue));
        let entry = ivar::entry(self.vector);
        let (rx, tx) = (ivar::rx_shift(queue), ivar::tx_shift(queue));
        let mut v = dev.read_reg(reg);
        v &= !(0xFF << rx | 0xFF << tx);
        v |= entry << rx | entry << tx;
        dev.write_reg(reg, v);
        let bit = self.mask();
        dev.write_reg(regs::EIAC, dev.read_reg(regs::EIAC) | bit);
        dev.write_reg(regs::EIAM, dev.read_reg(regs::EIAM) | bit);
    }

    /// This vector's bit in the `EI*` registers.
    fn mask(&self) -> u32 {
        1 << self.vector
    }

    /// MSI-X vector number.
    pub fn vector(&self) -> u16 {
        self.vector
    }

    /// Queue pair index.
    pub fn queue(&self) -> u16 {
        self.rx.queue()
    }

    /// The RX queue.
    pub fn rx(&mut self) -> &mut RxQueue {
        &mut self.rx
    }

    /// The TX queue.
    pub fn tx(&mut self) -> &mut TxQueue {
        &mut self.tx
    }

    /// Software counters of this queue pair.
    pub fn counters(&self) -> &Arc<QueueCounters> {
        &self.counters
    }

    /// Registers the waker run when the vector fires (linux: the MSI-X
    /// handler's `napi_schedule`); `None` unregisters it.
    pub fn set_waker(&self, waker: Option<Waker>) {
        self.dev.set_msix_waker(self.vector, waker);
    }

    /// Sets the vector's interrupt throttling.
    pub fn set_itr(&self, itr: Itr) {
        self.dev
            .write_reg(regs::eitr(self.vector), itr.register_value());
    }

    /// Unmasks the vector (`EIMS`). Called by the runtime when a poll
    /// completed under budget.
    pub fn enable_irq(&self) {
        QueueCounters::add(&self.counters.irq_enables, 1);
        self.dev.write_reg(regs::EIMS, self.mask());
    }

    /// Masks the vector (`EIMC`).
    pub fn disable_irq(&self) {
        self.dev.write_reg(regs::EIMC, self.mask());
    }

    /// Raises the vector's cause by software (`EICS`), e.g. to kick a poll.
    pub fn trigger_irq(&self) {
        self.dev.write_reg(regs::EICS, self.mask());
    }

    /// One NAPI poll (linux: igb_poll): reclaims TX completions, then
    /// receives up to `budget` frames into `f`. Returns the work done; a
    /// value below `budget` means the vector is idle and the caller should
    /// call [`Self::enable_irq`]. When TX reclaim hit its own limit the full
    /// `budget` is returned so that the poll is repeated.
    pub fn poll(&mut self, budget: usize, f: impl FnMut(RxFrame<'_>)) -> usize {
        QueueCounters::add(&self.counters.polls, 1);
        let tx_complete = self.tx.clean(TX_CLEAN_LIMIT) < TX_CLEAN_LIMIT;
        let rx_done = self.rx.rx_burst(budget, f);
        if !tx_complete {
            return budget;
        }
        rx_done.min(budget)
    }

    /// Transmits frames on this vector's TX queue; see [`TxQueue::tx_burst`].
    pub fn tx_burst<F: TxFrame>(&mut self, frames: &[F]) -> usize {
        self.tx.tx_burst(frames)
    }
}

impl Drop for QueueVector {
    fn drop(&mut self) {
        self.disable_irq();
        self.set_waker(None);
    }
}
