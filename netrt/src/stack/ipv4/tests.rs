//! Unit tests of the IPv4/ARP/ICMP data path on a namespace whose devices
//! record what they transmit (no runtime, no cable: frames are injected
//! into `netif::receive_core` and read back from the devices).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::stack::dev::{DevFeatures, DevStats, NetDevice};
use crate::stack::neigh::NeighState;
use crate::stack::netif;
use crate::stack::ns::Namespace;
use crate::stack::reasm::{ReasmConfig, ReasmOutcome, Reassembler};
use crate::stack::skb::{CsumState, PacketBuf, PacketMeta};
use crate::stack::snmp::{Icmp, Ip, SnmpSnapshot};
use crate::stack::IfIndex;
use crate::wire::{
    arp, checksum, ArpOperation, ArpPacket, ArpRepr, ChecksumMode, EtherType, EthernetAddress,
    EthernetFrame, EthernetRepr, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet,
    Ipv4Repr, UdpPacket,
};

use super::input::run_reasm_timers;
use super::{output, IdentGenerator, OutParams, TokenBucket};

/// A device that keeps every frame it is given.
struct Capture {
    ifindex: IfIndex,
    mac: EthernetAddress,
    mtu: usize,
    tx_csum: bool,
    sent: Mutex<Vec<(Vec<u8>, PacketMeta)>>,
}

impl Capture {
    fn take(&self) -> Vec<(Vec<u8>, PacketMeta)> {
        std::mem::take(&mut *self.sent.lock())
    }

    fn frames(&self) -> Vec<Vec<u8>> {
        self.take().into_iter().map(|(f, _)| f).collect()
    }
}

impl NetDevice for Capture {
    fn ifindex(&self) -> IfIndex {
        self.ifindex
    }
    fn name(&self) -> &str {
        "cap"
    }
    fn mac(&self) -> EthernetAddress {
        self.mac
    }
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn features(&self) -> DevFeatures {
        DevFeatures {
            tx_csum: self.tx_csum,
            tso: false,
            rx_csum_verified: false,
        }
    }
    fn xmit(&self, frame: PacketBuf) {
        self.sent
            .lock()
            .push((frame.data().to_vec(), *frame.meta()));
    }
    fn stats(&self) -> DevStats {
        DevStats::default()
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn mac(last: u8) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, 0, last])
}

/// A namespace with one capture device per `(address, mtu, tx_csum)`, as
/// ifindex 2, 3, ... with MAC 02:00:00:00:00:<ifindex>.
fn setup(devs: &[(&str, usize, bool)]) -> (Namespace, Vec<Arc<Capture>>) {
    let ns = Namespace::new("t").unwrap();
    let mut caps = Vec::new();
    for (i, &(cidr, mtu, tx_csum)) in devs.iter().enumerate() {
        let ifindex = IfIndex(i as u32 + 2);
        let cap = Arc::new(Capture {
            ifindex,
            mac: mac(ifindex.0 as u8),
            mtu,
            tx_csum,
            sent: Mutex::new(Vec::new()),
        });
        let dev: Arc<dyn NetDevice> = cap.clone();
        ns.0.devices.update(|d| {
            let mut d = d.clone();
            d.push(dev.clone());
            d
        });
        ns.add_address(ifindex, cidr.parse().unwrap()).unwrap();
        // The gratuitous ARP of the new address.
        let sent = cap.frames();
        assert_eq!(sent.len(), 1);
        let addr = ip(cidr.split('/').next().unwrap());
        let garp = arp_of(&sent[0]);
        assert_eq!(garp.operation, ArpOperation::Request);
        assert_eq!(
            (garp.source_protocol_addr, garp.target_protocol_addr),
            (addr, addr)
        );
        assert_eq!(garp.source_hardware_addr, cap.mac);
        let eth = EthernetFrame::new_checked(&sent[0][..]).unwrap();
        assert_eq!(eth.dst_addr(), EthernetAddress::BROADCAST);

        caps.push(cap);
    }
    (ns, caps)
}

