//! Ethernet II frames (IEEE 802.3 with an EtherType, no FCS).

use core::fmt;
use core::str::FromStr;

use super::{check_min_len, wire_enum, wire_view, Error, Field, Result};

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);
    /// `00:00:00:00:00:00` (ARP's "unknown" target).
    pub const UNSPECIFIED: EthernetAddress = EthernetAddress([0; 6]);

    /// Reads an address from the first 6 bytes of `bytes`; `Truncated` if
    /// there are fewer.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Result<EthernetAddress> {
        match bytes.first_chunk::<6>() {
            Some(b) => Ok(EthernetAddress(*b)),
            None => Err(Error::Truncated),
        }
    }

    /// The six octets.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// All ones.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set (includes broadcast).
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Group bit clear: names one station.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Locally administered bit set (not a vendor-assigned address).
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// All zeros.
    #[inline]
    pub fn is_unspecified(&self) -> bool {
        *self == Self::UNSPECIFIED
    }
}

impl Field for EthernetAddress {
    #[inline(always)]
    fn read(buf: &[u8], at: usize) -> Self {
        let mut addr = [0; 6];
        addr.copy_from_slice(&buf[at..at + 6]);
        EthernetAddress(addr)
    }

    #[inline(always)]
    fn write(self, buf: &mut [u8], at: usize) {
        buf[at..at + 6].copy_from_slice(&self.0);
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for EthernetAddress {
    type Err = Error;

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-`); `Malformed` otherwise.
    fn from_str(s: &str) -> Result<EthernetAddress> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or(Error::Malformed)?;
            if part.is_empty() || part.len() > 2 {
                return Err(Error::Malformed);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| Error::Malformed)?;
        }
        if parts.next().is_some() {
            return Err(Error::Malformed);
        }
        Ok(EthernetAddress(out))
    }
}

wire_enum! {
    /// The EtherType field: what the payload is.
    pub enum EtherType(u16) {
        /// IPv4 (0x0800).
        Ipv4 = 0x0800,
        /// ARP (0x0806).
        Arp = 0x0806,
        /// IPv6 (0x86DD); recognised, not handled by the stack yet.
        Ipv6 = 0x86dd,
        /// An 802.1Q VLAN tag follows (0x8100).
        Vlan = 0x8100,
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Ipv4 => f.write_str("IPv4"),
            EtherType::Arp => f.write_str("ARP"),
            EtherType::Ipv6 => f.write_str("IPv6"),
            EtherType::Vlan => f.write_str("802.1Q"),
            EtherType::Unknown(v) => write!(f, "0x{v:04x}"),
        }
    }
}

mod field {
    use core::ops::RangeFrom;
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of an Ethernet II header.
pub const HEADER_LEN: usize = 14;

wire_view! {
    /// A view of an Ethernet II frame (without FCS).
    pub struct EthernetFrame;
    payload(_p => field::PAYLOAD) {
        /// Everything after the header (including any padding to 60 bytes:
        /// the upper layer's own length field bounds it).
        fn payload, into_payload, payload_mut;
    }
    fields {
        /// Destination address.
        dst_addr, set_dst_addr: EthernetAddress = field::DST;
        /// Source address.
        src_addr, set_src_addr: EthernetAddress = field::SRC;
        /// EtherType.
        ethertype, set_ethertype: EtherType = field::ETHERTYPE;
    }
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// `Truncated` if the buffer cannot hold the header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        check_min_len(self.buffer.as_ref().len(), HEADER_LEN)
    }
}

/// An Ethernet II header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source MAC.
    pub src_addr: EthernetAddress,
    /// Destination MAC.
    pub dst_addr: EthernetAddress,
    /// Payload type.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame (any EtherType is accepted; the
    /// caller dispatches on it).
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// [`HEADER_LEN`].
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus `payload_len`.
    #[inline]
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the header; the frame must hold at least [`HEADER_LEN`] bytes.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wire::testutil;
    use proptest::prelude::*;

    const FRAME: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // src
        0x08, 0x06, // ARP
        0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn parse_known_frame() {
        let frame = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(frame.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(
            frame.src_addr(),
            EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        );
        assert_eq!(frame.ethertype(), EtherType::Arp);
        assert_eq!(frame.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        let repr = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(repr.ethertype, EtherType::Arp);
        assert_eq!(repr.buffer_len(4), FRAME.len());
    }

    #[test]
    fn emit_builds_known_frame() {
        let repr = EthernetRepr {
            src_addr: "52:54:00:12:34:56".parse().unwrap(),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Arp,
        };
        let mut buf = [0u8; 18];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        repr.emit(&mut frame);
        frame
            .payload_mut()
            .copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn ethertypes() {
        for (raw, ty) in [
            (0x0800, EtherType::Ipv4),
            (0x0806, EtherType::Arp),
            (0x86dd, EtherType::Ipv6),
            (0x8100, EtherType::Vlan),
            (0x88cc, EtherType::Unknown(0x88cc)),
        ] {
            assert_eq!(EtherType::from(raw), ty);
            assert_eq!(u16::from(ty), raw);
        }
        assert_eq!(EtherType::Unknown(0x88cc).to_string(), "0x88cc");
    }

    #[test]
    fn address_classes_and_text() {
        let bc = EthernetAddress::BROADCAST;
        assert!(bc.is_broadcast() && bc.is_multicast() && !bc.is_unicast());
        let mc = EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert!(mc.is_multicast() && !mc.is_broadcast());
        let uc: EthernetAddress = "02-00-00-aa-bb-0c".parse().unwrap();
        assert!(uc.is_unicast() && uc.is_local() && !uc.is_unspecified());
        assert_eq!(uc.to_string(), "02:00:00:aa:bb:0c");
        assert!(EthernetAddress::UNSPECIFIED.is_unspecified());
        for bad in [
            "",
            "02:00:00:aa:bb",
            "02:00:00:aa:bb:0c:00",
            "02:00:00:aa:bb:0g",
            "02:00:00:aa:bb:100",
            "02:00::aa:bb:0c",
        ] {
            assert_eq!(
                bad.parse::<EthernetAddress>(),
                Err(Error::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            EthernetAddress::from_bytes(&[1, 2, 3]),
            Err(Error::Truncated)
        );
        assert_eq!(
            EthernetAddress::from_bytes(&[1, 2, 3, 4, 5, 6, 7]).unwrap(),
            EthernetAddress([1, 2, 3, 4, 5, 6])
        );
    }

    #[test]
    fn truncations_fail() {
        testutil::assert_truncations_err(&FRAME[..HEADER_LEN], |b| {
            EthernetFrame::new_checked(b).map(|_| ())
        });
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(frame) = EthernetFrame::new_checked(&data[..]) {
                let repr = EthernetRepr::parse(&frame).unwrap();
                prop_assert_eq!(frame.payload().len() + repr.header_len(), data.len());
            } else {
                prop_assert!(data.len() < HEADER_LEN);
            }
        }

        #[test]
        fn emit_parse_round_trip(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), ty in any::<u16>()) {
            let repr = EthernetRepr {
                src_addr: EthernetAddress(src),
                dst_addr: EthernetAddress(dst),
                ethertype: EtherType::from(ty),
            };
            let mut buf = [0u8; HEADER_LEN];
            repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
            let parsed = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).unwrap()).unwrap();
            prop_assert_eq!(parsed, repr);
        }
    }
}
