//! The virtio-net header a TAP device puts before every frame
//! (`IFF_VNET_HDR`): how checksum and segmentation offloads cross between
//! the kernel and the emulated port.
//!
//! Layout (`struct virtio_net_hdr_v1`, 12 bytes, little-endian; the TAP is
//! told the size with `TUNSETVNETHDRSZ` and the byte order with
//! `TUNSETVNETLE`):
//!
//! | bytes | field         |
//! |-------|---------------|
//! | 0     | `flags`       |
//! | 1     | `gso_type`    |
//! | 2..4  | `hdr_len`     |
//! | 4..6  | `gso_size`    |
//! | 6..8  | `csum_start`  |
//! | 8..10 | `csum_offset` |
//! | 10..12| `num_buffers` (unused by a TAP; written as 0, ignored on read) |
//!
//! Towards the kernel a frame sent with checksum offload becomes
//! `NEEDS_CSUM` (linux: `CHECKSUM_PARTIAL`), an unsegmented TSO frame
//! becomes `GSO_TCPV4`. From the kernel, `NEEDS_CSUM` frames are delivered
//! to the port the way a veth delivers them (the field holds the seed, the
//! port reports the checksum verified), and GSO frames are cut into
//! `gso_size` segments by [`segment_tcp4`] because the port's receive
//! buffers hold standard frames only.

use super::{PartialCsum, TsoMeta, TxMeta};
use crate::model::packet::{be16, be32, fold, pseudo_v4, put16, put32, sum, ETH_HLEN};

/// Size of the header this crate configures (`virtio_net_hdr_v1`).
pub const VNET_HDR_LEN: usize = 12;

/// `flags` bits.
pub mod flags {
    /// The L4 checksum is partial: fold the sum from `csum_start` to the
    /// end into the field at `csum_start + csum_offset`.
    pub const NEEDS_CSUM: u8 = 1;
    /// The checksum was verified by the sender's side.
    pub const DATA_VALID: u8 = 2;
}

/// `gso_type` values.
pub mod gso {
    /// Not a GSO frame.
    pub const NONE: u8 = 0;
    /// TCP over IPv4.
    pub const TCPV4: u8 = 1;
    /// UDP fragmentation offload (not negotiated).
    pub const UDP: u8 = 3;
    /// TCP over IPv6 (not negotiated).
    pub const TCPV6: u8 = 4;
    /// Flag: the frame has ECN CWR set on its first segment.
    pub const ECN: u8 = 0x80;
}

/// A decoded virtio-net header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VnetHdr {
    /// [`flags`] bits.
    pub flags: u8,
    /// One of [`gso`].
    pub gso_type: u8,
    /// Header bytes repeated in every segment (GSO only).
    pub hdr_len: u16,
    /// Payload bytes per segment (GSO only).
    pub gso_size: u16,
    /// Start of the checksummed region (`NEEDS_CSUM` only).
    pub csum_start: u16,
    /// Checksum field offset from `csum_start` (`NEEDS_CSUM` only).
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header describing a frame sent with `meta`.
    pub fn for_tx(meta: &TxMeta) -> VnetHdr {
        let mut h = VnetHdr::default();
        if let Some(PartialCsum { start, offset }) = meta.partial_csum {
            h.flags = flags::NEEDS_CSUM;
            h.csum_start = start;
            h.csum_offset = offset;
        }
        if let Some(TsoMeta { mss, hdr_len }) = meta.tso {
            h.gso_type = gso::TCPV4;
            h.gso_size = mss;
            h.hdr_len = hdr_len;
        }
        h
    }

    /// The wire bytes.
    pub fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }

    /// Parses the first [`VNET_HDR_LEN`] bytes; `None` when shorter.
    pub fn decode(b: &[u8]) -> Option<VnetHdr> {
        let b = b.get(..VNET_HDR_LEN)?;
        let le = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: le(2),
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        })
    }

    /// The partial checksum this header asks for, if it is well-formed
    /// for a frame of `len` bytes (the field lies inside the frame).
    pub fn partial_csum(&self, len: usize) -> Option<PartialCsum> {
        if self.flags & flags::NEEDS_CSUM == 0 {
            return None;
        }
        let field = usize::from(self.csum_start) + usize::from(self.csum_offset);
        (field + 2 <= len).then_some(PartialCsum {
            start: self.csum_start,
            offset: self.csum_offset,
        })
    }
}

/// Why a GSO frame from the kernel could not be segmented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoError {
    /// A GSO type this crate never negotiates (only TCPv4 is).
    Unsupported,
    /// Headers missing, truncated or inconsistent, or a zero `gso_size`.
    Malformed,
}

