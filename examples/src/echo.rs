//! The `echo` example: TCP and UDP echo (RFC 862) on one port.
//!
//! In demo mode the server runs in the demo's server namespace and a
//! client in the client namespace sends a TCP stream of
//! [`crate::pattern`] bytes and a series of UDP datagrams of various
//! sizes (one needs IP fragmentation), and checks that everything comes
//! back unchanged. On a TAP the server runs until stopped.

use std::io;
use std::pin::pin;
use std::time::{Duration, Instant};

use futures::future::{self, Either};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use netrt::net::{TcpListener, TcpStream, UdpSocket, MAX_UDP_PAYLOAD};

use crate::args::{Args, Common, NetMode, Program, UsageError};
use crate::log::Log;
use crate::netsetup::{self, SERVER_ADDR};
use crate::pattern::{self, Fnv1a};
use crate::serve::{self, AbortOnDrop};

/// The echo port (RFC 862).
pub const DEFAULT_PORT: u16 = 7;

/// UDP datagram sizes the demo sends (the 4000-byte one is fragmented).
pub const DEMO_DATAGRAMS: &[usize] = &[1, 64, 512, 1472, 4000, 0, 1000, 1];

/// How long the demo waits for each echoed datagram.
const UDP_WAIT: Duration = Duration::from_secs(2);

/// `echo [--port N]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Echo {
    /// `--port` (default [`DEFAULT_PORT`]).
    pub port: Option<u16>,
    /// `--bytes`: TCP bytes the demo sends (default 1 MiB).
    pub tcp_bytes: Option<u64>,
}

impl Echo {
    /// The port to serve.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }
}

impl Program for Echo {
    const NAME: &'static str = "echo";
    const SYNOPSIS: &'static str = "[--port N] [--bytes N]";
    const ABOUT: &'static str = "TCP and UDP echo server (RFC 862) on netrt's own stack.\n\
        Without --tap: runs the server in one namespace of an in-process emulated\n\
        cable and a client in the other, echoes a TCP stream and UDP datagrams\n\
        through it, and checks they come back unchanged. With --tap: serves until\n\
        SIGINT/SIGTERM.";
    const OPTIONS: &'static [(&'static str, &'static str)] = &[
        ("--port N", "TCP and UDP port to serve (default 7)"),
        (
            "--bytes N",
            "demo only: TCP bytes to echo (default 1048576)",
        ),
    ];

    fn flag<I: Iterator<Item = String>>(
        &mut self,
        flag: &str,
        args: &mut Args<I>,
    ) -> Result<bool, UsageError> {
        match flag {
            "--port" => self.port = Some(args.parse_value(flag)?),
            "--bytes" => self.tcp_bytes = Some(args.parse_value(flag)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn validate(&self, common: &Common) -> Result<(), UsageError> {
        if self.tcp_bytes.is_some() && common.net != NetMode::Cable {
            return Err(UsageError("--bytes is for the demo (no --tap)".into()));
        }
        Ok(())
    }

    fn run(self, common: Common) -> io::Result<()> {
        match &common.net {
            NetMode::Cable => {
                let report = demo(&common, &self)?;
                println!("{report}");
                if report.ok() {
                    Ok(())
                } else {
                    Err(io::Error::other("echo demo: something did not come back"))
                }
            }
            NetMode::Tap(cfg) => {
                let (port, log) = (self.port(), Log::new(common.verbose));
                netsetup::run_tap(&common, cfg, |net| async move {
                    let bound = net.config.addr.address();
                    println!("echo: serving TCP and UDP on {bound}:{port}");
                    serve(port, log).await
                })
            }
        }
    }
}

/// Echoes every datagram `sock` receives back to its sender, forever.
/// Logs a line when a datagram comes from another peer than the previous
/// one (UDP has no connections; this is one line per flow in practice).
pub async fn udp_echo(sock: UdpSocket, log: Log) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
    let port = sock.local_addr()?.port();
    let mut last_peer = None;
    loop {
        let (n, peer) = sock.recv_from(&mut buf).await?;
        if last_peer != Some(peer) {
            log.line(format_args!("udp {peer} -> port {port}: echoing"));
            last_peer = Some(peer);
        }
        // A datagram that cannot go out (no route, neighbour queue full)
        // is lost like any other; the server keeps serving.
        if let Err(e) = sock.send_to(&buf[..n], peer).await {
            log.line(format_args!("udp {peer}: echo not sent: {e}"));
        }
    }
}

/// Writes back everything read from `stream` until end of stream, then
/// closes the sending side; the bytes echoed.
pub async fn echo_stream<S>(stream: &mut S) -> io::Result<u64>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
    stream.close().await?;
    Ok(total)
}

/// What the demo saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EchoReport {
    /// TCP bytes sent.
    pub tcp_sent: u64,
    /// TCP bytes that came back.
    pub tcp_echoed: u64,
    /// Whether the echoed stream hashes like the sent one.
    pub tcp_intact: bool,
    /// TCP round trip of the whole stream.
    pub tcp_time: Duration,
    /// UDP datagrams sent.
    pub udp_sent: usize,
    /// UDP datagrams that came back unchanged.
    pub udp_echoed: usize,
}

impl EchoReport {
    /// Everything came back unchanged.
    pub fn ok(&self) -> bool {
        self.tcp_intact && self.tcp_echoed == self.tcp_sent && self.udp_echoed == self.udp_sent
    }
}

