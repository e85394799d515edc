//! Transmit engine of the emulated igb: descriptor walking, TSO, checksum
//! offload, padding, DD write-back, statistics. Every checksum is verified
//! with the naive routine in `model_util`, not the model's own code.

mod model_util;

use model_util::*;
use netrt_igb::attach::{PartialCsum, TxMeta};
use netrt_igb::desc::{tx, L4Type, TxContextDesc, TxDataDesc};
use netrt_igb::regs::{self, stats, tctl, txq};

const CMD: u32 = tx::cmd::IFCS;
const LAST: u32 = tx::cmd::EOP | tx::cmd::RS | tx::cmd::IFCS;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// Sends a TSO frame: context, header descriptor, payload in 16 KiB pieces.
fn send_tso(rig: &mut Rig, frame: &[u8], hdr: usize, mss: u16, tcp_hlen: u8) -> u32 {
    let ctx = TxContextDesc::new(14, 20, 0, true, L4Type::Tcp, mss, tcp_hlen, 1);
    let paylen = (frame.len() - hdr) as u32;
    let olinfo = TxDataDesc::olinfo(paylen, 1, true, true);
    let mut parts: Vec<(&[u8], u32, u32)> = vec![(&frame[..hdr], CMD | tx::cmd::TSE, olinfo)];
    let chunks: Vec<&[u8]> = frame[hdr..].chunks(TX_BUF).collect();
    for (i, c) in chunks.iter().enumerate() {
        let cmd = if i + 1 == chunks.len() { LAST } else { CMD };
        parts.push((c, cmd | tx::cmd::TSE, olinfo));
    }
    let tail = rig.stage_tx(0, Some(ctx), &parts);
    rig.kick_tx(0);
    tail
}

#[test]
fn tso_64k_at_mss_1448() {
    let mut rig = Rig::new(1, MAC_A);
    let cap = Capture::new(false);
    rig.model.set_attachment(cap.clone());
    let payload = pattern(65536, 3);
    let spec = FrameSpec {
        tcp_flags: 0x19 | 0x80,
        tcp_hlen: 32,
        seq: 0xFFFF_F000,
        ip_id: 0xFFF0,
        ..Default::default()
    }; // FIN|PSH|ACK|CWR
    let frame = build(&spec, &payload, Csum::SeededNoLen);
    let hdr = 14 + 20 + 32;
    let tail = send_tso(&mut rig, &frame, hdr, 1448, 32);

    let out = cap.take();
    let expect = 65536usize.div_ceil(1448);
    assert_eq!(expect, 46);
    assert_eq!(out.len(), expect, "segment count");
    let mut joined = Vec::new();
    for (i, (seg, meta)) in out.iter().enumerate() {
        let last = i + 1 == expect;
        let chunk = if last { 65536 - 45 * 1448 } else { 1448 };
        assert_eq!(chunk, if last { 376 } else { 1448 });
        assert_eq!(seg.len(), hdr + chunk, "segment {i} length");
        assert_eq!(
            meta,
            &TxMeta::default(),
            "checksums are real when the wire cannot carry them"
        );
        // Ethernet header copied.
        assert_eq!(&seg[..14], &frame[..14]);
        // IP: total length, id +1 per segment (wrapping), checksum.
        assert_eq!(be16(seg, 16) as usize, 20 + 32 + chunk);
        assert_eq!(be16(seg, 18), 0xFFF0u16.wrapping_add(i as u16));
        assert!(ip_csum_ok(seg), "segment {i} IP checksum");
        // TCP: sequence, flags, options, checksum.
        assert_eq!(
            be32(seg, 38),
            0xFFFF_F000u32.wrapping_add((i * 1448) as u32)
        );
        let flags = seg[47];
        assert_eq!(flags & 0x10, 0x10, "ACK everywhere");
        assert_eq!(
            flags & 0x80,
            0x80,
            "CWR kept (DTXTCPFLG defaults mask FIN/PSH only)"
        );
        assert_eq!(
            flags & 0x09 != 0,
            last,
            "FIN/PSH on the last segment only (segment {i})"
        );
        if last {
            assert_eq!(flags & 0x09, 0x09);
        }
        assert_eq!(seg[46] >> 4, 8, "data offset");
        assert_eq!(&seg[54..66], &frame[54..66], "TCP options copied");
        assert!(l4_csum_ok(seg), "segment {i} TCP checksum");
        joined.extend_from_slice(&seg[hdr..]);
    }
    assert_eq!(joined, payload);

    // Descriptors: context + header + 4 payload pieces, all consumed.
    assert_eq!(tail, 6);
    assert_eq!(rig.tdh(0), 6);
    assert!(rig.tx_dd(0, 5), "RS on the last descriptor gets DD");
    assert!(!rig.tx_dd(0, 1), "no RS, no write-back");
    // Statistics: one TSO context, 46 frames, octets with FCS.
    assert_eq!(rig.r(stats::TSCTC), 1);
    assert_eq!(rig.r(stats::GPTC), 46);
    let octets: u64 = out.iter().map(|(s, _)| s.len() as u64 + 4).sum();
    let lo = rig.r(stats::GOTCL) as u64;
    let hi = rig.r(stats::GOTCH) as u64;
    assert_eq!(hi << 32 | lo, octets);
    assert_eq!(
        (rig.r(stats::GPTC), rig.r(stats::TSCTC), rig.r(stats::GOTCL)),
        (0, 0, 0),
        "clear on read"
    );
}

