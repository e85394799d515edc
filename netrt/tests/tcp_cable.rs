//! TCP between two namespaces over emulated igb cables, 2 cores and 4
//! queues: many concurrent connections, a bulk transfer over a lossy,
//! reordering, duplicating cable, refused connections, SYN cookies after
//! a SYN flood, and connection churn that leaves nothing behind.

mod common;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use netrt::net::{TcpListener, TcpSocket, TcpStream};
use netrt::stack::ipv4::OutParams;
use netrt::stack::snmp::{Tcp, TcpExt};
use netrt::stack::topology::CableSpec;
use netrt::time::timeout;
use netrt::wire::{ChecksumMode, IpProtocol, TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use netrt_igb::attach::{CableConfig, Impairments};

const WAIT: Duration = Duration::from_secs(60);

/// A cheap deterministic byte stream: word `i` of stream `seed`.
fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let x = (offset + i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed;
        *b = (x >> 29) as u8;
    }
}

/// FNV-1a over a byte stream, in pieces.
#[derive(Clone, Copy)]
struct Fnv(u64);
impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

#[test]
fn thousand_concurrent_connections_echo_64k_each() {
    const CONNS: usize = 1000;
    const LEN: usize = 64 * 1024;
    let (rt, topo) = two_namespaces(2, CableSpec::new("10.0.0.1/24", "10.0.0.2/24").queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let listener = b.scope(TcpListener::bind("0.0.0.0:7")).await.unwrap();
        // One acceptor per core: each takes its own core's connections.
        let listener = std::sync::Arc::new(listener);
        let mut acceptors = Vec::new();
        for core in 0..2 {
            let l = listener.clone();
            acceptors.push(netrt::spawn_on(
                core,
                b.scope(async move {
                    loop {
                        let Ok((s, _)) = l.accept().await else { break };
                        netrt::spawn(async move {
                            let (mut r, mut w) = s.into_split();
                            futures::io::copy(&mut r, &mut w).await.unwrap();
                        });
                    }
                }),
            ));
        }
        let mut clients = Vec::new();
        for i in 0..CONNS {
            clients.push(netrt::spawn_on(
                i % 2,
                a.scope(async move {
                    let mut c = TcpStream::connect("10.0.0.2:7").await.unwrap();
                    let mut data = vec![0u8; LEN];
                    fill(i as u64, 0, &mut data);
                    let (mut r, mut w) = TcpStream::split(&mut c);
                    let send = async {
                        w.write_all(&data).await.unwrap();
                        w.close().await.unwrap();
                    };
                    let recv = async {
                        let mut back = Vec::with_capacity(LEN);
                        r.read_to_end(&mut back).await.unwrap();
                        back
                    };
                    let ((), back) = futures::join!(send, recv);
                    assert!(back == data, "connection {i}: {} bytes back", back.len());
                }),
            ));
        }
        for c in clients {
            timeout(WAIT, c).await.expect("client timed out").unwrap();
        }
        for a in acceptors {
            a.abort();
        }
        assert_eq!(a.snmp().counter(Tcp::ActiveOpens), CONNS as u64);
        assert_eq!(b.snmp().counter(Tcp::PassiveOpens), CONNS as u64);
    });
}

