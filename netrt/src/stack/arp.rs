//! ARP (RFC 826) and neighbour output: how an IPv4 packet finds the link
//! address of its next hop.
//!
//! * `rcv`: ARP input. Learns the sender, answers requests for our
//!   addresses, and sends the packets that were waiting for the sender.
//! * `neigh_output`: the per-packet transmit step after routing. The fast
//!   path reads the next hop's address from this core's snapshot of the
//!   resolved-neighbour cache, prepends the Ethernet header and hands the
//!   frame to the device: no lock, no allocation. A miss takes the
//!   neighbour-table lock and goes through the state machine of
//!   [`neigh`](super::neigh) (queueing the packet and sending a request).
//! * `announce`: gratuitous ARP when an address is added.
//! * `run_timers`: retransmissions, probes, aging (run by the namespace's
//!   timer task).
//!
//! The cache holds the entries in states whose address is used as is
//! (REACHABLE, DELAY, PROBE, PERMANENT). A STALE entry is left out so its
//! next use goes through the table, which starts its verification.
//! Because the fast path does not tell the table about uses, a busy entry
//! ages REACHABLE → STALE like an idle one and is re-verified by one
//! unicast probe every `reachable_time` + `delay_first_probe_time`, with
//! no packet delayed.
//!
//! Like Linux's default (`arp_ignore = 0`), a request is answered for any
//! local address, whichever device it arrived on. // linux: net/ipv4/arp.c

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::dev::NetDevice;
use super::icmp;
use super::ipv4::{self, timer};
use super::neigh::{
    ArpRequest, ArpSource, NeighAction, NeighInfo, NeighState, NeighStats, Resolve,
};
use super::ns::{Namespace, NsInner};
use super::percore;
use super::skb::PacketBuf;
use super::snmp::Ip;
use super::IfIndex;
use crate::wire::{
    arp, ethernet, ArpOperation, ArpPacket, ArpRepr, DstUnreachable, EtherType, EthernetAddress,
    EthernetFrame, EthernetRepr, Ipv4Packet,
};

/// ARP input: `pkt.data()` starts at the ARP header (the Ethernet header
/// was pulled; its destination is read through the marked MAC header).
/// // linux: arp_rcv → arp_process
pub(crate) fn rcv(ns: &NsInner, dev: &Arc<dyn NetDevice>, pkt: PacketBuf) {
    let stats = &ns.ip.arp_stats;
    let repr = match ArpPacket::new_checked(pkt.data()).and_then(|p| ArpRepr::parse(&p)) {
        Ok(repr) if !dev.is_loopback() && is_sane(&repr, dev) => repr,
        // Loopback has no ARP (IFF_NOARP).
        _ => {
            ArpCounters::inc(&stats.rx_errors);
            return;
        }
    };
    let is_request = repr.operation == ArpOperation::Request;
    ArpCounters::inc(if is_request {
        &stats.rx_requests
    } else {
        &stats.rx_replies
    });
    let (sip, tip) = (repr.source_protocol_addr, repr.target_protocol_addr);
    let (for_us, from_us) = percore::with_routes(ns, |r| (r.is_local(tip), r.is_local(sip)));
    if is_request && for_us {
        // An RFC 5227 probe (sender 0.0.0.0) is answered like any request:
        // the reply is what tells the prober the address is taken.
        send_arp(
            ns,
            dev,
            ArpOperation::Reply,
            repr.source_hardware_addr,
            tip,
            repr.source_hardware_addr,
            sip,
        );
    }
    if sip.is_unspecified() || from_us {
        // Nothing to learn from a probe; and someone else claiming our
        // address (a conflict) must not redirect our own traffic.
        return;
    }
    let source = if is_request && for_us {
        ArpSource::RequestForUs
    } else if !is_request && addressed_to(&pkt, dev) {
        ArpSource::Reply
    } else {
        ArpSource::Overheard
    };
    let now = Instant::now();
    let ifindex = dev.ifindex();
    let (flush, deadline) = {
        let mut neigh = ns.ip.neigh.lock();
        let table = neigh.table(ifindex);
        let flush = table.on_arp(sip, repr.source_hardware_addr, now, source);
        let info = table.get(sip);
        let deadline = table.next_deadline();
        sync_cache(ns, ifindex, sip, info);
        (flush, deadline)
    };
    if let Some(at) = deadline {
        timer::kick(ns, at);
    }
    if let Some(flush) = flush {
        for pkt in flush.packets {
            link_output(dev, flush.mac, pkt);
        }
    }
}

