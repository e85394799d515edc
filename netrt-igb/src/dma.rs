//! DMA memory: one mapped region addressed by I/O virtual address (IOVA).
//!
//! The driver carves descriptor rings and packet buffers out of a
//! [`DmaRegion`]; the device (the emulated igb today, an IOMMU-mapped card
//! later) reaches the same bytes through IOVAs only. Every device access is
//! bounds-checked like an IOMMU would: an address outside the region, or a
//! range that overflows, is a counted [`DmaFault`], never a wild access.
//!
//! # Concurrency protocol
//!
//! Driver and device run on different threads and touch the same bytes.
//! The region never hands out references across that boundary; all access
//! is by copy through raw pointers, and ownership of each byte range moves
//! between the two sides only through the descriptor hand-off
//! (see [`crate::handoff`]):
//!
//! * a descriptor's body is written first, then its *status dword* is
//!   published with [`DmaRegion::store_u32_release`]; the other side reads
//!   the status dword with [`DmaRegion::load_u32_acquire`] before anything
//!   else, so the body (and the packet bytes the descriptor points at) are
//!   complete when it looks at them;
//! * tail register writes are preceded by a release fence in the driver and
//!   read with acquire ordering (or under a lock) by the device.
//!
//! A side that breaks the protocol (a buggy device writing a buffer it does
//! not own) reads or writes stale bytes, like real DMA would; the region
//! itself stays memory-safe in the sense that no access leaves the mapping.

use std::fmt;
use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// An I/O virtual address: how the device names a byte of DMA memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Iova(pub u64);

impl Iova {
    /// The address `offset` bytes further on (wrapping is caught later by
    /// the bounds check of whatever access uses it).
    #[inline]
    pub const fn add(self, offset: u64) -> Iova {
        Iova(self.0.wrapping_add(offset))
    }

    /// Low 32 bits, as written to `RDBAL`/`TDBAL`.
    #[inline]
    pub const fn lo(self) -> u32 {
        self.0 as u32
    }

    /// High 32 bits, as written to `RDBAH`/`TDBAH`.
    #[inline]
    pub const fn hi(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Joins the two halves read from a base-address register pair.
    #[inline]
    pub const fn from_parts(lo: u32, hi: u32) -> Iova {
        Iova((hi as u64) << 32 | lo as u64)
    }
}

impl fmt::Display for Iova {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A DMA access that fell (partly) outside the region or was misaligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaFault {
    /// First address of the rejected access.
    pub iova: Iova,
    /// Length of the rejected access in bytes.
    pub len: usize,
}

impl fmt::Display for DmaFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DMA fault: {} bytes at IOVA {}", self.len, self.iova)
    }
}

impl std::error::Error for DmaFault {}

impl From<DmaFault> for io::Error {
    fn from(fault: DmaFault) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, fault)
    }
}

/// Byte-level access to DMA memory, as the device sees it.
///
/// [`DmaRegion`] is the real implementation. The trait exists so the
/// descriptor hand-off protocol in [`crate::handoff`] is written once and
/// can be model-checked by loom against a memory made of loom cells.
pub trait DmaMemory {
    /// Copies `buf.len()` bytes at `at` into `buf`.
    fn read(&self, at: Iova, buf: &mut [u8]) -> Result<(), DmaFault>;
    /// Copies `data` to `at`.
    fn write(&self, at: Iova, data: &[u8]) -> Result<(), DmaFault>;
    /// Atomically loads the aligned little-endian dword at `at` (acquire).
    fn load_u32_acquire(&self, at: Iova) -> Result<u32, DmaFault>;
    /// Atomically stores the aligned little-endian dword at `at` (release).
    fn store_u32_release(&self, at: Iova, value: u32) -> Result<(), DmaFault>;
}

