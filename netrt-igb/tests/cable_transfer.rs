//! Frames through the whole emulated path: driver TX ring → device TX
//! engine → cable → device RX path → driver RX ring, on two ports.

mod model_util;

use model_util::*;
use netrt_igb::attach::{CableConfig, Dir, Impairments};
use netrt_igb::desc::{CsumState, L4Type};
use netrt_igb::driver::{Gather, L3Type, QueueVector, RxFrame, TxOffload};
use netrt_igb::port::{EmulatedPort, PairConfig};

/// Frames per burst (one TDT write each).
const BURST: usize = 32;

/// Frame length for sequence number `seq`: spread over 64..=1514.
fn len_for(seq: u32) -> usize {
    64 + (seq.wrapping_mul(2_654_435_761) >> 7) as usize % (1514 - 64 + 1)
}

/// A raw Ethernet frame (local experimental EtherType) carrying `seq`.
fn raw_frame(buf: &mut Vec<u8>, seq: u32, dst: [u8; 6]) {
    buf.clear();
    buf.extend_from_slice(&dst);
    buf.extend_from_slice(&MAC_A);
    buf.extend_from_slice(&0x88B5u16.to_be_bytes());
    buf.extend_from_slice(&seq.to_be_bytes());
    let len = len_for(seq);
    buf.resize(len, 0);
    // Last bytes identify the frame too, so truncation or mixing shows.
    let tail = seq.to_le_bytes();
    let n = buf.len();
    buf[n - 4..].copy_from_slice(&tail);
}

