//! A builder for test and example networks: namespaces, emulated igb
//! cables between them, addresses and routes, in a few lines.
//!
//! ```
//! use netrt::stack::topology::{CableSpec, Topology};
//!
//! let rt = netrt::runtime::Builder::new().cores(2).build()?;
//! let topo = Topology::new()
//!     .namespace("client")
//!     .namespace("router")
//!     .namespace("server")
//!     .cable("client", "router", CableSpec::new("10.0.0.1/24", "10.0.0.254/24").queues(2))
//!     .cable("router", "server", CableSpec::new("10.0.1.254/24", "10.0.1.2/24"))
//!     .route("client", "default via 10.0.0.254")
//!     .route("server", "default via 10.0.1.254")
//!     .forward("router", true)
//!     .build(&rt.handle())?;
//!
//! let client = topo.ns("client");
//! let eth0 = client.device_by_name("eth0").unwrap();
//! assert_eq!(eth0.mac().to_string(), "02:6e:74:00:01:01");
//! let route = client.routes().lookup("10.0.1.2".parse().unwrap()).unwrap();
//! assert_eq!(route.next_hop, "10.0.0.254".parse::<std::net::Ipv4Addr>().unwrap());
//! assert!(topo.ns("router").ip_forward());
//! println!("{topo}");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Devices are named `eth0`, `eth1`, ... in each namespace in the order
//! cables are added; MAC addresses are locally administered and
//! deterministic: `02:6e:74:<cable number, 16 bits>:<01 for the A side,
//! 02 for the B side>`, cables numbered from 1.

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;

use netrt_igb::attach::{Cable, CableConfig, CableStats, Dir};
use netrt_igb::driver::Itr;
use netrt_igb::port::{EmulatedPort, PairConfig, PortSpec};

use super::dev::igb::IgbNetDev;
use super::dev::tap::{TapPort, TapPortConfig};
use super::dev::NetDevice;
use super::ns::Namespace;
use super::route::Route;
use super::IfIndex;
use crate::runtime::Handle;
use crate::wire::Ipv4Cidr;

/// One cable: queues per port, impairments, and the addresses of its two
/// ends (`""` for none).
#[derive(Clone, Debug, PartialEq)]
pub struct CableSpec {
    /// Queue pairs of each port (RSS spreads flows over them; queue `q`
    /// is polled by core `q % cores`).
    pub queues: u16,
    /// Loss, duplication, reordering, corruption, delay, rate per direction
    /// (A→B is the first namespace named in [`Topology::cable`]).
    pub impairments: CableConfig,
    /// Address of the A end, `"10.0.0.1/24"` style; empty for none.
    pub a_addr: String,
    /// Address of the B end.
    pub b_addr: String,
    /// Open both ports in promiscuous mode (the NIC accepts every unicast
    /// frame; the stack still drops those for other hosts, counted).
    pub promiscuous: bool,
    /// IP MTU of both ends (`None`: 1500).
    pub mtu: Option<usize>,
    /// Interrupt throttling of both ports' queue vectors (`ethtool -C
    /// rx-usecs`). Default [`Itr::Off`]: an emulated cable delivers in
    /// bursts already (one per tail write, and the stack sends one burst
    /// per NAPI poll or task batch) and a masked vector stays masked while
    /// NAPI polls, so throttling only adds latency — with the hardware
    /// default of ~20k interrupts/s a ping-pong is capped near 20k round
    /// trips/s (see `netrt-bench udp`).
    pub itr: Itr,
}

impl CableSpec {
    /// A perfect single-queue cable with these end addresses.
    pub fn new(a_addr: &str, b_addr: &str) -> CableSpec {
        CableSpec {
            queues: 1,
            impairments: CableConfig::default(),
            a_addr: a_addr.to_string(),
            b_addr: b_addr.to_string(),
            promiscuous: false,
            mtu: None,
            itr: Itr::Off,
        }
    }

    /// Sets the queue pairs per port.
    pub fn queues(mut self, queues: u16) -> CableSpec {
        self.queues = queues;
        self
    }

