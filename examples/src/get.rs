//! The `get` example: an HTTP/1.1 client ([`crate::http::client`]) that
//! fetches one URL, prints the status and body length, and optionally
//! writes the body to a file.
//!
//! In demo mode (no `--tap`) it first starts the `http` example's server
//! in the demo's server namespace, on the URL's port, and fetches from
//! the client namespace.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use netrt::net::TcpStream;

use crate::args::{Args, Common, NetMode, Program, UsageError};
use crate::http::client::{get, Fetched, Url};
use crate::httpd;
use crate::log::Log;
use crate::netsetup::{self, SERVER_ADDR};
use crate::pattern;

/// The URL fetched in demo mode when none is given.
pub const DEMO_URL: &str = "http://10.0.0.2:8080/bytes/100000";

/// How long `connect` may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `get URL [--out FILE]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Get {
    /// The URL (parsed at argument time).
    pub url: Option<Url>,
    /// `--out`: where to write the body.
    pub out: Option<PathBuf>,
}

impl Get {
    /// The URL to fetch ([`DEMO_URL`] if none was given).
    pub fn url(&self) -> io::Result<Url> {
        match &self.url {
            Some(u) => Ok(u.clone()),
            None => Url::parse(DEMO_URL),
        }
    }
}

impl Program for Get {
    const NAME: &'static str = "get";
    const SYNOPSIS: &'static str = "[URL] [--out FILE]";
    const ABOUT: &'static str =
        "HTTP/1.1 client on netrt's own stack: fetches URL (http://A.B.C.D[:port]/path;\n\
        IPv4 literals only, there is no DNS), prints the status and body length,\n\
        and writes the body to FILE with --out. Exits 1 if the request fails or\n\
        the status is 400 or above.\n\
        Without --tap: starts the http example's server in one namespace of an\n\
        in-process emulated cable (at 10.0.0.2, on the URL's port) and fetches\n\
        from the other; URL defaults to http://10.0.0.2:8080/bytes/100000.\n\
        With --tap: URL is required.";
    const OPTIONS: &'static [(&'static str, &'static str)] = &[(
        "--out FILE",
        "write the body to FILE (created or truncated)",
    )];

    fn flag<I: Iterator<Item = String>>(
        &mut self,
        flag: &str,
        args: &mut Args<I>,
    ) -> Result<bool, UsageError> {
        match flag {
            "--out" | "-o" => self.out = Some(PathBuf::from(args.value(flag)?)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn positional(&mut self, arg: String) -> Result<(), UsageError> {
        if self.url.is_some() {
            return Err(UsageError(format!(
                "unexpected argument {arg:?} (one URL only)"
            )));
        }
        self.url = Some(Url::parse(&arg).map_err(|e| UsageError(e.to_string()))?);
        Ok(())
    }

    fn validate(&self, common: &Common) -> Result<(), UsageError> {
        match (&common.net, &self.url) {
            (NetMode::Tap(_), None) => Err(UsageError("a URL is needed with --tap".into())),
            (NetMode::Cable, Some(u)) if u.host != SERVER_ADDR => Err(UsageError(format!(
                "without --tap the demo server is at {SERVER_ADDR}, not {} (or use --tap)",
                u.host
            ))),
            _ => Ok(()),
        }
    }

    fn run(self, common: Common) -> io::Result<()> {
        let report = match &common.net {
            NetMode::Cable => demo(&common, &self)?,
            NetMode::Tap(cfg) => {
                let mut report = None;
                let slot = &mut report;
                netsetup::run_tap(&common, cfg, |_| async move {
                    *slot = Some(fetch(&self, Log::new(common.verbose)).await?);
                    Ok(())
                })?;
                // None: stopped by a signal before the answer came.
                match report {
                    Some(r) => r,
                    None => return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted")),
                }
            }
        };
        println!("{report}");
        if report.fetched.status >= 400 {
            return Err(io::Error::other(format!(
                "the server answered {} {}",
                report.fetched.status, report.fetched.reason
            )));
        }
        Ok(())
    }
}

/// What `get` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetReport {
    /// The URL fetched.
    pub url: Url,
    /// The response.
    pub fetched: Fetched,
    /// From connecting to the end of the body.
    pub elapsed: Duration,
    /// Where the body went.
    pub out: Option<PathBuf>,
}

impl fmt::Display for GetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.fetched;
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(f, "GET {}", self.url)?;
        writeln!(f, "status: {} {} (HTTP/1.{})", r.status, r.reason, r.minor)?;
        write!(
            f,
            "body: {} bytes, fnv1a64 {:#018x}",
            r.body_len, r.body_hash
        )?;
        if r.body_len > 0 && r.body_hash == pattern::pattern_hash(r.body_len) {
            write!(f, " (the /bytes pattern)")?;
        }
        if let Some(out) = &self.out {
            write!(f, ", written to {}", out.display())?;
        }
        write!(
            f,
            "\ntime: {:.1} ms ({:.1} Mbit/s)",
            secs * 1e3,
            r.body_len as f64 * 8.0 / secs / 1e6
        )
    }
}

/// Fetches `opts.url()` from the current namespace, writing the body to
/// `opts.out` if set.
///
/// The file is written with ordinary (blocking) writes from the core:
/// they go to the page cache and are short; a slow disk would stall this
/// core's network work meanwhile.
pub async fn fetch(opts: &Get, log: Log) -> io::Result<GetReport> {
    let url = opts.url()?;
    let mut file = match &opts.out {
        Some(path) => Some(BufWriter::with_capacity(
            256 << 10,
            File::create(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?,
        )),
        None => None,
    };
    let started = Instant::now();
    let stream = TcpStream::connect_timeout(&url.addr(), CONNECT_TIMEOUT)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("connecting to {}: {e}", url.addr())))?;
    let local = stream.local_addr()?;
    let fetched = get(stream, &url, |data| match &mut file {
        Some(f) => f.write_all(data),
        None => Ok(()),
    })
    .await?;
    if let Some(f) = &mut file {
        f.flush()?;
    }
    let elapsed = started.elapsed();
    log.line(format_args!(
        "tcp {local} -> {}: {} {}, {} body bytes in {:.1} ms",
        url.addr(),
        fetched.status,
        fetched.reason,
        fetched.body_len,
        elapsed.as_secs_f64() * 1e3
    ));
    Ok(GetReport {
        url,
        fetched,
        elapsed,
        out: opts.out.clone(),
    })
}

/// Runs the demo: the http server in the server namespace on the URL's
/// port, the fetch from the client namespace.
pub fn demo(common: &Common, opts: &Get) -> io::Result<GetReport> {
    let url = opts.url()?;
    let log = Log::new(common.verbose);
    netsetup::run_demo(common, |server, client| async move {
        let _server = server.scope(httpd::spawn_server(url.port, log)).await?;
        client.scope(fetch(opts, log)).await
    })
}
