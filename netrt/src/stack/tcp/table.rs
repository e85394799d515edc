//! The namespace's TCP tables (linux: `inet_hashinfo`, `inet_bind_bucket`).
//!
//! * **Connections** by 4-tuple in a hashbrown table split into
//!   [`SHARDS`] independently locked shards: a lookup locks one shard for
//!   one probe, so cores only meet when their flows hash to the same shard
//!   at the same instant (Linux's ehash has per-bucket locks for writers
//!   and RCU for readers; with connection churn a snapshot table would
//!   copy the whole map per connect).
//! * **Listeners** by (address, port) in a [`Snapshot`]: read-mostly, read
//!   per SYN through the core's reader with no shared lock.
//! * **Ports**: who holds which local port (listeners, explicit binds and
//!   connected sockets), and the RFC 6056 ephemeral allocator. Binding is
//!   rare; one mutex.
//!
//! Also here: the keyed ISN generator, the SYN-cookie codec, the
//! namespace's TCP defaults and the timestamp clock all connections share.

use std::hash::{BuildHasher, Hash};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hashbrown::{DefaultHashBuilder, HashMap};
use parking_lot::{Mutex, RwLock};

use super::conn::TcpConfig;
use super::isn::IsnGenerator;
use super::listen::Listener;
use super::socket::TcpSock;
use super::syncookie::SynCookies;
use super::FourTuple;
use crate::stack::ephemeral::{PortAllocator, EPHEMERAL};
use crate::sync::snapshot::Snapshot;

/// Largest TSO segment payload by default: IP total length stays under
/// 65,535 with the largest TCP header. Connections whose route's device
/// cannot segment get 0 (see `socket::conn_config`). // linux: gso_max_size
pub(crate) const DEFAULT_TSO_MAX: u32 = 65_000;

/// Independently locked parts of the connection table.
pub(crate) const SHARDS: usize = 64;

/// One part of the connection table.
type Shard = HashMap<FourTuple, Arc<TcpSock>>;

/// Listeners by (address, port); `0.0.0.0` is the wildcard.
pub(crate) type ListenMap = HashMap<(Ipv4Addr, u16), Arc<Listener>>;

/// One holder of a local (address, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Binding {
    /// Sockets holding it (connections of one `connect` each; 1 for a
    /// bind or a listener).
    users: u32,
    /// `SO_REUSEADDR` was set by every holder.
    reuse: bool,
    /// A listener holds it.
    listening: bool,
}

struct Ports {
    bound: HashMap<(Ipv4Addr, u16), Binding>,
    alloc: PortAllocator,
}

impl Ports {
    /// Whether (addr, port) may be taken by a new holder. Linux rules: a
    /// port is shared only when both sides set `SO_REUSEADDR` and
    /// neither listens; a wildcard address overlaps every address.
    fn conflicts(&self, addr: Ipv4Addr, port: u16, reuse: bool, listening: bool) -> bool {
        let shareable = |b: &Binding| reuse && b.reuse && !b.listening && !listening;
        self.bound.iter().any(|(&(a, p), b)| {
            p == port && (a == addr || a.is_unspecified() || addr.is_unspecified()) && !shareable(b)
        })
    }

    fn add(&mut self, addr: Ipv4Addr, port: u16, reuse: bool, listening: bool) {
        let b = self.bound.entry((addr, port)).or_insert(Binding {
            users: 0,
            reuse,
            listening: false,
        });
        b.users += 1;
        b.reuse &= reuse;
        b.listening |= listening;
    }

    fn remove(&mut self, addr: Ipv4Addr, port: u16, listening: bool) {
        if let Some(b) = self.bound.get_mut(&(addr, port)) {
            if listening {
                b.listening = false;
            }
            b.users = b.users.saturating_sub(1);
            if b.users == 0 {
                self.bound.remove(&(addr, port));
            }
        }
    }
}

/// A claim on a local port, released by [`TcpTable::release_port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortClaim {
    pub(crate) addr: Ipv4Addr,
    pub(crate) port: u16,
    pub(crate) listening: bool,
}

/// The per-namespace TCP state. See the [module docs](self).
pub(crate) struct TcpTable {
    shards: Box<[Mutex<Shard>]>,
    hasher: DefaultHashBuilder,
    /// Connections in `shards`.
    count: AtomicUsize,
    pub(crate) listeners: Arc<Snapshot<ListenMap>>,
    ports: Mutex<Ports>,
    pub(crate) isn: IsnGenerator,
    pub(crate) cookies: SynCookies,
    /// Defaults for new connections (`sysctl net.ipv4.tcp_*`).
    config: RwLock<TcpConfig>,
    /// Zero of the timestamp clock (milliseconds) all connections read.
    pub(crate) epoch: Instant,
}

