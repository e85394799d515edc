//! Receive classification of the emulated igb: RSS queue choice and hash
//! write-back, packet types, checksum verification.

mod model_util;

use std::net::Ipv4Addr;

use model_util::*;
use netrt_igb::attach::{Endpoint, RxMeta};
use netrt_igb::desc::{CsumState, RssType};
use netrt_igb::regs::{self, mrqc, rxcsum};
use netrt_igb::rss::{self, Toeplitz, SYMMETRIC_KEY, VERIFICATION_KEY};

const QUEUES: u16 = 4;

fn program_rss(rig: &Rig, key: &[u8; 40], reta: &[u8; 128], fields: u32) {
    for (i, k) in key.chunks_exact(4).enumerate() {
        rig.w(
            regs::rssrk(i as u32),
            u32::from_le_bytes(k.try_into().unwrap()),
        );
    }
    for (i, e) in reta.chunks_exact(4).enumerate() {
        rig.w(
            regs::reta(i as u32),
            u32::from_le_bytes(e.try_into().unwrap()),
        );
    }
    rig.w(regs::MRQC, mrqc::ENABLE_RSS | fields);
    rig.w(regs::RXCSUM, rxcsum::PCSD | rxcsum::IPOFLD | rxcsum::TUOFLD);
}

/// A RETA that is not the identity pattern, so a wrong index shows.
fn scrambled_reta() -> [u8; 128] {
    std::array::from_fn(|i| ((i * 7 + i / 16) % QUEUES as usize) as u8 | 0x30)
}

fn flow_frame(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    let spec = FrameSpec {
        proto,
        src: src.octets(),
        dst: dst.octets(),
        sport,
        dport,
        ..Default::default()
    };
    build(&spec, &pattern(64, 1), Csum::Full)
}

/// Which queue received the single frame delivered, and its write-back.
fn receive_one(rig: &mut Rig, frame: &[u8]) -> (u16, Received) {
    deliver(&rig.model, frame);
    let mut found = None;
    for q in 0..QUEUES {
        let mut got = rig.recv(q);
        if let Some(r) = got.pop() {
            assert!(found.is_none() && got.is_empty(), "frame on several queues");
            found = Some((q, r));
        }
    }
    found.expect("frame received")
}

#[test]
fn rss_matches_verification_vectors() {
    let mut rig = Rig::new(QUEUES, MAC_B);
    let reta = scrambled_reta();
    program_rss(
        &rig,
        &VERIFICATION_KEY,
        &reta,
        mrqc::FIELD_IPV4 | mrqc::FIELD_IPV4_TCP | mrqc::FIELD_IPV4_UDP,
    );
    // (destination, source, 2-tuple hash, 4-tuple hash) from IGB.md.
    let vectors = [
        (
            "161.142.100.80",
            1766,
            "66.9.149.187",
            2794,
            0x323e8fc2u32,
            0x51ccc178u32,
        ),
        (
            "65.69.140.83",
            4739,
            "199.92.111.2",
            14230,
            0xd718262a,
            0xc626b0ea,
        ),
        (
            "12.22.207.184",
            38024,
            "24.19.198.95",
            12898,
            0xd2d0a5de,
            0x5c2b394a,
        ),
    ];
    for (dst, dport, src, sport, h2, h4) in vectors {
        let (src, dst): (Ipv4Addr, Ipv4Addr) = (src.parse().unwrap(), dst.parse().unwrap());
        let (q, r) = receive_one(&mut rig, &flow_frame(6, src, dst, sport, dport));
        let wb = r.last();
        assert_eq!(wb.rss, h4, "TCP 4-tuple hash for {src}");
        assert_eq!(wb.rss_type(), RssType::Ipv4Tcp);
        assert_eq!(q, rss::reta_queue(&reta, h4));
        assert_eq!(wb.packet_type(), 0x0110, "IPv4 + TCP");
        // UDP uses the same 4-tuple.
        let (q, r) = receive_one(&mut rig, &flow_frame(17, src, dst, sport, dport));
        assert_eq!((r.last().rss, r.last().rss_type()), (h4, RssType::Ipv4Udp));
        assert_eq!(r.last().packet_type(), 0x0210);
        assert_eq!(q, rss::reta_queue(&reta, h4));
        // Another protocol (ICMP): the 2-tuple.
        let (q, r) = receive_one(&mut rig, &flow_frame(1, src, dst, sport, dport));
        assert_eq!((r.last().rss, r.last().rss_type()), (h2, RssType::Ipv4));
        assert_eq!(q, rss::reta_queue(&reta, h2));
        assert_eq!(r.last().packet_type(), 0x0010);
    }
}

