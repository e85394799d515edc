//! Network namespaces (linux: `struct net`).
//!
//! A [`Namespace`] owns devices, addresses and routes, neighbours, hooks,
//! sockets and counters. Several live in one process; a task runs *inside*
//! one (like `ip netns exec`) so that sockets it opens belong there:
//!
//! * [`Namespace::scope`] wraps a future so that it is polled with the
//!   namespace as the current one; [`Namespace::spawn`] spawns it so.
//!   Tasks spawned from inside a scoped task (`netrt::spawn`,
//!   `spawn_local`, `spawn_on`) inherit the namespace.
//! * [`Namespace::enter`] makes it current for synchronous code until the
//!   guard drops.
//! * Everywhere else, [`Namespace::current`] is the runtime's *default
//!   namespace* (made on first use, with `lo` and `127.0.0.1/8`), so
//!   `UdpSocket::bind("127.0.0.1:0")` works in any `#[netrt::main]`
//!   program with no set-up. Off any runtime it is a process-wide default.
//!
//! ```
//! use netrt::stack::ns::Namespace;
//! use netrt::stack::IfIndex;
//!
//! let ns = Namespace::new("blue")?;
//! let lo = ns.device(IfIndex(1)).unwrap();
//! assert_eq!(lo.name(), "lo");
//! assert!(ns.routes().is_local("127.0.0.1".parse().unwrap()));
//! let _guard = ns.enter();
//! assert!(Namespace::current() == ns);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use netrt_igb::port::EmulatedPort;
use parking_lot::Mutex;
use pin_project::pin_project;

use super::dev::igb::IgbNetDev;
use super::dev::{loopback, NetDevice};
use super::hooks::Hooks;
use super::netif::{self, NetifStats};
use super::percore::{self, SlotOwner, COUNTER_CORES};
use super::ptype::{TapDirection, TapHandle, Taps};
use super::route::{Route, RouteTable};
use super::snmp::{CoreCounters, Snmp, SnmpSnapshot};
use super::IfIndex;
use crate::runtime::{Handle, JoinHandle};
use crate::sync::snapshot::Snapshot;
use crate::wire::Ipv4Cidr;

/// A namespace's devices; index = ifindex - 1 (`lo` is ifindex 1).
pub(crate) type DeviceList = Vec<Arc<dyn NetDevice>>;

/// Longest device name (linux: `IFNAMSIZ` - 1).
pub const MAX_DEVICE_NAME: usize = 15;

/// A network namespace: a cheap-to-clone handle to shared state. Two
/// handles are `==` when they name the same namespace.
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NsInner>);

/// The state of a namespace.
pub(crate) struct NsInner {
    /// Identity for per-core caches and the backlog's namespace lookup.
    pub(crate) owner: SlotOwner,
    pub(crate) name: String,
    /// Index = ifindex - 1. Read per packet through per-core readers
    /// ([`percore::with_devices`], [`percore::device`]).
    pub(crate) devices: Arc<Snapshot<DeviceList>>,
    /// Addresses and routes; per packet through [`percore::with_routes`].
    pub(crate) routes: Arc<Snapshot<RouteTable>>,
    /// Netfilter-style hooks; per packet through [`percore::with_hooks`].
    pub(crate) hooks: Hooks,
    /// Per-core `/proc/net/snmp` counters; write through
    /// [`NsInner::snmp_core`].
    pub(crate) snmp: Snmp,
    /// IPv4/ARP/ICMP state (stack-ip): neighbours, reassembly, ICMP rate
    /// limit, `ip_forward`, IP ident.
    pub(crate) ip: crate::stack::ipv4::IpState,
    /// UDP sockets (udp).
    pub(crate) udp: crate::stack::udp::UdpTable,
    /// TCP connections, listeners and ports (tcp).
    pub(crate) tcp: crate::stack::tcp::table::TcpTable,
    /// This namespace, weakly (for tasks the stack starts on its behalf).
    this: std::sync::Weak<NsInner>,
    /// Packet taps (every frame in and out).
    pub(crate) taps: Taps,
    /// Receive-path counters (netif).
    pub(crate) netif: netif::Counters,
    /// Serialises device creation (ifindex allocation).
    ctl: Mutex<()>,
}