/// One device at 10.0.0.254/24 (MTU 1500) whose peer 10.0.0.1 is a
/// known neighbour at `mac(0xa1)`.
fn setup_with_peer() -> (Namespace, Vec<Arc<Capture>>) {
    let (ns, caps) = setup(&[("10.0.0.254/24", 1500, false)]);
    add_neighbour(&ns, 2, "10.0.0.1", mac(0xa1));
    (ns, caps)
}

fn dyn_dev(cap: &Arc<Capture>) -> Arc<dyn NetDevice> {
    cap.clone()
}

/// Delivers an Ethernet frame to `cap` as if received.
fn receive(ns: &Namespace, cap: &Arc<Capture>, frame: &[u8]) {
    netif::receive_core(&ns.0, &dyn_dev(cap), PacketBuf::from_slice(0, frame));
}

fn ether(
    dst: EthernetAddress,
    src: EthernetAddress,
    ethertype: EtherType,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + payload.len()];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype,
    }
    .emit(&mut f);
    f.payload_mut().copy_from_slice(payload);
    buf
}

fn datagram(
    src: &str,
    dst: &str,
    protocol: IpProtocol,
    ttl: u8,
    df: bool,
    payload: &[u8],
) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: ip(src),
        dst_addr: ip(dst),
        protocol,
        payload_len: payload.len(),
        ttl,
        dscp: 0,
        ecn: 0,
        ident: 0x77,
        dont_frag: df,
        more_frags: false,
        frag_offset: 0,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut p, ChecksumMode::Software);
    p.payload_mut().copy_from_slice(payload);
    buf
}

fn echo_request(seq: u16, data: &[u8]) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest {
        ident: 9,
        seq_no: seq,
        data,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf[..]),
        ChecksumMode::Software,
    );
    buf
}

fn arp_frame(
    op: ArpOperation,
    eth_dst: EthernetAddress,
    sha: EthernetAddress,
    spa: &str,
    tha: EthernetAddress,
    tpa: &str,
) -> Vec<u8> {
    let mut body = [0u8; arp::ETHERNET_IPV4_LEN];
    ArpRepr {
        operation: op,
        source_hardware_addr: sha,
        source_protocol_addr: ip(spa),
        target_hardware_addr: tha,
        target_protocol_addr: ip(tpa),
    }
    .emit(&mut ArpPacket::new_unchecked(&mut body[..]));
    ether(eth_dst, sha, EtherType::Arp, &body)
}

/// A broadcast who-has `tpa` from `sha`/`spa`.
fn arp_request(sha: EthernetAddress, spa: &str, tpa: &str) -> Vec<u8> {
    arp_frame(
        ArpOperation::Request,
        EthernetAddress::BROADCAST,
        sha,
        spa,
        EthernetAddress::UNSPECIFIED,
        tpa,
    )
}

/// The IPv4 datagram of an Ethernet frame.
fn ipv4_of(frame: &[u8]) -> Ipv4Packet<&[u8]> {
    let f = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(f.ethertype(), EtherType::Ipv4);
    Ipv4Packet::new_checked(&frame[14..]).unwrap()
}

fn arp_of(frame: &[u8]) -> ArpRepr {
    let f = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(f.ethertype(), EtherType::Arp);
    ArpRepr::parse(&ArpPacket::new_checked(&frame[14..]).unwrap()).unwrap()
}

fn add_neighbour(ns: &Namespace, dev: u32, addr: &str, m: EthernetAddress) {
    ns.add_neighbour(IfIndex(dev), ip(addr), m).unwrap();
}

