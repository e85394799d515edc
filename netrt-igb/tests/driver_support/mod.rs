//! Shared fixtures of the driver acceptance tests: two emulated igb ports
//! joined by a perfect cable, the driver opened on both, and a device
//! wrapper that records every register write the driver makes.

#![allow(dead_code)]

use std::sync::Arc;
use std::task::Waker;

use parking_lot::Mutex;

use netrt_igb::attach::Cable;
use netrt_igb::device::IgbDevice;
use netrt_igb::dma::{DmaRegion, Iova};
use netrt_igb::driver::{Itr, Port, PortConfig, QueueVector, RxConfig, RxFrame, TxConfig};
use netrt_igb::model::{IgbModel, ModelConfig};
use netrt_igb::regs::{self, rxq};

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// An [`IgbDevice`] that forwards to the model and logs register writes.
pub struct Recording {
    pub model: Arc<IgbModel>,
    writes: Mutex<Vec<(u32, u32)>>,
}

impl Recording {
    pub fn writes_to(&self, reg: u32) -> Vec<u32> {
        self.writes
            .lock()
            .iter()
            .filter(|w| w.0 == reg)
            .map(|w| w.1)
            .collect()
    }
}

impl IgbDevice for Recording {
    fn read_reg(&self, offset: u32) -> u32 {
        self.model.read_reg(offset)
    }
    fn write_reg(&self, offset: u32, value: u32) {
        self.writes.lock().push((offset, value));
        self.model.write_reg(offset, value);
    }
    fn dma(&self) -> &Arc<DmaRegion> {
        self.model.dma()
    }
    fn set_msix_waker(&self, vector: u16, waker: Option<Waker>) {
        self.model.set_msix_waker(vector, waker)
    }
    fn num_queues(&self) -> u16 {
        self.model.num_queues()
    }
}

/// Driver configuration of one side.
#[derive(Clone, Debug)]
pub struct Side {
    pub ring: u32,
    pub rx_buf: usize,
    pub jumbo: bool,
}

impl Default for Side {
    fn default() -> Self {
        Side {
            ring: 256,
            rx_buf: 2048,
            jumbo: false,
        }
    }
}

impl Side {
    pub fn ring(ring: u32) -> Side {
        Side {
            ring,
            ..Side::default()
        }
    }

    fn config(&self) -> PortConfig {
        PortConfig {
            queues: 1,
            rx: RxConfig {
                ring_size: self.ring,
                buf_size: self.rx_buf,
                drop_en: true,
            },
            tx: TxConfig {
                ring_size: self.ring,
                ..TxConfig::default()
            },
            itr: Itr::Off,
            jumbo: self.jumbo,
            ..PortConfig::default()
        }
    }
}

/// Two cabled ports, A sending to B.
pub struct Pair {
    pub a: Arc<Recording>,
    pub b: Arc<Recording>,
    pub port_a: Port,
    pub port_b: Port,
    pub va: QueueVector,
    pub vb: QueueVector,
    pub cable: Cable,
}

fn model(mac: [u8; 6]) -> Arc<Recording> {
    let dma = DmaRegion::new(48 << 20).expect("DMA region");
    Arc::new(Recording {
        model: IgbModel::new(ModelConfig { num_queues: 1, mac }, dma),
        writes: Mutex::new(Vec::new()),
    })
}

pub fn pair(a: Side, b: Side) -> Pair {
    let (ra, rb) = (model(MAC_A), model(MAC_B));
    let cable = Cable::new(ra.model.clone(), rb.model.clone());
    let (port_a, mut va) = Port::open(ra.clone(), &a.config()).expect("open A");
    let (port_b, mut vb) = Port::open(rb.clone(), &b.config()).expect("open B");
    Pair {
        a: ra,
        b: rb,
        port_a,
        port_b,
        va: va.remove(0),
        vb: vb.remove(0),
        cable,
    }
}

/// A broadcast frame of `len` bytes carrying `seq`.
pub fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(31) as u8 ^ seq as u8)
        .collect();
    f[..6].fill(0xFF);
    f[6..12].copy_from_slice(&MAC_A);
    f[12..14].copy_from_slice(&0x88B5u16.to_be_bytes());
    f[14..18].copy_from_slice(&seq.to_le_bytes());
    f
}

pub fn seq_of(f: &[u8]) -> u32 {
    u32::from_le_bytes([f[14], f[15], f[16], f[17]])
}

/// Receives everything pending on `v`, as owned copies.
pub fn drain(v: &mut QueueVector) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let n = v.poll(64, |f: RxFrame<'_>| {
            let mut buf = vec![0; f.len()];
            f.copy_to(&mut buf);
            out.push(buf);
        });
        if n < 64 {
            return out;
        }
    }
}

/// RX ring base, size, head and tail of queue 0, from the device's
/// registers.
pub fn rx_ring(dev: &dyn IgbDevice) -> (Iova, u32, u32, u32) {
    let b = regs::rx_queue_base(0);
    let base = Iova::from_parts(dev.read_reg(b + rxq::RDBAL), dev.read_reg(b + rxq::RDBAH));
    let size = dev.read_reg(b + rxq::RDLEN) / 16;
    (
        base,
        size,
        dev.read_reg(b + rxq::RDH),
        dev.read_reg(b + rxq::RDT),
    )
}

/// The Internet checksum of `data` (RFC 1071).
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|w| u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}