impl NsInner {
    /// A weak pointer to this namespace.
    pub(crate) fn self_weak(&self) -> std::sync::Weak<NsInner> {
        self.this.clone()
    }

    /// The SNMP counter block of the calling core (threads that are not
    /// cores, and cores past [`COUNTER_CORES`], share the last block).
    #[inline]
    pub(crate) fn snmp_core(&self) -> &CoreCounters {
        let core = crate::runtime::current_core()
            .filter(|&c| c < COUNTER_CORES)
            .unwrap_or(COUNTER_CORES);
        self.snmp.core(core)
    }
}

impl Drop for NsInner {
    fn drop(&mut self) {
        percore::unregister_namespace(self.owner.id());
    }
}

thread_local! {
    /// The namespace of the task being polled (set by [`Scoped`]) or of
    /// an [`NsGuard`].
    static CURRENT: Cell<Option<Namespace>> = const { Cell::new(None) };
}

/// The process-wide default namespace, for threads outside any runtime.
static PROCESS_DEFAULT: OnceLock<Namespace> = OnceLock::new();

impl Namespace {
    /// A new namespace with a loopback device `lo` (ifindex 1) holding
    /// `127.0.0.1/8`. `InvalidInput` for an empty name.
    pub fn new(name: &str) -> io::Result<Namespace> {
        if name.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a namespace needs a name",
            ));
        }
        Ok(Namespace::create(name))
    }

    /// [`Namespace::new`] for a name known to be valid.
    pub(crate) fn create(name: &str) -> Namespace {
        let owner = SlotOwner::new();
        let taps = Taps::new();
        let mut routes = RouteTable::new();
        let lo_addr = Ipv4Cidr::new(Ipv4Addr::LOCALHOST, 8);
        // Invariant: 127.0.0.1/8 is a valid unicast CIDR and the table is
        // empty, so both steps succeed.
        if let Ok(cidr) = lo_addr {
            let _ = routes.add_address(cidr, IfIndex(1));
        }
        let inner = Arc::new_cyclic(|weak| {
            let lo = loopback::create(weak, owner.id(), &taps);
            NsInner {
                owner,
                name: name.to_string(),
                devices: Arc::new(Snapshot::new(vec![lo])),
                routes: Arc::new(Snapshot::new(routes)),
                hooks: Hooks::new(),
                snmp: Snmp::new(COUNTER_CORES + 1),
                ip: crate::stack::ipv4::IpState::new(),
                udp: crate::stack::udp::UdpTable::new(),
                tcp: crate::stack::tcp::table::TcpTable::new(),
                this: weak.clone(),
                taps,
                netif: netif::Counters::default(),
                ctl: Mutex::new(()),
            }
        });
        percore::register_namespace(&inner);
        super::ipv4::attach(&inner);
        Namespace(inner)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The namespace of the running task: the one set by [`scope`],
    /// [`spawn`] or [`enter`] (inherited by tasks spawned from a scoped
    /// task), else the current runtime's default namespace (made on first
    /// use), else — off any runtime — a process-wide default.
    ///
    /// [`scope`]: Namespace::scope
    /// [`spawn`]: Namespace::spawn
    /// [`enter`]: Namespace::enter
    pub fn current() -> Namespace {
        if let Some(ns) = current_scoped() {
            return ns;
        }
        if let Some(ns) = percore::with_runtime_net(|rn, _| rn.default_namespace()) {
            return ns;
        }
        PROCESS_DEFAULT
            .get_or_init(|| Namespace::create("default"))
            .clone()
    }

    /// Wraps `f` so that it is polled with this namespace as the current
    /// one (like `ip netns exec`).
    pub fn scope<F: Future>(&self, f: F) -> Scoped<F> {
        Scoped {
            inner: f,
            ns: Some(self.clone()),
        }
    }

    /// Spawns `f` on the current core, running inside this namespace.
    ///
    /// # Panics
    ///
    /// Outside a runtime, like [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::spawn(self.scope(f))
    }

    /// Makes this namespace the current one of the calling thread until the
    /// guard is dropped (for synchronous code).
    pub fn enter(&self) -> NsGuard {
        NsGuard {
            prev: CURRENT.with(|c| c.replace(Some(self.clone()))),
            _not_send: PhantomData,
        }
    }

    /// Assigns `cidr` to device `dev` (`ip addr add`), with its local and
    /// subnet routes, and announces it with a gratuitous ARP.
    ///
    /// Errors: `NotFound` for an unknown device; `InvalidInput` for an
    /// address that is not unicast; `AddrInUse` if it is assigned already.
    pub fn add_address(&self, dev: IfIndex, cidr: Ipv4Cidr) -> io::Result<()> {
        let device = self.device(dev).ok_or_else(|| no_device(dev))?;
        self.edit_routes(|t| t.add_address(cidr, dev))?;
        super::arp::announce(&self.0, &device, cidr.address());
        Ok(())
    }

    /// Removes an assigned address and the routes made for it.
    /// `NotFound` if it is not assigned.
    pub fn remove_address(&self, addr: Ipv4Addr) -> io::Result<()> {
        self.edit_routes(|t| t.remove_address(addr).map(drop))
    }

    /// Adds a route (`ip route add`). `NotFound` for an unknown device;
    /// the table's own errors otherwise (see [`RouteTable::add_route`]).
    pub fn add_route(&self, route: Route) -> io::Result<()> {
        self.device(route.dev).ok_or_else(|| no_device(route.dev))?;
        self.edit_routes(|t| t.add_route(route))
    }

    /// Removes the route to `dst` with `metric`; `NotFound` if none.
    pub fn remove_route(&self, dst: Ipv4Cidr, metric: u32) -> io::Result<Route> {
        let mut removed = None;
        self.edit_routes(|t| {
            removed = Some(t.remove_route(dst, metric)?);
            Ok(())
        })?;
        removed.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such route"))
    }

    /// The current routing table (addresses and routes).
    pub fn routes(&self) -> Arc<RouteTable> {
        self.0.routes.load()
    }

    /// Applies `edit` to a copy of the routing table and publishes the copy
    /// if it succeeded (writers are serialised by the snapshot).
    fn edit_routes(&self, edit: impl FnOnce(&mut RouteTable) -> io::Result<()>) -> io::Result<()> {
        let mut result = Ok(());
        self.0.routes.update(|t| {
            let mut next = t.clone();
            result = edit(&mut next);
            if result.is_ok() {
                next
            } else {
                t.clone()
            }
        });
        result
    }

    /// Turns forwarding of datagrams between devices on or off (Linux
    /// `net.ipv4.ip_forward`; off by default).
    pub fn set_ip_forward(&self, on: bool) {
        self.0.ip.ip_forward.store(on, Ordering::Relaxed);
    }

    /// Whether forwarding is on.
    pub fn ip_forward(&self) -> bool {
        self.0.ip.forwarding()
    }

    /// Turns generic receive offload of device `dev` on or off (`ethtool
    /// -K dev gro on|off`; on by default for igb ports). GRO only merges
    /// while forwarding is off. Errors: `NotFound` for an unknown device,
    /// `Unsupported` for one without GRO (`lo`).
    pub fn set_gro(&self, dev: IfIndex, on: bool) -> io::Result<()> {
        self.device(dev).ok_or_else(|| no_device(dev))?.set_gro(on)
    }

    /// The device with index `ifindex`.
    pub fn device(&self, ifindex: IfIndex) -> Option<Arc<dyn NetDevice>> {
        let i = (ifindex.0 as usize).checked_sub(1)?;
        self.0.devices.load().get(i).cloned()
    }

    /// The device named `name`.
    pub fn device_by_name(&self, name: &str) -> Option<Arc<dyn NetDevice>> {
        self.0
            .devices
            .load()
            .iter()
            .find(|d| d.name() == name)
            .cloned()
    }

    /// All devices, by ifindex.
    pub fn devices(&self) -> Vec<Arc<dyn NetDevice>> {
        self.0.devices.load().to_vec()
    }

    /// Adds an emulated igb port as device `name`, its queues polled by
    /// the cores of `rt` (queue `q` by core `q % cores`), and brings it up.
    ///
    /// Errors: `InvalidInput` for a bad name or a port whose queue vectors
    /// were taken; `AlreadyExists` if the name is in use.
    pub fn add_igb(
        &self,
        rt: &Handle,
        name: &str,
        port: EmulatedPort,
    ) -> io::Result<Arc<IgbNetDev>> {
        if name.is_empty() || name.len() > MAX_DEVICE_NAME || name.contains(['/', ' ']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad device name {name:?}"),
            ));
        }
        let _ctl = self.0.ctl.lock();
        if self.device_by_name(name).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("device {name} exists"),
            ));
        }
        let ifindex = IfIndex(self.0.devices.load().len() as u32 + 1);
        let dev = IgbNetDev::new(rt, &self.0, ifindex, name, port)?;
        let as_dyn: Arc<dyn NetDevice> = dev.clone();
        self.0.devices.update(|d| {
            let mut d = d.clone();
            d.push(as_dyn);
            d
        });
        // Up only once the device is findable by its index.
        dev.start();
        Ok(dev)
    }

    /// The hook registry (PREROUTING ... POSTROUTING).
    pub fn hooks(&self) -> &Hooks {
        &self.0.hooks
    }

    /// `/proc/net/snmp`-style counters, summed over cores.
    pub fn snmp(&self) -> SnmpSnapshot {
        self.0.snmp.snapshot()
    }

    /// Receive-path counters (drops by reason, RPS, backlog).
    pub fn netif_stats(&self) -> NetifStats {
        self.0.netif.snapshot()
    }

    /// Registers a tap that sees every frame any device of this namespace
    /// receives or sends (like an `ETH_P_ALL` packet socket), until the
    /// handle is dropped. It runs inline on the core handling the frame.
    pub fn add_packet_tap<F>(&self, tap: F) -> TapHandle
    where
        F: Fn(&[u8], TapDirection, IfIndex) + Send + Sync + 'static,
    {
        self.0.taps.add(Arc::new(tap))
    }
}