    /// Sets the impairments.
    pub fn impairments(mut self, impairments: CableConfig) -> CableSpec {
        self.impairments = impairments;
        self
    }

    /// Sets the IP MTU of both ends.
    pub fn mtu(mut self, mtu: usize) -> CableSpec {
        self.mtu = Some(mtu);
        self
    }

    /// Sets promiscuous mode of both ports.
    pub fn promiscuous(mut self, on: bool) -> CableSpec {
        self.promiscuous = on;
        self
    }

    /// Sets the interrupt throttling of both ports.
    pub fn itr(mut self, itr: Itr) -> CableSpec {
        self.itr = itr;
        self
    }
}

impl Default for CableSpec {
    fn default() -> Self {
        CableSpec::new("", "")
    }
}

/// What to build; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Topology {
    namespaces: Vec<String>,
    cables: Vec<(String, String, CableSpec)>,
    routes: Vec<(String, String)>,
    forward: Vec<(String, bool)>,
    taps: Vec<(String, String, TapPortConfig)>,
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Topology {
        Topology::default()
    }

    /// Adds a namespace.
    pub fn namespace(mut self, name: &str) -> Topology {
        self.namespaces.push(name.to_string());
        self
    }

    /// Adds a cable between namespaces `a` and `b`: an emulated igb port
    /// in each, the next free `ethN`, addresses from `spec`.
    pub fn cable(mut self, a: &str, b: &str, spec: CableSpec) -> Topology {
        self.cables.push((a.to_string(), b.to_string(), spec));
        self
    }

    /// Adds a route to namespace `ns`, `ip route` style:
    /// `<dst> [via <gateway>] [dev <name>] [src <addr>] [metric <n>]`,
    /// where `<dst>` is `default`, a prefix (`10.1.0.0/16`) or an address.
    /// Without `dev`, the device is the one the gateway is reached on.
    pub fn route(mut self, ns: &str, route: &str) -> Topology {
        self.routes.push((ns.to_string(), route.to_string()));
        self
    }

    /// Adds an igb port in namespace `ns` wired to the Linux TAP
    /// `cfg.ifname` (the next free `ethN`, after the cables' devices), with
    /// address `addr` (`""` for none). The TAP is opened in the network
    /// namespace of the thread calling [`Topology::build`]; bring its Linux
    /// side up before building, or the address's announcement is lost.
    /// See [`Namespace::add_igb_tap`].
    pub fn tap(mut self, ns: &str, addr: &str, cfg: TapPortConfig) -> Topology {
        self.taps.push((ns.to_string(), addr.to_string(), cfg));
        self
    }

    /// Turns IPv4 forwarding of namespace `ns` on or off.
    pub fn forward(mut self, ns: &str, on: bool) -> Topology {
        self.forward.push((ns.to_string(), on));
        self
    }

    /// Builds everything; devices are polled by the cores of `rt`.
    ///
    /// Errors: `InvalidInput` for an unknown or duplicate namespace name, a
    /// bad address or route, a gateway no device reaches; the errors of
    /// [`Namespace::add_address`] and [`Namespace::add_route`], and of
    /// opening the emulated ports.
    pub fn build(&self, rt: &Handle) -> io::Result<Topo> {
        let mut topo = Topo {
            namespaces: Vec::with_capacity(self.namespaces.len()),
            cables: Vec::with_capacity(self.cables.len()),
            taps: Vec::with_capacity(self.taps.len()),
        };
        for name in &self.namespaces {
            if topo.get_ns(name).is_some() {
                return Err(invalid(format!("namespace {name} declared twice")));
            }
            topo.namespaces.push(Namespace::new(name)?);
        }
        for (i, (a, b, spec)) in self.cables.iter().enumerate() {
            let cable = Self::build_cable(&topo, rt, i + 1, a, b, spec)?;
            topo.cables.push(cable);
        }
        for (ns, addr, cfg) in &self.taps {
            let ns = topo.lookup(ns)?;
            let addr = parse_opt_cidr(addr)?;
            let name = format!("eth{}", ns.devices().len() - 1);
            let port = ns.add_igb_tap(rt, &name, cfg)?;
            if let Some(addr) = addr {
                ns.add_address(port.ifindex(), addr)?;
            }
            topo.taps.push((ns.clone(), port));
        }
        for (ns, route) in &self.routes {
            let ns = topo.lookup(ns)?;
            let route = parse_route(ns, route)?;
            ns.add_route(route)?;
        }
        for (ns, on) in &self.forward {
            topo.lookup(ns)?.set_ip_forward(*on);
        }
        Ok(topo)
    }

    fn build_cable(
        topo: &Topo,
        rt: &Handle,
        number: usize,
        a: &str,
        b: &str,
        spec: &CableSpec,
    ) -> io::Result<TopoCable> {
        let (ns_a, ns_b) = (topo.lookup(a)?, topo.lookup(b)?);
        let (addr_a, addr_b) = (parse_opt_cidr(&spec.a_addr)?, parse_opt_cidr(&spec.b_addr)?);
        let port_spec = |side: u8| {
            let mut s = PortSpec::new(spec.queues, mac_for(number, side));
            s.driver.promiscuous = spec.promiscuous;
            s.driver.itr = spec.itr;
            s
        };
        let (port_a, port_b) = EmulatedPort::pair_with_cable(&PairConfig {
            a: port_spec(1),
            b: port_spec(2),
            cable: spec.impairments,
        })?;
        let cable = port_a
            .cable()
            .cloned()
            .ok_or_else(|| io::Error::other("emulated pair without a cable"))?;
        let end = |ns: &Namespace, port: EmulatedPort, addr: Option<Ipv4Cidr>| {
            let name = format!("eth{}", ns.devices().len() - 1);
            let dev = ns.add_igb(rt, &name, port)?;
            if let Some(mtu) = spec.mtu {
                dev.set_mtu(mtu)?;
            }
            if let Some(addr) = addr {
                ns.add_address(dev.ifindex(), addr)?;
            }
            io::Result::Ok(CableEnd {
                ns: ns.clone(),
                dev,
            })
        };
        Ok(TopoCable {
            a: end(ns_a, port_a, addr_a)?,
            b: end(ns_b, port_b, addr_b)?,
            cable,
        })
    }
}

