//! UDP: the socket table, input, output and ICMP errors.
//!
//! * [`UdpTable`] maps a bound (local address, port) to its socket; a
//!   socket bound to `0.0.0.0` sits under the wildcard key
//!   `(0.0.0.0, port)`. Binding is rare and serialised by one mutex; the
//!   table is published as a [`Snapshot`], so every received datagram
//!   finds its socket through its core's reader, with no shared lock.
//!   // linux: udp_table, udp_lib_get_port
//! * Ephemeral ports follow RFC 6056 algorithm 4 ("double-hash port
//!   selection"): a keyed hash of the endpoints picks a starting offset, a
//!   second keyed hash picks one of [`PERTURB_SLOTS`](super::ephemeral::PERTURB_SLOTS) counters that
//!   advances on every pick by a small random step, so choices are
//!   unpredictable off-path and do not repeat for the same peer.
//!   // linux: __inet_hash_connect's table_perturb
//! * [`rcv`] validates a datagram and queues it, without copying, on the
//!   socket it is addressed to ([`UdpSock`], each behind its own lock);
//!   the reader is woken after the lock is released. // linux: udp_rcv
//! * [`send`] builds the header in the buffer's headroom, leaves the
//!   checksum to IP output's offload-or-software step and hands the
//!   datagram to [`ipv4::output`]. // linux: udp_sendmsg
//! * [`icmp_error`] records port/host/network unreachable on the connected
//!   socket that caused it. // linux: __udp4_lib_err

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::task::{Poll, Waker};

use hashbrown::HashMap;
use parking_lot::Mutex;

use super::ephemeral::{PortAllocator, EPHEMERAL};
use super::icmp::{self, ErrorType, IcmpErrorKind};
use super::ipv4::{self, OutParams};
use super::ns::NsInner;
use super::percore;
use super::route::{RouteKind, RouteResult};
use super::skb::{CsumState, PacketBuf};
use super::snmp::Udp;
use super::wakers::{Wake, Wakers};
use crate::sync::snapshot::Snapshot;
use crate::wire::ipv4::{HEADER_LEN as IP_HEADER_LEN, MAX_PACKET_LEN};
use crate::wire::udp::HEADER_LEN;
use crate::wire::{DstUnreachable, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr};

/// Largest payload of one datagram: 65,535 minus the IPv4 and UDP headers.
pub const MAX_PAYLOAD: usize = MAX_PACKET_LEN - IP_HEADER_LEN - HEADER_LEN;

/// Default receive buffer limit in bytes (Linux `rmem_default`).
pub const DEFAULT_RCVBUF: usize = 212_992;

/// A bound socket's key: local address (`UNSPECIFIED` = wildcard) and port.
pub(crate) type SockKey = (Ipv4Addr, u16);

/// Bound sockets by key, as read by the per-packet path.
pub(crate) type SockMap = HashMap<SockKey, Arc<UdpSock>>;

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

/// The per-namespace UDP socket table. See the [module docs](self).
pub(crate) struct UdpTable {
    /// What the receive path reads (through per-core readers).
    pub(crate) bound: Arc<Snapshot<SockMap>>,
    /// Serialises bind/rehash/unbind and owns the ephemeral allocator.
    ports: Mutex<PortAllocator>,
}

impl Default for UdpTable {
    fn default() -> Self {
        UdpTable::new()
    }
}

impl UdpTable {
    /// An empty table with freshly keyed port randomisation.
    pub(crate) fn new() -> UdpTable {
        UdpTable {
            bound: Arc::new(Snapshot::new(SockMap::new())),
            ports: Mutex::new(PortAllocator::new(EPHEMERAL)),
        }
    }