impl std::fmt::Display for EchoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.tcp_time.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "tcp echo: sent {} bytes, {} came back {} in {:.1} ms ({:.1} Mbit/s each way)",
            self.tcp_sent,
            self.tcp_echoed,
            if self.tcp_intact {
                "intact"
            } else {
                "CORRUPTED"
            },
            secs * 1e3,
            self.tcp_sent as f64 * 8.0 / secs / 1e6
        )?;
        write!(
            f,
            "udp echo: {} of {} datagrams came back intact",
            self.udp_echoed, self.udp_sent
        )
    }
}

/// Runs the demo: the server in the server namespace, a client echoing
/// `opts.tcp_bytes` over TCP and [`DEMO_DATAGRAMS`] over UDP.
pub fn demo(common: &Common, opts: &Echo) -> io::Result<EchoReport> {
    let (port, log) = (opts.port(), Log::new(common.verbose));
    let tcp_bytes = opts.tcp_bytes.unwrap_or(1 << 20);
    netsetup::run_demo(common, |server, client| async move {
        // Bound before the client starts, so it never finds the port closed.
        let (tcp, udp) = server.scope(bind(port)).await?;
        let _server = AbortOnDrop(vec![server.spawn(async move {
            if let Err(e) = serve_on(tcp, udp, log).await {
                eprintln!("echo server: {e}");
            }
        })]);
        let mut report = client.scope(udp_client(port)).await?;
        client
            .scope(tcp_client(port, tcp_bytes, &mut report))
            .await?;
        Ok(report)
    })
}

/// Streams `bytes` pattern bytes to the server while reading the echo.
async fn tcp_client(port: u16, bytes: u64, report: &mut EchoReport) -> io::Result<()> {
    let mut stream = TcpStream::connect((SERVER_ADDR, port)).await?;
    let started = Instant::now();
    // The inherent split (two views of one socket), not futures' lock-based one.
    let (mut rx, mut tx) = TcpStream::split(&mut stream);
    let send = async {
        let mut off = 0;
        while off < bytes {
            let chunk = pattern::slice_at(off, bytes - off);
            tx.write_all(chunk).await?;
            off += chunk.len() as u64;
        }
        tx.close().await
    };
    let receive = async {
        let (mut buf, mut hash, mut n) = (vec![0u8; 64 * 1024], Fnv1a::new(), 0u64);
        loop {
            let k = rx.read(&mut buf).await?;
            if k == 0 {
                return io::Result::Ok((n, hash.finish()));
            }
            hash.update(&buf[..k]);
            n += k as u64;
        }
    };
    let (sent, received) = futures::join!(send, receive);
    sent?;
    let (echoed, hash) = received?;
    report.tcp_sent = bytes;
    report.tcp_echoed = echoed;
    report.tcp_intact = echoed == bytes && hash == pattern::pattern_hash(bytes);
    report.tcp_time = started.elapsed();
    Ok(())
}

/// Sends [`DEMO_DATAGRAMS`] to the server one at a time, waiting for each.
async fn udp_client(port: u16) -> io::Result<EchoReport> {
    let sock = UdpSocket::bind("0.0.0.0:0").await?;
    sock.connect((SERVER_ADDR, port)).await?;
    let mut report = EchoReport::default();
    let mut back = vec![0u8; MAX_UDP_PAYLOAD];
    for (i, &size) in DEMO_DATAGRAMS.iter().enumerate() {
        let mut msg = vec![0u8; size];
        pattern::fill(i as u64, &mut msg);
        sock.send(&msg).await?;
        report.udp_sent += 1;
        match netrt::time::timeout(UDP_WAIT, sock.recv(&mut back)).await {
            Ok(Ok(n)) if back[..n] == msg[..] => report.udp_echoed += 1,
            Ok(Ok(n)) => {
                println!("udp: datagram {i} ({size} bytes) came back as {n} different bytes")
            }
            Ok(Err(e)) => println!("udp: datagram {i}: {e}"),
            Err(_) => println!("udp: datagram {i} ({size} bytes) lost"),
        }
    }
    Ok(report)
}

/// Binds the TCP listener and the UDP socket of `port` on every address
/// of the current namespace.
pub async fn bind(port: u16) -> io::Result<(TcpListener, UdpSocket)> {
    let tcp = serve::listen(port).await?;
    let udp = UdpSocket::bind(("0.0.0.0", port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("UDP port {port}: {e}")))?;
    Ok((tcp, udp))
}

/// Serves TCP and UDP echo on `port` of every address of the current
/// namespace, until an error stops the UDP socket.
pub async fn serve(port: u16, log: Log) -> io::Result<()> {
    let (tcp, udp) = bind(port).await?;
    serve_on(tcp, udp, log).await
}

/// Serves TCP echo on `tcp` (from every core) and UDP echo on `udp`.
pub async fn serve_on(tcp: TcpListener, udp: UdpSocket, log: Log) -> io::Result<()> {
    let tcp = serve::accept_on_all_cores(tcp, move |mut stream, peer| async move {
        let started = Instant::now();
        match echo_stream(&mut stream).await {
            Ok(n) => log.line(format_args!(
                "tcp {peer}: {n} bytes echoed, closed after {:.1} ms",
                started.elapsed().as_secs_f64() * 1e3
            )),
            Err(e) => log.line(format_args!("tcp {peer}: {e}")),
        }
    });
    let udp = udp_echo(udp, log);
    match future::select(pin!(tcp), pin!(udp)).await {
        Either::Left(((), _)) => Ok(()),
        Either::Right((r, _)) => r,
    }
}
