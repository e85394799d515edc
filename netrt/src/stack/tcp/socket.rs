//! A TCP socket: one [`Connection`] engine behind the socket lock, and
//! what happens around every event it sees (linux: `struct tcp_sock` and
//! the glue of tcp_ipv4.c).
//!
//! Every event — a segment, a user call, a timer — ends in
//! [`after_event`]: send what the engine has to send, add its counters
//! to the namespace's MIB, move a finished handshake to its listener's
//! accept queue, unhash a closed connection, re-arm the timer on the
//! socket's home core and collect the tasks to wake. Wake-ups run after
//! the lock is released.

use std::cell::RefCell;
use std::io;
use std::net::{Ipv4Addr, Shutdown};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::conn::{Connection, Counters, InputResult, State, TcpConfig};
use super::listen::Listener;
use super::sock_lock::SockLock;
use super::table::PortClaim;
use super::{timer, xmit, FourTuple};
use crate::stack::ipv4;
use crate::stack::ns::NsInner;
use crate::stack::percore;
use crate::stack::skb::PacketBuf;
use crate::stack::snmp::{CoreCounters, Tcp, TcpExt};
use crate::stack::wakers::{Wake, Wakers};
use crate::wire::{ChecksumMode, TcpPacket, TcpRepr};

/// One TCP connection's socket. The table, the listener's accept queue,
/// the timer heap and the user's stream each hold an `Arc`.
pub(crate) struct TcpSock {
    /// Addresses, fixed at creation.
    pub(crate) tuple: FourTuple,
    /// The core its timers run on: where its traffic arrives.
    pub(crate) home: usize,
    pub(crate) lock: SockLock<SockState, PacketBuf>,
}

/// Everything behind the socket lock.
pub(crate) struct SockState {
    pub(crate) conn: Connection,
    readers: Wakers,
    writers: Wakers,
    /// The deadline the home core's timer heap holds for us.
    pub(crate) armed: Option<Instant>,
    /// The local port taken by `connect`, released on unhash.
    claim: Option<PortClaim>,
    /// The listener of a passive open until it is accepted or fails.
    parent: Option<Arc<Listener>>,
    /// In the connection table.
    hashed: bool,
    /// The user dropped the stream.
    orphan: bool,
    /// Close with a RST instead of a FIN (`SO_LINGER` 0).
    pub(crate) linger_zero: bool,
    /// `IP_TTL`, `None` = the namespace default.
    pub(crate) ttl: Option<u8>,
    /// Counted in `CurrEstab`.
    estab: bool,
    /// The engine's counters already added to the MIB.
    seen: Counters,
    /// `shutdown(Read)`: reads return end of stream.
    pub(crate) shut_read: bool,
    /// Counted in `TimeWaits`.
    time_waited: bool,
    /// The connection's error was reported by `take_error`.
    error_taken: bool,
}

impl TcpSock {
    /// A socket for `conn`, homed on the calling core.
    pub(crate) fn new(
        conn: Connection,
        claim: Option<PortClaim>,
        parent: Option<Arc<Listener>>,
    ) -> Arc<TcpSock> {
        Arc::new(TcpSock {
            tuple: conn.tuple(),
            home: crate::runtime::current_core().unwrap_or(0),
            lock: SockLock::new(SockState {
                conn,
                readers: Wakers::default(),
                writers: Wakers::default(),
                armed: None,
                claim,
                parent,
                hashed: true,
                orphan: false,
                linger_zero: false,
                ttl: None,
                estab: false,
                seen: Counters::default(),
                shut_read: false,
                time_waited: false,
                error_taken: false,
            }),
        })
    }

    /// Runs `f` as the socket's user, then `after_event`, then processes
    /// the backlog, unlocks and wakes whoever became ready.
    pub(crate) fn with_user<R>(
        self: &Arc<Self>,
        ns: &NsInner,
        f: impl FnOnce(&mut SockState, Instant) -> R,
    ) -> R {
        let wake = RefCell::new(Wake::default());
        let r = self.lock.with_user(
            |st| {
                let now = Instant::now();
                let r = f(st, now);
                after_event(
                    ns,
                    self,
                    st,
                    now,
                    InputResult::default(),
                    &mut wake.borrow_mut(),
                );
                r
            },
            |st, pkt| self.rx_segment(ns, st, pkt, &mut wake.borrow_mut()),
        );
        wake.into_inner().wake();
        r
    }

