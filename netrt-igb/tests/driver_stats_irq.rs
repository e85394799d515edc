//! Driver acceptance tests against the emulated igb: statistics
//! (clear-on-read hardware counters folded into totals), the MSI-X / NAPI
//! cycle, and TSO / checksum offload requests end to end.

mod driver_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

use driver_support::*;
use netrt_igb::desc::{CsumState, L4Type};
use netrt_igb::device::IgbDevice;
use netrt_igb::driver::{Gather, L3Type, RxFrame, TxOffload, NAPI_WEIGHT, TX_CLEAN_LIMIT};
use netrt_igb::regs::{self, stats};

/// Good packet/octet counters on both sides match what was sent; reading
/// clears the registers while the driver's totals keep growing; drops for
/// lack of descriptors show up in RNBC/MPC.
#[test]
fn statistics_count_and_clear_on_read() {
    let mut p = pair(Side::ring(64), Side::ring(8));
    let lens: Vec<usize> = (0..5).map(|i| 60 + 97 * i).collect();
    let frames: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| frame(i as u32, l))
        .collect();
    let mut total = 0;
    for _ in 0..4 {
        assert_eq!(p.va.tx_burst(&frames), 5);
        total += drain(&mut p.vb).len();
    }
    assert_eq!(total, 20);
    let octets: u64 = 4 * lens.iter().map(|&l| l as u64 + 4).sum::<u64>();
    // TX packets/bytes are counted when completions are reclaimed.
    assert_eq!(p.port_a.stats().queues[0].tx_packets, 0);
    assert_eq!(p.va.tx().clean(TX_CLEAN_LIMIT), 20);

    let (sa, sb) = (p.port_a.stats(), p.port_b.stats());
    assert_eq!(
        (sa.hw.gptc, sa.hw.gotc),
        (20, octets),
        "sender, FCS included"
    );
    assert_eq!(
        (sb.hw.gprc, sb.hw.gorc),
        (20, octets),
        "receiver, FCS included"
    );
    assert_eq!((sb.hw.rnbc, sb.hw.mpc), (0, 0));
    assert_eq!(sb.queues[0].rx_packets, 20);
    assert_eq!(
        sb.queues[0].rx_bytes,
        octets - 20 * 4,
        "software bytes exclude the FCS"
    );
    assert_eq!(sa.queues[0].tx_bytes, octets - 20 * 4);
    assert_eq!(sb.get("hw_rx_packets"), Some(20));

    // Clear on read: the registers are zero now, the totals stay.
    for r in [
        stats::GPRC,
        stats::GORCL,
        stats::GORCH,
        stats::RNBC,
        stats::MPC,
    ] {
        assert_eq!(p.b.read_reg(r), 0, "register {r:#x} cleared by the read");
    }
    for r in [stats::GPTC, stats::GOTCL, stats::GOTCH] {
        assert_eq!(p.a.read_reg(r), 0, "register {r:#x} cleared by the read");
    }
    assert_eq!(p.port_b.stats().hw, sb.hw, "nothing new, totals unchanged");

    // B's 8-descriptor ring holds 7 frames; the other 13 of a 20-frame
    // burst are dropped for lack of descriptors.
    let burst: Vec<Vec<u8>> = (0..20).map(|i| frame(100 + i, 100)).collect();
    assert_eq!(p.va.tx_burst(&burst), 20);
    p.va.tx().clean(TX_CLEAN_LIMIT);
    let got = drain(&mut p.vb);
    assert_eq!(got.len(), 7);
    let sb2 = p.port_b.stats();
    assert_eq!(sb2.hw.gprc, 27);
    assert_eq!(sb2.hw.rnbc, 13);
    assert_eq!(sb2.hw.mpc, 13);
    assert_eq!(sb2.get("rx_no_buffer_count"), Some(13));
    let sa2 = p.port_a.stats();
    assert_eq!(sa2.hw.gptc, 40);
    assert_eq!(sa2.queues[0].tx_packets, 40);
}

