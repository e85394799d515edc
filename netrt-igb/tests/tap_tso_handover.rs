//! Without root: what the port hands a TAP-like attachment for a TSO
//! request (one whole frame with GSO metadata, or segments when it cannot
//! be whole), and that cutting it the way the TAP's receive side does
//! gives back exactly the bytes sent.

mod model_util;

use std::sync::Arc;

use model_util::{build, ip_csum_ok, l4_csum_ok, naive_csum, pattern, pseudo, Csum, FrameSpec};
use netrt_igb::attach::vnet::{self, VnetHdr};
use netrt_igb::attach::{Attachment, PartialCsum, TsoMeta, TxMeta};
use netrt_igb::driver::{Gather, L3Type, TxOffload};
use netrt_igb::port::{EmulatedPort, PortSpec};
use parking_lot::Mutex;

/// Records frames; segments TSO itself when `gso` is set.
struct GsoWire {
    frames: Mutex<Vec<(Vec<u8>, TxMeta)>>,
    gso: bool,
}

impl Attachment for GsoWire {
    fn transmit(&self, frame: &[u8], meta: &TxMeta) {
        self.frames.lock().push((frame.to_vec(), *meta));
    }
    fn carries_csum_offload(&self) -> bool {
        true
    }
    fn wants_unsegmented_tso(&self) -> bool {
        self.gso
    }
}

fn send_tso(gso: bool, payload: &[u8]) -> Vec<(Vec<u8>, TxMeta)> {
    let mut spec = PortSpec::new(1, model_util::MAC_A);
    spec.driver.tx.buf_size = 16384;
    let mut port = EmulatedPort::new(&spec).unwrap();
    let wire = Arc::new(GsoWire {
        frames: Mutex::new(Vec::new()),
        gso,
    });
    port.attach(wire.clone());
    let frame = build(&FrameSpec::default(), payload, Csum::SeededNoLen);
    let parts = [&frame[..54], &frame[54..]];
    let g = Gather {
        parts: &parts,
        offload: Some(TxOffload::tso(L3Type::Ipv4, 14, 20, 20, 1448)),
    };
    assert_eq!(port.vectors()[0].tx_burst(&[g]), 1);
    let out = std::mem::take(&mut *wire.frames.lock());
    out
}

/// Folds a partial checksum in (what the kernel does for NEEDS_CSUM).
fn complete(frame: &mut [u8], p: PartialCsum) {
    let (start, field) = (usize::from(p.start), usize::from(p.start + p.offset));
    let c = naive_csum(&[&frame[start..]]);
    frame[field..field + 2].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn tso_frame_is_handed_over_whole_with_gso_metadata() {
    let payload = pattern(20_000, 21);
    let out = send_tso(true, &payload);
    assert_eq!(out.len(), 1, "one whole frame");
    let (mut f, meta) = out.into_iter().next().unwrap();
    assert_eq!(f.len(), 54 + 20_000);
    let partial = PartialCsum {
        start: 34,
        offset: 16,
    };
    assert_eq!(
        meta,
        TxMeta {
            partial_csum: Some(partial),
            tso: Some(TsoMeta {
                mss: 1448,
                hdr_len: 54
            }),
        }
    );
    assert_eq!(
        usize::from(u16::from_be_bytes([f[16], f[17]])),
        20 + 20 + 20_000
    );
    assert!(ip_csum_ok(&f));
    // The seed covers the whole L4 length (a Linux GSO skb's convention).
    let seed = !naive_csum(&[&pseudo(model_util::SRC_IP, model_util::DST_IP, 6, 20_020)]);
    assert_eq!(u16::from_be_bytes([f[50], f[51]]), seed);
    // The header the TAP writes for it.
    let h = VnetHdr::decode(&VnetHdr::for_tx(&meta).encode()).unwrap();
    assert_eq!(
        (h.flags, h.gso_type),
        (vnet::flags::NEEDS_CSUM, vnet::gso::TCPV4)
    );
    assert_eq!(
        (h.gso_size, h.hdr_len, h.csum_start, h.csum_offset),
        (1448, 54, 34, 16)
    );

    // Cut as the TAP's receive side would: the payload comes back intact
    // in 1448-byte segments with valid checksums once completed.
    let mut joined = Vec::new();
    let n = vnet::segment_tcp4(&f, 1448, |len, fill, p| {
        let mut seg = vec![0; len];
        fill(&mut seg);
        complete(&mut seg, p);
        assert!(ip_csum_ok(&seg) && l4_csum_ok(&seg));
        joined.extend_from_slice(&seg[54..]);
    })
    .unwrap();
    assert_eq!(n, 20_000usize.div_ceil(1448));
    assert_eq!(joined, payload);
    // And the whole frame is valid TCP once its checksum is completed.
    complete(&mut f, partial);
    assert!(l4_csum_ok(&f));
}

#[test]
fn tso_is_segmented_when_the_wire_does_not_ask_or_the_frame_is_too_big() {
    let payload = pattern(20_000, 22);
    let out = send_tso(false, &payload);
    assert_eq!(out.len(), 20_000usize.div_ceil(1448));
    assert!(out.iter().all(|(f, m)| m.tso.is_none() && f.len() <= 1514));

    // 40 header bytes + 65500 is more than an IPv4 packet holds (the
    // driver allows 65535 payload bytes): segmented even for a GSO wire.
    let big = pattern(65_500, 23);
    let out = send_tso(true, &big);
    assert_eq!(out.len(), 65_500usize.div_ceil(1448));
    let mut joined = Vec::new();
    for (mut f, m) in out {
        assert_eq!(m.tso, None);
        complete(&mut f, m.partial_csum.unwrap());
        assert!(ip_csum_ok(&f) && l4_csum_ok(&f));
        joined.extend_from_slice(&f[54..]);
    }
    assert_eq!(joined, big);
}