impl Default for TcpTable {
    fn default() -> Self {
        TcpTable::new()
    }
}

impl TcpTable {
    /// Empty tables with fresh secrets.
    pub(crate) fn new() -> TcpTable {
        let epoch = Instant::now();
        TcpTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: DefaultHashBuilder::default(),
            count: AtomicUsize::new(0),
            listeners: Arc::new(Snapshot::new(ListenMap::new())),
            ports: Mutex::new(Ports {
                bound: HashMap::new(),
                alloc: PortAllocator::new(EPHEMERAL),
            }),
            isn: IsnGenerator::new(epoch),
            cookies: SynCookies::new(epoch),
            config: RwLock::new(TcpConfig {
                tso_max: DEFAULT_TSO_MAX,
                ..TcpConfig::default()
            }),
            epoch,
        }
    }

    fn shard(&self, tuple: &FourTuple) -> &Mutex<Shard> {
        let mut h = self.hasher.build_hasher();
        tuple.hash(&mut h);
        let h = std::hash::Hasher::finish(&h);
        &self.shards[(h >> 58) as usize % SHARDS]
    }

    /// The connection on `tuple` (our view), if any. // linux: __inet_lookup_established
    #[inline]
    pub(crate) fn lookup(&self, tuple: &FourTuple) -> Option<Arc<TcpSock>> {
        self.shard(tuple).lock().get(tuple).cloned()
    }

    /// Inserts `sock` under its tuple; `false` if the tuple is taken.
    pub(crate) fn insert(&self, sock: &Arc<TcpSock>) -> bool {
        let mut shard = self.shard(&sock.tuple).lock();
        if shard.contains_key(&sock.tuple) {
            return false;
        }
        shard.insert(sock.tuple, sock.clone());
        self.count.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Removes `sock` if it is the one under its tuple. Returns whether
    /// it was.
    pub(crate) fn remove(&self, sock: &Arc<TcpSock>) -> bool {
        let mut shard = self.shard(&sock.tuple).lock();
        match shard.get(&sock.tuple) {
            Some(s) if Arc::ptr_eq(s, sock) => {
                shard.remove(&sock.tuple);
                self.count.fetch_sub(1, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Connections in the table (TIME-WAIT included).
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// The listener for a SYN to `dst:port`: exact address first, then
    /// the wildcard. // linux: __inet_lookup_listener
    pub(crate) fn listener(map: &ListenMap, dst: Ipv4Addr, port: u16) -> Option<&Arc<Listener>> {
        map.get(&(dst, port))
            .or_else(|| map.get(&(Ipv4Addr::UNSPECIFIED, port)))
    }

    /// Claims (addr, port) for a bind or a listener; port 0 picks an
    /// ephemeral port. `AddrInUse` when taken.
    pub(crate) fn claim_port(
        &self,
        addr: Ipv4Addr,
        port: u16,
        reuse: bool,
        listening: bool,
    ) -> io::Result<PortClaim> {
        let mut ports = self.ports.lock();
        let port = if port == 0 {
            let p = &mut *ports;
            let bound = &p.bound;
            p.alloc
                .pick(addr, None, |c| !bound.keys().any(|&(_, bp)| bp == c))?
        } else if ports.conflicts(addr, port, reuse, listening) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr}:{port} is already in use"),
            ));
        } else {
            port
        };
        ports.add(addr, port, reuse, listening);
        Ok(PortClaim {
            addr,
            port,
            listening,
        })
    }

    /// Turns a bind's claim into a listener's (`listen` after `bind`),
    /// re-checking that no other holder shares the port.
    pub(crate) fn upgrade_to_listen(&self, claim: PortClaim) -> io::Result<PortClaim> {
        let mut ports = self.ports.lock();
        ports.remove(claim.addr, claim.port, claim.listening);
        if ports.conflicts(claim.addr, claim.port, false, true) {
            ports.add(claim.addr, claim.port, false, claim.listening);
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{}:{} is already in use", claim.addr, claim.port),
            ));
        }
        ports.add(claim.addr, claim.port, false, true);
        Ok(PortClaim {
            listening: true,
            ..claim
        })
    }

    /// Picks a local port for `connect` from `local` to `remote`: a port
    /// nobody holds, preferring ones for which `preferred` says yes (the
    /// reply lands on the calling core). // linux: __inet_hash_connect
    pub(crate) fn claim_ephemeral(
        &self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        preferred: impl FnMut(u16) -> bool,
    ) -> io::Result<PortClaim> {
        let mut ports = self.ports.lock();
        let p = &mut *ports;
        let bound = &p.bound;
        let free = |c: u16| {
            !bound.contains_key(&(local, c)) && !bound.contains_key(&(Ipv4Addr::UNSPECIFIED, c))
        };
        let port = p
            .alloc
            .pick_preferring(local, Some(remote), free, preferred)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    "no free local port for the connection (ephemeral range exhausted)",
                )
            })?;
        ports.add(local, port, false, false);
        Ok(PortClaim {
            addr: local,
            port,
            listening: false,
        })
    }

    /// Gives a claim back.
    pub(crate) fn release_port(&self, claim: PortClaim) {
        self.ports
            .lock()
            .remove(claim.addr, claim.port, claim.listening);
    }

    /// Whether (addr, port) is held by anyone (tests, diagnostics).
    #[cfg(test)]
    pub(crate) fn port_held(&self, addr: Ipv4Addr, port: u16) -> bool {
        self.ports.lock().bound.contains_key(&(addr, port))
    }

    /// The defaults new connections start from.
    pub(crate) fn config(&self) -> TcpConfig {
        self.config.read().clone()
    }

    /// Changes the defaults for connections made from now on.
    pub(crate) fn update_config(&self, f: impl FnOnce(&mut TcpConfig)) {
        f(&mut self.config.write());
    }

    /// Our timestamp clock toward `remote` at `now` (RFC 7323 §5.4 with
    /// the RFC 6528-keyed per-pair offset, as Linux does).
    pub(crate) fn ts_offset(&self, local: Ipv4Addr, remote: Ipv4Addr, now: Instant) -> u32 {
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        self.isn.ts_offset(local, remote).wrapping_add(ms)
    }
}

