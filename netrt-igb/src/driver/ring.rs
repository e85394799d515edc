//! Descriptor ring memory and the register writes shared by RX and TX.

use std::io;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use crate::desc::DESC_SIZE;
use crate::device::IgbDevice;
use crate::dma::{DmaChunk, DmaRegion, Iova};
use crate::handoff;

/// Smallest ring: `RDLEN`/`TDLEN` must be a non-zero multiple of 128 bytes.
pub const MIN_RING_SIZE: u32 = 8;
/// Largest ring (linux: IGB_MAX_RXD / IGB_MAX_TXD).
pub const MAX_RING_SIZE: u32 = 4096;
/// Default ring size (linux: IGB_DEFAULT_RXD / IGB_DEFAULT_TXD).
pub const DEFAULT_RING_SIZE: u32 = 256;

/// Checks a descriptor count: a multiple of 8 (so the ring length is a
/// multiple of 128 bytes) between [`MIN_RING_SIZE`] and [`MAX_RING_SIZE`].
pub fn validate_ring_size(n: u32) -> io::Result<()> {
    if !(MIN_RING_SIZE..=MAX_RING_SIZE).contains(&n) || !n.is_multiple_of(8) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "ring size {n} must be a multiple of 8 between {MIN_RING_SIZE} and {MAX_RING_SIZE}"
            ),
        ));
    }
    Ok(())
}

/// One descriptor ring in DMA memory.
#[derive(Debug)]
pub(crate) struct Ring {
    chunk: DmaChunk,
    size: u32,
}

impl Ring {
    /// The common start of RX and TX queue setup: checks that `queue`
    /// exists on `dev` and carves its ring of `size` descriptors from the
    /// device's DMA region. `what` ("RX"/"TX") names the queue in errors.
    pub(crate) fn for_queue(
        dev: &dyn IgbDevice,
        queue: u16,
        size: u32,
        what: &str,
    ) -> io::Result<(Arc<DmaRegion>, Ring)> {
        if queue >= dev.num_queues() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} queue {queue} out of range"),
            ));
        }
        let region = Arc::clone(dev.dma());
        let ring = Ring::new(&region, size)?;
        Ok((region, ring))
    }

    /// Allocates a zeroed ring of `size` descriptors (validated).
    pub(crate) fn new(region: &Arc<DmaRegion>, size: u32) -> io::Result<Ring> {
        validate_ring_size(size)?;
        let chunk = region.alloc(size as usize * DESC_SIZE, 128)?;
        Ok(Ring { chunk, size })
    }

    /// Number of descriptors.
    #[inline]
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// IOVA of descriptor `i`.
    #[inline]
    pub(crate) fn slot(&self, i: u32) -> Iova {
        handoff::slot(self.chunk.iova(), i)
    }

    /// The index after `i`, wrapping.
    #[inline]
    pub(crate) fn next(&self, i: u32) -> u32 {
        if i + 1 == self.size {
            0
        } else {
            i + 1
        }
    }

    /// Descriptors from `from` up to (not including) `to`, on the ring.
    #[inline]
    pub(crate) fn distance(&self, from: u32, to: u32) -> u32 {
        if to >= from {
            to - from
        } else {
            to + self.size - from
        }
    }

    /// Programs base, length, head and tail of a queue whose register block
    /// is at `block` (the base/length/head/tail offsets are the same for
    /// RX and TX: +0, +4, +8, +0x10, +0x18).
    pub(crate) fn program(&self, dev: &dyn IgbDevice, block: u32) {
        use crate::regs::rxq;
        let base = self.chunk.iova();
        dev.write_reg(block + rxq::RDBAL, base.lo());
        dev.write_reg(block + rxq::RDBAH, base.hi());
        dev.write_reg(block + rxq::RDLEN, self.size * DESC_SIZE as u32);
        dev.write_reg(block + rxq::RDH, 0);
        dev.write_reg(block + rxq::RDT, 0);
    }
}

/// Writes a tail register, publishing every descriptor written before it
/// (linux: `wmb(); writel(i, ring->tail)`). The release fence pairs with
/// the device's acquire read of the tail.
#[inline]
pub(crate) fn write_tail(dev: &dyn IgbDevice, reg: u32, value: u32) {
    fence(Ordering::Release);
    dev.write_reg(reg, value);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes() {
        for ok in [8, 16, 80, 256, 1000, 4096] {
            validate_ring_size(ok).unwrap();
        }
        for bad in [0, 4, 7, 9, 100, 4097, 4104, u32::MAX] {
            assert_eq!(
                validate_ring_size(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
    }

    #[test]
    fn ring_index_math() {
        let region = DmaRegion::new(1 << 16).unwrap();
        let r = Ring::new(&region, 8).unwrap();
        assert_eq!(r.slot(1).0 - r.slot(0).0, 16);
        assert_eq!(r.slot(0).0 % 128, 0);
        assert_eq!(r.next(7), 0);
        assert_eq!(r.distance(6, 2), 4);
        assert_eq!(r.distance(2, 6), 4);
        assert_eq!(r.distance(3, 3), 0);
    }
}
