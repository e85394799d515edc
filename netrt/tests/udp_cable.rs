//! UDP between two namespaces over an emulated igb cable: many flows on
//! two cores and four queues, 60,000-byte datagrams as fragments (also
//! reordered and duplicated by the cable), port unreachable across the
//! wire, and the namespaces' counters.

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use netrt::net::UdpSocket;
use netrt::runtime::Builder;
use netrt::stack::snmp::{Icmp, Ip, Udp};
use netrt::stack::topology::{CableSpec, Topo};
use netrt::time::timeout;
use netrt_igb::attach::{CableConfig, Dir, Impairments};

const WAIT: Duration = Duration::from_secs(10);

/// Deterministic payload of datagram `seq` of flow `flow`.
fn payload(flow: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&flow.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    let mut x = flow.wrapping_mul(0x9e37_79b9) ^ seq.wrapping_mul(0x85eb_ca6b);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push(x as u8);
    }
    v.truncate(len);
    v
}

#[test]
fn many_flows_round_trip_on_two_cores_and_four_queues() {
    const FLOWS: u32 = 16;
    const ROUNDS: u32 = 200;
    let (rt, topo) = two_namespaces(2, CableSpec::new("10.0.0.1/24", "10.0.0.2/24").queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let b_dev = topo.device("b", "eth0").unwrap();
    rt.block_on(async move {
        // One echo socket per flow in b, each served on a core of its own
        // choosing, so replies leave from both cores.
        let mut servers = Vec::new();
        let mut addrs = Vec::new();
        for flow in 0..FLOWS {
            let sock = b.scope(UdpSocket::bind("10.0.0.2:0")).await.unwrap();
            addrs.push(sock.local_addr().unwrap());
            servers.push(netrt::spawn_on(flow as usize % 2, async move {
                let mut buf = [0u8; 2048];
                for _ in 0..ROUNDS {
                    let (n, from) = sock.recv_from(&mut buf).await.unwrap();
                    sock.send_to(&buf[..n], from).await.unwrap();
                }
            }));
        }
        let mut clients = Vec::new();
        for (flow, to) in (0..FLOWS).zip(addrs) {
            let client = a.scope(async move {
                let sock = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                sock.connect(to).await.unwrap();
                let mut buf = [0u8; 2048];
                for seq in 0..ROUNDS {
                    let msg = payload(flow, seq, 16 + (seq as usize * 7) % 1400);
                    sock.send(&msg).await.unwrap();
                    let n = timeout(WAIT, sock.recv(&mut buf)).await.unwrap().unwrap();
                    assert_eq!(&buf[..n], &msg[..], "flow {flow} datagram {seq}");
                }
            });
            clients.push(netrt::spawn_on((flow as usize + 1) % 2, client));
        }
        for c in clients {
            c.await.unwrap();
        }
        for s in servers {
            s.await.unwrap();
        }

        let total = u64::from(FLOWS * ROUNDS);
        let (sa, sb) = (a.snmp(), b.snmp());
        assert_eq!(sa.counter(Udp::OutDatagrams), total);
        assert_eq!(sb.counter(Udp::InDatagrams), total);
        assert_eq!(sb.counter(Udp::OutDatagrams), total);
        assert_eq!(sa.counter(Udp::InDatagrams), total);
        for s in [&sa, &sb] {
            assert_eq!(s.counter(Udp::NoPorts), 0);
            assert_eq!(s.counter(Udp::InErrors), 0);
            assert_eq!(s.counter(Udp::RcvbufErrors), 0);
        }
        // RSS spread the flows over the receive queues.
        let busy = (0..4)
            .filter(|&q| b_dev.queue_stats(q).unwrap().rx_packets > 0)
            .count();
        assert!(busy >= 2, "only {busy} of 4 queues received");
    });
}

/// Sends `count` 60,000-byte datagrams from a to b and checks each
/// arrives whole and intact; b acknowledges each with a small datagram.
/// While an acknowledgement is overdue, a nudges the cable with small
/// datagrams so that fragments the reorder impairment holds back are
/// released.
async fn big_datagrams(topo: &Topo, count: u32) {
    const LEN: usize = 60_000;
    let [a, b] = namespaces(topo, ["a", "b"]);
    let server = b.scope(UdpSocket::bind("10.0.0.2:9000")).await.unwrap();
    let sink = b.scope(UdpSocket::bind("10.0.0.2:9001")).await.unwrap();
    server.set_recv_buffer_size(1 << 20).unwrap();
    let echo = netrt::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        let mut seen = Vec::new();
        while seen.len() < count as usize {
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            assert_eq!(n, LEN, "datagram cut or padded");
            let seq = u32::from_be_bytes(buf[4..8].try_into().unwrap());
            assert_eq!(
                &buf[..n],
                &payload(7, seq, LEN)[..],
                "datagram {seq} damaged"
            );
            if !seen.contains(&seq) {
                seen.push(seq);
            }
            server.send_to(&seq.to_be_bytes(), from).await.unwrap();
        }
        drop(sink);
        seen
    });
    let client = a.scope(UdpSocket::bind("10.0.0.1:0")).await.unwrap();
    let mut ack = [0u8; 4];
    for seq in 0..count {
        client
            .send_to(&payload(7, seq, LEN), "10.0.0.2:9000")
            .await
            .unwrap();
        let mut nudges = 0;
        loop {
            match timeout(Duration::from_millis(20), client.recv(&mut ack)).await {
                Ok(r) => {
                    r.unwrap();
                    if u32::from_be_bytes(ack) == seq {
                        break;
                    }
                }
                Err(_) => {
                    nudges += 1;
                    assert!(nudges < 500, "datagram {seq} never arrived");
                    client.send_to(b"nudge", "10.0.0.2:9001").await.unwrap();
                }
            }
        }
    }
    let seen = echo.await.unwrap();
    assert_eq!(seen.len(), count as usize);
    let (sa, sb) = (a.snmp(), b.snmp());
    // 60,008 bytes of UDP in 1480-byte pieces: 41 fragments each.
    assert_eq!(sa.counter(Ip::FragOKs), u64::from(count));
    assert_eq!(sa.counter(Ip::FragCreates), 41 * u64::from(count));
    assert!(sb.counter(Ip::ReasmOKs) >= u64::from(count));
    assert_eq!(sb.counter(Udp::InErrors), 0);
}