/// A deterministic, locally administered MAC for end `side` of cable
/// `number`.
fn mac_for(number: usize, side: u8) -> [u8; 6] {
    let n = (number as u16).to_be_bytes();
    [0x02, 0x6e, 0x74, n[0], n[1], side]
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Parses `a.b.c.d/len` (or a bare address: `/32`).
pub fn parse_cidr(s: &str) -> io::Result<Ipv4Cidr> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (
            a,
            l.parse::<u8>()
                .map_err(|_| invalid(format!("bad prefix length in {s:?}")))?,
        ),
        None => (s, 32),
    };
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| invalid(format!("bad address in {s:?}")))?;
    Ipv4Cidr::new(addr, len).map_err(|_| invalid(format!("bad prefix {s:?}")))
}

fn parse_opt_cidr(s: &str) -> io::Result<Option<Ipv4Cidr>> {
    if s.is_empty() {
        Ok(None)
    } else {
        parse_cidr(s).map(Some)
    }
}

fn parse_addr(s: Option<&str>, what: &str) -> io::Result<Ipv4Addr> {
    s.and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("route: bad or missing {what}")))
}

/// Parses an `ip route` style line against `ns` (for device names and the
/// gateway's device).
pub fn parse_route(ns: &Namespace, line: &str) -> io::Result<Route> {
    let mut words = line.split_whitespace();
    let dst = match words.next() {
        Some("default") => {
            Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0).map_err(|_| invalid("default route".into()))?
        }
        Some(d) => parse_cidr(d)?,
        None => return Err(invalid("empty route".into())),
    };
    let (mut gateway, mut dev, mut src, mut metric) = (None, None, None, 0);
    while let Some(word) = words.next() {
        match word {
            "via" => gateway = Some(parse_addr(words.next(), "gateway")?),
            "src" => src = Some(parse_addr(words.next(), "source")?),
            "dev" => {
                let name = words.next().unwrap_or_default();
                let d = ns.device_by_name(name).ok_or_else(|| {
                    invalid(format!("route: no device {name:?} in {}", ns.name()))
                })?;
                dev = Some(d.ifindex());
            }
            "metric" => {
                metric = words
                    .next()
                    .and_then(|m| m.parse().ok())
                    .ok_or_else(|| invalid(format!("route: bad metric in {line:?}")))?;
            }
            other => return Err(invalid(format!("route: unexpected {other:?} in {line:?}"))),
        }
    }
    let dev = match (dev, gateway) {
        (Some(dev), _) => dev,
        (None, Some(gw)) => gateway_device(ns, gw)?,
        (None, None) => return Err(invalid(format!("route {line:?} needs `via` or `dev`"))),
    };
    Ok(Route {
        dst,
        gateway,
        dev,
        src,
        metric,
    })
}

