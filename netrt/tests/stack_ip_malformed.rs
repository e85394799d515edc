//! Malformed frames sent over an emulated igb cable: truncated headers at
//! every length, bad checksums, bad lengths, bad IHL, and every byte of a
//! valid frame flipped. Each is counted and dropped; nothing panics; the
//! receiver keeps working.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use netrt::stack::dev::NetDevice;
use netrt::stack::ns::Namespace;
use netrt::stack::skb::PacketBuf;
use netrt::stack::snmp::{Icmp, Ip};
use netrt::stack::IfIndex;
use netrt::wire::{ChecksumMode, EthernetAddress, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Repr};

/// A valid frame from a to b: Ethernet + IPv4 + ICMP echo request with
/// 32 bytes of data (74 bytes).
fn echo_frame(src: EthernetAddress, dst: EthernetAddress, seq: u16) -> Vec<u8> {
    let data = [0x5au8; 32];
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 0x4242,
        seq_no: seq,
        data: &data,
    };
    let ipr = Ipv4Repr {
        ident: seq,
        dont_frag: true,
        ..ipv4_repr(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            IpProtocol::Icmp,
            icmp.buffer_len(),
        )
    };
    emit_ipv4_frame(src, dst, &ipr, |l4| {
        icmp.emit(&mut Icmpv4Packet::new_unchecked(l4), ChecksumMode::Software)
    })
}

struct Rig {
    a: Namespace,
    b: Namespace,
    a_dev: Arc<dyn NetDevice>,
    a_mac: EthernetAddress,
    b_mac: EthernetAddress,
    _topo: netrt::stack::topology::Topo,
}

fn rig() -> (netrt::runtime::Runtime, Rig) {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let a_dev = a.device(IfIndex(2)).unwrap();
    let b_mac = b.device(IfIndex(2)).unwrap().mac();
    let rig = Rig {
        a_mac: a_dev.mac(),
        a,
        b,
        a_dev,
        b_mac,
        _topo: topo,
    };
    (rt, rig)
}

/// Sends raw frames out of a's port and waits until b's stack has seen
/// `expect` of them (the NIC's own MAC filter may drop some first).
async fn inject(rig: &Rig, frames: &[Vec<u8>], expect: usize) {
    let before = rig.b.netif_stats().rx_frames;
    for f in frames {
        rig.a_dev.xmit(PacketBuf::from_slice(0, f));
    }
    let want = before + expect as u64;
    for _ in 0..2000 {
        if rig.b.netif_stats().rx_frames >= want {
            return;
        }
        netrt::time::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "b saw {} of {expect} frames",
        rig.b.netif_stats().rx_frames - before,
    );
}

#[test]
fn broken_headers_are_counted_and_dropped() {
    let (rt, rig) = rig();
    rt.block_on(async move {
        let rig = &rig;
        let good = echo_frame(rig.a_mac, rig.b_mac, 1);
        let mut bad = Vec::new();
        // Truncated at every length short of the datagram's total length
        // (60 bytes). Short frames may be padded with zeros on the wire;
        // either way the header cannot be complete and valid.
        for cut in 0..60 {
            bad.push(good[..ETH + cut].to_vec());
        }
        // Bad header checksum.
        let mut f = good.clone();
        f[ETH + 10] ^= 0x01;
        bad.push(f);
        // Total length past the frame, and shorter than the header.
        for total in [61u16, 1000, 65535, 0, 19] {
            let mut f = good.clone();
            f[ETH + 2..ETH + 4].copy_from_slice(&total.to_be_bytes());
            fix_ip_checksum(&mut f);
            bad.push(f);
        }
        // IHL below 5, and IHL past the total length.
        for ihl in [0u8, 1, 4] {
            let mut f = good.clone();
            f[ETH] = 0x40 | ihl;
            bad.push(f);
        }
        let mut f = good.clone();
        f[ETH + 2..ETH + 4].copy_from_slice(&40u16.to_be_bytes());
        f[ETH] = 0x4f;
        bad.push(f);
        // Version 6 and version 0 behind an IPv4 EtherType.
        for ver in [0x65u8, 0x05] {
            let mut f = good.clone();
            f[ETH] = ver;
            fix_ip_checksum(&mut f);
            bad.push(f);
        }
        // A fragment whose end would pass 65,535 bytes (ping of death).
        let mut f = good.clone();
        f[ETH + 6..ETH + 8].copy_from_slice(&0x1fffu16.to_be_bytes());
        fix_ip_checksum(&mut f);
        bad.push(f);

        inject(rig, &bad, bad.len()).await;
        let sb = rig.b.snmp();
        let n = bad.len() as u64;
        assert_eq!(sb.counter(Ip::InReceives), n);
        assert_eq!(sb.counter(Ip::InHdrErrors), n);
        assert_eq!(sb.counter(Ip::InDelivers), 0);
        assert_eq!(sb.counter(Ip::ReasmReqds), 0);

        // The good frame still gets its answer.
        rig.b.device(IfIndex(2)).unwrap();
        rig.a
            .ping(ip("10.0.0.2"), 9, b"alive", Duration::from_secs(2))
            .await
            .unwrap();
    });
}

