//! Listening sockets: the SYN queue, SYN cookies and per-core accept
//! queues (linux: `inet_csk_reqsk_queue`, `tcp_conn_request`,
//! `cookie_v4_check`, `inet_csk_accept`).
//!
//! * A SYN becomes a SYN-RECEIVED connection in the connection table,
//!   homed on the core that received it, and counts against the SYN
//!   queue ([`Listener::syn_recv`]). When that queue is full the SYN is
//!   answered statelessly with a SYN cookie (RFC 4987; MSS in the
//!   sequence number, window scale and SACK in the timestamp) and the
//!   connection is only created when the cookie comes back in a valid
//!   ACK.
//! * A finished handshake goes to the accept queue *of the core that
//!   completed it*; `accept` takes from its own core's queue first and
//!   from the others only when that one is empty, so a connection's
//!   segments and its user task stay on one core.
//! * With a full accept queue, SYNs are dropped and handshake ACKs are
//!   dropped (ListenOverflows), and the peer retransmits, as Linux does.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use parking_lot::Mutex;

use super::conn::{Connection, TcpConfig};
use super::socket::{self, mib, TcpSock};
use super::syncookie::{ts_decode, ts_encode, CookieOptions};
use super::table::PortClaim;
use super::{xmit, FourTuple};
use crate::stack::ns::NsInner;
use crate::stack::snmp::{Tcp, TcpExt};
use crate::stack::wakers::Wakers;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr, TcpTimestamp};

/// Largest accept backlog (linux: `net.core.somaxconn`).
pub const SOMAXCONN: usize = 4096;

/// A listening socket.
pub(crate) struct Listener {
    /// Bound address (`0.0.0.0` = every local address) and port.
    pub(crate) local: SocketAddrV4,
    backlog: usize,
    /// Established connections waiting for `accept`, one queue per core.
    queues: Box<[Mutex<VecDeque<Arc<TcpSock>>>]>,
    queued: AtomicUsize,
    /// Connections in SYN-RECEIVED (the SYN queue's length).
    syn_recv: AtomicUsize,
    waiters: Mutex<Wakers>,
    closed: AtomicBool,
    /// Configuration of accepted connections.
    cfg: TcpConfig,
    /// `IP_TTL` for accepted connections, 0 = the namespace default.
    pub(crate) ttl: AtomicU8,
    pub(crate) claim: PortClaim,
}

impl Listener {
    /// A listener on `claim` with room for `backlog` pending connections
    /// (clamped to 1..=[`SOMAXCONN`]).
    pub(crate) fn new(claim: PortClaim, backlog: usize, cfg: TcpConfig, cores: usize) -> Listener {
        Listener {
            local: SocketAddrV4::new(claim.addr, claim.port),
            backlog: backlog.clamp(1, SOMAXCONN),
            queues: (0..cores.max(1))
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
            queued: AtomicUsize::new(0),
            syn_recv: AtomicUsize::new(0),
            waiters: Mutex::new(Wakers::default()),
            closed: AtomicBool::new(false),
            cfg,
            ttl: AtomicU8::new(0),
            claim,
        }
    }

    /// Whether another established connection would overflow.
    pub(crate) fn accept_queue_full(&self) -> bool {
        self.queued.load(Ordering::Relaxed) >= self.backlog
    }