/// Page size used when huge pages are unavailable.
const SMALL_PAGE: usize = 4096;
/// Huge page size tried first.
const HUGE_PAGE: usize = 2 << 20;
/// Smallest alignment handed out by the allocator (a cache line pair; also
/// the `RDBAL` alignment requirement).
pub const MIN_ALIGN: u64 = 128;

/// One mmap'd DMA region.
///
/// Shared between driver and device through `Arc`; unmapped on drop.
pub struct DmaRegion {
    ptr: NonNull<u8>,
    len: usize,
    map_len: usize,
    base: Iova,
    huge: bool,
    faults: AtomicU64,
    free: Mutex<FreeList>,
}

// SAFETY: the region owns its mapping (no other alias exists outside
// `self`), and every access to the mapped bytes goes through raw-pointer
// copies or atomics whose cross-thread ordering is the hand-off protocol
// described in the module docs. The allocator state is behind a mutex and
// the fault counter is atomic.
unsafe impl Send for DmaRegion {}
// SAFETY: see `Send`; `&DmaRegion` only exposes bounds-checked copies,
// atomics and the mutex-protected allocator.
unsafe impl Sync for DmaRegion {}

impl fmt::Debug for DmaRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaRegion")
            .field("base", &self.base)
            .field("len", &self.len)
            .field("huge_pages", &self.huge)
            .field("faults", &self.fault_count())
            .finish()
    }
}

impl DmaRegion {
    /// Default IOVA of the first byte: far from 0 so that a zeroed
    /// descriptor never points at valid memory.
    pub const DEFAULT_BASE: Iova = Iova(0x1_0000_0000);

    /// Maps a region of at least `len` bytes at [`Self::DEFAULT_BASE`].
    pub fn new(len: usize) -> io::Result<Arc<DmaRegion>> {
        Self::with_base(len, Self::DEFAULT_BASE)
    }

