//! Opening connections and listeners (linux: `tcp_v4_connect`,
//! `inet_bind`, `inet_listen`).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use super::conn::{Connection, TcpConfig};
use super::listen::Listener;
use super::socket::{self, mib, TcpSock};
use super::table::PortClaim;
use super::FourTuple;
use crate::stack::ns::NsInner;
use crate::stack::percore;
use crate::stack::route::RouteKind;
use crate::stack::snmp::Tcp;

/// Checks that `addr` may be bound in `ns`: the wildcard or one of its
/// addresses. // linux: inet_bind's inet_addr_type check
pub(crate) fn check_local(ns: &NsInner, addr: Ipv4Addr) -> io::Result<()> {
    if addr.is_unspecified() || percore::with_routes(ns, |r| r.is_local(addr)) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("{addr} is not an address of namespace {:?}", ns.name),
    ))
}

/// Claims a local address and port (`bind`).
pub(crate) fn bind(ns: &NsInner, addr: SocketAddrV4, reuse: bool) -> io::Result<PortClaim> {
    check_local(ns, *addr.ip())?;
    ns.tcp.claim_port(*addr.ip(), addr.port(), reuse, false)
}

/// Starts listening on `claim` (a bind's claim, upgraded) or on `addr`.
pub(crate) fn listen(
    ns: &NsInner,
    claim: PortClaim,
    backlog: usize,
    cfg: TcpConfig,
) -> io::Result<Arc<Listener>> {
    let claim = if claim.listening {
        claim
    } else {
        ns.tcp.upgrade_to_listen(claim)?
    };
    let cores = percore::runtime_cores();
    let l = Arc::new(Listener::new(claim, backlog, cfg, cores));
    let key = (claim.addr, claim.port);
    ns.tcp.listeners.update(|old| {
        let mut next = old.clone();
        next.insert(key, l.clone());
        next
    });
    Ok(l)
}

/// Starts a connection to `remote` from `bound` (a bind's claim) or from
/// the route's source address and an ephemeral port chosen so replies
/// land on this core. The SYN is on its way when this returns.
pub(crate) fn connect(
    ns: &NsInner,
    bound: Option<PortClaim>,
    remote: SocketAddrV4,
    cfg: TcpConfig,
) -> io::Result<Arc<TcpSock>> {
    let dst = *remote.ip();
    if dst.is_unspecified() || dst.is_broadcast() || dst.is_multicast() || remote.port() == 0 {
        if let Some(c) = bound {
            ns.tcp.release_port(c);
        }
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot connect to {remote}"),
        ));
    }
    let route = percore::with_routes(ns, |r| r.lookup(dst));
    if route
        .as_ref()
        .is_some_and(|r| r.kind == RouteKind::Broadcast)
    {
        if let Some(c) = bound {
            ns.tcp.release_port(c);
        }
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot connect to broadcast address {dst}"),
        ));
    }
    let claim = match bound {
        Some(c) if !c.addr.is_unspecified() => c,
        other => {
            let src = match socket::source_for(ns, dst) {
                Ok(src) => src,
                Err(e) => {
                    if let Some(c) = other {
                        ns.tcp.release_port(c);
                    }
                    return Err(e);
                }
            };
            match other {
                // Bound to the wildcard with a port: keep the port.
                Some(c) => {
                    ns.tcp.release_port(c);
                    ns.tcp.claim_port(src, c.port, false, false)?
                }
                None => {
                    let here = crate::runtime::current_core();
                    ns.tcp.claim_ephemeral(src, remote, |port| {
                        let local = SocketAddrV4::new(src, port);
                        here.is_none()
                            || crate::stack::rss_hint::rx_core_for(ns, local, remote)
                                .is_none_or(|c| Some(c) == here)
                    })?
                }
            }
        }
    };
    let tuple = FourTuple {
        local: SocketAddrV4::new(claim.addr, claim.port),
        remote,
    };
    let now = Instant::now();
    let iss = ns.tcp.isn.isn(&tuple, now);
    let ts = ns.tcp.ts_offset(claim.addr, dst, now);
    let cfg = socket::conn_config(ns, cfg, dst);
    let sock = TcpSock::new(
        Connection::connect(tuple, cfg, iss, ts, now),
        Some(claim),
        None,
    );
    if !ns.tcp.insert(&sock) {
        ns.tcp.release_port(claim);
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} to {remote} is already connected", tuple.local),
        ));
    }
    mib(ns).inc(Tcp::ActiveOpens);
    // The first event sends the SYN and arms its timer.
    sock.with_user(ns, |_, _| ());
    Ok(sock)
}
