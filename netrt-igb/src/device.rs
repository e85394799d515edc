//! The device interface the queue driver talks to.
//!
//! Implemented by the emulated igb (`model::IgbModel`) and, later, by a
//! VFIO-mapped card. The driver assumes nothing beyond this trait and the
//! register semantics of the datasheet.

use std::sync::Arc;
use std::task::Waker;

use crate::dma::DmaRegion;

/// An igb-class device: a register file, DMA memory, and MSI-X vectors.
///
/// # Contract for implementors
///
/// * **Registers** behave as documented in [`crate::regs`] (offsets and
///   fields of IGB.md / the datasheet), including clear-on-read statistics
///   and write-1-to-set/clear interrupt registers.
/// * **Tail writes publish descriptors.** The driver issues a release fence
///   before writing `RDT`/`TDT`; the device must read tail values with
///   acquire ordering (or under the same lock that `write_reg` takes) before
///   fetching the descriptors below them.
/// * **Descriptor hand-off** goes through [`crate::handoff`]: the device
///   fetches with [`crate::handoff::fetch`] / [`crate::handoff::fetch_words`]
///   and completes with [`crate::handoff::publish`] (RX write-back: body
///   first, status dword with DD last) and [`crate::handoff::tx_write_back`]
///   (TX: DD on every descriptor whose command has RS; the driver only
///   looks at the last descriptor of each frame).
/// * **RX metadata** (RSS, packet type, checksum bits, EOP) is written on a
///   frame's last descriptor; every descriptor of the frame gets DD and its
///   own buffer length. A frame is spread over as many descriptors as
///   `SRRCTL.BSIZEPKT` requires. Frames with no descriptor available are
///   counted in `RNBC` (and `MPC` when dropped).
/// * **MSI-X**: when a cause routed to vector `v` through `IVAR` is raised,
///   the device sets the cause bit in `EICR`; if `v` is unmasked in `EIMS`
///   (and `EITR(v)` allows it) it "sends the message": wakes the waker
///   registered with [`IgbDevice::set_msix_waker`], then applies `EIAC`
///   (auto-clear `EICR` bits) and, with `GPIE.EIAME`, `EIAM` (auto-mask:
///   clear the `EIMS` bits). A cause raised while masked fires when the
///   driver unmasks it with an `EIMS` write.
pub trait IgbDevice: Send + Sync {
    /// Reads the 32-bit register at byte offset `offset`.
    fn read_reg(&self, offset: u32) -> u32;

    /// Writes the 32-bit register at byte offset `offset`.
    fn write_reg(&self, offset: u32, value: u32);

    /// The DMA memory the device can reach; rings and buffers live here.
    fn dma(&self) -> &Arc<DmaRegion>;

    /// Registers (or, with `None`, removes) the waker run when MSI-X vector
    /// `vector` fires.
    fn set_msix_waker(&self, vector: u16, waker: Option<Waker>);

    /// Number of RX/TX queue pairs (and queue vectors) the device has.
    fn num_queues(&self) -> u16;
}

impl<D: IgbDevice + ?Sized> IgbDevice for Arc<D> {
    fn read_reg(&self, offset: u32) -> u32 {
        (**self).read_reg(offset)
    }
    fn write_reg(&self, offset: u32, value: u32) {
        (**self).write_reg(offset, value)
    }
    fn dma(&self) -> &Arc<DmaRegion> {
        (**self).dma()
    }
    fn set_msix_waker(&self, vector: u16, waker: Option<Waker>) {
        (**self).set_msix_waker(vector, waker)
    }
    fn num_queues(&self) -> u16 {
        (**self).num_queues()
    }
}
