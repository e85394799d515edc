//! IPv4 fragmentation on output (RFC 791 §3.2).
//!
//! [`fragment`] cuts one datagram into pieces that fit a link MTU and
//! hands each piece to a callback as a rewritten header plus a slice of the
//! original payload, so nothing is allocated or copied here: the caller
//! gathers header and payload into its own transmit buffer (or a two-entry
//! descriptor chain).
//!
//! Every fragment's data except the last is a multiple of 8 bytes. The
//! first fragment carries all IP options; later ones carry only the options
//! whose *copied* flag is set, padded to a 4-byte boundary (RFC 791 allows
//! dropping the others; Linux overwrites them with NOPs instead, which
//! keeps the header length — shorter headers here leave more room for
//! data). A datagram that is itself a fragment can be fragmented again:
//! offsets stay relative to the original and the last piece keeps the
//! input's MF flag. // linux: ip_do_fragment (slow path)

use std::fmt;

use crate::wire::ipv4::{HEADER_LEN, MAX_HEADER_LEN, MAX_PACKET_LEN};
use crate::wire::Ipv4Packet;

/// Why a datagram was not fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragError {
    /// DF is set and the datagram is larger than the MTU: the caller sends
    /// ICMP destination unreachable, "fragmentation needed", quoting `mtu`
    /// (and counts `FragFails`).
    NeedFrag {
        /// The MTU to report (the one passed in).
        mtu: u16,
    },
    /// The MTU cannot carry the header plus 8 bytes of data (below the
    /// RFC 791 minimum of 68 for a full-size header).
    MtuTooSmall,
    /// Not a well-formed IPv4 datagram: bad lengths, version, or options.
    Malformed,
}

impl fmt::Display for FragError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FragError::NeedFrag { mtu } => {
                write!(f, "fragmentation needed but DF set (mtu {mtu})")
            }
            FragError::MtuTooSmall => f.write_str("MTU too small to fragment into"),
            FragError::Malformed => f.write_str("malformed IPv4 datagram"),
        }
    }
}

impl std::error::Error for FragError {}

/// The copied flag of an option type octet: the option goes into every
/// fragment.
const OPT_COPIED: u8 = 0x80;
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;

/// Fragments `pkt` (an IPv4 datagram; bytes past its total length are
/// ignored) for a link of `mtu` bytes, calling `emit(header, payload)` for
/// each fragment in offset order. Returns how many fragments were emitted.
///
/// A datagram that fits is emitted unchanged as one "fragment" (so `Ok(1)`
/// means nothing was cut; `Ok(n > 1)` is `FragOKs += 1, FragCreates += n`).
/// Each emitted header has its total length, MF flag, fragment offset and
/// checksum rewritten, and DF clear.
pub fn fragment(
    pkt: &[u8],
    mtu: usize,
    mut emit: impl FnMut(&[u8], &[u8]),
) -> Result<usize, FragError> {
    let packet = Ipv4Packet::new_checked(pkt).map_err(|_| FragError::Malformed)?;
    if packet.version() != 4 {
        return Err(FragError::Malformed);
    }
    let header_len = packet.header_len();
    let total_len = usize::from(packet.total_len());
    let payload = packet.payload();
    let base = usize::from(packet.frag_offset());
    if base + total_len > MAX_PACKET_LEN {
        return Err(FragError::Malformed);
    }
    if total_len <= mtu {
        emit(&pkt[..header_len], payload);
        return Ok(1);
    }
    if packet.dont_frag() {
        let mtu = u16::try_from(mtu).unwrap_or(u16::MAX);
        return Err(FragError::NeedFrag { mtu });
    }
    if mtu < header_len + 8 {
        return Err(FragError::MtuTooSmall);
    }

    let mut first = [0u8; MAX_HEADER_LEN];
    first[..header_len].copy_from_slice(&pkt[..header_len]);
    let mut later = [0u8; MAX_HEADER_LEN];
    later[..HEADER_LEN].copy_from_slice(&pkt[..HEADER_LEN]);
    let later_len = HEADER_LEN + copy_options(packet.options(), &mut later[HEADER_LEN..])?;
    Ipv4Packet::new_unchecked(&mut later[..]).set_header_len(later_len);

    let last_more_frags = packet.more_frags();
    let mut offset = 0;
    let mut count = 0;
    loop {
        let (buf, hlen) = if offset == 0 {
            (&mut first, header_len)
        } else {
            (&mut later, later_len)
        };
        // Room for data, rounded down to the 8-byte unit offsets count in.
        let room = (mtu.min(MAX_PACKET_LEN) - hlen) & !7;
        let len = room.min(payload.len() - offset);
        let end = offset + len;
        let more = end < payload.len() || last_more_frags;

        let mut header = Ipv4Packet::new_unchecked(&mut buf[..hlen]);
        // In range: hlen + len ≤ mtu ≤ 65535, and base + end ≤ the input's
        // own end, checked above to be ≤ 65535 (so ≤ 65528 for an offset).
        header.set_total_len((hlen + len) as u16);
        header.set_flags_frag(false, more, (base + offset) as u16);
        header.fill_checksum();
        emit(&buf[..hlen], &payload[offset..end]);
        count += 1;
        offset = end;
        if offset == payload.len() {
            return Ok(count);
        }
    }
}