/// The device a gateway is directly reachable on.
fn gateway_device(ns: &Namespace, gw: Ipv4Addr) -> io::Result<IfIndex> {
    ns.routes()
        .routes()
        .filter(|r| r.gateway.is_none() && r.dst.contains_addr(gw))
        .max_by_key(|r| r.dst.prefix_len())
        .map(|r| r.dev)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NetworkUnreachable,
                format!("gateway {gw} is not on a link of {}", ns.name()),
            )
        })
}

/// A built topology.
pub struct Topo {
    namespaces: Vec<Namespace>,
    cables: Vec<TopoCable>,
    taps: Vec<(Namespace, TapPort)>,
}

/// One end of a cable.
#[derive(Clone, Debug)]
pub struct CableEnd {
    /// The namespace.
    pub ns: Namespace,
    /// The device.
    pub dev: Arc<IgbNetDev>,
}

/// A built cable.
#[derive(Clone)]
pub struct TopoCable {
    /// The A end (frames it sends travel [`Dir::AtoB`]).
    pub a: CableEnd,
    /// The B end.
    pub b: CableEnd,
    /// The emulated cable (impairment counters, [`Cable::stats`]).
    pub cable: Arc<Cable>,
}

impl fmt::Debug for TopoCable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopoCable")
            .field("a", &self.a)
            .field("b", &self.b)
            .finish_non_exhaustive()
    }
}

impl Topo {
    /// The namespace named `name`.
    ///
    /// # Panics
    ///
    /// If there is none (a typo in a test); see [`Topo::get_ns`].
    #[track_caller]
    pub fn ns(&self, name: &str) -> &Namespace {
        match self.get_ns(name) {
            Some(ns) => ns,
            None => panic!("topology has no namespace {name:?}"),
        }
    }

    /// The namespace named `name`, if any.
    pub fn get_ns(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|ns| ns.name() == name)
    }

    fn lookup(&self, name: &str) -> io::Result<&Namespace> {
        self.get_ns(name)
            .ok_or_else(|| invalid(format!("no namespace {name:?} in the topology")))
    }

    /// The igb device `dev` (`"eth0"`) of namespace `ns`.
    pub fn device(&self, ns: &str, dev: &str) -> Option<Arc<IgbNetDev>> {
        self.cables
            .iter()
            .flat_map(|c| [&c.a, &c.b])
            .find(|e| e.ns.name() == ns && e.dev.name() == dev)
            .map(|e| e.dev.clone())
            .or_else(|| {
                let (_, port) = self
                    .taps
                    .iter()
                    .find(|(n, p)| n.name() == ns && p.dev().name() == dev)?;
                Some(port.dev().clone())
            })
    }

    /// The first cable between namespaces `a` and `b` (either way round).
    pub fn cable(&self, a: &str, b: &str) -> Option<&TopoCable> {
        self.cables.iter().find(|c| {
            let (x, y) = (c.a.ns.name(), c.b.ns.name());
            (x == a && y == b) || (x == b && y == a)
        })
    }

    /// Every namespace, in declaration order.
    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }

    /// Every cable, in declaration order.
    pub fn cables(&self) -> &[TopoCable] {
        &self.cables
    }

    /// The port wired to the Linux TAP `ifname`.
    pub fn tap_port(&self, ifname: &str) -> Option<&TapPort> {
        self.taps
            .iter()
            .map(|(_, p)| p)
            .find(|p| p.tap_name() == ifname)
    }
}

