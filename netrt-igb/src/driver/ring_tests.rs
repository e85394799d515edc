//! Ring tests of the driver against the loopback test device. These also
//! run under valgrind (`scripts/valgrind-igb.sh`), which is why they sit in
//! the library's test binary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

use super::testdev::LoopDev;
use super::*;
use crate::desc::{rx, tx, Descriptor, L4Type, RxDescWb, TxContextDesc, TxDataDesc, TxDesc};
use crate::device::IgbDevice;
use crate::dma::Iova;
use crate::handoff;
use crate::regs::{self, gpie, rxq};

fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u32 ^ seq) as u8).collect();
    f[..6].fill(0xFF);
    f[14..18].copy_from_slice(&seq.to_le_bytes());
    f
}

fn seq_of(f: &[u8]) -> u32 {
    u32::from_le_bytes([f[14], f[15], f[16], f[17]])
}

fn vector(dev: &Arc<LoopDev>, size: u32, rx_buf: usize) -> QueueVector {
    let rx = RxConfig {
        ring_size: size,
        buf_size: rx_buf,
        drop_en: true,
    };
    let tx = TxConfig {
        ring_size: size,
        ..TxConfig::default()
    };
    QueueVector::new(dev.clone(), 0, 0, &rx, &tx, Itr::Off).unwrap()
}

fn receive(qv: &mut QueueVector, budget: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    qv.rx().rx_burst(budget, |f| {
        let mut v = vec![0; f.len()];
        assert_eq!(f.copy_to(&mut v), f.len());
        out.push(v);
    });
    out
}

#[derive(Default)]
struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sends frames in odd bursts around the ring several times; every frame
/// comes back exactly once and in order, and neither ring ever fills its
/// last slot.
fn wraparound(size: u32) {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, size, 2048);
    let total = size * 3 + 5;
    let bursts = [1usize, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    let (mut sent, mut next_rx, mut b) = (0u32, 0u32, 0);
    while next_rx < total {
        // What the device can still fill: descriptors between head and tail.
        let rx_block = regs::rx_queue_base(0);
        let (rdh, rdt) = (dev.reg(rx_block + rxq::RDH), dev.reg(rx_block + rxq::RDT));
        let room = (((rdt + size - rdh) % size) as usize).min(qv.tx().free_descriptors() as usize);
        let mut n = bursts[b % bursts.len()]
            .min(room)
            .min((total - sent) as usize);
        if n > 1 && n.is_multiple_of(2) {
            n -= 1;
        }
        b += 1;
        let frames: Vec<Vec<u8>> = (sent..sent + n as u32)
            .map(|s| frame(s, 60 + (s as usize % 1400)))
            .collect();
        assert_eq!(qv.tx_burst(&frames), n);
        sent += n as u32;
        // Head never passes tail: the device never owns the free slot.
        let (rdh, rdt) = (
            dev.reg(regs::rx_queue_base(0) + rxq::RDH),
            dev.reg(regs::rx_queue_base(0) + rxq::RDT),
        );
        assert!(rdh < size && rdt < size);
        assert!(qv.rx().posted() < size);
        assert!(qv.tx().in_flight() < size);
        // Receive in odd budgets too.
        let got = receive(&mut qv, 1 + 2 * (b % 5));
        for f in got {
            assert_eq!(seq_of(&f), next_rx, "loss, duplication or reordering");
            assert_eq!(f, frame(next_rx, f.len()));
            next_rx += 1;
        }
        qv.tx().clean(TX_CLEAN_LIMIT);
        assert!(b < 100_000, "no progress");
    }
    assert_eq!(next_rx, sent);
    assert_eq!(receive(&mut qv, 64).len(), 0, "nothing extra");
    let c = qv.counters().snapshot();
    assert_eq!((c.rx_packets, c.tx_packets), (total as u64, total as u64));
    assert_eq!((c.rx_errors, c.tx_errors, c.dma_errors), (0, 0, 0));
    assert_eq!(
        dev.reg(regs::stats::RNBC),
        0,
        "device never ran out of buffers"
    );
}

#[test]
fn ring_wraparound_8() {
    wraparound(8);
}