/// TCP flags cleared on all but the last segment (FIN, PSH) and on all
/// but the first (CWR), as a segmenting NIC or `tcp_gso_segment` does.
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Cuts a TCP/IPv4 GSO frame (Ethernet, IPv4, TCP, payload) into segments
/// of at most `mss` payload bytes, handing each to `emit` with its IPv4
/// total length, identification (+1 per segment) and header checksum, TCP
/// sequence number and flags fixed up. Each segment's TCP checksum field
/// holds the pseudo-header seed with that segment's length, and `emit`
/// gets the matching [`PartialCsum`] (linux: the segments of a
/// `CHECKSUM_PARTIAL` GSO skb). Returns the number of segments.
///
/// `emit` receives a writable buffer of the segment's length to fill in
/// place (the caller's frame storage), so no segment is copied twice.
pub fn segment_tcp4(
    frame: &[u8],
    mss: u16,
    mut emit: impl FnMut(usize, &mut dyn FnMut(&mut [u8]), PartialCsum),
) -> Result<usize, GsoError> {
    let bad = GsoError::Malformed;
    if mss == 0 || be16(frame, 12) != Some(0x0800) {
        return Err(bad);
    }
    let l3 = ETH_HLEN;
    let ihl = usize::from(frame.get(l3).ok_or(bad)? & 0x0F) * 4;
    let l4 = l3 + ihl;
    if ihl < 20 || frame.get(l3 + 9) != Some(&6) {
        return Err(bad);
    }
    let doff = usize::from(frame.get(l4 + 12).ok_or(bad)? >> 4) * 4;
    let hdr_len = l4 + doff;
    if doff < 20 || hdr_len > frame.len() {
        return Err(bad);
    }
    let (hdr, payload) = frame.split_at(hdr_len);
    let ip_id = be16(hdr, l3 + 4).ok_or(bad)?;
    let seq = be32(hdr, l4 + 4).ok_or(bad)?;
    let tcp_flags = hdr[l4 + 13];
    let (src, dst) = (ipv4_at(hdr, l3 + 12), ipv4_at(hdr, l3 + 16));
    let mss = usize::from(mss);
    let count = payload.len().div_ceil(mss).max(1);
    for (i, chunk) in payload
        .chunks(mss)
        .chain(payload.is_empty().then_some(&[][..]))
        .enumerate()
    {
        let l4_len = doff + chunk.len();
        let ip_total = u16::try_from(ihl + l4_len).map_err(|_| bad)?;
        let mut fill = |seg: &mut [u8]| {
            seg[..hdr_len].copy_from_slice(hdr);
            seg[hdr_len..].copy_from_slice(chunk);
            put16(seg, l3 + 2, ip_total);
            put16(seg, l3 + 4, ip_id.wrapping_add(i as u16));
            put16(seg, l3 + 10, 0);
            let ip_csum = !fold(sum(0, &seg[l3..l4]));
            put16(seg, l3 + 10, ip_csum);
            put32(seg, l4 + 4, seq.wrapping_add((i * mss) as u32));
            let mut f = tcp_flags;
            if i + 1 != count {
                f &= !(TCP_FIN | TCP_PSH);
            }
            if i != 0 {
                f &= !TCP_CWR;
            }
            seg[l4 + 13] = f;
            // l4_len fits: it is below ip_total, checked above.
            put16(seg, l4 + 16, fold(pseudo_v4(src, dst, 6, l4_len as u16)));
        };
        let partial = PartialCsum {
            start: l4 as u16,
            offset: 16,
        };
        emit(hdr_len + chunk.len(), &mut fill, partial);
    }
    Ok(count)
}