impl fmt::Debug for Topo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topo")
            .field("namespaces", &self.namespaces)
            .field("cables", &self.cables)
            .field("taps", &self.taps)
            .finish()
    }
}

impl fmt::Display for Topo {
    /// Each namespace's devices, addresses and routes, then each cable with
    /// its counters and its ends' device counters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ns in &self.namespaces {
            write!(f, "{ns}")?;
        }
        for c in &self.cables {
            writeln!(
                f,
                "cable {}/{} <-> {}/{}",
                c.a.ns.name(),
                c.a.dev.name(),
                c.b.ns.name(),
                c.b.dev.name()
            )?;
            for (dir, label) in [(Dir::AtoB, "a->b"), (Dir::BtoA, "b->a")] {
                let CableStats {
                    sent,
                    delivered,
                    lost,
                    duplicated,
                    reordered,
                    corrupted,
                    overflow,
                } = c.cable.stats(dir);
                writeln!(
                    f,
                    "  {label}: sent {sent} delivered {delivered} lost {lost} dup {duplicated} \
                     reordered {reordered} corrupted {corrupted} overflow {overflow}"
                )?;
            }
            for end in [&c.a, &c.b] {
                let s = end.dev.stats();
                writeln!(
                    f,
                    "  {}/{}: rx {} pkts {} bytes ({} dropped), tx {} pkts {} bytes ({} dropped)",
                    end.ns.name(),
                    end.dev.name(),
                    s.rx_packets,
                    s.rx_bytes,
                    s.rx_dropped,
                    s.tx_packets,
                    s.tx_bytes,
                    s.tx_dropped
                )?;
            }
        }
        for (ns, port) in &self.taps {
            let s = port.stats();
            writeln!(
                f,
                "tap {}/{} <-> linux {} ({} queues, offloads {}): rx {} frames {} bytes \
                 ({} dropped), tx {} frames {} bytes ({} dropped, {} errors)",
                ns.name(),
                port.dev().name(),
                port.tap_name(),
                port.tap_queues(),
                if port.offloads() { "on" } else { "off" },
                s.rx_frames,
                s.rx_bytes,
                s.rx_drops,
                s.tx_frames,
                s.tx_bytes,
                s.tx_drops,
                s.tx_errors
            )?;
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_cidrs_and_routes() {
        assert_eq!(parse_cidr("10.0.0.1/24").unwrap().prefix_len(), 24);
        assert_eq!(parse_cidr("10.0.0.1").unwrap().prefix_len(), 32);
        for bad in ["10.0.0/24", "10.0.0.1/33", "x/1", "10.0.0.1/"] {
            assert_eq!(
                parse_cidr(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
        let ns = Namespace::new("r").unwrap();
        let r = parse_route(&ns, "127.1.0.0/16 dev lo metric 7 src 127.0.0.1").unwrap();
        assert_eq!(r.dev, IfIndex(1));
        assert_eq!(r.metric, 7);
        assert_eq!(r.src, Some(Ipv4Addr::LOCALHOST));
        let r = parse_route(&ns, "default via 127.0.0.9").unwrap();
        assert_eq!(r.dst.prefix_len(), 0);
        assert_eq!(r.gateway, Some(Ipv4Addr::new(127, 0, 0, 9)));
        assert_eq!(r.dev, IfIndex(1));
        let e = parse_route(&ns, "default via 10.9.9.9").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NetworkUnreachable);
        for bad in [
            "",
            "default",
            "10.0.0.0/8 dev eth9",
            "default via",
            "default bogus",
        ] {
            assert_eq!(
                parse_route(&ns, bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn macs_are_deterministic() {
        assert_eq!(mac_for(1, 1), [2, 0x6e, 0x74, 0, 1, 1]);
        assert_eq!(mac_for(300, 2), [2, 0x6e, 0x74, 1, 44, 2]);
    }
}