#[test]
fn rss_fields_and_fallbacks() {
    let mut rig = Rig::new(QUEUES, MAC_B);
    let reta = scrambled_reta();
    let t = Toeplitz::new(&VERIFICATION_KEY);
    let (a, b) = (Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(10, 4, 5, 6));
    // Only the 2-tuple enabled: TCP hashes on addresses.
    program_rss(&rig, &VERIFICATION_KEY, &reta, mrqc::FIELD_IPV4);
    let (q, r) = receive_one(&mut rig, &flow_frame(6, a, b, 1, 2));
    let h2 = t.hash(&rss::ipv4_2tuple(a, b));
    assert_eq!(
        (r.last().rss, r.last().rss_type(), q),
        (h2, RssType::Ipv4, rss::reta_queue(&reta, h2))
    );
    // A fragment has no ports: the 2-tuple even with 4-tuple fields on.
    program_rss(
        &rig,
        &VERIFICATION_KEY,
        &reta,
        mrqc::FIELD_IPV4 | mrqc::FIELD_IPV4_TCP,
    );
    let mut frag = flow_frame(6, a, b, 1, 2);
    frag[20] = 0x20; // MF
    frag[24..26].copy_from_slice(&[0, 0]);
    let c = naive_csum(&[&frag[14..34]]);
    frag[24..26].copy_from_slice(&c.to_be_bytes());
    let (_, r) = receive_one(&mut rig, &frag);
    assert_eq!((r.last().rss, r.last().rss_type()), (h2, RssType::Ipv4));
    assert_eq!(r.last().packet_type(), 0x0010, "no L4 type on a fragment");
    // Non-IP: queue 0, no hash.
    let mut arp = vec![0xffu8; 6];
    arp.extend_from_slice(&MAC_A);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.resize(60, 0);
    let (q, r) = receive_one(&mut rig, &arp);
    assert_eq!(
        (q, r.last().rss, r.last().rss_type(), r.last().packet_type()),
        (0, 0, RssType::None, 0)
    );
    // PCSD clear: no hash written back, but steering still uses it.
    rig.w(regs::RXCSUM, rxcsum::IPOFLD | rxcsum::TUOFLD);
    let f = flow_frame(6, a, b, 1000, 2000);
    let h4 = t.hash(&rss::ipv4_4tuple(a, b, 1000, 2000));
    let (q, r) = receive_one(&mut rig, &f);
    assert_eq!((q, r.last().rss), (rss::reta_queue(&reta, h4), 0));
    // RSS disabled: everything on queue 0.
    rig.w(regs::MRQC, 0);
    let (q, r) = receive_one(&mut rig, &f);
    assert_eq!((q, r.last().rss_type()), (0, RssType::None));
    // A RETA entry naming a missing queue drops the frame, counted.
    program_rss(&rig, &VERIFICATION_KEY, &[0x0F; 128], mrqc::FIELD_IPV4);
    deliver(&rig.model, &f);
    assert!((0..QUEUES).all(|q| rig.recv(q).is_empty()));
    assert_eq!(rig.model.counters().rx_no_queue, 1);
    assert_eq!(rig.r(regs::stats::MPC), 1);
}

#[test]
fn symmetric_key_keeps_both_directions_on_one_queue() {
    let mut rig = Rig::new(QUEUES, MAC_B);
    let reta = rss::default_reta(QUEUES);
    program_rss(
        &rig,
        &SYMMETRIC_KEY,
        &reta,
        mrqc::FIELD_IPV4 | mrqc::FIELD_IPV4_TCP,
    );
    let mut seen = [0u32; QUEUES as usize];
    for i in 0..64u16 {
        let a = Ipv4Addr::new(192, 168, 0, 1 + (i % 7) as u8);
        let b = Ipv4Addr::new(10, 0, (i / 3) as u8, 9);
        let (sport, dport) = (30000 + i * 17, 80 + i);
        let (q1, r1) = receive_one(&mut rig, &flow_frame(6, a, b, sport, dport));
        let (q2, r2) = receive_one(&mut rig, &flow_frame(6, b, a, dport, sport));
        assert_eq!(r1.last().rss, r2.last().rss);
        assert_eq!(q1, q2);
        seen[q1 as usize] += 1;
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "flows spread over all queues: {seen:?}"
    );
}

