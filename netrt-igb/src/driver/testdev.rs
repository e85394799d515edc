//! A minimal loopback igb for the driver's unit tests: a register file whose
//! TX queue `q` feeds RX queue `q` synchronously on the `TDT` write, using
//! the same hand-off functions as the real model. No offloads, no stats
//! beyond `RNBC`; the emulated device in `crate::model` is the real thing.

use std::sync::Arc;
use std::task::Waker;

use parking_lot::Mutex;

use crate::desc::{rx, Descriptor, RxDescRead, RxDescWb, TxDataDesc, TxDesc};
use crate::device::IgbDevice;
use crate::dma::{DmaRegion, Iova};
use crate::handoff;
use crate::regs::{self, gpie, ivar, rxdctl, rxq, srrctl, txq};

struct State {
    regs: Vec<u32>,
    writes: Vec<(u32, u32)>,
    wakers: Vec<Option<Waker>>,
    /// Frames the device holds back instead of delivering (for ordering
    /// tests that want to play the device by hand).
    paused: bool,
}

/// The loopback device.
pub(crate) struct LoopDev {
    dma: Arc<DmaRegion>,
    queues: u16,
    state: Mutex<State>,
}

impl LoopDev {
    pub(crate) fn new(queues: u16) -> Arc<LoopDev> {
        Arc::new(LoopDev {
            dma: DmaRegion::new(32 << 20).unwrap(),
            queues,
            state: Mutex::new(State {
                regs: vec![0; 0x1_0000 / 4],
                writes: Vec::new(),
                wakers: vec![None; 32],
                paused: false,
            }),
        })
    }

    /// Every register write so far.
    pub(crate) fn writes(&self) -> Vec<(u32, u32)> {
        self.state.lock().writes.clone()
    }

    /// Stops (or resumes) TX processing on tail writes.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.state.lock().paused = paused;
    }

    pub(crate) fn reg(&self, off: u32) -> u32 {
        self.state.lock().regs[off as usize / 4]
    }

    /// RX ring base and size of queue `q`, from its registers.
    pub(crate) fn rx_ring(&self, q: u16) -> (Iova, u32) {
        let s = self.state.lock();
        ring_of(&s, regs::rx_queue_base(q))
    }

    /// Runs TX processing for queue `q` now (after a pause).
    pub(crate) fn kick(&self, q: u16) {
        let wake = {
            let mut s = self.state.lock();
            self.process_tx(&mut s, q)
        };
        if let Some(w) = wake {
            w.wake();
        }
    }

    fn process_tx(&self, s: &mut State, q: u16) -> Option<Waker> {
        let block = regs::tx_queue_base(q);
        let (base, size) = ring_of(s, block);
        if size == 0 {
            return None;
        }
        let mut head = s.regs[(block + txq::TDH) as usize / 4];
        let tail = s.regs[(block + txq::TDT) as usize / 4];
        let mut frame = Vec::new();
        let mut delivered = false;
        while head != tail {
            let at = handoff::slot(base, head);
            let w = handoff::fetch_words(&*self.dma, at, TxDataDesc::STATUS_DWORD).unwrap();
            if let TxDesc::Data(d) = TxDesc::decode(w) {
                let start = frame.len();
                frame.resize(start + d.len() as usize, 0);
                self.dma
                    .read(Iova(d.buffer_addr), &mut frame[start..])
                    .unwrap();
                if d.rs() {
                    handoff::tx_write_back(&*self.dma, at).unwrap();
                }
                if d.eop() {
                    delivered |= self.deliver(s, q, &frame);
                    frame.clear();
                }
            }
            head = (head + 1) % size;
        }
        s.regs[(block + txq::TDH) as usize / 4] = head;
        if delivered {
            self.raise(s, q)
        } else {
            None
        }
    }

    fn deliver(&self, s: &mut State, q: u16, frame: &[u8]) -> bool {
        let block = regs::rx_queue_base(q);
        let r = |off: u32| s.regs[(block + off) as usize / 4];
        if r(rxq::RXDCTL) & rxdctl::ENABLE == 0 {
            return false;
        }
        let (base, size) = ring_of(s, block);
        let bsize = srrctl::packet_buffer_bytes(r(rxq::SRRCTL)) as usize;
        let (mut head, tail) = (r(rxq::RDH), r(rxq::RDT));
        let need = frame.len().div_ceil(bsize);
        if (tail + size - head) % size < need as u32 {
            s.regs[regs::stats::RNBC as usize / 4] += 1;
            return false;
        }
        let chunks = frame.chunks(bsize);
        let n = chunks.len();
        for (i, chunk) in chunks.enumerate() {
            let at = handoff::slot(base, head);
            let d: RxDescRead = handoff::fetch(&*self.dma, at).unwrap();
            let _ = self.dma.write(Iova(d.pkt_addr), chunk);
            let mut st = rx::status::DD | rx::status::IXSM;
            if i + 1 == n {
                st |= rx::status::EOP;
            }
            let wb = RxDescWb {
                status_error: st,
                length: chunk.len() as u16,
                ..Default::default()
            };
            handoff::publish(&*self.dma, at, &wb).unwrap();
            head = (head + 1) % size;
        }
        s.regs[(block + rxq::RDH) as usize / 4] = head;
        true
    }

    /// Sets queue `q`'s RX cause; returns the waker to run if it fires.
    fn raise(&self, s: &mut State, q: u16) -> Option<Waker> {
        let iv = s.regs[regs::ivar(ivar::index(q)) as usize / 4] >> ivar::rx_shift(q);
        if iv & ivar::VALID == 0 {
            return None;
        }
        let bit = 1 << (iv & ivar::VECTOR_MASK);
        s.regs[regs::EICR as usize / 4] |= bit;
        self.fire(s, bit)
    }

    fn fire(&self, s: &mut State, bits: u32) -> Option<Waker> {
        let idx = |o: u32| o as usize / 4;
        let pending = s.regs[idx(regs::EICR)] & s.regs[idx(regs::EIMS)] & bits;
        if pending == 0 {
            return None;
        }
        let v = pending.trailing_zeros() as usize;
        s.regs[idx(regs::EICR)] &= !(s.regs[idx(regs::EIAC)] & pending);
        if s.regs[idx(regs::GPIE)] & gpie::EIAME != 0 {
            s.regs[idx(regs::EIMS)] &= !(s.regs[idx(regs::EIAM)] & pending);
        }
        s.wakers[v].clone()
    }
}