fn no_device(dev: IfIndex) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no device {dev}"))
}

impl PartialEq for Namespace {
    fn eq(&self, other: &Namespace) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Namespace {}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.0.name)
            .field("devices", &self.0.devices.load().len())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Namespace {
    /// `ip link` + `ip addr` + `ip route` of the namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "namespace {}", self.0.name)?;
        let routes = self.routes();
        for dev in self.0.devices.load().iter() {
            writeln!(
                f,
                "  {}: {} mtu {} link {}",
                dev.ifindex().0,
                dev.name(),
                dev.mtu(),
                dev.mac()
            )?;
            for a in routes.addresses().filter(|a| a.dev == dev.ifindex()) {
                writeln!(f, "      inet {}", a.addr)?;
            }
        }
        for r in routes.routes() {
            writeln!(f, "  route {r}")?;
        }
        Ok(())
    }
}

/// The namespace set by a scope or guard on this thread, if any.
fn current_scoped() -> Option<Namespace> {
    CURRENT
        .try_with(|c| {
            let ns = c.take();
            let copy = ns.clone();
            c.set(ns);
            copy
        })
        .ok()
        .flatten()
}

/// A future polled inside a namespace; see [`Namespace::scope`].
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Scoped<F> {
    #[pin]
    inner: F,
    /// Moved into the thread-local for the duration of each poll (no
    /// reference counting per poll) and back afterwards.
    ns: Option<Namespace>,
}