#[test]
fn ring_wraparound_256() {
    wraparound(256);
}

#[test]
fn ring_wraparound_4096() {
    wraparound(4096);
}

#[test]
fn ring_rejects_bad_sizes() {
    let dev = LoopDev::new(1);
    for size in [0, 4, 12, 5000] {
        let rx = RxConfig {
            ring_size: size,
            ..RxConfig::default()
        };
        let err = RxQueue::new(dev.clone(), 0, &rx).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let tx = TxConfig {
            ring_size: size,
            ..TxConfig::default()
        };
        let err = TxQueue::new(dev.clone(), 0, &tx).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
    let rx = RxConfig {
        buf_size: 1500,
        ..RxConfig::default()
    };
    assert!(RxQueue::new(dev.clone(), 0, &rx).is_err());
    assert!(
        RxQueue::new(dev.clone(), 1, &RxConfig::default()).is_err(),
        "queue out of range"
    );
}

#[test]
fn ring_rx_setup_registers() {
    let dev = LoopDev::new(2);
    let q = RxQueue::new(
        dev.clone(),
        1,
        &RxConfig {
            ring_size: 64,
            buf_size: 1024,
            drop_en: true,
        },
    )
    .unwrap();
    let b = regs::rx_queue_base(1);
    let (base, size) = dev.rx_ring(1);
    assert_eq!(size, 64);
    assert_eq!(base.0 % 128, 0);
    assert_eq!(dev.reg(b + rxq::RDLEN), 64 * 16);
    assert_eq!(
        dev.reg(b + rxq::SRRCTL),
        1 | regs::srrctl::DESCTYPE_ADV_ONEBUF | regs::srrctl::DROP_EN
    );
    assert_ne!(dev.reg(b + rxq::RXDCTL) & regs::rxdctl::ENABLE, 0);
    assert_eq!(dev.reg(b + rxq::RDT), 63, "all but one slot posted");
    assert_eq!(q.posted(), 63);
    // Every posted descriptor is in read format with a distinct buffer.
    let mut addrs: Vec<u64> = (0..63)
        .map(|i| {
            let d: crate::desc::RxDescRead =
                handoff::fetch(&**dev.dma(), handoff::slot(base, i)).unwrap();
            assert_eq!(d.hdr_addr, 0);
            d.pkt_addr
        })
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), 63);
    drop(q);
    assert_eq!(dev.reg(b + rxq::RXDCTL), 0, "queue disabled on drop");
}

/// A 3000-byte frame over 1 KiB buffers takes three descriptors.
#[test]
fn ring_multi_descriptor_frame() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 16, 1024);
    let big = frame(7, 3000);
    assert_eq!(qv.tx_burst(&[&big[..]]), 1);
    let posted_before = qv.rx().posted();
    let mut seen = 0;
    qv.rx().rx_burst(8, |f| {
        assert_eq!(f.len(), 3000);
        assert_eq!(f.num_segments(), 3);
        let lens: Vec<usize> = f.segments().map(<[u8]>::len).collect();
        assert_eq!(lens, [1024, 1024, 952]);
        assert!(f.as_slice().is_none());
        let joined: Vec<u8> = f.segments().flatten().copied().collect();
        assert_eq!(joined, big);
        seen += 1;
    });
    assert_eq!(seen, 1);
    assert_eq!(posted_before, 15);
    assert_eq!(
        qv.rx().posted(),
        12,
        "three slots consumed, below the refill batch"
    );
}

