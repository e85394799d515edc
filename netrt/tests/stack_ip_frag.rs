//! Fragmentation on output and reassembly on input: 60,000-byte datagrams
//! over a perfect cable and over one that reorders and duplicates frames.

mod common;

use std::time::Duration;

use common::*;
use netrt::net::UdpSocket;
use netrt::stack::ipv4::OutParams;
use netrt::stack::snmp::{Icmp, Ip, Udp};
use netrt::wire::IpProtocol;
use netrt_igb::attach::{CableConfig, Impairments};

const SEC: Duration = Duration::from_secs(5);

fn payload(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 253) as u8 ^ salt).collect()
}

/// Fragments of a datagram carrying `l4_len` transport bytes over a
/// 1500-byte MTU: 1480 bytes of data per fragment.
fn fragments(l4_len: usize) -> u64 {
    l4_len.div_ceil(1480) as u64
}

#[test]
fn big_ping_crosses_as_fragments() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let data = payload(60_000, 7);
        a.ping(ip("10.0.0.2"), 1, &data, SEC).await.unwrap();
        let (sa, sb) = (a.snmp(), b.snmp());
        let n = fragments(60_008);
        assert_eq!(n, 41);
        for s in [&sa, &sb] {
            // Request out of a, reply out of b; each reassembled once.
            assert_eq!(s.counter(Ip::FragOKs), 1);
            assert_eq!(s.counter(Ip::FragCreates), n);
            assert_eq!(s.counter(Ip::ReasmReqds), n);
            assert_eq!(s.counter(Ip::ReasmOKs), 1);
            assert_eq!(s.counter(Ip::ReasmFails), 0);
            assert_eq!(s.counter(Ip::InReceives), n);
            assert_eq!(s.counter(Ip::InDelivers), 1);
        }
        assert_eq!(sb.counter(Icmp::OutEchoReps), 1);
    });
}

/// The reorder impairment holds a frame until `gap` later frames passed
/// it; when traffic pauses (request/response), nothing would release it.
/// Like a real link that does deliver eventually, release held frames
/// every couple of milliseconds.
fn release_held_frames(topo: &netrt::stack::topology::Topo) {
    let cable = topo.cable("a", "b").unwrap().cable.clone();
    netrt::spawn(async move {
        loop {
            netrt::time::sleep(Duration::from_millis(2)).await;
            cable.flush();
        }
    });
}

fn reorder_and_duplicate() -> CableConfig {
    let imp = Impairments {
        duplicate_percent: 10.0,
        reorder_percent: 25.0,
        reorder_gap: 3,
        ..Impairments::NONE
    };
    CableConfig::symmetric(imp, 42)
}

#[test]
fn fragments_reordered_and_duplicated_are_reassembled() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4).impairments(reorder_and_duplicate()));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        release_held_frames(&topo);
        for seq in 0..6u16 {
            let data = payload(60_000, seq as u8);
            a.ping(ip("10.0.0.2"), seq, &data, SEC).await.unwrap();
        }
        let sb = b.snmp();
        assert_eq!(sb.counter(Ip::ReasmOKs), 6);
        assert_eq!(sb.counter(Icmp::OutEchoReps), 6);
        // Duplicates were seen (more fragments in than sent) and ignored.
        let sent = a.snmp().counter(Ip::FragCreates);
        assert_eq!(sent, 6 * fragments(60_008));
        assert!(sb.counter(Ip::ReasmReqds) > sent, "no duplicate arrived");
        assert_eq!(a.snmp().counter(Ip::ReasmOKs), 6);
        let stats = topo
            .cable("a", "b")
            .unwrap()
            .cable
            .stats(netrt_igb::attach::Dir::AtoB);
        assert!(stats.reordered > 0 && stats.duplicated > 0, "{stats:?}");
    });
}

#[test]
fn big_udp_datagram_is_fragmented_and_reassembled_on_impaired_cable() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4).impairments(reorder_and_duplicate()));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        release_held_frames(&topo);
        let rx = b.scope(UdpSocket::bind("10.0.0.2:4000")).await.unwrap();
        let tx = a.scope(UdpSocket::bind("10.0.0.1:0")).await.unwrap();
        let mut buf = vec![0u8; 65_536];
        for i in 0..4u8 {
            let data = payload(60_000, i);
            assert_eq!(tx.send_to(&data, "10.0.0.2:4000").await.unwrap(), 60_000);
            let (n, from) = netrt::time::timeout(SEC, rx.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, 60_000);
            assert!(buf[..n] == data[..], "datagram {i} corrupted");
            assert_eq!(from, tx.local_addr().unwrap());
        }
        // The largest UDP payload there is: 65,507 bytes.
        let data = payload(65_507, 99);
        tx.send_to(&data, "10.0.0.2:4000").await.unwrap();
        let n = netrt::time::timeout(SEC, rx.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(buf[..n] == data[..]);
        let sb = b.snmp();
        assert_eq!(sb.counter(Ip::ReasmOKs), 5);
        assert_eq!(sb.counter(Udp::InDatagrams), 5);
        assert_eq!(sb.counter(Udp::InCsumErrors), 0);
        assert_eq!(a.snmp().counter(Ip::FragOKs), 5);
    });
}

#[test]
fn dont_fragment_above_mtu_is_message_too_long() {
    let (rt, topo) = two_namespaces(1, ab_cable());
    let a = topo.ns("a").clone();
    rt.block_on(async move {
        let params = OutParams {
            src: None,
            dst: ip("10.0.0.2"),
            protocol: IpProtocol::Unknown(253),
            ttl: 64,
            tos: 0,
            dont_frag: true,
        };
        let err = a.send_ipv4(&params, &[0u8; 1481]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("message too long"), "{err}");
        assert_eq!(a.snmp().counter(Ip::FragFails), 1);
        // Exactly the MTU passes.
        a.send_ipv4(&params, &[0u8; 1480]).unwrap();
        // More than an IPv4 datagram holds fails with or without DF.
        let params = OutParams {
            dont_frag: false,
            ..params
        };
        let err = a.send_ipv4(&params, &vec![0u8; 65_516]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
}