#[test]
fn forwarding_df_too_big_gets_frag_needed_else_fragments() {
    let (r, caps) = setup(&[
        ("10.0.0.254/24", 1500, false),
        ("10.0.1.254/24", 600, false),
    ]);
    r.set_ip_forward(true);
    add_neighbour(&r, 2, "10.0.0.1", mac(0xa1));
    add_neighbour(&r, 3, "10.0.1.2", mac(0xb2));
    let payload: Vec<u8> = (0..1000).map(|i| i as u8).collect();

    let dg = datagram(
        "10.0.0.1",
        "10.0.1.2",
        IpProtocol::Unknown(253),
        10,
        true,
        &payload,
    );
    receive(
        &r,
        &caps[0],
        &ether(caps[0].mac, mac(0xa1), EtherType::Ipv4, &dg),
    );
    assert!(caps[1].frames().is_empty());
    let back = caps[0].frames();
    assert_eq!(back.len(), 1);
    assert_eq!(
        EthernetFrame::new_checked(&back[0][..]).unwrap().dst_addr(),
        mac(0xa1)
    );
    let err = ipv4_of(&back[0]);
    assert_eq!(
        (err.src_addr(), err.dst_addr()),
        (ip("10.0.0.254"), ip("10.0.0.1"))
    );
    let icmp = Icmpv4Packet::new_checked(err.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!(icmp.msg_type(), Icmpv4Message::DstUnreachable);
    assert_eq!((icmp.msg_code(), icmp.next_hop_mtu()), (4, 600));
    // The quote starts with the offending header, unchanged.
    assert_eq!(&icmp.data()[..20], &dg[..20]);
    let s = r.snmp();
    assert_eq!(
        (s.counter(Ip::FragFails), s.counter(Ip::ForwDatagrams)),
        (1, 0)
    );

    let dg = datagram(
        "10.0.0.1",
        "10.0.1.2",
        IpProtocol::Unknown(253),
        10,
        false,
        &payload,
    );
    receive(
        &r,
        &caps[0],
        &ether(caps[0].mac, mac(0xa1), EtherType::Ipv4, &dg),
    );
    let out = caps[1].frames();
    assert_eq!(out.len(), 2);
    let mut reasm = Reassembler::new(ReasmConfig::default());
    let mut whole = None;
    for f in &out {
        assert!(f.len() <= 14 + 600);
        assert_eq!(
            EthernetFrame::new_checked(&f[..]).unwrap().dst_addr(),
            mac(0xb2)
        );
        let p = ipv4_of(f);
        assert!(p.verify_checksum());
        assert_eq!(p.ttl(), 9);
        if let ReasmOutcome::Complete(d) = reasm.insert(&f[14..], Instant::now()) {
            whole = Some(d);
        }
    }
    let whole = whole.expect("fragments complete the datagram");
    assert_eq!(&whole[20..], &payload[..]);
    let s = r.snmp();
    assert_eq!(s.counter(Ip::ForwDatagrams), 1);
    assert_eq!((s.counter(Ip::FragOKs), s.counter(Ip::FragCreates)), (1, 2));
}

/// A UDP datagram from 10.0.0.1:1000 to `dst`:2000 with its checksum
/// field seeded for offload (`CsumState::Partial`).
fn partial_udp(dst: &str, len: usize) -> PacketBuf {
    let mut pkt = PacketBuf::new(PacketBuf::DEFAULT_HEADROOM, 8 + len);
    let bytes = pkt.put(8 + len);
    let mut udp = UdpPacket::new_unchecked(bytes);
    udp.set_src_port(1000);
    udp.set_dst_port(2000);
    udp.set_len((8 + len) as u16);
    for (i, b) in udp.payload_mut().iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    udp.fill_pseudo_checksum(ip("10.0.0.1"), ip(dst));
    pkt.meta_mut().csum = CsumState::Partial;
    pkt
}

fn udp_params(dst: &str) -> OutParams {
    OutParams {
        src: Some(ip("10.0.0.1")),
        dst: ip(dst),
        protocol: IpProtocol::Udp,
        ttl: 64,
        tos: 0,
        dont_frag: false,
    }
}

#[test]
fn partial_checksums_are_offloaded_or_finished_in_software() {
    let (ns, caps) = setup(&[("10.0.0.1/24", 1500, true), ("10.0.1.1/24", 1500, false)]);
    add_neighbour(&ns, 2, "10.0.0.2", mac(0xa2));
    add_neighbour(&ns, 3, "10.0.1.2", mac(0xb2));
    let seed = checksum::pseudo_header_v4(ip("10.0.0.1"), ip("10.0.0.2"), 17, 108);

    // Offloading device: the request travels, the field keeps the seed.
    output(&ns.0, partial_udp("10.0.0.2", 100), &udp_params("10.0.0.2")).unwrap();
    let (frame, meta) = caps[0].take().pop().unwrap();
    let off = meta.offload.expect("offload requested");
    assert!(off.csum && !off.tso);
    assert_eq!((off.maclen, off.iplen), (14, 20));
    assert_eq!(meta.csum, CsumState::Partial);
    let packet = ipv4_of(&frame);
    let udp = UdpPacket::new_checked(packet.payload()).unwrap();
    assert_eq!(udp.checksum(), seed);

    // Device without offload: computed here, and correct.
    let mut params = udp_params("10.0.1.2");
    params.src = Some(ip("10.0.0.1"));
    let mut pkt = partial_udp("10.0.1.2", 100);
    // Same seed source address as the params.
    pkt.meta_mut().csum = CsumState::Partial;
    output(&ns.0, pkt, &params).unwrap();
    let (frame, meta) = caps[1].take().pop().unwrap();
    assert_eq!((meta.offload, meta.csum), (None, CsumState::None));
    let packet = ipv4_of(&frame);
    let udp = UdpPacket::new_checked(packet.payload()).unwrap();
    assert!(udp.checksum() != 0);
    assert!(udp.verify_checksum(packet.src_addr(), packet.dst_addr()));

    // Fragmented: finished in software before cutting, even though the
    // device offloads.
    output(
        &ns.0,
        partial_udp("10.0.0.2", 4000),
        &udp_params("10.0.0.2"),
    )
    .unwrap();
    let sent = caps[0].take();
    assert_eq!(sent.len(), 3);
    let mut reasm = Reassembler::new(ReasmConfig::default());
    let mut whole = None;
    for (f, meta) in &sent {
        assert_eq!(meta.offload, None);
        if let ReasmOutcome::Complete(d) = reasm.insert(&f[14..], Instant::now()) {
            whole = Some(d);
        }
    }
    let whole = whole.unwrap();
    let packet = Ipv4Packet::new_checked(&whole[..]).unwrap();
    let udp = UdpPacket::new_checked(packet.payload()).unwrap();
    assert!(udp.verify_checksum(packet.src_addr(), packet.dst_addr()));
    assert_eq!(ns.snmp().counter(Ip::FragCreates), 3);
}

#[test]
fn unresolved_neighbour_queues_bounded_then_flushes_in_order() {
    let (ns, caps) = setup(&[("10.0.0.1/24", 1500, false)]);
    let params = OutParams {
        src: None,
        dst: ip("10.0.0.9"),
        protocol: IpProtocol::Unknown(253),
        ttl: 64,
        tos: 0,
        dont_frag: false,
    };
    for i in 0..150u32 {
        ns.send_ipv4(&params, &i.to_be_bytes()).unwrap();
    }
    let sent = caps[0].frames();
    assert_eq!(sent.len(), 1, "one request for the whole queue");
    let req = arp_of(&sent[0]);
    assert_eq!(req.operation, ArpOperation::Request);
    assert_eq!(
        EthernetFrame::new_checked(&sent[0][..]).unwrap().dst_addr(),
        EthernetAddress::BROADCAST
    );
    assert_eq!(
        (req.source_protocol_addr, req.target_protocol_addr),
        (ip("10.0.0.1"), ip("10.0.0.9"))
    );
    assert_eq!(req.source_hardware_addr, caps[0].mac);
    let info = ns.neighbour(IfIndex(2), ip("10.0.0.9")).unwrap();
    assert_eq!((info.state, info.queued), (NeighState::Incomplete, 101));
    assert_eq!(ns.neighbour_stats(IfIndex(2)).unres_discards, 49);

    let reply = arp_frame(
        ArpOperation::Reply,
        caps[0].mac,
        mac(0x99),
        "10.0.0.9",
        caps[0].mac,
        "10.0.0.1",
    );
    receive(&ns, &caps[0], &reply);
    let sent = caps[0].frames();
    assert_eq!(sent.len(), 101);
    for (i, f) in sent.iter().enumerate() {
        assert_eq!(
            EthernetFrame::new_checked(&f[..]).unwrap().dst_addr(),
            mac(0x99)
        );
        assert_eq!(ipv4_of(f).payload(), (49 + i as u32).to_be_bytes());
    }
    let info = ns.neighbour(IfIndex(2), ip("10.0.0.9")).unwrap();
    assert_eq!((info.state, info.queued), (NeighState::Reachable, 0));
    // The fast path now has it: no table lookup for the next packet.
    assert_eq!(
        ns.0.ip
            .neigh_cache
            .load()
            .get(&(IfIndex(2), ip("10.0.0.9"))),
        Some(&mac(0x99))
    );
    let lookups = ns.neighbour_stats(IfIndex(2)).lookups;
    ns.send_ipv4(&params, b"fast").unwrap();
    assert_eq!(caps[0].frames().len(), 1);
    assert_eq!(ns.neighbour_stats(IfIndex(2)).lookups, lookups);
}

#[test]
fn arp_input_answers_learns_and_rejects() {
    let (ns, caps) = setup(&[("10.0.0.1/24", 1500, false)]);
    let dev = &caps[0];
    let bcast = EthernetAddress::BROADCAST;
    let zero = EthernetAddress::UNSPECIFIED;

    // A request for our address: answered, requester learned (STALE).
    receive(&ns, dev, &arp_request(mac(5), "10.0.0.5", "10.0.0.1"));
    let sent = dev.frames();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        EthernetFrame::new_checked(&sent[0][..]).unwrap().dst_addr(),
        mac(5)
    );
    assert_eq!(
        arp_of(&sent[0]),
        ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: dev.mac,
            source_protocol_addr: ip("10.0.0.1"),
            target_hardware_addr: mac(5),
            target_protocol_addr: ip("10.0.0.5"),
        }
    );
    let info = ns.neighbour(IfIndex(2), ip("10.0.0.5")).unwrap();
    assert_eq!((info.state, info.mac), (NeighState::Stale, Some(mac(5))));
    // STALE is not in the fast-path cache (its use must start DELAY).
    assert!(ns.0.ip.neigh_cache.load().is_empty());

    // A request for someone else: no answer, nothing learned.
    receive(&ns, dev, &arp_request(mac(6), "10.0.0.6", "10.0.0.77"));
    assert!(dev.frames().is_empty());
    assert!(ns.neighbour(IfIndex(2), ip("10.0.0.6")).is_none());

    // An address probe (sender 0.0.0.0): answered, not learned.
    receive(&ns, dev, &arp_request(mac(7), "0.0.0.0", "10.0.0.1"));
    let sent = dev.frames();
    assert_eq!(sent.len(), 1);
    assert_eq!(arp_of(&sent[0]).target_protocol_addr, ip("0.0.0.0"));
    assert!(ns.neighbour(IfIndex(2), ip("0.0.0.0")).is_none());

    // Insane packets: group sender MAC, broadcast or loopback addresses,
    // someone claiming our own address.
    let before = ns.arp_stats().rx_errors;
    for frame in [
        arp_request(bcast, "10.0.0.8", "10.0.0.1"),
        arp_request(mac(8), "255.255.255.255", "10.0.0.1"),
        arp_request(mac(8), "10.0.0.8", "224.0.0.1"),
        arp_request(mac(8), "10.0.0.8", "127.0.0.1"),
        ether(dev.mac, mac(8), EtherType::Arp, &[0u8; 10]),
    ] {
        receive(&ns, dev, &frame);
    }
    assert_eq!(ns.arp_stats().rx_errors - before, 5);
    receive(
        &ns,
        dev,
        &arp_frame(
            ArpOperation::Reply,
            dev.mac,
            mac(9),
            "10.0.0.1",
            dev.mac,
            "10.0.0.1",
        ),
    );
    assert!(dev.frames().is_empty());
    assert!(ns.neighbour(IfIndex(2), ip("10.0.0.1")).is_none());

    // An unsolicited broadcast reply only refreshes an existing entry.
    receive(
        &ns,
        dev,
        &arp_frame(
            ArpOperation::Reply,
            bcast,
            mac(10),
            "10.0.0.10",
            zero,
            "10.0.0.1",
        ),
    );
    assert!(ns.neighbour(IfIndex(2), ip("10.0.0.10")).is_none());
}