/// Plays the device by hand: descriptors become visible only with DD, a
/// frame only with its EOP descriptor, and metadata comes from the last
/// descriptor.
#[test]
fn ring_dd_last_ordering() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 16, 1024);
    dev.set_paused(true);
    let (base, _) = dev.rx_ring(0);
    let mem = &**dev.dma();
    let bufs: Vec<u64> = (0..3)
        .map(|i| {
            let d: crate::desc::RxDescRead = handoff::fetch(mem, handoff::slot(base, i)).unwrap();
            d.pkt_addr
        })
        .collect();
    for (i, b) in bufs.iter().enumerate() {
        mem.write(Iova(*b), &[i as u8 + 1; 1024]).unwrap();
    }
    // Body of descriptor 0 written, status dword without DD.
    let first = RxDescWb {
        rss: 0xDEAD_BEEF, // not metadata: not the last descriptor
        status_error: 0,
        length: 1024,
        ..Default::default()
    };
    handoff::publish(mem, handoff::slot(base, 0), &first).unwrap();
    assert_eq!(receive(&mut qv, 64).len(), 0, "no DD, nothing consumed");
    assert_eq!(qv.rx().posted(), 15);
    // DD on the first two (no EOP): consumed but not delivered.
    let mid = RxDescWb {
        status_error: rx::status::DD,
        ..first
    };
    handoff::publish(mem, handoff::slot(base, 0), &mid).unwrap();
    handoff::publish(mem, handoff::slot(base, 1), &mid).unwrap();
    assert_eq!(receive(&mut qv, 64).len(), 0);
    assert_eq!(qv.rx().posted(), 13);
    // The last descriptor's body lands, DD still clear.
    let last = RxDescWb {
        pkt_info: RxDescWb::make_pkt_info(
            crate::desc::RssType::Ipv4Udp,
            rx::ptype::IPV4 | rx::ptype::UDP,
        ),
        rss: 0x1234_5678,
        status_error: rx::status::IPCS | rx::status::UDPCS | rx::status::EOP,
        length: 10,
        ..Default::default()
    };
    handoff::publish(mem, handoff::slot(base, 2), &last).unwrap();
    assert_eq!(receive(&mut qv, 64).len(), 0);
    // Now DD.
    let at = handoff::slot(base, 2).add(4 * RxDescWb::STATUS_DWORD as u64);
    mem.store_u32_release(at, last.status_error | rx::status::DD)
        .unwrap();
    let mut n = 0;
    qv.rx().rx_burst(64, |f| {
        assert_eq!(f.len(), 2058);
        assert_eq!(f.rss_hash(), 0x1234_5678);
        assert_eq!(f.rss_type(), crate::desc::RssType::Ipv4Udp);
        assert_eq!(f.packet_type(), rx::ptype::IPV4 | rx::ptype::UDP);
        let c = f.checksum();
        assert_eq!(
            (c.ip, c.l4),
            (crate::desc::CsumState::Good, crate::desc::CsumState::Good)
        );
        let bytes: Vec<u8> = f.segments().flatten().copied().collect();
        assert!(bytes[..1024].iter().all(|&b| b == 1));
        assert!(bytes[1024..2048].iter().all(|&b| b == 2));
        assert!(bytes[2048..].iter().all(|&b| b == 3));
        n += 1;
    });
    assert_eq!(n, 1);
    assert_eq!(receive(&mut qv, 64).len(), 0, "delivered exactly once");
}

/// Frames flagged RXE are counted and dropped, and their buffers recycled.
#[test]
fn ring_rx_error_dropped() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 8, 2048);
    dev.set_paused(true);
    let (base, _) = dev.rx_ring(0);
    let mem = &**dev.dma();
    let bad = RxDescWb {
        status_error: rx::status::DD | rx::status::EOP | rx::status::RXE,
        length: 60,
        ..Default::default()
    };
    let good = RxDescWb {
        status_error: rx::status::DD | rx::status::EOP,
        ..bad
    };
    let oversize = RxDescWb {
        length: 4000, // longer than the 2 KiB buffer: a lying device
        ..good
    };
    handoff::publish(mem, handoff::slot(base, 0), &bad).unwrap();
    handoff::publish(mem, handoff::slot(base, 1), &good).unwrap();
    handoff::publish(mem, handoff::slot(base, 2), &oversize).unwrap();
    let got = receive(&mut qv, 64);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].len(), 60);
    let c = qv.counters().snapshot();
    assert_eq!((c.rx_packets, c.rx_errors), (1, 2));
    // Three slots consumed and, with the batch of 4 on an 8-ring, not yet
    // re-posted; every buffer is accounted for.
    assert_eq!(qv.rx().posted(), 4);
}

