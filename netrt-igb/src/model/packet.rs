//! Just enough packet parsing and checksumming for what the device does in
//! hardware: RSS input, receive checksum verification, transmit offloads.
//!
//! All functions take untrusted bytes and return `None` (or "not checked")
//! on anything malformed; none of them panic.

/// Ethernet header length (no VLAN tag).
pub(crate) const ETH_HLEN: usize = 14;
/// EtherType of IPv4.
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86DD;
/// IP protocol number of TCP.
pub(crate) const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub(crate) const PROTO_UDP: u8 = 17;

/// Adds `data` to a one's complement accumulator as big-endian 16-bit
/// words (an odd trailing byte is padded with zero). The accumulator is
/// wide enough for any frame; fold it with [`fold`].
#[inline]
pub(crate) fn sum(mut acc: u64, data: &[u8]) -> u64 {
    // 32-bit big-endian words: 2^16 ≡ 1 (mod 0xFFFF), so summing pairs of
    // 16-bit words as one 32-bit word gives the same folded result.
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

/// Folds a one's complement accumulator to 16 bits (not complemented).
#[inline]
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// Reads a big-endian u16 at `at`, if in bounds.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Reads a big-endian u32 at `at`, if in bounds.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Writes a big-endian u16 at `at`; false when out of bounds.
#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) -> bool {
    match b.get_mut(at..at + 2) {
        Some(s) => {
            s.copy_from_slice(&v.to_be_bytes());
            true
        }
        None => false,
    }
}

/// Writes a big-endian u32 at `at`; false when out of bounds.
#[inline]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) -> bool {
    match b.get_mut(at..at + 4) {
        Some(s) => {
            s.copy_from_slice(&v.to_be_bytes());
            true
        }
        None => false,
    }
}

/// Sum of the IPv4 pseudo-header (addresses, protocol, L4 length).
#[inline]
pub(crate) fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, l4_len: u16) -> u64 {
    let mut acc = sum(0, &src);
    acc = sum(acc, &dst);
    acc + u64::from(proto) + u64::from(l4_len)
}

/// The transport layer of a received IPv4 packet, as far as the device
/// looks at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4Kind {
    /// TCP with its ports.
    Tcp { src_port: u16, dst_port: u16 },
    /// UDP with its ports.
    Udp { src_port: u16, dst_port: u16 },
    /// Another protocol, or a fragment whose ports are not visible.
    Other,
}

/// An IPv4 packet inside a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ipv4View {
    /// Offset of the IP header in the frame.
    pub l3: usize,
    /// IP header length in bytes.
    pub ihl: usize,
    /// Total length from the IP header (validated against the frame).
    pub total_len: usize,
    /// IP protocol.
    pub proto: u8,
    /// A fragment (MF set or non-zero offset).
    pub fragment: bool,
    /// Not the first fragment: no L4 header here.
    pub later_fragment: bool,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Transport layer (only for unfragmented packets).
    pub l4: L4Kind,
}

impl Ipv4View {
    /// Offset of the L4 header in the frame.
    pub fn l4_offset(&self) -> usize {
        self.l3 + self.ihl
    }
}

/// EtherType of an untagged frame.
#[inline]
pub(crate) fn ethertype(frame: &[u8]) -> Option<u16> {
    be16(frame, 12)
}

/// Parses the IPv4 header (and TCP/UDP ports) of an untagged Ethernet
/// frame. `None` when the frame is not IPv4 or the header is malformed
/// (bad version, IHL, or lengths past the end of the frame).
pub(crate) fn parse_ipv4(frame: &[u8]) -> Option<Ipv4View> {
    if ethertype(frame)? != ETHERTYPE_IPV4 {
        return None;
    }
    let l3 = ETH_HLEN;
    let vihl = *frame.get(l3)?;
    let ihl = usize::from(vihl & 0x0F) * 4;
    if vihl >> 4 != 4 || ihl < 20 {
        return None;
    }
    let total_len = usize::from(be16(frame, l3 + 2)?);
    if total_len < ihl || l3 + total_len > frame.len() {
        return None;
    }
    let frag = be16(frame, l3 + 6)?;
    let fragment = frag & 0x3FFF != 0; // MF or offset
    let later_fragment = frag & 0x1FFF != 0;
    let proto = frame[l3 + 9];
    let src = frame.get(l3 + 12..l3 + 16)?.try_into().ok()?;
    let dst = frame.get(l3 + 16..l3 + 20)?.try_into().ok()?;
    let l4_at = l3 + ihl;
    let ports = || Some((be16(frame, l4_at)?, be16(frame, l4_at + 2)?));
    let l4 = match proto {
        _ if fragment => L4Kind::Other,
        PROTO_TCP if total_len - ihl >= 20 => match ports() {
            Some((s, d)) => L4Kind::Tcp {
                src_port: s,
                dst_port: d,
            },
            None => L4Kind::Other,
        },
        PROTO_UDP if total_len - ihl >= 8 => match ports() {
            Some((s, d)) => L4Kind::Udp {
                src_port: s,
                dst_port: d,
            },
            None => L4Kind::Other,
        },
        _ => L4Kind::Other,
    };
    Some(Ipv4View {
        l3,
        ihl,
        total_len,
        proto,
        fragment,
        later_fragment,
        src,
        dst,
        l4,
    })
}

