//! ICMPv4 (RFC 792): echo, and the error messages of IP.
//!
//! * `rcv`: answers echo requests (in place: the request's buffer becomes
//!   the reply), completes [`Namespace::ping`]s on echo replies, and hands
//!   destination-unreachable / time-exceeded messages to the protocol whose
//!   datagram they quote (UDP now, TCP later).
//! * `send_error` / `send_error_quoting`: the errors IP and the
//!   transports send. Following RFC 1122 §3.2.2 they are never sent about
//!   an ICMP error, a non-first fragment, or a datagram to or from a
//!   broadcast/multicast address, and they are rate-limited like Linux's
//!   `icmp_global_allow`: a token bucket of 1000 messages per second with
//!   bursts of 50, per namespace (refusals count `OutRateLimitGlobal`).
//!   Echo replies are not limited (Linux's default `icmp_ratemask`).
//!   Linux also limits per destination host (`icmp_ratelimit`); that
//!   second limit is not implemented.
//!
//! // linux: net/ipv4/icmp.c

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ipv4::{self, OutParams};
use super::ns::{Namespace, NsInner};
use super::percore;
use super::route::RouteKind;
use super::skb::PacketBuf;
use super::snmp::{CoreCounters, Icmp};
use crate::wire::icmpv4::HEADER_LEN;
use crate::wire::ipv4::HEADER_LEN as IP_HEADER_LEN;
use crate::wire::{
    checksum, ChecksumMode, DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpProtocol,
    Ipv4Packet, Ipv4Repr, TimeExceeded,
};

/// An ICMP error as the transports see it: what went wrong with a
/// datagram they sent. Passed to `udp::icmp_error` with the quoted
/// datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpErrorKind {
    /// Destination unreachable with this code.
    DstUnreachable(DstUnreachable),
    /// Fragmentation needed and DF set; the next-hop MTU (0 if the router
    /// did not say).
    FragNeeded {
        /// Next-hop MTU.
        mtu: u16,
    },
    /// Time exceeded with this code.
    TimeExceeded(TimeExceeded),
}

impl IcmpErrorKind {
    /// The `io::ErrorKind` a socket reports for it.
    /// // linux: icmp_err_convert
    pub fn io_kind(self) -> io::ErrorKind {
        use DstUnreachable::*;
        match self {
            IcmpErrorKind::DstUnreachable(code) => match code {
                NetUnreachable | DstNetUnknown | NetUnreachToS | NetProhibited => {
                    io::ErrorKind::NetworkUnreachable
                }
                PortUnreachable => io::ErrorKind::ConnectionRefused,
                ProtoUnreachable | SrcRouteFailed => io::ErrorKind::Unsupported,
                CommProhibited | HostPrecedenceViolation | PrecedenceCutoff => {
                    io::ErrorKind::PermissionDenied
                }
                _ => io::ErrorKind::HostUnreachable,
            },
            IcmpErrorKind::FragNeeded { .. } => io::ErrorKind::InvalidInput,
            IcmpErrorKind::TimeExceeded(_) => io::ErrorKind::HostUnreachable,
        }
    }

    /// Whether the error ends a connection-oriented exchange rather than
    /// being a transient report (Linux's `fatal` column: unreachable
    /// network/host/protocol/port are, time exceeded is not).
    pub fn is_fatal(self) -> bool {
        use DstUnreachable::*;
        match self {
            IcmpErrorKind::DstUnreachable(code) => matches!(
                code,
                NetUnreachable
                    | HostUnreachable
                    | ProtoUnreachable
                    | PortUnreachable
                    | SrcRouteFailed
                    | DstNetUnknown
                    | DstHostUnknown
                    | SrcHostIsolated
                    | NetProhibited
                    | HostProhibited
                    | CommProhibited
            ),
            IcmpErrorKind::FragNeeded { .. } | IcmpErrorKind::TimeExceeded(_) => false,
        }
    }
}

impl fmt::Display for IcmpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IcmpErrorKind::DstUnreachable(code) => write!(f, "destination unreachable ({code:?})"),
            IcmpErrorKind::FragNeeded { mtu } => write!(f, "fragmentation needed (mtu {mtu})"),
            IcmpErrorKind::TimeExceeded(TimeExceeded::TtlExpired) => {
                f.write_str("time to live exceeded")
            }
            IcmpErrorKind::TimeExceeded(code) => write!(f, "time exceeded ({code:?})"),
        }
    }
}