/// A device that never sets EOP cannot pin every buffer: the driver gives
/// up on the frame after half the ring and keeps receiving.
#[test]
fn ring_rx_runaway_chain_is_dropped() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 16, 1024);
    dev.set_paused(true);
    let (base, _) = dev.rx_ring(0);
    let mem = &**dev.dma();
    let chain = RxDescWb {
        status_error: rx::status::DD,
        length: 1024,
        ..Default::default()
    };
    for i in 0..11 {
        handoff::publish(mem, handoff::slot(base, i), &chain).unwrap();
    }
    let end = RxDescWb {
        status_error: rx::status::DD | rx::status::EOP,
        ..chain
    };
    handoff::publish(mem, handoff::slot(base, 11), &end).unwrap();
    assert_eq!(receive(&mut qv, 64).len(), 0);
    assert_eq!(qv.counters().snapshot().rx_errors, 1);
    // Refilled: the ring keeps going once the device's head moves on.
    assert_eq!(qv.rx().posted(), 15);
    dev.write_reg(regs::rx_queue_base(0) + rxq::RDH, 12);
    dev.set_paused(false);
    assert_eq!(qv.tx_burst(&[frame(1, 100)]), 1);
    assert_eq!(receive(&mut qv, 64).len(), 1);
}

/// Refill happens in batches of 16 with one RDT write each.
#[test]
fn ring_refill_one_tail_write_per_16() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 256, 2048);
    let rdt = regs::rx_queue_base(0) + rxq::RDT;
    let rdt_writes = |dev: &LoopDev| {
        dev.writes()
            .iter()
            .filter(|w| w.0 == rdt)
            .map(|w| w.1)
            .collect::<Vec<_>>()
    };
    let setup = rdt_writes(&dev);
    assert_eq!(setup, [0, 255], "ring programming, then one post of 255");
    let mut received = 0;
    for burst in [5usize, 9, 30, 1, 64, 3, 100] {
        let frames: Vec<Vec<u8>> = (0..burst).map(|i| frame(i as u32, 64)).collect();
        assert_eq!(qv.tx_burst(&frames), burst);
        received += receive(&mut qv, 64).len();
        received += receive(&mut qv, 64).len();
    }
    assert_eq!(received, 212);
    let writes = rdt_writes(&dev);
    let after = &writes[2..];
    assert!(!after.is_empty());
    let mut prev = 255u32;
    for &t in after {
        let refilled = (t + 256 - prev) % 256;
        assert!(
            refilled >= RX_REFILL_BATCH,
            "tail write for {refilled} buffers"
        );
        prev = t;
    }
    let refilled = (212 / 16) as usize;
    assert!(
        after.len() <= refilled,
        "{} RDT writes for 212 buffers",
        after.len()
    );
}

#[test]
fn ring_tx_backpressure() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 8, 2048);
    dev.set_paused(true);
    let frames: Vec<Vec<u8>> = (0..10).map(|i| frame(i, 100)).collect();
    assert_eq!(qv.tx_burst(&frames), 7, "one slot stays free");
    assert_eq!(qv.tx().free_descriptors(), 0);
    assert_eq!(qv.counters().snapshot().tx_busy, 1);
    assert_eq!(qv.tx_burst(&frames[7..]), 0);
    // The device catches up; the next burst reclaims and goes on.
    dev.kick(0);
    assert_eq!(qv.tx_burst(&frames[7..]), 3);
    dev.kick(0);
    assert_eq!(qv.tx().clean(TX_CLEAN_LIMIT), 3);
    assert_eq!(qv.tx().in_flight(), 0);
    let c = qv.counters().snapshot();
    assert_eq!(c.tx_packets, 10);
    assert_eq!(c.tx_bytes, 1000);
    let got = receive(&mut qv, 64);
    assert_eq!(
        got.iter().map(|f| seq_of(f)).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
}

/// Reads the TX ring descriptors `from..to` as the device would.
fn tx_descs(dev: &LoopDev, from: u32, to: u32) -> Vec<TxDesc> {
    let b = regs::tx_queue_base(0);
    let base = Iova::from_parts(dev.reg(b), dev.reg(b + 4));
    (from..to)
        .map(|i| {
            TxDesc::decode(handoff::fetch_words(&**dev.dma(), handoff::slot(base, i), 3).unwrap())
        })
        .collect()
}

