//! The IPv4 routing table.
//!
//! Two tables, searched in order, as in Linux's policy routing default:
//!
//! * the **local** table holds our own addresses (`Local`) and the directed
//!   broadcast addresses of our subnets (`Broadcast`); it is filled by
//!   [`RouteTable::add_address`], never edited directly;
//! * the **main** table holds prefix routes: the connected route of every
//!   address (`10.0.0.0/24 dev if1 src 10.0.0.1`), and static routes
//!   ([`RouteTable::add_route`]), the default route included (`0.0.0.0/0`).
//!
//! Each table is a longest-prefix-match structure: one hash map per prefix
//! length plus a bitmask of the lengths in use, searched from /32 down. A
//! lookup is at most 33 probes of a hash map keyed by a `u32`, usually 2–3
//! (only lengths that exist are probed), and never allocates.
//!
//! Writes (adding/removing routes and addresses) are rare and may be slow:
//! the stack keeps the table in a snapshot (`Snapshot<RouteTable>`), builds
//! a modified clone and publishes it, so per-packet readers take no lock.
//! // linux: fib_table_lookup on RT_TABLE_LOCAL then RT_TABLE_MAIN

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::Ipv4Addr;

use super::IfIndex;
use crate::wire::Ipv4Cidr;

/// What kind of destination a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// One of our own addresses: deliver locally.
    Local,
    /// Reachable through a device, directly or via a gateway.
    Unicast,
    /// A broadcast address (a subnet's directed broadcast, or
    /// 255.255.255.255): sent to the link broadcast address.
    Broadcast,
}

/// A prefix route in the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination prefix; host bits must be zero.
    pub dst: Ipv4Cidr,
    /// Next hop for prefixes that are not on-link; `None` means the
    /// destination itself is on the link.
    pub gateway: Option<Ipv4Addr>,
    /// Output device.
    pub dev: IfIndex,
    /// Preferred source address (`ip route ... src`).
    pub src: Option<Ipv4Addr>,
    /// Preference among routes to the same prefix: lower wins.
    pub metric: u32,
}

impl Route {
    /// An on-link route to `dst` through `dev`, metric 0, no preferred source.
    pub fn direct(dst: Ipv4Cidr, dev: IfIndex) -> Route {
        Route {
            dst,
            gateway: None,
            dev,
            src: None,
            metric: 0,
        }
    }

    /// A route to `dst` via `gateway` on `dev`, metric 0, no preferred source.
    pub fn via(dst: Ipv4Cidr, gateway: Ipv4Addr, dev: IfIndex) -> Route {
        Route {
            gateway: Some(gateway),
            ..Route::direct(dst, dev)
        }
    }
}

impl fmt::Display for Route {
    /// `ip route` style: `default via 10.0.0.1 dev if1 src 10.0.0.2 metric 5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dst.prefix_len() == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        write!(f, " dev {}", self.dev)?;
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        write!(f, " metric {}", self.metric)
    }
}

/// Where and how to send a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteResult {
    /// Local delivery, unicast, or broadcast.
    pub kind: RouteKind,
    /// Device to send on (for `Local`: the device owning the address).
    pub dev: IfIndex,
    /// Address to resolve on the link: the gateway, or the destination
    /// itself when it is on-link (and for `Local`/`Broadcast`).
    pub next_hop: Ipv4Addr,
    /// Source address to use when the socket has none: the route's
    /// preferred source, else an address of `dev` (one on the next hop's
    /// subnet first). `None` if the device has no address.
    pub src: Option<Ipv4Addr>,
}

/// An address assigned to a device (`ip addr add 10.0.0.1/24 dev if1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr {
    /// The address with its subnet's prefix length.
    pub addr: Ipv4Cidr,
    /// The device it is assigned to.
    pub dev: IfIndex,
}

