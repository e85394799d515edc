//! Forwarding through a middle namespace: TTL, ip_forward, ICMP time
//! exceeded; on 2 cores with 4 queues per port.

mod common;

use std::time::Duration;

use common::*;
use netrt::stack::icmp::{IcmpErrorKind, PingError};
use netrt::stack::snmp::{Icmp, Ip};
use netrt::stack::IfIndex;
use netrt::wire::TimeExceeded;

const SEC: Duration = Duration::from_secs(2);

#[test]
fn forwards_with_ttl_decremented() {
    let rt = netrt::runtime::Builder::new().cores(2).build().unwrap();
    let topo = three_namespaces(&rt, true, 4);
    let [a, r, b] = namespaces(&topo, ["a", "r", "b"]);
    let (at_b, _t1) = ipv4_in_tap(&b, Some(IfIndex(2)), |p| Some(p.ttl()));
    let (at_a, _t2) = ipv4_in_tap(&a, Some(IfIndex(2)), |p| Some(p.ttl()));
    rt.block_on(async move {
        for seq in 0..10 {
            a.ping(ip("10.0.1.2"), seq, b"through the router", SEC)
                .await
                .unwrap();
        }
        assert_eq!(*at_b.lock().unwrap(), [63; 10]);
        assert_eq!(*at_a.lock().unwrap(), [63; 10]);
        let sr = r.snmp();
        assert_eq!(sr.counter(Ip::ForwDatagrams), 20);
        assert_eq!(sr.counter(Ip::InDelivers), 0);
        assert_eq!(sr.counter(Ip::InAddrErrors), 0);
        assert_eq!(b.snmp().counter(Icmp::InEchos), 10);
    });
}

#[test]
fn no_forwarding_unless_enabled() {
    let rt = netrt::runtime::Builder::new().cores(2).build().unwrap();
    let topo = three_namespaces(&rt, false, 4);
    let [a, r, b] = namespaces(&topo, ["a", "r", "b"]);
    rt.block_on(async move {
        let err = a
            .ping(ip("10.0.1.2"), 1, b"x", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let sr = r.snmp();
        assert_eq!(sr.counter(Ip::InAddrErrors), 1);
        assert_eq!(sr.counter(Ip::ForwDatagrams), 0);
        assert_eq!(b.snmp().counter(Ip::InReceives), 0);
        // The router itself still answers.
        a.ping(ip("10.0.0.254"), 2, b"x", SEC).await.unwrap();

        r.set_ip_forward(true);
        a.ping(ip("10.0.1.2"), 3, b"x", SEC).await.unwrap();
        assert_eq!(r.snmp().counter(Ip::ForwDatagrams), 2);
    });
}

#[test]
fn ttl_running_out_is_reported_with_time_exceeded() {
    let rt = netrt::runtime::Builder::new().cores(2).build().unwrap();
    let topo = three_namespaces(&rt, true, 4);
    let [a, r, b] = namespaces(&topo, ["a", "r", "b"]);
    rt.block_on(async move {
        let err = a
            .ping_with_ttl(ip("10.0.1.2"), 1, b"short-lived", Some(1), SEC)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::HostUnreachable);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<PingError>());
        assert_eq!(
            inner,
            Some(&PingError {
                kind: IcmpErrorKind::TimeExceeded(TimeExceeded::TtlExpired),
                from: ip("10.0.0.254"),
            })
        );
        let (sa, sr) = (a.snmp(), r.snmp());
        assert_eq!(sa.counter(Icmp::InTimeExcds), 1);
        assert_eq!(sa.get("Icmp", "InTimeExcds"), Some(1));
        assert_eq!(sr.counter(Icmp::OutTimeExcds), 1);
        assert_eq!(sr.counter(Ip::InHdrErrors), 1);
        assert_eq!(sr.counter(Ip::ForwDatagrams), 0);
        assert_eq!(b.snmp().counter(Ip::InReceives), 0);

        // TTL 2 is enough for one router: the reply comes back.
        a.ping_with_ttl(ip("10.0.1.2"), 2, b"just enough", Some(2), SEC)
            .await
            .unwrap();
        assert_eq!(r.snmp().counter(Ip::ForwDatagrams), 2);
    });
}

#[test]
fn unroutable_destination_gets_net_unreachable_from_router() {
    let rt = netrt::runtime::Builder::new().cores(1).build().unwrap();
    let topo = three_namespaces(&rt, true, 4);
    let [a, r] = namespaces(&topo, ["a", "r"]);
    rt.block_on(async move {
        let err = a.ping(ip("172.16.0.1"), 1, b"?", SEC).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NetworkUnreachable);
        assert_eq!(r.snmp().counter(Icmp::OutDestUnreachs), 1);
        assert_eq!(a.snmp().counter(Icmp::InDestUnreachs), 1);
    });
}

/// UDP through the router: the senders use checksum offload, which leaves
/// only the pseudo-header seed in the field on the cable; the router must
/// have the output device finish it again, or the far end counts
/// `InCsumErrors` and drops every datagram.
#[test]
fn forwarded_udp_keeps_a_valid_checksum() {
    use netrt::net::UdpSocket;
    use netrt::stack::snmp::Udp;
    let rt = netrt::runtime::Builder::new().cores(2).build().unwrap();
    let topo = three_namespaces(&rt, true, 4);
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let server = b.scope(UdpSocket::bind("10.0.1.2:7")).await.unwrap();
        let client = a.scope(UdpSocket::bind("0.0.0.0:0")).await.unwrap();
        let echo = b.spawn(async move {
            let mut buf = [0u8; 2048];
            for _ in 0..20 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let mut buf = [0u8; 2048];
        for i in 0..20u32 {
            let msg: Vec<u8> = (0..(100 + i * 50)).map(|k| (k ^ i) as u8).collect();
            client.send_to(&msg, "10.0.1.2:7").await.unwrap();
            let n = netrt::time::timeout(SEC, client.recv(&mut buf))
                .await
                .expect("echo lost: forwarded checksum broken?")
                .unwrap();
            assert_eq!(&buf[..n], &msg[..]);
        }
        echo.await.unwrap();
        assert_eq!(b.snmp().counter(Udp::InCsumErrors), 0);
        assert_eq!(a.snmp().counter(Udp::InCsumErrors), 0);
        assert_eq!(b.snmp().counter(Udp::InDatagrams), 20);
    });
}