    /// A SYN-RECEIVED child left the SYN queue.
    pub(crate) fn syn_done(&self) {
        let _ = self
            .syn_recv
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Queues an established connection on the calling core's accept
    /// queue; `false` once the listener is closed.
    pub(crate) fn push_accepted(&self, sock: &Arc<TcpSock>) -> bool {
        let core = crate::runtime::current_core().unwrap_or(0) % self.queues.len();
        {
            let mut q = self.queues[core].lock();
            // Checked under a queue lock: `close` sets the flag, then
            // drains every queue under its lock.
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            q.push_back(sock.clone());
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.waiters.lock().take().wake();
        true
    }

    fn pop(&self) -> Option<Arc<TcpSock>> {
        if self.queued.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let n = self.queues.len();
        let here = crate::runtime::current_core().unwrap_or(0) % n;
        for i in 0..n {
            let sock = self.queues[(here + i) % n].lock().pop_front();
            if let Some(sock) = sock {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                return Some(sock);
            }
        }
        None
    }

    /// The next established connection, local core first.
    pub(crate) fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Arc<TcpSock>> {
        if let Some(s) = self.pop() {
            return Poll::Ready(s);
        }
        self.waiters.lock().register(cx.waker());
        // A push between the first look and the registration woke nobody.
        match self.pop() {
            Some(s) => Poll::Ready(s),
            None => Poll::Pending,
        }
    }

    /// Connections waiting to be accepted.
    pub(crate) fn pending(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Stops listening: unlists the listener, frees its port and resets
    /// every connection nobody accepted. // linux: inet_csk_listen_stop
    pub(crate) fn close(self: &Arc<Self>, ns: &NsInner) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let key = (*self.local.ip(), self.local.port());
        ns.tcp.listeners.update(|old| {
            let mut next = old.clone();
            if next.get(&key).is_some_and(|l| Arc::ptr_eq(l, self)) {
                next.remove(&key);
            }
            next
        });
        ns.tcp.release_port(self.claim);
        let orphans: Vec<Arc<TcpSock>> = self
            .queues
            .iter()
            .flat_map(|q| q.lock().drain(..).collect::<Vec<_>>())
            .collect();
        self.queued.store(0, Ordering::Relaxed);
        for sock in orphans {
            sock.with_user(ns, |st, _| {
                st.linger_zero = true;
                st.conn.abort();
            });
        }
        self.waiters.lock().take().wake();
    }

    /// The configuration of a connection accepted from `remote`.
    fn child_config(&self, ns: &NsInner, remote: Ipv4Addr) -> TcpConfig {
        socket::conn_config(ns, self.cfg.clone(), remote)
    }

    fn child_ttl(&self) -> Option<u8> {
        match self.ttl.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }
}

/// A SYN for `l` from `remote` to `local` (the SYN's destination).
/// // linux: tcp_conn_request
pub(crate) fn on_syn(ns: &NsInner, l: &Arc<Listener>, tuple: FourTuple, syn: &TcpRepr<'_>) {
    let m = mib(ns);
    if l.accept_queue_full() {
        m.inc(TcpExt::ListenOverflows);
        m.inc(TcpExt::ListenDrops);
        return;
    }
    let now = Instant::now();
    let (local, remote) = (*tuple.local.ip(), *tuple.remote.ip());
    let cfg = l.child_config(ns, remote);
    // Claim a SYN-queue slot first, so SYNs on several cores at once
    // never overfill it.
    if l.syn_recv.fetch_add(1, Ordering::Relaxed) >= l.backlog {
        l.syn_done();
        send_cookie(ns, &cfg, tuple, syn, now);
        return;
    }
    let iss = ns.tcp.isn.isn(&tuple, now);
    let ts = ns.tcp.ts_offset(local, remote, now);
    let Some(conn) = Connection::accept_syn(tuple, cfg, syn, iss, ts, now) else {
        l.syn_done();
        return;
    };
    let sock = TcpSock::new(conn, None, Some(l.clone()));
    if !ns.tcp.insert(&sock) {
        // Another core created it from a duplicate SYN just now.
        l.syn_done();
        return;
    }
    m.inc(Tcp::PassiveOpens);
    let ttl = l.child_ttl();
    sock.with_user(ns, |st, _| st.ttl = ttl);
}

/// Answers a SYN statelessly with a cookie SYN-ACK. Without timestamps
/// the cookie cannot carry window scaling or SACK, so neither is offered
/// (as Linux). // linux: cookie_v4_init_sequence, tcp_make_synack
fn send_cookie(ns: &NsInner, cfg: &TcpConfig, tuple: FourTuple, syn: &TcpRepr<'_>, now: Instant) {
    let (local, remote) = (*tuple.local.ip(), *tuple.remote.ip());
    let peer_mss = syn.options.mss.unwrap_or(super::conn::DEFAULT_MSS);
    let (cookie, mss) = ns.tcp.cookies.encode(&tuple, syn.seq_number, peer_mss, now);
    let peer_ts = syn.options.timestamp.filter(|_| cfg.timestamps);
    let mut options = TcpOptions {
        mss: Some(cfg.mss),
        ..TcpOptions::default()
    };
    if let Some(ts) = peer_ts {
        let wscale = syn
            .options
            .window_scale
            .filter(|_| cfg.window_scaling)
            .map(|w| w.min(14));
        let sack = syn.options.sack_permitted && cfg.sack;
        if wscale.is_some() {
            options.window_scale = Some(cfg.window_shift());
        }
        options.sack_permitted = sack;
        let opts = CookieOptions {
            wscale,
            sack,
            ecn: false,
        };
        options.timestamp = Some(TcpTimestamp {
            tsval: ts_encode(ns.tcp.ts_offset(local, remote, now), opts),
            tsecr: ts.tsval,
        });
    }
    let synack = TcpRepr {
        src_port: syn.dst_port,
        dst_port: syn.src_port,
        seq_number: cookie,
        ack_number: syn.seq_number + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window_len: cfg.recv_buf.min(usize::from(u16::MAX)) as u16,
        urgent_pointer: 0,
        options,
        payload: &[],
    };
    let m = mib(ns);
    m.inc(TcpExt::SyncookiesSent);
    m.inc(Tcp::OutSegs);
    xmit::send_segment(
        ns,
        (local, remote),
        &synack,
        ns.ip.ttl(),
        u32::from(mss),
        None,
    );
}

/// An ACK for `l` that matched no connection: maybe the end of a cookie
/// handshake. Returns `false` when it is not (the caller resets).
/// // linux: cookie_v4_check
pub(crate) fn on_cookie_ack(
    ns: &NsInner,
    l: &Arc<Listener>,
    tuple: FourTuple,
    ack: &TcpRepr<'_>,
) -> bool {
    let now = Instant::now();
    let m = mib(ns);
    let client_isn = ack.seq_number - 1;
    let Some(mss) = ns
        .tcp
        .cookies
        .check(&tuple, client_isn, ack.ack_number, now)
    else {
        m.inc(TcpExt::SyncookiesFailed);
        return false;
    };
    if l.accept_queue_full() {
        m.inc(TcpExt::ListenOverflows);
        m.inc(TcpExt::ListenDrops);
        // Dropped, not reset: the client retransmits.
        return true;
    }
    let (local, remote) = (*tuple.local.ip(), *tuple.remote.ip());
    let cfg = l.child_config(ns, remote);
    let ts = ack.options.timestamp.filter(|_| cfg.timestamps);
    let opts = ts.map(|t| ts_decode(t.tsecr)).unwrap_or_default();
    let syn_options = TcpOptions {
        mss: Some(mss),
        window_scale: opts.wscale,
        sack_permitted: opts.sack,
        timestamp: ts,
        ..TcpOptions::default()
    };
    let ts_offset = ns.tcp.ts_offset(local, remote, now);
    let Some(conn) = Connection::accept_cookie(tuple, cfg, ack, syn_options, ts_offset, now) else {
        m.inc(TcpExt::SyncookiesFailed);
        return false;
    };
    m.inc(TcpExt::SyncookiesRecv);
    let sock = TcpSock::new(conn, None, None);
    if !ns.tcp.insert(&sock) {
        return true;
    }
    m.inc(Tcp::PassiveOpens);
    let ttl = l.child_ttl();
    sock.with_user(ns, |st, _| st.ttl = ttl);
    if !l.push_accepted(&sock) {
        sock.with_user(ns, |st, _| st.conn.abort());
    }
    true
}