#[test]
fn checksum_verification() {
    let mut rig = Rig::new(1, MAC_B);
    let spec = FrameSpec::default();
    let good = build(&spec, &pattern(300, 5), Csum::Full);
    let csum_of = |rig: &mut Rig, f: &[u8], meta: RxMeta| {
        Endpoint::deliver(&*rig.model, f, &meta);
        let r = rig.recv(0).pop().expect("received");
        r.last().checksum()
    };
    let c = csum_of(&mut rig, &good, RxMeta::default());
    assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
    // One flipped payload byte: L4 error; a flipped header byte: IP error.
    let mut bad_l4 = good.clone();
    bad_l4[100] ^= 0x10;
    let c = csum_of(&mut rig, &bad_l4, RxMeta::default());
    assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Bad));
    let mut bad_ip = good.clone();
    bad_ip[22] ^= 0x01; // TTL
    let c = csum_of(&mut rig, &bad_ip, RxMeta::default());
    assert_eq!(c.ip, CsumState::Bad);
    // UDP: good, bad, and "no checksum" (0) which is not checked.
    let uspec = FrameSpec {
        proto: 17,
        ..Default::default()
    };
    let udp = build(&uspec, &pattern(51, 2), Csum::Full);
    let c = csum_of(&mut rig, &udp, RxMeta::default());
    assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
    let mut no_ck = udp.clone();
    no_ck[40..42].copy_from_slice(&[0, 0]);
    let c = csum_of(&mut rig, &no_ck, RxMeta::default());
    assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::NotChecked));
    // Offload metadata from the wire: the L4 field holds only the seed,
    // and the device reports it verified (like veth).
    let seeded = build(&spec, &pattern(300, 5), Csum::Seeded);
    let mut seeded_ipok = seeded.clone();
    let c = naive_csum(&[&seeded_ipok[14..34]]);
    seeded_ipok[24..26].copy_from_slice(&c.to_be_bytes());
    let c = csum_of(
        &mut rig,
        &seeded_ipok,
        RxMeta {
            csum_verified: false,
        },
    );
    assert_eq!(c.l4, CsumState::Bad, "a seed alone is not a checksum");
    let c = csum_of(
        &mut rig,
        &seeded_ipok,
        RxMeta {
            csum_verified: true,
        },
    );
    assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
    // Offloads disabled in RXCSUM: nothing checked.
    rig.w(regs::RXCSUM, 0);
    let c = csum_of(&mut rig, &bad_l4, RxMeta::default());
    assert_eq!((c.ip, c.l4), (CsumState::NotChecked, CsumState::NotChecked));
    // Non-IP: nothing checked.
    rig.w(regs::RXCSUM, rxcsum::IPOFLD | rxcsum::TUOFLD);
    let mut other = good.clone();
    other[12..14].copy_from_slice(&[0x88, 0xb5]);
    let c = csum_of(&mut rig, &other, RxMeta::default());
    assert_eq!((c.ip, c.l4), (CsumState::NotChecked, CsumState::NotChecked));
}

#[test]
fn garbage_frames_never_panic() {
    let mut rig = Rig::new(QUEUES, MAC_B);
    program_rss(
        &rig,
        &SYMMETRIC_KEY,
        &rss::default_reta(QUEUES),
        mrqc::FIELD_IPV4 | mrqc::FIELD_IPV4_TCP | mrqc::FIELD_IPV4_UDP,
    );
    rig.w(
        regs::RCTL,
        regs::rctl::EN | regs::rctl::UPE | regs::rctl::MPE | regs::rctl::BAM | regs::rctl::LPE,
    );
    let base = build(&FrameSpec::default(), &pattern(80, 0), Csum::Full);
    let mut x = 0x1234_5678u32;
    let mut delivered = 0;
    for n in 0..3000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let mut f = if n % 3 == 0 {
            pattern((x % 200) as usize, x as u8)
        } else {
            base.clone()
        };
        for k in 0..(x % 5) {
            if !f.is_empty() {
                let at = (x.rotate_left(k * 7) as usize) % f.len();
                f[at] = (x >> (k * 3)) as u8;
            }
        }
        if f.len() >= 14 {
            delivered += 1;
        }
        deliver(&rig.model, &f);
        for q in 0..QUEUES {
            let got = rig.recv(q);
            let n = got.len() as u32;
            rig.post_rx(q, n);
        }
    }
    assert!(delivered > 2000);
}

