//! TCP error kinds and lifecycle details over a cable: reset by the
//! peer, retransmission give-up, TIME-WAIT reuse by a new SYN, and
//! `connect`'s choice of a port whose replies land on the calling core.

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use netrt::net::{TcpListener, TcpSocket, TcpStream};
use netrt::stack::hooks::{priority, HookCtx, HookPoint, Verdict};
use netrt::stack::ptype::TapDirection;
use netrt::stack::snmp::{Tcp, TcpExt};
use netrt::time::timeout;
use netrt::wire::IpProtocol;

const WAIT: Duration = Duration::from_secs(30);

/// A segment's local port and the core that processed it.
type PortCore = (u16, Option<usize>);

#[test]
fn peer_reset_is_connection_reset() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let l = b.scope(TcpListener::bind("10.0.0.2:80")).await.unwrap();
        let server = b.spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            s.set_zero_linger().unwrap();
            drop(s); // RST
        });
        let mut c = a.scope(TcpStream::connect("10.0.0.2:80")).await.unwrap();
        server.await.unwrap();
        let mut buf = [0u8; 8];
        let e = timeout(WAIT, c.read(&mut buf)).await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        assert_eq!(a.snmp().counter(Tcp::EstabResets), 1);
        assert_eq!(a.tcp_connections(), 0);
    });
}

#[test]
fn retransmission_give_up_is_timed_out() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    a.set_tcp_defaults(|c| {
        c.retries = 3;
        c.rto.min = Duration::from_millis(20);
        c.rto.max = Duration::from_millis(200);
    });
    // Once cut, b drops every TCP segment (a black hole, no RST).
    let cut = Arc::new(AtomicBool::new(false));
    let c2 = cut.clone();
    let _hook = b.hooks().register(
        HookPoint::Prerouting,
        priority::FILTER,
        Arc::new(move |ctx: &mut HookCtx<'_>| {
            let tcp = ctx
                .ipv4()
                .is_some_and(|ip| ip.protocol() == IpProtocol::Tcp);
            if tcp && c2.load(Ordering::Relaxed) {
                Verdict::Drop
            } else {
                Verdict::Accept
            }
        }),
    );
    rt.block_on(async move {
        let l = b.scope(TcpListener::bind("10.0.0.2:80")).await.unwrap();
        let server = b.spawn(async move { l.accept().await.unwrap() });
        let mut c = a.scope(TcpStream::connect("10.0.0.2:80")).await.unwrap();
        let _s = server.await.unwrap();
        cut.store(true, Ordering::Relaxed);
        c.write_all(b"into the void").await.unwrap();
        let mut buf = [0u8; 8];
        let e = timeout(WAIT, c.read(&mut buf)).await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        let s = a.snmp();
        assert_eq!(s.counter(TcpExt::TCPAbortOnTimeout), 1);
        assert!(s.counter(TcpExt::TCPTimeouts) >= 3);
        let e = c.write(b"more").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn a_new_syn_reuses_a_time_wait_tuple() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let l = b.scope(TcpListener::bind("10.0.0.2:80")).await.unwrap();
        let server = b.spawn(async move {
            for round in 0..2u8 {
                let (mut s, _) = l.accept().await.unwrap();
                s.write_all(&[round]).await.unwrap();
                // The server closes first: its side lingers in TIME-WAIT.
                s.close().await.unwrap();
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).await.unwrap();
            }
        });
        let mut port = 0;
        for round in 0..2u8 {
            let c = a
                .scope(async {
                    let s = TcpSocket::new_v4()?;
                    s.set_reuseaddr(true)?;
                    s.bind(SocketAddr::from(([10, 0, 0, 1], port)))?;
                    s.connect("10.0.0.2:80".parse().unwrap()).await
                })
                .await
                .unwrap();
            port = c.local_addr().unwrap().port();
            let mut c = c;
            let mut got = Vec::new();
            timeout(WAIT, c.read_to_end(&mut got))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got, [round]);
            c.close().await.unwrap();
            drop(c);
            // Wait for the server's side to reach TIME-WAIT.
            while b.snmp().counter(TcpExt::TimeWaits) < u64::from(round) + 1 {
                netrt::time::sleep(Duration::from_millis(2)).await;
            }
        }
        timeout(WAIT, server).await.unwrap().unwrap();
        assert_eq!(b.snmp().counter(TcpExt::TCPTimeWaitReuse), 1);
    });
}

#[test]
fn connect_lands_replies_on_the_calling_core() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    // (local port, core) of every TCP segment a receives.
    let seen: Arc<Mutex<Vec<PortCore>>> = Arc::default();
    let s2 = seen.clone();
    let _tap = a.add_packet_tap(move |frame, dir, _| {
        if dir == TapDirection::In && frame.len() >= 38 && frame[23] == 6 {
            let ihl = usize::from(frame[14] & 15) * 4;
            let dport = u16::from_be_bytes([frame[14 + ihl + 2], frame[14 + ihl + 3]]);
            s2.lock().unwrap().push((dport, netrt::current_core()));
        }
    });
    rt.block_on(async move {
        let l = b.scope(TcpListener::bind("10.0.0.2:80")).await.unwrap();
        let _server = b.spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                netrt::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let _ = futures::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let mut conns = Vec::new();
        for i in 0..40 {
            let core = i % 2;
            conns.push(netrt::spawn_on(
                core,
                a.scope(async move {
                    let mut c = TcpStream::connect("10.0.0.2:80").await.unwrap();
                    c.write_all(b"ping").await.unwrap();
                    let mut buf = [0u8; 4];
                    c.read_exact(&mut buf).await.unwrap();
                    (c.local_addr().unwrap().port(), core)
                }),
            ));
        }
        let mut ports = Vec::new();
        for c in conns {
            ports.push(timeout(WAIT, c).await.unwrap().unwrap());
        }
        let seen = seen.lock().unwrap();
        for (port, core) in ports {
            let cores: Vec<_> = seen.iter().filter(|s| s.0 == port).map(|s| s.1).collect();
            assert!(!cores.is_empty(), "nothing seen for port {port}");
            assert!(
                cores.iter().all(|c| *c == Some(core)),
                "port {port} connected on core {core}, replies on {cores:?}"
            );
        }
    });
}

#[test]
fn icmp_unreachable_fails_a_connect_at_once() {
    // a → r → (nothing): the router answers the SYN with ICMP network
    // unreachable; connect reports it instead of retrying for minutes.
    let rt = netrt::runtime::Builder::new().cores(2).build().unwrap();
    let topo = three_namespaces(&rt, true, 4);
    let [a] = namespaces(&topo, ["a"]);
    rt.block_on(async move {
        let started = std::time::Instant::now();
        let e = timeout(WAIT, a.scope(TcpStream::connect("172.16.0.1:80")))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NetworkUnreachable);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(a.tcp_connections(), 0);
    });
}
