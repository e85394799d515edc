//! A bare-hands test driver for the emulated igb: writes raw descriptors
//! and registers so the model's behaviour can be checked descriptor by
//! descriptor, plus frame builders and an *independent* naive checksum.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

use netrt_igb::attach::{Attachment, Endpoint, RxMeta, TxMeta};
use netrt_igb::desc::{Descriptor, RxDescRead, RxDescWb, TxContextDesc, TxDataDesc, DESC_SIZE};
use netrt_igb::device::IgbDevice;
use netrt_igb::dma::{DmaChunk, DmaRegion, Iova};
use netrt_igb::handoff;
use netrt_igb::model::{IgbModel, ModelConfig};
use netrt_igb::regs::{self, rctl, rxdctl, rxq, srrctl, tctl, txdctl, txq};
use parking_lot::Mutex;

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
pub const RING: u32 = 64;
pub const RX_BUF: usize = 2048;
pub const TX_BUF: usize = 16384;

/// One queue's rings and buffers.
pub struct QueueRig {
    pub rx_ring: DmaChunk,
    pub rx_bufs: DmaChunk,
    pub rx_next: u32,
    pub rx_tail: u32,
    pub tx_ring: DmaChunk,
    pub tx_bufs: DmaChunk,
    pub tx_tail: u32,
}

/// An emulated port plus raw rings on every queue.
pub struct Rig {
    pub model: Arc<IgbModel>,
    pub dma: Arc<DmaRegion>,
    pub queues: Vec<QueueRig>,
}

/// A received frame as the rig's RX clean saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub data: Vec<u8>,
    /// Write-back of every descriptor of the frame, last one last.
    pub descs: Vec<RxDescWb>,
}

impl Received {
    pub fn last(&self) -> &RxDescWb {
        self.descs.last().unwrap()
    }
}

impl Rig {
    pub fn new(queues: u16, mac: [u8; 6]) -> Rig {
        let dma = DmaRegion::new(8 << 20).unwrap();
        let model = IgbModel::new(
            ModelConfig {
                num_queues: queues,
                mac,
            },
            Arc::clone(&dma),
        );
        let mut rig = Rig {
            model,
            dma,
            queues: Vec::new(),
        };
        for q in 0..queues {
            let rx_ring = rig.dma.alloc(RING as usize * DESC_SIZE, 128).unwrap();
            let rx_bufs = rig.dma.alloc(RING as usize * RX_BUF, 4096).unwrap();
            let tx_ring = rig.dma.alloc(RING as usize * DESC_SIZE, 128).unwrap();
            let tx_bufs = rig.dma.alloc(RING as usize * TX_BUF, 4096).unwrap();
            rig.queues.push(QueueRig {
                rx_ring,
                rx_bufs,
                rx_next: 0,
                rx_tail: 0,
                tx_ring,
                tx_bufs,
                tx_tail: 0,
            });
            rig.program_queue(q);
        }
        rig.w(regs::RCTL, rctl::EN | rctl::BAM | rctl::SECRC);
        rig.w(regs::TCTL, tctl::EN | tctl::PSP);
        rig
    }

    pub fn w(&self, reg: u32, v: u32) {
        self.model.write_reg(reg, v);
    }

    pub fn r(&self, reg: u32) -> u32 {
        self.model.read_reg(reg)
    }

    fn program_queue(&mut self, q: u16) {
        let qr = &self.queues[q as usize];
        let (rb, tb) = (regs::rx_queue_base(q), regs::tx_queue_base(q));
        let (rx_ring, tx_ring) = (qr.rx_ring.iova(), qr.tx_ring.iova());
        self.w(rb + rxq::RDBAL, rx_ring.lo());
        self.w(rb + rxq::RDBAH, rx_ring.hi());
        self.w(rb + rxq::RDLEN, RING * DESC_SIZE as u32);
        self.w(
            rb + rxq::SRRCTL,
            srrctl::bsizepkt(RX_BUF as u32) | srrctl::DESCTYPE_ADV_ONEBUF,
        );
        self.w(rb + rxq::RDH, 0);
        self.w(rb + rxq::RDT, 0);
        self.w(rb + rxq::RXDCTL, rxdctl::ENABLE);
        self.w(tb + txq::TDBAL, tx_ring.lo());
        self.w(tb + txq::TDBAH, tx_ring.hi());
        self.w(tb + txq::TDLEN, RING * DESC_SIZE as u32);
        self.w(tb + txq::TDH, 0);
        self.w(tb + txq::TDT, 0);
        self.w(tb + txq::TXDCTL, txdctl::ENABLE);
        self.post_rx(q, RING - 1);
    }