/// Rejects what Linux's `arp_process` rejects: multicast, broadcast and
/// loopback protocol addresses, a group or zero sender MAC, our own frames.
fn is_sane(repr: &ArpRepr, dev: &Arc<dyn NetDevice>) -> bool {
    let sip = repr.source_protocol_addr;
    let tip = repr.target_protocol_addr;
    let sha = repr.source_hardware_addr;
    !sip.is_multicast()
        && !sip.is_broadcast()
        && !sip.is_loopback()
        && !tip.is_multicast()
        && !tip.is_broadcast()
        && !tip.is_loopback()
        && !tip.is_unspecified()
        && sha.is_unicast()
        && !sha.is_unspecified()
        && sha != dev.mac()
}

/// Whether the frame carrying `pkt` was sent to `dev`'s own MAC (a reply
/// unicast to us confirms the sender; a broadcast one is only a hint).
fn addressed_to(pkt: &PacketBuf, dev: &Arc<dyn NetDevice>) -> bool {
    pkt.mac_header()
        .and_then(|h| EthernetFrame::new_checked(h).ok())
        .is_some_and(|f| f.dst_addr() == dev.mac())
}

/// Sends a gratuitous ARP request for `addr` on `dev` (an address was just
/// added), so neighbours holding an old link address for it update.
/// Also ties the namespace's timers to it (see [`ipv4::attach`]).
/// // linux: inetdev_event NETDEV_UP → arp_send(ARPOP_REQUEST, ip, ip)
pub(crate) fn announce(ns: &Arc<NsInner>, dev: &Arc<dyn NetDevice>, addr: Ipv4Addr) {
    ipv4::attach(ns);
    if dev.is_loopback() {
        return;
    }
    send_arp(
        ns,
        dev,
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        addr,
        EthernetAddress::UNSPECIFIED,
        addr,
    );
}

/// Sends IPv4 packet `pkt` (starting at its IP header) to `next_hop` on
/// `dev`. Loopback needs no resolution; broadcast and multicast next hops
/// map to their link addresses; everything else is resolved through the
/// neighbour cache, queued while a request is out.
/// // linux: ip_finish_output2 → neigh_output
pub(crate) fn neigh_output(
    ns: &NsInner,
    dev: &Arc<dyn NetDevice>,
    next_hop: Ipv4Addr,
    pkt: PacketBuf,
) {
    if dev.is_loopback() {
        return link_output(dev, EthernetAddress::UNSPECIFIED, pkt);
    }
    if next_hop.is_broadcast() {
        return link_output(dev, EthernetAddress::BROADCAST, pkt);
    }
    if next_hop.is_multicast() {
        return link_output(dev, multicast_mac(next_hop), pkt);
    }
    let key = (dev.ifindex(), next_hop);
    let cached = percore::with_snapshot(&ns.owner, &ns.ip.neigh_cache, |c| c.get(&key).copied());
    match cached {
        Some(mac) => link_output(dev, mac, pkt),
        None => resolve_slow(ns, dev, next_hop, pkt),
    }
}

/// The cache missed: ask the neighbour table (and maybe the network).
#[cold]
fn resolve_slow(ns: &NsInner, dev: &Arc<dyn NetDevice>, next_hop: Ipv4Addr, pkt: PacketBuf) {
    // Linux `arp_solicit`: the request is sent from the packet's source
    // when that is one of ours.
    let src_hint = Ipv4Packet::new_checked(pkt.data())
        .ok()
        .map(|p| p.src_addr());
    let now = Instant::now();
    let ifindex = dev.ifindex();
    let (outcome, deadline) = {
        let mut neigh = ns.ip.neigh.lock();
        let table = neigh.table(ifindex);
        let outcome = table.resolve(next_hop, now, pkt);
        let info = table.get(next_hop);
        let deadline = table.next_deadline();
        sync_cache(ns, ifindex, next_hop, info);
        (outcome, deadline)
    };
    if let Some(at) = deadline {
        timer::kick(ns, at);
    }
    match outcome {
        Resolve::Ready { mac, pkt } => link_output(dev, mac, pkt),
        Resolve::Queued => {}
        Resolve::SendRequest(req) => send_request(ns, dev, req, src_hint),
        Resolve::Dropped(_) => ns.snmp_core().inc(Ip::OutDiscards),
    }
}

