//! Helpers shared by the stack-core integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netrt::stack::ns::Namespace;
use netrt::stack::ptype::{TapDirection, TapHandle};
use netrt::stack::IfIndex;
use netrt::wire::EthernetAddress;

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