    /// The receive path's entry: processes `pkt` (a TCP segment, IP
    /// header pulled, checksum verified) now or queues it on the backlog.
    pub(crate) fn deliver(self: &Arc<Self>, ns: &NsInner, pkt: PacketBuf) {
        let wake = RefCell::new(Wake::default());
        let queued = self.lock.deliver(pkt, |st, pkt| {
            self.rx_segment(ns, st, pkt, &mut wake.borrow_mut())
        });
        if queued {
            mib(ns).inc(TcpExt::TCPBacklogQueued);
        }
        wake.into_inner().wake();
    }

    /// One segment through the engine. // linux: tcp_v4_do_rcv
    fn rx_segment(
        self: &Arc<Self>,
        ns: &NsInner,
        st: &mut SockState,
        pkt: PacketBuf,
        wake: &mut Wake,
    ) {
        let (local, remote) = (*self.tuple.local.ip(), *self.tuple.remote.ip());
        let Ok(tcp) = TcpPacket::new_checked(pkt.data()) else {
            mib(ns).inc(Tcp::InErrs);
            return;
        };
        // The checksum was verified before demux.
        let Ok(seg) = TcpRepr::parse(&tcp, remote, local, ChecksumMode::Offloaded) else {
            mib(ns).inc(Tcp::InErrs);
            return;
        };
        let now = Instant::now();
        if st.conn.state() == State::SynReceived && seg.flags.contains(crate::wire::TcpFlags::ACK) {
            if let Some(l) = &st.parent {
                // The handshake would complete into a full accept queue:
                // drop the ACK and let the SYN-ACK be retransmitted, as
                // Linux does (tcp_abort_on_overflow = 0).
                if l.accept_queue_full() {
                    let m = mib(ns);
                    m.inc(TcpExt::ListenOverflows);
                    m.inc(TcpExt::ListenDrops);
                    return;
                }
            }
        }
        let res = st.conn.on_segment(&seg, now);
        after_event(ns, self, st, now, res, wake);
    }

    /// A timer entry for `deadline` fired on the home core.
    pub(crate) fn on_timer(self: &Arc<Self>, ns: &NsInner, deadline: Instant) {
        self.with_user(ns, |st, now| {
            if st.armed != Some(deadline) {
                // Superseded by an earlier entry that already ran and
                // re-armed (or nothing is armed): stale.
                return;
            }
            st.armed = None;
            if st.conn.next_deadline().is_some_and(|d| d <= now) {
                st.conn.on_timer(now);
            }
        })
    }

    // -- user calls --------------------------------------------------------