#[test]
fn bulk_transfer_survives_loss_reordering_and_duplication() {
    const TOTAL: u64 = 200 << 20;
    let imp = Impairments {
        loss_percent: 1.0,
        reorder_percent: 1.0,
        reorder_gap: 3,
        duplicate_percent: 0.1,
        ..Impairments::NONE
    };
    let spec = CableSpec::new("10.0.0.1/24", "10.0.0.2/24")
        .queues(4)
        .impairments(CableConfig::symmetric(imp, 7));
    let (rt, topo) = two_namespaces(2, spec);
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let listener = b.scope(TcpListener::bind("10.0.0.2:5001")).await.unwrap();
        let sink = b.spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut h = Fnv::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut got = 0u64;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                got += n as u64;
            }
            (got, h.0)
        });
        let started = Instant::now();
        let mut expect = Fnv::new();
        let mut c = a.scope(TcpStream::connect("10.0.0.2:5001")).await.unwrap();
        let mut chunk = vec![0u8; 256 * 1024];
        let mut sent = 0u64;
        while sent < TOTAL {
            fill(42, sent, &mut chunk);
            expect.update(&chunk);
            c.write_all(&chunk).await.unwrap();
            sent += chunk.len() as u64;
        }
        c.close().await.unwrap();
        let (got, hash) = timeout(Duration::from_secs(300), sink).await.unwrap().unwrap();
        assert_eq!(got, TOTAL);
        assert_eq!(hash, expect.0, "data differs");
        let (sa, sb) = (a.snmp(), b.snmp());
        eprintln!(
            "200 MiB in {:?}: RetransSegs {} FastRetrans {} SackRecovery {} Timeouts {}; receiver OFO {} DSACK {}",
            started.elapsed(),
            sa.counter(Tcp::RetransSegs),
            sa.counter(TcpExt::TCPFastRetrans),
            sa.counter(TcpExt::TCPSackRecovery),
            sa.counter(TcpExt::TCPTimeouts),
            sb.counter(TcpExt::TCPOFOQueue),
            sb.counter(TcpExt::TCPDSACKOldSent),
        );
        // The loss was real and was repaired by retransmission.
        assert!(sa.counter(Tcp::RetransSegs) > 0);
        assert!(sb.counter(TcpExt::TCPOFOQueue) > 0);
    });
}

#[test]
fn closed_port_is_refused_across_the_cable() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let e = a
            .scope(TcpStream::connect("10.0.0.2:4444"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert!(b.snmp().counter(Tcp::OutRsts) >= 1);
        assert_eq!(a.tcp_connections(), 0);
    });
}

/// A SYN from a host that does not exist (nothing answers the SYN-ACK,
/// not even ARP): it stays half-open and fills the SYN queue.
fn spoofed_syn(a: &netrt::stack::ns::Namespace, src: Ipv4Addr, port: u16) {
    let dst = Ipv4Addr::new(10, 0, 0, 2);
    let syn = TcpRepr {
        src_port: port,
        dst_port: 7,
        seq_number: netrt::wire::tcp::SeqNumber(port as u32 * 1000),
        ack_number: netrt::wire::tcp::SeqNumber(0),
        flags: TcpFlags::SYN,
        window_len: 65535,
        urgent_pointer: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = vec![0u8; syn.buffer_len()];
    syn.emit(
        &mut TcpPacket::new_unchecked(&mut buf[..]),
        src,
        dst,
        ChecksumMode::Software,
    );
    let params = OutParams {
        src: Some(src),
        dst,
        protocol: IpProtocol::Tcp,
        ttl: 64,
        tos: 0,
        dont_frag: true,
    };
    a.send_ipv4(&params, &buf).unwrap();
}

#[test]
fn syn_flood_falls_back_to_cookies_and_real_clients_get_in() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let listener = b
            .scope(async {
                let s = TcpSocket::new_v4()?;
                s.bind("10.0.0.2:7".parse().unwrap())?;
                s.listen(8)
            })
            .await
            .unwrap();
        // a spoofs 50 SYNs from 10.0.0.77, which does not exist.
        for port in 0..50u16 {
            spoofed_syn(&a, Ipv4Addr::new(10, 0, 0, 77), 20000 + port);
        }
        // 8 fill the SYN queue (slots are claimed atomically, whichever
        // core takes the SYN); the other 42 are answered with cookies.
        let answered = || {
            let s = b.snmp();
            s.counter(Tcp::PassiveOpens) + s.counter(TcpExt::SyncookiesSent)
        };
        let deadline = Instant::now() + WAIT;
        while answered() < 50 && Instant::now() < deadline {
            netrt::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(answered(), 50);
        let cookies = b.snmp().counter(TcpExt::SyncookiesSent);
        assert!(
            (30..=42).contains(&cookies),
            "{cookies} cookies for 50 SYNs"
        );
        // Real clients now get cookies and complete the handshake.
        let server = b.spawn(async move {
            for _ in 0..10 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 5];
                s.read_exact(&mut buf).await.unwrap();
                s.write_all(&buf).await.unwrap();
            }
        });
        for i in 0..10 {
            let mut c = timeout(WAIT, a.scope(TcpStream::connect("10.0.0.2:7")))
                .await
                .unwrap()
                .unwrap();
            c.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 5];
            timeout(WAIT, c.read_exact(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf, b"hello", "client {i}");
        }
        timeout(WAIT, server).await.unwrap().unwrap();
        assert!(b.snmp().counter(TcpExt::SyncookiesRecv) >= 10);
    });
}

