//! Plain register storage: every 32-bit register of BAR0 below 64 KiB as an
//! atomic, so reads and writes from the driver and the device's data path
//! need no lock.
//!
//! Registers with side effects (interrupt causes, statistics, tails) are
//! handled by the model before or instead of touching this file; the rest
//! read back what was written. Storage is in 64-byte lines so that each
//! queue's register block (0x40 bytes) owns one cache line.

use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes of BAR0 backed by storage; higher offsets read as 0.
pub(crate) const SPACE: u32 = 0x1_0000;

#[repr(align(64))]
struct Line([AtomicU32; 16]);

pub(crate) struct RegFile {
    lines: Box<[Line]>,
}

impl RegFile {
    pub fn new() -> Self {
        let lines = (0..SPACE / 64)
            .map(|_| Line(std::array::from_fn(|_| AtomicU32::new(0))))
            .collect();
        RegFile { lines }
    }

    #[inline]
    fn cell(&self, offset: u32) -> Option<&AtomicU32> {
        if offset >= SPACE || !offset.is_multiple_of(4) {
            return None;
        }
        let line = self.lines.get((offset / 64) as usize)?;
        line.0.get(((offset / 4) % 16) as usize)
    }

    /// Loads a register (relaxed: configuration read on the data path).
    #[inline]
    pub fn load(&self, offset: u32) -> u32 {
        self.cell(offset).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Loads a tail register: acquire, pairing with the driver's release
    /// fence before its tail write, so the descriptors below are visible.
    #[inline]
    pub fn load_acquire(&self, offset: u32) -> u32 {
        self.cell(offset).map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// Stores a register (release: tails and heads publish ring state).
    #[inline]
    pub fn store(&self, offset: u32, value: u32) {
        if let Some(c) = self.cell(offset) {
            c.store(value, Ordering::Release);
        }
    }

    /// Sets every register to zero, then applies `defaults`.
    pub fn reset(&self, defaults: &[(u32, u32)]) {
        for line in self.lines.iter() {
            for c in &line.0 {
                c.store(0, Ordering::Relaxed);
            }
        }
        for &(offset, value) in defaults {
            self.store(offset, value);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn storage_and_bounds() {
        let r = RegFile::new();
        r.store(0xC018, 7);
        r.store(0xFFFC, 9);
        assert_eq!(
            (r.load(0xC018), r.load_acquire(0xC018), r.load(0xFFFC)),
            (7, 7, 9)
        );
        // Out of range or misaligned: ignored, reads 0.
        r.store(SPACE, 1);
        r.store(0xC019, 1);
        assert_eq!((r.load(SPACE), r.load(0xC019), r.load(u32::MAX)), (0, 0, 0));
        r.reset(&[(0x5000, 0x300)]);
        assert_eq!((r.load(0xC018), r.load(0x5000)), (0, 0x300));
    }
}