    /// Binds a new socket under `(addr, port)`; port 0 picks an ephemeral
    /// port. A port is taken if a socket holds it with the same address,
    /// or if either side is the wildcard (no `SO_REUSEADDR`): `AddrInUse`.
    pub(crate) fn bind(&self, addr: Ipv4Addr, port: u16) -> io::Result<Arc<UdpSock>> {
        let mut ports = self.ports.lock();
        let map = self.bound.load();
        let port = if port == 0 {
            ports.pick(addr, None, |p| !conflicts(&map, addr, p))?
        } else if conflicts(&map, addr, port) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr}:{port} is already in use"),
            ));
        } else {
            port
        };
        let sock = Arc::new(UdpSock::new((addr, port)));
        self.bound.update(|old| {
            let mut next = old.clone();
            next.insert((addr, port), sock.clone());
            next
        });
        Ok(sock)
    }

    /// Moves a wildcard-bound socket to `(addr, its port)` (connect fixes
    /// the local address). // linux: udp_v4_rehash
    fn rehash(&self, sock: &Arc<UdpSock>, addr: Ipv4Addr) {
        let _ports = self.ports.lock();
        let old = sock.state.lock().local;
        let new = (addr, old.1);
        let map = self.bound.load();
        let ours = map.get(&old).is_some_and(|s| Arc::ptr_eq(s, sock));
        // A wildcard socket keeps everyone else off its port, so the new
        // key is free; check anyway rather than evict a stranger.
        if !ours || old == new || map.contains_key(&new) {
            return;
        }
        self.bound.update(|old_map| {
            let mut next = old_map.clone();
            next.remove(&old);
            next.insert(new, sock.clone());
            next
        });
        sock.state.lock().local = new;
    }

    /// Removes `sock` from the table (if it is still the one bound there)
    /// and closes it: queued datagrams are freed now, and a receive path
    /// that found the socket just before it left refuses further ones
    /// (cores still holding the previous table may keep the socket
    /// itself alive for a while).
    pub(crate) fn unbind(&self, sock: &Arc<UdpSock>) {
        let _ports = self.ports.lock();
        let (key, queue) = {
            let mut st = sock.state.lock();
            st.closed = true;
            st.queued = 0;
            (st.local, std::mem::take(&mut st.queue))
        };
        drop(queue);
        let present = self
            .bound
            .load()
            .get(&key)
            .is_some_and(|s| Arc::ptr_eq(s, sock));
        if present {
            self.bound.update(|old| {
                let mut next = old.clone();
                next.remove(&key);
                next
            });
        }
    }

    /// The number of bound sockets (control path).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.bound.load().len()
    }
}

/// Whether binding `(addr, port)` clashes with a bound socket.
fn conflicts(map: &SockMap, addr: Ipv4Addr, port: u16) -> bool {
    if addr.is_unspecified() {
        // The wildcard clashes with every address on the port.
        map.keys().any(|&(_, p)| p == port)
    } else {
        map.contains_key(&(addr, port)) || map.contains_key(&(Ipv4Addr::UNSPECIFIED, port))
    }
}

/// The socket a datagram to `(addr, port)` belongs to: exact match first,
/// then the wildcard. // linux: __udp4_lib_lookup
#[inline]
fn lookup(map: &SockMap, addr: Ipv4Addr, port: u16) -> Option<&Arc<UdpSock>> {
    map.get(&(addr, port))
        .or_else(|| map.get(&(Ipv4Addr::UNSPECIFIED, port)))
}

/// Binds a socket in `ns` to `addr`: the address must be the wildcard or
/// one of the namespace's (unicast or broadcast) addresses, else
/// `AddrNotAvailable`; port 0 picks an ephemeral port. // linux: inet_bind
pub(crate) fn bind(ns: &NsInner, addr: SocketAddrV4) -> io::Result<Arc<UdpSock>> {
    let ip = *addr.ip();
    let ours = ip.is_unspecified()
        || percore::with_routes(ns, |r| {
            r.is_local(ip)
                || r.lookup(ip)
                    .is_some_and(|rt| rt.kind == RouteKind::Broadcast)
        });
    if !ours {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{ip} is not an address of namespace {:?}", ns.name),
        ));
    }
    ns.udp.bind(ip, addr.port())
}

// ---------------------------------------------------------------------------
// The socket
// ---------------------------------------------------------------------------

/// One UDP socket (linux: `struct udp_sock`): the table holds one `Arc`,
/// the user's `UdpSocket` another. All state is behind the socket's own
/// lock, taken briefly by the receive path and by the user.
pub(crate) struct UdpSock {
    state: Mutex<SockState>,
}