#[test]
fn ten_thousand_connections_leave_nothing_behind() {
    const CONNS: usize = 10_000;
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    for ns in [&a, &b] {
        ns.set_tcp_defaults(|c| c.time_wait = Duration::from_millis(300));
    }
    rt.block_on(async move {
        let listener = b.scope(TcpListener::bind("10.0.0.2:80")).await.unwrap();
        let server = b.spawn(async move {
            for _ in 0..CONNS {
                let (mut s, _) = listener.accept().await.unwrap();
                netrt::spawn(async move {
                    let mut buf = [0u8; 4];
                    s.read_exact(&mut buf).await.unwrap();
                    s.write_all(&buf).await.unwrap();
                });
            }
        });
        let addr: SocketAddr = "10.0.0.2:80".parse().unwrap();
        for batch in 0..(CONNS / 100) {
            let mut tasks = Vec::new();
            for i in 0..100 {
                tasks.push(netrt::spawn_on(
                    i % 2,
                    a.scope(async move {
                        let mut c = TcpStream::connect(addr).await.unwrap();
                        let n = ((batch * 100 + i) as u32).to_be_bytes();
                        c.write_all(&n).await.unwrap();
                        let mut back = [0u8; 4];
                        c.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, n);
                    }),
                ));
            }
            for t in tasks {
                timeout(WAIT, t).await.unwrap().unwrap();
            }
        }
        timeout(WAIT, server).await.unwrap().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while a.tcp_connections() + b.tcp_connections() > 0 && Instant::now() < deadline {
            netrt::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!((a.tcp_connections(), b.tcp_connections()), (0, 0));
        assert_eq!(a.snmp().counter(Tcp::ActiveOpens), CONNS as u64);
        assert_eq!(a.snmp().counter(Tcp::CurrEstab), 0);
        assert_eq!(b.snmp().counter(Tcp::CurrEstab), 0);
    });
}

#[test]
fn tso_segments_carry_valid_checksums_on_the_wire() {
    // A corrupting cable carries no checksum-offload metadata: the device
    // computes real checksums for every TSO segment and the receiver
    // verifies them, so a wrong TSO seed shows up as checksum errors.
    let imp = Impairments {
        corrupt_percent: 0.01,
        ..Impairments::NONE
    };
    let spec = CableSpec::new("10.0.0.1/24", "10.0.0.2/24")
        .queues(2)
        .impairments(CableConfig::symmetric(imp, 11));
    let (rt, topo) = two_namespaces(2, spec);
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let listener = b.scope(TcpListener::bind("10.0.0.2:9")).await.unwrap();
        let sink = b.spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut data = vec![0u8; 4 << 20];
        fill(5, 0, &mut data);
        let mut c = a.scope(TcpStream::connect("10.0.0.2:9")).await.unwrap();
        c.write_all(&data).await.unwrap();
        c.close().await.unwrap();
        let got = timeout(WAIT, sink).await.unwrap().unwrap();
        assert!(got == data, "{} bytes arrived", got.len());
        // Only the frames the cable corrupted (about 1 in 10,000) fail.
        let bad = b.snmp().counter(Tcp::InCsumErrors);
        let segs = b.snmp().counter(Tcp::InSegs);
        assert!(bad * 100 < segs, "{bad} checksum errors in {segs} segments");
    });
}