#[test]
fn sixty_kilobyte_datagrams_cross_as_fragments() {
    let (rt, topo) = two_namespaces(2, CableSpec::new("10.0.0.1/24", "10.0.0.2/24").queues(4));
    rt.block_on(async move { big_datagrams(&topo, 8).await });
}

#[test]
fn sixty_kilobyte_datagrams_survive_reordering_and_duplication() {
    let imp = Impairments {
        reorder_percent: 20.0,
        reorder_gap: 3,
        duplicate_percent: 10.0,
        ..Impairments::NONE
    };
    let config = CableConfig {
        a_to_b: imp,
        b_to_a: Impairments::NONE,
        seed: 42,
    };
    let spec = CableSpec::new("10.0.0.1/24", "10.0.0.2/24")
        .queues(4)
        .impairments(config);
    let (rt, topo) = two_namespaces(2, spec);
    let cable = topo.cable("a", "b").unwrap().cable.clone();
    rt.block_on(async move { big_datagrams(&topo, 8).await });
    let stats = cable.stats(Dir::AtoB);
    assert!(stats.reordered > 0, "{stats:?}");
    assert!(stats.duplicated > 0, "{stats:?}");
}

#[test]
fn closed_port_across_the_cable_refuses_the_connected_sender() {
    let (rt, topo) = two_namespaces(2, CableSpec::new("10.0.0.1/24", "10.0.0.2/24"));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let client = a.scope(UdpSocket::bind("0.0.0.0:0")).await.unwrap();
        client.connect("10.0.0.2:4242").await.unwrap();
        assert_eq!(
            client.local_addr().unwrap().ip(),
            "10.0.0.1".parse::<std::net::IpAddr>().unwrap()
        );
        client.send(b"is anybody there").await.unwrap();
        let mut buf = [0u8; 16];
        let e = timeout(WAIT, client.recv(&mut buf))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(b.snmp().counter(Udp::NoPorts), 1);

        // Once something listens, the same socket talks normally.
        let server = b.scope(UdpSocket::bind("10.0.0.2:4242")).await.unwrap();
        client.send(b"hello").await.unwrap();
        let (n, from) = timeout(WAIT, server.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, client.local_addr().unwrap());
        server.send_to(b"hi", from).await.unwrap();
        let n = timeout(WAIT, client.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"hi");
    });
}