    /// Posts `n` more RX buffers on queue `q` (slot i uses buffer i).
    pub fn post_rx(&mut self, q: u16, n: u32) {
        let qr = &mut self.queues[q as usize];
        for _ in 0..n {
            let i = qr.rx_tail;
            let buf = qr.rx_bufs.iova().add(i as u64 * RX_BUF as u64);
            let at = handoff::slot(qr.rx_ring.iova(), i);
            handoff::publish(&*self.dma, at, &RxDescRead::new(buf.0)).unwrap();
            qr.rx_tail = (i + 1) % RING;
        }
        let tail = qr.rx_tail;
        self.w(regs::rx_queue_base(q) + rxq::RDT, tail);
    }

    /// Posts a raw RX descriptor (e.g. a bad buffer address) at the tail.
    pub fn post_rx_raw(&mut self, q: u16, pkt_addr: u64) {
        let qr = &mut self.queues[q as usize];
        let i = qr.rx_tail;
        let at = handoff::slot(qr.rx_ring.iova(), i);
        handoff::publish(&*self.dma, at, &RxDescRead::new(pkt_addr)).unwrap();
        qr.rx_tail = (i + 1) % RING;
        let tail = qr.rx_tail;
        self.w(regs::rx_queue_base(q) + rxq::RDT, tail);
    }

    /// Collects every completed frame of queue `q` (without re-posting).
    pub fn recv(&mut self, q: u16) -> Vec<Received> {
        let mut out = Vec::new();
        let mut cur = Received {
            data: Vec::new(),
            descs: Vec::new(),
        };
        let qr = &mut self.queues[q as usize];
        loop {
            let at = handoff::slot(qr.rx_ring.iova(), qr.rx_next);
            let Some(wb) = handoff::poll::<RxDescWb, _>(&*self.dma, at, 1).unwrap() else {
                break;
            };
            let mut data = vec![0u8; wb.length as usize];
            let buf = qr.rx_bufs.iova().add(qr.rx_next as u64 * RX_BUF as u64);
            self.dma.read(buf, &mut data).unwrap();
            // Clear the slot so a stale DD is never read again.
            self.dma.write(at, &[0u8; 16]).unwrap();
            qr.rx_next = (qr.rx_next + 1) % RING;
            cur.data.extend_from_slice(&data);
            cur.descs.push(wb);
            if wb.eop() {
                out.push(std::mem::replace(
                    &mut cur,
                    Received {
                        data: Vec::new(),
                        descs: Vec::new(),
                    },
                ));
            }
        }
        assert!(cur.descs.is_empty(), "frame without EOP left on the ring");
        out
    }

    /// Writes descriptors at queue `q`'s TX tail without moving TDT.
    /// `bufs` are copied into per-slot buffers; returns the new tail.
    pub fn stage_tx(
        &mut self,
        q: u16,
        ctx: Option<TxContextDesc>,
        parts: &[(&[u8], u32, u32)],
    ) -> u32 {
        let qr = &mut self.queues[q as usize];
        if let Some(c) = ctx {
            let at = handoff::slot(qr.tx_ring.iova(), qr.tx_tail);
            handoff::publish(&*self.dma, at, &c).unwrap();
            qr.tx_tail = (qr.tx_tail + 1) % RING;
        }
        for &(bytes, cmd, olinfo) in parts {
            let i = qr.tx_tail;
            let buf = qr.tx_bufs.iova().add(i as u64 * TX_BUF as u64);
            self.dma.write(buf, bytes).unwrap();
            let d = TxDataDesc::new(buf.0, bytes.len() as u16, cmd, olinfo);
            handoff::publish(&*self.dma, handoff::slot(qr.tx_ring.iova(), i), &d).unwrap();
            qr.tx_tail = (i + 1) % RING;
        }
        qr.tx_tail
    }

    /// Writes a raw data descriptor (any buffer address) at the TX tail.
    pub fn stage_tx_raw(&mut self, q: u16, words: [u32; 4]) -> u32 {
        let qr = &mut self.queues[q as usize];
        let at = handoff::slot(qr.tx_ring.iova(), qr.tx_tail);
        self.dma
            .write(at, &netrt_igb::desc::words_to_bytes(words))
            .unwrap();
        qr.tx_tail = (qr.tx_tail + 1) % RING;
        qr.tx_tail
    }

