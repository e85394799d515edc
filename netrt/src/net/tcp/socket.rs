//! [`TcpSocket`]: options before `connect` or `listen` (tokio's
//! `TcpSocket`).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use parking_lot::Mutex;

use super::listener::TcpListener;
use super::stream::TcpStream;
use super::v4;
use crate::stack::ns::Namespace;
use crate::stack::tcp::conn::{Keepalive, TcpConfig};
use crate::stack::tcp::open;
use crate::stack::tcp::table::PortClaim;

/// An unconnected TCP socket for setting options before
/// [`connect`](Self::connect) or [`listen`](Self::listen).
///
/// ```
/// # #[netrt::main] async fn main() -> std::io::Result<()> {
/// use netrt::net::TcpSocket;
///
/// let sock = TcpSocket::new_v4()?;
/// sock.set_reuseaddr(true)?;
/// sock.set_recv_buffer_size(1 << 20)?;
/// sock.bind("127.0.0.1:0".parse().unwrap())?;
/// let listener = sock.listen(128)?;
/// assert_ne!(listener.local_addr()?.port(), 0);
/// # Ok(()) }
/// ```
pub struct TcpSocket {
    ns: Namespace,
    inner: Mutex<Options>,
}

struct Options {
    cfg: TcpConfig,
    reuseaddr: bool,
    bound: Option<PortClaim>,
}

/// Smallest buffer size accepted (Linux's `SOCK_MIN_SNDBUF`-ish floor).
const MIN_BUF: usize = 4096;
/// Largest buffer size accepted (Linux's `tcp_rmem` max is 6 MiB; allow
/// more for long fat pipes).
const MAX_BUF: usize = 64 << 20;

impl TcpSocket {
    /// A new IPv4 socket in the current namespace.
    pub fn new_v4() -> io::Result<TcpSocket> {
        let ns = Namespace::current();
        let cfg = ns.0.tcp.config();
        Ok(TcpSocket {
            ns,
            inner: Mutex::new(Options {
                cfg,
                reuseaddr: false,
                bound: None,
            }),
        })
    }

    /// IPv6 does not exist in netrt yet: `Unsupported`.
    pub fn new_v6() -> io::Result<TcpSocket> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "IPv6 is not supported by netrt yet",
        ))
    }

    /// Sets `SO_REUSEADDR`: binds may share a port that is not listened
    /// on (must be set before [`bind`](Self::bind)).
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        self.inner.lock().reuseaddr = reuse;
        Ok(())
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        Ok(self.inner.lock().reuseaddr)
    }

    /// Sets the send buffer size in bytes (clamped to 4 KiB–64 MiB).
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.lock().cfg.send_buf = (size as usize).clamp(MIN_BUF, MAX_BUF);
        Ok(())
    }

    /// The send buffer size.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        Ok(self.inner.lock().cfg.send_buf as u32)
    }

    /// Sets the receive buffer size in bytes (clamped to 4 KiB–64 MiB):
    /// the largest window advertised.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.lock().cfg.recv_buf = (size as usize).clamp(MIN_BUF, MAX_BUF);
        Ok(())
    }

    /// The receive buffer size.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        Ok(self.inner.lock().cfg.recv_buf as u32)
    }

    /// Turns keepalive probing on (Linux timing: 2 h idle, 75 s
    /// interval, 9 probes) or off.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.inner.lock().cfg.keepalive = on.then(Keepalive::default);
        Ok(())
    }

    /// Turns keepalive probing on with the given timing.
    pub fn set_keepalive_params(
        &self,
        idle: Duration,
        interval: Duration,
        probes: u32,
    ) -> io::Result<()> {
        if idle.is_zero() || interval.is_zero() || probes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "keepalive idle, interval and probes must be non-zero",
            ));
        }
        self.inner.lock().cfg.keepalive = Some(Keepalive {
            idle,
            interval,
            probes,
        });
        Ok(())
    }

    /// Whether keepalive probing is on.
    pub fn keepalive(&self) -> io::Result<bool> {
        Ok(self.inner.lock().cfg.keepalive.is_some())
    }

    /// Sets `TCP_NODELAY` for the connection to come.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.lock().cfg.nodelay = nodelay;
        Ok(())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.inner.lock().cfg.nodelay)
    }

    /// Binds to `addr` (port 0: an ephemeral port).
    ///
    /// Errors: `AddrInUse`, `AddrNotAvailable`, `Unsupported` (IPv6),
    /// `InvalidInput` (already bound).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        let addr = v4(addr)?;
        let mut o = self.inner.lock();
        if o.bound.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket is already bound",
            ));
        }
        o.bound = Some(open::bind(&self.ns.0, addr, o.reuseaddr)?);
        Ok(())
    }

    /// The bound address (`0.0.0.0:0` before [`bind`](Self::bind)).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let o = self.inner.lock();
        Ok(match o.bound {
            Some(c) => SocketAddr::from((c.addr, c.port)),
            None => SocketAddr::from(([0, 0, 0, 0], 0)),
        })
    }

    /// Listens with a queue of `backlog` connections (1–4096); binds to
    /// an ephemeral port on every address first if unbound.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let mut o = self.inner.lock();
        let claim = match o.bound.take() {
            Some(c) => c,
            None => open::bind(
                &self.ns.0,
                "0.0.0.0:0".parse().map_err(io::Error::other)?,
                false,
            )?,
        };
        let cfg = o.cfg.clone();
        drop(o);
        match open::listen(&self.ns.0, claim, backlog as usize, cfg) {
            Ok(l) => Ok(TcpListener::from_listener(self.ns.clone(), l)),
            Err(e) => {
                self.ns.0.tcp.release_port(claim);
                Err(e)
            }
        }
    }

    /// Connects to `addr` with the socket's options.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let addr = v4(addr)?;
        let (bound, cfg) = {
            let mut o = self.inner.lock();
            (o.bound.take(), o.cfg.clone())
        };
        let sock = open::connect(&self.ns.0, bound, addr, cfg)?;
        TcpStream::from_sock(self.ns.clone(), sock)
            .established()
            .await
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        if let Some(c) = self.inner.lock().bound.take() {
            self.ns.0.tcp.release_port(c);
        }
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