/// A queued datagram: the payload (no copy of the received buffer) and
/// who sent it.
struct Datagram {
    payload: PacketBuf,
    from: SocketAddrV4,
    /// Bytes charged against the receive buffer.
    charge: usize,
}

struct SockState {
    /// The key the socket is bound under.
    local: SockKey,
    /// Set by `connect`: the default destination and the only accepted
    /// source.
    peer: Option<SocketAddrV4>,
    queue: VecDeque<Datagram>,
    /// Bytes charged by `queue` (linux: `sk_rmem_alloc`).
    queued: usize,
    /// Limit on `queued` (linux: `sk_rcvbuf`).
    rcvbuf: usize,
    /// A pending error reported by ICMP (linux: `sk_err`).
    error: Option<io::ErrorKind>,
    /// `SO_BROADCAST`.
    broadcast: bool,
    /// `IP_TTL`; `None` = the namespace default.
    ttl: Option<u8>,
    readers: Wakers,
    /// Unbound: takes no more datagrams.
    closed: bool,
}

/// Why a datagram was not queued on a socket.
enum Refused {
    /// Connected to another peer: not for this socket.
    NotMine(PacketBuf),
    /// The receive buffer is full.
    Full,
}

/// What a receive call wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvMode {
    /// Take the datagram off the queue.
    Take,
    /// Copy it, leave it queued (`MSG_PEEK`).
    Peek,
}