/// The routing table of one namespace: addresses, local/broadcast entries
/// and prefix routes. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    local: PrefixMap<LocalEntry>,
    main: PrefixMap<MainEntry>,
    /// Assigned addresses, in the order they were added (the first address
    /// of a device is its primary for source selection).
    addrs: Vec<IfAddr>,
}

/// An entry of the local table.
#[derive(Debug, Clone, Copy)]
struct LocalEntry {
    kind: RouteKind,
    dev: IfIndex,
    /// The assigned address that created this entry (for a broadcast entry,
    /// also the source to send from). Several addresses in one subnet each
    /// own an entry for the shared broadcast address, so removing one
    /// leaves the broadcast route in place.
    owner: Ipv4Addr,
}

/// An entry of the main table.
#[derive(Debug, Clone, Copy)]
struct MainEntry {
    route: Route,
    /// For a connected route, the address it was created for; `None` for a
    /// static route.
    owner: Option<Ipv4Addr>,
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> RouteTable {
        RouteTable::default()
    }

    /// Looks up `dst`: the local table first, then the longest matching
    /// prefix of the main table (lowest metric among equal prefixes, first
    /// added among equal metrics). `None` means "network unreachable".
    ///
    /// 255.255.255.255 is `Broadcast` out of the device the main table
    /// picks for it (the default route's, usually). Allocation-free.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<RouteResult> {
        let key = u32::from(dst);
        if let Some(entry) = self.local.lookup(key) {
            let src = match entry.kind {
                // Talking to ourselves: the destination is the source.
                RouteKind::Local => dst,
                _ => entry.owner,
            };
            return Some(RouteResult {
                kind: entry.kind,
                dev: entry.dev,
                next_hop: dst,
                src: Some(src),
            });
        }
        let route = &self.main.lookup(key)?.route;
        let (kind, next_hop) = if dst.is_broadcast() {
            (RouteKind::Broadcast, dst)
        } else {
            (RouteKind::Unicast, route.gateway.unwrap_or(dst))
        };
        Some(RouteResult {
            kind,
            dev: route.dev,
            next_hop,
            src: route.src.or_else(|| self.select_src(route.dev, next_hop)),
        })
    }

    /// True when `addr` is one of our assigned addresses.
    #[inline]
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        matches!(
            self.local.lookup(u32::from(addr)),
            Some(LocalEntry {
                kind: RouteKind::Local,
                ..
            })
        )
    }

    /// A source address on `dev` for talking to `next_hop`: the first
    /// address of `dev` whose subnet holds `next_hop`, else its first
    /// address. // linux: inet_select_addr
    pub fn select_src(&self, dev: IfIndex, next_hop: Ipv4Addr) -> Option<Ipv4Addr> {
        let mut on_dev = self.addrs.iter().filter(|a| a.dev == dev);
        let first = on_dev.clone().next()?;
        let best = on_dev
            .find(|a| a.addr.contains_addr(next_hop))
            .unwrap_or(first);
        Some(best.addr.address())
    }

    /// Adds a static route. Errors: `InvalidInput` if the prefix has host
    /// bits set or the gateway is not a unicast address; `AlreadyExists`
    /// if a route with the same prefix and metric exists (as Linux's
    /// `EEXIST` without `NLM_F_APPEND`).
    pub fn add_route(&mut self, route: Route) -> io::Result<()> {
        check_prefix(route.dst)?;
        if let Some(gw) = route.gateway {
            if !is_unicast(gw) {
                return Err(invalid("gateway is not a unicast address"));
            }
        }
        let (len, key) = prefix_key(route.dst);
        if self
            .main
            .entries(len, key)
            .iter()
            .any(|e| e.route.metric == route.metric)
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a route to this prefix with this metric exists",
            ));
        }
        self.insert_main(MainEntry { route, owner: None });
        Ok(())
    }

    /// Removes the route to `dst` with `metric` (static or connected) and
    /// returns it; `NotFound` if there is none.
    pub fn remove_route(&mut self, dst: Ipv4Cidr, metric: u32) -> io::Result<Route> {
        let (len, key) = prefix_key(dst);
        let mut removed = None;
        self.main.retain_at(len, key, |e| {
            if removed.is_none() && e.route.dst == dst && e.route.metric == metric {
                removed = Some(e.route);
                false
            } else {
                true
            }
        });
        removed.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such route"))
    }

    /// Assigns `addr` (with its subnet's prefix length) to `dev`, adding a
    /// `Local` entry for it, a `Broadcast` entry for the subnet's directed
    /// broadcast (none for /31 and /32), and the connected route to the
    /// subnet with `addr` as preferred source.
    ///
    /// A second address in a subnet that already has a connected route on
    /// `dev` adds its route behind the first one's, so it takes over (is
    /// promoted) when the first address is removed.
    ///
    /// Errors: `InvalidInput` for an address that is not unicast;
    /// `AddrInUse` if the address is assigned already (to any device).
    pub fn add_address(&mut self, addr: Ipv4Cidr, dev: IfIndex) -> io::Result<()> {
        let ip = addr.address();
        if !is_unicast(ip) {
            return Err(invalid("not a unicast address"));
        }
        if self.addrs.iter().any(|a| a.addr.address() == ip) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "address already assigned",
            ));
        }
        self.addrs.push(IfAddr { addr, dev });
        let local = LocalEntry {
            kind: RouteKind::Local,
            dev,
            owner: ip,
        };
        // In front: were the address also some subnet's broadcast, being
        // ours wins (it is delivered locally either way).
        self.local.entries_mut(32, u32::from(ip)).insert(0, local);
        if let Some(brd) = addr.broadcast() {
            let entry = LocalEntry {
                kind: RouteKind::Broadcast,
                ..local
            };
            self.local.entries_mut(32, u32::from(brd)).push(entry);
        }
        if addr.prefix_len() < 32 {
            let mut route = Route::direct(addr.network(), dev);
            route.src = Some(ip);
            self.insert_main(MainEntry {
                route,
                owner: Some(ip),
            });
        }
        Ok(())
    }

    /// Removes an assigned address with everything [`add_address`]
    /// created for it, and returns what it was; `NotFound` if `addr` is
    /// not assigned.
    ///
    /// [`add_address`]: RouteTable::add_address
    pub fn remove_address(&mut self, addr: Ipv4Addr) -> io::Result<IfAddr> {
        let at = self
            .addrs
            .iter()
            .position(|a| a.addr.address() == addr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "address not assigned"))?;
        let removed = self.addrs.remove(at);
        self.local
            .retain_at(32, u32::from(addr), |e| e.owner != addr);
        if let Some(brd) = removed.addr.broadcast() {
            self.local
                .retain_at(32, u32::from(brd), |e| e.owner != addr);
        }
        let (len, key) = prefix_key(removed.addr.network());
        self.main.retain_at(len, key, |e| e.owner != Some(addr));
        Ok(removed)
    }

    /// Forgets a device: its addresses (with their entries) and every route
    /// through it. Returns how many routes went (connected ones included).
    /// // linux: fib_disable_ip on NETDEV_UNREGISTER
    pub fn remove_device(&mut self, dev: IfIndex) -> usize {
        let gone: Vec<Ipv4Addr> = self
            .addrs
            .iter()
            .filter(|a| a.dev == dev)
            .map(|a| a.addr.address())
            .collect();
        let before = self.main.len();
        for addr in gone {
            // Present by construction: `gone` was read from `addrs`.
            let _ = self.remove_address(addr);
        }
        self.main.retain_all(|e| e.route.dev != dev);
        before - self.main.len()
    }

    /// Assigned addresses, in the order they were added.
    pub fn addresses(&self) -> impl Iterator<Item = &IfAddr> + '_ {
        self.addrs.iter()
    }

    /// Every main-table route (connected and static): longest prefixes
    /// first (prefixes of one length in no set order), each prefix's routes
    /// by metric.
    pub fn routes(&self) -> impl Iterator<Item = &Route> + '_ {
        self.main.iter().map(|e| &e.route)
    }

    /// Inserts behind every entry of the same prefix with a metric ≤ its
    /// own, so the lowest metric is first and ties keep insertion order.
    fn insert_main(&mut self, entry: MainEntry) {
        let (len, key) = prefix_key(entry.route.dst);
        let entries = self.main.entries_mut(len, key);
        let at = entries.partition_point(|e| e.route.metric <= entry.route.metric);
        entries.insert(at, entry);
    }
}

