//! IPv4 (RFC 791): header view, `Ipv4Repr`, and `Ipv4Cidr`.

use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

use super::{
    check_declared_len, checksum, read_u16, wire_enum, wire_view, write_u16, ChecksumMode, Error,
    Result,
};

wire_enum! {
    /// The IPv4 protocol field (IANA protocol numbers).
    pub enum IpProtocol(u8) {
        /// ICMP.
        Icmp = 1,
        /// IGMP.
        Igmp = 2,
        /// TCP.
        Tcp = 6,
        /// UDP.
        Udp = 17,
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::Igmp => f.write_str("IGMP"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Unknown(v) => write!(f, "IP proto {v}"),
        }
    }
}

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Largest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Largest datagram the 16-bit total length can describe.
pub const MAX_PACKET_LEN: usize = 65535;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_MASK: u16 = 0x1fff;

wire_view! {
    /// A view of an IPv4 datagram.
    pub struct Ipv4Packet;
    payload(p => p.header_len()..usize::from(p.total_len())) {
        /// The payload: from the end of the header to the total length, so
        /// link-layer padding is excluded.
        fn payload, into_payload, payload_mut;
    }
    fields {
        /// The whole type-of-service byte (DSCP << 2 | ECN).
        tos, set_tos: u8 = field::TOS;
        /// Total length (header + payload) in bytes.
        total_len, set_total_len: u16 = field::LENGTH;
        /// Identification.
        ident, set_ident: u16 = field::IDENT;
        /// Time to live.
        ttl, set_ttl: u8 = field::TTL;
        /// Protocol of the payload.
        protocol, set_protocol: IpProtocol = field::PROTOCOL;
        /// Header checksum field.
        checksum, set_checksum: u16 = field::CHECKSUM;
        /// Source address.
        src_addr, set_src_addr: Ipv4Addr = field::SRC;
        /// Destination address.
        dst_addr, set_dst_addr: Ipv4Addr = field::DST;
    }
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Validates the header length only: at least 20 bytes, IHL ≥ 5, and
    /// the whole header (options included) in the buffer. Enough for the
    /// header getters and [`options`](Self::options), not for `payload`.
    #[inline]
    pub fn check_header_len(&self) -> Result<()> {
        check_declared_len(self.buffer.as_ref().len(), HEADER_LEN, || self.header_len())
    }

    /// [`check_header_len`](Self::check_header_len), then total length ≥
    /// header length (`Malformed`) and ≤ buffer length (`Truncated`).
    /// Bytes after the total length (Ethernet padding) are allowed.
    /// // linux: ip_rcv_core's length checks
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        self.check_header_len()?;
        check_declared_len(self.buffer.as_ref().len(), self.header_len(), || {
            usize::from(self.total_len())
        })
    }

    /// Version field (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// Explicit congestion notification bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    #[inline]
    fn flags_frag(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG)
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_MASK) << 3
    }

    /// True for any fragment (MF set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_MASK) != 0
    }

    /// True when the header (options included) sums to -0.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The options bytes (empty for IHL 5). Not interpreted: the stack
    /// skips options, as it may for a host.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        debug_assert!(len.is_multiple_of(4) && (HEADER_LEN..=MAX_HEADER_LEN).contains(&len));
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the DSCP (6 bits), keeping ECN.
    #[inline]
    pub fn set_dscp(&mut self, dscp: u8) {
        let tos = (dscp << 2) | self.ecn();
        self.set_tos(tos);
    }

    /// Sets the ECN bits (2 bits), keeping DSCP.
    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let tos = (self.tos() & !0x03) | (ecn & 0x03);
        self.set_tos(tos);
    }

    /// Writes DF, MF and the fragment offset (bytes, a multiple of 8) at
    /// once; the reserved bit is cleared.
    #[inline]
    pub fn set_flags_frag(&mut self, dont_frag: bool, more_frags: bool, frag_offset: u16) {
        debug_assert!(
            frag_offset.is_multiple_of(8),
            "fragment offsets are 8-byte units"
        );
        let mut raw = (frag_offset >> 3) & FRAG_MASK;
        if dont_frag {
            raw |= FLAG_DF;
        }
        if more_frags {
            raw |= FLAG_MF;
        }
        write_u16(self.buffer.as_mut(), field::FLAGS_FRAG, raw);
    }

    /// Computes and stores the header checksum (over the options too).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(value);
    }

    /// Decrements the TTL and patches the checksum incrementally (RFC 1624),
    /// returning the new TTL; `None` (packet untouched) if it was already 0.
    /// // linux: ip_decrease_ttl
    #[inline]
    pub fn decrement_ttl(&mut self) -> Option<u8> {
        let ttl = self.ttl().checked_sub(1)?;
        let protocol = u8::from(self.protocol());
        let old = u16::from_be_bytes([ttl + 1, protocol]);
        let new = u16::from_be_bytes([ttl, protocol]);
        let check = checksum::update_u16(self.checksum(), old, new);
        self.set_ttl(ttl);
        self.set_checksum(check);
        Some(ttl)
    }

    /// The options bytes, writable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// An IPv4 header as values (options are skipped on parse, never emitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Payload length in bytes (total length − header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP (6 bits).
    pub dscp: u8,
    /// ECN (2 bits).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments follow.
    pub more_frags: bool,
    /// Offset of this fragment's payload in the original, in bytes.
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Parses a checked datagram: version 4, lengths, and (in
    /// [`ChecksumMode::Software`]) the header checksum. A fragment whose
    /// end would pass 65535 bytes is `Malformed` (the "ping of death").
    /// // linux: ip_rcv_core
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>, mode: ChecksumMode) -> Result<Ipv4Repr> {
        packet.check_len()?;
        let repr = Self::parse_header_fields(packet)?;
        if mode.is_software() && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        if usize::from(repr.frag_offset) + repr.payload_len + packet.header_len() > MAX_PACKET_LEN {
            return Err(Error::Malformed);
        }
        Ok(repr)
    }

    /// Parses a header whose payload may be cut short: the original
    /// datagram quoted in an ICMP error. Checks the version and header
    /// length only; neither the checksum nor that the payload is present.
    pub fn parse_quoted<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        packet.check_header_len()?;
        Self::parse_header_fields(packet)
    }

    /// Reads the fields of a header whose length was validated.
    fn parse_header_fields<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        if packet.version() != 4 {
            return Err(Error::Malformed);
        }
        let payload_len = usize::from(packet.total_len())
            .checked_sub(packet.header_len())
            .ok_or(Error::Malformed)?;
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len,
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// [`HEADER_LEN`]: the repr never emits options.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes a 20-byte header (the payload is the caller's). In
    /// [`ChecksumMode::Offloaded`] the checksum field is left 0 for the
    /// device. `payload_len` must be at most 65515.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
        mode: ChecksumMode,
    ) {
        debug_assert!(self.payload_len <= MAX_PACKET_LEN - HEADER_LEN);
        packet.buffer.as_mut()[field::VER_IHL] = 0x45;
        packet.set_tos((self.dscp << 2) | (self.ecn & 0x03));
        packet.set_total_len(self.buffer_len() as u16);
        packet.set_ident(self.ident);
        packet.set_flags_frag(self.dont_frag, self.more_frags, self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        if mode.is_software() {
            packet.fill_checksum();
        } else {
            packet.set_checksum(0);
        }
    }
}