#[test]
fn ring_tx_descriptors_and_context_cache() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 64, 2048);
    dev.set_paused(true);
    let csum = TxOffload::checksum(L3Type::Ipv4, L4Type::Udp, 14, 20);
    let f = frame(1, 300);
    let fs: [&[u8]; 1] = [&f[..]];
    let g = |o| Gather {
        parts: &fs,
        offload: Some(o),
    };
    assert_eq!(qv.tx_burst(&[g(csum), g(csum), g(csum)]), 3);
    let d = tx_descs(&dev, 0, 4);
    let TxDesc::Context(c) = d[0] else {
        panic!("context first: {d:?}")
    };
    assert_eq!(c, TxContextDesc::new(14, 20, 0, true, L4Type::Udp, 0, 0, 0));
    for x in &d[1..] {
        let TxDesc::Data(x) = x else {
            panic!("data descriptors after one context: {d:?}")
        };
        assert_eq!(
            x.cmd(),
            tx::cmd::EOP | tx::cmd::RS | tx::cmd::IFCS | tx::cmd::DEXT
        );
        assert_eq!(x.dtyp(), tx::DTYP_DATA);
        assert_eq!((x.len(), x.paylen()), (300, 300));
        assert!(x.ixsm() && x.txsm());
    }
    assert_eq!(qv.counters().snapshot().tx_contexts, 1);

    // A different request gets a new context; no offload needs none.
    let tso = TxOffload::tso(L3Type::Ipv4, 14, 20, 32, 1448);
    let big = frame(2, 14 + 20 + 32 + 65_000);
    let parts: [&[u8]; 3] = [&big[..14], &big[14..66], &big[66..]];
    let plain = frame(3, 60);
    assert_eq!(
        qv.tx_burst(&[
            Gather {
                parts: &parts,
                offload: Some(tso)
            },
            Gather {
                parts: &[&plain[..]],
                offload: None
            },
        ]),
        2
    );
    let descs = (big.len()).div_ceil(2048) as u32;
    assert_eq!(descs, 32);
    let d = tx_descs(&dev, 4, 4 + 1 + descs + 1);
    let TxDesc::Context(c) = d[0] else {
        panic!("TSO context: {:?}", d[0])
    };
    assert_eq!(
        (c.mss(), c.l4len(), c.maclen(), c.iplen()),
        (1448, 32, 14, 20)
    );
    assert_eq!(c.l4_type(), L4Type::Tcp);
    let data: Vec<TxDataDesc> = d[1..=descs as usize]
        .iter()
        .map(|x| match x {
            TxDesc::Data(x) => *x,
            other => panic!("{other:?}"),
        })
        .collect();
    for (i, x) in data.iter().enumerate() {
        assert!(x.tse() && x.ifcs());
        assert_eq!(x.paylen(), 65_000);
        assert_eq!(x.eop(), i + 1 == data.len());
        assert_eq!(x.rs(), i + 1 == data.len());
    }
    assert_eq!(
        data.iter().map(|x| x.len() as usize).sum::<usize>(),
        big.len()
    );
    let TxDesc::Data(p) = d[descs as usize + 1] else {
        panic!()
    };
    assert!(!p.tse() && !p.txsm() && !p.ixsm() && p.eop());
    assert_eq!(qv.counters().snapshot().tx_contexts, 2);

    // The loopback device does not segment: it hands the 64 KiB frame to
    // RX as one 32-buffer chain, which the driver refuses (larger than any
    // legal frame) while the frames around it arrive intact.
    dev.set_paused(false);
    dev.kick(0);
    let got = receive(&mut qv, 64);
    assert_eq!(got.len(), 4);
    assert_eq!(got[3], plain);
    assert_eq!(qv.counters().snapshot().rx_errors, 1);
}

#[test]
fn ring_tx_gather_crosses_buffers() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 16, 4096);
    let f = frame(9, 3000);
    let parts: [&[u8]; 4] = [&f[..10], &f[10..2047], &f[2047..2049], &f[2049..]];
    assert_eq!(
        qv.tx_burst(&[Gather {
            parts: &parts,
            offload: None
        }]),
        1
    );
    let got = receive(&mut qv, 4);
    assert_eq!(got, vec![f]);
}

