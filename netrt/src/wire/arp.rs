//! ARP (RFC 826). The view reads any hardware/protocol address sizes; the
//! `Repr` handles Ethernet/IPv4 only, like the stack.

use std::net::Ipv4Addr;

use super::ethernet::EthernetAddress;
use super::{wire_enum, wire_view, Error, EtherType, Result};

wire_enum! {
    /// ARP opcode.
    pub enum ArpOperation(u16) {
        /// Who has the target protocol address?
        Request = 1,
        /// The sender owns the sender protocol address.
        Reply = 2,
    }
}

/// ARP hardware type for Ethernet.
pub const HARDWARE_ETHERNET: u16 = 1;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const ADDRS: usize = 8;
}

/// Length of the fixed part, before the variable-size addresses.
pub const FIXED_LEN: usize = field::ADDRS;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = FIXED_LEN + 2 * (6 + 4);

wire_view! {
    /// A view of an ARP packet.
    pub struct ArpPacket;
    fields {
        /// Hardware type (1 = Ethernet).
        hardware_type, set_hardware_type: u16 = field::HTYPE;
        /// Protocol type (an EtherType; IPv4 for us).
        protocol_type, set_protocol_type: EtherType = field::PTYPE;
        /// Hardware address length.
        hardware_len, set_hardware_len: u8 = field::HLEN;
        /// Protocol address length.
        protocol_len, set_protocol_len: u8 = field::PLEN;
        /// Opcode.
        operation, set_operation: ArpOperation = field::OPER;
    }
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// `Truncated` unless the buffer holds the fixed part and the four
    /// addresses whose sizes it declares.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN || len < self.packet_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Fixed part plus the declared addresses.
    #[inline]
    fn packet_len(&self) -> usize {
        FIXED_LEN + 2 * (usize::from(self.hardware_len()) + usize::from(self.protocol_len()))
    }

    /// Offsets of (sha, spa, tha, tpa).
    #[inline]
    fn offsets(&self) -> [usize; 4] {
        let h = usize::from(self.hardware_len());
        let p = usize::from(self.protocol_len());
        let sha = field::ADDRS;
        [sha, sha + h, sha + h + p, sha + 2 * h + p]
    }

    /// Sender hardware address bytes.
    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        let [sha, spa, ..] = self.offsets();
        &self.buffer.as_ref()[sha..spa]
    }

    /// Sender protocol address bytes.
    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        let [_, spa, tha, _] = self.offsets();
        &self.buffer.as_ref()[spa..tha]
    }

    /// Target hardware address bytes.
    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        let [_, _, tha, tpa] = self.offsets();
        &self.buffer.as_ref()[tha..tpa]
    }

    /// Target protocol address bytes.
    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        let [.., tpa] = self.offsets();
        let end = tpa + usize::from(self.protocol_len());
        &self.buffer.as_ref()[tpa..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the four addresses (sizes must match the length fields).
    #[inline]
    pub fn set_addrs(&mut self, sha: &[u8], spa: &[u8], tha: &[u8], tpa: &[u8]) {
        let [o_sha, o_spa, o_tha, o_tpa] = self.offsets();
        let buf = self.buffer.as_mut();
        buf[o_sha..o_spa].copy_from_slice(sha);
        buf[o_spa..o_tha].copy_from_slice(spa);
        buf[o_tha..o_tpa].copy_from_slice(tha);
        buf[o_tpa..o_tpa + tpa.len()].copy_from_slice(tpa);
    }
}