#[test]
fn burst_spreads_over_queues_in_order_with_one_interrupt_each() {
    use netrt_igb::attach::{Burst, PartialCsum, TxMeta};
    use netrt_igb::regs::{gpie, ivar};
    use std::sync::atomic::Ordering;

    let mut rig = Rig::new(QUEUES, MAC_B);
    let reta = rss::default_reta(QUEUES);
    program_rss(
        &rig,
        &SYMMETRIC_KEY,
        &reta,
        mrqc::FIELD_IPV4 | mrqc::FIELD_IPV4_TCP,
    );
    // Queue q on vector q, auto-clear and auto-mask, all unmasked.
    rig.w(regs::GPIE, gpie::MSIX_MODE | gpie::EIAME);
    for q in 0..QUEUES {
        rig.w(regs::ivar(q), ivar::entry(q) | ivar::entry(q) << 8);
    }
    rig.w(regs::EIAC, 0xF);
    rig.w(regs::EIAM, 0xF);
    let counters: Vec<_> = (0..QUEUES)
        .map(|q| {
            let (c, w) = counting_waker();
            netrt_igb::device::IgbDevice::set_msix_waker(&*rig.model, q, Some(w));
            c
        })
        .collect();
    rig.w(regs::EIMS, 0xF);

    // 40 frames of 8 flows, interleaved; every other one with checksum
    // metadata (a seed-only checksum the device must report good only when
    // the wire is trusted).
    let t = Toeplitz::new(&SYMMETRIC_KEY);
    let mut burst = Burst::new();
    let mut expect: Vec<Vec<(u16, u32)>> = vec![Vec::new(); QUEUES as usize];
    for i in 0..40u32 {
        let flow = (i % 8) as u16;
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 1, 2));
        let spec = FrameSpec {
            src: a.octets(),
            dst: b.octets(),
            sport: 1000 + flow,
            dport: 80,
            seq: i,
            ..Default::default()
        };
        let seeded = i % 2 == 0;
        let mut f = build(
            &spec,
            &pattern(20, i as u8),
            if seeded { Csum::Seeded } else { Csum::Full },
        );
        if seeded {
            // IP checksum filled as the sending device would.
            let c = naive_csum(&[&f[14..34]]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
        }
        let meta = TxMeta {
            partial_csum: seeded.then_some(PartialCsum {
                start: 34,
                offset: 16,
            }),
            tso: None,
        };
        burst.push(&f, meta);
        let q = rss::reta_queue(&reta, t.hash(&rss::ipv4_4tuple(a, b, 1000 + flow, 80)));
        expect[q as usize].push((flow, i));
    }
    Endpoint::deliver_burst(&*rig.model, &burst, true);
    let mut total = 0;
    for q in 0..QUEUES {
        let got = rig.recv(q);
        let seen: Vec<(u16, u32)> = got
            .iter()
            .map(|r| {
                let c = r.last().checksum();
                assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
                let sport = u16::from_be_bytes([r.data[34], r.data[35]]);
                let seq = u32::from_be_bytes(r.data[38..42].try_into().unwrap());
                (sport - 1000, seq)
            })
            .collect();
        assert_eq!(seen, expect[q as usize], "queue {q}: frames in order");
        let wakes = counters[q as usize].0.load(Ordering::SeqCst);
        assert_eq!(
            wakes,
            usize::from(!seen.is_empty()),
            "queue {q}: one interrupt per burst"
        );
        total += seen.len();
    }
    assert_eq!(total, 40);
    assert!(
        expect.iter().filter(|e| !e.is_empty()).count() >= 2,
        "the flows cover several queues"
    );

    // Untrusted wire: the seed-only checksums are verified, and fail.
    rig.w(regs::EIMS, 0xF);
    Endpoint::deliver_burst(&*rig.model, &burst, false);
    let bad: usize = (0..QUEUES)
        .flat_map(|q| rig.recv(q))
        .filter(|r| r.last().checksum().l4 == CsumState::Bad)
        .count();
    assert_eq!(bad, 20);
}
