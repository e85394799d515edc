//! ICMPv4 (RFC 792, RFC 1191 for "fragmentation needed" MTUs).

use super::ipv4::{self, Ipv4Packet, Ipv4Repr};
use super::{
    check_min_len, checksum, read_u16, wire_enum, wire_view, write_u16, ChecksumMode, Error, Result,
};

wire_enum! {
    /// ICMPv4 message type.
    pub enum Icmpv4Message(u8) {
        /// Echo reply.
        EchoReply = 0,
        /// Destination unreachable.
        DstUnreachable = 3,
        /// Source quench (deprecated).
        SourceQuench = 4,
        /// Redirect.
        Redirect = 5,
        /// Echo request.
        EchoRequest = 8,
        /// Router advertisement.
        RouterAdvert = 9,
        /// Router solicitation.
        RouterSolicit = 10,
        /// Time exceeded.
        TimeExceeded = 11,
        /// Parameter problem.
        ParamProblem = 12,
        /// Timestamp.
        Timestamp = 13,
        /// Timestamp reply.
        TimestampReply = 14,
    }
}

wire_enum! {
    /// Codes of a destination-unreachable message.
    pub enum DstUnreachable(u8) {
        /// Network unreachable.
        NetUnreachable = 0,
        /// Host unreachable.
        HostUnreachable = 1,
        /// Protocol unreachable.
        ProtoUnreachable = 2,
        /// Port unreachable.
        PortUnreachable = 3,
        /// Fragmentation needed and DF set; carries the next-hop MTU.
        FragRequired = 4,
        /// Source route failed.
        SrcRouteFailed = 5,
        /// Destination network unknown.
        DstNetUnknown = 6,
        /// Destination host unknown.
        DstHostUnknown = 7,
        /// Source host isolated.
        SrcHostIsolated = 8,
        /// Network administratively prohibited.
        NetProhibited = 9,
        /// Host administratively prohibited.
        HostProhibited = 10,
        /// Network unreachable for ToS.
        NetUnreachToS = 11,
        /// Host unreachable for ToS.
        HostUnreachToS = 12,
        /// Communication administratively prohibited.
        CommProhibited = 13,
        /// Host precedence violation.
        HostPrecedenceViolation = 14,
        /// Precedence cutoff in effect.
        PrecedenceCutoff = 15,
    }
}

wire_enum! {
    /// Codes of a time-exceeded message.
    pub enum TimeExceeded(u8) {
        /// TTL reached zero in transit.
        TtlExpired = 0,
        /// Reassembly timed out.
        FragExpired = 1,
    }
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ: usize = 6;
    pub const UNUSED: usize = 4;
    pub const MTU: usize = 6;
}

/// Length of the ICMP header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;

wire_view! {
    /// A view of an ICMPv4 message; the buffer is the whole IP payload (the
    /// checksum covers all of it).
    pub struct Icmpv4Packet;
    payload(_p => HEADER_LEN..) {
        /// Everything after the 8-byte header: echo data, or the quoted
        /// datagram of an error.
        fn data, into_data, data_mut;
    }
    fields {
        /// Message type.
        msg_type, set_msg_type: Icmpv4Message = field::TYPE;
        /// Message code.
        msg_code, set_msg_code: u8 = field::CODE;
        /// Checksum field.
        checksum, set_checksum: u16 = field::CHECKSUM;
        /// Echo identifier (echo messages).
        echo_ident, set_echo_ident: u16 = field::ECHO_IDENT;
        /// Echo sequence number (echo messages).
        echo_seq_no, set_echo_seq_no: u16 = field::ECHO_SEQ;
    }
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// `Truncated` if the buffer cannot hold the 8-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        check_min_len(self.buffer.as_ref().len(), HEADER_LEN)
    }

    /// Next-hop MTU (destination unreachable, fragmentation needed).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::MTU)
    }

    /// True when the whole message sums to -0.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Clears the unused word of an error message and sets the next-hop
    /// MTU (0 unless "fragmentation needed").
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::UNUSED, 0);
        write_u16(self.buffer.as_mut(), field::MTU, value);
    }

    /// Computes and stores the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(value);
    }
}

