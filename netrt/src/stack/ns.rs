//! Network namespaces (linux: `struct net`).
//!
//! A [`Namespace`] owns devices, addresses and routes, neighbours, hooks,
//! sockets and counters. Several live in one process; a task runs *inside*
//! one (like `ip netns exec`) so that sockets it opens belong there.

use std::io;
use std::sync::Arc;

use super::dev::NetDevice;
use super::hooks::Hooks;
use super::percore::SlotOwner;
use super::ptype::Taps;
use super::route::RouteTable;
use super::snmp::Snmp;
use crate::sync::snapshot::Snapshot;

/// A namespace's devices; index = ifindex - 1 (`lo` is ifindex 1).
pub(crate) type DeviceList = Vec<Arc<dyn NetDevice>>;

/// A network namespace: cheap to clone (a shared handle).
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NsInner>);

/// The state of a namespace.
pub(crate) struct NsInner {
    /// Identity for per-core caches.
    pub(crate) owner: SlotOwner,
    pub(crate) name: String,
    pub(crate) devices: Arc<Snapshot<DeviceList>>,
    pub(crate) routes: Arc<Snapshot<RouteTable>>,
    pub(crate) hooks: Hooks,
    /// Per-core `/proc/net/snmp` counters.
    pub(crate) snmp: Snmp,
    /// IPv4/ARP/ICMP state (stack-ip).
    pub(crate) ip: crate::stack::ipv4::IpState,
    /// Packet taps.
    pub(crate) taps: Taps,
}

impl Namespace {
    /// A new namespace.
    pub fn new(name: &str) -> io::Result<Namespace> {
        if name.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a namespace needs a name",
            ));
        }
        Ok(Namespace(Arc::new(NsInner {
            owner: SlotOwner::new(),
            name: name.to_string(),
            devices: Arc::new(Snapshot::new(Vec::new())),
            routes: Arc::new(Snapshot::new(RouteTable::new())),
            hooks: Hooks::new(),
            snmp: Snmp::new(64),
            ip: crate::stack::ipv4::IpState::new(),
            taps: Taps::new(),
        })))
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
}