/// Publishes `info`'s usable address for (`dev`, `ip`) in the fast-path
/// cache, or removes it. Called with the neighbour lock held, so cache
/// updates happen in table order.
fn sync_cache(ns: &NsInner, dev: IfIndex, ip: Ipv4Addr, info: Option<NeighInfo>) {
    let usable = info.and_then(|i| match i.state {
        NeighState::Reachable | NeighState::Delay | NeighState::Probe | NeighState::Permanent => {
            i.mac
        }
        _ => None,
    });
    let key = (dev, ip);
    if ns.ip.neigh_cache.load().get(&key).copied() == usable {
        return;
    }
    ns.ip.neigh_cache.update(|old| {
        let mut new = old.clone();
        match usable {
            Some(mac) => new.insert(key, mac),
            None => new.remove(&key),
        };
        new
    });
}

/// Prepends the Ethernet header (to `dst`, from `dev`'s address) and
/// transmits. // linux: neigh_hh_output / dev_hard_header
pub(crate) fn link_output(dev: &Arc<dyn NetDevice>, dst: EthernetAddress, mut pkt: PacketBuf) {
    let header = pkt.push_front(ethernet::HEADER_LEN);
    EthernetRepr {
        src_addr: dev.mac(),
        dst_addr: dst,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(header));
    dev.xmit(pkt);
}

/// The link address of IPv4 multicast group `group` (RFC 1112 §6.4).
fn multicast_mac(group: Ipv4Addr) -> EthernetAddress {
    let o = group.octets();
    EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

/// Sends the request the neighbour table asked for, from `src_hint` if it
/// is ours, else from `dev`'s best address for the target.
/// // linux: arp_solicit
fn send_request(
    ns: &NsInner,
    dev: &Arc<dyn NetDevice>,
    req: ArpRequest,
    src_hint: Option<Ipv4Addr>,
) {
    let src = percore::with_routes(ns, |r| match src_hint {
        Some(hint) if r.is_local(hint) => Some(hint),
        _ => r.select_src(dev.ifindex(), req.target),
    });
    let Some(src) = src else {
        ArpCounters::inc(&ns.ip.arp_stats.no_source);
        return;
    };
    send_arp(
        ns,
        dev,
        ArpOperation::Request,
        req.dst_mac.unwrap_or(EthernetAddress::BROADCAST),
        src,
        EthernetAddress::UNSPECIFIED,
        req.target,
    );
}

/// Builds and transmits one ARP packet from `dev`.
/// // linux: arp_create + arp_xmit
fn send_arp(
    ns: &NsInner,
    dev: &Arc<dyn NetDevice>,
    operation: ArpOperation,
    eth_dst: EthernetAddress,
    sender_ip: Ipv4Addr,
    target_mac: EthernetAddress,
    target_ip: Ipv4Addr,
) {
    let stats = &ns.ip.arp_stats;
    ArpCounters::inc(match operation {
        ArpOperation::Reply => &stats.tx_replies,
        _ => &stats.tx_requests,
    });
    let mut frame = PacketBuf::new(0, ethernet::HEADER_LEN + arp::ETHERNET_IPV4_LEN);
    let bytes = frame.put(ethernet::HEADER_LEN + arp::ETHERNET_IPV4_LEN);
    let mut eth = EthernetFrame::new_unchecked(bytes);
    EthernetRepr {
        src_addr: dev.mac(),
        dst_addr: eth_dst,
        ethertype: EtherType::Arp,
    }
    .emit(&mut eth);
    ArpRepr {
        operation,
        source_hardware_addr: dev.mac(),
        source_protocol_addr: sender_ip,
        target_hardware_addr: target_mac,
        target_protocol_addr: target_ip,
    }
    .emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    dev.xmit(frame);
}

/// Runs the neighbour timers due at `now` (retransmits, probes, failures,
/// aging) and returns the next deadline. Packets whose resolution failed
/// are answered with ICMP host unreachable, like Linux's
/// `arp_error_report`.
pub(crate) fn run_timers(ns: &NsInner, now: Instant) -> Option<Instant> {
    let mut work: Vec<(IfIndex, NeighAction<PacketBuf>)> = Vec::new();
    let mut next: Option<Instant> = None;
    {
        let mut neigh = ns.ip.neigh.lock();
        let cached = ns.ip.neigh_cache.load();
        for (&dev, table) in neigh.by_dev.iter_mut() {
            if table.next_deadline().is_some_and(|d| d <= now) {
                work.extend(table.poll(now).into_iter().map(|a| (dev, a)));
                // Timers only ever make cached entries unusable (REACHABLE
                // aging to STALE, PROBE failing, collection): recheck those.
                for &(d, ip) in cached.keys().filter(|(d, _)| *d == dev) {
                    sync_cache(ns, d, ip, table.get(ip));
                }
            }
            if let Some(d) = table.next_deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
    }
    for (ifindex, action) in work {
        match action {
            NeighAction::SendRequest(req) => {
                if let Some(dev) = percore::device(ns, ifindex) {
                    send_request(ns, &dev, req, None);
                }
            }
            NeighAction::Failed { packets, .. } => unreachable_all(ns, packets),
        }
    }
    next
}

/// ICMP host unreachable for every packet that waited in vain.
fn unreachable_all(ns: &NsInner, packets: VecDeque<PacketBuf>) {
    for pkt in packets {
        icmp::send_error(
            ns,
            icmp::ErrorType::DstUnreachable(DstUnreachable::HostUnreachable),
            pkt.data(),
        );
    }
}

impl Namespace {
    /// The neighbour entry for `ip` on device `dev`, if any (`ip neigh
    /// show`).
    pub fn neighbour(&self, dev: IfIndex, ip: Ipv4Addr) -> Option<NeighInfo> {
        self.0.ip.neigh.lock().by_dev.get(&dev)?.get(ip)
    }

    /// Neighbour-table counters of device `dev` (Linux
    /// `/proc/net/stat/arp_cache`); zero for a device that never resolved.
    pub fn neighbour_stats(&self, dev: IfIndex) -> NeighStats {
        self.0
            .ip
            .neigh
            .lock()
            .by_dev
            .get(&dev)
            .map(|t| t.stats())
            .unwrap_or_default()
    }

    /// Adds a permanent neighbour entry (`ip neigh add IP lladdr MAC dev
    /// DEV nud permanent`): never expires and ignores ARP. Packets waiting
    /// for `ip` are sent at once. `NotFound` if the device does not exist.
    pub fn add_neighbour(
        &self,
        dev: IfIndex,
        ip: Ipv4Addr,
        mac: EthernetAddress,
    ) -> std::io::Result<()> {
        let ns = &*self.0;
        let device = percore::device(ns, dev)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such device"))?;
        if !mac.is_unicast() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a neighbour's link address must be unicast",
            ));
        }
        let flush = {
            let mut neigh = ns.ip.neigh.lock();
            let table = neigh.table(dev);
            let flush = table.insert_permanent(ip, mac, Instant::now());
            let info = table.get(ip);
            sync_cache(ns, dev, ip, info);
            flush
        };
        if let Some(flush) = flush {
            for pkt in flush.packets {
                link_output(&device, flush.mac, pkt);
            }
        }
        Ok(())
    }

    /// ARP counters of the namespace.
    pub fn arp_stats(&self) -> ArpStats {
        self.0.ip.arp_stats.snapshot()
    }
}