#[test]
fn tso_with_checksum_metadata_leaves_seeds() {
    let mut rig = Rig::new(1, MAC_A);
    let cap = Capture::new(true);
    rig.model.set_attachment(cap.clone());
    let payload = pattern(5000, 9);
    let spec = FrameSpec::default();
    let frame = build(&spec, &payload, Csum::SeededNoLen);
    send_tso(&mut rig, &frame, 54, 1000, 20);
    let out = cap.take();
    assert_eq!(out.len(), 5);
    for (seg, meta) in &out {
        assert_eq!(
            meta.partial_csum,
            Some(PartialCsum {
                start: 34,
                offset: 16
            })
        );
        assert!(ip_csum_ok(seg), "the IP header checksum is always filled");
        // The field holds the pseudo-header sum with this segment's length:
        // folding the L4 bytes in (what the receiver of CHECKSUM_PARTIAL
        // would do) gives a valid checksum.
        let l4_len = seg.len() - 34;
        let seed = !naive_csum(&[&pseudo(SRC_IP, DST_IP, 6, l4_len as u16)]);
        assert_eq!(be16(seg, 50), seed);
        let mut fixed = seg.clone();
        let c = naive_csum(&[&fixed[34..]]);
        fixed[50..52].copy_from_slice(&c.to_be_bytes());
        assert!(l4_csum_ok(&fixed));
    }
}

#[test]
fn checksum_offload_tcp_and_udp() {
    let mut rig = Rig::new(1, MAC_A);
    let cap = Capture::new(false);
    rig.model.set_attachment(cap.clone());
    for (proto, l4) in [(6u8, L4Type::Tcp), (17, L4Type::Udp)] {
        for len in [0usize, 1, 2, 3, 100, 1471] {
            let spec = FrameSpec {
                proto,
                ..Default::default()
            };
            let frame = build(&spec, &pattern(len, len as u8), Csum::Seeded);
            assert!(!ip_csum_ok(&frame) && (len == 0 || !l4_csum_ok(&frame)));
            let ctx = TxContextDesc::new(14, 20, 0, true, l4, 0, 0, 0);
            let olinfo = TxDataDesc::olinfo(frame.len() as u32, 0, true, true);
            rig.send(0, &frame, Some(ctx), 0, olinfo);
            let out = cap.take();
            assert_eq!(out.len(), 1);
            let seg = &out[0].0;
            let seg = &seg[..frame.len().max(60)];
            assert!(ip_csum_ok(seg), "proto {proto} len {len}: IP");
            assert!(l4_csum_ok(seg), "proto {proto} len {len}: L4");
            // Everything but the two checksum fields is unchanged.
            let field = 34 + if proto == 6 { 16 } else { 6 };
            for (j, (a, b)) in seg.iter().zip(&frame).enumerate() {
                if ![24, 25, field, field + 1].contains(&j) {
                    assert_eq!(a, b, "byte {j} changed");
                }
            }
        }
    }
    // IXSM alone: only the IP checksum.
    let frame = build(&FrameSpec::default(), b"abc", Csum::Seeded);
    let ctx = TxContextDesc::new(14, 20, 0, true, L4Type::Tcp, 0, 0, 0);
    rig.send(
        0,
        &frame,
        Some(ctx),
        0,
        TxDataDesc::olinfo(frame.len() as u32, 0, true, false),
    );
    let seg = &cap.take()[0].0;
    assert!(ip_csum_ok(seg));
    assert_eq!(
        &seg[50..52],
        &frame[50..52],
        "TCP field untouched without TXSM"
    );
}