    /// Maps a region of at least `len` bytes whose first byte has IOVA
    /// `base` (page aligned, non-zero). 2 MiB huge pages are tried first;
    /// the region falls back to normal pages when none are available.
    pub fn with_base(len: usize, base: Iova) -> io::Result<Arc<DmaRegion>> {
        if len == 0 || base.0 == 0 || !base.0.is_multiple_of(SMALL_PAGE as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "DMA region needs a non-zero length and a non-zero page-aligned base IOVA",
            ));
        }
        let small_len = round_up(len, SMALL_PAGE)?;
        if base.0.checked_add(small_len as u64).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "DMA region would overflow the IOVA space",
            ));
        }
        let (ptr, map_len, huge) = match map(round_up(len, HUGE_PAGE)?, true) {
            Ok((ptr, map_len)) => (ptr, map_len, true),
            Err(_) => {
                let (ptr, map_len) = map(small_len, false)?;
                (ptr, map_len, false)
            }
        };
        Ok(Arc::new(DmaRegion {
            ptr,
            len: small_len,
            map_len,
            base,
            huge,
            faults: AtomicU64::new(0),
            free: Mutex::new(FreeList::new(small_len as u64)),
        }))
    }

    /// IOVA of the first byte.
    pub fn base(&self) -> Iova {
        self.base
    }

    /// Usable length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a region has at least one page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the mapping is backed by 2 MiB huge pages.
    pub fn huge_pages(&self) -> bool {
        self.huge
    }

    /// Number of rejected accesses so far.
    pub fn fault_count(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }

    /// Whether `[at, at + len)` lies inside the region.
    pub fn contains(&self, at: Iova, len: usize) -> bool {
        self.offset_of(at, len).is_some()
    }

    /// Byte offset of `[at, at + len)` inside the mapping, or `None` when
    /// the range leaves the region or overflows.
    #[inline]
    fn offset_of(&self, at: Iova, len: usize) -> Option<usize> {
        let off = at.0.checked_sub(self.base.0)?;
        let end = off.checked_add(len as u64)?;
        if end > self.len as u64 {
            return None;
        }
        Some(off as usize)
    }

    /// Offset of a checked access, counting a fault on failure.
    #[inline]
    fn check(&self, at: Iova, len: usize, align: usize) -> Result<usize, DmaFault> {
        match self.offset_of(at, len) {
            Some(off) if off % align == 0 => Ok(off),
            _ => {
                self.faults.fetch_add(1, Ordering::Relaxed);
                Err(DmaFault { iova: at, len })
            }
        }
    }

    /// Copies `buf.len()` bytes at `at` into `buf`.
    #[inline]
    pub fn read(&self, at: Iova, buf: &mut [u8]) -> Result<(), DmaFault> {
        let off = self.check(at, buf.len(), 1)?;
        // SAFETY: `check` proved `off + buf.len() <= self.len`, and the
        // mapping is valid for `self.len` bytes for as long as `self`
        // lives. `buf` is a distinct Rust allocation (the region never lends
        // out references), so the ranges do not overlap. Concurrent writers
        // to the same bytes are excluded by the hand-off protocol.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(off), buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Copies `data` to `at`.
    #[inline]
    pub fn write(&self, at: Iova, data: &[u8]) -> Result<(), DmaFault> {
        let off = self.check(at, data.len(), 1)?;
        // SAFETY: as in `read`: in bounds, non-overlapping with `data`, and
        // the protocol gives this side ownership of the bytes.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(off), data.len()) };
        Ok(())
    }

    /// Writes `len` zero bytes at `at`.
    pub fn zero(&self, at: Iova, len: usize) -> Result<(), DmaFault> {
        let off = self.check(at, len, 1)?;
        // SAFETY: in bounds (checked above); the caller owns the bytes.
        unsafe { ptr::write_bytes(self.ptr.as_ptr().add(off), 0, len) };
        Ok(())
    }

    /// The dword at `at` as an atomic, if `at` is in bounds and aligned.
    #[inline]
    fn atomic_u32(&self, at: Iova) -> Result<&AtomicU32, DmaFault> {
        let off = self.check(at, 4, 4)?;
        // SAFETY: the 4 bytes are in bounds and 4-byte aligned (the mapping
        // is page aligned and `off % 4 == 0`); they stay mapped for the
        // lifetime of `&self`. Status dwords are accessed atomically by both
        // sides while shared; plain copies of them happen only while the
        // hand-off protocol gives one side exclusive ownership.
        Ok(unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(off).cast::<u32>()) })
    }

    /// Atomically loads the little-endian dword at `at` with acquire
    /// ordering: everything the other side wrote before publishing it with
    /// [`Self::store_u32_release`] is visible afterwards.
    #[inline]
    pub fn load_u32_acquire(&self, at: Iova) -> Result<u32, DmaFault> {
        Ok(u32::from_le(self.atomic_u32(at)?.load(Ordering::Acquire)))
    }

    /// Atomically stores `value` as a little-endian dword at `at` with
    /// release ordering, publishing every earlier write of this thread.
    #[inline]
    pub fn store_u32_release(&self, at: Iova, value: u32) -> Result<(), DmaFault> {
        self.atomic_u32(at)?.store(value.to_le(), Ordering::Release);
        Ok(())
    }

    /// Borrows `len` bytes at `at` (driver side).
    ///
    /// # Safety
    ///
    /// The caller must own the range under the hand-off protocol for the
    /// whole lifetime of the returned slice: the device must not write it
    /// (e.g. an RX buffer whose descriptor was seen done and has not been
    /// re-posted).
    #[inline]
    pub(crate) unsafe fn bytes(&self, at: Iova, len: usize) -> Result<&[u8], DmaFault> {
        let off = self.check(at, len, 1)?;
        // SAFETY: in bounds; the mapping outlives `&self`; no concurrent
        // writer by the caller's contract.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) })
    }

    /// Allocates `len` zeroed bytes aligned to `align` (a power of two; at
    /// least [`MIN_ALIGN`] is used). The chunk returns to the region's free
    /// list when dropped. Setup-time only: this takes the allocator lock.
    pub fn alloc(self: &Arc<Self>, len: usize, align: usize) -> io::Result<DmaChunk> {
        if len == 0 || !align.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "DMA allocation needs a non-zero length and a power-of-two alignment",
            ));
        }
        let align = (align as u64).max(MIN_ALIGN);
        let len = round_up(len, MIN_ALIGN as usize)? as u64;
        let off =
            self.free.lock().alloc(len, align).ok_or_else(|| {
                io::Error::new(io::ErrorKind::OutOfMemory, "DMA region exhausted")
            })?;
        let chunk = DmaChunk {
            region: Arc::clone(self),
            iova: self.base.add(off),
            len: len as usize,
        };
        // Recycled memory may hold old descriptors: hand out zeroes so a
        // fresh ring never shows a stale DD bit.
        self.zero(chunk.iova, chunk.len).map_err(io::Error::from)?;
        Ok(chunk)
    }

    /// Bytes currently free for [`Self::alloc`].
    pub fn free_bytes(&self) -> usize {
        self.free.lock().free_bytes() as usize
    }
}