/// ARP counters of a namespace (Linux keeps these per device in
/// `/proc/net/stat/arp_cache`; ARP is not a per-packet steady path, so
/// shared atomics are fine).
#[derive(Debug, Default)]
pub(crate) struct ArpCounters {
    /// Requests received.
    pub(crate) rx_requests: AtomicU64,
    /// Replies received.
    pub(crate) rx_replies: AtomicU64,
    /// Malformed, unsupported or insane ARP packets dropped.
    pub(crate) rx_errors: AtomicU64,
    /// Requests sent (resolution, probes, gratuitous).
    pub(crate) tx_requests: AtomicU64,
    /// Replies sent.
    pub(crate) tx_replies: AtomicU64,
    /// Requests not sent: the device has no IPv4 address to send from.
    pub(crate) no_source: AtomicU64,
}

/// ARP counters, summed (see [`Namespace::arp_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArpStats {
    /// Requests received.
    pub rx_requests: u64,
    /// Replies received.
    pub rx_replies: u64,
    /// Malformed, unsupported or insane packets dropped.
    pub rx_errors: u64,
    /// Requests sent (resolution, probes, gratuitous).
    pub tx_requests: u64,
    /// Replies sent.
    pub tx_replies: u64,
    /// Requests not sent for lack of a source address on the device.
    pub no_source: u64,
}

impl ArpCounters {
    #[inline]
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ArpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ArpStats {
            rx_requests: get(&self.rx_requests),
            rx_replies: get(&self.rx_replies),
            rx_errors: get(&self.rx_errors),
            tx_requests: get(&self.tx_requests),
            tx_replies: get(&self.tx_replies),
            no_source: get(&self.no_source),
        }
    }
}