    /// Reads into `buf`; `Pending` registers the task. `Ok(0)` is end of
    /// stream. // linux: tcp_recvmsg
    pub(crate) fn poll_recv(
        self: &Arc<Self>,
        ns: &NsInner,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        self.with_user(ns, |st, _| {
            if st.shut_read || buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let r = if peek {
                let n = st.conn.peek(buf);
                if n == 0 && !st.conn.fin_received() {
                    readable_error(&st.conn)
                } else {
                    Ok(n)
                }
            } else {
                st.conn.recv(buf)
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    st.readers.register(cx.waker());
                    Poll::Pending
                }
                r => Poll::Ready(r),
            }
        })
    }

    /// Queues as much of `data` as fits; `Pending` when none does.
    /// // linux: tcp_sendmsg
    pub(crate) fn poll_send(
        self: &Arc<Self>,
        ns: &NsInner,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with_user(ns, |st, _| match st.conn.send(data) {
            Ok(0) if !data.is_empty() => {
                st.writers.register(cx.waker());
                Poll::Pending
            }
            r => Poll::Ready(r),
        })
    }

    /// Ready once reading would not block.
    pub(crate) fn poll_read_ready(
        self: &Arc<Self>,
        ns: &NsInner,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.with_user(ns, |st, _| {
            let c = &st.conn;
            if c.recv_queue() > 0
                || c.fin_received()
                || c.error().is_some()
                || st.shut_read
                || c.state() == State::Closed
            {
                Poll::Ready(())
            } else {
                st.readers.register(cx.waker());
                Poll::Pending
            }
        })
    }

    /// Ready once writing would not block (or would fail).
    pub(crate) fn poll_write_ready(
        self: &Arc<Self>,
        ns: &NsInner,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.with_user(ns, |st, _| {
            let c = &st.conn;
            let handshaking = matches!(c.state(), State::SynSent | State::SynReceived);
            if !c.may_send() || (!handshaking && c.send_space() > 0) {
                Poll::Ready(())
            } else {
                st.writers.register(cx.waker());
                Poll::Pending
            }
        })
    }

    /// Ready once the handshake finished: `Ok` when established,
    /// the connection's error otherwise. // linux: inet_wait_for_connect
    pub(crate) fn poll_connected(
        self: &Arc<Self>,
        ns: &NsInner,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        self.with_user(ns, |st, _| match st.conn.state() {
            State::SynSent | State::SynReceived => {
                st.writers.register(cx.waker());
                Poll::Pending
            }
            State::Closed => Poll::Ready(Err(st
                .conn
                .error()
                .unwrap_or(io::ErrorKind::ConnectionRefused)
                .into())),
            _ => Poll::Ready(Ok(())),
        })
    }

    /// `shutdown(2)`. // linux: tcp_shutdown
    pub(crate) fn shutdown(self: &Arc<Self>, ns: &NsInner, how: Shutdown) -> io::Result<()> {
        self.with_user(ns, |st, _| {
            if st.conn.state() == State::Closed && st.conn.error().is_none() {
                return Err(io::ErrorKind::NotConnected.into());
            }
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                st.shut_read = true;
                // Wake readers so they see the end of stream.
                st.readers.take().wake();
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) {
                st.conn.close();
            }
            Ok(())
        })
    }

    /// The user dropped the stream: close gracefully (FIN, lingering
    /// in the background) or abort with a RST when `SO_LINGER` is 0 or
    /// unread data would be lost (RFC 9293 §3.10.4, Linux's
    /// TCPAbortOnClose). Never blocks. // linux: tcp_close
    pub(crate) fn release(self: &Arc<Self>, ns: &NsInner) {
        self.with_user(ns, |st, now| {
            st.orphan = true;
            if st.linger_zero || st.conn.recv_queue() > 0 {
                if st.conn.recv_queue() > 0 {
                    mib(ns).inc(TcpExt::TCPAbortOnClose);
                }
                st.conn.abort();
            } else {
                st.conn.close();
                st.conn.orphan(now);
            }
        })
    }

    /// The pending error, taken (`SO_ERROR`).
    pub(crate) fn take_error(self: &Arc<Self>, ns: &NsInner) -> Option<io::Error> {
        self.with_user(ns, |st, _| {
            let e = st.conn.error().filter(|_| !st.error_taken)?;
            st.error_taken = true;
            Some(e.into())
        })
    }
}