/// Whether the IPv4 header checksum verifies.
pub(crate) fn ipv4_header_ok(frame: &[u8], ip: &Ipv4View) -> bool {
    match frame.get(ip.l3..ip.l3 + ip.ihl) {
        Some(h) => fold(sum(0, h)) == 0xFFFF,
        None => false,
    }
}

/// Whether the TCP/UDP checksum of an unfragmented IPv4 packet verifies.
/// `None` when there is nothing to check (not TCP/UDP, or a UDP packet
/// sent without a checksum).
pub(crate) fn ipv4_l4_ok(frame: &[u8], ip: &Ipv4View) -> Option<bool> {
    let l4 = frame.get(ip.l4_offset()..ip.l3 + ip.total_len)?;
    match ip.l4 {
        L4Kind::Tcp { .. } => {}
        L4Kind::Udp { .. } if be16(l4, 6)? == 0 => return None,
        L4Kind::Udp { .. } => {}
        L4Kind::Other => return None,
    }
    let len = u16::try_from(l4.len()).ok()?;
    let acc = sum(pseudo_v4(ip.src, ip.dst, ip.proto, len), l4);
    Some(fold(acc) == 0xFFFF)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Naive RFC 1071 checksum, 16 bits at a time.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for pair in data.chunks(2) {
            let w = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            s += u32::from(w);
            s = (s & 0xFFFF) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn sum_matches_naive_for_all_lengths_and_alignments() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
        for start in 0..4 {
            for len in 0..200 {
                let d = &data[start..start + len];
                assert_eq!(fold(sum(0, d)), naive(d), "start {start} len {len}");
            }
        }
        // 0xFFFF words fold to 0xFFFF, not 0.
        assert_eq!(fold(sum(0, &[0xff, 0xff, 0xff, 0xff])), 0xFFFF);
    }

    fn udp_frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; ETH_HLEN + 20 + 8 + payload.len()];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = &mut f[ETH_HLEN..];
        ip[0] = 0x45;
        let total = (20 + 8 + payload.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[8] = 64;
        ip[9] = PROTO_UDP;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let c = !naive(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let udp = &mut ip[20..];
        udp[0..2].copy_from_slice(&1234u16.to_be_bytes());
        udp[2..4].copy_from_slice(&80u16.to_be_bytes());
        udp[4..6].copy_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        udp[8..].copy_from_slice(payload);
        let mut pseudo = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, PROTO_UDP];
        pseudo.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(udp);
        let c = !naive(&pseudo);
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn parse_and_verify() {
        let f = udp_frame(b"hello world");
        let ip = parse_ipv4(&f).unwrap();
        assert_eq!(
            ip.l4,
            L4Kind::Udp {
                src_port: 1234,
                dst_port: 80
            }
        );
        assert_eq!((ip.ihl, ip.total_len, ip.fragment), (20, 39, false));
        assert!(ipv4_header_ok(&f, &ip));
        assert_eq!(ipv4_l4_ok(&f, &ip), Some(true));
        // A flipped payload byte is caught by L4, a header byte by IP.
        let mut bad = f.clone();
        bad[ETH_HLEN + 30] ^= 0x40;
        assert_eq!(ipv4_l4_ok(&bad, &parse_ipv4(&bad).unwrap()), Some(false));
        let mut bad = f.clone();
        bad[ETH_HLEN + 8] ^= 1; // TTL
        assert!(!ipv4_header_ok(&bad, &parse_ipv4(&bad).unwrap()));
        // UDP without checksum: nothing to check.
        let mut nock = f.clone();
        nock[ETH_HLEN + 26..ETH_HLEN + 28].copy_from_slice(&[0, 0]);
        assert_eq!(ipv4_l4_ok(&nock, &parse_ipv4(&nock).unwrap()), None);
    }

    #[test]
    fn malformed_input_is_rejected_not_panicking() {
        let f = udp_frame(b"x");
        for len in 0..f.len() {
            let cut = &f[..len];
            if let Some(ip) = parse_ipv4(cut) {
                panic!("truncated frame of {len} bytes parsed as {ip:?}");
            }
        }
        let mut bad_ihl = f.clone();
        bad_ihl[ETH_HLEN] = 0x44;
        assert!(parse_ipv4(&bad_ihl).is_none());
        let mut long_ihl = f.clone();
        long_ihl[ETH_HLEN] = 0x4F; // 60-byte header > total length 29
        assert!(parse_ipv4(&long_ihl).is_none());
        let mut frag = f.clone();
        frag[ETH_HLEN + 6] = 0x20; // MF
        let ip = parse_ipv4(&frag).unwrap();
        assert!(ip.fragment && !ip.later_fragment && ip.l4 == L4Kind::Other);
        // Arbitrary garbage never panics.
        let mut x = 0x9e37_79b9u32;
        for _ in 0..2000 {
            let mut g = f.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = x as usize % g.len();
                g[at] = (x >> 8) as u8;
            }
            if let Some(ip) = parse_ipv4(&g) {
                let _ = ipv4_header_ok(&g, &ip);
                let _ = ipv4_l4_ok(&g, &ip);
            }
        }
    }
}
