//! Helpers shared by the stack integration tests (`mod common;`):
//! topologies, tap recorders, frame builders, waiting.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netrt::runtime::{Builder, Runtime};
use netrt::stack::ns::Namespace;
use netrt::stack::ptype::{TapDirection, TapHandle};
use netrt::stack::topology::{CableSpec, Topo, Topology};
use netrt::stack::IfIndex;
use netrt::wire::{
    ChecksumMode, EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet,
    Ipv4Repr,
};

/// Length of an Ethernet header.
pub const ETH: usize = 14;

/// Parses a dotted-quad address.
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// The usual cable: a is 10.0.0.1/24, b is 10.0.0.2/24.
pub fn ab_cable() -> CableSpec {
    CableSpec::new("10.0.0.1/24", "10.0.0.2/24")
}

/// Namespaces "a" and "b" joined by one cable built from `spec`, on a
/// runtime of `cores` cores.
pub fn two_namespaces(cores: usize, spec: CableSpec) -> (Runtime, Topo) {
    let rt = Builder::new().cores(cores).build().unwrap();
    let topo = Topology::new()
        .namespace("a")
        .namespace("b")
        .cable("a", "b", spec)
        .build(&rt.handle())
        .unwrap();
    (rt, topo)
}

/// Handles to the namespaces `names` of `topo`.
pub fn namespaces<const N: usize>(topo: &Topo, names: [&str; N]) -> [Namespace; N] {
    names.map(|name| topo.ns(name).clone())
}

/// a (10.0.0.1) — r (10.0.0.254 | 10.0.1.254) — b (10.0.1.2), `queues`
/// queues per port; r forwards if `forward`.
pub fn three_namespaces(rt: &Runtime, forward: bool, queues: u16) -> Topo {
    Topology::new()
        .namespace("a")
        .namespace("r")
        .namespace("b")
        .cable(
            "a",
            "r",
            CableSpec::new("10.0.0.1/24", "10.0.0.254/24").queues(queues),
        )
        .cable(
            "r",
            "b",
            CableSpec::new("10.0.1.254/24", "10.0.1.2/24").queues(queues),
        )
        .route("a", "default via 10.0.0.254")
        .route("b", "default via 10.0.1.254")
        .forward("r", forward)
        .build(&rt.handle())
        .unwrap()
}

/// Records `f` of every IPv4 datagram `ns` receives (on `dev`, if given)
/// for which `f` returns something.
pub fn ipv4_in_tap<T: Send + 'static>(
    ns: &Namespace,
    dev: Option<IfIndex>,
    f: impl Fn(&Ipv4Packet<&[u8]>) -> Option<T> + Send + Sync + 'static,
) -> (Arc<Mutex<Vec<T>>>, TapHandle) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let tap = ns.add_packet_tap(move |frame, dir, d| {
        if dir != TapDirection::In || dev.is_some_and(|dev| dev != d) {
            return;
        }
        if frame.len() < ETH || frame[12..14] != [8, 0] {
            return;
        }
        if let Some(v) = Ipv4Packet::new_checked(&frame[ETH..])
            .ok()
            .as_ref()
            .and_then(&f)
        {
            l.lock().unwrap().push(v);
        }
    });
    (log, tap)
}

/// An IPv4 header with the defaults the tests use (TTL 64, ident 1, no
/// flags); adjust fields with struct update syntax.
pub fn ipv4_repr(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload_len: usize,
) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 1,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    }
}

/// An Ethernet + IPv4 frame with header `ipr` (checksum filled in); `l4`
/// writes the transport bytes into the IP payload.
pub fn emit_ipv4_frame(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    ipr: &Ipv4Repr,
    l4: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let mut buf = vec![0u8; ETH + ipr.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut frame);
    let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
    ipr.emit(&mut packet, ChecksumMode::Software);
    l4(packet.payload_mut());
    buf
}

/// Rewrites the IPv4 header checksum of an Ethernet frame after an edit.
pub fn fix_ip_checksum(frame: &mut [u8]) {
    Ipv4Packet::new_unchecked(&mut frame[ETH..]).fill_checksum();
}

/// An EtherType from the IEEE "local experimental" range: no handler.
pub const ETH_P_EXPERIMENTAL: u16 = 0x88b5;

/// What a tap saw: frame, direction, device, core it ran on.
pub type Seen = (Vec<u8>, TapDirection, IfIndex, Option<usize>);

/// Records every frame `ns`'s taps see.
pub fn record(ns: &Namespace) -> (Arc<Mutex<Vec<Seen>>>, TapHandle) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let tap = ns.add_packet_tap(move |frame, dir, dev| {
        l.lock()
            .unwrap()
            .push((frame.to_vec(), dir, dev, netrt::current_core()));
    });
    (log, tap)
}

/// Frames in `log` that went `dir`.
pub fn count(log: &Mutex<Vec<Seen>>, dir: TapDirection) -> usize {
    log.lock().unwrap().iter().filter(|s| s.1 == dir).count()
}

/// An Ethernet frame.
pub fn eth(dst: EthernetAddress, src: EthernetAddress, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An Ethernet + IPv4 frame (valid header checksum) carrying `payload`
/// as protocol `proto`.
pub fn ipv4_frame(
    dst_mac: EthernetAddress,
    src_mac: EthernetAddress,
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = netrt::wire::checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(payload);
    eth(dst_mac, src_mac, 0x0800, &ip)
}

/// Yields the task until `cond` holds; panics after 10 s.
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        netrt::time::sleep(Duration::from_micros(200)).await;
    }
}

/// A small deterministic generator for fuzz-style inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
