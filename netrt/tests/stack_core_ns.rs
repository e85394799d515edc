//! Namespaces (current/default/inheritance), the topology builder, the
//! transmit path inside a NAPI poll (deferral, qdisc overflow) and the
//! packet-buffer pool in steady state.

mod common;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use netrt::runtime::Builder;
use netrt::stack::dev::NetDevice;
use netrt::stack::ns::Namespace;
use netrt::stack::ptype::TapDirection::{In, Out};
use netrt::stack::qdisc::DEFAULT_TXQUEUELEN;
use netrt::stack::skb::{pool_stats, PacketBuf, PoolStats};
use netrt::stack::topology::{CableSpec, Topology};
use netrt::stack::IfIndex;

#[netrt::test(cores = 2)]
async fn runtime_default_namespace_is_shared_by_cores_and_lazily_made() {
    let here = Namespace::current();
    assert_eq!(here.name(), "default");
    assert!(here.device(IfIndex(1)).unwrap().is_loopback());
    let there = netrt::spawn_on(1, async { Namespace::current() })
        .await
        .unwrap();
    assert!(here == there, "one default namespace per runtime");
    // A plain thread off the runtime has the process-wide default.
    let off = std::thread::spawn(Namespace::current).join().unwrap();
    assert!(off != here);
    assert!(off == std::thread::spawn(Namespace::current).join().unwrap());
}

#[test]
fn each_runtime_has_its_own_default_namespace() {
    let first = Builder::new().cores(1).build().unwrap();
    let a = first.block_on(async { Namespace::current() });
    let second = Builder::new().cores(1).build().unwrap();
    let b = second.block_on(async { Namespace::current() });
    assert!(a != b);
}

#[netrt::test(cores = 2)]
async fn scoped_tasks_and_their_children_run_in_the_namespace() {
    let blue = Namespace::new("blue").unwrap();
    let default = Namespace::current();
    let (own, child, remote, local) = blue
        .spawn(async {
            let own = Namespace::current();
            let child = netrt::spawn(async { Namespace::current() }).await.unwrap();
            let remote = netrt::spawn_on(1, async {
                // Two levels down, on another core.
                netrt::spawn(async { Namespace::current() }).await.unwrap()
            })
            .await
            .unwrap();
            let local = netrt::spawn_local(async { Namespace::current() })
                .await
                .unwrap();
            (own, child, remote, local)
        })
        .await
        .unwrap();
    assert!(own == blue && child == blue && remote == blue && local == blue);
    // Outside the scope: back to the default; a plain spawn does not
    // pick up a namespace it was not spawned in.
    assert!(Namespace::current() == default);
    assert!(netrt::spawn(async { Namespace::current() }).await.unwrap() == default);
    // `scope` on a future awaited in place.
    let red = Namespace::new("red").unwrap();
    assert!(red.scope(async { Namespace::current() }).await == red);
    assert!(Namespace::current() == default);
}

