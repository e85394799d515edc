//! UDP input against hand-made frames injected on the far end of a
//! cable: bad checksums, bad lengths, absent checksums, trailing bytes,
//! broadcasts, and every byte of a valid frame damaged in turn. Each is
//! counted (or delivered) as Linux would, and nothing panics.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use netrt::net::UdpSocket;
use netrt::stack::dev::NetDevice;
use netrt::stack::ns::Namespace;
use netrt::stack::skb::PacketBuf;
use netrt::stack::snmp::{Icmp, Udp};
use netrt::wire::{ChecksumMode, EthernetAddress, IpProtocol, UdpPacket, UdpRepr};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const B_BCAST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 255);

/// An Ethernet + IPv4 + UDP frame from a:`sport` to `dst`:`dport`, with a
/// correct UDP checksum.
fn frame(
    dst_mac: EthernetAddress,
    src_mac: EthernetAddress,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: 4000,
        dst_port: dport,
        payload,
    };
    let ip = ipv4_repr(A, dst, IpProtocol::Udp, udp.buffer_len());
    emit_ipv4_frame(src_mac, dst_mac, &ip, |l4| {
        udp.emit(
            &mut UdpPacket::new_unchecked(l4),
            A,
            dst,
            ChecksumMode::Software,
        )
    })
}

fn udp(ns: &Namespace, c: Udp) -> u64 {
    ns.snmp().counter(c)
}

#[test]
fn malformed_and_odd_datagrams() {
    let (rt, topo) = two_namespaces(2, ab_cable());
    let (b, a_dev, b_dev) = (
        topo.ns("b").clone(),
        topo.device("a", "eth0").unwrap(),
        topo.device("b", "eth0").unwrap(),
    );
    rt.block_on(async move {
        let (a_mac, b_mac) = (a_dev.mac(), b_dev.mac());
        let sock = b.scope(UdpSocket::bind("10.0.0.2:7000")).await.unwrap();
        let wild = b.scope(UdpSocket::bind("0.0.0.0:7001")).await.unwrap();
        let send = |f: Vec<u8>| a_dev.xmit(PacketBuf::from_slice(PacketBuf::DEFAULT_HEADROOM, &f));
        let from: SocketAddr = (A, 4000).into();
        let mut buf = [0u8; 64];

        // A valid datagram arrives.
        send(frame(b_mac, a_mac, B, 7000, b"valid"));
        let (n, src) = sock.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], src), (&b"valid"[..], from));

        // A wrong UDP checksum: counted twice (InCsumErrors, InErrors).
        let mut f = frame(b_mac, a_mac, B, 7000, b"bad sum");
        f[34 + 6] ^= 0x5a;
        send(f);
        until("InCsumErrors", || udp(&b, Udp::InCsumErrors) == 1).await;
        assert_eq!(udp(&b, Udp::InErrors), 1);

        // A UDP length beyond the IP payload, and one below the header.
        for bad_len in [8 + 5 + 1, 7] {
            let mut f = frame(b_mac, a_mac, B, 7000, b"short");
            f[34 + 4..34 + 6].copy_from_slice(&(bad_len as u16).to_be_bytes());
            send(f);
        }
        until("InErrors", || udp(&b, Udp::InErrors) == 3).await;

        // No checksum (0) is accepted; bytes past the UDP length are not
        // payload.
        let mut f = frame(b_mac, a_mac, B, 7000, b"no sum");
        f[34 + 6..34 + 8].copy_from_slice(&[0, 0]);
        send(f);
        let n = sock.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"no sum");
        let mut f = frame(b_mac, a_mac, B, 7000, b"trailer!");
        f[34 + 4..34 + 6].copy_from_slice(&(8u16 + 4).to_be_bytes());
        f[34 + 6..34 + 8].copy_from_slice(&[0, 0]);
        send(f);
        let n = sock.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"trai");

        // Broadcasts reach wildcard sockets; to a closed port they are
        // ignored (IgnoredMulti), never answered with port unreachable.
        send(frame(
            EthernetAddress::BROADCAST,
            a_mac,
            B_BCAST,
            7001,
            b"to all",
        ));
        let (n, src) = wild.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], src), (&b"to all"[..], from));
        send(frame(
            EthernetAddress::BROADCAST,
            a_mac,
            B_BCAST,
            7999,
            b"nobody",
        ));
        until("IgnoredMulti", || udp(&b, Udp::IgnoredMulti) == 1).await;
        assert_eq!(udp(&b, Udp::NoPorts), 0);
        assert_eq!(b.snmp().counter(Icmp::OutDestUnreachs), 0);

        // A unicast to a closed port is answered.
        send(frame(b_mac, a_mac, B, 7999, b"closed"));
        until("NoPorts", || udp(&b, Udp::NoPorts) == 1).await;
        until("port unreachable", || {
            b.snmp().counter(Icmp::OutDestUnreachs) == 1
        })
        .await;
        assert_eq!(udp(&b, Udp::InDatagrams), 4);
    });
}

#[test]
fn every_byte_of_a_datagram_damaged() {
    let (rt, topo) = two_namespaces(2, ab_cable());
    let (b, a_dev, b_dev) = (
        topo.ns("b").clone(),
        topo.device("a", "eth0").unwrap(),
        topo.device("b", "eth0").unwrap(),
    );
    rt.block_on(async move {
        let (a_mac, b_mac) = (a_dev.mac(), b_dev.mac());
        let sock = Arc::new(b.scope(UdpSocket::bind("10.0.0.2:7000")).await.unwrap());
        let good = frame(b_mac, a_mac, B, 7000, b"payload under test");
        let mut sent = 0u64;
        for at in 14..good.len() {
            for flip in [0xff, 0x01, 0x80] {
                let mut f = good.clone();
                f[at] ^= flip;
                if at >= 34 && flip == 0x01 {
                    // Also the variant whose IP header is still valid, so
                    // the damage reaches UDP.
                    fix_ip_checksum(&mut f);
                }
                a_dev.xmit(PacketBuf::from_slice(PacketBuf::DEFAULT_HEADROOM, &f));
                sent += 1;
            }
            if at % 8 == 0 {
                netrt::yield_now().await;
            }
        }
        // Drain what was delivered: damaged payload bytes with a matching
        // checksum cannot exist, so whatever arrived is the original or a
        // datagram whose header damage still checks out (ports/length
        // with the sum adjusted cannot happen here: the sum is not fixed).
        netrt::time::sleep(Duration::from_millis(50)).await;
        let mut buf = [0u8; 64];
        while let Ok(n) = sock.try_recv(&mut buf) {
            assert_eq!(&buf[..n], b"payload under test");
        }
        assert!(sent > 0);
        // The stack still works.
        a_dev.xmit(PacketBuf::from_slice(PacketBuf::DEFAULT_HEADROOM, &good));
        let n = sock.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"payload under test");
        assert!(udp(&b, Udp::InCsumErrors) > 0);
    });
}
