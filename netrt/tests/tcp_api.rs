//! The TcpListener / TcpStream / TcpSocket surface on loopback: each
//! method does what tokio's does.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::StreamExt;
use netrt::net::{TcpListener, TcpSocket, TcpStream};
use netrt::runtime::Builder;
use netrt::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

/// A connected pair on loopback: (client, server).
async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, peer) = l.accept().await.unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.local_addr().unwrap(), c.peer_addr().unwrap());
    (c, s)
}

fn run<F: std::future::Future<Output = ()>>(f: F) {
    Builder::new().cores(1).build().unwrap().block_on(f);
}

#[test]
fn try_read_try_write_peek_and_readiness() {
    run(async {
        let (c, s) = pair().await;
        let mut buf = [0u8; 16];
        assert_eq!(
            s.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        c.writable().await.unwrap();
        assert_eq!(c.try_write(b"hello").unwrap(), 5);
        timeout(WAIT, s.readable()).await.unwrap().unwrap();
        // Peek leaves the bytes for the read.
        assert_eq!(s.peek(&mut buf).await.unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(s.try_read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        // Vectored both ways.
        let n = c
            .try_write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cde")])
            .unwrap();
        assert_eq!(n, 5);
        s.readable().await.unwrap();
        let (mut x, mut y) = ([0u8; 3], [0u8; 8]);
        let n = s
            .try_read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!((&x[..], &y[..2]), (&b"abc"[..], &b"de"[..]));
    });
}

#[test]
fn options_round_trip() {
    run(async {
        let (c, s) = pair().await;
        assert!(!c.nodelay().unwrap());
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        assert_eq!(c.ttl().unwrap(), 64);
        c.set_ttl(7).unwrap();
        assert_eq!(c.ttl().unwrap(), 7);
        assert_eq!(c.set_ttl(0).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(c.set_ttl(256).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(!s.zero_linger().unwrap());
        s.set_zero_linger().unwrap();
        assert!(s.zero_linger().unwrap());
        assert!(c.take_error().unwrap().is_none());

        let sock = TcpSocket::new_v4().unwrap();
        sock.set_reuseaddr(true).unwrap();
        assert!(sock.reuseaddr().unwrap());
        sock.set_send_buffer_size(100_000).unwrap();
        assert_eq!(sock.send_buffer_size().unwrap(), 100_000);
        sock.set_recv_buffer_size(1).unwrap();
        assert_eq!(sock.recv_buffer_size().unwrap(), 4096, "clamped");
        sock.set_keepalive(true).unwrap();
        assert!(sock.keepalive().unwrap());
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let again = sock.bind("127.0.0.1:0".parse().unwrap()).unwrap_err();
        assert_eq!(again.kind(), ErrorKind::InvalidInput);
        let l = sock.listen(16).unwrap();
        l.set_ttl(9).unwrap();
        assert_eq!(l.ttl().unwrap(), 9);
    });
}

#[test]
fn split_halves_reunite_and_owned_write_half_shuts_down() {
    run(async {
        let (c, mut s) = pair().await;
        let (mut r, mut w) = c.into_split();
        w.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(b"pong").await.unwrap();
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // Halves of different streams do not reunite.
        let (c2, _s2) = pair().await;
        let (r2, w2) = c2.into_split();
        let err = r.reunite(w2).unwrap_err();
        let (r, w2) = (err.0, err.1);
        let c2 = r2.reunite(w2).unwrap();
        drop(c2);
        // Dropping the owned write half sends FIN: the peer sees EOF.
        drop(w);
        let mut rest = Vec::new();
        timeout(WAIT, s.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert!(rest.is_empty());
        // Reading still works after the write half is gone.
        s.write_all(b"late").await.unwrap();
        let mut r = r;
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"late");
    });
}

#[test]
fn incoming_and_connect_timeout() {
    run(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let accepts = netrt::spawn(async move {
            let got: Vec<_> = l.incoming().take(3).collect().await;
            got.into_iter().filter(|r| r.is_ok()).count()
        });
        let mut cs = Vec::new();
        for _ in 0..3 {
            cs.push(TcpStream::connect_timeout(&addr, WAIT).await.unwrap());
        }
        assert_eq!(accepts.await.unwrap(), 3);
        // 10.255.255.1 has no route in the default namespace.
        let far: SocketAddr = "10.255.255.1:80".parse().unwrap();
        let e = TcpStream::connect_timeout(&far, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::TimedOut | ErrorKind::NetworkUnreachable
            ),
            "{e:?}"
        );
    });
}

#[test]
fn dropping_a_stream_closes_gracefully_after_its_data() {
    run(async {
        let (mut c, s) = pair().await;
        let data = vec![7u8; 300_000];
        let d = data.clone();
        let writer = netrt::spawn(async move {
            let mut s = s;
            s.write_all(&d).await.unwrap();
            // Dropped with data still queued: it must all arrive, then FIN.
        });
        writer.await.unwrap();
        let mut got = Vec::new();
        timeout(WAIT, c.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, data);
        c.shutdown(Shutdown::Both).unwrap();
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).await.unwrap(), 0);
    });
}

#[test]
fn listener_drop_resets_unaccepted_connections() {
    run(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        while l.pending() == 0 {
            netrt::yield_now().await;
        }
        drop(l);
        let mut b = [0u8; 1];
        let e = timeout(WAIT, c.read(&mut b)).await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    });
}
