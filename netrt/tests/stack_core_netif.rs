//! The receive path below IP: frames crossing a cable into another
//! namespace's netif, packet taps in both directions, the MAC filter,
//! malformed and unknown frames, loopback delivery, RPS steering and the
//! per-core backlog with its overflow accounting.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use common::*;
use netrt::runtime::Builder;
use netrt::stack::dev::NetDevice;
use netrt::stack::netif::{backlog_stats, MAX_BACKLOG};
use netrt::stack::ns::Namespace;
use netrt::stack::ptype::TapDirection::{In, Out};
use netrt::stack::skb::PacketBuf;
use netrt::stack::topology::CableSpec;
use netrt::stack::IfIndex;
use netrt::wire::EthernetAddress;

const LO: IfIndex = IfIndex(1);
const ETH0: IfIndex = IfIndex(2);

#[test]
fn injected_frame_reaches_the_peer_and_taps_see_both_directions() {
    // No addresses: no gratuitous ARP, the only frames are ours.
    let (rt, topo) = two_namespaces(2, CableSpec::new("", ""));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    let (log_a, _ta) = record(&a);
    let (log_b, _tb) = record(&b);
    rt.block_on(async move {
        let frame = eth(b_dev.mac(), a_dev.mac(), ETH_P_EXPERIMENTAL, &[7u8; 64]);
        a_dev.xmit(PacketBuf::from_slice(PacketBuf::DEFAULT_HEADROOM, &frame));
        until("b's tap", || count(&log_b, In) == 1).await;

        let seen_a = log_a.lock().unwrap().clone();
        assert_eq!(seen_a.len(), 1, "a's tap sees only its own transmit");
        assert_eq!(
            (&seen_a[0].0, seen_a[0].1, seen_a[0].2),
            (&frame, Out, ETH0)
        );
        let seen_b = log_b.lock().unwrap().clone();
        assert_eq!(seen_b.len(), 1);
        assert_eq!((&seen_b[0].0, seen_b[0].1, seen_b[0].2), (&frame, In, ETH0));

        let nb = b.netif_stats();
        assert_eq!(nb.rx_frames, 1);
        assert_eq!(nb.rx_unknown_proto, 1);
        assert_eq!(nb.rx_dropped, 1);
        assert_eq!(a.netif_stats().rx_frames, 0);
        let (sa, sb) = (a_dev.stats(), b_dev.stats());
        assert_eq!((sa.tx_packets, sa.tx_bytes), (1, frame.len() as u64));
        assert_eq!((sb.rx_packets, sb.rx_bytes), (1, frame.len() as u64));
        assert_eq!(sb.tx_packets, 0);
    });
}

#[test]
fn frames_for_other_hosts_are_counted_and_dropped() {
    let other = EthernetAddress([0x02, 0, 0, 0, 0, 0x99]);
    // Promiscuous NIC: the frame reaches netif, which drops it (Linux
    // PACKET_OTHERHOST); taps still see it, as tcpdump would.
    let (rt, topo) = two_namespaces(1, CableSpec::new("", "").promiscuous(true));
    let b = topo.ns("b").clone();
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    assert!(b_dev.promiscuous());
    let (log_b, _tb) = record(&b);
    rt.block_on(async move {
        let send = |dst| {
            let f = eth(dst, a_dev.mac(), ETH_P_EXPERIMENTAL, &[1u8; 50]);
            a_dev.xmit(PacketBuf::from_slice(64, &f));
        };
        send(other);
        send(EthernetAddress::BROADCAST);
        send(b_dev.mac());
        until("three frames", || count(&log_b, In) == 3).await;
        let s = b.netif_stats();
        assert_eq!(s.rx_frames, 3);
        assert_eq!(s.rx_other_host, 1);
        assert_eq!(
            s.rx_unknown_proto, 2,
            "broadcast and own MAC pass the filter"
        );
        assert_eq!(s.rx_dropped, 3);
    });

    // Not promiscuous: the NIC's own filter drops it before the stack.
    let (rt, topo) = two_namespaces(1, CableSpec::new("", ""));
    let b = topo.ns("b").clone();
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    rt.block_on(async move {
        let f = eth(other, a_dev.mac(), ETH_P_EXPERIMENTAL, &[1u8; 50]);
        a_dev.xmit(PacketBuf::from_slice(64, &f));
        let f = eth(b_dev.mac(), a_dev.mac(), ETH_P_EXPERIMENTAL, &[2u8; 50]);
        a_dev.xmit(PacketBuf::from_slice(64, &f));
        // Same queue, in order: once the second arrived the first was
        // filtered, not late.
        until("the second frame", || b.netif_stats().rx_frames == 1).await;
        assert_eq!(b.netif_stats().rx_other_host, 0);
        assert_eq!(b_dev.stats().rx_packets, 1);
    });
}