/// The ICMPv4 messages the stack sends and handles, as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo request ("ping").
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back by the reply.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data from the request.
        data: &'a [u8],
    },
    /// Destination unreachable, quoting the offending datagram.
    DstUnreachable {
        /// The code.
        reason: DstUnreachable,
        /// Next-hop MTU for [`DstUnreachable::FragRequired`], else 0.
        next_hop_mtu: u16,
        /// The quoted IP header.
        header: Ipv4Repr,
        /// The quoted bytes after that header (at least 8 in a conforming
        /// message: the transport ports; the L4 error handler checks).
        data: &'a [u8],
    },
    /// Time exceeded, quoting the offending datagram.
    TimeExceeded {
        /// The code.
        reason: TimeExceeded,
        /// The quoted IP header.
        header: Ipv4Repr,
        /// The quoted bytes after that header.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses echo and error messages (others are `Unsupported`). The
    /// checksum is verified in [`ChecksumMode::Software`]. The quoted header
    /// of an error must be a complete IPv4 header (`Truncated`/`Malformed`
    /// otherwise); the quoted data is cut at that header's payload length.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
        mode: ChecksumMode,
    ) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if mode.is_software() && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        // Borrow from the underlying buffer, not the view, so the repr may
        // outlive the view.
        let data = &packet.buffer.as_ref()[HEADER_LEN..];
        match packet.msg_type() {
            // Like Linux, the code of an echo message is not checked.
            Icmpv4Message::EchoRequest => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv4Message::EchoReply => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv4Message::DstUnreachable => {
                let reason = DstUnreachable::from(packet.msg_code());
                let next_hop_mtu = if reason == DstUnreachable::FragRequired {
                    packet.next_hop_mtu()
                } else {
                    0
                };
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv4Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    header,
                    data,
                })
            }
            Icmpv4Message::TimeExceeded => {
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv4Repr::TimeExceeded {
                    reason: TimeExceeded::from(packet.msg_code()),
                    header,
                    data,
                })
            }
            _ => Err(Error::Unsupported),
        }
    }

    /// The ICMP message length: 8-byte header plus data (plus the 20-byte
    /// quoted header of an error).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv4Repr::DstUnreachable { header, data, .. }
            | Icmpv4Repr::TimeExceeded { header, data, .. } => {
                HEADER_LEN + header.header_len() + data.len()
            }
        }
    }

    /// Writes the message into a packet of exactly
    /// [`buffer_len`](Self::buffer_len) bytes (the checksum covers the whole
    /// buffer) and fills the checksum unless `mode` is
    /// [`ChecksumMode::Offloaded`]. An error's quoted header is re-emitted
    /// from its repr, options dropped; a stack that wants the original bytes
    /// verbatim writes them with the setters and `data_mut` instead.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv4Packet<T>,
        mode: ChecksumMode,
    ) {
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let msg = match self {
                    Icmpv4Repr::EchoRequest { .. } => Icmpv4Message::EchoRequest,
                    _ => Icmpv4Message::EchoReply,
                };
                packet.set_msg_type(msg);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                packet.data_mut()[..data.len()].copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                header,
                data,
            } => {
                packet.set_msg_type(Icmpv4Message::DstUnreachable);
                packet.set_msg_code(reason.into());
                packet.set_next_hop_mtu(next_hop_mtu);
                emit_quoted(packet.data_mut(), &header, data);
            }
            Icmpv4Repr::TimeExceeded {
                reason,
                header,
                data,
            } => {
                packet.set_msg_type(Icmpv4Message::TimeExceeded);
                packet.set_msg_code(reason.into());
                packet.set_next_hop_mtu(0);
                emit_quoted(packet.data_mut(), &header, data);
            }
        }
        if mode.is_software() {
            packet.fill_checksum();
        } else {
            packet.set_checksum(0);
        }
    }
}

/// Splits the quoted datagram of an error into its header and data.
fn parse_quoted(quoted: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
    let inner = Ipv4Packet::new_unchecked(quoted);
    let header = Ipv4Repr::parse_quoted(&inner)?;
    let rest = &quoted[inner.header_len()..];
    let data = &rest[..rest.len().min(header.payload_len)];
    Ok((header, data))
}