impl fmt::Display for RouteTable {
    /// One main-table route per line, `ip route` style.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for route in self.routes() {
            writeln!(f, "{route}")?;
        }
        Ok(())
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Not 0.0.0.0, not 255.255.255.255, not multicast (class D) or class E.
fn is_unicast(addr: Ipv4Addr) -> bool {
    !addr.is_unspecified() && !addr.is_broadcast() && addr.octets()[0] < 224
}

/// `ip route add 10.0.0.1/24` is refused by Linux ("Invalid prefix for
/// given prefix length"); so is it here.
fn check_prefix(dst: Ipv4Cidr) -> io::Result<()> {
    if dst.network() != dst {
        return Err(invalid("route prefix has host bits set"));
    }
    Ok(())
}

#[inline]
fn prefix_key(prefix: Ipv4Cidr) -> (u8, u32) {
    (prefix.prefix_len(), u32::from(prefix.network().address()))
}

#[inline]
fn mask(len: u32) -> u32 {
    u32::MAX.checked_shl(32 - len).unwrap_or(0)
}

/// Longest-prefix match: one map per prefix length, keyed by the masked
/// address. Each key holds a non-empty list of entries, best first.
#[derive(Debug, Clone)]
struct PrefixMap<E> {
    by_len: [HashMap<u32, Vec<E>, BuildHasherDefault<AddrHasher>>; 33],
    /// Bit `n` set iff `by_len[n]` is non-empty.
    lens: u64,
}