#[test]
fn ring_tx_invalid_frames_counted_and_dropped() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 16, 2048);
    dev.set_paused(true);
    let ok = frame(1, 100);
    let huge = vec![0u8; MAX_TX_FRAME_FOR_TEST + 1];
    let bad_tso = TxOffload::tso(L3Type::Ipv4, 14, 20, 32, 0);
    let bad_udp_tso = TxOffload {
        l4: L4Type::Udp,
        ..TxOffload::tso(L3Type::Ipv4, 14, 20, 32, 1400)
    };
    let short_hdr = TxOffload::checksum(L3Type::Ipv6, L4Type::Tcp, 14, 20);
    let too_big_for_ring = frame(2, 14 + 20 + 20 + 40_000);
    let frames = [
        Gather {
            parts: &[],
            offload: None,
        },
        Gather {
            parts: &[&huge[..]],
            offload: None,
        },
        Gather {
            parts: &[&ok[..]],
            offload: Some(bad_tso),
        },
        Gather {
            parts: &[&ok[..]],
            offload: Some(bad_udp_tso),
        },
        Gather {
            parts: &[&ok[..]],
            offload: Some(short_hdr),
        },
        Gather {
            parts: &[&too_big_for_ring[..]],
            offload: Some(TxOffload::tso(L3Type::Ipv4, 14, 20, 20, 1460)),
        },
        Gather {
            parts: &[&ok[..]],
            offload: None,
        },
    ];
    assert_eq!(qv.tx_burst(&frames), 7, "bad frames are taken and dropped");
    let c = qv.counters().snapshot();
    assert_eq!(c.tx_errors, 6);
    assert_eq!(qv.tx().in_flight(), 1);
}

const MAX_TX_FRAME_FOR_TEST: usize = 16128;

#[test]
fn ring_port_interrupt_setup() {
    let dev = LoopDev::new(4);
    let cfg = PortConfig {
        queues: 3,
        rx: RxConfig {
            ring_size: 32,
            ..RxConfig::default()
        },
        tx: TxConfig {
            ring_size: 32,
            ..TxConfig::default()
        },
        itr: Itr::Max20k,
        ..PortConfig::default()
    };
    let (port, vectors) = Port::open(dev.clone(), &cfg).unwrap();
    assert_eq!(port.num_queues(), 3);
    assert_eq!(vectors.len(), 3);
    let g = dev.reg(regs::GPIE);
    assert_eq!(
        g & (gpie::MSIX_MODE | gpie::EIAME),
        gpie::MSIX_MODE | gpie::EIAME
    );
    assert_eq!(dev.reg(regs::ivar(0)), 0x8080);
    assert_eq!(dev.reg(regs::ivar(1)), 0x8181);
    assert_eq!(dev.reg(regs::ivar(2)), 0x8282);
    assert_eq!(dev.reg(regs::ivar(3)), 0);
    assert_eq!(dev.reg(regs::EIAC), 0b111);
    assert_eq!(dev.reg(regs::EIAM), 0b111);
    assert_eq!(dev.reg(regs::EIMS), 0b111);
    assert_eq!(dev.reg(regs::eitr(1)), 196);
    assert_ne!(dev.reg(regs::RCTL) & regs::rctl::EN, 0);
    assert_ne!(dev.reg(regs::TCTL) & regs::tctl::EN, 0);
    assert_eq!(
        dev.reg(regs::MRQC) & regs::mrqc::MODE_MASK,
        regs::mrqc::ENABLE_RSS
    );
    assert_ne!(dev.reg(regs::RXCSUM) & regs::rxcsum::PCSD, 0);
    // RETA spreads over the three queues; key is the symmetric one.
    let reta0 = dev.reg(regs::reta(0)).to_le_bytes();
    assert_eq!(reta0, [0, 1, 2, 0]);
    assert_eq!(
        dev.reg(regs::rssrk(0)).to_le_bytes(),
        [0x6d, 0x5a, 0x6d, 0x5a]
    );
    assert_eq!(
        Port::open(
            dev.clone(),
            &PortConfig {
                queues: 5,
                ..cfg.clone()
            }
        )
        .unwrap_err()
        .kind(),
        std::io::ErrorKind::InvalidInput
    );
    drop(vectors);
    assert_eq!(dev.reg(regs::EIMS), 0, "vectors masked on drop");
}

