//! tokio's I/O traits on the TCP types (feature `tokio-io`): run with
//! `cargo test -p netrt --features tokio-io --test tcp_tokio_io`.
#![cfg(feature = "tokio-io")]

use netrt::net::{TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn tokio_traits_read_write_and_shutdown() {
    let rt = netrt::runtime::Builder::new().cores(1).build().unwrap();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = netrt::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (mut r, mut w) = s.into_split();
            tokio::io::copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let (mut r, mut w) = TcpStream::split(&mut c);
        let send = async {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let recv = async {
            let mut back = Vec::new();
            r.read_to_end(&mut back).await.unwrap();
            back
        };
        let ((), back) = futures::join!(send, recv);
        assert!(back == data);
        server.await.unwrap();
    });
}