/// An IPv4 address with a prefix length, e.g. `10.0.0.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    address: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// `Malformed` if `prefix_len > 32`.
    #[inline]
    pub const fn new(address: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Cidr> {
        if prefix_len > 32 {
            return Err(Error::Malformed);
        }
        Ok(Ipv4Cidr {
            address,
            prefix_len,
        })
    }

    /// The address as given (host bits kept).
    #[inline]
    pub const fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The prefix length, 0..=32.
    #[inline]
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    #[inline]
    fn mask_bits(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0)
    }

    /// The netmask (`255.255.255.0` for /24).
    #[inline]
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// The network: host bits cleared.
    #[inline]
    pub fn network(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            address: Ipv4Addr::from(u32::from(self.address) & self.mask_bits()),
            prefix_len: self.prefix_len,
        }
    }

    /// The directed broadcast address; `None` for /31 (RFC 3021
    /// point-to-point) and /32, which have none.
    #[inline]
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        if self.prefix_len >= 31 {
            return None;
        }
        Some(Ipv4Addr::from(u32::from(self.address) | !self.mask_bits()))
    }

    /// True when `addr` is inside the prefix.
    #[inline]
    pub fn contains_addr(&self, addr: Ipv4Addr) -> bool {
        (u32::from(addr) ^ u32::from(self.address)) & self.mask_bits() == 0
    }

    /// True when all of `other` is inside this prefix.
    #[inline]
    pub fn contains_subnet(&self, other: &Ipv4Cidr) -> bool {
        self.prefix_len <= other.prefix_len && self.contains_addr(other.address)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    /// Parses `a.b.c.d/n` (n in 0..=32, plain decimal); `Malformed`
    /// otherwise.
    fn from_str(s: &str) -> Result<Ipv4Cidr> {
        let (addr, prefix) = s.split_once('/').ok_or(Error::Malformed)?;
        let address: Ipv4Addr = addr.parse().map_err(|_| Error::Malformed)?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Malformed);
        }
        let prefix_len: u8 = prefix.parse().map_err(|_| Error::Malformed)?;
        Ipv4Cidr::new(address, prefix_len)
    }
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;
    use crate::wire::testutil;
    use proptest::prelude::*;

    /// A UDP datagram header from 192.168.0.1 to 192.168.0.199 (the classic
    /// checksum example), total length 0x73.
    pub(crate) const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn datagram() -> Vec<u8> {
        let mut d = HEADER.to_vec();
        d.resize(0x73, 0xaa);
        d
    }

    #[test]
    fn parse_known_header() {
        let d = datagram();
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 0x73 - 20);
        let repr = Ipv4Repr::parse(&p, ChecksumMode::Software).unwrap();
        assert_eq!(
            repr,
            Ipv4Repr {
                src_addr: Ipv4Addr::new(192, 168, 0, 1),
                dst_addr: Ipv4Addr::new(192, 168, 0, 199),
                protocol: IpProtocol::Udp,
                payload_len: 0x73 - 20,
                ttl: 64,
                dscp: 0,
                ecn: 0,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
            }
        );
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut out[..]),
            ChecksumMode::Software,
        );
        assert_eq!(&out[..20], &HEADER);
    }

    #[test]
    fn padding_is_not_payload() {
        let mut d = datagram();
        d.extend_from_slice(&[0; 7]);
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6 with a 4-byte option (NOP NOP NOP EOL).
        let mut d = vec![
            0x46, 0x10, 0x00, 0x1c, 0x12, 0x34, 0x20, 0x03, 0x05, 0x06, 0, 0, 10, 0, 0, 1, 10, 0,
            0, 2, 1, 1, 1, 0, 0xca, 0xfe, 0xba, 0xbe,
        ];
        let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[0xca, 0xfe, 0xba, 0xbe]);
        let repr = Ipv4Repr::parse(&p, ChecksumMode::Software).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(repr.dscp, 4);
        assert!(repr.more_frags && !repr.dont_frag);
        assert_eq!(repr.frag_offset, 24);
        assert_eq!(repr.protocol, IpProtocol::Tcp);
    }

    #[test]
    fn length_errors() {
        let d = datagram();
        let check = |b: &[u8]| Ipv4Packet::new_checked(b).err();
        // IHL 4.
        let mut b = d.clone();
        b[0] = 0x44;
        assert_eq!(check(&b), Some(Error::Malformed));
        // IHL 15 but only 0x73 bytes... fine; IHL 15 in a 40-byte buffer is truncated.
        let mut b = d[..40].to_vec();
        b[0] = 0x4f;
        b[3] = 40;
        assert_eq!(check(&b), Some(Error::Truncated));
        // Total length below the header length.
        let mut b = d.clone();
        b[2] = 0;
        b[3] = 19;
        assert_eq!(check(&b), Some(Error::Malformed));
        // Total length past the buffer.
        let mut b = d.clone();
        b[3] = 0x74;
        assert_eq!(check(&b), Some(Error::Truncated));
        // Version 6 is a well-formed length but not IPv4.
        let mut b = d.clone();
        b[0] = 0x65;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Offloaded),
            Err(Error::Malformed)
        );
        // A bad checksum is caught in software mode only.
        let mut b = d;
        b[11] ^= 1;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Software),
            Err(Error::Checksum)
        );
        assert!(Ipv4Repr::parse(&p, ChecksumMode::Offloaded).is_ok());
    }

    #[test]
    fn ping_of_death_fragment_rejected() {
        let mut repr = Ipv4Repr::parse(
            &Ipv4Packet::new_checked(&datagram()[..]).unwrap(),
            ChecksumMode::Software,
        )
        .unwrap();
        repr.dont_frag = false;
        repr.frag_offset = 65528;
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut out[..]),
            ChecksumMode::Software,
        );
        let p = Ipv4Packet::new_checked(&out[..]).unwrap();
        assert_eq!(p.frag_offset(), 65528);
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Software),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn decrement_ttl_keeps_checksum_valid() {
        let mut d = datagram();
        let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
        for expect in (0..64).rev() {
            assert_eq!(p.decrement_ttl(), Some(expect));
            assert!(p.verify_checksum(), "ttl {expect}");
            let incremental = p.checksum();
            p.fill_checksum();
            assert_eq!(p.checksum(), incremental);
        }
        assert_eq!(p.decrement_ttl(), None);
        assert_eq!(p.ttl(), 0);
    }

    #[test]
    fn setters_keep_neighbouring_bits() {
        let mut d = datagram();
        let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
        p.set_dscp(46);
        p.set_ecn(3);
        assert_eq!((p.dscp(), p.ecn(), p.tos()), (46, 3, 0xbb));
        p.set_ecn(1);
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
        p.set_header_len(24);
        assert_eq!((p.version(), p.header_len()), (4, 24));
        p.set_version(6);
        assert_eq!((p.version(), p.header_len()), (6, 24));
        p.set_flags_frag(false, true, 8 * 100);
        assert!(p.more_frags() && !p.dont_frag() && p.is_fragment());
        assert_eq!(p.frag_offset(), 800);
    }

    #[test]
    fn robustness() {
        let d = datagram();
        testutil::assert_truncations_err(&d, |b| {
            Ipv4Repr::parse(&Ipv4Packet::new_checked(b)?, ChecksumMode::Software).map(|_| ())
        });
        // Every byte of the header is covered by the checksum.
        for at in 0..HEADER_LEN {
            for v in 0..=255u8 {
                let mut b = d.clone();
                if b[at] == v {
                    continue;
                }
                b[at] = v;
                let r = Ipv4Packet::new_checked(&b[..])
                    .and_then(|p| Ipv4Repr::parse(&p, ChecksumMode::Software));
                assert!(r.is_err(), "byte {at} = {v:#x} accepted");
            }
        }
    }

    #[test]
    fn cidr() {
        let c: Ipv4Cidr = "10.0.0.1/24".parse().unwrap();
        assert_eq!(c.address(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.network().to_string(), "10.0.0.0/24");
        assert_eq!(c.broadcast(), Some(Ipv4Addr::new(10, 0, 0, 255)));
        assert!(c.contains_addr(Ipv4Addr::new(10, 0, 0, 254)));
        assert!(!c.contains_addr(Ipv4Addr::new(10, 0, 1, 1)));
        assert!(c.contains_subnet(&"10.0.0.128/25".parse().unwrap()));
        assert!(!c.contains_subnet(&"10.0.0.0/16".parse().unwrap()));
        assert_eq!(c.to_string(), "10.0.0.1/24");

        let any: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(any.netmask(), Ipv4Addr::UNSPECIFIED);
        assert!(any.contains_addr(Ipv4Addr::new(203, 0, 113, 9)));
        assert_eq!(any.broadcast(), Some(Ipv4Addr::BROADCAST));
        let host: Ipv4Cidr = "192.0.2.7/32".parse().unwrap();
        assert_eq!(host.netmask(), Ipv4Addr::BROADCAST);
        assert!(host.contains_addr(Ipv4Addr::new(192, 0, 2, 7)));
        assert!(!host.contains_addr(Ipv4Addr::new(192, 0, 2, 6)));
        assert_eq!(host.broadcast(), None);
        assert_eq!(
            "192.0.2.6/31".parse::<Ipv4Cidr>().unwrap().broadcast(),
            None
        );

        for bad in [
            "10.0.0.1",
            "10.0.0.1/",
            "10.0.0.1/33",
            "10.0.0.1/+4",
            "10.0.0.1/100",
            "10.0.0/24",
            "10.0.0.256/24",
            "/24",
            "10.0.0.1/24/1",
            "10.0.0.1/ 4",
        ] {
            assert_eq!(bad.parse::<Ipv4Cidr>(), Err(Error::Malformed), "{bad}");
        }
        assert_eq!(
            Ipv4Cidr::new(Ipv4Addr::LOCALHOST, 33),
            Err(Error::Malformed)
        );
    }

    pub(crate) fn arb_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            any::<[u32; 2]>(),
            any::<u8>(),
            0usize..2000,
            any::<(u8, u8, u8, u16)>(),
            any::<(bool, bool)>(),
            0u16..8192,
        )
            .prop_map(
                |([s, d], proto, payload_len, (ttl, dscp, ecn, ident), (df, mf), frag)| Ipv4Repr {
                    src_addr: Ipv4Addr::from(s),
                    dst_addr: Ipv4Addr::from(d),
                    protocol: IpProtocol::from(proto),
                    payload_len,
                    ttl,
                    dscp: dscp & 0x3f,
                    ecn: ecn & 0x03,
                    ident,
                    dont_frag: df,
                    more_frags: mf,
                    frag_offset: (frag << 3).min(60000 & !7),
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(repr in arb_repr()) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Software);
            let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Software).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum());
                let _ = Ipv4Repr::parse(&p, ChecksumMode::Software);
            }
            let p = Ipv4Packet::new_unchecked(&data[..]);
            if p.check_header_len().is_ok() {
                let _ = Ipv4Repr::parse_quoted(&p);
            }
        }

        #[test]
        fn cidr_contains_agrees_with_network(addr in any::<u32>(), other in any::<u32>(), len in 0u8..=32) {
            let c = Ipv4Cidr::new(Ipv4Addr::from(addr), len).unwrap();
            let o = Ipv4Addr::from(other);
            let same_net = Ipv4Cidr::new(o, len).unwrap().network() == c.network();
            prop_assert_eq!(c.contains_addr(o), same_net);
            prop_assert_eq!(c.to_string().parse::<Ipv4Cidr>().unwrap(), c);
        }
    }
}