/// An Ethernet/IPv4 ARP packet as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request or reply (other opcodes are `Unsupported` in `parse`).
    pub operation: ArpOperation,
    /// Sender MAC.
    pub source_hardware_addr: EthernetAddress,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC (zero in a request).
    pub target_hardware_addr: EthernetAddress,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an Ethernet/IPv4 request or reply; anything else is
    /// `Unsupported`. // linux: arp_process's header checks
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HARDWARE_ETHERNET
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        let operation = match packet.operation() {
            op @ (ArpOperation::Request | ArpOperation::Reply) => op,
            ArpOperation::Unknown(_) => return Err(Error::Unsupported),
        };
        let ipv4 = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        Ok(ArpRepr {
            operation,
            source_hardware_addr: EthernetAddress::from_bytes(packet.source_hardware_addr())?,
            source_protocol_addr: ipv4(packet.source_protocol_addr()),
            target_hardware_addr: EthernetAddress::from_bytes(packet.target_hardware_addr())?,
            target_protocol_addr: ipv4(packet.target_protocol_addr()),
        })
    }

    /// [`ETHERNET_IPV4_LEN`].
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes the packet; the buffer must hold [`ETHERNET_IPV4_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_addrs(
            &self.source_hardware_addr.0,
            &self.source_protocol_addr.octets(),
            &self.target_hardware_addr.0,
            &self.target_protocol_addr.octets(),
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wire::testutil;
    use proptest::prelude::*;

    /// Ethernet frame: 10.0.0.1 (52:54:00:12:34:56) asks who has 10.0.0.2,
    /// padded to the 60-byte minimum.
    fn request_frame() -> Vec<u8> {
        let mut f = vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
            // ARP
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype ptype hlen plen op
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 0, 1, // sha spa
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, // tha tpa
        ];
        f.resize(60, 0);
        f
    }

    fn request_repr() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            source_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
            target_hardware_addr: EthernetAddress::UNSPECIFIED,
            target_protocol_addr: Ipv4Addr::new(10, 0, 0, 2),
        }
    }

    #[test]
    fn parse_request_capture() {
        let frame = request_frame();
        let packet = ArpPacket::new_checked(&frame[14..]).unwrap();
        assert_eq!(packet.hardware_type(), 1);
        assert_eq!(packet.protocol_type(), EtherType::Ipv4);
        assert_eq!(packet.operation(), ArpOperation::Request);
        assert_eq!(packet.target_protocol_addr(), &[10, 0, 0, 2]);
        assert_eq!(ArpRepr::parse(&packet).unwrap(), request_repr());
        testutil::parse_frame(&frame).unwrap();
    }

    #[test]
    fn emit_reply_and_request() {
        let mut buf = [0u8; ETHERNET_IPV4_LEN];
        request_repr().emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &request_frame()[14..14 + ETHERNET_IPV4_LEN]);

        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            ..request_repr()
        };
        reply.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[6..8], &[0, 2]);
        let parsed = ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(parsed, reply);
    }

    #[test]
    fn unsupported_kinds() {
        let base = request_frame()[14..14 + ETHERNET_IPV4_LEN].to_vec();
        for (at, value) in [(1, 6u8), (2, 0x86), (7, 3)] {
            let mut b = base.clone();
            b[at] = value;
            let p = ArpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported), "byte {at}");
        }
        // A declared hlen of 8 makes the same bytes too short.
        let mut b = base.clone();
        b[4] = 8;
        assert_eq!(ArpPacket::new_checked(&b[..]).err(), Some(Error::Truncated));
        // hlen 4 is well-formed but not Ethernet.
        let mut b = base;
        b[4] = 4;
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.source_hardware_addr().len(), 4);
        assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported));
    }

    #[test]
    fn robustness() {
        let frame = request_frame();
        testutil::assert_truncations_err(&frame[..14 + ETHERNET_IPV4_LEN], testutil::parse_frame);
        let (ok, err) = testutil::mutate_every_byte(&frame, testutil::parse_frame);
        assert!(ok > 0 && err > 0, "ok {ok} err {err}");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = ArpPacket::new_checked(&data[..]) {
                let _ = p.source_hardware_addr();
                let _ = p.target_protocol_addr();
                let _ = ArpRepr::parse(&p);
            }
        }

        #[test]
        fn round_trip(req in any::<bool>(), sha in any::<[u8; 6]>(), tha in any::<[u8; 6]>(), spa in any::<u32>(), tpa in any::<u32>()) {
            let repr = ArpRepr {
                operation: if req { ArpOperation::Request } else { ArpOperation::Reply },
                source_hardware_addr: EthernetAddress(sha),
                source_protocol_addr: Ipv4Addr::from(spa),
                target_hardware_addr: EthernetAddress(tha),
                target_protocol_addr: Ipv4Addr::from(tpa),
            };
            let mut buf = [0u8; ETHERNET_IPV4_LEN];
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
            prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }
    }
}