/// The error carried by a failed [`Namespace::ping`] that got an ICMP
/// error back (downcast the `io::Error`'s inner error to read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PingError {
    /// What the error said.
    pub kind: IcmpErrorKind,
    /// Who sent it (the router or host that gave up).
    pub from: Ipv4Addr,
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.kind, self.from)
    }
}

impl std::error::Error for PingError {}

/// ICMP input: `pkt.data()` starts at the ICMP header; `ip` is the header
/// it came in. // linux: icmp_rcv
pub(crate) fn rcv(ns: &NsInner, ip: &Ipv4Repr, pkt: PacketBuf) {
    let mib = ns.snmp_core();
    mib.inc(Icmp::InMsgs);
    let Ok(packet) = Icmpv4Packet::new_checked(pkt.data()) else {
        mib.inc(Icmp::InErrors);
        return;
    };
    // ICMP is never checksum-offloaded: always verified here.
    if !packet.verify_checksum() {
        mib.inc(Icmp::InCsumErrors);
        mib.inc(Icmp::InErrors);
        return;
    }
    let msg_type = packet.msg_type();
    count_in(mib, msg_type);
    match msg_type {
        Icmpv4Message::EchoRequest => {
            // linux: icmp_echo; icmp_echo_ignore_broadcasts = 1.
            let to_broadcast = ip.dst_addr.is_broadcast()
                || ip.dst_addr.is_multicast()
                || percore::with_routes(ns, |r| {
                    r.lookup(ip.dst_addr)
                        .is_some_and(|rt| rt.kind == RouteKind::Broadcast)
                });
            if !to_broadcast {
                echo_reply(ns, ip, pkt);
            }
        }
        Icmpv4Message::EchoReply => {
            let (ident, seq) = (packet.echo_ident(), packet.echo_seq_no());
            let reply = Reply::Echo {
                data: packet.data(),
                at: Instant::now(),
            };
            ns.ip.pings.complete(ident, seq, ip.src_addr, reply);
        }
        Icmpv4Message::DstUnreachable | Icmpv4Message::TimeExceeded => {
            let data = packet.data();
            match Icmpv4Repr::parse(&packet, ChecksumMode::Offloaded) {
                Ok(Icmpv4Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    header,
                    ..
                }) => {
                    let kind = if reason == DstUnreachable::FragRequired {
                        IcmpErrorKind::FragNeeded { mtu: next_hop_mtu }
                    } else {
                        IcmpErrorKind::DstUnreachable(reason)
                    };
                    deliver_error(ns, kind, ip.src_addr, &header, data);
                }
                Ok(Icmpv4Repr::TimeExceeded { reason, header, .. }) => {
                    let kind = IcmpErrorKind::TimeExceeded(reason);
                    deliver_error(ns, kind, ip.src_addr, &header, data);
                }
                _ => mib.inc(Icmp::InErrors),
            }
        }
        // Counted above; nothing else is acted on (no redirects: routes
        // are configured, not learned).
        _ => {}
    }
}

/// Counts an incoming message by type.
fn count_in(mib: &CoreCounters, msg_type: Icmpv4Message) {
    let counter = match msg_type {
        Icmpv4Message::EchoReply => Icmp::InEchoReps,
        Icmpv4Message::DstUnreachable => Icmp::InDestUnreachs,
        Icmpv4Message::SourceQuench => Icmp::InSrcQuenchs,
        Icmpv4Message::Redirect => Icmp::InRedirects,
        Icmpv4Message::EchoRequest => Icmp::InEchos,
        Icmpv4Message::TimeExceeded => Icmp::InTimeExcds,
        Icmpv4Message::ParamProblem => Icmp::InParmProbs,
        Icmpv4Message::Timestamp => Icmp::InTimestamps,
        Icmpv4Message::TimestampReply => Icmp::InTimestampReps,
        _ => return,
    };
    mib.inc(counter);
}

