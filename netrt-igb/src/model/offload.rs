//! Transmit offloads as the hardware performs them: checksum insertion
//! (`IXSM`/`TXSM`) and TCP segmentation (`TSE`).
//!
//! Like the hardware, the device does not parse the frame: header offsets
//! come from the context descriptor (`MACLEN`, `IPLEN`, `L4LEN`, `MSS`).
//! Checksum conventions are the hardware's (linux: igb_tx_csum, igb_tso):
//!
//! * `IXSM`: the IPv4 header checksum is computed from scratch.
//! * `TXSM`: the one's complement sum from the L4 header to the end of the
//!   frame is inserted, *including* whatever the checksum field holds. The
//!   driver seeds the field with the pseudo-header sum (with the L4 length;
//!   linux: `CHECKSUM_PARTIAL`), so the result is the real checksum.
//! * TSO: the seed excludes the length (linux: `igb_tso` removes it); the
//!   device adds each segment's L4 length, and sets each segment's IP total
//!   length, IP id (+1 per segment), TCP sequence number, and TCP flags
//!   masked by `DTXTCPFLGL/H` (by default FIN and PSH only on the last
//!   segment).
//!
//! When the attachment carries checksum offload as metadata, the L4 sum is
//! not folded in: the field is left holding the full pseudo-header seed and
//! the frame travels with a [`PartialCsum`], exactly a Linux
//! `CHECKSUM_PARTIAL` skb.

use crate::attach::{PartialCsum, TsoMeta, TxMeta};
use crate::desc::{L4Type, TxContextDesc};

use super::packet::{be16, be32, fold, put16, put32, sum};

/// Why an offload request could not be carried out; the frame is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OffloadError {
    /// The context's offsets do not fit the frame.
    BadOffsets,
    /// TSO requested for something other than TCP, or with MSS 0.
    BadTso,
}

/// TCP flag masks for first, middle and last TSO segments (12 bits each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TsoFlagMasks {
    pub first: u16,
    pub middle: u16,
    pub last: u16,
}

impl TsoFlagMasks {
    /// From the `DTXTCPFLGL` (first: 11:0, middle: 27:16) and `DTXTCPFLGH`
    /// (last: 11:0) registers.
    pub fn from_regs(low: u32, high: u32) -> Self {
        TsoFlagMasks {
            first: (low & 0x0FFF) as u16,
            middle: ((low >> 16) & 0x0FFF) as u16,
            last: (high & 0x0FFF) as u16,
        }
    }
}

/// Offsets of a context descriptor.
#[derive(Clone, Copy, Debug)]
struct Layout {
    l3: usize,
    l4: usize,
    /// Offset of the L4 checksum field from the L4 header, if the device
    /// knows the protocol's checksum (TCP, UDP; SCTP's CRC is not done).
    csum_field: Option<usize>,
    udp: bool,
}

impl Layout {
    fn of(ctx: &TxContextDesc) -> Layout {
        let l3 = usize::from(ctx.maclen());
        let (csum_field, udp) = match ctx.l4_type() {
            L4Type::Tcp => (Some(16), false),
            L4Type::Udp => (Some(6), true),
            L4Type::Sctp | L4Type::Reserved => (None, false),
        };
        Layout {
            l3,
            l4: l3 + usize::from(ctx.iplen()),
            csum_field,
            udp,
        }
    }
}

/// Computes and stores the IPv4 header checksum of `frame[l3..l4]`.
fn fill_ipv4_csum(frame: &mut [u8], l3: usize, l4: usize) -> Result<(), OffloadError> {
    if l4 < l3 + 20 || l4 > frame.len() || !put16(frame, l3 + 10, 0) {
        return Err(OffloadError::BadOffsets);
    }
    let c = !fold(sum(0, &frame[l3..l4]));
    put16(frame, l3 + 10, c);
    Ok(())
}

/// Folds the L4 sum into the (seeded) checksum field, or leaves it for the
/// wire to carry. `field` is the absolute offset of the checksum field.
fn fill_l4_csum(
    frame: &mut [u8],
    lay: &Layout,
    field: usize,
    carry_partial: bool,
) -> Result<TxMeta, OffloadError> {
    if field + 2 > frame.len() || lay.l4 > field {
        return Err(OffloadError::BadOffsets);
    }
    if carry_partial {
        let start = u16::try_from(lay.l4).map_err(|_| OffloadError::BadOffsets)?;
        let offset = (field - lay.l4) as u16;
        return Ok(TxMeta {
            partial_csum: Some(PartialCsum { start, offset }),
            tso: None,
        });
    }
    let mut c = !fold(sum(0, &frame[lay.l4..]));
    if lay.udp && c == 0 {
        // UDP reserves 0 for "no checksum" (RFC 768).
        c = 0xFFFF;
    }
    put16(frame, field, c);
    Ok(TxMeta::default())
}

/// Checksum offload of one (non-TSO) frame, in place.
pub(crate) fn insert_checksums(
    frame: &mut [u8],
    ctx: &TxContextDesc,
    ixsm: bool,
    txsm: bool,
    carry_partial: bool,
) -> Result<TxMeta, OffloadError> {
    let lay = Layout::of(ctx);
    if ixsm && ctx.is_ipv4() {
        fill_ipv4_csum(frame, lay.l3, lay.l4)?;
    }
    match lay.csum_field {
        Some(off) if txsm => fill_l4_csum(frame, &lay, lay.l4 + off, carry_partial),
        _ => Ok(TxMeta::default()),
    }
}