impl UdpSock {
    fn new(local: SockKey) -> UdpSock {
        UdpSock {
            state: Mutex::new(SockState {
                local,
                peer: None,
                queue: VecDeque::new(),
                queued: 0,
                rcvbuf: DEFAULT_RCVBUF,
                error: None,
                broadcast: false,
                ttl: None,
                readers: Wakers::default(),
                closed: false,
            }),
        }
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddrV4 {
        let (addr, port) = self.state.lock().local;
        SocketAddrV4::new(addr, port)
    }

    /// The connected peer.
    pub(crate) fn peer_addr(&self) -> Option<SocketAddrV4> {
        self.state.lock().peer
    }

    /// Queues `pkt` (data at the UDP header, already validated) from
    /// `from`, unless the socket is connected elsewhere or full. The
    /// header is pulled only once accepted, so a refused packet can still
    /// be quoted in an ICMP error. // linux: __udp_enqueue_schedule_skb
    fn enqueue(&self, from: SocketAddrV4, mut pkt: PacketBuf) -> Result<Wake, Refused> {
        // What the buffer really occupies (linux: skb->truesize).
        let charge = pkt.headroom() + pkt.len() + pkt.tailroom();
        let mut st = self.state.lock();
        if st.closed || st.peer.is_some_and(|p| p != from) {
            return Err(Refused::NotMine(pkt));
        }
        // One datagram always fits, so a buffer smaller than a datagram
        // still passes traffic one at a time.
        if st.queued != 0 && st.queued + charge > st.rcvbuf {
            return Err(Refused::Full);
        }
        pkt.pull_front(HEADER_LEN);
        st.queued += charge;
        st.queue.push_back(Datagram {
            payload: pkt,
            from,
            charge,
        });
        Ok(st.readers.take())
    }

    /// Receives (or peeks at) the next datagram into `buf`; the part that
    /// does not fit is discarded, like std. A pending ICMP error comes
    /// first. When nothing is queued: `Pending`, with `waker` (if any)
    /// registered for the next arrival. // linux: udp_recvmsg
    pub(crate) fn recv(
        &self,
        buf: &mut [u8],
        mode: RecvMode,
        waker: Option<&Waker>,
    ) -> Poll<io::Result<(usize, SocketAddrV4)>> {
        let mut st = self.state.lock();
        if let Some(kind) = st.error.take() {
            return Poll::Ready(Err(icmp_io_error(kind)));
        }
        let Some(front) = st.queue.front() else {
            if let Some(w) = waker {
                st.readers.register(w);
            }
            return Poll::Pending;
        };
        let data = front.payload.data();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        let from = front.from;
        if mode == RecvMode::Take {
            let charge = front.charge;
            st.queued -= charge;
            let done = st.queue.pop_front();
            drop(st);
            // The buffer goes back to this thread's pool outside the lock.
            drop(done);
        }
        Poll::Ready(Ok((n, from)))
    }

    /// Ready when a datagram or an error is waiting; else `Pending` with
    /// `waker` registered.
    pub(crate) fn poll_readable(&self, waker: &Waker) -> Poll<()> {
        let mut st = self.state.lock();
        if st.error.is_some() || !st.queue.is_empty() {
            Poll::Ready(())
        } else {
            st.readers.register(waker);
            Poll::Pending
        }
    }

    /// Takes the pending error (linux: `SO_ERROR`).
    pub(crate) fn take_error(&self) -> Option<io::Error> {
        self.state.lock().error.take().map(icmp_io_error)
    }

    /// Records an ICMP error if it is about this socket's connected peer.
    fn report_error(&self, peer: SocketAddrV4, kind: io::ErrorKind) -> Option<Wake> {
        let mut st = self.state.lock();
        if st.peer != Some(peer) {
            // Unconnected sockets do not hear about errors (no IP_RECVERR).
            return None;
        }
        st.error = Some(kind);
        // linux: sk_error_report wakes readers, who then see the error.
        Some(st.readers.take())
    }

    /// `SO_BROADCAST`.
    pub(crate) fn set_broadcast(&self, on: bool) {
        self.state.lock().broadcast = on;
    }

    /// `SO_BROADCAST`.
    pub(crate) fn broadcast(&self) -> bool {
        self.state.lock().broadcast
    }

    /// `IP_TTL` (`None` resets to the namespace default).
    pub(crate) fn set_ttl(&self, ttl: Option<u8>) {
        self.state.lock().ttl = ttl;
    }

    /// `IP_TTL` as set (`None` = the namespace default).
    pub(crate) fn ttl(&self) -> Option<u8> {
        self.state.lock().ttl
    }

    /// `SO_RCVBUF` in bytes (not doubled as Linux does).
    pub(crate) fn set_rcvbuf(&self, bytes: usize) {
        self.state.lock().rcvbuf = bytes;
    }

    /// `SO_RCVBUF` in bytes.
    pub(crate) fn rcvbuf(&self) -> usize {
        self.state.lock().rcvbuf
    }
}

/// The `io::Error` for an error recorded from ICMP.
fn icmp_io_error(kind: io::ErrorKind) -> io::Error {
    let what = match kind {
        io::ErrorKind::ConnectionRefused => "connection refused (ICMP port unreachable)",
        io::ErrorKind::HostUnreachable => "host unreachable (ICMP)",
        io::ErrorKind::NetworkUnreachable => "network unreachable (ICMP)",
        _ => "destination unreachable (ICMP)",
    };
    io::Error::new(kind, what)
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// UDP input: `pkt.data()` starts at the UDP header, `ip` is the header
/// it came in (after reassembly). Malformed or unwanted datagrams are
/// counted and dropped. // linux: __udp4_lib_rcv
pub(crate) fn rcv(ns: &NsInner, ip: &Ipv4Repr, mut pkt: PacketBuf) {
    let mib = ipv4::mib(ns);
    let (src_port, dst_port, len) = match UdpPacket::new_checked(pkt.data()) {
        Ok(udp) => {
            let verified = pkt.meta().csum == CsumState::Verified;
            if !verified && !udp.verify_checksum(ip.src_addr, ip.dst_addr) {
                mib.inc(Udp::InCsumErrors);
                mib.inc(Udp::InErrors);
                return;
            }
            (udp.src_port(), udp.dst_port(), usize::from(udp.len()))
        }
        Err(_) => {
            mib.inc(Udp::InErrors);
            return;
        }
    };
    // Bytes past the UDP length (link padding) are not payload.
    pkt.truncate(len);
    let from = SocketAddrV4::new(ip.src_addr, src_port);
    let dst = ip.dst_addr;
    let outcome = percore::with_snapshot(&ns.owner, &ns.udp.bound, move |map| {
        match lookup(map, dst, dst_port) {
            Some(sock) => sock.enqueue(from, pkt),
            None => Err(Refused::NotMine(pkt)),
        }
    });
    match outcome {
        Ok(wake) => {
            mib.inc(Udp::InDatagrams);
            wake.wake();
        }
        Err(Refused::Full) => {
            mib.inc(Udp::RcvbufErrors);
            mib.inc(Udp::InErrors);
        }
        Err(Refused::NotMine(pkt)) => {
            if is_broadcast(ns, dst) {
                mib.inc(Udp::IgnoredMulti);
            } else {
                mib.inc(Udp::NoPorts);
                let kind = ErrorType::DstUnreachable(DstUnreachable::PortUnreachable);
                icmp::send_error_quoting(ns, kind, ip, pkt.data());
            }
        }
    }
}

/// Whether `dst` is a broadcast or multicast address here (no port
/// unreachable for those, RFC 1122 §4.1.3.1).
fn is_broadcast(ns: &NsInner, dst: Ipv4Addr) -> bool {
    dst.is_broadcast()
        || dst.is_multicast()
        || percore::with_routes(ns, |r| {
            r.lookup(dst)
                .is_some_and(|rt| rt.kind == RouteKind::Broadcast)
        })
}

/// An ICMP error quoting one of our datagrams (`quoted`: its IP header
/// and at least the UDP header). A connected socket whose peer it names
/// records unreachable errors; others ignore them, as Linux does without
/// `IP_RECVERR`. // linux: __udp4_lib_err
pub(crate) fn icmp_error(ns: &NsInner, kind: IcmpErrorKind, quoted: &[u8]) {
    if !matches!(kind, IcmpErrorKind::DstUnreachable(_)) || !kind.is_fatal() {
        // Time exceeded, fragmentation needed: transient, not reported.
        return;
    }
    let ip = Ipv4Packet::new_unchecked(quoted);
    if ip.check_header_len().is_err() || ip.protocol() != IpProtocol::Udp {
        return;
    }
    let Some(udp) = quoted.get(ip.header_len()..ip.header_len() + HEADER_LEN) else {
        return;
    };
    let udp = UdpPacket::new_unchecked(udp);
    let (local, local_port) = (ip.src_addr(), udp.src_port());
    let peer = SocketAddrV4::new(ip.dst_addr(), udp.dst_port());
    let io_kind = kind.io_kind();
    let wake = percore::with_snapshot(&ns.owner, &ns.udp.bound, |map| {
        lookup(map, local, local_port)?.report_error(peer, io_kind)
    });
    if let Some(wake) = wake {
        wake.wake();
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// Sends `payload` to `to`, or to the connected peer when `to` is `None`.
///
/// Errors: a pending ICMP error (taken); `NotConnected` without a
/// destination; `InvalidInput` for more than [`MAX_PAYLOAD`] bytes
/// ("message too long") or port 0; `PermissionDenied` for a broadcast
/// destination without `SO_BROADCAST`; IP output's errors (no route:
/// `NetworkUnreachable`). // linux: udp_sendmsg → udp_send_skb
pub(crate) fn send(
    ns: &NsInner,
    sock: &UdpSock,
    payload: &[u8],
    to: Option<SocketAddrV4>,
) -> io::Result<usize> {
    if payload.len() > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "message too long: {} bytes exceed the UDP maximum of {MAX_PAYLOAD}",
                payload.len()
            ),
        ));
    }
    let (local, dst, ttl, broadcast) = {
        let mut st = sock.state.lock();
        if let Some(kind) = st.error.take() {
            return Err(icmp_io_error(kind));
        }
        let dst = match to.or(st.peer) {
            Some(dst) => dst,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "no destination: the socket is not connected",
                ))
            }
        };
        (st.local, dst, st.ttl, st.broadcast)
    };
    if dst.port() == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot send to port 0",
        ));
    }
    let src = if to.is_none() && !local.0.is_unspecified() {
        // Connected: the route was checked (broadcast included) by
        // connect, which also fixed the source; IP output still routes
        // the datagram and reports an unreachable destination.
        local.0
    } else {
        let route = route_to(ns, *dst.ip(), broadcast)?;
        match local.0.is_unspecified() {
            true => route.src.ok_or_else(no_source)?,
            false => local.0,
        }
    };

    let mut pkt = PacketBuf::new(PacketBuf::DEFAULT_HEADROOM, HEADER_LEN + payload.len());
    pkt.put_uninit(payload.len()).copy_from_slice(payload);
    let header = UdpRepr {
        src_port: local.1,
        dst_port: dst.port(),
        payload: &[],
    };
    let mut udp = UdpPacket::new_unchecked(pkt.push_front(HEADER_LEN));
    header.emit_header(&mut udp, payload.len());
    // The pseudo-header sum goes in now; IP output has the device finish
    // it, trusts it on loopback, or completes it in software (for
    // fragments, and devices without checksum offload).
    let mut udp = UdpPacket::new_unchecked(pkt.data_mut());
    udp.fill_pseudo_checksum(src, *dst.ip());
    pkt.meta_mut().csum = CsumState::Partial;

    let params = OutParams {
        src: Some(src),
        dst: *dst.ip(),
        protocol: IpProtocol::Udp,
        ttl: ttl.unwrap_or_else(|| ns.ip.ttl()),
        tos: 0,
        dont_frag: false,
    };
    ipv4::output(ns, pkt, &params)?;
    ipv4::mib(ns).inc(Udp::OutDatagrams);
    Ok(payload.len())
}

