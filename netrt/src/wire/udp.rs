//! UDP (RFC 768) over IPv4.

use std::net::Ipv4Addr;

use super::{check_declared_len, checksum, wire_view, ChecksumMode, Error, IpProtocol, Result};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

wire_view! {
    /// A view of a UDP datagram; the buffer is the IP payload.
    pub struct UdpPacket;
    payload(p => HEADER_LEN..usize::from(p.len())) {
        /// The payload, bounded by the length field.
        fn payload, into_payload, payload_mut;
    }
    fields {
        /// Source port.
        src_port, set_src_port: u16 = field::SRC_PORT;
        /// Destination port.
        dst_port, set_dst_port: u16 = field::DST_PORT;
        /// Length field: header plus payload.
        len, set_len: u16 = field::LENGTH;
        /// Checksum field (0: the sender computed none).
        checksum, set_checksum: u16 = field::CHECKSUM;
    }
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// `Truncated` if the buffer cannot hold the header or the length the
    /// header declares; `Malformed` if that length is below 8. Bytes past
    /// the declared length are ignored (Linux trims them).
    /// // linux: __udp4_lib_rcv's length checks
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        check_declared_len(self.buffer.as_ref().len(), HEADER_LEN, || {
            usize::from(self.len())
        })
    }

    /// True when the length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// True when the checksum is absent (0) or the datagram with its
    /// pseudo-header sums to -0.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        self.sum_with_pseudo(src, dst) == 0xffff
    }

    #[inline]
    fn sum_with_pseudo(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let len = self.len();
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp.into(), len);
        checksum::add(
            pseudo,
            checksum::sum(&self.buffer.as_ref()[..usize::from(len)]),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Computes the checksum over the pseudo-header and the datagram (up
    /// to the length field) and stores it; a computed 0 is sent as 0xffff,
    /// since 0 means "none".
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let value = !self.sum_with_pseudo(src, dst);
        self.set_checksum(if value == 0 { 0xffff } else { value });
    }

    /// Seeds the checksum field with the pseudo-header partial sum, for a
    /// device that completes it over the datagram (`CHECKSUM_PARTIAL`).
    #[inline]
    pub fn fill_pseudo_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let len = self.len();
        let seed = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp.into(), len);
        self.set_checksum(seed);
    }
}