/// Wraps `f` in the namespace of the calling scope, if any: what the
/// runtime's spawn functions do so that spawned tasks inherit it.
pub(crate) fn inherit<F: Future>(f: F) -> Scoped<F> {
    Scoped {
        inner: f,
        ns: current_scoped(),
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(ns) = this.ns.take() else {
            return this.inner.poll(cx);
        };
        /// Puts the namespace back into the future and restores the
        /// previous one, also when the inner poll panics.
        struct Restore<'a> {
            slot: &'a mut Option<Namespace>,
            prev: Option<Namespace>,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let prev = self.prev.take();
                *self.slot = CURRENT.try_with(|c| c.replace(prev)).ok().flatten();
            }
        }
        let prev = CURRENT.with(|c| c.replace(Some(ns)));
        let _restore = Restore {
            slot: this.ns,
            prev,
        };
        this.inner.poll(cx)
    }
}

/// Keeps a namespace current on this thread; see [`Namespace::enter`].
#[must_use = "the namespace is only current while the guard lives"]
pub struct NsGuard {
    prev: Option<Namespace>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let replaced = CURRENT.try_with(|c| c.replace(prev));
        drop(replaced);
    }
}

impl fmt::Debug for NsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NsGuard").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn new_namespace_has_loopback() {
        let ns = Namespace::new("t").unwrap();
        assert!(Namespace::new("").is_err());
        let lo = ns.device(IfIndex(1)).unwrap();
        assert!(lo.is_loopback());
        assert_eq!(lo.mtu(), 65536);
        assert!(ns.device_by_name("lo").is_some());
        assert!(ns.device(IfIndex(2)).is_none());
        assert!(ns.device(IfIndex(0)).is_none());
        let rt = ns.routes();
        assert!(rt.is_local(Ipv4Addr::LOCALHOST));
        assert_eq!(
            rt.lookup(Ipv4Addr::new(127, 0, 0, 1)).map(|r| r.dev),
            Some(IfIndex(1))
        );
        let text = ns.to_string();
        assert!(text.contains("1: lo mtu 65536"), "{text}");
        assert!(text.contains("inet 127.0.0.1/8"), "{text}");
    }

    #[test]
    fn address_and_route_errors() {
        let ns = Namespace::new("t").unwrap();
        let cidr = Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 24).unwrap();
        let e = ns.add_address(IfIndex(7), cidr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = ns
            .add_address(IfIndex(1), Ipv4Cidr::new(Ipv4Addr::LOCALHOST, 8).unwrap())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        let dst = Ipv4Cidr::new(Ipv4Addr::new(10, 1, 0, 0), 16).unwrap();
        let e = ns.add_route(Route::direct(dst, IfIndex(9))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        ns.add_route(Route::direct(dst, IfIndex(1))).unwrap();
        assert_eq!(
            ns.routes()
                .lookup(Ipv4Addr::new(10, 1, 2, 3))
                .map(|r| r.dev),
            Some(IfIndex(1))
        );
        assert_eq!(ns.remove_route(dst, 0).unwrap().dst, dst);
        assert!(ns.routes().lookup(Ipv4Addr::new(10, 1, 2, 3)).is_none());
        ns.set_ip_forward(true);
        assert!(ns.ip_forward());
    }

    #[test]
    fn scope_sets_and_restores_current() {
        let a = Namespace::new("a").unwrap();
        let b = Namespace::new("b").unwrap();
        let outside = Namespace::current();
        assert!(outside != a);
        let mut fut = Box::pin(a.scope(async {
            let inner = Namespace::current();
            let nested = b.scope(async { Namespace::current() }).await;
            (inner, nested, inherit(async { Namespace::current() }).await)
        }));
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready((inner, nested, inherited)) = fut.as_mut().poll(&mut cx) else {
            panic!("ready at once");
        };
        assert!(inner == a);
        assert!(nested == b);
        assert!(inherited == a);
        assert!(Namespace::current() == outside);
        {
            let _g = b.enter();
            assert!(Namespace::current() == b);
            let _h = a.enter();
            assert!(Namespace::current() == a);
        }
        assert!(Namespace::current() == outside);
    }
}