#[test]
fn a_shorter_total_length_trims_the_padding() {
    let (rt, rig) = rig();
    rt.block_on(async move {
        let rig = &rig;
        // Claim 8 bytes less than sent: the ICMP message loses its tail
        // and fails its checksum; IP itself accepts and trims.
        let mut f = echo_frame(rig.a_mac, rig.b_mac, 1);
        f[ETH + 2..ETH + 4].copy_from_slice(&52u16.to_be_bytes());
        fix_ip_checksum(&mut f);
        // Extra trailing bytes after a valid datagram (Ethernet padding) are
        // ignored: this one is answered.
        let mut padded = echo_frame(rig.a_mac, rig.b_mac, 2);
        padded.extend_from_slice(&[0xee; 20]);
        inject(rig, &[f, padded], 2).await;
        let sb = rig.b.snmp();
        assert_eq!(sb.counter(Ip::InHdrErrors), 0);
        assert_eq!(sb.counter(Ip::InDelivers), 2);
        assert_eq!(sb.counter(Icmp::InCsumErrors), 1);
        assert_eq!(sb.counter(Icmp::InEchos), 1);
        assert_eq!(sb.counter(Icmp::OutEchoReps), 1);
    });
}

#[test]
fn every_byte_of_a_valid_frame_flipped() {
    let (rt, rig) = rig();
    rt.block_on(async move {
        let rig = &rig;
        let good = echo_frame(rig.a_mac, rig.b_mac, 1);
        assert_eq!(good.len(), 74);
        let frames: Vec<Vec<u8>> = (0..good.len())
            .map(|i| {
                let mut f = good.clone();
                f[i] ^= 0xff;
                f
            })
            .collect();
        // The NIC's address filter drops six of them (below).
        inject(rig, &frames, frames.len() - 6).await;
        // Let replies and the ARP they need settle.
        netrt::time::sleep(Duration::from_millis(50)).await;
        let sb = rig.b.snmp();
        let nb = rig.b.netif_stats();
        // Destination MAC: each flip names another host (or, for the
        // first byte, a multicast group nobody joined); the NIC's filter
        // drops them before the stack sees them.
        assert_eq!(nb.rx_other_host, 0);
        // EtherType: no handler.
        assert_eq!(nb.rx_unknown_proto, 2);
        // Source MAC: irrelevant to IP; answered.
        assert_eq!(sb.counter(Icmp::InEchos), 6);
        // Any IP header byte: the header checksum catches it.
        assert_eq!(sb.counter(Ip::InHdrErrors), 20);
        // Any ICMP byte: the ICMP checksum catches it.
        assert_eq!(sb.counter(Icmp::InCsumErrors), 40);
        assert_eq!(sb.counter(Ip::InReceives), 6 + 20 + 40);
        assert_eq!(sb.counter(Ip::InDelivers), 6 + 40);
        assert_eq!(sb.counter(Icmp::OutEchoReps), 6);

        // Random multi-byte damage: no panic, b keeps answering.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let frames: Vec<Vec<u8>> = (0..3000)
            .map(|_| {
                let mut f = good.clone();
                for _ in 0..1 + next() % 4 {
                    // Leave the Ethernet header alone so IP sees them all.
                    let at = ETH + (next() as usize % (f.len() - ETH));
                    f[at] = next() as u8;
                }
                let keep = ETH + next() as usize % (f.len() - ETH + 1);
                f.truncate(keep.max(ETH));
                f
            })
            .collect();
        let before = rig.b.snmp().counter(Ip::InReceives);
        // In bursts the transmit ring takes whole.
        for burst in frames.chunks(64) {
            inject(rig, burst, burst.len()).await;
        }
        assert_eq!(rig.b.snmp().counter(Ip::InReceives) - before, 3000);
        rig.a
            .ping(ip("10.0.0.2"), 7, b"still there", Duration::from_secs(2))
            .await
            .unwrap();
    });
}