/// Whether a TSO frame can cross whole ([`whole_tso`]): TCP/IPv4 that
/// fits one IPv4 packet; anything else is segmented by the device.
pub(crate) fn fits_whole_tso(ctx: &TxContextDesc, paylen: usize) -> bool {
    ctx.l4_type() == L4Type::Tcp
        && ctx.is_ipv4()
        && usize::from(ctx.iplen()) + usize::from(ctx.l4len()) + paylen <= usize::from(u16::MAX)
}

/// Prepares a TSO frame to cross a wire that segments it (linux: what
/// `tcp_gso_segment` expects of a GSO skb): the IPv4 total length and
/// header checksum cover the whole frame, and the length-less TCP seed is
/// completed with the whole L4 length. Returns the frame's length and its
/// metadata. TCP/IPv4 only, up to the 64 KiB an IPv4 packet can hold.
pub(crate) fn whole_tso(
    frame: &mut [u8],
    ctx: &TxContextDesc,
    paylen: usize,
) -> Result<(usize, TxMeta), OffloadError> {
    let lay = Layout::of(ctx);
    let (mss, l4len) = (ctx.mss(), usize::from(ctx.l4len()));
    if ctx.l4_type() != L4Type::Tcp || !ctx.is_ipv4() || mss == 0 || l4len < 20 {
        return Err(OffloadError::BadTso);
    }
    let hdr_len = lay.l4 + l4len;
    let bad = OffloadError::BadOffsets;
    if hdr_len + paylen > frame.len() {
        return Err(bad);
    }
    let ip_total = u16::try_from(lay.l4 - lay.l3 + l4len + paylen).map_err(|_| bad)?;
    let l4_total = u16::try_from(l4len + paylen).map_err(|_| bad)?;
    put16(frame, lay.l3 + 2, ip_total);
    fill_ipv4_csum(frame, lay.l3, lay.l4)?;
    let field = lay.l4 + 16;
    let seed = be16(frame, field).ok_or(bad)?;
    put16(frame, field, fold(u64::from(seed) + u64::from(l4_total)));
    let meta = TxMeta {
        partial_csum: Some(PartialCsum {
            start: u16::try_from(lay.l4).map_err(|_| bad)?,
            offset: 16,
        }),
        tso: Some(TsoMeta {
            mss,
            hdr_len: u16::try_from(hdr_len).map_err(|_| bad)?,
        }),
    };
    Ok((hdr_len + paylen, meta))
}

/// Cuts a TSO frame (headers followed by `paylen` payload bytes) into MSS
/// segments, building each in `seg` and handing it to `emit`. Returns the
/// number of segments.
#[allow(clippy::too_many_arguments)]
pub(crate) fn segment(
    frame: &[u8],
    ctx: &TxContextDesc,
    paylen: usize,
    ixsm: bool,
    txsm: bool,
    carry_partial: bool,
    masks: TsoFlagMasks,
    seg: &mut Vec<u8>,
    mut emit: impl FnMut(&[u8], &TxMeta),
) -> Result<u64, OffloadError> {
    let lay = Layout::of(ctx);
    let mss = usize::from(ctx.mss());
    let l4len = usize::from(ctx.l4len());
    if ctx.l4_type() != L4Type::Tcp || mss == 0 || l4len < 20 {
        return Err(OffloadError::BadTso);
    }
    let hdr_len = lay.l4 + l4len;
    let iplen = lay.l4 - lay.l3;
    let min_ip = if ctx.is_ipv4() { 20 } else { 40 };
    if iplen < min_ip || hdr_len + paylen > frame.len() {
        return Err(OffloadError::BadOffsets);
    }
    let (hdr, payload) = (&frame[..hdr_len], &frame[hdr_len..hdr_len + paylen]);
    let bad = OffloadError::BadOffsets;
    let ip_id = be16(hdr, lay.l3 + 4).ok_or(bad)?;
    let seq = be32(hdr, lay.l4 + 4).ok_or(bad)?;
    let flags_word = be16(hdr, lay.l4 + 12).ok_or(bad)?;
    let seed = be16(hdr, lay.l4 + 16).ok_or(bad)?;

    let count = paylen.div_ceil(mss).max(1);
    for i in 0..count {
        let chunk = &payload[(i * mss).min(paylen)..((i + 1) * mss).min(paylen)];
        seg.clear();
        seg.extend_from_slice(hdr);
        seg.extend_from_slice(chunk);
        let l4_seg_len = l4len + chunk.len();
        if ctx.is_ipv4() {
            let total = u16::try_from(iplen + l4_seg_len).map_err(|_| bad)?;
            put16(seg, lay.l3 + 2, total);
            put16(seg, lay.l3 + 4, ip_id.wrapping_add(i as u16));
            if ixsm {
                fill_ipv4_csum(seg, lay.l3, lay.l4)?;
            }
        } else {
            // IPv6 payload length: extension headers + L4.
            let payload_len = u16::try_from(iplen - 40 + l4_seg_len).map_err(|_| bad)?;
            put16(seg, lay.l3 + 4, payload_len);
        }
        put32(seg, lay.l4 + 4, seq.wrapping_add((i * mss) as u32));
        let mask = if i + 1 == count {
            masks.last
        } else if i == 0 {
            masks.first
        } else {
            masks.middle
        };
        put16(
            seg,
            lay.l4 + 12,
            (flags_word & 0xF000) | (flags_word & mask & 0x0FFF),
        );
        let meta = if txsm {
            // Complete the length-less seed with this segment's length.
            let len = u16::try_from(l4_seg_len).map_err(|_| bad)?;
            let field = lay.l4 + 16;
            put16(seg, field, fold(u64::from(seed) + u64::from(len)));
            fill_l4_csum(seg, &lay, field, carry_partial)?
        } else {
            TxMeta::default()
        };
        emit(seg, &meta);
    }
    Ok(count as u64)
}
