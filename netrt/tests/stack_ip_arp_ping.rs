//! ARP resolution and ping between namespaces over emulated igb cables.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use netrt::stack::neigh::NeighState;
use netrt::stack::ptype::TapDirection;
use netrt::stack::snmp::{Icmp, Ip};
use netrt::stack::IfIndex;

const SEC: Duration = Duration::from_secs(2);

#[test]
fn first_ping_is_queued_during_arp_then_answered() {
    let (rt, topo) = two_namespaces(2, ab_cable());
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let eth0 = IfIndex(2);
    // What a's eth0 sends and receives, in order: (direction, ethertype).
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let _tap = a.add_packet_tap(move |frame, dir, dev| {
        if dev == IfIndex(2) {
            let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
            log2.lock().unwrap().push((dir, ethertype));
        }
    });
    rt.block_on(async move {
        assert!(a.neighbour(eth0, ip("10.0.0.2")).is_none());
        let rtt = a
            .ping(ip("10.0.0.2"), 1, b"hello, b", SEC)
            .await
            .expect("first ping answered");
        assert!(rtt < SEC);
        // The echo request waited for the ARP exchange (b's gratuitous
        // ARP may come first: it is sent when b's address is added).
        let mut seen: Vec<_> = log.lock().unwrap().drain(..).collect();
        if seen.len() == 5 {
            assert_eq!(seen.remove(0), (TapDirection::In, 0x0806));
        }
        assert_eq!(
            seen,
            [
                (TapDirection::Out, 0x0806), // who-has 10.0.0.2
                (TapDirection::In, 0x0806),  // is-at
                (TapDirection::Out, 0x0800), // echo request, released
                (TapDirection::In, 0x0800),  // echo reply
            ]
        );

        // The request waited in the neighbour queue, then went out.
        let entry = a.neighbour(eth0, ip("10.0.0.2")).expect("entry");
        assert_eq!(entry.state, NeighState::Reachable);
        let b_mac = b.device(eth0).unwrap().mac();
        assert_eq!(entry.mac, Some(b_mac));
        assert_eq!(entry.queued, 0);
        let stats = a.neighbour_stats(eth0);
        assert_eq!(stats.allocs, 1);
        assert_eq!(stats.unres_discards, 0);
        // b learned a from the request (STALE until it sends to it), then
        // used the entry to answer.
        let learned = b.neighbour(eth0, ip("10.0.0.1")).expect("b learned a");
        assert_eq!(learned.mac, Some(a.device(eth0).unwrap().mac()));
        assert!(a.arp_stats().tx_requests >= 1);
        assert!(b.arp_stats().tx_replies >= 1);

        // Later pings use the cache: no new request.
        let requests = a.arp_stats().tx_requests;
        for seq in 2..20 {
            a.ping(ip("10.0.0.2"), seq, &[seq as u8; 100], SEC)
                .await
                .unwrap();
        }
        assert_eq!(a.arp_stats().tx_requests, requests);

        let sa = a.snmp();
        let sb = b.snmp();
        assert_eq!(sa.counter(Icmp::OutEchos), 19);
        assert_eq!(sa.counter(Icmp::InEchoReps), 19);
        assert_eq!(sb.counter(Icmp::InEchos), 19);
        assert_eq!(sb.counter(Icmp::OutEchoReps), 19);
        assert_eq!(sb.counter(Ip::InDelivers), 19);
        assert_eq!(sa.counter(Ip::OutRequests), 19);
        assert_eq!(sb.counter(Ip::InHdrErrors), 0);
    });
}

#[test]
fn ping_to_nobody_times_out_and_arp_gives_up() {
    let (rt, topo) = two_namespaces(1, ab_cable());
    let a = topo.ns("a").clone();
    rt.block_on(async move {
        let err = a
            .ping(ip("10.0.0.77"), 1, b"anyone?", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let entry = a.neighbour(IfIndex(2), ip("10.0.0.77")).unwrap();
        assert_eq!(entry.state, NeighState::Incomplete);
        assert_eq!(entry.queued, 1);
        // Three broadcast requests one second apart, then failure.
        netrt::time::sleep(Duration::from_millis(3300)).await;
        let entry = a.neighbour(IfIndex(2), ip("10.0.0.77")).unwrap();
        assert_eq!(entry.state, NeighState::Failed);
        assert_eq!(a.arp_stats().tx_requests, 3 + 1 /* gratuitous */);
        let stats = a.neighbour_stats(IfIndex(2));
        assert_eq!((stats.res_failed, stats.unres_discards), (1, 1));
        // The failed packet was our own: ICMP host unreachable to ourselves.
        assert_eq!(a.snmp().counter(Icmp::OutDestUnreachs), 1);
    });
}

#[test]
fn ping_own_address_goes_through_loopback() {
    let (rt, topo) = two_namespaces(1, ab_cable());
    let a = topo.ns("a").clone();
    rt.block_on(async move {
        a.ping(ip("10.0.0.1"), 1, b"me", SEC).await.unwrap();
        a.ping(ip("127.0.0.1"), 2, b"me too", SEC).await.unwrap();
        let lo = a.device(IfIndex(1)).unwrap();
        assert!(lo.is_loopback());
        assert_eq!(lo.stats().tx_packets, 4);
        // Nothing went on the wire but the gratuitous ARP.
        assert_eq!(a.device(IfIndex(2)).unwrap().stats().tx_packets, 1);
        let err = a.ping(ip("192.168.9.9"), 3, b"", SEC).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NetworkUnreachable);
        assert_eq!(a.snmp().counter(Ip::OutNoRoutes), 1);
    });
}