/// A UDP datagram as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Parses a datagram, verifying the checksum (when present) in
    /// [`ChecksumMode::Software`]. Port 0 is not rejected here: no socket
    /// is bound to it, so the stack's demux drops it.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<UdpRepr<'a>> {
        packet.check_len()?;
        if mode.is_software() && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: &packet.buffer.as_ref()[HEADER_LEN..usize::from(packet.len())],
        })
    }

    /// [`HEADER_LEN`].
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes ports and the length for a payload of `payload_len` bytes,
    /// with a zero checksum: for a caller that writes the payload into
    /// `payload_mut` itself, then calls `fill_checksum` (or
    /// `fill_pseudo_checksum` for offload). `self.payload` is ignored.
    #[inline]
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        payload_len: usize,
    ) {
        debug_assert!(HEADER_LEN + payload_len <= usize::from(u16::MAX));
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len((HEADER_LEN + payload_len) as u16);
        packet.set_checksum(0);
    }

    /// Writes the whole datagram (header, payload, checksum per `mode`)
    /// into a packet of at least [`buffer_len`](Self::buffer_len) bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) {
        self.emit_header(packet, self.payload.len());
        packet.payload_mut().copy_from_slice(self.payload);
        if mode.is_software() {
            packet.fill_checksum(src, dst);
        } else {
            packet.fill_pseudo_checksum(src, dst);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wire::testutil;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

    /// A DNS-looking datagram 192.168.1.1:53000 → 192.168.1.2:53, payload
    /// "hello", inside Ethernet + IPv4.
    fn frame() -> Vec<u8> {
        let mut f = vec![
            0x52, 0x54, 0x00, 0x00, 0x00, 0x02, 0x52, 0x54, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 192, 168, 1, 1,
            192, 168, 1, 2, // UDP
            0xcf, 0x08, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o',
        ];
        crate::wire::Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        UdpPacket::new_unchecked(&mut f[34..]).fill_checksum(SRC, DST);
        f
    }

    #[test]
    fn parse_known_datagram() {
        let f = frame();
        // Reference worked out independently: pseudo-header 0x8372 +
        // header 0xcf4a + "hello" 0x43d2 = 0x968f, complemented.
        assert_eq!(&f[40..42], &[0x69, 0x70]);
        let p = UdpPacket::new_checked(&f[34..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (53000, 53, 13));
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(192, 168, 1, 3)));
        let repr = UdpRepr::parse(&p, SRC, DST, ChecksumMode::Software).unwrap();
        assert_eq!(
            repr,
            UdpRepr {
                src_port: 53000,
                dst_port: 53,
                payload: b"hello"
            }
        );
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut out[..]),
            SRC,
            DST,
            ChecksumMode::Software,
        );
        assert_eq!(&out[..], &f[34..]);
        testutil::parse_frame(&f).unwrap();
    }

    #[test]
    fn zero_checksum_means_none_and_zero_is_sent_as_ffff() {
        let mut f = frame();
        f[40] = 0;
        f[41] = 0;
        let p = UdpPacket::new_checked(&f[34..]).unwrap();
        assert!(UdpRepr::parse(&p, SRC, DST, ChecksumMode::Software).is_ok());

        // Pick payload bytes so that the computed checksum is 0: take the
        // checksum with a zero payload word and put its complement there.
        let mut d = [0u8; 10];
        let mut p = UdpPacket::new_unchecked(&mut d[..]);
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_len(10);
        p.fill_checksum(SRC, DST);
        let c = p.checksum();
        p.payload_mut().copy_from_slice(&c.to_be_bytes());
        p.fill_checksum(SRC, DST);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn length_checks() {
        let f = frame();
        let dgram = &f[34..];
        let mut b = dgram.to_vec();
        b[5] = 7;
        assert_eq!(UdpPacket::new_checked(&b[..]).err(), Some(Error::Malformed));
        let mut b = dgram.to_vec();
        b[5] = 14;
        assert_eq!(UdpPacket::new_checked(&b[..]).err(), Some(Error::Truncated));
        // Trailing bytes past the length field are not payload.
        let mut b = dgram.to_vec();
        b.extend_from_slice(&[1, 2, 3]);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn offload_seeds_pseudo_header() {
        let repr = UdpRepr {
            src_port: 53000,
            dst_port: 53,
            payload: b"hello",
        };
        let mut out = vec![0u8; repr.buffer_len()];
        let mut p = UdpPacket::new_unchecked(&mut out[..]);
        repr.emit(&mut p, SRC, DST, ChecksumMode::Offloaded);
        // What a device does: sum from the UDP header on, complement.
        let completed = checksum::checksum(&out);
        let reference = frame();
        assert_eq!(completed.to_be_bytes(), [reference[40], reference[41]]);
    }

    #[test]
    fn robustness() {
        let f = frame();
        testutil::assert_truncations_err(&f, testutil::parse_frame);
        let (ok, _) = testutil::mutate_every_byte(&f, testutil::parse_frame);
        assert_eq!(ok, 12 * 255);
    }

    proptest! {
        #[test]
        fn round_trip(sp in any::<u16>(), dp in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..200), s in any::<u32>(), d in any::<u32>()) {
            let (src, dst) = (Ipv4Addr::from(s), Ipv4Addr::from(d));
            let repr = UdpRepr { src_port: sp, dst_port: dp, payload: &payload };
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut UdpPacket::new_unchecked(&mut out[..]), src, dst, ChecksumMode::Software);
            let p = UdpPacket::new_checked(&out[..]).unwrap();
            prop_assert_ne!(p.checksum(), 0);
            prop_assert_eq!(UdpRepr::parse(&p, src, dst, ChecksumMode::Software).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = UdpPacket::new_checked(&data[..]) {
                let _ = UdpRepr::parse(&p, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, ChecksumMode::Software);
                prop_assert!(p.payload().len() + HEADER_LEN <= data.len());
            }
        }
    }
}
