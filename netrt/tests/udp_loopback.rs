//! `UdpSocket` on the loopback device of the runtime's default namespace:
//! echo, the error kinds of bind/connect/send, peek and try_* semantics,
//! ephemeral ports, socket options and counters.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use netrt::net::{UdpSocket, MAX_UDP_PAYLOAD};
use netrt::stack::ns::Namespace;
use netrt::stack::snmp::Udp;
use netrt::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

async fn pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    (a, b)
}

#[netrt::test]
async fn echo_in_the_default_namespace() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let echo = netrt::spawn(async move {
        let mut buf = [0u8; 2048];
        for _ in 0..100 {
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            server.send_to(&buf[..n], from).await.unwrap();
        }
        server
    });
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(addr).await.unwrap();
    assert_eq!(client.peer_addr().unwrap(), addr);
    let mut buf = [0u8; 2048];
    for i in 0..100u32 {
        let msg: Vec<u8> = (0..(i * 13) % 1400).map(|j| (i + j) as u8).collect();
        assert_eq!(client.send(&msg).await.unwrap(), msg.len());
        let n = timeout(WAIT, client.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], &msg[..], "datagram {i}");
    }
    echo.await.unwrap();
}

#[netrt::test]
async fn send_to_recv_from_and_counters() {
    let ns = Namespace::current();
    let before = ns.snmp();
    let (a, b) = pair().await;
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    for i in 0..10u8 {
        a.send_to(&[i; 32], b_addr).await.unwrap();
    }
    let mut buf = [0u8; 64];
    for i in 0..10u8 {
        let (n, from) = timeout(WAIT, b.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!((n, from), (32, a_addr));
        assert_eq!(buf[..n], [i; 32]);
    }
    let after = ns.snmp();
    let delta = |c| after.counter(c) - before.counter(c);
    // Other tests may share the default namespace: at least ours.
    assert!(delta(Udp::OutDatagrams) >= 10);
    assert!(delta(Udp::InDatagrams) >= 10);
}

#[netrt::test]
async fn the_same_tuple_forms_work() {
    let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = b.local_addr().unwrap().port();
    let a = UdpSocket::bind("localhost:0").await.unwrap();
    a.send_to(b"1", ("127.0.0.1", port)).await.unwrap();
    a.send_to(b"2", format!("127.0.0.1:{port}")).await.unwrap();
    a.send_to(b"3", (Ipv4Addr::LOCALHOST, port)).await.unwrap();
    let list = [b.local_addr().unwrap()];
    a.send_to(b"4", &list[..]).await.unwrap();
    let mut buf = [0u8; 4];
    for want in [b"1", b"2", b"3", b"4"] {
        let n = timeout(WAIT, b.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], want);
    }
    let e = a.send_to(b"x", "example.com:53").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[netrt::test]
async fn bind_errors() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let taken = a.local_addr().unwrap();
    let e = UdpSocket::bind(taken).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    // The wildcard on a taken port clashes too.
    let e = UdpSocket::bind(("0.0.0.0", taken.port()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    // Not an address of this namespace.
    let e = UdpSocket::bind("10.9.9.9:5000").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
    // IPv6.
    let e = UdpSocket::bind("[::1]:0").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = a.send_to(b"x", "[::1]:9").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = a.connect("[::1]:9").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // Dropping the socket frees its port.
    drop(a);
    let again = UdpSocket::bind(taken).await.unwrap();
    assert_eq!(again.local_addr().unwrap(), taken);
    // A wildcard socket gets its address from connect's route.
    let w = UdpSocket::bind("0.0.0.0:0").await.unwrap();
    assert!(w.local_addr().unwrap().ip().is_unspecified());
    w.connect(taken).await.unwrap();
    assert_eq!(w.local_addr().unwrap().ip(), taken.ip());
}

#[netrt::test]
async fn not_connected_and_message_too_long() {
    let (a, b) = pair().await;
    assert_eq!(a.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    assert_eq!(
        a.send(b"x").await.unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    assert_eq!(
        a.try_send(b"x").unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    let to = b.local_addr().unwrap();
    let too_big = vec![0u8; MAX_UDP_PAYLOAD + 1];
    let e = a.send_to(&too_big, to).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("message too long"), "{e}");
    // The largest datagram goes through loopback whole.
    b.set_recv_buffer_size(1 << 20).unwrap();
    let max: Vec<u8> = (0..MAX_UDP_PAYLOAD).map(|i| (i % 251) as u8).collect();
    assert_eq!(a.send_to(&max, to).await.unwrap(), MAX_UDP_PAYLOAD);
    let mut buf = vec![0u8; 70_000];
    let n = timeout(WAIT, b.recv(&mut buf)).await.unwrap().unwrap();
    assert_eq!(n, MAX_UDP_PAYLOAD);
    assert_eq!(&buf[..n], &max[..]);
    // Port 0 is no destination.
    let e = a.send_to(b"x", "127.0.0.1:0").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[netrt::test]
async fn peek_does_not_consume_and_short_buffers_truncate() {
    let (a, b) = pair().await;
    let a_addr = a.local_addr().unwrap();
    a.send_to(b"first datagram", b.local_addr().unwrap())
        .await
        .unwrap();
    a.send_to(b"second", b.local_addr().unwrap()).await.unwrap();
    b.readable().await.unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(b.peek_sender().await.unwrap(), a_addr);
    assert_eq!(b.try_peek_sender().unwrap(), a_addr);
    assert_eq!(b.peek(&mut buf).await.unwrap(), 14);
    assert_eq!(b.try_peek(&mut buf).unwrap(), 14);
    assert_eq!(b.peek_from(&mut buf).await.unwrap(), (14, a_addr));
    assert_eq!(b.try_peek_from(&mut buf).unwrap(), (14, a_addr));
    // A 5-byte buffer gets 5 bytes; the rest of that datagram is gone.
    let mut small = [0u8; 5];
    assert_eq!(b.recv(&mut small).await.unwrap(), 5);
    assert_eq!(&small, b"first");
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"second"[..], a_addr));
}

#[netrt::test]
async fn try_variants_would_block_when_empty() {
    let (a, b) = pair().await;
    let mut buf = [0u8; 8];
    assert_eq!(
        b.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert_eq!(
        b.try_recv_from(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert_eq!(
        b.try_peek(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert_eq!(
        b.try_peek_from(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Sending never blocks.
    a.writable().await.unwrap();
    a.connect(b.local_addr().unwrap()).await.unwrap();
    assert_eq!(a.try_send(b"abc").unwrap(), 3);
    assert_eq!(a.try_send_to(b"defg", b.local_addr().unwrap()).unwrap(), 4);
    b.readable().await.unwrap();
    assert_eq!(b.try_recv(&mut buf).unwrap(), 3);
    // The second may still be on its way through loopback's backlog.
    let got = loop {
        match b.try_recv_from(&mut buf) {
            Ok(r) => break r,
            Err(e) if e.kind() == ErrorKind::WouldBlock => b.readable().await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(got, (4, a.local_addr().unwrap()));
    assert_eq!(
        b.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[netrt::test]
async fn recv_waits_and_wakes_concurrent_readers() {
    let b = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let to = b.local_addr().unwrap();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            netrt::spawn(async move {
                let mut buf = [0u8; 8];
                timeout(WAIT, b.recv(&mut buf)).await.unwrap().unwrap();
                buf[0]
            })
        })
        .collect();
    // Let every reader park first.
    netrt::time::sleep(Duration::from_millis(20)).await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 1..=3u8 {
        a.send_to(&[i], to).await.unwrap();
    }
    let mut got = Vec::new();
    for r in readers {
        got.push(r.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 3]);
}

#[netrt::test]
async fn closed_port_refuses_the_connected_sender() {
    let ns = Namespace::current();
    let before = ns.snmp().counter(Udp::NoPorts);
    let gone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dead = gone.local_addr().unwrap();
    drop(gone);
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.connect(dead).await.unwrap();
    a.send(b"anyone?").await.unwrap();
    // The ICMP port unreachable arrives and wakes the reader with the error.
    let mut buf = [0u8; 8];
    let e = timeout(WAIT, a.recv(&mut buf)).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert!(ns.snmp().counter(Udp::NoPorts) > before);
    // Reported once; the next one is reported by send or take_error.
    a.send(b"again").await.unwrap();
    netrt::time::sleep(Duration::from_millis(50)).await;
    let err = a.take_error().unwrap().expect("pending error");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(a.take_error().unwrap().is_none());
    a.send(b"third").await.unwrap();
    netrt::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        a.send(b"x").await.unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    // An unconnected sender hears nothing.
    let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    u.send_to(b"x", dead).await.unwrap();
    netrt::time::sleep(Duration::from_millis(50)).await;
    assert!(u.take_error().unwrap().is_none());
}

#[netrt::test]
async fn connected_socket_only_hears_its_peer() {
    let (a, b) = pair().await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    b.connect(a.local_addr().unwrap()).await.unwrap();
    c.send_to(b"from c", b.local_addr().unwrap()).await.unwrap();
    a.send_to(b"from a", b.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = timeout(WAIT, b.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], from), (&b"from a"[..], a.local_addr().unwrap()));
    // c's datagram was refused like a closed port.
    c.connect(b.local_addr().unwrap()).await.unwrap();
    c.send(b"again").await.unwrap();
    let e = timeout(WAIT, c.recv(&mut buf)).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

#[netrt::test]
async fn receive_buffer_overflow_is_counted() {
    let ns = Namespace::current();
    let before = ns.snmp();
    let (a, b) = pair().await;
    b.set_recv_buffer_size(16 * 1024).unwrap();
    assert_eq!(b.recv_buffer_size().unwrap(), 16 * 1024);
    let to = b.local_addr().unwrap();
    for i in 0..200u32 {
        a.send_to(&i.to_be_bytes(), to).await.unwrap();
        if i % 32 == 0 {
            // Let loopback's backlog drain into the socket.
            netrt::yield_now().await;
        }
    }
    netrt::time::sleep(Duration::from_millis(50)).await;
    let mut buf = [0u8; 4];
    let mut got = Vec::new();
    while let Ok(n) = b.try_recv(&mut buf) {
        assert_eq!(n, 4);
        got.push(u32::from_be_bytes(buf));
    }
    let after = ns.snmp();
    let drops = after.counter(Udp::RcvbufErrors) - before.counter(Udp::RcvbufErrors);
    assert!(!got.is_empty() && got.len() < 200, "{} received", got.len());
    assert!(
        drops >= 200 - got.len() as u64,
        "{drops} drops, {} received",
        got.len()
    );
    // What arrived is in order and unduplicated.
    assert!(got.windows(2).all(|w| w[0] < w[1]));
}

#[netrt::test]
async fn ephemeral_ports_are_random_and_in_range() {
    let mut socks = Vec::new();
    let mut ports = HashSet::new();
    for _ in 0..64 {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = s.local_addr().unwrap().port();
        assert!((32768..=60999).contains(&port), "{port}");
        assert!(ports.insert(port), "port {port} handed out twice");
        socks.push(s);
    }
    let sorted: Vec<u16> = socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let ascending = sorted.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(ascending < 8, "ports look sequential: {sorted:?}");
}

#[netrt::test]
async fn options_and_broadcast_permission() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(a.ttl().unwrap(), 64);
    a.set_ttl(7).unwrap();
    assert_eq!(a.ttl().unwrap(), 7);
    assert_eq!(a.set_ttl(0).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(a.set_ttl(256).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert!(!a.broadcast().unwrap());
    a.set_broadcast(true).unwrap();
    assert!(a.broadcast().unwrap());
    a.set_broadcast(false).unwrap();
    // 127.255.255.255 is lo's subnet broadcast.
    let bcast: SocketAddr = "127.255.255.255:9".parse().unwrap();
    let e = a.send_to(b"x", bcast).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let e = a.connect(bcast).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    a.set_broadcast(true).unwrap();
    a.send_to(b"x", bcast).await.unwrap();
    // No route: unreachable.
    let e = a.send_to(b"x", "192.0.2.1:9").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NetworkUnreachable);
}