#[test]
fn loopback_delivers_on_the_sending_core_with_verified_checksums() {
    let rt = Builder::new().cores(2).build().unwrap();
    let ns = Namespace::new("lo-test").unwrap();
    let (log, _tap) = record(&ns);
    let lo = ns.device(LO).unwrap();
    assert!(lo.is_loopback());
    assert_eq!(lo.mac(), EthernetAddress::UNSPECIFIED);
    let (ns2, log2) = (ns.clone(), log.clone());
    rt.block_on(async move {
        let log = log2;
        let lo2 = lo.clone();
        netrt::spawn_on(1, async move {
            let f = eth(
                EthernetAddress::UNSPECIFIED,
                EthernetAddress::UNSPECIFIED,
                ETH_P_EXPERIMENTAL,
                b"x",
            );
            lo2.xmit(PacketBuf::from_slice(16, &f));
        })
        .await
        .unwrap();
        until("loopback frame", || count(&log, In) == 1).await;
        let seen = log.lock().unwrap().clone();
        assert_eq!(seen[0].1, Out);
        assert_eq!(seen[0].3, Some(1));
        assert_eq!(seen[1].1, In);
        assert_eq!(
            seen[1].3,
            Some(1),
            "processed by the sending core's backlog"
        );
        assert_eq!(ns2.netif_stats().rx_unknown_proto, 1);
        let s = lo.stats();
        assert_eq!((s.tx_packets, s.rx_packets), (1, 1));
        let bl = backlog_stats(&netrt::runtime::Handle::current(), 1).unwrap();
        assert!(bl.processed >= 1);
    });

    // Off any runtime a loopback frame is processed at once, inline.
    std::thread::spawn(move || {
        let lo = ns.device(LO).unwrap();
        let f = eth(
            EthernetAddress::UNSPECIFIED,
            EthernetAddress::UNSPECIFIED,
            ETH_P_EXPERIMENTAL,
            b"y",
        );
        lo.xmit(PacketBuf::from_slice(16, &f));
        assert_eq!(count(&log, In), 2);
        assert_eq!(ns.netif_stats().rx_unknown_proto, 2);
    })
    .join()
    .unwrap();
}

#[test]
fn malformed_and_random_frames_are_counted_never_panic() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(2));
    let b = topo.ns("b").clone();
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    rt.block_on(async move {
        let before = b.netif_stats();
        let lo = b.device(LO).unwrap();
        // Runts: shorter than an Ethernet header (loopback carries any
        // length; the igb device would refuse them).
        for len in 0..14 {
            lo.xmit(PacketBuf::from_slice(0, &vec![0xa5; len]));
        }
        until("runts", || {
            b.netif_stats().rx_malformed - before.rx_malformed == 14
        })
        .await;

        // Random bytes behind a valid header for each EtherType the stack
        // handles, and unknown ones, over the cable (both queues via RSS)
        // and loopback.
        let mut rng = Rng(42);
        let mut sent = 0u64;
        let mut unknown = 0u64;
        let mut on_cable = 0u64;
        for i in 0..600 {
            let ethertype = match i % 4 {
                0 => 0x0800,
                1 => 0x0806,
                2 => 0x86dd,
                _ => rng.next() as u16 | 0x4000,
            };
            if !matches!(ethertype, 0x0800 | 0x0806) {
                unknown += 1;
            }
            let len = (rng.next() % 200) as usize;
            let f = eth(b_dev.mac(), a_dev.mac(), ethertype, &rng.bytes(len));
            if i % 2 == 0 {
                a_dev.xmit(PacketBuf::from_slice(64, &f));
                on_cable += 1;
            } else {
                lo.xmit(PacketBuf::from_slice(64, &f));
            }
            sent += 1;
            if i % 32 == 31 {
                // The RX ring holds 255 frames: let it drain.
                until("RX", || b_dev.stats().rx_packets >= on_cable).await;
            }
        }
        // Valid-looking IPv4 headers with random payloads and protocols.
        for i in 0..200 {
            if i % 32 == 31 {
                until("RX", || b_dev.stats().rx_packets >= on_cable).await;
            }
            let len = (rng.next() % 100) as usize;
            let payload = rng.bytes(len);
            let f = ipv4_frame(
                b_dev.mac(),
                a_dev.mac(),
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                rng.next() as u8,
                &payload,
            );
            a_dev.xmit(PacketBuf::from_slice(64, &f));
            sent += 1;
            on_cable += 1;
        }
        until("all frames", || {
            b.netif_stats().rx_frames - before.rx_frames >= 14 + sent
        })
        .await;
        let after = b.netif_stats();
        assert_eq!(after.rx_unknown_proto - before.rx_unknown_proto, unknown);
        assert_eq!(after.rx_other_host, before.rx_other_host);
        // The namespace still works: ping over the same cable.
        let a = topo_ping(&topo).await;
        assert!(a, "ping after garbage");
    });
}