#[test]
fn malformed_and_refilled_headers_are_always_accounted() {
    let (ns, caps) = setup_with_peer();
    let dev = &caps[0];
    let good = datagram(
        "10.0.0.1",
        "10.0.0.254",
        IpProtocol::Icmp,
        64,
        false,
        &echo_request(1, b"0123456789abcdef"),
    );
    let accounted = |s: &SnmpSnapshot| {
        [
            Ip::InHdrErrors,
            Ip::InAddrErrors,
            Ip::InUnknownProtos,
            Ip::InDelivers,
            Ip::ReasmReqds,
        ]
        .iter()
        .map(|&c| s.counter(c))
        .sum::<u64>()
    };
    let inject = |dg: &[u8]| {
        let before = ns.snmp();
        receive(&ns, dev, &ether(dev.mac, mac(0xa1), EtherType::Ipv4, dg));
        let after = ns.snmp();
        assert_eq!(
            after.counter(Ip::InReceives),
            before.counter(Ip::InReceives) + 1
        );
        assert!(
            accounted(&after) > accounted(&before),
            "datagram vanished: {dg:02x?}"
        );
        dev.take();
    };
    // Truncated at every length.
    for cut in 0..good.len() {
        inject(&good[..cut]);
    }
    // Every value of every byte, as received (the header checksum catches
    // header damage) and with the header checksum refilled, so the damage
    // reaches routing, reassembly and the protocols.
    for at in 0..good.len() {
        for v in 0..=255u8 {
            let mut dg = good.clone();
            dg[at] = v;
            inject(&dg);
            if at < 20 && (dg[0] & 0x0f) as usize * 4 <= dg.len() && (dg[0] & 0x0f) >= 5 {
                Ipv4Packet::new_unchecked(&mut dg[..]).fill_checksum();
                inject(&dg);
            }
        }
    }
    // The good one still works.
    let before = ns.snmp().counter(Icmp::OutEchoReps);
    inject(&good);
    assert_eq!(ns.snmp().counter(Icmp::OutEchoReps), before + 1);
}