impl crate::stack::ns::Namespace {
    /// Changes the TCP defaults of connections and listeners made from
    /// now on (`sysctl net.ipv4.tcp_*`): TIME-WAIT length, buffer sizes,
    /// RTO bounds, congestion control, TSO size, ...
    ///
    /// ```
    /// use std::time::Duration;
    /// let ns = netrt::stack::ns::Namespace::new("t").unwrap();
    /// ns.set_tcp_defaults(|c| c.time_wait = Duration::from_secs(1));
    /// assert_eq!(ns.tcp_defaults().time_wait, Duration::from_secs(1));
    /// ```
    pub fn set_tcp_defaults(&self, f: impl FnOnce(&mut TcpConfig)) {
        self.0.tcp.update_config(f);
    }

    /// The TCP defaults in force.
    pub fn tcp_defaults(&self) -> TcpConfig {
        self.0.tcp.config()
    }

    /// The state of the connection on (`local`, `remote`), for debugging.
    #[doc(hidden)]
    pub fn tcp_debug(&self, local: SocketAddrV4, remote: SocketAddrV4) -> Option<String> {
        let sock = self.0.tcp.lookup(&FourTuple { local, remote })?;
        Some(sock.with_user(&self.0, |st, _| {
            format!("{:#?} armed {:?}", st.conn, st.armed)
        }))
    }

    /// TCP connections in the namespace's table, in every state from
    /// SYN-SENT to TIME-WAIT (linux: `ss -t state all | wc -l`).
    pub fn tcp_connections(&self) -> usize {
        self.0.tcp.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn port_rules_follow_linux() {
        let t = TcpTable::new();
        let l = t
            .claim_port(Ipv4Addr::UNSPECIFIED, 80, false, true)
            .unwrap();
        // Any address on a wildcard listener's port is taken.
        let e = t.claim_port(A, 80, true, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        t.release_port(l);
        assert!(!t.port_held(Ipv4Addr::UNSPECIFIED, 80));
        // Two SO_REUSEADDR binds share a port; a listener then cannot.
        let a = t.claim_port(A, 81, true, false).unwrap();
        let b = t.claim_port(A, 81, true, false).unwrap();
        assert!(t.upgrade_to_listen(a).is_err());
        t.release_port(b);
        let a = t.upgrade_to_listen(a).unwrap();
        assert!(a.listening);
        assert!(t.claim_port(A, 81, true, false).is_err());
        // A different specific address is a different binding.
        t.claim_port(B, 81, false, true).unwrap();
    }

    #[test]
    fn ephemeral_ports_are_distinct_and_preferred() {
        let t = TcpTable::new();
        let remote = SocketAddrV4::new(B, 80);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let c = t.claim_ephemeral(A, remote, |p| p % 2 == 0).unwrap();
            assert!(EPHEMERAL.contains(&c.port));
            assert_eq!(c.port % 2, 0, "preferred ports first");
            assert!(seen.insert(c.port));
        }
        // A bound port is never handed out.
        let explicit = t.claim_port(A, 0, false, false).unwrap();
        assert!(!seen.contains(&explicit.port));
    }
}