/// Turns the echo request in `pkt` into its reply and sends it back.
/// No allocation: the type changes in place, the checksum is patched
/// (RFC 1624) and IP output prepends a fresh header in the headroom.
fn echo_reply(ns: &NsInner, ip: &Ipv4Repr, mut reply: PacketBuf) {
    {
        let mut icmp = Icmpv4Packet::new_unchecked(reply.data_mut());
        let code = icmp.msg_code();
        let old = u16::from_be_bytes([Icmpv4Message::EchoRequest.into(), code]);
        let new = u16::from_be_bytes([Icmpv4Message::EchoReply.into(), code]);
        let check = checksum::update_u16(icmp.checksum(), old, new);
        icmp.set_msg_type(Icmpv4Message::EchoReply);
        icmp.set_checksum(check);
    }
    let meta = reply.meta_mut();
    meta.in_dev = None;
    meta.csum = Default::default();
    meta.offload = None;
    let params = OutParams {
        src: Some(ip.dst_addr),
        dst: ip.src_addr,
        protocol: IpProtocol::Icmp,
        ttl: ns.ip.ttl(),
        tos: (ip.dscp << 2) | ip.ecn,
        dont_frag: false,
    };
    let mib = ns.snmp_core();
    mib.inc(Icmp::OutMsgs);
    mib.inc(Icmp::OutEchoReps);
    if ipv4::output(ns, reply, &params).is_err() {
        mib.inc(Icmp::OutErrors);
    }
}

/// Hands an ICMP error about one of our datagrams to whoever sent it.
fn deliver_error(
    ns: &NsInner,
    kind: IcmpErrorKind,
    from: Ipv4Addr,
    quoted: &Ipv4Repr,
    quoted_bytes: &[u8],
) {
    match quoted.protocol {
        IpProtocol::Udp => super::udp::icmp_error(ns, kind, quoted_bytes),
        IpProtocol::Tcp => super::tcp::rcv::icmp_error(ns, kind, quoted_bytes),
        IpProtocol::Icmp => {
            // One of our echo requests? Its type, code, checksum, ident
            // and sequence number are the 8 quoted bytes after the header.
            let inner = Ipv4Packet::new_unchecked(quoted_bytes);
            let Some(echo) = quoted_bytes.get(inner.header_len()..) else {
                return;
            };
            if echo.len() >= HEADER_LEN && echo[0] == u8::from(Icmpv4Message::EchoRequest) {
                let ident = u16::from_be_bytes([echo[4], echo[5]]);
                let seq = u16::from_be_bytes([echo[6], echo[7]]);
                let reply = Reply::Error(PingError { kind, from });
                ns.ip.pings.complete(ident, seq, quoted.dst_addr, reply);
            }
        }
        // Nothing else sends transport segments.
        _ => {}
    }
}

/// The kinds of error IP and the transports send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ErrorType {
    /// Destination unreachable with this code (not `FragRequired`: use
    /// `FragNeeded`, which carries the MTU).
    DstUnreachable(DstUnreachable),
    /// Fragmentation needed, with the next-hop MTU.
    FragNeeded(u16),
    /// Time exceeded with this code.
    TimeExceeded(TimeExceeded),
}

/// Sends an ICMP error about `original`, a received IPv4 datagram
/// (header first; as much of it as is at hand). Applies the RFC 1122
/// rules and the rate limit; failures are counted, never returned.
/// // linux: __icmp_send
pub(crate) fn send_error(ns: &NsInner, kind: ErrorType, original: &[u8]) {
    let packet = Ipv4Packet::new_unchecked(original);
    if packet.check_header_len().is_err() || packet.version() != 4 {
        return;
    }
    let (header, data) = original.split_at(packet.header_len());
    send(ns, kind, header, data);
}

/// Like [`send_error`], for a datagram whose header is known only as a
/// repr (the transports, after IP pulled the header): the quote carries
/// the header re-emitted without options, then `l4` (the transport
/// header and data). UDP calls this for port unreachable.
pub(crate) fn send_error_quoting(ns: &NsInner, kind: ErrorType, ip: &Ipv4Repr, l4: &[u8]) {
    let mut header = [0u8; IP_HEADER_LEN];
    let mut repr = *ip;
    // The quote may be cut short, but its header says what was sent.
    repr.payload_len = repr.payload_len.min(usize::from(u16::MAX) - IP_HEADER_LEN);
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut header[..]),
        ChecksumMode::Software,
    );
    send(ns, kind, &header, l4);
}

/// Most of the original datagram an error quotes: the error stays within
/// the 576 bytes every host accepts (RFC 1812 §4.3.2.3).
const MAX_QUOTE: usize = 576 - IP_HEADER_LEN - HEADER_LEN;

