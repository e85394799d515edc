//! TCP through the public API: loopback and an emulated cable between
//! two namespaces; errors as std reports them.

mod common;

use std::io::ErrorKind;
use std::net::Shutdown;
use std::time::Duration;

use common::*;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use netrt::net::{TcpListener, TcpSocket, TcpStream};
use netrt::runtime::Builder;
use netrt::stack::snmp::{Tcp, TcpExt};
use netrt::stack::topology::CableSpec;
use netrt::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn loopback_echo_and_clean_close() {
    let rt = Builder::new().cores(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = netrt::spawn(async move {
            let (mut s, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, s.peer_addr().unwrap());
            let mut buf = vec![0u8; 100_000];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            s.close().await.unwrap();
            // End of stream once the client closes.
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        });
        let mut c = timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let data = pattern(1, 100_000);
        c.write_all(&data).await.unwrap();
        let mut back = vec![0u8; data.len()];
        timeout(WAIT, c.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, data);
        let mut eof = [0u8; 1];
        assert_eq!(c.read(&mut eof).await.unwrap(), 0);
        c.shutdown(Shutdown::Write).unwrap();
        let e = c.write(b"x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
        timeout(WAIT, server).await.unwrap().unwrap();
    });
}

#[test]
fn errors_are_std_kinds() {
    let rt = Builder::new().cores(1).build().unwrap();
    rt.block_on(async {
        // Nobody listens: RST → ConnectionRefused.
        let e = TcpStream::connect("127.0.0.1:9").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let e = TcpListener::bind(l.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
        let e = TcpListener::bind("10.9.9.9:80").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
        let e = TcpListener::bind("[::1]:80").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(
            TcpSocket::new_v6().unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        let ns = netrt::stack::ns::Namespace::current();
        let snmp = ns.snmp();
        assert!(snmp.counter(Tcp::OutRsts) >= 1);
        assert!(snmp.counter(Tcp::AttemptFails) + snmp.counter(Tcp::ActiveOpens) >= 1);
    });
}

#[test]
fn echo_over_a_cable_between_namespaces() {
    let (rt, topo) = two_namespaces(2, CableSpec::new("10.0.0.1/24", "10.0.0.2/24").queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let listener = b.scope(TcpListener::bind("10.0.0.2:7")).await.unwrap();
        let server = b.spawn(async move {
            for _ in 0..8 {
                let (s, _) = listener.accept().await.unwrap();
                netrt::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    futures::io::copy(&mut r, &mut w).await.unwrap();
                });
            }
        });
        let mut clients = Vec::new();
        for i in 0..8u32 {
            clients.push(netrt::spawn_on(
                i as usize % 2,
                a.scope(async move {
                    let mut c = TcpStream::connect("10.0.0.2:7").await.unwrap();
                    // The inherent split (futures' AsyncReadExt::split would take `c`).
                    let data = pattern(i, 300_000);
                    let (mut r, mut w) = TcpStream::split(&mut c);
                    let send = async {
                        w.write_all(&data).await.unwrap();
                        w.close().await.unwrap();
                    };
                    let recv = async {
                        let mut back = Vec::new();
                        r.read_to_end(&mut back).await.unwrap();
                        back
                    };
                    let ((), back) = futures::join!(send, recv);
                    assert!(back == data, "client {i}: {} bytes back", back.len());
                }),
            ));
        }
        for c in clients {
            timeout(WAIT, c).await.unwrap().unwrap();
        }
        server.await.unwrap();
        let (sa, sb) = (a.snmp(), b.snmp());
        assert_eq!(sa.counter(Tcp::ActiveOpens), 8);
        assert_eq!(sb.counter(Tcp::PassiveOpens), 8);
        assert_eq!(sb.counter(TcpExt::SyncookiesSent), 0);
    });
}