fn pump(
    tx: &mut QueueVector,
    rx: &mut QueueVector,
    frames: &[Vec<u8>],
    mut on_rx: impl FnMut(RxFrame<'_>),
) {
    let mut sent = 0;
    while sent < frames.len() {
        sent += tx.tx_burst(&frames[sent..]);
        while rx.poll(64, &mut on_rx) == 64 {}
    }
    while rx.poll(64, &mut on_rx) > 0 {}
}

#[test]
fn million_frames_none_lost_or_reordered() {
    let total: u32 = std::env::var("CABLE_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (mut a, mut b) = EmulatedPort::pair_with_cable(&PairConfig::default()).unwrap();
    let mac_b = b.model().config().mac;
    let mut va = a.take_vectors().remove(0);
    let mut vb = b.take_vectors().remove(0);

    let mut batch: Vec<Vec<u8>> = (0..BURST).map(|_| Vec::with_capacity(1514)).collect();
    let mut next_rx = 0u32;
    let mut bytes = 0u64;
    let mut seq = 0u32;
    let mut check = |f: RxFrame<'_>| {
        let data = f
            .as_slice()
            .expect("frames up to 1514 bytes fit one buffer");
        let got = u32::from_be_bytes(data[14..18].try_into().unwrap());
        assert_eq!(got, next_rx, "lost or reordered");
        assert_eq!(data.len(), len_for(got), "length of frame {got}");
        assert_eq!(&data[data.len() - 4..], &got.to_le_bytes());
        assert_eq!(&data[..6], &mac_b);
        bytes += data.len() as u64;
        next_rx += 1;
    };
    while seq < total {
        let n = (total - seq).min(BURST as u32) as usize;
        for (i, f) in batch[..n].iter_mut().enumerate() {
            raw_frame(f, seq + i as u32, mac_b);
        }
        seq += n as u32;
        pump(&mut va, &mut vb, &batch[..n], &mut check);
    }
    assert_eq!(next_rx, total);
    let stats = a.cable().unwrap().stats(Dir::AtoB);
    assert_eq!(
        (stats.sent, stats.delivered, stats.lost),
        (u64::from(total), u64::from(total), 0)
    );
    // Device statistics agree on both sides (octets include the FCS).
    let (sa, sb) = (a.port().stats(), b.port().stats());
    assert_eq!(sa.hw.gptc, u64::from(total));
    assert_eq!(sb.hw.gprc, u64::from(total));
    assert_eq!(sb.hw.gorc, bytes + 4 * u64::from(total));
    assert_eq!(sb.hw.mpc, 0);
}

/// A UDP frame carrying `seq`, prepared for checksum offload.
fn udp_frame(seq: u32, dst_mac: [u8; 6]) -> Vec<u8> {
    let spec = FrameSpec {
        proto: 17,
        dst_mac,
        sport: 5000,
        dport: 6000,
        ..Default::default()
    };
    let mut payload = seq.to_be_bytes().to_vec();
    payload.extend(pattern(
        len_for(seq).saturating_sub(14 + 20 + 8 + 4),
        seq as u8,
    ));
    build(&spec, &payload, Csum::Seeded)
}

fn udp_seq(data: &[u8]) -> u32 {
    u32::from_be_bytes(data[42..46].try_into().unwrap())
}

fn offload() -> TxOffload {
    TxOffload::checksum(L3Type::Ipv4, L4Type::Udp, 14, 20)
}

#[test]
fn checksum_offload_travels_as_metadata_on_a_perfect_cable() {
    let (mut a, mut b) = EmulatedPort::pair_with_cable(&PairConfig::default()).unwrap();
    let mac_b = b.model().config().mac;
    let (mut va, mut vb) = (a.take_vectors().remove(0), b.take_vectors().remove(0));
    let frames: Vec<Vec<u8>> = (0..200).map(|s| udp_frame(s, mac_b)).collect();
    let mut got = 0;
    for f in &frames {
        let parts = [f.as_slice()];
        let g = Gather {
            parts: &parts,
            offload: Some(offload()),
        };
        assert_eq!(va.tx_burst(&[g]), 1);
        vb.poll(64, |rx| {
            let data = rx.as_slice().unwrap();
            let c = rx.checksum();
            assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
            assert!(ip_csum_ok(data), "the IP checksum is always inserted");
            // Like veth: the L4 field still holds the pseudo-header seed.
            assert_eq!(&data[40..42], &frames[udp_seq(data) as usize][40..42]);
            got += 1;
        });
    }
    assert_eq!(got, 200);
}

#[test]
fn impairments_show_exactly_as_counted() {
    let imp = Impairments {
        loss_percent: 2.0,
        duplicate_percent: 2.0,
        reorder_percent: 2.0,
        reorder_gap: 3,
        corrupt_percent: 2.0,
        ..Impairments::NONE
    };
    let cfg = PairConfig {
        cable: CableConfig {
            a_to_b: imp,
            b_to_a: Impairments::NONE,
            seed: 42,
        },
        ..Default::default()
    };
    let (mut a, mut b) = EmulatedPort::pair_with_cable(&cfg).unwrap();
    let mac_b = b.model().config().mac;
    let (mut va, mut vb) = (a.take_vectors().remove(0), b.take_vectors().remove(0));
    let total = 20_000u32;
    let frames: Vec<Vec<u8>> = (0..total).map(|s| udp_frame(s, mac_b)).collect();

    let (mut good, mut damaged) = (Vec::new(), 0u64);
    let mut on_rx = |rx: RxFrame<'_>| {
        let c = rx.checksum();
        let data = rx.as_slice().unwrap();
        if c.ip == CsumState::Good && c.l4 == CsumState::Good {
            // Real checksums were computed by the sender (the cable may
            // corrupt, so offload is not carried as metadata): verify them
            // independently too.
            assert!(ip_csum_ok(data) && l4_csum_ok(data));
            let s = udp_seq(data);
            // Identical to what was sent but for the two checksum fields.
            let sent = &frames[s as usize];
            assert_eq!(data.len(), sent.len());
            assert!(
                data[..24] == sent[..24]
                    && data[26..40] == sent[26..40]
                    && data[42..] == sent[42..]
            );
            good.push(s);
        } else {
            damaged += 1;
        }
    };
    for chunk in frames.chunks(BURST) {
        let parts: Vec<[&[u8]; 1]> = chunk.iter().map(|f| [f.as_slice()]).collect();
        let gathers: Vec<Gather<'_>> = parts
            .iter()
            .map(|p| Gather {
                parts: p,
                offload: Some(offload()),
            })
            .collect();
        let mut sent = 0;
        while sent < gathers.len() {
            sent += va.tx_burst(&gathers[sent..]);
            while vb.poll(64, &mut on_rx) == 64 {}
        }
        while vb.poll(64, &mut on_rx) > 0 {}
    }
    let cable = a.cable().unwrap();
    cable.flush();
    while vb.poll(64, &mut on_rx) > 0 {}

    let s = cable.stats(Dir::AtoB);
    assert_eq!(s.sent, u64::from(total));
    assert_eq!(s.delivered, s.sent - s.lost + s.duplicated, "{s:?}");
    for (name, v) in [
        ("lost", s.lost),
        ("duplicated", s.duplicated),
        ("reordered", s.reordered),
        ("corrupted", s.corrupted),
    ] {
        assert!((250..550).contains(&v), "{name}: {v} not ~2% of {total}");
    }
    // The receiver saw every delivered frame, and caught every corruption.
    assert_eq!(good.len() as u64 + damaged, s.delivered);
    assert_eq!(
        damaged, s.corrupted,
        "every corrupted frame fails a checksum"
    );
    assert_eq!(b.port().stats().hw.mpc, 0);
    // Sequence view: nothing beyond two copies, nothing invented.
    let mut copies = vec![0u8; total as usize];
    for &q in &good {
        copies[q as usize] += 1;
    }
    assert!(copies.iter().all(|&c| c <= 2));
    let twice = copies.iter().filter(|&&c| c == 2).count() as u64;
    let missing = copies.iter().filter(|&&c| c == 0).count() as u64;
    assert!(twice <= s.duplicated && missing >= s.lost);
    // Without corruption, each missing frame was lost or had all its copies
    // corrupted; each double arrival was a clean duplication.
    assert!(missing <= s.lost + s.corrupted);
    assert!(twice + s.corrupted >= s.duplicated);
    let mut late = 0u64;
    let mut max_seen = 0;
    for &q in &good {
        if q < max_seen {
            late += 1;
        }
        max_seen = max_seen.max(q);
    }
    assert!(late > 0 && late <= s.reordered, "late {late}, {s:?}");
}