    /// Moves TDT to the staged tail: the model transmits synchronously.
    pub fn kick_tx(&self, q: u16) {
        let tail = self.queues[q as usize].tx_tail;
        self.w(regs::tx_queue_base(q) + txq::TDT, tail);
    }

    /// Sends one frame in one descriptor, with an optional offload.
    pub fn send(
        &mut self,
        q: u16,
        frame: &[u8],
        ctx: Option<TxContextDesc>,
        cmd_extra: u32,
        olinfo: u32,
    ) {
        let cmd = netrt_igb::desc::tx::cmd::EOP
            | netrt_igb::desc::tx::cmd::RS
            | netrt_igb::desc::tx::cmd::IFCS
            | cmd_extra;
        self.stage_tx(q, ctx, &[(frame, cmd, olinfo)]);
        self.kick_tx(q);
    }

    /// Whether TX descriptor `i` of queue `q` has DD written back.
    pub fn tx_dd(&self, q: u16, i: u32) -> bool {
        handoff::tx_done(
            &*self.dma,
            handoff::slot(self.queues[q as usize].tx_ring.iova(), i),
        )
        .unwrap()
    }

    /// A raw read of a TX descriptor's status dword.
    pub fn tx_status(&self, q: u16, i: u32) -> u32 {
        let at = handoff::slot(self.queues[q as usize].tx_ring.iova(), i);
        self.dma
            .load_u32_acquire(at.add(TxDataDesc::STATUS_DWORD as u64 * 4))
            .unwrap()
    }

    pub fn rdh(&self, q: u16) -> u32 {
        self.r(regs::rx_queue_base(q) + rxq::RDH)
    }

    pub fn tdh(&self, q: u16) -> u32 {
        self.r(regs::tx_queue_base(q) + txq::TDH)
    }

    /// An IOVA guaranteed to be outside the region.
    pub fn bad_iova(&self) -> Iova {
        Iova(self.dma.base().0 + self.dma.len() as u64 + 4096)
    }
}

/// Records what a port transmits.
pub struct Capture {
    pub frames: Mutex<Vec<(Vec<u8>, TxMeta)>>,
    pub carries_csum: bool,
}

impl Capture {
    pub fn new(carries_csum: bool) -> Arc<Capture> {
        Arc::new(Capture {
            frames: Mutex::new(Vec::new()),
            carries_csum,
        })
    }

    pub fn take(&self) -> Vec<(Vec<u8>, TxMeta)> {
        std::mem::take(&mut *self.frames.lock())
    }
}

impl Attachment for Capture {
    fn transmit(&self, frame: &[u8], meta: &TxMeta) {
        self.frames.lock().push((frame.to_vec(), *meta));
    }

    fn carries_csum_offload(&self) -> bool {
        self.carries_csum
    }
}

/// A waker that counts its wakes.
#[derive(Default)]
pub struct CountingWaker(pub AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let c = Arc::new(CountingWaker::default());
    (Arc::clone(&c), Waker::from(c))
}

pub fn deliver(model: &IgbModel, frame: &[u8]) {
    Endpoint::deliver(model, frame, &RxMeta::default());
}

// ---- frames and an independent checksum -------------------------------

/// Naive RFC 1071 checksum: 16-bit big-endian words, end-around carry
/// after every addition. Deliberately nothing like the model's code.
pub fn naive_csum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let mut s: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let hi = bytes[i] as u32;
        let lo = if i + 1 < bytes.len() {
            bytes[i + 1] as u32
        } else {
            0
        };
        s += (hi << 8) | lo;
        if s > 0xFFFF {
            s -= 0xFFFF;
        }
        i += 2;
    }
    !(s as u16)
}

/// Pseudo-header bytes of IPv4.
pub fn pseudo(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.push(0);
    p.push(proto);
    p.extend_from_slice(&len.to_be_bytes());
    p
}

/// Whether an IPv4 frame's header checksum is right (naive routine).
pub fn ip_csum_ok(f: &[u8]) -> bool {
    let ihl = (f[14] & 0xF) as usize * 4;
    naive_csum(&[&f[14..14 + ihl]]) == 0
}