/// Connects `sock` to `peer`: sets the default destination and the only
/// accepted source, and fixes a wildcard local address to the route's
/// source. Errors as for [`send`]'s routing. // linux: ip4_datagram_connect
pub(crate) fn connect(ns: &NsInner, sock: &Arc<UdpSock>, peer: SocketAddrV4) -> io::Result<()> {
    let broadcast = sock.broadcast();
    let route = route_to(ns, *peer.ip(), broadcast)?;
    if sock.state.lock().local.0.is_unspecified() {
        ns.udp.rehash(sock, route.src.ok_or_else(no_source)?);
    }
    sock.state.lock().peer = Some(peer);
    Ok(())
}

/// The route to `dst`, refusing broadcast destinations unless allowed.
fn route_to(ns: &NsInner, dst: Ipv4Addr, broadcast_ok: bool) -> io::Result<RouteResult> {
    let Some(route) = percore::with_routes(ns, |r| r.lookup(dst)) else {
        return Err(io::Error::new(
            io::ErrorKind::NetworkUnreachable,
            format!("no route to {dst}"),
        ));
    };
    if route.kind == RouteKind::Broadcast && !broadcast_ok {
        // linux: EACCES without SO_BROADCAST.
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{dst} is a broadcast address and SO_BROADCAST is off"),
        ));
    }
    Ok(route)
}