/// Copies the options with the copied flag from `options` into `out`,
/// zero-padded (EOL) to a multiple of 4; returns the padded length.
fn copy_options(options: &[u8], out: &mut [u8]) -> Result<usize, FragError> {
    let mut at = 0;
    let mut len = 0;
    while at < options.len() {
        let kind = options[at];
        match kind {
            OPT_EOL => break,
            OPT_NOP => at += 1,
            _ => {
                let opt_len = usize::from(*options.get(at + 1).ok_or(FragError::Malformed)?);
                if opt_len < 2 || at + opt_len > options.len() {
                    return Err(FragError::Malformed);
                }
                if kind & OPT_COPIED != 0 {
                    out[len..len + opt_len].copy_from_slice(&options[at..at + opt_len]);
                    len += opt_len;
                }
                at += opt_len;
            }
        }
    }
    let padded = len.next_multiple_of(4);
    out[len..padded].fill(OPT_EOL);
    Ok(padded)
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;
    use crate::wire::{ChecksumMode, IpProtocol, Ipv4Repr};
    use std::net::Ipv4Addr;

    /// A datagram with `payload_len` bytes of counting payload, `options`
    /// (a multiple of 4 long) in its header, and the given flags.
    pub(crate) fn datagram(
        payload_len: usize,
        options: &[u8],
        dont_frag: bool,
        ident: u16,
    ) -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(198, 51, 100, 7),
            protocol: IpProtocol::Udp,
            payload_len,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident,
            dont_frag,
            more_frags: false,
            frag_offset: 0,
        };
        let header_len = HEADER_LEN + options.len();
        let mut buf = vec![0u8; header_len + payload_len];
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut buf[..]),
            ChecksumMode::Software,
        );
        buf[HEADER_LEN..header_len].copy_from_slice(options);
        for (i, b) in buf[header_len..].iter_mut().enumerate() {
            *b = (i * 7 + i / 251) as u8;
        }
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_header_len(header_len);
        p.set_total_len((header_len + payload_len) as u16);
        p.fill_checksum();
        buf
    }

    /// Runs `fragment` and collects each fragment as one contiguous packet.
    pub(crate) fn cut(pkt: &[u8], mtu: usize) -> Result<Vec<Vec<u8>>, FragError> {
        let mut out = Vec::new();
        let n = fragment(pkt, mtu, |h, p| {
            let mut f = h.to_vec();
            f.extend_from_slice(p);
            out.push(f);
        })?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    #[test]
    fn fitting_datagram_is_emitted_unchanged() {
        let d = datagram(100, &[], true, 1);
        let frags = cut(&d, 1500).unwrap();
        assert_eq!(frags.len(), 1);
        assert_eq!(frags[0], d);
        // Exactly the MTU fits too; trailing link padding is not emitted.
        let mut padded = d.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(cut(&padded, d.len()).unwrap(), [d]);
    }

    #[test]
    fn splits_into_eight_byte_aligned_fragments() {
        let d = datagram(4000, &[], false, 0x1234);
        let frags = cut(&d, 1500).unwrap();
        let sizes: Vec<usize> = frags.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1500, 1500, 1060]);
        let mut data = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert!(p.verify_checksum(), "fragment {i}");
            assert_eq!(usize::from(p.total_len()), f.len());
            assert_eq!(p.ident(), 0x1234);
            assert!(!p.dont_frag());
            assert_eq!(p.more_frags(), i < 2);
            assert_eq!(usize::from(p.frag_offset()), data.len());
            assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
            assert_eq!(p.protocol(), IpProtocol::Udp);
            data.extend_from_slice(p.payload());
        }
        assert_eq!(data, &d[20..]);
    }

    #[test]
    fn odd_mtu_rounds_data_down() {
        let d = datagram(100, &[], false, 7);
        // 20 + 45 -> 40 bytes of data per fragment.
        let frags = cut(&d, 65).unwrap();
        let data_lens: Vec<usize> = frags.iter().map(|f| f.len() - 20).collect();
        assert_eq!(data_lens, [40, 40, 20]);
    }

    #[test]
    fn dont_fragment_asks_for_icmp() {
        let d = datagram(2000, &[], true, 1);
        assert_eq!(cut(&d, 1500), Err(FragError::NeedFrag { mtu: 1500 }));
        assert_eq!(
            FragError::NeedFrag { mtu: 1500 }.to_string(),
            "fragmentation needed but DF set (mtu 1500)"
        );
    }

    #[test]
    fn tiny_mtu_and_malformed_input_are_errors() {
        let d = datagram(100, &[], false, 1);
        assert_eq!(cut(&d, 27), Err(FragError::MtuTooSmall));
        assert_eq!(cut(&d, 28).unwrap().len(), 13);
        assert_eq!(cut(&d[..50], 40), Err(FragError::Malformed));
        let mut v6 = d.clone();
        v6[0] = 0x65;
        assert_eq!(cut(&v6, 40), Err(FragError::Malformed));
        // An option whose length runs past the header.
        let bad = datagram(100, &[0x83, 9, 0, 0], false, 1);
        assert_eq!(cut(&bad, 60), Err(FragError::Malformed));
        let bad = datagram(100, &[0x83, 1, 0, 0], false, 1);
        assert_eq!(cut(&bad, 60), Err(FragError::Malformed));
        // A fragment whose end would pass 65535.
        let mut pod = datagram(1000, &[], false, 1);
        Ipv4Packet::new_unchecked(&mut pod[..]).set_flags_frag(false, false, 65000);
        assert_eq!(cut(&pod, 500), Err(FragError::Malformed));
    }

    #[test]
    fn only_copied_options_go_into_later_fragments() {
        // NOP, record route (not copied, len 7), loose source route
        // (copied, len 7), EOL: 16 bytes.
        let opts = [1, 0x07, 7, 4, 0, 0, 0, 0, 0x83, 7, 4, 10, 0, 0, 1, 0];
        let d = datagram(200, &opts, false, 9);
        let frags = cut(&d, 100).unwrap();
        let first = Ipv4Packet::new_checked(&frags[0][..]).unwrap();
        assert_eq!(first.header_len(), 36);
        assert_eq!(first.options(), &opts);
        assert_eq!(first.payload().len(), 64);
        for f in &frags[1..] {
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(p.header_len(), 28);
            assert_eq!(p.options(), &[0x83, 7, 4, 10, 0, 0, 1, 0]);
        }
        // More room for data after the shorter header: 72 per fragment.
        let data_lens: Vec<usize> = frags[1..]
            .iter()
            .map(|f| Ipv4Packet::new_checked(&f[..]).unwrap().payload().len())
            .collect();
        assert_eq!(data_lens, [72, 64]);

        // No copied option at all: later headers are plain 20 bytes.
        let d = datagram(200, &[0x07, 3, 4, 0], false, 9);
        let frags = cut(&d, 100).unwrap();
        let first = Ipv4Packet::new_checked(&frags[0][..]).unwrap();
        assert_eq!(first.options(), &[0x07, 3, 4, 0]);
        assert_eq!(
            Ipv4Packet::new_checked(&frags[1][..]).unwrap().header_len(),
            20
        );
    }

    #[test]
    fn fragment_of_a_fragment_keeps_offsets_and_mf() {
        let mut d = datagram(400, &[], false, 3);
        let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
        p.set_flags_frag(false, true, 800);
        p.fill_checksum();
        let frags = cut(&d, 220).unwrap();
        let parsed: Vec<(u16, bool, usize)> = frags
            .iter()
            .map(|f| {
                let p = Ipv4Packet::new_checked(&f[..]).unwrap();
                (p.frag_offset(), p.more_frags(), p.payload().len())
            })
            .collect();
        assert_eq!(parsed, [(800, true, 200), (1000, true, 200)]);
        // The input's own MF survives on the last piece only when it was set.
        let mut d = datagram(400, &[], false, 3);
        let mut p = Ipv4Packet::new_unchecked(&mut d[..]);
        p.set_flags_frag(false, false, 800);
        p.fill_checksum();
        let last = cut(&d, 220).unwrap().pop().unwrap();
        assert!(!Ipv4Packet::new_checked(&last[..]).unwrap().more_frags());
    }
}