fn ipv4_at(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_is_little_endian() {
        let h = VnetHdr {
            flags: flags::NEEDS_CSUM,
            gso_type: gso::TCPV4,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let b = h.encode();
        assert_eq!(b, [1, 1, 54, 0, 0xA8, 0x05, 34, 0, 16, 0, 0, 0]);
        assert_eq!(VnetHdr::decode(&b), Some(h));
        assert_eq!(VnetHdr::decode(&b[..11]), None);
    }

    #[test]
    fn tx_meta_maps_to_header() {
        assert_eq!(VnetHdr::for_tx(&TxMeta::default()), VnetHdr::default());
        let meta = TxMeta {
            partial_csum: Some(PartialCsum {
                start: 34,
                offset: 6,
            }),
            tso: None,
        };
        let h = VnetHdr::for_tx(&meta);
        assert_eq!((h.flags, h.gso_type), (flags::NEEDS_CSUM, gso::NONE));
        assert_eq!((h.csum_start, h.csum_offset), (34, 6));
        let meta = TxMeta {
            tso: Some(TsoMeta {
                mss: 1000,
                hdr_len: 66,
            }),
            ..meta
        };
        let h = VnetHdr::for_tx(&meta);
        assert_eq!((h.gso_type, h.gso_size, h.hdr_len), (gso::TCPV4, 1000, 66));
        // Round trip of what the kernel would read back.
        assert_eq!(
            VnetHdr::decode(&h.encode()).unwrap().partial_csum(100),
            meta.partial_csum
        );
        // A checksum field outside the frame is refused.
        assert_eq!(h.partial_csum(41), None);
        assert_eq!(h.partial_csum(42), meta.partial_csum);
    }

    /// A TCP/IPv4 frame with `payload`, flags PSH|ACK|FIN|CWR.
    fn tcp4(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 54];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        put16(&mut f, 16, (40 + payload.len()).min(0xFFFF) as u16);
        put16(&mut f, 18, 0x100);
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 99, 0, 1]);
        f[30..34].copy_from_slice(&[10, 99, 0, 2]);
        put32(&mut f, 38, 7000);
        f[46] = 5 << 4;
        f[47] = TCP_PSH | TCP_FIN | TCP_CWR | 0x10;
        f.extend_from_slice(payload);
        f
    }

    /// Independent check of a segment once its partial checksum is folded.
    fn complete_ok(seg: &[u8], p: PartialCsum) -> bool {
        let mut s = seg.to_vec();
        let field = usize::from(p.start + p.offset);
        let c = !fold(sum(0, &s[usize::from(p.start)..]));
        put16(&mut s, field, c);
        let ph = pseudo_v4(ipv4_at(&s, 26), ipv4_at(&s, 30), 6, (s.len() - 34) as u16);
        fold(sum(ph, &s[34..])) == 0xFFFF && fold(sum(0, &s[14..34])) == 0xFFFF
    }

    #[test]
    fn gso_frame_is_cut_into_valid_segments() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
        let frame = tcp4(&payload);
        let mut segs: Vec<(Vec<u8>, PartialCsum)> = Vec::new();
        let n = segment_tcp4(&frame, 1448, |len, fill, p| {
            let mut s = vec![0xEE; len];
            fill(&mut s);
            segs.push((s, p));
        })
        .unwrap();
        assert_eq!(n, 4);
        assert_eq!(segs.len(), 4);
        let mut joined = Vec::new();
        for (i, (s, p)) in segs.iter().enumerate() {
            assert!(complete_ok(s, *p), "segment {i}");
            assert_eq!(usize::from(be16(s, 16).unwrap()), s.len() - 14);
            assert_eq!(be16(s, 18).unwrap(), 0x100 + i as u16);
            assert_eq!(be32(s, 38).unwrap(), 7000 + 1448 * i as u32);
            let last = i == 3;
            assert_eq!(
                s[47] & (TCP_FIN | TCP_PSH) != 0,
                last,
                "FIN/PSH on the last only"
            );
            assert_eq!(s[47] & TCP_CWR != 0, i == 0, "CWR on the first only");
            assert_eq!(s[47] & 0x10, 0x10, "ACK everywhere");
            joined.extend_from_slice(&s[54..]);
        }
        assert_eq!(segs[3].0.len(), 54 + 5000 - 3 * 1448);
        assert_eq!(joined, payload);
    }

    #[test]
    fn malformed_gso_frames_are_refused_not_panicking() {
        let frame = tcp4(&[1, 2, 3]);
        let nop = |_: usize, _: &mut dyn FnMut(&mut [u8]), _: PartialCsum| {};
        assert_eq!(segment_tcp4(&frame, 0, nop), Err(GsoError::Malformed));
        for cut in 0..54 {
            assert_eq!(
                segment_tcp4(&frame[..cut], 100, nop),
                Err(GsoError::Malformed)
            );
        }
        let mut udp = frame.clone();
        udp[23] = 17;
        assert_eq!(segment_tcp4(&udp, 100, nop), Err(GsoError::Malformed));
        let mut short_ihl = frame.clone();
        short_ihl[14] = 0x44;
        assert_eq!(segment_tcp4(&short_ihl, 100, nop), Err(GsoError::Malformed));
        // Header-only frame: one segment.
        let mut n = 0;
        assert_eq!(segment_tcp4(&tcp4(&[]), 100, |_, _, _| n += 1), Ok(1));
        assert_eq!(n, 1);
    }
}