/// The NAPI cycle: the vector fires once and auto-masks; the poll stays
/// within budget; re-enabling fires again for work that arrived meanwhile.
#[test]
fn ring_napi_poll_and_irq_enable() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 256, 2048);
    let wakes = Arc::new(CountWake::default());
    qv.set_waker(Some(Waker::from(wakes.clone())));
    qv.enable_irq();
    assert_eq!(dev.reg(regs::EIMS), 1);

    let frames: Vec<Vec<u8>> = (0..100).map(|i| frame(i, 64)).collect();
    assert_eq!(qv.tx_burst(&frames), 100);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(dev.reg(regs::EIMS), 0, "auto-masked when it fired");
    assert_eq!(dev.reg(regs::EICR), 0, "auto-cleared when it fired");

    // More traffic while masked: the cause is latched, no wake.
    assert_eq!(qv.tx_burst(&frames[..10]), 10);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(dev.reg(regs::EICR), 1);

    let mut n = 0;
    assert_eq!(qv.poll(NAPI_WEIGHT, |_| n += 1), NAPI_WEIGHT);
    assert_eq!(qv.poll(NAPI_WEIGHT, |_| n += 1), 46);
    assert_eq!(n, 110);
    // Under budget: the runtime completes and re-enables; the latched cause
    // fires at once.
    qv.enable_irq();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
    assert_eq!(qv.poll(NAPI_WEIGHT, |_| n += 1), 0);
    qv.enable_irq();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
    assert_eq!(dev.reg(regs::EIMS), 1);
    let c = qv.counters().snapshot();
    assert_eq!((c.polls, c.irq_enables), (3, 3));
    // Software trigger.
    qv.trigger_irq();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 3);
}

/// A descriptor pointing outside the DMA region faults in the device and
/// nothing else happens.
#[test]
fn ring_dma_fault_on_bad_buffer_address() {
    let dev = LoopDev::new(1);
    let mut qv = vector(&dev, 8, 2048);
    let (base, _) = dev.rx_ring(0);
    let mem = &**dev.dma();
    handoff::publish(
        mem,
        handoff::slot(base, 0),
        &crate::desc::RxDescRead::new(0x10),
    )
    .unwrap();
    let before = mem.fault_count();
    assert_eq!(qv.tx_burst(&[frame(1, 60)]), 1);
    assert_eq!(mem.fault_count(), before + 1);
    let _ = receive(&mut qv, 8);
}

#[test]
fn ring_stats_snapshot_names() {
    let dev = LoopDev::new(2);
    let cfg = PortConfig {
        queues: 2,
        rx: RxConfig {
            ring_size: 16,
            ..RxConfig::default()
        },
        tx: TxConfig {
            ring_size: 16,
            ..TxConfig::default()
        },
        ..PortConfig::default()
    };
    let (port, mut vectors) = Port::open(dev.clone(), &cfg).unwrap();
    assert_eq!(vectors[1].tx_burst(&[frame(1, 100), frame(2, 50)]), 2);
    assert_eq!(vectors[1].poll(64, |_| {}), 2);
    let s = port.stats();
    assert_eq!(s.queues[1].rx_packets, 2);
    assert_eq!(s.queues[1].tx_packets, 2);
    assert_eq!(s.queues[0].rx_packets, 0);
    assert_eq!(s.total().rx_bytes, 150);
    assert_eq!(s.get("rx_packets"), Some(2));
    assert_eq!(s.get("queue_1_tx_bytes"), Some(150));
    assert_eq!(s.get("rx_no_buffer_count"), Some(0));
    assert_eq!(s.get("nonexistent"), None);
    let names: Vec<String> = s.entries().into_iter().map(|e| e.0).collect();
    assert!(names.contains(&"queue_0_rx_errors".to_string()));
    let _ = Descriptor::to_words(&RxDescWb::default());
}
