//! Netfilter-style hooks on the IPv4 path: a PREROUTING hook dropping one
//! port's traffic, an OUTPUT hook rewriting header fields.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use netrt::net::UdpSocket;
use netrt::stack::hooks::{priority, HookCtx, HookPoint, Verdict};
use netrt::stack::snmp::{Icmp, Ip, Udp};
use netrt::stack::IfIndex;
use netrt::wire::IpProtocol;

const SEC: Duration = Duration::from_secs(2);

/// The UDP destination port of the datagram in `ctx`, if it is one.
fn udp_dst_port(ctx: &HookCtx<'_>) -> Option<u16> {
    let packet = ctx.ipv4()?;
    if packet.protocol() != IpProtocol::Udp || packet.frag_offset() != 0 {
        return None;
    }
    let l4 = packet.payload();
    Some(u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]))
}

#[test]
fn prerouting_hook_drops_one_ports_traffic() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let _hook = b.hooks().register(
        HookPoint::Prerouting,
        priority::FILTER,
        Arc::new(move |ctx: &mut HookCtx<'_>| {
            assert_eq!(ctx.in_dev(), Some(IfIndex(2)));
            assert_eq!(ctx.out_dev(), None);
            if udp_dst_port(ctx) == Some(7777) {
                d.fetch_add(1, Ordering::Relaxed);
                Verdict::Drop
            } else {
                Verdict::Accept
            }
        }),
    );
    rt.block_on(async move {
        let blocked = b.scope(UdpSocket::bind("10.0.0.2:7777")).await.unwrap();
        let open = b.scope(UdpSocket::bind("10.0.0.2:7778")).await.unwrap();
        let tx = a.scope(UdpSocket::bind("0.0.0.0:0")).await.unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 32], "10.0.0.2:7777").await.unwrap();
            tx.send_to(&[i; 32], "10.0.0.2:7778").await.unwrap();
        }
        let mut buf = [0u8; 64];
        for i in 0..5u8 {
            let (n, from) = netrt::time::timeout(SEC, open.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], &[i; 32]);
            assert_eq!(from.ip().to_string(), "10.0.0.1");
            assert_eq!(from.port(), tx.local_addr().unwrap().port());
        }
        // Everything for 7777 was dropped before routing.
        assert!(
            netrt::time::timeout(Duration::from_millis(200), blocked.recv(&mut buf))
                .await
                .is_err()
        );
        assert_eq!(dropped.load(Ordering::Relaxed), 5);
        let sb = b.snmp();
        assert_eq!(sb.counter(Ip::InReceives), 10);
        assert_eq!(sb.counter(Ip::InDelivers), 5);
        assert_eq!(sb.counter(Udp::InDatagrams), 5);
        assert_eq!(sb.counter(Udp::NoPorts), 0);
        // Dropped silently: no ICMP went back.
        assert_eq!(sb.counter(Icmp::OutMsgs), 0);
    });
}

#[test]
fn output_hook_rewrites_tos_and_ttl() {
    let (rt, topo) = two_namespaces(2, ab_cable());
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let _hook = a.hooks().register(
        HookPoint::Output,
        priority::MANGLE,
        Arc::new(|ctx: &mut HookCtx<'_>| {
            assert_eq!(ctx.in_dev(), None);
            assert_eq!(ctx.out_dev(), Some(IfIndex(2)));
            if udp_dst_port(ctx) == Some(9000) {
                let mut packet = ctx.ipv4_mut().unwrap();
                packet.set_tos(0xb8); // DSCP EF
                packet.set_ttl(17);
                assert!(ctx.fix_ipv4_checksum());
            }
            Verdict::Accept
        }),
    );
    // What b receives: (tos, ttl, header checksum valid) per UDP datagram.
    let (seen, _tap) = ipv4_in_tap(&b, None, |packet| {
        (packet.protocol() == IpProtocol::Udp)
            .then(|| (packet.tos(), packet.ttl(), packet.verify_checksum()))
    });
    rt.block_on(async move {
        let rx = b.scope(UdpSocket::bind("10.0.0.2:9000")).await.unwrap();
        let other = b.scope(UdpSocket::bind("10.0.0.2:9001")).await.unwrap();
        let tx = a.scope(UdpSocket::bind("0.0.0.0:0")).await.unwrap();
        tx.send_to(b"marked", "10.0.0.2:9000").await.unwrap();
        tx.send_to(b"plain", "10.0.0.2:9001").await.unwrap();
        let mut buf = [0u8; 16];
        let n = netrt::time::timeout(SEC, rx.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"marked");
        let n = netrt::time::timeout(SEC, other.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"plain");
        assert_eq!(*seen.lock().unwrap(), [(0xb8, 17, true), (0, 64, true)]);
        assert_eq!(b.snmp().counter(Ip::InHdrErrors), 0);
    });
}

#[test]
fn output_hook_drop_is_permission_denied() {
    let (rt, topo) = two_namespaces(1, ab_cable());
    let a = topo.ns("a").clone();
    let hook = a.hooks().register(
        HookPoint::Output,
        priority::FILTER,
        Arc::new(|_: &mut HookCtx<'_>| Verdict::Drop),
    );
    rt.block_on(async move {
        let err = a.ping(ip("10.0.0.2"), 1, b"no", SEC).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        drop(hook);
        a.ping(ip("10.0.0.2"), 2, b"yes", SEC).await.unwrap();
    });
}
