//! [`TcpListener`]: a listening TCP socket with tokio's API.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;

use super::stream::TcpStream;
use super::{no_addresses, v4};
use crate::net::addr::{resolve, ToSocketAddrs};
use crate::stack::ns::Namespace;
use crate::stack::tcp::listen::Listener;
use crate::stack::tcp::open;

/// The accept backlog of [`TcpListener::bind`] (tokio uses 1024 too).
pub const DEFAULT_BACKLOG: usize = 1024;

/// A listening socket, with the methods of `tokio::net::TcpListener`.
///
/// Connections are accepted on the core whose NIC queue received their
/// SYN and queued there; [`accept`](Self::accept) takes from the calling
/// core's queue first, so a server that accepts on every core keeps each
/// connection on one core. When the SYN queue overflows, SYN cookies
/// take over. Dropping the listener resets the connections nobody
/// accepted.
pub struct TcpListener {
    ns: Namespace,
    listener: Arc<Listener>,
}

impl TcpListener {
    /// Binds to `addr` in the current namespace and listens, with
    /// `SO_REUSEADDR` (as std does on Unix) and a backlog of
    /// [`DEFAULT_BACKLOG`]. Port 0 picks an ephemeral port.
    ///
    /// Errors: `AddrInUse`, `AddrNotAvailable` (not a local address),
    /// `Unsupported` (IPv6), `InvalidInput`.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let ns = Namespace::current();
        let mut last = None;
        for addr in resolve(&addr)? {
            let r = v4(addr).and_then(|a| {
                let claim = open::bind(&ns.0, a, true)?;
                let cfg = ns.0.tcp.config();
                open::listen(&ns.0, claim, DEFAULT_BACKLOG, cfg).inspect_err(|_| {
                    ns.0.tcp.release_port(claim);
                })
            });
            match r {
                Ok(listener) => return Ok(TcpListener::from_listener(ns, listener)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_addresses))
    }

    pub(super) fn from_listener(ns: Namespace, listener: Arc<Listener>) -> TcpListener {
        TcpListener { ns, listener }
    }

    /// Waits for a connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.listener.poll_accept(cx).map(|sock| {
            let peer = SocketAddr::V4(sock.tuple.remote);
            Ok((TcpStream::from_sock(self.ns.clone(), sock), peer))
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.listener.local))
    }

    /// Sets the IP time-to-live of accepted connections.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = super::check_ttl(ttl)?;
        self.listener.ttl.store(ttl, Ordering::Relaxed);
        Ok(())
    }

    /// The IP time-to-live of accepted connections.
    pub fn ttl(&self) -> io::Result<u32> {
        Ok(match self.listener.ttl.load(Ordering::Relaxed) {
            0 => u32::from(self.ns.0.ip.ttl()),
            t => u32::from(t),
        })
    }

    /// The accepted connections as a stream.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Connections established and waiting for `accept`.
    pub fn pending(&self) -> usize {
        self.listener.pending()
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.listener.close(&self.ns.0);
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.listener.local)
            .finish()
    }
}

/// The stream of [`TcpListener::incoming`]; never ends.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept(cx)
            .map(|r| Some(r.map(|(s, _)| s)))
    }
}