#[test]
fn icmp_errors_follow_rfc1122_and_the_rate_limit() {
    let (ns, caps) = setup_with_peer();
    // Refill slowly enough that the test's own pace adds no token.
    *ns.0.ip.icmp_limit.lock() = TokenBucket::new(1, 50);
    let dev = &caps[0];
    let to_us = |proto: u8, payload: &[u8]| {
        let dg = datagram(
            "10.0.0.1",
            "10.0.0.254",
            IpProtocol::Unknown(proto),
            64,
            false,
            payload,
        );
        receive(&ns, dev, &ether(dev.mac, mac(0xa1), EtherType::Ipv4, &dg));
    };
    // An unknown protocol gets protocol unreachable, quoting it.
    to_us(200, b"whatever");
    let sent = dev.frames();
    assert_eq!(sent.len(), 1);
    let p = ipv4_of(&sent[0]);
    assert_eq!(
        (p.src_addr(), p.dst_addr(), p.tos()),
        (ip("10.0.0.254"), ip("10.0.0.1"), 0xc0)
    );
    let icmp = Icmpv4Packet::new_checked(p.payload()).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.msg_code()),
        (Icmpv4Message::DstUnreachable, 2)
    );
    assert_eq!(&icmp.data()[20..], b"whatever");
    assert_eq!(ns.snmp().counter(Ip::InUnknownProtos), 1);

    // Never about an ICMP error.
    let mut error = [0u8; 36];
    error[0] = 3; // destination unreachable
    let c = checksum::checksum(&error);
    error[2..4].copy_from_slice(&c.to_be_bytes());
    let dg = datagram(
        "10.0.0.1",
        "10.0.0.254",
        IpProtocol::Icmp,
        64,
        false,
        &error,
    );
    super::super::icmp::send_error(
        &ns.0,
        super::super::icmp::ErrorType::DstUnreachable(crate::wire::DstUnreachable::PortUnreachable),
        &dg,
    );
    assert!(dev.frames().is_empty());
    // Never about a non-first fragment, nor a broadcast.
    let mut frag = datagram(
        "10.0.0.1",
        "10.0.0.254",
        IpProtocol::Unknown(200),
        64,
        false,
        &[0; 16],
    );
    {
        let mut p = Ipv4Packet::new_unchecked(&mut frag[..]);
        p.set_flags_frag(false, false, 64);
        p.fill_checksum();
    }
    super::super::icmp::send_error(
        &ns.0,
        super::super::icmp::ErrorType::DstUnreachable(crate::wire::DstUnreachable::PortUnreachable),
        &frag,
    );
    let bcast = datagram(
        "10.0.0.1",
        "10.0.0.255",
        IpProtocol::Unknown(200),
        64,
        false,
        &[0; 16],
    );
    receive(
        &ns,
        dev,
        &ether(
            EthernetAddress::BROADCAST,
            mac(0xa1),
            EtherType::Ipv4,
            &bcast,
        ),
    );
    assert!(dev.frames().is_empty());

    // A burst: 50 go out (the first error above took one), the rest are
    // counted as rate limited.
    for i in 0..60u8 {
        to_us(200, &[i]);
    }
    assert_eq!(dev.frames().len(), 49);
    assert_eq!(ns.snmp().counter(Icmp::OutRateLimitGlobal), 11);
    assert_eq!(ns.snmp().counter(Icmp::OutDestUnreachs), 50);
}