async fn topo_ping(topo: &netrt::stack::topology::Topo) -> bool {
    let a = topo.ns("a");
    a.ping(
        Ipv4Addr::new(10, 0, 0, 2),
        1,
        b"still alive",
        std::time::Duration::from_secs(2),
    )
    .await
    .is_ok()
}

#[test]
fn rps_steers_frames_to_other_cores_backlogs() {
    // One queue, polled by core 0; RPS spreads by RSS hash over 2 cores.
    let (rt, topo) = two_namespaces(2, CableSpec::new("", ""));
    let b = topo.ns("b").clone();
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    b_dev.set_rps(true);
    assert!(b_dev.rps_enabled());
    let (log_b, _tb) = record(&b);
    const N: usize = 256;
    rt.block_on(async move {
        let handle = netrt::runtime::Handle::current();
        let before1 = backlog_stats(&handle, 1).unwrap();
        for i in 0..N {
            // Different sources: different RSS hashes (IPv4 2-tuple).
            let f = ipv4_frame(
                b_dev.mac(),
                a_dev.mac(),
                [10, 1, (i >> 8) as u8, i as u8],
                [10, 0, 0, 2],
                253,
                &[0u8; 30],
            );
            a_dev.xmit(PacketBuf::from_slice(64, &f));
            if i % 32 == 31 {
                // Let b's RX ring drain (255 frames fit) before going on.
                until("RX to catch up", || {
                    b_dev.stats().rx_packets == i as u64 + 1
                })
                .await;
            }
        }
        until("all frames", || count(&log_b, In) == N).await;
        let seen = log_b.lock().unwrap().clone();
        let on_core1 = seen.iter().filter(|s| s.3 == Some(1)).count();
        let on_core0 = seen.iter().filter(|s| s.3 == Some(0)).count();
        assert_eq!(on_core0 + on_core1, N);
        assert!(
            on_core1 > N / 4 && on_core0 > N / 4,
            "spread: {on_core0} / {on_core1}"
        );
        let s = b.netif_stats();
        assert_eq!(
            s.rps_steered, on_core1 as u64,
            "only cross-core hops are counted"
        );
        assert_eq!(s.backlog_drops, 0);
        let after1 = backlog_stats(&handle, 1).unwrap();
        assert_eq!(after1.processed - before1.processed, on_core1 as u64);
        assert_eq!(after1.queued, 0);
        // The same flow always lands on the same core.
        let mut by_src = std::collections::HashMap::new();
        for (frame, _, _, core) in &seen {
            let src = frame[26..30].to_vec();
            assert_eq!(*by_src.entry(src).or_insert(*core), *core);
        }
    });
}

#[test]
fn backlog_overflow_is_counted() {
    let rt = Builder::new().cores(1).build().unwrap();
    let ns = Namespace::new("flood").unwrap();
    let (log, _tap) = record(&ns);
    let lo: Arc<dyn NetDevice> = ns.device(LO).unwrap();
    rt.block_on(async move {
        let handle = netrt::runtime::Handle::current();
        let before = backlog_stats(&handle, 0).unwrap();
        // The backlog is drained by a NAPI poll of this core, which cannot
        // run while this task does not yield: everything past the bound
        // is dropped.
        let n = MAX_BACKLOG + 500;
        let f = eth(
            EthernetAddress::UNSPECIFIED,
            EthernetAddress::UNSPECIFIED,
            ETH_P_EXPERIMENTAL,
            &[3u8; 20],
        );
        for _ in 0..n {
            lo.xmit(PacketBuf::from_slice(16, &f));
        }
        let mid = backlog_stats(&handle, 0).unwrap();
        assert_eq!(mid.queued, MAX_BACKLOG);
        assert_eq!(mid.dropped - before.dropped, 500);
        until("backlog drained", || count(&log, In) == MAX_BACKLOG).await;
        assert_eq!(count(&log, Out), n);
        let after = backlog_stats(&handle, 0).unwrap();
        assert_eq!(after.queued, 0);
        assert_eq!(after.processed - before.processed, MAX_BACKLOG as u64);
        let s = ns.netif_stats();
        assert_eq!(s.backlog_drops, 500);
        assert_eq!(s.rx_frames, MAX_BACKLOG as u64);
        let d = lo.stats();
        assert_eq!(d.tx_packets, n as u64);
        assert_eq!(d.rx_packets, MAX_BACKLOG as u64);
        assert_eq!(d.rx_dropped, 500);
    });
}
