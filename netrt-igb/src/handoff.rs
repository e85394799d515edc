//! The descriptor hand-off protocol, written once for both sides.
//!
//! A descriptor slot is owned by exactly one side at a time. Ownership
//! moves with one dword per descriptor, the *status dword*
//! ([`Descriptor::STATUS_DWORD`]: dword 2 for RX, where `hdr_addr`'s low
//! half overlaps `status_error`; dword 3 for TX, `olinfo_status`):
//!
//! * the writer copies every other dword first, then stores the status
//!   dword with release ordering ([`publish`]);
//! * the reader loads the status dword with acquire ordering *before*
//!   reading anything else ([`poll`], [`fetch`]), so the body and the packet
//!   bytes it points at are complete when seen.
//!
//! The status dword is only ever touched atomically and the other dwords
//! only by plain copies; that split is what lets the loom models in this
//! module run the very same functions over loom cells (raw mmap memory is
//! invisible to loom).
//!
//! Direction of each hand-off (linux: igb_alloc_rx_buffers / igb_clean_rx_irq,
//! igb_tx_map / igb_clean_tx_irq):
//!
//! | step | who | call |
//! |---|---|---|
//! | post RX buffer | driver | [`publish`] an [`RxDescRead`], then tail (release fence first) |
//! | take RX buffer | device | [`fetch`] an [`RxDescRead`] below the tail |
//! | complete RX | device | [`publish`] an [`RxDescWb`] with DD |
//! | reap RX | driver | [`poll`] for an [`RxDescWb`] with DD |
//! | post TX | driver | [`publish`] data/context descriptors, then tail |
//! | take TX | device | [`fetch_words`] + [`crate::desc::TxDesc::decode`] |
//! | complete TX | device | [`tx_write_back`] on descriptors with RS |
//! | reap TX | driver | [`tx_done`] on the frame's last descriptor |
//!
//! [`RxDescRead`]: crate::desc::RxDescRead
//! [`RxDescWb`]: crate::desc::RxDescWb

use crate::desc::{tx, Descriptor, DESC_SIZE};
use crate::dma::{DmaFault, DmaMemory, Iova};

/// IOVA of slot `index` in a ring starting at `base`.
#[inline]
pub const fn slot(base: Iova, index: u32) -> Iova {
    base.add(index as u64 * DESC_SIZE as u64)
}

/// Writes `desc` into the slot at `at`: body first, status dword last with
/// release ordering.
#[inline]
pub fn publish<D: Descriptor, M: DmaMemory + ?Sized>(
    mem: &M,
    at: Iova,
    desc: &D,
) -> Result<(), DmaFault> {
    let words = desc.to_words();
    let bytes = desc.to_bytes();
    let s = D::STATUS_DWORD * 4;
    if s > 0 {
        mem.write(at, &bytes[..s])?;
    }
    if s + 4 < DESC_SIZE {
        mem.write(at.add(s as u64 + 4), &bytes[s + 4..])?;
    }
    mem.store_u32_release(at.add(s as u64), words[D::STATUS_DWORD])
}

/// Reads the descriptor at `at`: status dword first with acquire ordering,
/// then the body. Returns the raw dwords, with the status at
/// `status_dword`.
#[inline]
pub fn fetch_words<M: DmaMemory + ?Sized>(
    mem: &M,
    at: Iova,
    status_dword: usize,
) -> Result<[u32; 4], DmaFault> {
    let status = mem.load_u32_acquire(at.add(status_dword as u64 * 4))?;
    read_body(mem, at, status_dword, status)
}

/// The dwords of the descriptor at `at` given its already-loaded status.
#[inline]
fn read_body<M: DmaMemory + ?Sized>(
    mem: &M,
    at: Iova,
    status_dword: usize,
    status: u32,
) -> Result<[u32; 4], DmaFault> {
    let mut bytes = [0u8; DESC_SIZE];
    let s = status_dword * 4;
    if s > 0 {
        mem.read(at, &mut bytes[..s])?;
    }
    if s + 4 < DESC_SIZE {
        mem.read(at.add(s as u64 + 4), &mut bytes[s + 4..])?;
    }
    let mut words = crate::desc::bytes_to_words(&bytes);
    words[status_dword] = status;
    Ok(words)
}