#[test]
fn echo_to_a_broadcast_address_is_ignored() {
    let (ns, caps) = setup_with_peer();
    let dev = &caps[0];
    let dg = datagram(
        "10.0.0.1",
        "10.0.0.255",
        IpProtocol::Icmp,
        64,
        false,
        &echo_request(1, b"all"),
    );
    receive(
        &ns,
        dev,
        &ether(EthernetAddress::BROADCAST, mac(0xa1), EtherType::Ipv4, &dg),
    );
    let dg = datagram(
        "10.0.0.1",
        "255.255.255.255",
        IpProtocol::Icmp,
        64,
        false,
        &echo_request(2, b"all"),
    );
    receive(
        &ns,
        dev,
        &ether(EthernetAddress::BROADCAST, mac(0xa1), EtherType::Ipv4, &dg),
    );
    assert!(dev.frames().is_empty());
    let s = ns.snmp();
    assert_eq!(
        (s.counter(Icmp::InEchos), s.counter(Icmp::OutEchoReps)),
        (2, 0)
    );
}

#[test]
fn reassembly_timeout_sends_time_exceeded() {
    let (ns, caps) = setup_with_peer();
    let dev = &caps[0];
    let mut first = datagram(
        "10.0.0.1",
        "10.0.0.254",
        IpProtocol::Udp,
        64,
        false,
        &[1; 64],
    );
    {
        let mut p = Ipv4Packet::new_unchecked(&mut first[..]);
        p.set_flags_frag(false, true, 0);
        p.fill_checksum();
    }
    receive(
        &ns,
        dev,
        &ether(dev.mac, mac(0xa1), EtherType::Ipv4, &first),
    );
    assert!(dev.frames().is_empty());
    assert_eq!(ns.snmp().counter(Ip::ReasmReqds), 1);
    let next = run_reasm_timers(&ns.0, Instant::now());
    assert!(next.is_some(), "pending datagram keeps a deadline");
    assert!(run_reasm_timers(&ns.0, Instant::now() + Duration::from_secs(31)).is_none());
    let sent = dev.frames();
    assert_eq!(sent.len(), 1);
    let packet = ipv4_of(&sent[0]);
    let icmp = Icmpv4Packet::new_checked(packet.payload()).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.msg_code()),
        (Icmpv4Message::TimeExceeded, 1)
    );
    let s = ns.snmp();
    assert_eq!(
        (s.counter(Ip::ReasmTimeout), s.counter(Ip::ReasmFails)),
        (1, 1)
    );
    assert_eq!(s.counter(Icmp::OutTimeExcds), 1);
}

