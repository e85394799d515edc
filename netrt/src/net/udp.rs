//! [`UdpSocket`]: tokio's UDP socket API over netrt's own stack.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::addr::{resolve, ToSocketAddrs};
use crate::stack::ns::Namespace;
use crate::stack::udp::{self, RecvMode, UdpSock};

/// A UDP socket, with the methods of `tokio::net::UdpSocket`.
///
/// A socket lives in the [`Namespace`] that was current when it was bound
/// ([`Namespace::current`]: the task's namespace, else the runtime's
/// default one, which has `lo` with `127.0.0.1`). Only IPv4 exists: IPv6
/// addresses give [`ErrorKind::Unsupported`](io::ErrorKind::Unsupported).
///
/// Sending never waits: a datagram goes through the stack to the device
/// queue within the call (and is dropped and counted there if the queue
/// is full, as Linux does past `txqueuelen`), so [`writable`](Self::writable)
/// is always ready. Receiving waits for a datagram; datagrams beyond the
/// receive buffer limit ([`set_recv_buffer_size`](Self::set_recv_buffer_size),
/// 208 KiB by default) are dropped and counted as `Udp: RcvbufErrors`.
///
/// A connected socket ([`connect`](Self::connect)) only receives from its
/// peer and reports ICMP errors about it: after a port unreachable the next
/// `send`/`recv` (or [`take_error`](Self::take_error)) returns
/// `ConnectionRefused`.
///
/// Methods take `&self`: share the socket through an `Arc` to send and
/// receive from different tasks. Dropping it closes it.
///
/// ```
/// # #[netrt::main] async fn main() -> std::io::Result<()> {
/// use netrt::net::UdpSocket;
///
/// let sock = UdpSocket::bind("127.0.0.1:0").await?;
/// let peer = UdpSocket::bind("127.0.0.1:0").await?;
/// sock.send_to(b"ping", peer.local_addr()?).await?;
/// let mut buf = [0u8; 16];
/// let (n, from) = peer.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], sock.local_addr()?));
/// # Ok(()) }
/// ```
pub struct UdpSocket {
    ns: Namespace,
    sock: Arc<UdpSock>,
}

impl UdpSocket {
    /// Binds a socket to `addr` in the current namespace. Port 0 picks a
    /// random ephemeral port (32768–60999). Each address `addr` names is
    /// tried in turn; the last error is returned if none works.
    ///
    /// Errors: `AddrInUse` (taken, or no ephemeral port left);
    /// `AddrNotAvailable` (not an address of this namespace);
    /// `Unsupported` (IPv6); `InvalidInput` (unparsable, or a host name).
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let ns = Namespace::current();
        let mut last = None;
        for addr in resolve(&addr)? {
            match v4(addr).and_then(|a| udp::bind(&ns.0, a)) {
                Ok(sock) => {
                    // Timers (ARP, reassembly) need to find the namespace.
                    crate::stack::ipv4::attach(&ns.0);
                    return Ok(UdpSocket { ns, sock });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_addresses))
    }