/// The error a read reports when nothing is buffered.
fn readable_error(c: &Connection) -> io::Result<usize> {
    if let Some(e) = c.error() {
        return Err(e.into());
    }
    match c.state() {
        State::Closed | State::SynSent => Err(io::ErrorKind::NotConnected.into()),
        _ => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// The namespace's MIB block of the calling core.
#[inline]
pub(crate) fn mib(ns: &NsInner) -> &CoreCounters {
    ipv4::mib(ns)
}

/// The bookkeeping after every event. See the [module docs](self).
pub(crate) fn after_event(
    ns: &NsInner,
    sock: &Arc<TcpSock>,
    st: &mut SockState,
    now: Instant,
    res: InputResult,
    wake: &mut Wake,
) {
    xmit::transmit(ns, sock, st, now);
    let m = mib(ns);
    account(m, &mut st.seen, st.conn.counters());

    let state = st.conn.state();
    let estab = matches!(state, State::Established | State::CloseWait);
    if estab != st.estab {
        st.estab = estab;
        if estab {
            m.inc(Tcp::CurrEstab);
        } else {
            m.dec(Tcp::CurrEstab);
            if state == State::Closed && st.conn.error() == Some(io::ErrorKind::ConnectionReset) {
                m.inc(Tcp::EstabResets);
            }
        }
    }
    if state == State::TimeWait && !st.time_waited {
        st.time_waited = true;
        m.inc(TcpExt::TimeWaits);
    }

    // A passive open leaves the SYN queue: into the accept queue when
    // established, or gone when it failed.
    if st.parent.is_some() && state != State::SynReceived {
        let parent = st.parent.take();
        if let Some(l) = parent {
            l.syn_done();
            if state != State::Closed && !l.push_accepted(sock) {
                // The listener closed meanwhile: nobody will accept.
                st.conn.abort();
                xmit::transmit(ns, sock, st, now);
            }
        }
        if state == State::Closed {
            m.inc(Tcp::AttemptFails);
        }
    }
    if st.conn.state() == State::Closed && st.hashed {
        // Counted once: the connection leaves the table exactly once.
        if st.conn.error() == Some(io::ErrorKind::TimedOut) {
            m.inc(TcpExt::TCPAbortOnTimeout);
        }
        unhash(ns, sock, st);
    }

    let closed = st.conn.state() == State::Closed;
    if res.readable || closed {
        wake.merge(st.readers.take());
    }
    if res.writable || closed || (!st.writers.is_empty() && st.conn.send_space() > 0) {
        wake.merge(st.writers.take());
    }

    if let Some(d) = st.conn.next_deadline() {
        if st.armed.is_none_or(|a| d < a) {
            st.armed = Some(d);
            timer::arm(ns, sock, d);
        }
    }
}

/// Takes a closed connection out of the table and gives its port back.
fn unhash(ns: &NsInner, sock: &Arc<TcpSock>, st: &mut SockState) {
    if !st.hashed {
        return;
    }
    st.hashed = false;
    ns.tcp.remove(sock);
    if let Some(claim) = st.claim.take() {
        ns.tcp.release_port(claim);
    }
}

/// Adds what the engine counted since last time to the MIB.
fn account(m: &CoreCounters, seen: &mut Counters, now: &Counters) {
    macro_rules! delta {
        ($($field:ident => $counter:expr),* $(,)?) => {$(
            let d = now.$field.wrapping_sub(seen.$field);
            if d != 0 {
                m.add($counter, d);
            }
        )*};
    }
    delta! {
        retrans_segs => Tcp::RetransSegs,
        out_rsts => Tcp::OutRsts,
        timeouts => TcpExt::TCPTimeouts,
        fast_retrans => TcpExt::TCPFastRetrans,
        sack_recoveries => TcpExt::TCPSackRecovery,
        reno_recoveries => TcpExt::TCPRenoRecovery,
        challenge_acks => TcpExt::TCPChallengeACK,
        paws_drops => TcpExt::PAWSEstab,
        ofo_queued => TcpExt::TCPOFOQueue,
        dsack_sent => TcpExt::TCPDSACKOldSent,
        window_probes => TcpExt::TCPWinProbe,
        keepalive_probes => TcpExt::TCPKeepAlive,
    }
    *seen = *now;
}

/// The configuration of a new connection to `remote`: the namespace
/// defaults (or the socket's own), the MSS from the route's MTU, and
/// TSO when the route's device segments. // linux: tcp_sync_mss
pub(crate) fn conn_config(ns: &NsInner, mut cfg: TcpConfig, remote: Ipv4Addr) -> TcpConfig {
    let (mtu, tso) = percore::with_routes(ns, |r| r.lookup(remote))
        .and_then(|route| {
            percore::with_devices(ns, |devs| {
                let dev = ipv4::output::out_device(devs, &route).ok()?;
                Some((dev.mtu(), dev.features().tso))
            })
        })
        .unwrap_or((1500, false));
    let mss = mtu.saturating_sub(40).clamp(88, usize::from(u16::MAX)) as u16;
    cfg.mss = cfg.mss.min(mss);
    if !tso {
        cfg.tso_max = 0;
    }
    cfg
}

/// The address a connection to `remote` leaves from.
pub(crate) fn source_for(ns: &NsInner, remote: Ipv4Addr) -> io::Result<Ipv4Addr> {
    ipv4::output::select_source(ns, remote)
}