fn emit_quoted(out: &mut [u8], header: &Ipv4Repr, data: &[u8]) {
    let (hdr, rest) = out.split_at_mut(ipv4::HEADER_LEN);
    header.emit(&mut Ipv4Packet::new_unchecked(hdr), ChecksumMode::Software);
    rest[..data.len()].copy_from_slice(data);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wire::ipv4::tests::arb_repr;
    use crate::wire::testutil;
    use crate::wire::IpProtocol;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    /// `ping -c1 -s 8 10.0.0.2` from 10.0.0.1: Ethernet + IPv4 + ICMP echo
    /// request, ident 0x1234, seq 1, data "abcdefgh".
    fn ping_frame() -> Vec<u8> {
        let mut f = vec![
            0x52, 0x54, 0x00, 0x00, 0x00, 0x02, 0x52, 0x54, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
            // IPv4: len 36, id 0xbeef, DF, ttl 64, ICMP
            0x45, 0x00, 0x00, 0x24, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 0, 0, 1, 10,
            0, 0, 2, // ICMP
            0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f',
            b'g', b'h',
        ];
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        Icmpv4Packet::new_unchecked(&mut f[34..]).fill_checksum();
        f
    }

    #[test]
    fn parse_ping_capture() {
        let f = ping_frame();
        // Reference checksums computed independently, 16 bits at a time.
        assert_eq!(&f[24..26], &[0x67, 0xe7]);
        assert_eq!(&f[36..38], &[0x54, 0x35]);
        let p = Icmpv4Packet::new_checked(&f[34..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.msg_type(), Icmpv4Message::EchoRequest);
        let repr = Icmpv4Repr::parse(&p, ChecksumMode::Software).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcdefgh"
            }
        );
        testutil::parse_frame(&f).unwrap();

        // The reply differs in type and checksum only.
        let reply = Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcdefgh",
        };
        let mut buf = vec![0u8; reply.buffer_len()];
        reply.emit(
            &mut Icmpv4Packet::new_unchecked(&mut buf[..]),
            ChecksumMode::Software,
        );
        assert_eq!(buf[0], 0);
        assert_eq!(&buf[4..], &f[38..]);
        assert_eq!(&buf[2..4], &(0x5435u16 + 0x0800).to_be_bytes());
    }

    #[test]
    fn robustness_of_ping() {
        let f = ping_frame();
        testutil::assert_truncations_err(&f, testutil::parse_frame);
        let (ok, err) = testutil::mutate_every_byte(&f, testutil::parse_frame);
        // Only Ethernet addresses (12 bytes × 255 values) may change freely;
        // everything after them is covered by a checksum or a type check.
        assert_eq!(ok, 12 * 255, "err {err}");
    }

    fn frag_needed() -> (Ipv4Repr, [u8; 8]) {
        let quoted = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 9),
            protocol: IpProtocol::Udp,
            payload_len: 1472,
            ttl: 63,
            dscp: 0,
            ecn: 0,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        (quoted, [0x30, 0x39, 0x00, 0x35, 0x05, 0xc0, 0x00, 0x00])
    }

    #[test]
    fn dst_unreachable_frag_needed() {
        let (header, udp) = frag_needed();
        let repr = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1400,
            header,
            data: &udp,
        };
        assert_eq!(repr.buffer_len(), 36);
        let mut buf = [0u8; 36];
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(&mut buf[..]),
            ChecksumMode::Software,
        );
        assert_eq!(&buf[..2], &[3, 4]);
        assert_eq!(&buf[4..8], &[0, 0, 0x05, 0x78]);
        assert_eq!(buf[8], 0x45);
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1400);
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Software).unwrap(), repr);

        // Port unreachable carries no MTU even if the field holds junk.
        buf[1] = 3;
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum();
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        match Icmpv4Repr::parse(&p, ChecksumMode::Software).unwrap() {
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                ..
            } => {
                assert_eq!(reason, DstUnreachable::PortUnreachable);
                assert_eq!(next_hop_mtu, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn time_exceeded_and_codes() {
        let (header, udp) = frag_needed();
        for (code, reason) in [
            (0, TimeExceeded::TtlExpired),
            (1, TimeExceeded::FragExpired),
        ] {
            let repr = Icmpv4Repr::TimeExceeded {
                reason,
                header,
                data: &udp,
            };
            let mut buf = [0u8; 36];
            repr.emit(
                &mut Icmpv4Packet::new_unchecked(&mut buf[..]),
                ChecksumMode::Software,
            );
            assert_eq!(&buf[..2], &[11, code]);
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Software).unwrap(), repr);
        }
        for (code, reason) in [
            (0, DstUnreachable::NetUnreachable),
            (1, DstUnreachable::HostUnreachable),
            (2, DstUnreachable::ProtoUnreachable),
            (3, DstUnreachable::PortUnreachable),
            (4, DstUnreachable::FragRequired),
            (13, DstUnreachable::CommProhibited),
            (99, DstUnreachable::Unknown(99)),
        ] {
            assert_eq!(DstUnreachable::from(code), reason);
            assert_eq!(u8::from(reason), code);
        }
    }

    #[test]
    fn error_quoting_short_or_bad_header() {
        let mut buf = [0u8; 8 + 12];
        buf[0] = 3;
        buf[8] = 0x45;
        Icmpv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p, ChecksumMode::Software),
            Err(Error::Truncated)
        );

        let mut buf = [0u8; 8 + 28];
        buf[0] = 11;
        buf[8] = 0x65; // IPv6 version in an IPv4 quote
        Icmpv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p, ChecksumMode::Software),
            Err(Error::Malformed)
        );

        // Quoted data is cut at the quoted datagram's length.
        let mut buf = [0u8; 8 + 20 + 8];
        buf[0] = 3;
        buf[8] = 0x45;
        buf[11] = 24; // total length 24: 4 bytes of payload
        Icmpv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        match Icmpv4Repr::parse(&p, ChecksumMode::Software).unwrap() {
            Icmpv4Repr::DstUnreachable { data, .. } => assert_eq!(data.len(), 4),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsupported_and_checksum() {
        let mut buf = [13u8, 0, 0, 0, 0, 0, 0, 0];
        Icmpv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Message::Timestamp);
        assert_eq!(
            Icmpv4Repr::parse(&p, ChecksumMode::Software),
            Err(Error::Unsupported)
        );
        let buf = [8u8, 0, 0, 0, 0, 0, 0, 0];
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p, ChecksumMode::Software),
            Err(Error::Checksum)
        );
        assert!(Icmpv4Repr::parse(&p, ChecksumMode::Offloaded).is_ok());
        assert_eq!(
            Icmpv4Packet::new_checked(&buf[..7]).err(),
            Some(Error::Truncated)
        );
    }

    fn arb_icmp(header: Ipv4Repr, data: &[u8], kind: u8, a: u16, b: u16) -> Icmpv4Repr<'_> {
        let header = Ipv4Repr {
            payload_len: header.payload_len.max(data.len()),
            ..header
        };
        match kind % 4 {
            0 => Icmpv4Repr::EchoRequest {
                ident: a,
                seq_no: b,
                data,
            },
            1 => Icmpv4Repr::EchoReply {
                ident: a,
                seq_no: b,
                data,
            },
            2 => {
                let reason = DstUnreachable::from(a as u8);
                let next_hop_mtu = if reason == DstUnreachable::FragRequired {
                    b
                } else {
                    0
                };
                Icmpv4Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    header,
                    data,
                }
            }
            _ => Icmpv4Repr::TimeExceeded {
                reason: TimeExceeded::from(a as u8),
                header,
                data,
            },
        }
    }

    proptest! {
        #[test]
        fn round_trip(header in arb_repr(), data in proptest::collection::vec(any::<u8>(), 0..64), kind in any::<u8>(), a in any::<u16>(), b in any::<u16>()) {
            let repr = arb_icmp(header, &data, kind, a, b);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Software);
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Software).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80), kind in prop::sample::select(vec![0u8, 3, 8, 11, 42])) {
            let mut data = data;
            if let Some(t) = data.first_mut() { *t = kind; }
            if let Ok(p) = Icmpv4Packet::new_checked(&data[..]) {
                let _ = Icmpv4Repr::parse(&p, ChecksumMode::Offloaded);
                let _ = Icmpv4Repr::parse(&p, ChecksumMode::Software);
            }
        }
    }
}