#[test]
fn topology_builds_names_and_reports() {
    let rt = Builder::new().cores(2).build().unwrap();
    let topo = Topology::new()
        .namespace("a")
        .namespace("r")
        .namespace("b")
        .cable(
            "a",
            "r",
            CableSpec::new("10.0.0.1/24", "10.0.0.254/24").queues(4),
        )
        .cable(
            "r",
            "b",
            CableSpec::new("10.0.1.254/24", "10.0.1.2/24")
                .queues(2)
                .mtu(1280),
        )
        .route("a", "default via 10.0.0.254")
        .route("b", "10.0.0.0/24 via 10.0.1.254 metric 5")
        .forward("r", true)
        .build(&rt.handle())
        .unwrap();
    let r = topo.ns("r");
    assert_eq!(
        r.devices()
            .iter()
            .map(|d| d.name().to_string())
            .collect::<Vec<_>>(),
        ["lo", "eth0", "eth1"]
    );
    assert!(r.ip_forward() && !topo.ns("a").ip_forward());
    assert_eq!(topo.device("a", "eth0").unwrap().num_queues(), 4);
    assert_eq!(topo.device("b", "eth0").unwrap().num_queues(), 2);
    assert_eq!(
        topo.device("r", "eth1").unwrap().mac().0,
        [2, 0x6e, 0x74, 0, 2, 1]
    );
    assert!(topo.device("b", "eth1").is_none());
    assert_eq!(topo.device("b", "eth0").unwrap().mtu(), 1280);
    assert_eq!(topo.device("r", "eth1").unwrap().mtu(), 1280);
    assert_eq!(topo.device("r", "eth0").unwrap().mtu(), 1500);
    let dev = topo.device("a", "eth0").unwrap();
    for bad in [67, 1501] {
        assert_eq!(
            dev.set_mtu(bad).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
    let b_route = topo
        .ns("b")
        .routes()
        .lookup("10.0.0.7".parse().unwrap())
        .unwrap();
    assert_eq!(
        b_route.next_hop,
        "10.0.1.254".parse::<std::net::Ipv4Addr>().unwrap()
    );
    assert_eq!(b_route.dev, IfIndex(2));
    let c = topo.cable("b", "r").unwrap();
    assert_eq!(c.a.ns.name(), "r");
    let text = topo.to_string();
    for needle in [
        "namespace r",
        "2: eth0 mtu 1500 link 02:6e:74:00:01:02",
        "3: eth1 mtu 1280 link 02:6e:74:00:02:01",
        "inet 10.0.1.254/24",
        "cable a/eth0 <-> r/eth0",
        "a->b: sent",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }

    let err = |t: Topology| t.build(&rt.handle()).unwrap_err().kind();
    assert_eq!(
        err(Topology::new().namespace("x").namespace("x")),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        err(Topology::new()
            .namespace("x")
            .cable("x", "y", CableSpec::default())),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        err(Topology::new().namespace("x").namespace("y").cable(
            "x",
            "y",
            CableSpec::new("10.0.0.1/40", "")
        )),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        err(Topology::new()
            .namespace("x")
            .route("x", "default via 1.2.3.4")),
        io::ErrorKind::NetworkUnreachable
    );
}

#[test]
fn transmits_from_the_receive_path_are_deferred_to_the_end_of_the_poll() {
    // A tap on b answers each received frame with a burst bigger than a
    // qdisc band: the frames queue during the poll (nothing reaches the
    // ring before the poll ends), the overflow is counted, the rest goes
    // out in bursts afterwards.
    let (rt, topo) = two_namespaces(1, CableSpec::new("", ""));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    const BURST: usize = DEFAULT_TXQUEUELEN + 100;
    let sent_during_poll = Arc::new(AtomicU64::new(u64::MAX));
    let fired = Arc::new(AtomicBool::new(false));
    let reply = eth(a_dev.mac(), b_dev.mac(), ETH_P_EXPERIMENTAL, &[9u8; 46]);
    let tap = {
        let (b_dev, sent, fired) = (b_dev.clone(), sent_during_poll.clone(), fired.clone());
        b.add_packet_tap(move |_, dir, _| {
            if dir != In || fired.swap(true, Ordering::SeqCst) {
                return;
            }
            let before = b_dev.stats().tx_packets;
            for _ in 0..BURST {
                b_dev.xmit(PacketBuf::from_slice(32, &reply));
            }
            sent.store(b_dev.stats().tx_packets - before, Ordering::SeqCst);
        })
    };
    let (log_a, _ta) = record(&a);
    rt.block_on(async move {
        let f = eth(b_dev.mac(), a_dev.mac(), ETH_P_EXPERIMENTAL, &[1u8; 46]);
        a_dev.xmit(PacketBuf::from_slice(32, &f));
        until("replies", || {
            b_dev.stats().tx_packets == DEFAULT_TXQUEUELEN as u64
        })
        .await;
        assert_eq!(
            sent_during_poll.load(Ordering::SeqCst),
            0,
            "nothing sent inside the poll"
        );
        let s = b_dev.stats();
        assert_eq!(s.tx_dropped, 100, "qdisc overflow counted");
        assert_eq!(b_dev.qdisc_stats(0).unwrap().dropped, 100);
        assert_eq!(b_dev.qdisc_stats(0).unwrap().backlog, 0);
        // a's RX ring holds 255 frames; what a received is what fit.
        until("a's RX", || a.netif_stats().rx_frames > 0).await;
        drop(tap);
        assert!(count(&log_a, In) > 0);
        assert_eq!(count(&log_a, Out), 1);
    });
}

/// Pool counters of each core of the running runtime.
async fn pools(cores: usize) -> Vec<PoolStats> {
    let mut v = Vec::new();
    for core in 0..cores {
        v.push(netrt::spawn_on(core, async { pool_stats() }).await.unwrap());
    }
    v
}

#[test]
fn packet_buffers_are_recycled_in_steady_state() {
    let (rt, topo) = two_namespaces(2, CableSpec::new("", "").queues(2));
    let b = topo.ns("b").clone();
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    let seen = Arc::new(Mutex::new(0u64));
    let _tap = {
        let seen = seen.clone();
        b.add_packet_tap(move |_, dir, _| {
            if dir == In {
                *seen.lock().unwrap() += 1;
            }
        })
    };
    rt.block_on(async move {
        // Rounds of 100 frames from core 0 and core 1, spread over both
        // queues (polled by cores 0 and 1) by their RSS hash.
        let round = |n: u64| {
            let (a_dev, b_dev, seen) = (a_dev.clone(), b_dev.clone(), seen.clone());
            async move {
                for core in 0..2u8 {
                    let (a_dev, b_dev) = (a_dev.clone(), b_dev.clone());
                    netrt::spawn_on(usize::from(core), async move {
                        for i in 0..100u32 {
                            let src = [10, core, (i >> 8) as u8, i as u8];
                            let f = ipv4_frame(
                                b_dev.mac(),
                                a_dev.mac(),
                                src,
                                [10, 9, 9, 9],
                                253,
                                &[0u8; 64],
                            );
                            a_dev.xmit(PacketBuf::from_slice(64, &f));
                        }
                    })
                    .await
                    .unwrap();
                }
                until("round", || *seen.lock().unwrap() == n).await;
            }
        };
        let mut total = 0;
        for _ in 0..3 {
            total += 200;
            round(total).await;
        }
        let warm = pools(2).await;
        for _ in 0..20 {
            total += 200;
            round(total).await;
        }
        let hot = pools(2).await;
        for (w, h) in warm.iter().zip(&hot) {
            // The pool only grows when the number of buffers in flight
            // reaches a new high (timing may add a few to one poll's
            // batch); it never allocates per packet.
            assert!(
                h.allocated - w.allocated <= 64,
                "buffers allocated in steady state: {w:?} -> {h:?}"
            );
            assert_eq!(h.released, w.released, "the pool never overflowed");
            assert!(h.reused > w.reused);
        }
        let delta = |f: fn(&PoolStats) -> u64| -> u64 {
            hot.iter().zip(&warm).map(|(h, w)| f(h) - f(w)).sum()
        };
        let (reused, allocated) = (delta(|p| p.reused), delta(|p| p.allocated));
        assert!(
            reused + allocated >= 2 * 20 * 200,
            "a TX and an RX buffer per frame, got {reused} + {allocated}"
        );
    });
}

#[test]
fn a_full_tx_ring_keeps_frames_queued_and_retries_after_the_clean() {
    use netrt_igb::port::{EmulatedPort, PairConfig, PortSpec};
    // An 8-descriptor TX ring takes 7 frames per burst: a deferred burst of
    // 100 must wait for completions several times.
    let rt = Builder::new().cores(1).build().unwrap();
    let (a, b) = (Namespace::new("a").unwrap(), Namespace::new("b").unwrap());
    let mut spec_b = PortSpec::new(1, [2, 0, 0, 0, 0, 0xb]);
    spec_b.driver.tx.ring_size = 8;
    let (port_a, port_b) = EmulatedPort::pair_with_cable(&PairConfig {
        a: PortSpec::new(1, [2, 0, 0, 0, 0, 0xa]),
        b: spec_b,
        ..PairConfig::default()
    })
    .unwrap();
    let a_dev = a.add_igb(&rt.handle(), "eth0", port_a).unwrap();
    let b_dev = b.add_igb(&rt.handle(), "eth0", port_b).unwrap();
    const N: usize = 100;
    let reply = eth(a_dev.mac(), b_dev.mac(), ETH_P_EXPERIMENTAL, &[5u8; 46]);
    let fired = Arc::new(AtomicBool::new(false));
    let _tap = {
        let (b_dev, fired, reply) = (b_dev.clone(), fired.clone(), reply.clone());
        b.add_packet_tap(move |_, dir, _| {
            if dir == In && !fired.swap(true, Ordering::SeqCst) {
                for _ in 0..N {
                    b_dev.xmit(PacketBuf::from_slice(32, &reply));
                }
            }
        })
    };
    let (log_a, _ta) = record(&a);
    rt.block_on(async move {
        let f = eth(b_dev.mac(), a_dev.mac(), ETH_P_EXPERIMENTAL, &[1u8; 46]);
        a_dev.xmit(PacketBuf::from_slice(32, &f));
        until("all replies", || count(&log_a, In) == N).await;
        let s = b_dev.stats();
        assert_eq!((s.tx_packets, s.tx_dropped), (N as u64, 0));
        let q = b_dev.queue_stats(0).unwrap();
        assert!(q.tx_busy > 0, "the ring filled up: {q:?}");
        assert_eq!(q.tx_packets, N as u64);
        // In order, none lost or duplicated.
        assert!(log_a
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.1 == In)
            .all(|s| s.0 == reply));
    });
}

#[test]
fn pfifo_fast_sends_by_tos_band_within_a_poll() {
    // Frames queued during one poll leave in band order: "minimize delay"
    // (band 0) before best effort (band 1) before bulk (band 2).
    let (rt, topo) = two_namespaces(1, CableSpec::new("", ""));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    let fired = Arc::new(AtomicBool::new(false));
    let _tap = {
        let (b_dev, a_mac, fired) = (b_dev.clone(), a_dev.mac(), fired.clone());
        b.add_packet_tap(move |_, dir, _| {
            if dir != In || fired.swap(true, Ordering::SeqCst) {
                return;
            }
            // (TOS, tag) in sending order: bulk, best effort, low delay.
            for (tos, tag) in [(0x08u8, b'B'), (0x00, b'E'), (0x10, b'L')] {
                for i in 0..3u8 {
                    let mut payload = [0u8; 46];
                    payload[..2].copy_from_slice(&[tag, i]);
                    let f = eth(a_mac, b_dev.mac(), ETH_P_EXPERIMENTAL, &payload);
                    let mut p = PacketBuf::from_slice(32, &f);
                    p.meta_mut().priority = tos;
                    b_dev.xmit(p);
                }
            }
        })
    };
    let (log_a, _ta) = record(&a);
    rt.block_on(async move {
        let f = eth(b_dev.mac(), a_dev.mac(), ETH_P_EXPERIMENTAL, &[0u8; 46]);
        a_dev.xmit(PacketBuf::from_slice(32, &f));
        until("9 frames", || count(&log_a, In) == 9).await;
        let order: Vec<(u8, u8)> = log_a
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.1 == In)
            .map(|s| (s.0[14], s.0[15]))
            .collect();
        let want: Vec<(u8, u8)> = [b'L', b'E', b'B']
            .iter()
            .flat_map(|&t| (0..3).map(move |i| (t, i)))
            .collect();
        assert_eq!(order, want);
    });
}