impl DmaMemory for DmaRegion {
    #[inline]
    fn read(&self, at: Iova, buf: &mut [u8]) -> Result<(), DmaFault> {
        DmaRegion::read(self, at, buf)
    }
    #[inline]
    fn write(&self, at: Iova, data: &[u8]) -> Result<(), DmaFault> {
        DmaRegion::write(self, at, data)
    }
    #[inline]
    fn load_u32_acquire(&self, at: Iova) -> Result<u32, DmaFault> {
        DmaRegion::load_u32_acquire(self, at)
    }
    #[inline]
    fn store_u32_release(&self, at: Iova, value: u32) -> Result<(), DmaFault> {
        DmaRegion::store_u32_release(self, at, value)
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`map_len` are exactly what `mmap` returned, and no
        // chunk or reference can outlive the region (chunks hold an `Arc`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.map_len) };
    }
}

fn round_up(len: usize, to: usize) -> io::Result<usize> {
    len.checked_next_multiple_of(to)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "DMA length overflows"))
}

/// Anonymous private mapping of `len` bytes, optionally on 2 MiB pages.
fn map(len: usize, huge: bool) -> io::Result<(NonNull<u8>, usize)> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if huge {
        // MAP_HUGE_2MB: log2(2 MiB) in the MAP_HUGE_SHIFT field.
        flags |= libc::MAP_HUGETLB | (21 << libc::MAP_HUGE_SHIFT);
    }
    // SAFETY: a fresh anonymous mapping at a kernel-chosen address cannot
    // alias any existing Rust object.
    let ptr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    match NonNull::new(ptr.cast::<u8>()) {
        Some(p) => Ok((p, len)),
        None => Err(io::Error::other("mmap returned a null mapping")),
    }
}

/// A block of DMA memory allocated from a [`DmaRegion`]; freed on drop.
#[derive(Debug)]
pub struct DmaChunk {
    region: Arc<DmaRegion>,
    iova: Iova,
    len: usize,
}

impl DmaChunk {
    /// IOVA of the first byte.
    pub fn iova(&self) -> Iova {
        self.iova
    }

    /// Length in bytes (rounded up to a multiple of [`MIN_ALIGN`]).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: chunks are never empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region this chunk belongs to.
    pub fn region(&self) -> &Arc<DmaRegion> {
        &self.region
    }
}

impl Drop for DmaChunk {
    fn drop(&mut self) {
        let off = self.iova.0 - self.region.base.0;
        self.region.free.lock().release(off, self.len as u64);
    }
}

/// First-fit free list of `(offset, len)` ranges, sorted and coalesced.
/// Used at queue setup only, so simplicity beats speed.
#[derive(Debug)]
struct FreeList {
    ranges: Vec<(u64, u64)>,
}

