//! The `http` example: an HTTP/1.1 server ([`crate::http::server`] on
//! netrt's TCP sockets).
//!
//! In demo mode a client in the demo's client namespace exercises it:
//! keep-alive requests on one connection (`/`, `/bytes/100000` with its
//! content checked, a 404, a `HEAD`, a request asking to close), pipelined
//! requests, and a malformed request (400, then the server closes).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use netrt::net::{TcpListener, TcpStream};

use crate::args::{Args, Common, NetMode, Program, UsageError};
use crate::http::client::{Connection, Fetched, Url};
use crate::http::server::{serve_connection, ServerConfig, INDEX};
use crate::log::Log;
use crate::netsetup::{self, SERVER_ADDR};
use crate::pattern;
use crate::serve::{self, AbortOnDrop};

/// The default port.
pub const DEFAULT_PORT: u16 = 8080;

/// Body size of the demo's `/bytes` request.
pub const DEMO_BYTES: u64 = 100_000;

/// Pipelined requests the demo sends in one go.
pub const DEMO_PIPELINED: u64 = 20;

/// `http [--port N]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Http {
    /// `--port` (default [`DEFAULT_PORT`]).
    pub port: Option<u16>,
}

impl Http {
    /// The port to serve.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }
}

impl Program for Http {
    const NAME: &'static str = "http";
    const SYNOPSIS: &'static str = "[--port N]";
    const ABOUT: &'static str =
        "HTTP/1.1 server on netrt's own stack: GET / answers a short text,\n\
        GET /bytes/N answers N bytes where byte i is i % 251, other paths 404,\n\
        malformed requests 400. Keep-alive and pipelining; HEAD supported.\n\
        Without --tap: runs the server in one namespace of an in-process emulated\n\
        cable and a client in the other, and checks the answers (keep-alive,\n\
        pipelining, /bytes/100000 content, 404, 400). With --tap: serves until\n\
        SIGINT/SIGTERM.";
    const OPTIONS: &'static [(&'static str, &'static str)] =
        &[("--port N", "TCP port to serve (default 8080)")];

    fn flag<I: Iterator<Item = String>>(
        &mut self,
        flag: &str,
        args: &mut Args<I>,
    ) -> Result<bool, UsageError> {
        match flag {
            "--port" => self.port = Some(args.parse_value(flag)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn run(self, common: Common) -> io::Result<()> {
        match &common.net {
            NetMode::Cable => {
                let report = demo(&common, &self)?;
                print!("{report}");
                if report.ok() {
                    Ok(())
                } else {
                    Err(io::Error::other("http demo: some answers were wrong"))
                }
            }
            NetMode::Tap(cfg) => {
                let (port, log) = (self.port(), Log::new(common.verbose));
                netsetup::run_tap(&common, cfg, |net| async move {
                    let listener = serve::listen(port).await?;
                    println!(
                        "http: serving on http://{}:{port}/",
                        net.config.addr.address()
                    );
                    serve_on(listener, log).await;
                    Ok(())
                })
            }
        }
    }
}

/// Serves HTTP on `listener` from every core, until dropped.
pub async fn serve_on(listener: TcpListener, log: Log) {
    serve::accept_on_all_cores(listener, move |mut stream, peer| async move {
        let started = Instant::now();
        match serve_connection(&mut stream, &ServerConfig::default()).await {
            Ok(s) => log.line(format_args!(
                "http {peer}: {} request(s), last status {}, {} bytes in, {} bytes out, closed after {:.1} ms",
                s.requests,
                s.last_status,
                s.bytes_in,
                s.bytes_out,
                started.elapsed().as_secs_f64() * 1e3
            )),
            Err(e) => log.line(format_args!("http {peer}: {e}")),
        }
    })
    .await
}

/// Starts the server of a demo in the current namespace; it stops when
/// the returned guard is dropped.
pub async fn spawn_server(port: u16, log: Log) -> io::Result<AbortOnDrop> {
    let listener = serve::listen(port).await?;
    Ok(AbortOnDrop(vec![netrt::spawn(serve_on(listener, log))]))
}

/// One thing the demo checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was sent.
    pub what: String,
    /// What came back.
    pub got: String,
    /// Whether it was the right answer.
    pub ok: bool,
}

/// What the demo saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpReport {
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl HttpReport {
    /// Every answer was right (and there was at least one).
    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    fn check(&mut self, what: impl Into<String>, got: impl Into<String>, ok: bool) {
        self.checks.push(Check {
            what: what.into(),
            got: got.into(),
            ok,
        });
    }
}

impl fmt::Display for HttpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(
                f,
                "{:4} {} -> {}",
                if c.ok { "ok" } else { "FAIL" },
                c.what,
                c.got
            )?;
        }
        let good = self.checks.iter().filter(|c| c.ok).count();
        writeln!(
            f,
            "http demo: {good} of {} checks passed",
            self.checks.len()
        )
    }
}

