//! Shared robustness harness for the wire tests.

use super::*;

/// Parses a whole Ethernet frame down to L4 with software checksums, the
/// way the receive path will. Any ethertype or protocol the stack does not
/// speak is an error.
pub(crate) fn parse_frame(frame: &[u8]) -> Result<()> {
    let eth = EthernetFrame::new_checked(frame)?;
    let ethertype = eth.ethertype();
    let payload = eth.into_payload();
    match ethertype {
        EtherType::Arp => {
            ArpRepr::parse(&ArpPacket::new_checked(payload)?)?;
        }
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(payload)?;
            let ip_repr = Ipv4Repr::parse(&ip, ChecksumMode::Software)?;
            let (src, dst) = (ip_repr.src_addr, ip_repr.dst_addr);
            let payload = ip.into_payload();
            match ip_repr.protocol {
                IpProtocol::Icmp => {
                    Icmpv4Repr::parse(
                        &Icmpv4Packet::new_checked(payload)?,
                        ChecksumMode::Software,
                    )?;
                }
                IpProtocol::Udp => {
                    let p = UdpPacket::new_checked(payload)?;
                    UdpRepr::parse(&p, src, dst, ChecksumMode::Software)?;
                }
                IpProtocol::Tcp => {
                    let p = TcpPacket::new_checked(payload)?;
                    TcpRepr::parse(&p, src, dst, ChecksumMode::Software)?;
                }
                _ => return Err(Error::Unsupported),
            }
        }
        _ => return Err(Error::Unsupported),
    }
    Ok(())
}

/// Every proper prefix of `frame` must fail to parse; the whole must parse.
pub(crate) fn assert_truncations_err(frame: &[u8], parse: impl Fn(&[u8]) -> Result<()>) {
    for len in 0..frame.len() {
        assert!(
            parse(&frame[..len]).is_err(),
            "a {len}-byte prefix of a {}-byte frame parsed",
            frame.len()
        );
    }
    parse(frame).expect("the untruncated frame parses");
}

/// Sets every byte of `frame` to each of the 255 other values in turn and
/// parses; returns how many mutants parsed and how many failed. Reaching the
/// end is the test that none panicked.
pub(crate) fn mutate_every_byte(
    frame: &[u8],
    parse: impl Fn(&[u8]) -> Result<()>,
) -> (usize, usize) {
    let mut buf = frame.to_vec();
    let (mut ok, mut err) = (0, 0);
    for at in 0..frame.len() {
        for v in 0..=255u8 {
            if v == frame[at] {
                continue;
            }
            buf[at] = v;
            match parse(&buf) {
                Ok(()) => ok += 1,
                Err(_) => err += 1,
            }
        }
        buf[at] = frame[at];
    }
    (ok, err)
}