impl FreeList {
    fn new(len: u64) -> Self {
        FreeList {
            ranges: vec![(0, len)],
        }
    }

    fn free_bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.1).sum()
    }

    fn alloc(&mut self, len: u64, align: u64) -> Option<u64> {
        let (i, start) = self
            .ranges
            .iter()
            .enumerate()
            .find_map(|(i, &(off, rlen))| {
                let start = off.checked_next_multiple_of(align)?;
                (start.checked_add(len)? <= off + rlen).then_some((i, start))
            })?;
        let (off, rlen) = self.ranges[i];
        let end = off + rlen;
        // Split the range into the head gap (alignment) and the tail rest.
        let pieces = [(off, start - off), (start + len, end - start - len)];
        self.ranges
            .splice(i..=i, pieces.into_iter().filter(|p| p.1 > 0));
        Some(start)
    }

    fn release(&mut self, off: u64, len: u64) {
        let i = self.ranges.partition_point(|r| r.0 < off);
        self.ranges.insert(i, (off, len));
        // Coalesce with the successor, then with the predecessor.
        if i + 1 < self.ranges.len() && self.ranges[i].0 + self.ranges[i].1 == self.ranges[i + 1].0
        {
            self.ranges[i].1 += self.ranges[i + 1].1;
            self.ranges.remove(i + 1);
        }
        if i > 0 && self.ranges[i - 1].0 + self.ranges[i - 1].1 == self.ranges[i].0 {
            self.ranges[i - 1].1 += self.ranges[i].1;
            self.ranges.remove(i);
        }
    }
}

/// Index of a buffer inside a [`BufPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufId(pub u32);

/// Default packet buffer size (Linux igb: 2048 bytes, half a page).
pub const DEFAULT_BUF_SIZE: usize = 2048;

/// A pool of fixed-size packet buffers carved from one [`DmaChunk`].
///
/// Owned by one queue (`&mut self` access, no lock); buffers are named by
/// [`BufId`] and cycle between the free list, the ring, and the caller.
#[derive(Debug)]
pub struct BufPool {
    chunk: DmaChunk,
    buf_size: usize,
    count: u32,
    free: Vec<BufId>,
}