fn ring_of(s: &State, block: u32) -> (Iova, u32) {
    let r = |off: u32| s.regs[(block + off) as usize / 4];
    (
        Iova::from_parts(r(rxq::RDBAL), r(rxq::RDBAH)),
        r(rxq::RDLEN) / 16,
    )
}

impl IgbDevice for LoopDev {
    fn read_reg(&self, offset: u32) -> u32 {
        let mut s = self.state.lock();
        let v = s.regs[offset as usize / 4];
        if offset == regs::stats::RNBC {
            s.regs[offset as usize / 4] = 0;
        }
        v
    }

    fn write_reg(&self, offset: u32, value: u32) {
        let wake = {
            let mut s = self.state.lock();
            s.writes.push((offset, value));
            let i = offset as usize / 4;
            match offset {
                regs::EIMS => {
                    s.regs[i] |= value;
                    self.fire(&mut s, value)
                }
                regs::EIMC => {
                    s.regs[regs::EIMS as usize / 4] &= !value;
                    None
                }
                regs::EICS => {
                    s.regs[regs::EICR as usize / 4] |= value;
                    self.fire(&mut s, value)
                }
                _ => {
                    s.regs[i] = value;
                    let q = offset.wrapping_sub(regs::TXQ_BASE) / regs::QUEUE_STRIDE;
                    let is_tdt = offset >= regs::TXQ_BASE
                        && q < self.queues as u32
                        && offset == regs::tx_queue_base(q as u16) + txq::TDT;
                    if is_tdt && !s.paused {
                        self.process_tx(&mut s, q as u16)
                    } else {
                        None
                    }
                }
            }
        };
        if let Some(w) = wake {
            w.wake();
        }
    }

    fn dma(&self) -> &Arc<DmaRegion> {
        &self.dma
    }

    fn set_msix_waker(&self, vector: u16, waker: Option<Waker>) {
        self.state.lock().wakers[vector as usize] = waker;
    }

    fn num_queues(&self) -> u16 {
        self.queues
    }
}