#[test]
fn timer_task_resolves_then_ends_with_the_namespace() {
    let rt = crate::runtime::Builder::new().cores(1).build().unwrap();
    rt.block_on(async {
        let (ns, caps) = setup(&[("10.0.0.1/24", 1500, false)]);
        let timer = ns.0.ip.timer.clone();
        assert!(!timer.is_running());
        let params = OutParams {
            src: None,
            dst: ip("10.0.0.9"),
            protocol: IpProtocol::Unknown(253),
            ttl: 64,
            tos: 0,
            dont_frag: false,
        };
        ns.send_ipv4(&params, b"x").unwrap();
        assert!(timer.is_running());
        // The retransmission a second later comes from the timer task.
        crate::time::sleep(Duration::from_millis(1100)).await;
        let requests = caps[0]
            .frames()
            .iter()
            .filter(|f| arp_of(f).target_protocol_addr == ip("10.0.0.9"))
            .count();
        assert_eq!(requests, 2);
        drop(ns);
        crate::time::sleep(Duration::from_millis(20)).await;
        assert!(!timer.is_running(), "the task outlived its namespace");
    });
}

#[test]
fn token_bucket_bursts_then_refills_at_rate() {
    let t0 = Instant::now();
    let mut b = TokenBucket::new(1000, 50);
    assert_eq!((0..60).filter(|_| b.allow(t0)).count(), 50);
    assert!(!b.allow(t0 + Duration::from_micros(500)));
    assert!(b.allow(t0 + Duration::from_millis(1)));
    assert!(!b.allow(t0 + Duration::from_millis(1)));
    // Ten milliseconds earn ten tokens, never more than the burst.
    let t1 = t0 + Duration::from_millis(11);
    assert_eq!((0..60).filter(|_| b.allow(t1)).count(), 10);
    let t2 = t1 + Duration::from_secs(5);
    assert_eq!((0..60).filter(|_| b.allow(t2)).count(), 50);
}