/// TSO through the driver, the device and the cable: on a perfect cable the
/// checksums travel as metadata; on a cable that may damage frames (here
/// with a vanishing corruption rate) the device computes them for real.
#[test]
fn tso_through_driver_and_cable() {
    for carries in [true, false] {
        let corrupt = if carries { 0.0 } else { 1e-12 };
        let imp = Impairments {
            corrupt_percent: corrupt,
            ..Impairments::NONE
        };
        let cfg = PairConfig {
            cable: CableConfig::symmetric(imp, 7),
            ..Default::default()
        };
        let (mut a, mut b) = EmulatedPort::pair_with_cable(&cfg).unwrap();
        let mac_b = b.model().config().mac;
        let (mut va, mut vb) = (a.take_vectors().remove(0), b.take_vectors().remove(0));
        let payload = pattern(20_000, 77);
        let spec = FrameSpec {
            dst_mac: mac_b,
            tcp_flags: 0x18,
            seq: 5000,
            ..Default::default()
        };
        let frame = build(&spec, &payload, Csum::SeededNoLen);
        let parts = [&frame[..54], &frame[54..]];
        let g = Gather {
            parts: &parts,
            offload: Some(TxOffload::tso(L3Type::Ipv4, 14, 20, 20, 1448)),
        };
        assert_eq!(va.tx_burst(&[g]), 1);
        let mut segs = Vec::new();
        while vb.poll(64, |rx| {
            let c = rx.checksum();
            assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
            segs.push(rx.as_slice().unwrap().to_vec());
        }) > 0
        {}
        assert_eq!(segs.len(), 20_000usize.div_ceil(1448), "carries={carries}");
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let seq = u32::from_be_bytes(s[38..42].try_into().unwrap());
            assert_eq!(seq, 5000 + (i * 1448) as u32);
            assert!(ip_csum_ok(s));
            // Real checksums unless the cable carried the offload.
            assert_eq!(l4_csum_ok(s), !carries, "segment {i}, carries={carries}");
            let last = i + 1 == segs.len();
            assert_eq!(s[47] & 0x08 != 0, last, "PSH on the last segment only");
            joined.extend_from_slice(&s[54..]);
        }
        assert_eq!(joined, payload);
        assert_eq!(a.port().stats().hw.gptc, segs.len() as u64);
    }
}