    /// Connects the socket to `addr`: `send`/`recv` then talk to it, only
    /// its datagrams are received, and ICMP errors about it are reported.
    /// A socket bound to `0.0.0.0` gets the route's source address.
    ///
    /// Errors: `NetworkUnreachable` (no route); `PermissionDenied` (a
    /// broadcast address without [`set_broadcast`](Self::set_broadcast));
    /// `Unsupported` (IPv6).
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let mut last = None;
        for addr in resolve(&addr)? {
            match v4(addr).and_then(|a| udp::connect(&self.ns.0, &self.sock, a)) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_addresses))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.sock.local_addr()))
    }

    /// The connected peer; `NotConnected` if there is none.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr().map(SocketAddr::V4).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the socket is not connected")
        })
    }

    /// The namespace the socket lives in.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    // --- sending ---------------------------------------------------------

    /// Sends `buf` to the connected peer; returns the bytes sent (all).
    ///
    /// Errors: `NotConnected`; `InvalidInput` above 65,507 bytes ("message
    /// too long"); a pending ICMP error such as `ConnectionRefused`; routing
    /// errors (`NetworkUnreachable`).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_send(buf)
    }

    /// [`send`](Self::send) as a poll function (always ready).
    pub fn poll_send(&self, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(self.try_send(buf))
    }

    /// [`send`](Self::send) without waiting (sending never has to wait).
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        udp::send(&self.ns.0, &self.sock, buf, None)
    }

    /// Sends `buf` to `target` (the first address it names).
    ///
    /// Errors: as [`send`](Self::send), plus `PermissionDenied` for a
    /// broadcast address without [`set_broadcast`](Self::set_broadcast),
    /// `Unsupported` for IPv6.
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        match resolve(&target)?.next() {
            Some(addr) => self.try_send_to(buf, addr),
            None => Err(no_addresses()),
        }
    }

    /// [`send_to`](Self::send_to) as a poll function (always ready).
    pub fn poll_send_to(
        &self,
        _cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.try_send_to(buf, target))
    }

    /// [`send_to`](Self::send_to) without waiting.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        udp::send(&self.ns.0, &self.sock, buf, Some(v4(target)?))
    }

    /// Waits until the socket can send: always at once (see the type docs).
    pub async fn writable(&self) -> io::Result<()> {
        Ok(())
    }

    /// [`writable`](Self::writable) as a poll function (always ready).
    pub fn poll_send_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    // --- receiving -------------------------------------------------------

    /// Receives one datagram into `buf`; returns its length, cut to
    /// `buf.len()` (the rest of a longer datagram is discarded).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// [`recv`](Self::recv) as a poll function. Wakes `cx` when a datagram
    /// arrives.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll(Some(cx), buf, RecvMode::Take).map_ok(|(n, _)| n)
    }

    /// [`recv`](Self::recv) without waiting: `WouldBlock` if nothing is
    /// queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_poll(buf, RecvMode::Take).map(|(n, _)| n)
    }

    /// Receives one datagram into `buf`; returns its length (cut to
    /// `buf.len()`) and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// [`recv_from`](Self::recv_from) as a poll function.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.poll(Some(cx), buf, RecvMode::Take)
    }

    /// [`recv_from`](Self::recv_from) without waiting: `WouldBlock` if
    /// nothing is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.try_poll(buf, RecvMode::Take)
    }

    /// Like [`recv`](Self::recv), but leaves the datagram queued.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_peek(cx, buf)).await
    }

    /// [`peek`](Self::peek) as a poll function.
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll(Some(cx), buf, RecvMode::Peek).map_ok(|(n, _)| n)
    }

    /// [`peek`](Self::peek) without waiting.
    pub fn try_peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_poll(buf, RecvMode::Peek).map(|(n, _)| n)
    }

    /// Like [`recv_from`](Self::recv_from), but leaves the datagram queued.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_peek_from(cx, buf)).await
    }

    /// [`peek_from`](Self::peek_from) as a poll function.
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.poll(Some(cx), buf, RecvMode::Peek)
    }

    /// [`peek_from`](Self::peek_from) without waiting.
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.try_poll(buf, RecvMode::Peek)
    }

    /// The sender of the next datagram, leaving it queued.
    pub async fn peek_sender(&self) -> io::Result<SocketAddr> {
        poll_fn(|cx| self.poll(Some(cx), &mut [], RecvMode::Peek))
            .await
            .map(|(_, from)| from)
    }

    /// [`peek_sender`](Self::peek_sender) without waiting.
    pub fn try_peek_sender(&self) -> io::Result<SocketAddr> {
        self.try_poll(&mut [], RecvMode::Peek).map(|(_, from)| from)
    }

    /// Waits until a datagram (or an error) is waiting. A later `try_recv`
    /// may still see `WouldBlock` if another task took it first.
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_recv_ready(cx)).await
    }

    /// [`readable`](Self::readable) as a poll function.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.poll_readable(cx.waker()).map(Ok)
    }

    fn poll(
        &self,
        cx: Option<&mut Context<'_>>,
        buf: &mut [u8],
        mode: RecvMode,
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.sock
            .recv(buf, mode, cx.map(|cx| cx.waker()))
            .map_ok(|(n, from)| (n, SocketAddr::V4(from)))
    }

    fn try_poll(&self, buf: &mut [u8], mode: RecvMode) -> io::Result<(usize, SocketAddr)> {
        match self.poll(None, buf, mode) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    // --- options ---------------------------------------------------------

    /// Allows sending to broadcast addresses (`SO_BROADCAST`; off by
    /// default, when such sends fail with `PermissionDenied`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.set_broadcast(on);
        Ok(())
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        Ok(self.sock.broadcast())
    }

    /// Sets the TTL of outgoing datagrams (`IP_TTL`, 1–255).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match u8::try_from(ttl) {
            Ok(ttl) if ttl > 0 => {
                self.sock.set_ttl(Some(ttl));
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TTL {ttl} is outside 1..=255"),
            )),
        }
    }

    /// The TTL of outgoing datagrams (the namespace default, 64, unless set).
    pub fn ttl(&self) -> io::Result<u32> {
        let ttl = self.sock.ttl().unwrap_or_else(|| self.ns.0.ip.ttl());
        Ok(u32::from(ttl))
    }

    /// Sets the receive buffer limit in bytes (`SO_RCVBUF`; unlike Linux
    /// the value is not doubled). Each queued datagram is charged the size
    /// of the buffer holding it; one datagram is always accepted.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.sock.set_rcvbuf(bytes);
        Ok(())
    }

    /// The receive buffer limit in bytes.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        Ok(self.sock.rcvbuf())
    }

    /// Takes the pending error, if any (`SO_ERROR`): an ICMP error about
    /// the connected peer that no `send`/`recv` has reported yet.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(self.sock.take_error())
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.ns.0.udp.unbind(&self.sock);
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("namespace", &self.ns.name())
            .field("local", &self.sock.local_addr())
            .field("peer", &self.sock.peer_addr())
            .finish()
    }
}

/// The IPv4 address of `addr`, or `Unsupported` for IPv6.
fn v4(addr: SocketAddr) -> io::Result<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(a) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{a}: IPv6 is not supported by netrt yet"),
        )),
    }
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}
