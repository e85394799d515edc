//! The IPv4 stack's building blocks.
//!
//! Each module is pure logic: no I/O, no threads, time passed in as
//! [`Instant`](std::time::Instant) arguments. They return what the caller
//! must do (send an ARP request, an ICMP error, these queued packets)
//! instead of doing it, so each is testable alone and the stack wires them
//! to devices and sockets.
//!
//! * [`route`]: routing table (local/broadcast table + longest-prefix match).
//! * [`neigh`]: ARP neighbour state machine with per-neighbour pending queues.
//! * [`frag`]: IPv4 fragmentation on output.
//! * [`reasm`]: IPv4 reassembly on input.
//! * [`ephemeral`]: RFC 6056 ephemeral port selection (UDP and TCP).
//! * [`qdisc`]: queueing disciplines (`pfifo_fast`).
//! * [`siphash`]: SipHash-2-4, the keyed hash of ISNs and SYN cookies.
//! * [`snmp`]: per-core `/proc/net/snmp` counters.
//! * [`hooks`]: netfilter-style hook points.
//! * [`tcp`]: TCP building blocks (RTO, congestion control, ISN, SYN cookies).

use std::fmt;

pub mod arp;
pub mod capture;
pub mod dev;
pub mod ephemeral;
pub mod frag;
pub(crate) mod gro;
pub mod hooks;
pub mod icmp;
pub mod ipv4;
pub mod neigh;
pub mod netif;
pub mod ns;
pub mod pcap;
pub(crate) mod percore;
pub mod ptype;
pub mod qdisc;
pub mod reasm;
pub mod route;
pub(crate) mod rss_hint;
pub mod siphash;
pub mod skb;
pub mod snmp;
pub mod tcp;
pub mod topology;
pub(crate) mod udp;
pub(crate) mod wakers;

/// A network device's index in its namespace (Linux `ifindex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfIndex(pub u32);

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "if{}", self.0)
    }
}