#[derive(Default)]
struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The vector fires once per unmasked period (auto-mask), the poll
/// respects its budget, and re-enabling fires at once for work that
/// arrived while masked.
#[test]
fn napi_cycle_with_msix_auto_mask() {
    let mut p = pair(Side::ring(256), Side::ring(256));
    let wakes = Arc::new(CountWake::default());
    p.vb.set_waker(Some(Waker::from(wakes.clone())));
    let count = || wakes.0.load(Ordering::SeqCst);
    assert_eq!(
        p.b.read_reg(regs::EIMS) & 1,
        1,
        "vector enabled by Port::open"
    );

    let frames: Vec<Vec<u8>> = (0..100).map(|i| frame(i, 80)).collect();
    assert_eq!(p.va.tx_burst(&frames), 100);
    assert_eq!(count(), 1, "fired once for the burst");
    assert_eq!(p.b.read_reg(regs::EIMS) & 1, 0, "auto-masked");

    // More frames while masked: no wake.
    assert_eq!(p.va.tx_burst(&frames[..30]), 30);
    assert_eq!(count(), 1);

    let mut n = 0;
    assert_eq!(p.vb.poll(NAPI_WEIGHT, |_: RxFrame<'_>| n += 1), NAPI_WEIGHT);
    assert_eq!(p.vb.poll(NAPI_WEIGHT, |_: RxFrame<'_>| n += 1), NAPI_WEIGHT);
    assert_eq!(p.vb.poll(NAPI_WEIGHT, |_: RxFrame<'_>| n += 1), 2);
    assert_eq!(n, 130);
    // Under budget: complete and unmask. The cause latched while masked
    // (the 30 frames) fires now.
    p.vb.enable_irq();
    assert_eq!(count(), 2);
    assert_eq!(p.vb.poll(NAPI_WEIGHT, |_: RxFrame<'_>| n += 1), 0);
    p.vb.enable_irq();
    assert_eq!(count(), 2, "nothing pending: no spurious wake");
    assert_eq!(p.b.read_reg(regs::EIMS) & 1, 1);
    assert_eq!(p.b.model.interrupts_fired(0), 2);
    p.vb.set_waker(None);
}

/// Builds an Ethernet/IPv4/TCP frame with `payload` bytes of data, its TCP
/// checksum field seeded for TSO (pseudo-header sum without the length).
fn tcp_frame(payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; 54 + payload];
    f[..6].copy_from_slice(&MAC_B);
    f[6..12].copy_from_slice(&MAC_A);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + 20 + payload).min(0xFFFF) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&7u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&1000u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x18; // PSH|ACK
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    // Pseudo-header seed: addresses and protocol, no length.
    let pseudo = [10u8, 0, 0, 1, 10, 0, 0, 2, 0, 6];
    let seed = !internet_checksum(&pseudo);
    f[50..52].copy_from_slice(&seed.to_be_bytes());
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    f
}

/// A 64 KiB TSO request spans 32 TX descriptors and comes out of the
/// device as MSS-sized segments carrying the payload in order.
#[test]
fn tso_64k_is_segmented_by_the_device() {
    let mut p = pair(Side::ring(256), Side::ring(256));
    let payload = 65_000;
    let f = tcp_frame(payload);
    let mss = 1448u16;
    let req = TxOffload::tso(L3Type::Ipv4, 14, 20, 20, mss);
    let parts: [&[u8]; 2] = [&f[..54], &f[54..]];
    let before = p.va.tx().free_descriptors();
    assert_eq!(
        p.va.tx_burst(&[Gather {
            parts: &parts,
            offload: Some(req)
        }]),
        1
    );
    assert_eq!(
        before - p.va.tx().free_descriptors(),
        1 + f.len().div_ceil(2048) as u32,
        "one context and one data descriptor per 2 KiB buffer (until reclaimed)"
    );
    let mut data = Vec::new();
    let mut segs = 0;
    let mut seqs = Vec::new();
    p.vb.poll(64, |fr: RxFrame<'_>| {
        let mut b = vec![0; fr.len()];
        fr.copy_to(&mut b);
        assert!(b.len() <= 54 + mss as usize);
        let tot = u16::from_be_bytes([b[16], b[17]]) as usize;
        assert_eq!(tot, b.len() - 14, "IP total length fixed per segment");
        seqs.push(u32::from_be_bytes([b[38], b[39], b[40], b[41]]));
        assert_eq!(fr.checksum().l4, CsumState::Good);
        data.extend_from_slice(&b[54..]);
        segs += 1;
    });
    assert_eq!(segs, payload.div_ceil(mss as usize));
    assert_eq!(data, f[54..]);
    for (i, s) in seqs.iter().enumerate() {
        assert_eq!(*s, 1000 + (i * mss as usize) as u32);
    }
    assert_eq!(p.va.tx().clean(TX_CLEAN_LIMIT), 1, "one frame reclaimed");
    assert_eq!(p.port_a.stats().hw.tsctc, 1);
    assert_eq!(p.port_a.stats().queues[0].tx_contexts, 1);
}

/// Checksum offload requests reach the device: a UDP frame with a seeded
/// checksum arrives verified on the other side.
#[test]
fn checksum_offload_request_is_honoured() {
    let mut p = pair(Side::ring(64), Side::ring(64));
    let mut f = tcp_frame(100);
    // Turn it into UDP.
    f[23] = 17;
    f[24..26].fill(0); // the device fills the IPv4 header checksum (IXSM)
    let udp_len = (8 + 112) as u16;
    f[38..40].copy_from_slice(&udp_len.to_be_bytes());
    f.truncate(34 + udp_len as usize);
    f[16..18].copy_from_slice(&(20 + udp_len).to_be_bytes());
    // Pseudo-header seed with the length (CHECKSUM_PARTIAL convention).
    let mut pseudo = vec![10u8, 0, 0, 1, 10, 0, 0, 2, 0, 17];
    pseudo.extend_from_slice(&udp_len.to_be_bytes());
    let seed = !internet_checksum(&pseudo);
    f[40..42].copy_from_slice(&seed.to_be_bytes());
    let req = TxOffload::checksum(L3Type::Ipv4, L4Type::Udp, 14, 20);
    assert_eq!(
        p.va.tx_burst(&[Gather {
            parts: &[&f[..]],
            offload: Some(req)
        }]),
        1
    );
    let mut seen = 0;
    p.vb.poll(64, |fr: RxFrame<'_>| {
        let c = fr.checksum();
        assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
        let b = fr.as_slice().expect("one buffer");
        assert_eq!(
            internet_checksum(&b[14..34]),
            0,
            "IPv4 header checksum inserted"
        );
        seen += 1;
    });
    assert_eq!(seen, 1);
}