#[test]
fn sockets_act_in_the_namespace_they_were_bound_in() {
    let (rt, topo) = two_namespaces(1, CableSpec::new("10.0.0.1/24", "10.0.0.2/24"));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        // 10.0.0.2 is b's, not a's.
        let e = a.scope(UdpSocket::bind("10.0.0.2:0")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
        // The same port number in two namespaces does not clash.
        let sa = a.scope(UdpSocket::bind("0.0.0.0:5353")).await.unwrap();
        let sb = b.scope(UdpSocket::bind("0.0.0.0:5353")).await.unwrap();
        assert_eq!(sa.namespace().name(), "a");
        assert_eq!(sb.namespace().name(), "b");
        // A socket made inside a scope keeps its namespace outside it.
        sa.send_to(b"x", "10.0.0.2:5353").await.unwrap();
        let mut buf = [0u8; 4];
        let (n, from) = timeout(WAIT, sb.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (n, from),
            (1, "10.0.0.1:5353".parse::<SocketAddr>().unwrap())
        );
    });
}

#[test]
fn router_errors_reach_the_connected_socket_and_ttl_is_applied() {
    let rt = Builder::new().cores(2).build().unwrap();
    let topo = three_namespaces(&rt, true, 1);
    let [a, r, b] = namespaces(&topo, ["a", "r", "b"]);
    // TTLs of the UDP datagrams the router receives.
    let (ttls, _tap) = ipv4_in_tap(&r, None, |p| {
        (p.protocol() == netrt::wire::IpProtocol::Udp).then(|| p.ttl())
    });
    rt.block_on(async move {
        let mut buf = [0u8; 16];
        // No route beyond the router: ICMP network unreachable.
        let lost = a.scope(UdpSocket::bind("0.0.0.0:0")).await.unwrap();
        lost.connect("10.9.9.9:53").await.unwrap();
        lost.send(b"where?").await.unwrap();
        let e = timeout(WAIT, lost.recv(&mut buf))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NetworkUnreachable);
        assert_eq!(*ttls.lock().unwrap(), vec![64], "default TTL");

        // The socket's TTL is what leaves. TTL 1 dies at the router: time
        // exceeded is transient for UDP, so nothing is reported.
        let server = b.scope(UdpSocket::bind("10.0.1.2:9")).await.unwrap();
        let client = a.scope(UdpSocket::bind("0.0.0.0:0")).await.unwrap();
        client.connect("10.0.1.2:9").await.unwrap();
        client.set_ttl(1).unwrap();
        client.send(b"ttl 1").await.unwrap();
        until("time exceeded at a", || {
            a.snmp().counter(Icmp::InTimeExcds) == 1
        })
        .await;
        assert_eq!(*ttls.lock().unwrap(), vec![64, 1]);
        assert!(client.take_error().unwrap().is_none());
        client.set_ttl(9).unwrap();
        client.send(b"ttl 9").await.unwrap();
        until("third datagram at r", || ttls.lock().unwrap().len() == 3).await;
        assert_eq!(*ttls.lock().unwrap(), vec![64, 1, 9]);

        // It arrives; and datagrams cross the router both ways (checksums
        // offloaded on the first hop are finished for the second).
        let n = timeout(WAIT, server.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"ttl 9");
        for i in 0..20u8 {
            let msg = payload(u32::from(i), 0, 100 + usize::from(i) * 50);
            client.send(&msg).await.unwrap();
            let mut big = [0u8; 2048];
            let (n, from) = timeout(WAIT, server.recv_from(&mut big))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&big[..n], &msg[..]);
            server.send_to(&big[..n], from).await.unwrap();
            let n = timeout(WAIT, client.recv(&mut big)).await.unwrap().unwrap();
            assert_eq!(&big[..n], &msg[..]);
        }
        assert_eq!(b.snmp().counter(Udp::InCsumErrors), 0);
    });
}

#[test]
fn broadcast_crosses_the_cable_once_allowed() {
    let (rt, topo) = two_namespaces(1, CableSpec::new("10.0.0.1/24", "10.0.0.2/24"));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let listener = b.scope(UdpSocket::bind("0.0.0.0:6767")).await.unwrap();
        let sender = a.scope(UdpSocket::bind("10.0.0.1:0")).await.unwrap();
        let e = sender
            .send_to(b"hello all", "10.0.0.255:6767")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        sender.set_broadcast(true).unwrap();
        sender
            .send_to(b"hello all", "10.0.0.255:6767")
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = timeout(WAIT, listener.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"hello all");
        assert_eq!(from, sender.local_addr().unwrap());
    });
}