impl<E> Default for PrefixMap<E> {
    fn default() -> Self {
        PrefixMap {
            by_len: std::array::from_fn(|_| HashMap::default()),
            lens: 0,
        }
    }
}

impl<E> PrefixMap<E> {
    /// The best entry of the longest prefix holding `addr`.
    #[inline]
    fn lookup(&self, addr: u32) -> Option<&E> {
        let mut lens = self.lens;
        while lens != 0 {
            let len = 63 - lens.leading_zeros();
            lens &= !(1u64 << len);
            if let Some(entries) = self.by_len[len as usize].get(&(addr & mask(len))) {
                return entries.first();
            }
        }
        None
    }

    fn entries(&self, len: u8, key: u32) -> &[E] {
        self.by_len[usize::from(len)]
            .get(&key)
            .map_or(&[], Vec::as_slice)
    }

    /// The entry list of a prefix, created empty if absent. The caller
    /// must leave it non-empty (it only ever pushes).
    fn entries_mut(&mut self, len: u8, key: u32) -> &mut Vec<E> {
        self.lens |= 1 << len;
        self.by_len[usize::from(len)].entry(key).or_default()
    }

    /// Keeps the entries of one prefix for which `keep` is true.
    fn retain_at(&mut self, len: u8, key: u32, keep: impl FnMut(&E) -> bool) {
        let map = &mut self.by_len[usize::from(len)];
        if let Some(entries) = map.get_mut(&key) {
            entries.retain(keep);
            if entries.is_empty() {
                map.remove(&key);
            }
        }
        self.sync_len(len);
    }