#[test]
fn gather_padding_incomplete_frames_and_legacy() {
    let mut rig = Rig::new(1, MAC_A);
    let cap = Capture::new(false);
    rig.model.set_attachment(cap.clone());
    // A frame in three pieces.
    let frame = build(&FrameSpec::default(), &pattern(900, 1), Csum::Full);
    rig.stage_tx(
        0,
        None,
        &[
            (&frame[..14], CMD, 0),
            (&frame[14..500], CMD, 0),
            (&frame[500..], LAST, 0),
        ],
    );
    rig.kick_tx(0);
    assert_eq!(cap.take()[0].0, frame);
    assert_eq!(rig.tdh(0), 3);

    // Short frame: padded to 60 bytes with PSP, untouched without.
    let short = [0xAAu8; 42];
    rig.send(0, &short, None, 0, 0);
    let got = cap.take();
    assert_eq!(got[0].0.len(), 60);
    assert_eq!(&got[0].0[..42], &short[..]);
    assert!(got[0].0[42..].iter().all(|&b| b == 0));
    rig.w(regs::TCTL, tctl::EN);
    rig.send(0, &short, None, 0, 0);
    assert_eq!(cap.take()[0].0.len(), 42);
    rig.w(regs::TCTL, tctl::EN | tctl::PSP);

    // No EOP before the tail: nothing sent, head stays until the rest.
    let head = rig.tdh(0);
    rig.stage_tx(0, None, &[(&frame[..100], CMD, 0)]);
    rig.kick_tx(0);
    assert!(cap.take().is_empty());
    assert_eq!(rig.tdh(0), head);
    rig.stage_tx(0, None, &[(&frame[100..], LAST, 0)]);
    rig.kick_tx(0);
    assert_eq!(cap.take()[0].0, frame);
    assert_eq!(rig.tdh(0), head + 2);

    // A legacy descriptor (DEXT clear): length in bits 15:0, EOP|RS in the
    // command byte.
    let buf = rig.queues[0].tx_bufs.iova().add(40 * TX_BUF as u64);
    rig.dma.write(buf, &frame).unwrap();
    let legacy_cmd = 0x0B00_0000; // RS | IFCS | EOP
    let i = rig.queues[0].tx_tail;
    rig.stage_tx_raw(0, [buf.lo(), buf.hi(), legacy_cmd | frame.len() as u32, 0]);
    rig.kick_tx(0);
    assert_eq!(cap.take()[0].0, frame);
    assert_eq!(rig.tx_status(0, i) & 1, 1, "legacy RS gets DD");

    // TX disabled: descriptors wait; enabling sends them.
    rig.w(regs::TCTL, 0);
    rig.send(0, &frame, None, 0, 0);
    assert!(cap.take().is_empty());
    rig.w(regs::TCTL, tctl::EN | tctl::PSP);
    assert_eq!(cap.take().len(), 1);
}

#[test]
fn dma_fault_drops_frame_and_is_counted() {
    let mut rig = Rig::new(1, MAC_A);
    let cap = Capture::new(false);
    rig.model.set_attachment(cap.clone());
    let faults = rig.dma.fault_count();
    let bad = rig.bad_iova();
    let i = rig.queues[0].tx_tail;
    let d = TxDataDesc::new(bad.0, 100, LAST, 0);
    rig.stage_tx_raw(0, netrt_igb::desc::Descriptor::to_words(&d));
    rig.kick_tx(0);
    assert!(cap.take().is_empty());
    assert!(rig.dma.fault_count() > faults);
    assert_eq!(rig.model.counters().tx_dma_drops, 1);
    assert!(
        rig.tx_dd(0, i),
        "the descriptor completes so the driver can reclaim it"
    );
    assert_eq!(rig.tdh(0), i + 1);
    assert_eq!(rig.r(stats::GPTC), 0);
    // A buffer wrapping past the end of the IOVA space is a fault too.
    let d = TxDataDesc::new(u64::MAX - 10, 100, LAST, 0);
    rig.stage_tx_raw(0, netrt_igb::desc::Descriptor::to_words(&d));
    rig.kick_tx(0);
    assert_eq!(rig.model.counters().tx_dma_drops, 2);
    // The engine still works afterwards.
    rig.send(0, &[1u8; 64], None, 0, 0);
    assert_eq!(cap.take().len(), 1);
}

