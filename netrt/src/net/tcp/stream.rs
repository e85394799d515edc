//! [`TcpStream`]: a connected TCP socket with tokio's API.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};

use super::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::{no_addresses, v4};
use crate::net::addr::{resolve, ToSocketAddrs};
use crate::stack::ns::Namespace;
use crate::stack::tcp::conn::State;
use crate::stack::tcp::open;
use crate::stack::tcp::socket::TcpSock;

/// A TCP connection, with the methods of `tokio::net::TcpStream`.
///
/// Reading and writing go through [`futures::io::AsyncRead`] /
/// [`AsyncWrite`] (implemented for `TcpStream` and `&TcpStream`; use
/// `futures::io::{AsyncReadExt, AsyncWriteExt}`), and through tokio's
/// traits with the `tokio-io` feature. Reads are cancel-safe: a read
/// future dropped before completion has consumed nothing.
///
/// Dropping the stream closes it gracefully: the FIN follows the data
/// still queued and the connection lingers in the background (never
/// blocking the caller). With [`set_zero_linger`](Self::set_zero_linger),
/// or when received data was never read, it is reset instead.
///
/// Errors follow std: `ConnectionRefused` (RST answering the SYN),
/// `ConnectionReset` (RST later), `TimedOut` (retransmissions gave up),
/// `BrokenPipe` (write after `shutdown(Write)`), `NotConnected`.
///
/// ```
/// # #[netrt::main] async fn main() -> std::io::Result<()> {
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use netrt::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let server = netrt::spawn(async move {
///     let (mut s, _) = listener.accept().await?;
///     let mut buf = [0u8; 5];
///     s.read_exact(&mut buf).await?;
///     s.write_all(&buf).await?;
///     std::io::Result::Ok(())
/// });
/// let mut c = TcpStream::connect(addr).await?;
/// c.write_all(b"hello").await?;
/// let mut buf = [0u8; 5];
/// c.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hello");
/// server.await.unwrap()?;
/// # Ok(()) }
/// ```
pub struct TcpStream {
    pub(super) ns: Namespace,
    pub(super) sock: Arc<TcpSock>,
}

impl TcpStream {
    pub(super) fn from_sock(ns: Namespace, sock: Arc<TcpSock>) -> TcpStream {
        TcpStream { ns, sock }
    }

    /// Opens a connection to `addr` in the current namespace, trying each
    /// address it names in turn. The local port is chosen so the replies
    /// are processed on the calling core.
    ///
    /// Errors: `ConnectionRefused`, `TimedOut` (no answer to the SYNs),
    /// `NetworkUnreachable` (no route), `AddrNotAvailable` (no source
    /// address or no free port), `Unsupported` (IPv6).
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let ns = Namespace::current();
        let cfg = ns.0.tcp.config();
        let mut last = None;
        for addr in resolve(&addr)? {
            let attempt = match v4(addr) {
                Ok(a) => match open::connect(&ns.0, None, a, cfg.clone()) {
                    Ok(sock) => TcpStream::from_sock(ns.clone(), sock).established().await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match attempt {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_addresses))
    }

    /// [`connect`](Self::connect) to one address, giving up after
    /// `timeout` with `TimedOut` (the half-open attempt is dropped).
    pub async fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        match crate::time::timeout(timeout, TcpStream::connect(*addr)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {addr} timed out after {timeout:?}"),
            )),
        }
    }

    /// Waits for the handshake to finish.
    pub(super) async fn established(self) -> io::Result<TcpStream> {
        poll_fn(|cx| self.sock.poll_connected(&self.ns.0, cx)).await?;
        Ok(self)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.sock.tuple.remote))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.sock.tuple.local))
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock
            .with_user(&self.ns.0, |st, _| st.conn.set_nodelay(nodelay));
        Ok(())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.sock.with_user(&self.ns.0, |st, _| st.conn.nodelay()))
    }

    /// Sets the IP time-to-live of outgoing segments (1–255).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = super::check_ttl(ttl)?;
        self.sock.with_user(&self.ns.0, |st, _| st.ttl = Some(ttl));
        Ok(())
    }

    /// The IP time-to-live of outgoing segments.
    pub fn ttl(&self) -> io::Result<u32> {
        let ns = &self.ns.0;
        Ok(u32::from(self.sock.with_user(ns, |st, _| {
            st.ttl.unwrap_or_else(|| ns.ip.ttl())
        })))
    }

    /// Makes dropping the stream reset the connection (`SO_LINGER` with
    /// a zero timeout) instead of closing it gracefully.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.sock
            .with_user(&self.ns.0, |st, _| st.linger_zero = true);
        Ok(())
    }

    /// Whether [`set_zero_linger`](Self::set_zero_linger) was called.
    pub fn zero_linger(&self) -> io::Result<bool> {
        Ok(self.sock.with_user(&self.ns.0, |st, _| st.linger_zero))
    }

    /// Waits for data and copies it without consuming it (`MSG_PEEK`).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_peek_slice(cx, buf)).await
    }

    /// Polls for data to [`peek`](Self::peek) at.
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_peek_slice(cx, buf)
    }

    fn poll_peek_slice(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.sock.poll_recv(&self.ns.0, cx, buf, true)
    }

    /// Waits until a read would not block (data, end of stream or error).
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.sock.poll_read_ready(&self.ns.0, cx)).await;
        Ok(())
    }

    /// Waits until a write would not block (buffer space, or an error).
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.sock.poll_write_ready(&self.ns.0, cx)).await;
        Ok(())
    }

    /// Reads what is buffered now; `WouldBlock` when nothing is.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        match self.sock.poll_recv(&self.ns.0, &mut cx, buf, false) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Queues what fits in the send buffer now; `WouldBlock` when none
    /// does.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        match self.sock.poll_send(&self.ns.0, &mut cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// [`try_read`](Self::try_read) into several buffers in order.
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for buf in bufs.iter_mut().filter(|b| !b.is_empty()) {
            match self.try_read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if total > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// [`try_write`](Self::try_write) from several buffers in order.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for buf in bufs.iter().filter(|b| !b.is_empty()) {
            match self.try_write(buf) {
                Ok(n) => {
                    total += n;
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if total > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Shuts down reading, writing or both, like `std`: `Write` sends a
    /// FIN after the queued data (later writes fail with `BrokenPipe`),
    /// `Read` makes reads return end of stream.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(&self.ns.0, how)
    }

    /// The error that ended the connection, once (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(self.sock.take_error(&self.ns.0))
    }

    /// Borrowed read and write halves, usable from one task concurrently.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Owned halves that can move to different tasks; dropping the write
    /// half shuts down writing. [`OwnedReadHalf::reunite`] joins them.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let shared = Arc::new(self);
        (OwnedReadHalf(shared.clone()), OwnedWriteHalf::new(shared))
    }

    /// The connection's state (diagnostics and tests).
    #[doc(hidden)]
    pub fn tcp_state(&self) -> State {
        self.sock.with_user(&self.ns.0, |st, _| st.conn.state())
    }

    /// The engine's full state, for debugging.
    #[doc(hidden)]
    pub fn tcp_debug(&self) -> String {
        self.sock.with_user(&self.ns.0, |st, _| {
            format!("{:#?} armed {:?}", st.conn, st.armed)
        })
    }

    pub(super) fn poll_read_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.sock.poll_recv(&self.ns.0, cx, buf, false)
    }

    pub(super) fn poll_write_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.sock.poll_send(&self.ns.0, cx, buf)
    }

    pub(super) fn poll_close_priv(&self) -> Poll<io::Result<()>> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            r => Poll::Ready(r),
        }
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.sock.release(&self.ns.0);
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.sock.tuple.local)
            .field("peer", &self.sock.tuple.remote)
            .finish()
    }
}

/// Implements futures' read/write traits for a type that derefs to a
/// `TcpStream` through `$get`.
macro_rules! impl_futures_io {
    ($ty:ty, $self:ident => $get:expr) => {
        impl AsyncRead for $ty {
            fn poll_read(
                $self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                ($get).poll_read_priv(cx, buf)
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                $self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                ($get).poll_write_priv(cx, buf)
            }

            fn poll_flush($self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Data is handed to TCP on write; there is no user buffer.
                Poll::Ready(Ok(()))
            }

            fn poll_close($self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                ($get).poll_close_priv()
            }
        }
    };
}
pub(super) use impl_futures_io;

impl_futures_io!(TcpStream, self => self.get_mut());
impl_futures_io!(&TcpStream, self => *self.get_mut());