fn send(ns: &NsInner, kind: ErrorType, header: &[u8], data: &[u8]) {
    let orig = Ipv4Packet::new_unchecked(header);
    let (src, dst) = (orig.src_addr(), orig.dst_addr());
    if orig.frag_offset() != 0 || !is_unicast(src) || dst.is_broadcast() || dst.is_multicast() {
        return;
    }
    if orig.protocol() == IpProtocol::Icmp && !data.first().is_some_and(|&t| is_query(t)) {
        // Never an error about an error (or about something unparsable).
        return;
    }
    let (dst_local, dst_broadcast) = percore::with_routes(ns, |r| {
        let rt = r.lookup(dst);
        (
            rt.is_some_and(|rt| rt.kind == RouteKind::Local),
            rt.is_some_and(|rt| rt.kind == RouteKind::Broadcast),
        )
    });
    if dst_broadcast {
        return;
    }
    let mib = ns.snmp_core();
    if !ns.ip.icmp_limit.lock().allow(Instant::now()) {
        mib.inc(Icmp::OutRateLimitGlobal);
        return;
    }

    let quote_data = data.len().min(MAX_QUOTE.saturating_sub(header.len()));
    let len = HEADER_LEN + header.len() + quote_data;
    let mut msg = PacketBuf::new(PacketBuf::DEFAULT_HEADROOM, len);
    let bytes = msg.put(len);
    bytes[HEADER_LEN..HEADER_LEN + header.len()].copy_from_slice(header);
    bytes[HEADER_LEN + header.len()..].copy_from_slice(&data[..quote_data]);
    let mut icmp = Icmpv4Packet::new_unchecked(bytes);
    let (msg_type, code, counter) = match kind {
        ErrorType::DstUnreachable(code) => (
            Icmpv4Message::DstUnreachable,
            u8::from(code),
            Icmp::OutDestUnreachs,
        ),
        ErrorType::FragNeeded(mtu) => {
            icmp.set_next_hop_mtu(mtu);
            (
                Icmpv4Message::DstUnreachable,
                u8::from(DstUnreachable::FragRequired),
                Icmp::OutDestUnreachs,
            )
        }
        ErrorType::TimeExceeded(code) => (
            Icmpv4Message::TimeExceeded,
            u8::from(code),
            Icmp::OutTimeExcds,
        ),
    };
    icmp.set_msg_type(msg_type);
    icmp.set_msg_code(code);
    icmp.fill_checksum();

    // linux: the error goes from the address the datagram was sent to
    // when that is ours, else from the route's source toward the sender;
    // precedence "internetwork control".
    let params = OutParams {
        src: dst_local.then_some(dst),
        dst: src,
        protocol: IpProtocol::Icmp,
        ttl: ns.ip.ttl(),
        tos: (orig.tos() & 0x1e) | 0xc0,
        dont_frag: false,
    };
    mib.inc(Icmp::OutMsgs);
    mib.inc(counter);
    if ipv4::output(ns, msg, &params).is_err() {
        mib.inc(Icmp::OutErrors);
    }
}

/// Not 0.0.0.0, broadcast, multicast or class E: an address an error can
/// be sent to.
fn is_unicast(addr: Ipv4Addr) -> bool {
    !addr.is_unspecified() && !addr.is_broadcast() && addr.octets()[0] < 224
}

/// An ICMP type that is a query (an error may be sent about it), as
/// opposed to an error or an unknown type. // linux: icmp_pointers[].error
fn is_query(msg_type: u8) -> bool {
    matches!(
        Icmpv4Message::from(msg_type),
        Icmpv4Message::EchoReply
            | Icmpv4Message::EchoRequest
            | Icmpv4Message::RouterAdvert
            | Icmpv4Message::RouterSolicit
            | Icmpv4Message::Timestamp
            | Icmpv4Message::TimestampReply
    ) || matches!(msg_type, 15..=18)
}

/// Echo requests waiting for replies, by (identifier, sequence number).
#[derive(Debug, Default)]
pub(crate) struct Pings {
    next_ident: AtomicU16,
    waiting: Mutex<HashMap<(u16, u16), Waiter>>,
}

#[derive(Debug)]
struct Waiter {
    dst: Ipv4Addr,
    /// What the reply must echo.
    payload: Vec<u8>,
    outcome: Option<io::Result<Instant>>,
    waker: Option<Waker>,
}

/// What came back for a ping.
enum Reply<'a> {
    /// An echo reply carrying `data`, received `at`.
    Echo { data: &'a [u8], at: Instant },
    /// An ICMP error quoting the request.
    Error(PingError),
}