#[test]
fn bad_offload_requests_are_dropped_not_panicking() {
    let mut rig = Rig::new(1, MAC_A);
    let cap = Capture::new(false);
    rig.model.set_attachment(cap.clone());
    let frame = build(&FrameSpec::default(), &pattern(200, 0), Csum::SeededNoLen);
    // MSS 0, UDP TSO, offsets past the frame, tiny frames.
    let cases = [
        (
            TxContextDesc::new(14, 20, 0, true, L4Type::Tcp, 0, 20, 0),
            true,
        ),
        (
            TxContextDesc::new(14, 20, 0, true, L4Type::Udp, 100, 8, 0),
            true,
        ),
        (
            TxContextDesc::new(14, 400, 0, true, L4Type::Tcp, 100, 20, 0),
            true,
        ),
        (
            TxContextDesc::new(120, 300, 0, true, L4Type::Tcp, 0, 0, 0),
            false,
        ),
    ];
    for (n, (ctx, tso)) in cases.iter().enumerate() {
        let tse = if *tso { tx::cmd::TSE } else { 0 };
        let olinfo = TxDataDesc::olinfo(146, 0, true, true);
        rig.send(0, &frame, Some(*ctx), tse, olinfo);
        assert!(cap.take().is_empty(), "case {n} sent something");
        assert_eq!(rig.model.counters().tx_offload_errors, n as u64 + 1);
    }
    // Garbage frames with random offload bits never panic.
    let mut x = 0x2545_f491u32;
    for _ in 0..500 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let len = (x % 300) as usize + 1;
        let junk = pattern(len, x as u8);
        let ctx = TxContextDesc::new(
            (x >> 8) as u8 % 64,
            (x >> 16) as u16 % 100,
            0,
            x & 1 == 0,
            L4Type::Tcp,
            (x >> 4) as u16 % 64,
            (x >> 20) as u8 % 64,
            0,
        );
        let tse = if x & 2 == 0 { tx::cmd::TSE } else { 0 };
        rig.send(
            0,
            &junk,
            Some(ctx),
            tse,
            TxDataDesc::olinfo((x >> 3) % 400, 0, x & 4 == 0, x & 8 == 0),
        );
    }
    let _ = cap.take();
    assert_eq!(
        rig.r(regs::tx_queue_base(0) + txq::TDH),
        rig.queues[0].tx_tail
    );
}

#[test]
fn broadcast_and_multicast_tx_counters() {
    let mut rig = Rig::new(1, MAC_A);
    rig.model.set_attachment(Capture::new(false));
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[0xff; 6]);
    rig.send(0, &f, None, 0, 0);
    f[..6].copy_from_slice(&[0x01, 0, 0x5e, 0, 0, 1]);
    rig.send(0, &f, None, 0, 0);
    rig.send(0, &f, None, 0, 0);
    assert_eq!(
        (rig.r(0x40F4), rig.r(0x40F0), rig.r(stats::GPTC)),
        (1, 2, 3)
    );
    // Unplugged: frames are dropped and counted, descriptors complete.
    rig.model.detach();
    rig.send(0, &f, None, 0, 0);
    assert_eq!(rig.model.counters().tx_no_link, 1);
    assert_eq!(rig.r(stats::GPTC), 0);
}

#[test]
fn tso_flag_masks_are_programmable() {
    let mut rig = Rig::new(1, MAC_A);
    let cap = Capture::new(false);
    rig.model.set_attachment(cap.clone());
    // Linux-GSO-like: CWR (0x80) on the first segment only, FIN/PSH on the
    // last only. First mask 0xFF6, middle 0xF76, last 0xF7F.
    rig.w(0x359C, 0x0F76_0FF6);
    rig.w(0x35A0, 0x0000_0F7F);
    assert_eq!((rig.r(0x359C), rig.r(0x35A0)), (0x0F76_0FF6, 0x0F7F));
    let spec = FrameSpec {
        tcp_flags: 0x80 | 0x19,
        ..Default::default()
    };
    let frame = build(&spec, &pattern(4000, 1), Csum::SeededNoLen);
    send_tso(&mut rig, &frame, 54, 1000, 20);
    let flags: Vec<u8> = cap.take().iter().map(|(s, _)| s[47]).collect();
    assert_eq!(flags, vec![0x90, 0x10, 0x10, 0x19]);
}