/// Reads the descriptor at `at` as `D` (status dword first, acquire).
#[inline]
pub fn fetch<D: Descriptor, M: DmaMemory + ?Sized>(mem: &M, at: Iova) -> Result<D, DmaFault> {
    fetch_words(mem, at, D::STATUS_DWORD).map(D::from_words)
}

/// Reads the descriptor at `at` if its status dword has any bit of `done`
/// set (normally DD); nothing else is read when it has not.
#[inline]
pub fn poll<D: Descriptor, M: DmaMemory + ?Sized>(
    mem: &M,
    at: Iova,
    done: u32,
) -> Result<Option<D>, DmaFault> {
    let status = mem.load_u32_acquire(at.add(D::STATUS_DWORD as u64 * 4))?;
    if status & done == 0 {
        return Ok(None);
    }
    read_body(mem, at, D::STATUS_DWORD, status).map(|w| Some(D::from_words(w)))
}

/// Device side: reports a TX descriptor done (writes DD into its status
/// dword with release ordering). The rest of the write-back format is
/// reserved, so only the status dword is written.
#[inline]
pub fn tx_write_back<M: DmaMemory + ?Sized>(mem: &M, at: Iova) -> Result<(), DmaFault> {
    mem.store_u32_release(at.add(12), tx::olinfo::DD)
}

/// Driver side: whether the device has written DD back to the TX
/// descriptor at `at` (acquire: the device is done with its buffers).
#[inline]
pub fn tx_done<M: DmaMemory + ?Sized>(mem: &M, at: Iova) -> Result<bool, DmaFault> {
    Ok(mem.load_u32_acquire(at.add(12))? & tx::olinfo::DD != 0)
}

/// A loom-visible stand-in for a ring of descriptors, used by the models
/// below: plain dwords are `UnsafeCell`s (loom flags any unsynchronized
/// access to them), status dwords are atomics.
#[cfg(all(test, loom))]
pub(crate) mod loom_mem {
    use crate::dma::{DmaFault, DmaMemory, Iova};
    use crate::loom::atomic::{AtomicU32, Ordering};
    use crate::loom::UnsafeCell;

    /// `words` dwords of fake DMA memory at IOVA `BASE`.
    pub(crate) struct LoomMem {
        plain: Vec<UnsafeCell<u32>>,
        status: Vec<AtomicU32>,
        status_dword: usize,
        desc_words: usize,
    }

    /// IOVA of the first dword.
    pub(crate) const BASE: u64 = 0x1000;

    impl LoomMem {
        /// Memory for `descs` descriptors whose status sits in
        /// `status_dword`, plus `extra` dwords of buffer memory after them.
        pub(crate) fn new(descs: usize, status_dword: usize, extra: usize) -> Self {
            let words = descs * 4 + extra;
            LoomMem {
                plain: (0..words).map(|_| UnsafeCell::new(0)).collect(),
                status: (0..words).map(|_| AtomicU32::new(0)).collect(),
                status_dword,
                desc_words: descs * 4,
            }
        }

        fn index(&self, at: Iova, len: usize) -> Result<std::ops::Range<usize>, DmaFault> {
            let off = at.0.checked_sub(BASE).ok_or(DmaFault { iova: at, len })? as usize;
            // The protocol only moves whole dwords.
            assert!(
                off % 4 == 0 && len % 4 == 0,
                "loom memory is dword granular"
            );
            let r = off / 4..(off + len) / 4;
            if r.end > self.plain.len() {
                return Err(DmaFault { iova: at, len });
            }
            Ok(r)
        }

        /// Whether dword `i` is a descriptor status dword.
        fn is_status(&self, i: usize) -> bool {
            i < self.desc_words && i % 4 == self.status_dword
        }
    }