impl Pings {
    /// Completes the ping (`ident`, `seq`) to `peer` with `reply`, if one
    /// waits. A reply from another address, a late or a stray one is
    /// ignored; one whose data differs from the request's fails the ping
    /// with `InvalidData` (ping(8) reports "wrong data byte").
    fn complete(&self, ident: u16, seq: u16, peer: Ipv4Addr, reply: Reply<'_>) {
        let waker = {
            let mut waiting = self.waiting.lock();
            match waiting.get_mut(&(ident, seq)) {
                Some(w) if w.outcome.is_none() && w.dst == peer => {
                    w.outcome = Some(match reply {
                        Reply::Echo { data, at } if data == w.payload => Ok(at),
                        Reply::Echo { .. } => Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "echo reply data differs from the request's",
                        )),
                        Reply::Error(e) => Err(io::Error::new(e.kind.io_kind(), e)),
                    });
                    w.waker.take()
                }
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Waits for one ping's outcome; unregisters it when dropped.
struct PingWait<'a> {
    pings: &'a Pings,
    key: (u16, u16),
}

impl Future for PingWait<'_> {
    type Output = io::Result<Instant>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut waiting = self.pings.waiting.lock();
        let Some(w) = waiting.get_mut(&self.key) else {
            return Poll::Ready(Err(io::Error::other("ping registration lost")));
        };
        match w.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                w.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for PingWait<'_> {
    fn drop(&mut self) {
        self.pings.waiting.lock().remove(&self.key);
    }
}

impl Namespace {
    /// Sends one ICMP echo request to `dst` carrying `payload` with
    /// sequence number `seq`, and waits up to `timeout` for the reply:
    /// returns the round-trip time. Must run inside a netrt runtime.
    ///
    /// Errors: `TimedOut` when no reply came; the kind of an ICMP error
    /// that came back instead (`HostUnreachable` for time exceeded or host
    /// unreachable, ...; its inner error is a [`PingError`]); the errors of
    /// IP output (`NetworkUnreachable` without a route...).
    pub async fn ping(
        &self,
        dst: Ipv4Addr,
        seq: u16,
        payload: &[u8],
        timeout: Duration,
    ) -> io::Result<Duration> {
        self.ping_with_ttl(dst, seq, payload, None, timeout).await
    }

    /// [`ping`](Self::ping) with the IP TTL set (`ping -t`): a small TTL
    /// makes a router on the way answer with ICMP time exceeded.
    pub async fn ping_with_ttl(
        &self,
        dst: Ipv4Addr,
        seq: u16,
        payload: &[u8],
        ttl: Option<u8>,
        timeout: Duration,
    ) -> io::Result<Duration> {
        let ns = &*self.0;
        ipv4::attach(&self.0);
        let pings = &ns.ip.pings;
        let ident = pings.next_ident.fetch_add(1, Ordering::Relaxed);
        let key = (ident, seq);
        {
            let mut waiting = pings.waiting.lock();
            if waiting.contains_key(&key) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "a ping with this identifier and sequence number is in flight",
                ));
            }
            let waiter = Waiter {
                dst,
                payload: payload.to_vec(),
                outcome: None,
                waker: None,
            };
            waiting.insert(key, waiter);
        }
        let wait = PingWait { pings, key };

        let request = Icmpv4Repr::EchoRequest {
            ident,
            seq_no: seq,
            data: payload,
        };
        let len = request.buffer_len();
        if len + IP_HEADER_LEN > usize::from(u16::MAX) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ping payload larger than an IPv4 datagram",
            ));
        }
        let mut pkt = PacketBuf::new(PacketBuf::DEFAULT_HEADROOM, len);
        request.emit(
            &mut Icmpv4Packet::new_unchecked(pkt.put(len)),
            ChecksumMode::Software,
        );
        let params = OutParams {
            src: None,
            dst,
            protocol: IpProtocol::Icmp,
            ttl: ttl.unwrap_or_else(|| ns.ip.ttl()),
            tos: 0,
            dont_frag: false,
        };
        let mib = ns.snmp_core();
        mib.inc(Icmp::OutMsgs);
        mib.inc(Icmp::OutEchos);
        let sent = Instant::now();
        ipv4::output(ns, pkt, &params)?;
        match crate::time::timeout(timeout, wait).await {
            Ok(Ok(at)) => Ok(at.saturating_duration_since(sent)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no echo reply from {dst} within {timeout:?}"),
            )),
        }
    }
}
