//! The examples' library entry points over the in-process cable.

use std::io;
use std::net::SocketAddr;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use netrt::net::{TcpListener, TcpStream};
use netrt_examples::args::Common;
use netrt_examples::echo::{self, Echo, DEMO_DATAGRAMS};
use netrt_examples::get::{self, Get};
use netrt_examples::http::client::Url;
use netrt_examples::httpd::{self, Http};
use netrt_examples::log::Log;
use netrt_examples::netsetup::{run_demo, SERVER_ADDR};
use netrt_examples::pattern;

fn cores(n: usize) -> Common {
    Common {
        cores: n,
        ..Common::default()
    }
}

#[test]
fn echo_demo_report() {
    for n in [1, 2] {
        let r = echo::demo(
            &cores(n),
            &Echo {
                port: Some(7007),
                tcp_bytes: Some(2_000_000),
            },
        )
        .unwrap();
        assert!(r.ok(), "{r}");
        assert_eq!((r.tcp_sent, r.tcp_echoed), (2_000_000, 2_000_000));
        assert!(r.tcp_intact);
        assert_eq!(
            (r.udp_sent, r.udp_echoed),
            (DEMO_DATAGRAMS.len(), DEMO_DATAGRAMS.len())
        );
    }
}

#[test]
fn echo_serves_concurrent_connections_on_every_core() {
    const CLIENTS: u64 = 8;
    let results = run_demo(&cores(2), |server, client| async move {
        let (tcp, udp) = server.scope(echo::bind(9)).await?;
        let _server = netrt_examples::serve::AbortOnDrop(vec![server.spawn(async move {
            let _ = echo::serve_on(tcp, udp, Log::new(false)).await;
        })]);
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let core = i as usize % 2;
                netrt::spawn_on(
                    core,
                    client.scope(async move {
                        let mut s = TcpStream::connect((SERVER_ADDR, 9)).await?;
                        let len = 50_000 + i as usize * 1000;
                        let mut msg = vec![0u8; len];
                        pattern::fill(i, &mut msg);
                        s.write_all(&msg).await?;
                        s.close().await?;
                        let mut back = Vec::new();
                        s.read_to_end(&mut back).await?;
                        io::Result::Ok(back == msg)
                    }),
                )
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.map_err(io::Error::other)??);
        }
        Ok(results)
    })
    .unwrap();
    assert_eq!(results, vec![true; CLIENTS as usize]);
}

#[test]
fn http_demo_report() {
    let r = httpd::demo(&cores(2), &Http { port: None }).unwrap();
    assert!(r.ok(), "{r}");
    assert_eq!(r.checks.len(), 8, "{r}");
    let bytes = r
        .checks
        .iter()
        .find(|c| c.what.starts_with("GET /bytes/100000"))
        .expect("the /bytes check");
    assert!(
        bytes.got.contains("100000 body bytes, pattern intact"),
        "{r}"
    );
}

#[test]
fn get_demo_fetches_and_hashes() {
    let opts = Get {
        url: Some(Url::parse("http://10.0.0.2:8081/bytes/1000000").unwrap()),
        out: None,
    };
    let r = get::demo(&Common::default(), &opts).unwrap();
    assert_eq!(r.fetched.status, 200);
    assert_eq!(r.fetched.body_len, 1_000_000);
    assert_eq!(r.fetched.body_hash, pattern::pattern_hash(1_000_000));
    assert!(r.to_string().contains("(the /bytes pattern)"), "{r}");
}

/// A one-shot server in the demo's server namespace that answers any
/// request with `response` and closes.
async fn canned_server(
    port: u16,
    response: Vec<u8>,
) -> io::Result<netrt::JoinHandle<io::Result<()>>> {
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    Ok(netrt::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        // Read the request head before answering (so it is not reset).
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        s.write_all(&response).await?;
        s.close().await
    }))
}

/// The client decodes chunked bodies from a real connection (the example
/// server never sends them).
#[test]
fn get_decodes_chunked_bodies_over_the_network() {
    let body_len = 300_000u64;
    let mut response =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    let mut off = 0;
    let mut size = 1u64;
    while off < body_len {
        let n = size.min(body_len - off);
        response.extend_from_slice(format!("{n:x};ext=1\r\n").as_bytes());
        let at = response.len();
        response.resize(at + n as usize, 0);
        pattern::fill(off, &mut response[at..]);
        response.extend_from_slice(b"\r\n");
        off += n;
        size = size * 3 + 1;
    }
    response.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    let (fetched, server) = run_demo(&Common::default(), |server, client| async move {
        let srv = server.scope(canned_server(8082, response)).await?;
        let opts = Get {
            url: Some(Url::parse("http://10.0.0.2:8082/whatever")?),
            out: None,
        };
        let r = client.scope(get::fetch(&opts, Log::new(false))).await?;
        let served = srv.await.map_err(io::Error::other)?;
        Ok((r.fetched, served))
    })
    .unwrap();
    server.unwrap();
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body_len, body_len);
    assert_eq!(fetched.body_hash, pattern::pattern_hash(body_len));
}

/// A response cut short is an error, not a short body.
#[test]
fn get_reports_a_truncated_body() {
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nonly this".to_vec();
    let err = run_demo(&Common::default(), |server, client| async move {
        let _srv = server.scope(canned_server(8083, response)).await?;
        let opts = Get {
            url: Some(Url::parse("http://10.0.0.2:8083/")?),
            out: None,
        };
        client.scope(get::fetch(&opts, Log::new(false))).await
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    assert!(err.to_string().contains("after 9 body bytes"), "{err}");
}

/// Nothing listening: the client says so.
#[test]
fn get_reports_a_refused_connection() {
    let err = run_demo(&Common::default(), |_server, client| async move {
        let opts = Get {
            url: Some(Url::parse("http://10.0.0.2:8084/")?),
            out: None,
        };
        client.scope(get::fetch(&opts, Log::new(false))).await
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let addr: SocketAddr = "10.0.0.2:8084".parse().unwrap();
    assert!(
        err.to_string().contains(&format!("connecting to {addr}")),
        "{err}"
    );
}