/// Whether an IPv4 TCP/UDP frame's L4 checksum is right (naive routine).
pub fn l4_csum_ok(f: &[u8]) -> bool {
    let ihl = (f[14] & 0xF) as usize * 4;
    let total = u16::from_be_bytes([f[16], f[17]]) as usize;
    let l4 = &f[14 + ihl..14 + total];
    let ph = pseudo(
        f[26..30].try_into().unwrap(),
        f[30..34].try_into().unwrap(),
        f[23],
        l4.len() as u16,
    );
    naive_csum(&[&ph, l4]) == 0
}

pub const SRC_IP: [u8; 4] = [10, 0, 0, 1];
pub const DST_IP: [u8; 4] = [10, 0, 0, 2];

pub struct FrameSpec {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub ip_id: u16,
    pub seq: u32,
    pub tcp_flags: u8,
    /// TCP header length (20 + options).
    pub tcp_hlen: usize,
}

impl Default for FrameSpec {
    fn default() -> Self {
        FrameSpec {
            dst_mac: MAC_B,
            src_mac: MAC_A,
            src: SRC_IP,
            dst: DST_IP,
            proto: 6,
            sport: 40000,
            dport: 80,
            ip_id: 0x1234,
            seq: 1000,
            tcp_flags: 0x10,
            tcp_hlen: 20,
        }
    }
}

/// Checksum fields filled in how the stack hands frames to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Csum {
    /// Both checksums correct (software computed).
    Full,
    /// IP checksum 0, L4 field = pseudo-header sum incl. length
    /// (CHECKSUM_PARTIAL, what TXSM expects).
    Seeded,
    /// IP checksum 0, L4 field = pseudo-header sum without length (TSO).
    SeededNoLen,
}

fn fold_sum(parts: &[&[u8]]) -> u16 {
    // The complement of the naive checksum is the folded sum.
    !naive_csum(parts)
}

/// An Ethernet + IPv4 + TCP/UDP frame with `payload`.
pub fn build(spec: &FrameSpec, payload: &[u8], csum: Csum) -> Vec<u8> {
    let l4_hlen = if spec.proto == 6 { spec.tcp_hlen } else { 8 };
    let l4_len = l4_hlen + payload.len();
    let total = 20 + l4_len;
    let mut f = Vec::with_capacity(14 + total);
    f.extend_from_slice(&spec.dst_mac);
    f.extend_from_slice(&spec.src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(total.min(0xFFFF) as u16).to_be_bytes());
    ip.extend_from_slice(&spec.ip_id.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, spec.proto, 0, 0]);
    ip.extend_from_slice(&spec.src);
    ip.extend_from_slice(&spec.dst);
    if csum == Csum::Full {
        let c = naive_csum(&[&ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&ip);
    let mut l4 = Vec::with_capacity(l4_len);
    l4.extend_from_slice(&spec.sport.to_be_bytes());
    l4.extend_from_slice(&spec.dport.to_be_bytes());
    if spec.proto == 6 {
        l4.extend_from_slice(&spec.seq.to_be_bytes());
        l4.extend_from_slice(&7u32.to_be_bytes()); // ack
        l4.push(((spec.tcp_hlen / 4) as u8) << 4);
        l4.push(spec.tcp_flags);
        l4.extend_from_slice(&65535u16.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent
                                             // NOP options up to the header length.
        l4.resize(spec.tcp_hlen, 1);
    } else {
        l4.extend_from_slice(&(l4_len as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.extend_from_slice(payload);
    let field = if spec.proto == 6 { 16 } else { 6 };
    let v = match csum {
        Csum::Full => {
            let ph = pseudo(spec.src, spec.dst, spec.proto, l4_len as u16);
            let mut c = naive_csum(&[&ph, &l4]);
            if spec.proto == 17 && c == 0 {
                c = 0xFFFF;
            }
            c
        }
        Csum::Seeded => fold_sum(&[&pseudo(spec.src, spec.dst, spec.proto, l4_len as u16)]),
        Csum::SeededNoLen => fold_sum(&[&pseudo(spec.src, spec.dst, spec.proto, 0)]),
    };
    l4[field..field + 2].copy_from_slice(&v.to_be_bytes());
    f.extend_from_slice(&l4);
    f
}

/// Payload bytes that encode their own position.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ (i >> 8) as u8)
        .collect()
}