/// Runs the demo (see the [module docs](self)).
pub fn demo(common: &Common, opts: &Http) -> io::Result<HttpReport> {
    let (port, log) = (opts.port(), Log::new(common.verbose));
    netsetup::run_demo(common, |server, client| async move {
        let _server = server.scope(spawn_server(port, log)).await?;
        client.scope(demo_client(SERVER_ADDR, port)).await
    })
}

fn describe(f: &Fetched) -> String {
    format!("{} {}, {} body bytes", f.status, f.reason, f.body_len)
}

/// The demo's requests against the server at `addr:port`.
pub async fn demo_client(addr: Ipv4Addr, port: u16) -> io::Result<HttpReport> {
    let base = format!("http://{addr}:{port}");
    let url = |path: &str| Url::parse(&format!("{base}{path}"));
    let server = SocketAddr::from((addr, port));
    let mut report = HttpReport::default();

    // Keep-alive: several requests on one connection.
    let mut conn = Connection::new(TcpStream::connect(server).await?);
    let mut body = Vec::new();
    let f = conn
        .get(&url("/")?, true, |d| {
            body.extend_from_slice(d);
            Ok(())
        })
        .await?;
    report.check(
        "GET / (keep-alive)",
        describe(&f),
        f.status == 200 && body == INDEX.as_bytes() && f.keep_alive,
    );
    let path = format!("/bytes/{DEMO_BYTES}");
    let f = conn.get(&url(&path)?, true, |_| Ok(())).await?;
    let intact = f.body_len == DEMO_BYTES && f.body_hash == pattern::pattern_hash(DEMO_BYTES);
    report.check(
        format!("GET {path} (same connection)"),
        format!(
            "{}, {}",
            describe(&f),
            if intact {
                "pattern intact"
            } else {
                "pattern WRONG"
            }
        ),
        f.status == 200 && intact,
    );
    let f = conn.get(&url("/no/such/page")?, true, |_| Ok(())).await?;
    report.check(
        "GET /no/such/page",
        describe(&f),
        f.status == 404 && f.keep_alive,
    );
    conn.send("HEAD", &url("/bytes/5")?, true).await?;
    let f = conn.receive(true, |_| Ok(())).await?;
    report.check(
        "HEAD /bytes/5",
        describe(&f),
        f.status == 200 && f.body_len == 0,
    );
    let f = conn.get(&url("/")?, false, |_| Ok(())).await?;
    report.check(
        "GET / with Connection: close",
        describe(&f),
        f.status == 200 && !f.keep_alive,
    );
    let closed = conn.receive(false, |_| Ok(())).await;
    report.check(
        "(server closes after it)",
        match &closed {
            Err(e) => format!("closed ({e})"),
            Ok(f) => format!("unexpected {}", describe(f)),
        },
        matches!(&closed, Err(e) if e.kind() == io::ErrorKind::UnexpectedEof),
    );

    // Pipelining: all requests in flight before reading any answer.
    let mut conn = Connection::new(TcpStream::connect(server).await?);
    for i in 0..DEMO_PIPELINED {
        conn.send("GET", &url(&format!("/bytes/{}", i * 1000))?, true)
            .await?;
    }
    let mut right = 0;
    for i in 0..DEMO_PIPELINED {
        let f = conn.receive(false, |_| Ok(())).await?;
        let n = i * 1000;
        right += u64::from(
            f.status == 200 && f.body_len == n && f.body_hash == pattern::pattern_hash(n),
        );
    }
    conn.close().await?;
    report.check(
        format!("{DEMO_PIPELINED} pipelined GET /bytes/N"),
        format!("{right} right answers, in order"),
        right == DEMO_PIPELINED,
    );

    // A malformed request: 400, then the server closes.
    let mut stream = TcpStream::connect(server).await?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost 10.0.0.2\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let status_line = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    report.check(
        "malformed request (field without a colon)",
        format!("{status_line:?}, then closed"),
        status_line == "HTTP/1.1 400 Bad Request",
    );
    Ok(report)
}