fn no_source() -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "the output device has no IPv4 address",
    )
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake as WakeTrait;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

    fn port_of(s: &Arc<UdpSock>) -> u16 {
        s.local_addr().port()
    }

    #[test]
    fn specific_and_wildcard_conflicts() {
        let t = UdpTable::new();
        let a = t.bind(A, 5000).unwrap();
        let in_use = |r: io::Result<Arc<UdpSock>>| r.err().unwrap().kind();
        // Same address/port, and the wildcard on that port: in use.
        assert_eq!(in_use(t.bind(A, 5000)), io::ErrorKind::AddrInUse);
        assert_eq!(in_use(t.bind(ANY, 5000)), io::ErrorKind::AddrInUse);
        // Another address on the same port is fine.
        let b = t.bind(B, 5000).unwrap();
        // A wildcard socket blocks every address on its port.
        let w = t.bind(ANY, 6000).unwrap();
        assert_eq!(in_use(t.bind(A, 6000)), io::ErrorKind::AddrInUse);
        assert_eq!(t.len(), 3);
        t.unbind(&a);
        t.unbind(&b);
        t.unbind(&w);
        assert_eq!(t.len(), 0);
        t.bind(A, 6000).unwrap();
    }

    #[test]
    fn unbind_closes_the_socket() {
        let t = UdpTable::new();
        let s = t.bind(A, 7200).unwrap();
        assert!(s.enqueue(from(1), datagram(b"queued")).is_ok());
        t.unbind(&s);
        assert!(s.state.lock().queue.is_empty());
        assert_eq!(s.state.lock().queued, 0);
        // A receive path that still saw the socket is refused.
        assert!(matches!(
            s.enqueue(from(1), datagram(b"late")),
            Err(Refused::NotMine(_))
        ));
    }

    #[test]
    fn unbind_leaves_a_newer_socket_alone() {
        let t = UdpTable::new();
        let old = t.bind(A, 7000).unwrap();
        t.unbind(&old);
        let new = t.bind(A, 7000).unwrap();
        t.unbind(&old);
        assert_eq!(t.len(), 1);
        t.unbind(&new);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn rehash_moves_a_wildcard_socket() {
        let t = UdpTable::new();
        let s = t.bind(ANY, 7100).unwrap();
        t.rehash(&s, A);
        assert_eq!(s.local_addr(), SocketAddrV4::new(A, 7100));
        let map = t.bound.load();
        assert!(map.contains_key(&(A, 7100)));
        assert!(!map.contains_key(&(ANY, 7100)));
        // The port is now free for other addresses, and unbind finds it.
        t.bind(B, 7100).unwrap();
        t.unbind(&s);
        assert!(!t.bound.load().contains_key(&(A, 7100)));
    }

    #[test]
    fn lookup_prefers_exact_then_wildcard() {
        let t = UdpTable::new();
        let exact = t.bind(A, 53).unwrap();
        let wild = t.bind(ANY, 54).unwrap();
        let map = t.bound.load();
        assert!(Arc::ptr_eq(lookup(&map, A, 53).unwrap(), &exact));
        assert!(lookup(&map, B, 53).is_none());
        assert!(Arc::ptr_eq(lookup(&map, B, 54).unwrap(), &wild));
        assert!(lookup(&map, A, 55).is_none());
    }

    #[test]
    fn ephemeral_ports_are_in_range_random_and_distinct() {
        let t = UdpTable::new();
        let mut ports = Vec::new();
        for _ in 0..200 {
            let s = t.bind(ANY, 0).unwrap();
            assert!(EPHEMERAL.contains(&port_of(&s)), "{}", port_of(&s));
            ports.push(port_of(&s));
        }
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ports.len(), "ports repeat");
        // Not a plain sequence: the steps between picks vary.
        let steps: Vec<i32> = ports
            .windows(2)
            .map(|w| w[1] as i32 - w[0] as i32)
            .collect();
        assert!(steps.iter().any(|&s| s != steps[0]), "{steps:?}");
        // Two tables (two namespaces) have independent keys.
        let other = UdpTable::new();
        let theirs: Vec<u16> = (0..8)
            .map(|_| port_of(&other.bind(ANY, 0).unwrap()))
            .collect();
        assert_ne!(&ports[..8], &theirs[..]);
    }

    #[test]
    fn exhaustion_is_addr_in_use() {
        let mut alloc = PortAllocator::new(40000..=40009);
        let mut taken = std::collections::HashSet::new();
        let dst = Some(SocketAddrV4::new(B, 53));
        for _ in 0..10 {
            let p = alloc.pick(A, dst, |p| !taken.contains(&p)).unwrap();
            assert!((40000..=40009).contains(&p));
            assert!(taken.insert(p));
        }
        let e = alloc.pick(A, dst, |p| !taken.contains(&p)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }

    /// A datagram as `rcv` hands it to a socket: UDP header + payload.
    fn datagram(payload: &[u8]) -> PacketBuf {
        let mut p = PacketBuf::new(64, HEADER_LEN + payload.len());
        p.put(HEADER_LEN);
        p.extend_from_slice(payload);
        p
    }

    struct Count(AtomicUsize);
    impl WakeTrait for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn from(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(B, port)
    }

    fn recv(s: &UdpSock, buf: &mut [u8], mode: RecvMode) -> Option<(usize, SocketAddrV4)> {
        match s.recv(buf, mode, None) {
            Poll::Ready(r) => Some(r.unwrap()),
            Poll::Pending => None,
        }
    }

    #[test]
    fn queue_peek_truncate_and_wake() {
        let s = UdpSock::new((A, 9));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut buf = [0u8; 16];
        assert!(s.recv(&mut buf, RecvMode::Take, Some(&waker)).is_pending());
        // The same waker twice is registered once.
        assert!(s.poll_readable(&waker).is_pending());
        s.enqueue(from(1), datagram(b"hello")).ok().unwrap().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        s.enqueue(from(2), datagram(b"0123456789"))
            .ok()
            .unwrap()
            .wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "no waiter left");
        assert!(s.poll_readable(&waker).is_ready());
        // Peek leaves it; take consumes it.
        assert_eq!(recv(&s, &mut buf, RecvMode::Peek), Some((5, from(1))));
        assert_eq!(recv(&s, &mut buf, RecvMode::Take), Some((5, from(1))));
        assert_eq!(&buf[..5], b"hello");
        // A short buffer gets the start; the rest is gone.
        let mut small = [0u8; 4];
        assert_eq!(recv(&s, &mut small, RecvMode::Take), Some((4, from(2))));
        assert_eq!(&small, b"0123");
        assert_eq!(recv(&s, &mut buf, RecvMode::Take), None);
        assert_eq!(s.state.lock().queued, 0);
    }

    #[test]
    fn several_waiting_readers_are_all_woken() {
        let s = UdpSock::new((A, 9));
        let counts: Vec<_> = (0..3)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        for c in &counts {
            assert!(s.poll_readable(&Waker::from(c.clone())).is_pending());
        }
        s.enqueue(from(1), datagram(b"x")).ok().unwrap().wake();
        for c in &counts {
            assert_eq!(c.0.load(Ordering::SeqCst), 1);
        }
    }

    #[test]
    fn receive_buffer_limit() {
        let s = UdpSock::new((A, 9));
        let one = {
            let p = datagram(b"x");
            p.headroom() + p.len() + p.tailroom()
        };
        s.set_rcvbuf(3 * one);
        for _ in 0..3 {
            assert!(s.enqueue(from(1), datagram(b"x")).is_ok());
        }
        assert!(matches!(
            s.enqueue(from(1), datagram(b"x")),
            Err(Refused::Full)
        ));
        let mut buf = [0u8; 4];
        recv(&s, &mut buf, RecvMode::Take).unwrap();
        assert!(s.enqueue(from(1), datagram(b"x")).is_ok());
        // A limit below one datagram still lets one through at a time.
        let tiny = UdpSock::new((A, 10));
        tiny.set_rcvbuf(1);
        assert!(tiny.enqueue(from(1), datagram(b"x")).is_ok());
        assert!(matches!(
            tiny.enqueue(from(1), datagram(b"x")),
            Err(Refused::Full)
        ));
    }

    #[test]
    fn connected_socket_filters_sources_and_records_errors() {
        let s = UdpSock::new((A, 9));
        s.state.lock().peer = Some(from(7));
        match s.enqueue(from(8), datagram(b"stranger")) {
            Err(Refused::NotMine(p)) => assert_eq!(p.len(), HEADER_LEN + 8, "header kept"),
            _ => panic!("a connected socket took a stranger's datagram"),
        }
        assert!(s.enqueue(from(7), datagram(b"peer")).is_ok());
        // Errors about other peers are ignored; about ours, reported first.
        assert!(s
            .report_error(from(8), io::ErrorKind::ConnectionRefused)
            .is_none());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut buf = [0u8; 8];
        s.report_error(from(7), io::ErrorKind::ConnectionRefused)
            .unwrap()
            .wake();
        let e = match s.recv(&mut buf, RecvMode::Take, Some(&Waker::from(count))) {
            Poll::Ready(Err(e)) => e,
            _ => panic!("error not reported"),
        };
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        // Reported once, then the queued datagram.
        assert_eq!(recv(&s, &mut buf, RecvMode::Take), Some((4, from(7))));
        s.report_error(from(7), io::ErrorKind::HostUnreachable)
            .unwrap()
            .wake();
        assert_eq!(
            s.take_error().unwrap().kind(),
            io::ErrorKind::HostUnreachable
        );
        assert!(s.take_error().is_none());
    }
}