impl BufPool {
    /// Carves `count` buffers of `buf_size` bytes (a multiple of 128, at
    /// most 64 KiB) out of `region`.
    pub fn new(region: &Arc<DmaRegion>, count: usize, buf_size: usize) -> io::Result<BufPool> {
        if count == 0
            || count > u32::MAX as usize
            || buf_size == 0
            || !buf_size.is_multiple_of(MIN_ALIGN as usize)
            || buf_size > 65536
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer pool needs buffers of a multiple of 128 bytes up to 64 KiB",
            ));
        }
        let total = count
            .checked_mul(buf_size)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "buffer pool too large"))?;
        // Align buffers to their size (up to a page) so that a buffer never
        // straddles a page boundary it does not have to.
        let align = if buf_size.is_power_of_two() {
            buf_size.min(SMALL_PAGE)
        } else {
            MIN_ALIGN as usize
        };
        let chunk = region.alloc(total, align)?;
        // Pop order is ascending, which keeps rings readable in dumps.
        let free = (0..count as u32).rev().map(BufId).collect();
        Ok(BufPool {
            chunk,
            buf_size,
            count: count as u32,
            free,
        })
    }

    /// Size of each buffer in bytes.
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Total number of buffers.
    pub fn capacity(&self) -> usize {
        self.count as usize
    }

    /// Buffers currently on the free list.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Takes a free buffer.
    #[inline]
    pub fn alloc(&mut self) -> Option<BufId> {
        self.free.pop()
    }

    /// Returns a buffer to the free list.
    #[inline]
    pub fn free(&mut self, id: BufId) {
        debug_assert!(id.0 < self.count, "buffer id out of range");
        debug_assert!(
            self.free.len() < self.count as usize,
            "buffer pool over-freed"
        );
        self.free.push(id);
    }

    /// IOVA of buffer `id`.
    #[inline]
    pub fn iova(&self, id: BufId) -> Iova {
        self.chunk.iova.add(id.0 as u64 * self.buf_size as u64)
    }

    /// Maps an IOVA inside the pool back to its buffer, if it is the start
    /// of one.
    pub fn id_of(&self, iova: Iova) -> Option<BufId> {
        let off = iova.0.checked_sub(self.chunk.iova.0)?;
        let id = off / self.buf_size as u64;
        (off % self.buf_size as u64 == 0 && id < self.count as u64).then_some(BufId(id as u32))
    }

    /// The region the buffers live in.
    pub fn region(&self) -> &Arc<DmaRegion> {
        self.chunk.region()
    }

    /// Copies `data` into buffer `id` at `offset`.
    #[inline]
    pub fn write(&self, id: BufId, offset: usize, data: &[u8]) -> Result<(), DmaFault> {
        let at = self.iova(id).add(offset as u64);
        if offset + data.len() > self.buf_size {
            return Err(DmaFault {
                iova: at,
                len: data.len(),
            });
        }
        self.chunk.region.write(at, data)
    }

    /// Borrows the first `len` bytes of buffer `id`.
    ///
    /// # Safety
    ///
    /// The caller must own buffer `id` (not posted to the device) for the
    /// lifetime of the slice.
    #[inline]
    pub(crate) unsafe fn bytes(&self, id: BufId, len: usize) -> Result<&[u8], DmaFault> {
        let at = self.iova(id);
        if len > self.buf_size {
            return Err(DmaFault { iova: at, len });
        }
        // SAFETY: forwarded caller contract; the range is inside the buffer.
        unsafe { self.chunk.region.bytes(at, len) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn region_maps_and_reports_backing() {
        let r = DmaRegion::new(64 * 1024).unwrap();
        assert_eq!(r.base(), DmaRegion::DEFAULT_BASE);
        assert!(r.len() >= 64 * 1024);
        // Either backing is legal; what matters is that it is recorded and
        // that the region is usable.
        let _ = r.huge_pages();
        assert_eq!(r.fault_count(), 0);
    }

    #[test]
    fn dma_read_write_roundtrip_and_bounds() {
        let r = DmaRegion::new(8192).unwrap();
        let base = r.base();
        r.write(base.add(100), b"hello").unwrap();
        let mut out = [0u8; 5];
        r.read(base.add(100), &mut out).unwrap();
        assert_eq!(&out, b"hello");

        // Last byte is fine, one past is a fault.
        let end = base.add(r.len() as u64);
        r.write(end.add(u64::MAX), &[1]).unwrap();
        assert_eq!(r.write(end, &[1]), Err(DmaFault { iova: end, len: 1 }));
        // Below the base, zero IOVA, and an overflowing range.
        assert!(r.read(Iova(base.0 - 1), &mut out).is_err());
        assert!(r.read(Iova(0), &mut out).is_err());
        assert!(r.read(Iova(u64::MAX - 1), &mut out).is_err());
        assert!(r.write(base.add(r.len() as u64 - 2), b"abc").is_err());
        assert_eq!(r.fault_count(), 5);
    }

    #[test]
    fn dma_atomics_are_little_endian_and_aligned() {
        let r = DmaRegion::new(4096).unwrap();
        let at = r.base().add(8);
        r.store_u32_release(at, 0x1122_3344).unwrap();
        let mut b = [0u8; 4];
        r.read(at, &mut b).unwrap();
        assert_eq!(b, [0x44, 0x33, 0x22, 0x11]);
        r.write(at, &[1, 0, 0, 0x80]).unwrap();
        assert_eq!(r.load_u32_acquire(at).unwrap(), 0x8000_0001);
        assert!(r.load_u32_acquire(at.add(2)).is_err());
        assert!(r.store_u32_release(r.base().add(4096), 0).is_err());
        assert_eq!(r.fault_count(), 2);
    }

    #[test]
    fn dma_allocator_aligns_zeroes_and_recycles() {
        let r = DmaRegion::new(64 * 1024).unwrap();
        let total = r.free_bytes();
        let a = r.alloc(100, 128).unwrap();
        assert_eq!(a.iova().0 % 128, 0);
        assert_eq!(a.len(), 128);
        let b = r.alloc(4096, 4096).unwrap();
        assert_eq!(b.iova().0 % 4096, 0);
        r.write(b.iova(), &[0xAB; 64]).unwrap();
        let b_iova = b.iova();
        drop(b);
        let c = r.alloc(4096, 4096).unwrap();
        assert_eq!(c.iova(), b_iova, "first fit reuses the freed block");
        let mut buf = [0xFFu8; 64];
        r.read(c.iova(), &mut buf).unwrap();
        assert_eq!(buf, [0; 64], "recycled memory is zeroed");
        drop((a, c));
        assert_eq!(r.free_bytes(), total, "everything coalesces back");
        assert_eq!(
            r.alloc(total + 1, 128).unwrap_err().kind(),
            io::ErrorKind::OutOfMemory
        );
        assert_eq!(
            r.alloc(0, 128).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            r.alloc(1, 3).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn free_list_coalesces_in_any_order() {
        let mut f = FreeList::new(1024);
        let a = f.alloc(128, 128).unwrap();
        let b = f.alloc(128, 128).unwrap();
        let c = f.alloc(128, 128).unwrap();
        assert_eq!((a, b, c), (0, 128, 256));
        f.release(b, 128);
        f.release(a, 128);
        f.release(c, 128);
        assert_eq!(f.ranges, vec![(0, 1024)]);
        // Alignment gap stays free.
        let d = f.alloc(128, 512).unwrap();
        assert_eq!(d, 0);
        let e = f.alloc(128, 512).unwrap();
        assert_eq!(e, 512);
        assert_eq!(f.ranges, vec![(128, 384), (640, 384)]);
    }

    #[test]
    fn buf_pool_cycles_buffers() {
        let r = DmaRegion::new(1 << 20).unwrap();
        let mut p = BufPool::new(&r, 4, DEFAULT_BUF_SIZE).unwrap();
        assert_eq!(p.capacity(), 4);
        let ids: Vec<_> = std::iter::from_fn(|| p.alloc()).collect();
        assert_eq!(ids, vec![BufId(0), BufId(1), BufId(2), BufId(3)]);
        assert_eq!(p.alloc(), None);
        assert_eq!(p.iova(BufId(1)).0 - p.iova(BufId(0)).0, 2048);
        assert_eq!(p.id_of(p.iova(BufId(3))), Some(BufId(3)));
        assert_eq!(p.id_of(p.iova(BufId(3)).add(1)), None);
        assert_eq!(p.id_of(p.iova(BufId(3)).add(2048)), None);
        p.write(BufId(2), 2040, &[7; 8]).unwrap();
        assert!(p.write(BufId(2), 2041, &[7; 8]).is_err());
        // SAFETY: buffer 2 was never posted to any device.
        let s = unsafe { p.bytes(BufId(2), 2048) }.unwrap();
        assert_eq!(&s[2040..], &[7; 8]);
        p.free(BufId(2));
        assert_eq!(p.available(), 1);
        assert_eq!(p.alloc(), Some(BufId(2)));
        assert_eq!(
            BufPool::new(&r, 4, 100).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn iova_halves() {
        let i = Iova(0x1_2345_6780);
        assert_eq!((i.lo(), i.hi()), (0x2345_6780, 1));
        assert_eq!(Iova::from_parts(i.lo(), i.hi()), i);
    }
}