#[test]
fn idents_are_consecutive_per_destination() {
    let g = IdentGenerator::new();
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let first = g.next(a, b, 17);
    for i in 1..100u16 {
        assert_eq!(g.next(a, b, 17), first.wrapping_add(i));
    }
}

#[test]
fn broadcast_and_multicast_destinations_need_no_resolution() {
    let (ns, caps) = setup(&[("10.0.0.1/24", 1500, false)]);
    ns.add_route(crate::stack::route::Route::direct(
        "0.0.0.0/0".parse().unwrap(),
        IfIndex(2),
    ))
    .unwrap();
    ns.add_route(crate::stack::route::Route::direct(
        "224.0.0.0/4".parse().unwrap(),
        IfIndex(2),
    ))
    .unwrap();
    let params = |dst: &str| OutParams {
        src: None,
        dst: ip(dst),
        protocol: IpProtocol::Unknown(253),
        ttl: 1,
        tos: 0,
        dont_frag: false,
    };
    for (dst, link) in [
        ("10.0.0.255", EthernetAddress::BROADCAST),
        ("255.255.255.255", EthernetAddress::BROADCAST),
        (
            "224.0.0.251",
            EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 0xfb]),
        ),
        (
            "239.129.2.3",
            EthernetAddress([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]),
        ),
    ] {
        ns.send_ipv4(&params(dst), b"all").unwrap();
        let sent = caps[0].frames();
        assert_eq!(sent.len(), 1, "{dst}");
        assert_eq!(
            EthernetFrame::new_checked(&sent[0][..]).unwrap().dst_addr(),
            link
        );
        let p = ipv4_of(&sent[0]);
        assert_eq!((p.src_addr(), p.dst_addr()), (ip("10.0.0.1"), ip(dst)));
    }
    assert_eq!(ns.arp_stats().tx_requests, 1 /* gratuitous */);
}

#[test]
fn martian_addresses_from_a_link_are_dropped() {
    let (ns, caps) = setup(&[("10.0.0.254/24", 1500, false)]);
    let dev = &caps[0];
    let echo = echo_request(1, b"m");
    for (src, dst) in [
        ("10.0.0.254", "10.0.0.254"), // our own address as source
        ("127.0.0.1", "10.0.0.254"),
        ("224.0.0.1", "10.0.0.254"),
        ("0.1.2.3", "10.0.0.254"),
        ("255.255.255.255", "10.0.0.254"),
        ("10.0.0.1", "127.0.0.1"),
        ("10.0.0.1", "0.0.0.0"),
    ] {
        let dg = datagram(src, dst, IpProtocol::Icmp, 64, false, &echo);
        receive(&ns, dev, &ether(dev.mac, mac(0xa1), EtherType::Ipv4, &dg));
    }
    let s = ns.snmp();
    assert_eq!(s.counter(Ip::InAddrErrors), 7);
    assert_eq!(s.counter(Icmp::InMsgs), 0);
    assert!(dev.frames().is_empty());
}