    impl DmaMemory for LoomMem {
        fn read(&self, at: Iova, buf: &mut [u8]) -> Result<(), DmaFault> {
            for (k, i) in self.index(at, buf.len())?.enumerate() {
                assert!(!self.is_status(i), "plain read of a status dword");
                // SAFETY: loom tracks this access; a race with a writer is
                // reported as a model failure, which is what we test.
                let v = self.plain[i].with(|p| unsafe { *p });
                buf[k * 4..k * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            Ok(())
        }

        fn write(&self, at: Iova, data: &[u8]) -> Result<(), DmaFault> {
            for (k, i) in self.index(at, data.len())?.enumerate() {
                assert!(!self.is_status(i), "plain write of a status dword");
                let c = &data[k * 4..k * 4 + 4];
                let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                // SAFETY: as in `read`: loom checks exclusivity.
                self.plain[i].with_mut(|p| unsafe { *p = v });
            }
            Ok(())
        }

        fn load_u32_acquire(&self, at: Iova) -> Result<u32, DmaFault> {
            let r = self.index(at, 4)?;
            Ok(self.status[r.start].load(Ordering::Acquire))
        }

        fn store_u32_release(&self, at: Iova, value: u32) -> Result<(), DmaFault> {
            let r = self.index(at, 4)?;
            self.status[r.start].store(value, Ordering::Release);
            Ok(())
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::desc::{rx, RxDescRead, RxDescWb, TxDataDesc, TxDesc};
    use crate::dma::DmaRegion;

    #[test]
    fn rx_publish_poll_roundtrip() {
        let r = DmaRegion::new(4096).unwrap();
        let ring = r.base();
        let at = slot(ring, 3);
        assert_eq!(at.0 - ring.0, 48);
        publish(&*r, at, &RxDescRead::new(0x1_0000_0800)).unwrap();
        assert_eq!(poll::<RxDescWb, _>(&*r, at, rx::status::DD).unwrap(), None);
        let posted: RxDescRead = fetch(&*r, at).unwrap();
        assert_eq!(posted.pkt_addr, 0x1_0000_0800);

        let wb = RxDescWb {
            status_error: rx::status::DD | rx::status::EOP,
            length: 64,
            rss: 7,
            ..Default::default()
        };
        publish(&*r, at, &wb).unwrap();
        assert_eq!(
            poll::<RxDescWb, _>(&*r, at, rx::status::DD).unwrap(),
            Some(wb)
        );
        // Re-posting clears DD through the overlapping hdr_addr.
        publish(&*r, at, &RxDescRead::new(0x1_0000_0800)).unwrap();
        assert_eq!(poll::<RxDescWb, _>(&*r, at, rx::status::DD).unwrap(), None);
    }

    #[test]
    fn tx_publish_fetch_write_back() {
        let r = DmaRegion::new(4096).unwrap();
        let at = slot(r.base(), 1);
        let d = TxDataDesc::new(0x1_0000_0100, 60, tx::cmd::EOP | tx::cmd::RS, 60 << 14);
        publish(&*r, at, &d).unwrap();
        assert!(!tx_done(&*r, at).unwrap());
        assert_eq!(
            TxDesc::decode(fetch_words(&*r, at, 3).unwrap()),
            TxDesc::Data(d)
        );
        tx_write_back(&*r, at).unwrap();
        assert!(tx_done(&*r, at).unwrap());
    }

    #[test]
    fn faults_propagate() {
        let r = DmaRegion::new(4096).unwrap();
        let outside = r.base().add(4096);
        assert!(publish(&*r, outside, &RxDescRead::new(1)).is_err());
        assert!(poll::<RxDescWb, _>(&*r, outside, 1).is_err());
        assert!(tx_done(&*r, outside).is_err());
        assert!(r.fault_count() >= 3);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The hand-off runs over [`loom_mem::LoomMem`], whose plain dwords are
    //! loom `UnsafeCell`s: if the protocol let one side read a body (or a
    //! packet buffer) the other side had not finished writing, or overwrite
    //! one still being read, loom reports the race. The functions under test
    //! are the same `publish`/`poll`/`fetch` the driver and the model call;
    //! the tail register is a loom atomic written the way the driver writes
    //! it (release fence, then the store: `write_tail`) and read with acquire
    //! as the device contract requires. Each model runs two laps of one slot
    //! so that re-posting a reclaimed descriptor is checked too.
    use super::loom_mem::{LoomMem, BASE};
    use super::*;
    use crate::desc::{rx, RxDescRead, RxDescWb, TxDataDesc, TxDesc};
    use crate::loom::atomic::{fence, AtomicU32, Ordering};
    use crate::loom::{thread, Arc};

    /// Driver side of a tail write (`driver::ring::write_tail`).
    fn write_tail(tail: &AtomicU32, v: u32) {
        fence(Ordering::Release);
        tail.store(v, Ordering::Relaxed);
    }

    /// Device side: waits until the tail reaches `v` (acquire).
    fn wait_tail(tail: &AtomicU32, v: u32) {
        while tail.load(Ordering::Acquire) < v {
            thread::yield_now();
        }
    }

    fn spin_poll<D: Descriptor>(mem: &LoomMem, done: u32) -> D {
        loop {
            if let Some(d) = poll::<D, _>(mem, Iova(BASE), done).unwrap() {
                return d;
            }
            thread::yield_now();
        }
    }

    /// RX: post buffer → device fills buffer and writes back (DD last) →
    /// driver sees DD, reads metadata and packet → re-posts a new buffer →
    /// device must fetch the new address and fill it.
    #[test]
    fn rx_descriptor_handoff() {
        loom::model(|| {
            // One descriptor + two one-dword packet buffers behind it.
            let mem = Arc::new(LoomMem::new(1, RxDescWb::STATUS_DWORD, 2));
            let tail = Arc::new(AtomicU32::new(0));
            let bufs = [BASE + 16, BASE + 20];

            let device = {
                let (mem, tail) = (mem.clone(), tail.clone());
                thread::spawn(move || {
                    for lap in 0..2u32 {
                        wait_tail(&tail, lap + 1);
                        let d: RxDescRead = fetch(&*mem, Iova(BASE)).unwrap();
                        assert_eq!(d.pkt_addr, bufs[lap as usize], "stale descriptor");
                        mem.write(Iova(d.pkt_addr), &(0xF00D_0000 + lap).to_le_bytes())
                            .unwrap();
                        let wb = RxDescWb {
                            rss: 0x5151_0000 + lap,
                            status_error: rx::status::DD | rx::status::EOP,
                            length: 4,
                            ..Default::default()
                        };
                        publish(&*mem, Iova(BASE), &wb).unwrap();
                    }
                })
            };

            for lap in 0..2u32 {
                publish(&*mem, Iova(BASE), &RxDescRead::new(bufs[lap as usize])).unwrap();
                write_tail(&tail, lap + 1);
                let wb: RxDescWb = spin_poll(&mem, rx::status::DD);
                assert_eq!((wb.rss, wb.length), (0x5151_0000 + lap, 4));
                assert!(wb.eop());
                let mut pkt = [0u8; 4];
                mem.read(Iova(bufs[lap as usize]), &mut pkt).unwrap();
                assert_eq!(u32::from_le_bytes(pkt), 0xF00D_0000 + lap);
            }
            device.join().unwrap();
        });
    }

    /// TX: post a data descriptor → device fetches it and writes DD →
    /// driver reclaims on DD and re-posts the slot → device must fetch the
    /// second descriptor, never a mix of the two.
    #[test]
    fn tx_descriptor_handoff() {
        loom::model(|| {
            let mem = Arc::new(LoomMem::new(1, TxDataDesc::STATUS_DWORD, 0));
            let tail = Arc::new(AtomicU32::new(0));
            let descs = [
                TxDataDesc::new(0x1111, 60, tx::cmd::EOP | tx::cmd::RS, 60 << 14),
                TxDataDesc::new(0x2222, 61, tx::cmd::EOP | tx::cmd::RS, 61 << 14),
            ];

            let device = {
                let (mem, tail) = (mem.clone(), tail.clone());
                thread::spawn(move || {
                    for (lap, want) in descs.iter().enumerate() {
                        wait_tail(&tail, lap as u32 + 1);
                        let w = fetch_words(&*mem, Iova(BASE), 3).unwrap();
                        assert_eq!(TxDesc::decode(w), TxDesc::Data(*want));
                        tx_write_back(&*mem, Iova(BASE)).unwrap();
                    }
                })
            };

            for (lap, d) in descs.iter().enumerate() {
                publish(&*mem, Iova(BASE), d).unwrap();
                write_tail(&tail, lap as u32 + 1);
                while !tx_done(&*mem, Iova(BASE)).unwrap() {
                    thread::yield_now();
                }
            }
            device.join().unwrap();
        });
    }
}