    /// Keeps the entries, across all prefixes, for which `keep` is true.
    fn retain_all(&mut self, mut keep: impl FnMut(&E) -> bool) {
        for len in 0..=32u8 {
            self.by_len[usize::from(len)].retain(|_, entries| {
                entries.retain(&mut keep);
                !entries.is_empty()
            });
            self.sync_len(len);
        }
    }

    fn sync_len(&mut self, len: u8) {
        if self.by_len[usize::from(len)].is_empty() {
            self.lens &= !(1 << len);
        }
    }

    fn len(&self) -> usize {
        self.by_len
            .iter()
            .flat_map(|m| m.values())
            .map(Vec::len)
            .sum()
    }

    /// All entries, longest prefixes first.
    fn iter(&self) -> impl Iterator<Item = &E> + '_ {
        self.by_len.iter().rev().flat_map(|m| m.values().flatten())
    }
}

/// Hasher for `u32` address keys: a multiplicative hash folded so both the
/// high bits (hashbrown's control byte) and the low bits (its bucket index)
/// depend on every input bit — masked prefixes have all-zero low bits.
/// Keys are configured routes, not attacker-chosen, so no DoS resistance
/// is needed; lookups never insert.
#[derive(Debug, Default, Clone, Copy)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b) ^ (self.0 as u32).rotate_left(8));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        let x = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    const ETH0: IfIndex = IfIndex(1);
    const ETH1: IfIndex = IfIndex(2);
    const ETH2: IfIndex = IfIndex(3);

    fn unicast(dev: IfIndex, next_hop: &str, src: Option<&str>) -> Option<RouteResult> {
        Some(RouteResult {
            kind: RouteKind::Unicast,
            dev,
            next_hop: ip(next_hop),
            src: src.map(ip),
        })
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = RouteTable::new();
        t.add_route(Route::via(cidr("10.0.0.0/8"), ip("192.0.2.1"), ETH0))
            .unwrap();
        t.add_route(Route::direct(cidr("10.1.0.0/16"), ETH1))
            .unwrap();
        t.add_route(Route::via(cidr("10.1.2.0/24"), ip("192.0.2.9"), ETH2))
            .unwrap();
        t.add_route(Route::direct(cidr("10.1.2.3/32"), ETH0))
            .unwrap();

        assert_eq!(t.lookup(ip("10.9.9.9")), unicast(ETH0, "192.0.2.1", None));
        assert_eq!(t.lookup(ip("10.1.9.9")), unicast(ETH1, "10.1.9.9", None));
        assert_eq!(t.lookup(ip("10.1.2.4")), unicast(ETH2, "192.0.2.9", None));
        assert_eq!(t.lookup(ip("10.1.2.3")), unicast(ETH0, "10.1.2.3", None));
        assert_eq!(t.lookup(ip("11.0.0.1")), None, "no default route");
        assert_eq!(t.routes().count(), 4);
        // Longest first.
        assert_eq!(t.routes().next().unwrap().dst, cidr("10.1.2.3/32"));
    }

    #[test]
    fn default_route_catches_the_rest() {
        let mut t = RouteTable::new();
        t.add_address(cidr("192.168.1.10/24"), ETH0).unwrap();
        t.add_route(Route::via(cidr("0.0.0.0/0"), ip("192.168.1.1"), ETH0))
            .unwrap();
        assert_eq!(
            t.lookup(ip("8.8.8.8")),
            unicast(ETH0, "192.168.1.1", Some("192.168.1.10"))
        );
        assert_eq!(
            t.lookup(ip("192.168.1.77")),
            unicast(ETH0, "192.168.1.77", Some("192.168.1.10"))
        );
        assert_eq!(
            t.to_string(),
            "192.168.1.0/24 dev if1 src 192.168.1.10 metric 0\n\
             default via 192.168.1.1 dev if1 metric 0\n"
        );
    }

    #[test]
    fn per_route_source_and_source_selection() {
        let mut t = RouteTable::new();
        t.add_address(cidr("10.0.0.2/24"), ETH0).unwrap();
        t.add_address(cidr("172.16.0.2/24"), ETH0).unwrap();
        t.add_address(cidr("192.0.2.2/24"), ETH1).unwrap();
        // The route's preferred source wins over any address of the device.
        let mut r = Route::via(cidr("198.51.100.0/24"), ip("10.0.0.1"), ETH0);
        r.src = Some(ip("172.16.0.2"));
        t.add_route(r).unwrap();
        assert_eq!(
            t.lookup(ip("198.51.100.5")),
            unicast(ETH0, "10.0.0.1", Some("172.16.0.2"))
        );
        // Without one: the device's address on the gateway's subnet...
        t.add_route(Route::via(cidr("203.0.113.0/24"), ip("172.16.0.1"), ETH0))
            .unwrap();
        assert_eq!(
            t.lookup(ip("203.0.113.5")),
            unicast(ETH0, "172.16.0.1", Some("172.16.0.2"))
        );
        // ...else its first address.
        t.add_route(Route::via(cidr("100.64.0.0/10"), ip("100.64.0.1"), ETH0))
            .unwrap();
        assert_eq!(
            t.lookup(ip("100.64.1.1")),
            unicast(ETH0, "100.64.0.1", Some("10.0.0.2"))
        );
        // A device without addresses has no source to offer.
        t.add_route(Route::direct(cidr("10.99.0.0/16"), ETH2))
            .unwrap();
        assert_eq!(t.lookup(ip("10.99.0.1")), unicast(ETH2, "10.99.0.1", None));
        assert_eq!(t.select_src(ETH1, ip("1.2.3.4")), Some(ip("192.0.2.2")));
    }

    #[test]
    fn local_and_broadcast_entries() {
        let mut t = RouteTable::new();
        t.add_address(cidr("10.0.0.1/24"), ETH0).unwrap();
        t.add_route(Route::via(cidr("0.0.0.0/0"), ip("10.0.0.254"), ETH0))
            .unwrap();
        // Local beats the connected /24 and the default route.
        assert_eq!(
            t.lookup(ip("10.0.0.1")),
            Some(RouteResult {
                kind: RouteKind::Local,
                dev: ETH0,
                next_hop: ip("10.0.0.1"),
                src: Some(ip("10.0.0.1")),
            })
        );
        assert!(t.is_local(ip("10.0.0.1")));
        assert!(!t.is_local(ip("10.0.0.2")));
        assert!(!t.is_local(ip("10.0.0.255")));
        // Directed broadcast of the subnet.
        assert_eq!(
            t.lookup(ip("10.0.0.255")),
            Some(RouteResult {
                kind: RouteKind::Broadcast,
                dev: ETH0,
                next_hop: ip("10.0.0.255"),
                src: Some(ip("10.0.0.1")),
            })
        );
        // Limited broadcast goes out of the default route's device.
        assert_eq!(
            t.lookup(Ipv4Addr::BROADCAST),
            Some(RouteResult {
                kind: RouteKind::Broadcast,
                dev: ETH0,
                next_hop: Ipv4Addr::BROADCAST,
                src: Some(ip("10.0.0.1")),
            })
        );
        // /31 and /32 have no broadcast address.
        t.add_address(cidr("192.0.2.0/31"), ETH1).unwrap();
        assert_eq!(
            t.lookup(ip("192.0.2.1")),
            unicast(ETH1, "192.0.2.1", Some("192.0.2.0"))
        );
        t.add_address(cidr("198.51.100.7/32"), ETH2).unwrap();
        assert!(t.is_local(ip("198.51.100.7")));
        assert_eq!(t.routes().filter(|r| r.dev == ETH2).count(), 0);
    }

    #[test]
    fn removal() {
        let mut t = RouteTable::new();
        t.add_address(cidr("10.0.0.1/24"), ETH0).unwrap();
        t.add_route(Route::via(cidr("0.0.0.0/0"), ip("10.0.0.254"), ETH0))
            .unwrap();
        let gone = t.remove_route(cidr("0.0.0.0/0"), 0).unwrap();
        assert_eq!(gone.gateway, Some(ip("10.0.0.254")));
        assert_eq!(t.lookup(ip("8.8.8.8")), None);
        let err = t.remove_route(cidr("0.0.0.0/0"), 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);

        let removed = t.remove_address(ip("10.0.0.1")).unwrap();
        assert_eq!(
            removed,
            IfAddr {
                addr: cidr("10.0.0.1/24"),
                dev: ETH0
            }
        );
        assert_eq!(t.lookup(ip("10.0.0.1")), None);
        assert_eq!(t.lookup(ip("10.0.0.255")), None);
        assert_eq!(t.lookup(ip("10.0.0.7")), None);
        assert_eq!(t.routes().count(), 0);
        assert_eq!(t.addresses().count(), 0);
        assert_eq!(
            t.remove_address(ip("10.0.0.1")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // Everything is gone, the bitmask included.
        assert_eq!(t.local.lens, 0);
        assert_eq!(t.main.lens, 0);
    }

    #[test]
    fn secondary_address_is_promoted() {
        let mut t = RouteTable::new();
        t.add_address(cidr("10.0.0.1/24"), ETH0).unwrap();
        t.add_address(cidr("10.0.0.2/24"), ETH0).unwrap();
        assert_eq!(
            t.lookup(ip("10.0.0.9")),
            unicast(ETH0, "10.0.0.9", Some("10.0.0.1"))
        );
        t.remove_address(ip("10.0.0.1")).unwrap();
        // The subnet stays reachable, now from the secondary, and the shared
        // broadcast entry survives.
        assert_eq!(
            t.lookup(ip("10.0.0.9")),
            unicast(ETH0, "10.0.0.9", Some("10.0.0.2"))
        );
        assert_eq!(
            t.lookup(ip("10.0.0.255")).unwrap().kind,
            RouteKind::Broadcast
        );
        assert_eq!(
            t.lookup(ip("10.0.0.255")).unwrap().src,
            Some(ip("10.0.0.2"))
        );
        assert!(!t.is_local(ip("10.0.0.1")));
        assert!(t.is_local(ip("10.0.0.2")));
    }

    #[test]
    fn metric_orders_routes_to_one_prefix() {
        let mut t = RouteTable::new();
        let backup = Route {
            metric: 100,
            ..Route::via(cidr("0.0.0.0/0"), ip("10.1.0.1"), ETH1)
        };
        t.add_route(backup).unwrap();
        t.add_route(Route::via(cidr("0.0.0.0/0"), ip("10.0.0.1"), ETH0))
            .unwrap();
        assert_eq!(t.lookup(ip("1.1.1.1")), unicast(ETH0, "10.0.0.1", None));
        t.remove_route(cidr("0.0.0.0/0"), 0).unwrap();
        assert_eq!(t.lookup(ip("1.1.1.1")), unicast(ETH1, "10.1.0.1", None));
        assert_eq!(t.remove_route(cidr("0.0.0.0/0"), 100).unwrap(), backup);
    }

    #[test]
    fn errors() {
        let mut t = RouteTable::new();
        let bad_prefix = t.add_route(Route::direct(cidr("10.0.0.1/24"), ETH0));
        assert_eq!(bad_prefix.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        for gw in ["0.0.0.0", "255.255.255.255", "224.0.0.1"] {
            let r = t.add_route(Route::via(cidr("10.0.0.0/8"), ip(gw), ETH0));
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidInput, "{gw}");
        }
        t.add_route(Route::direct(cidr("10.0.0.0/8"), ETH0))
            .unwrap();
        let dup = t.add_route(Route::direct(cidr("10.0.0.0/8"), ETH1));
        assert_eq!(dup.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        // Another metric is another route.
        t.add_route(Route {
            metric: 1,
            ..Route::direct(cidr("10.0.0.0/8"), ETH1)
        })
        .unwrap();
        // A connected route collides like any other.
        t.add_address(cidr("192.0.2.1/24"), ETH0).unwrap();
        let dup = t.add_route(Route::direct(cidr("192.0.2.0/24"), ETH1));
        assert_eq!(dup.unwrap_err().kind(), io::ErrorKind::AlreadyExists);

        let again = t.add_address(cidr("192.0.2.1/16"), ETH1);
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AddrInUse);
        for bad in ["0.0.0.0/8", "224.0.0.5/24", "255.255.255.255/32"] {
            let r = t.add_address(cidr(bad), ETH0);
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        // Failed calls changed nothing.
        assert_eq!(t.addresses().count(), 1);
        assert_eq!(t.routes().count(), 3);
    }

    #[test]
    fn remove_device_takes_its_routes_and_addresses() {
        let mut t = RouteTable::new();
        t.add_address(cidr("10.0.0.1/24"), ETH0).unwrap();
        t.add_address(cidr("10.1.0.1/24"), ETH1).unwrap();
        t.add_route(Route::via(cidr("0.0.0.0/0"), ip("10.0.0.254"), ETH0))
            .unwrap();
        t.add_route(Route::via(cidr("172.16.0.0/12"), ip("10.1.0.254"), ETH1))
            .unwrap();
        assert_eq!(t.remove_device(ETH0), 2);
        assert_eq!(t.lookup(ip("8.8.8.8")), None);
        assert!(!t.is_local(ip("10.0.0.1")));
        assert_eq!(t.lookup(ip("10.0.0.255")), None);
        assert_eq!(
            t.lookup(ip("172.16.1.1")),
            unicast(ETH1, "10.1.0.254", Some("10.1.0.1"))
        );
        assert_eq!(t.remove_device(ETH0), 0);
    }

    #[test]
    fn hasher_spreads_masked_prefixes() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<AddrHasher>::default();
        // /24 prefixes differ only above bit 8; their low hash bits must not.
        let low: std::collections::HashSet<u64> =
            (0..256u32).map(|i| build.hash_one(i << 8) & 0xff).collect();
        assert!(
            low.len() > 128,
            "only {} distinct bucket indices",
            low.len()
        );
    }

    /// Routes as (prefix, metric, dev) triples for the brute-force model.
    fn arb_routes() -> impl Strategy<Value = Vec<(u32, u8, u32, u32)>> {
        // Few distinct high bits so prefixes nest and collide often.
        proptest::collection::vec((0u32..16, 0u8..=32, 0u32..3, 1u32..5), 0..40)
    }

    proptest! {
        #[test]
        fn lookup_matches_linear_scan(routes in arb_routes(), probes in proptest::collection::vec(0u32..16, 1..40)) {
            let mut t = RouteTable::new();
            let mut added: Vec<Route> = Vec::new();
            for (hi, len, metric, dev) in routes {
                let addr = Ipv4Addr::from(hi << 28 | hi << 4);
                let dst = Ipv4Cidr::new(addr, len).unwrap().network();
                let route = Route { metric, ..Route::direct(dst, IfIndex(dev)) };
                if t.add_route(route).is_ok() {
                    added.push(route);
                }
            }
            for p in probes {
                let dst = Ipv4Addr::from(p << 28 | p << 4 | 1);
                // Longest prefix, then lowest metric (unique per prefix).
                let want = added
                    .iter()
                    .filter(|r| r.dst.contains_addr(dst))
                    .min_by_key(|r| (std::cmp::Reverse(r.dst.prefix_len()), r.metric))
                    .map(|r| r.dev);
                prop_assert_eq!(t.lookup(dst).map(|r| r.dev), want);
            }
        }
    }
}
