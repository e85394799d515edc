//! TCP (RFC 9293) segments over IPv4: sequence-number arithmetic, flags,
//! options (RFC 9293 MSS, RFC 7323 window scale and timestamps, RFC 2018
//! SACK), the header view and `TcpRepr`.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, BitAnd, BitOr, BitOrAssign, Sub, SubAssign};
use std::net::Ipv4Addr;

use super::{
    check_declared_len, checksum, read_u16, read_u32, wire_view, write_u16, write_u32,
    ChecksumMode, Error, Field, IpProtocol, Result,
};

/// A TCP sequence number: arithmetic modulo 2^32, compared the RFC 9293
/// way — `a < b` iff `(a - b) as i32 < 0` (Linux `before()`).
///
/// The order is only meaningful for numbers less than 2^31 apart, which
/// TCP guarantees (windows are at most 2^30). Exactly 2^31 apart, each is
/// "before" the other, as with Linux's `before()`; hence no `Ord`, and
/// sequence numbers must not key a sorted container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Bytes from `earlier` up to `self`, modulo 2^32 (`self - earlier`
    /// when `earlier <= self`): e.g. `snd_nxt.distance(snd_una)` is the
    /// amount in flight.
    #[inline]
    pub const fn distance(self, earlier: SeqNumber) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// `start <= self <= end`, wrap-safe (Linux `between()`).
    #[inline]
    pub const fn between(self, start: SeqNumber, end: SeqNumber) -> bool {
        self.0.wrapping_sub(start.0) <= end.0.wrapping_sub(start.0)
    }

    /// `start <= self < start + len`, wrap-safe: is this byte inside a
    /// window?
    #[inline]
    pub const fn in_window(self, start: SeqNumber, len: u32) -> bool {
        self.0.wrapping_sub(start.0) < len
    }

    /// The later of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self < other {
            other
        } else {
            self
        }
    }

    /// The earlier of two sequence numbers.
    #[inline]
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self < other {
            self
        } else {
            other
        }
    }
}

impl PartialOrd for SeqNumber {
    #[inline]
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some((self.0.wrapping_sub(other.0) as i32).cmp(&0))
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNumber {
    #[inline]
    fn add_assign(&mut self, rhs: u32) {
        *self = *self + rhs;
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl SubAssign<u32> for SeqNumber {
    #[inline]
    fn sub_assign(&mut self, rhs: u32) {
        *self = *self - rhs;
    }
}

/// Signed distance: positive when `self` is after `rhs`.
impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;
    #[inline]
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl Field for SeqNumber {
    #[inline(always)]
    fn read(buf: &[u8], at: usize) -> Self {
        SeqNumber(u32::read(buf, at))
    }

    #[inline(always)]
    fn write(self, buf: &mut [u8], at: usize) {
        self.0.write(buf, at)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The eight TCP control bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const NAMES: [&'static str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

    /// No flag.
    #[inline]
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// From the raw flags byte (every value is valid).
    #[inline]
    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }

    /// The raw flags byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True when no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Sets the flags of `other`.
    #[inline]
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    #[inline]
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    /// Sets or clears the flags of `other`.
    #[inline]
    pub fn set(&mut self, other: TcpFlags, on: bool) {
        if on {
            self.insert(other)
        } else {
            self.remove(other)
        }
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// `SYN|ACK` style; `-` when empty.
impl Field for TcpFlags {
    #[inline(always)]
    fn read(buf: &[u8], at: usize) -> Self {
        TcpFlags(buf[at])
    }

    #[inline(always)]
    fn write(self, buf: &mut [u8], at: usize) {
        buf[at] = self.0;
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut sep = "";
        for (bit, name) in Self::NAMES.iter().enumerate() {
            if self.0 & (1 << bit) != 0 {
                write!(f, "{sep}{name}")?;
                sep = "|";
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// A TCP timestamps option value (RFC 7323).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpTimestamp {
    /// The sender's clock.
    pub tsval: u32,
    /// The echoed peer clock (meaningful with ACK).
    pub tsecr: u32,
}

/// One SACK block: the bytes `[left, right)` were received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNumber,
    /// Sequence number after the block.
    pub right: SeqNumber,
}

/// Up to four SACK blocks (the most 40 bytes of options can carry).
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [SackBlock; SackBlocks::MAX],
    len: u8,
}

impl SackBlocks {
    /// Capacity.
    pub const MAX: usize = 4;

    /// No block.
    #[inline]
    pub const fn new() -> SackBlocks {
        SackBlocks {
            blocks: [SackBlock {
                left: SeqNumber(0),
                right: SeqNumber(0),
            }; Self::MAX],
            len: 0,
        }
    }

    /// The first (up to) four blocks of `blocks`.
    #[inline]
    pub fn from_slice(blocks: &[SackBlock]) -> SackBlocks {
        let mut out = SackBlocks::new();
        for &b in blocks.iter().take(Self::MAX) {
            out.push(b);
        }
        out
    }

    /// Appends a block; false (and nothing changes) when full.
    #[inline]
    pub fn push(&mut self, block: SackBlock) -> bool {
        let len = usize::from(self.len);
        if len == Self::MAX {
            return false;
        }
        self.blocks[len] = block;
        self.len += 1;
        true
    }

    /// Removes all blocks.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The blocks.
    #[inline]
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len)]
    }

    /// Number of blocks.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True when there is no block.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Parses the body of a SACK option (a multiple of 8 bytes, ≤ 32).
    fn parse(body: &[u8]) -> SackBlocks {
        let mut out = SackBlocks::new();
        for pair in body.chunks_exact(8).take(Self::MAX) {
            out.push(SackBlock {
                left: SeqNumber(read_u32(pair, 0)),
                right: SeqNumber(read_u32(pair, 4)),
            });
        }
        out
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod kind {
    /// End of option list.
    pub const END: u8 = 0;
    /// No-operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMP: u8 = 8;
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0).
    EndOfList,
    /// No-operation (kind 1).
    NoOperation,
    /// Maximum segment size (kind 2, length 4).
    MaxSegmentSize(u16),
    /// Window scale shift (kind 3, length 3). Kept raw: RFC 7323 says to
    /// treat a shift above 14 as 14, which is the TCP engine's job.
    WindowScale(u8),
    /// SACK permitted (kind 4, length 2).
    SackPermitted,
    /// SACK blocks (kind 5, length 2 + 8n, n = 1..=4).
    Sack(SackBlocks),
    /// Timestamps (kind 8, length 10).
    Timestamp(TcpTimestamp),
    /// An option this parser does not interpret: an unknown kind, or a
    /// known kind whose length is not the one its RFC fixes (ignored, as
    /// Linux ignores it). `data` excludes kind and length.
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option body.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the start of `buf`, returning it and the bytes
    /// after it. `Truncated` on an empty buffer; `Malformed` when the length
    /// byte is missing, below 2, or runs past the buffer — the cases where
    /// Linux stops parsing options (`tcp_parse_options`).
    pub fn parse(buf: &'a [u8]) -> Result<(TcpOption<'a>, &'a [u8])> {
        let (&kind, rest) = buf.split_first().ok_or(Error::Truncated)?;
        match kind {
            kind::END => return Ok((TcpOption::EndOfList, rest)),
            kind::NOP => return Ok((TcpOption::NoOperation, rest)),
            _ => {}
        }
        let (&len, _) = rest.split_first().ok_or(Error::Malformed)?;
        let len = usize::from(len);
        if len < 2 || len > buf.len() {
            return Err(Error::Malformed);
        }
        let (option, rest) = buf.split_at(len);
        let data = &option[2..];
        let parsed = match (kind, len) {
            (kind::MSS, 4) => TcpOption::MaxSegmentSize(read_u16(data, 0)),
            (kind::WINDOW_SCALE, 3) => TcpOption::WindowScale(data[0]),
            (kind::SACK_PERMITTED, 2) => TcpOption::SackPermitted,
            (kind::SACK, 10 | 18 | 26 | 34) => TcpOption::Sack(SackBlocks::parse(data)),
            (kind::TIMESTAMP, 10) => TcpOption::Timestamp(TcpTimestamp {
                tsval: read_u32(data, 0),
                tsecr: read_u32(data, 4),
            }),
            _ => TcpOption::Unknown { kind, data },
        };
        Ok((parsed, rest))
    }

    /// Bytes this option takes on the wire.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamp(_) => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` (which must hold
    /// [`buffer_len`](Self::buffer_len) bytes) and returns the rest.
    pub fn emit<'b>(&self, buf: &'b mut [u8]) -> &'b mut [u8] {
        let len = self.buffer_len();
        let (out, rest) = buf.split_at_mut(len);
        match *self {
            TcpOption::EndOfList => out[0] = kind::END,
            TcpOption::NoOperation => out[0] = kind::NOP,
            TcpOption::MaxSegmentSize(mss) => {
                out[..2].copy_from_slice(&[kind::MSS, 4]);
                write_u16(out, 2, mss);
            }
            TcpOption::WindowScale(shift) => out.copy_from_slice(&[kind::WINDOW_SCALE, 3, shift]),
            TcpOption::SackPermitted => out.copy_from_slice(&[kind::SACK_PERMITTED, 2]),
            TcpOption::Sack(ref blocks) => {
                out[..2].copy_from_slice(&[kind::SACK, len as u8]);
                for (pair, b) in out[2..].chunks_exact_mut(8).zip(blocks.as_slice()) {
                    write_u32(pair, 0, b.left.0);
                    write_u32(pair, 4, b.right.0);
                }
            }
            TcpOption::Timestamp(ts) => {
                out[..2].copy_from_slice(&[kind::TIMESTAMP, 10]);
                write_u32(out, 2, ts.tsval);
                write_u32(out, 6, ts.tsecr);
            }
            TcpOption::Unknown { kind, data } => {
                out[0] = kind;
                out[1] = len as u8;
                out[2..].copy_from_slice(data);
            }
        }
        rest
    }
}

/// Iterates the options of a header. Yields `Err` once and stops on a
/// framing error ([`TcpOption::parse`]); stops after `EndOfList`.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    /// Iterates the options in `bytes` (the header after 20 bytes).
    #[inline]
    pub const fn new(bytes: &'a [u8]) -> Self {
        TcpOptionIter { rest: bytes }
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((option, rest)) => {
                self.rest = if option == TcpOption::EndOfList {
                    &[]
                } else {
                    rest
                };
                Some(Ok(option))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for TcpOptionIter<'_> {}

/// Maximum bytes of options (data offset 15).
pub const MAX_OPTIONS_LEN: usize = 40;

/// The options the stack understands, as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (meaningful on SYN).
    pub mss: Option<u16>,
    /// Window scale shift (meaningful on SYN; raw, may exceed 14).
    pub window_scale: Option<u8>,
    /// SACK permitted (meaningful on SYN).
    pub sack_permitted: bool,
    /// SACK blocks.
    pub sack: SackBlocks,
    /// Timestamps.
    pub timestamp: Option<TcpTimestamp>,
}

impl TcpOptions {
    /// Collects the options in `bytes`, Linux style (`tcp_parse_options`):
    /// parsing never fails; it stops at End-of-List or at the first option
    /// whose length byte is missing, below 2 or past the end (options read
    /// before it are kept); a known option with the wrong length and unknown
    /// options are skipped; a repeated option overrides the earlier one.
    /// MSS/window scale/SACK-permitted are taken from any segment: ignoring
    /// them outside SYN is the TCP engine's call.
    pub fn parse(bytes: &[u8]) -> TcpOptions {
        let mut out = TcpOptions::default();
        for option in TcpOptionIter::new(bytes) {
            match option {
                Ok(TcpOption::MaxSegmentSize(mss)) => out.mss = Some(mss),
                Ok(TcpOption::WindowScale(shift)) => out.window_scale = Some(shift),
                Ok(TcpOption::SackPermitted) => out.sack_permitted = true,
                Ok(TcpOption::Sack(blocks)) => out.sack = blocks,
                Ok(TcpOption::Timestamp(ts)) => out.timestamp = Some(ts),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        out
    }

    /// Number of SACK blocks [`emit`](Self::emit) writes: as many as fit in
    /// the 40 bytes left by the other options (Linux trims the same way).
    #[inline]
    pub fn sack_blocks_emitted(&self) -> usize {
        let room = MAX_OPTIONS_LEN - self.fixed_len();
        let fit = room.saturating_sub(4) / 8;
        self.sack.len().min(fit)
    }

    /// Bytes of everything but SACK blocks, NOP-padded to 4-byte words.
    #[inline]
    fn fixed_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamp.is_some() {
            len += 12; // SACK-permitted rides in the timestamp's padding
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// Bytes [`emit`](Self::emit) writes: a multiple of 4, at most 40.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        let n = self.sack_blocks_emitted();
        self.fixed_len() + if n > 0 { 4 + 8 * n } else { 0 }
    }

    /// Writes the options in Linux's layout (`tcp_options_write`): MSS;
    /// SACK-permitted + timestamps (or NOP NOP + timestamps, or NOP NOP +
    /// SACK-permitted); NOP + window scale; NOP NOP + SACK blocks. Returns
    /// the bytes written, [`buffer_len`](Self::buffer_len).
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let total = self.buffer_len();
        let mut rest = &mut buf[..total];
        if let Some(mss) = self.mss {
            rest = TcpOption::MaxSegmentSize(mss).emit(rest);
        }
        match (self.timestamp, self.sack_permitted) {
            (Some(ts), sack_permitted) => {
                rest = if sack_permitted {
                    TcpOption::SackPermitted.emit(rest)
                } else {
                    nops(rest, 2)
                };
                rest = TcpOption::Timestamp(ts).emit(rest);
            }
            (None, true) => rest = TcpOption::SackPermitted.emit(nops(rest, 2)),
            (None, false) => {}
        }
        if let Some(shift) = self.window_scale {
            rest = TcpOption::WindowScale(shift).emit(nops(rest, 1));
        }
        let n = self.sack_blocks_emitted();
        if n > 0 {
            let blocks = SackBlocks::from_slice(&self.sack.as_slice()[..n]);
            rest = TcpOption::Sack(blocks).emit(nops(rest, 2));
        }
        debug_assert!(rest.is_empty());
        total
    }
}

/// Writes `count` NOPs and returns the rest.
#[inline]
fn nops(buf: &mut [u8], count: usize) -> &mut [u8] {
    let (pad, rest) = buf.split_at_mut(count);
    pad.fill(kind::NOP);
    rest
}

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Largest header (data offset 15).
pub const MAX_HEADER_LEN: usize = HEADER_LEN + MAX_OPTIONS_LEN;

wire_view! {
    /// A view of a TCP segment; the buffer is exactly the IP payload (the
    /// checksum and the payload extend to its end).
    pub struct TcpPacket;
    payload(p => p.header_len()..) {
        /// The payload: from the end of the header to the end of the buffer.
        fn payload, into_payload, payload_mut;
    }
    fields {
        /// Source port.
        src_port, set_src_port: u16 = field::SRC_PORT;
        /// Destination port.
        dst_port, set_dst_port: u16 = field::DST_PORT;
        /// Sequence number.
        seq_number, set_seq_number: SeqNumber = field::SEQ;
        /// Acknowledgment number (meaningful with ACK).
        ack_number, set_ack_number: SeqNumber = field::ACK;
        /// The control bits.
        flags, set_flags: TcpFlags = field::FLAGS;
        /// Window field (unscaled).
        window_len, set_window_len: u16 = field::WINDOW;
        /// Checksum field.
        checksum, set_checksum: u16 = field::CHECKSUM;
        /// Urgent pointer (meaningful with URG).
        urgent_pointer, set_urgent_pointer: u16 = field::URGENT;
    }
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// `Truncated` if the buffer cannot hold 20 bytes or the header the
    /// data offset declares; `Malformed` if the data offset is below 5.
    /// // linux: tcp_v4_rcv's doff checks
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        check_declared_len(self.buffer.as_ref().len(), HEADER_LEN, || self.header_len())
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The raw options bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Iterates the options.
    #[inline]
    pub fn option_iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options())
    }

    /// Sequence space the segment occupies: payload plus one for SYN and
    /// one for FIN.
    #[inline]
    pub fn segment_len(&self) -> usize {
        let flags = self.flags();
        self.payload().len()
            + usize::from(flags.contains(TcpFlags::SYN))
            + usize::from(flags.contains(TcpFlags::FIN))
    }

    /// True when the segment with its pseudo-header sums to -0.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.sum_with_pseudo(src, dst) == 0xffff
    }

    #[inline]
    fn sum_with_pseudo(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let data = self.buffer.as_ref();
        checksum::add(pseudo_header(src, dst, data.len()), checksum::sum(data))
    }
}

/// The pseudo-header sum; an IPv4 payload is below 64 KiB, so the length
/// fits its 16-bit field.
#[inline]
fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u16 {
    debug_assert!(len <= usize::from(u16::MAX));
    checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp.into(), len as u16)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the header length in bytes (a multiple of 4, 20..=60); the
    /// reserved bits are cleared.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        debug_assert!(len.is_multiple_of(4) && (HEADER_LEN..=MAX_HEADER_LEN).contains(&len));
        self.buffer.as_mut()[field::DATA_OFFSET] = ((len / 4) as u8) << 4;
    }

    /// The options bytes, writable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum over the pseudo-header and the whole buffer
    /// and stores it.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let value = !self.sum_with_pseudo(src, dst);
        self.set_checksum(value);
    }

    /// Seeds the checksum field with the pseudo-header partial sum, for a
    /// device that completes it over the segment (`CHECKSUM_PARTIAL`).
    #[inline]
    pub fn fill_pseudo_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let seed = pseudo_header(src, dst, self.buffer.as_ref().len());
        self.set_checksum(seed);
    }
}

/// A TCP segment as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: SeqNumber,
    /// Acknowledgment number; meaningful only when `flags` has ACK (kept as
    /// received, emitted as given).
    pub ack_number: SeqNumber,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field, unscaled.
    pub window_len: u16,
    /// Urgent pointer; meaningful only with URG.
    pub urgent_pointer: u16,
    /// Options.
    pub options: TcpOptions,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a segment, verifying the checksum in
    /// [`ChecksumMode::Software`]. Options follow [`TcpOptions::parse`]
    /// (a bad option length ends option parsing; it does not reject the
    /// segment). Flag combinations and ports are the TCP engine's to judge.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if mode.is_software() && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let buf: &'a [u8] = packet.buffer.as_ref();
        let header_len = packet.header_len();
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            urgent_pointer: packet.urgent_pointer(),
            options: TcpOptions::parse(&buf[HEADER_LEN..header_len]),
            payload: &buf[header_len..],
        })
    }

    /// Header length including options.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len()
    }

    /// Header plus payload.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space: payload plus one each for SYN and FIN.
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes the header and options, with a zero checksum, leaving the
    /// payload area alone: for a caller that writes the payload into
    /// `payload_mut` itself (the buffer must be exactly header + payload),
    /// then calls `fill_checksum` or `fill_pseudo_checksum`.
    /// `self.payload` is ignored.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        packet.set_header_len(self.header_len());
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_checksum(0);
        packet.set_urgent_pointer(self.urgent_pointer);
        self.options.emit(packet.options_mut());
    }

    /// Writes the whole segment into a packet of exactly
    /// [`buffer_len`](Self::buffer_len) bytes: header, options, payload,
    /// and the checksum per `mode`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) {
        self.emit_header(packet);
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
    use crate::wire::{testutil, Ipv4Packet};
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A Linux-style SYN 10.0.0.1:40000 → 10.0.0.2:80, seq 0x01020304,
    /// window 64240, options MSS 1460, SACK-permitted, TS (1000, 0), NOP,
    /// WS 7 — the 40-byte-header SYN every Linux connect() sends.
    fn syn_frame() -> Vec<u8> {
        let mut f = vec![
            0x52, 0x54, 0x00, 0x00, 0x00, 0x02, 0x52, 0x54, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
            // IPv4, total 60
            0x45, 0x00, 0x00, 0x3c, 0x4a, 0x3b, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10,
            0, 0, 2, // TCP
            0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
            0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, // options
            0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00,
            0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
        ];
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        TcpPacket::new_unchecked(&mut f[34..]).fill_checksum(SRC, DST);
        f
    }

    fn syn_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(0x0102_0304),
            ack_number: SeqNumber(0),
            flags: TcpFlags::SYN,
            window_len: 64240,
            urgent_pointer: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                sack: SackBlocks::new(),
                timestamp: Some(TcpTimestamp {
                    tsval: 1000,
                    tsecr: 0,
                }),
            },
            payload: &[],
        }
    }

    #[test]
    fn parse_linux_syn() {
        let f = syn_frame();
        // Reference checksum computed independently, 16 bits at a time.
        assert_eq!(&f[50..52], &[0x94, 0x8e]);
        let p = TcpPacket::new_checked(&f[34..]).unwrap();
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!(p.segment_len(), 1);
        assert!(p.verify_checksum(SRC, DST));
        let opts: Vec<_> = p.option_iter().collect::<Result<_>>().unwrap();
        assert_eq!(
            opts,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamp(TcpTimestamp {
                    tsval: 1000,
                    tsecr: 0
                }),
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
            ]
        );
        let repr = TcpRepr::parse(&p, SRC, DST, ChecksumMode::Software).unwrap();
        assert_eq!(repr, syn_repr());
        assert_eq!(repr.segment_len(), 1);
        testutil::parse_frame(&f).unwrap();

        // Emitting gives back the same bytes: our layout is Linux's.
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut out[..]),
            SRC,
            DST,
            ChecksumMode::Software,
        );
        assert_eq!(&out[..], &f[34..]);
    }

    #[test]
    fn robustness_of_syn() {
        let f = syn_frame();
        testutil::assert_truncations_err(&f, testutil::parse_frame);
        let (ok, _) = testutil::mutate_every_byte(&f, testutil::parse_frame);
        assert_eq!(ok, 12 * 255);
        // Without the checksum to catch them, option mutations still never
        // panic, whatever they turn into.
        for at in 54..74 {
            for v in 0..=255u8 {
                let mut b = f[34..].to_vec();
                b[at - 34] = v;
                if let Ok(p) = TcpPacket::new_checked(&b[..]) {
                    let _ = TcpRepr::parse(&p, SRC, DST, ChecksumMode::Offloaded);
                    let _ = p.option_iter().count();
                }
            }
        }
    }

    #[test]
    fn header_length_checks() {
        let f = syn_frame();
        let seg = &f[34..];
        let mut b = seg.to_vec();
        b[12] = 0x40; // data offset 4
        assert_eq!(TcpPacket::new_checked(&b[..]).err(), Some(Error::Malformed));
        let mut b = seg.to_vec();
        b[12] = 0xb0; // data offset 11 = 44 bytes > 40
        assert_eq!(TcpPacket::new_checked(&b[..]).err(), Some(Error::Truncated));
        let p = TcpPacket::new_checked(seg).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, Ipv4Addr::new(10, 0, 0, 3), ChecksumMode::Software),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn option_framing_linux_semantics() {
        // MSS, then a SACK-permitted with length 1: parsing stops there,
        // the MSS is kept, the timestamp after it is not seen.
        let bytes = [
            2, 4, 0x05, 0xb4, 4, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 1,
        ];
        let o = TcpOptions::parse(&bytes);
        assert_eq!(o.mss, Some(1460));
        assert!(!o.sack_permitted && o.timestamp.is_none());
        let mut it = TcpOptionIter::new(&bytes);
        assert_eq!(it.next(), Some(Ok(TcpOption::MaxSegmentSize(1460))));
        assert_eq!(it.next(), Some(Err(Error::Malformed)));
        assert_eq!(it.next(), None);

        // A length running past the end stops parsing too.
        assert_eq!(TcpOption::parse(&[8, 10, 0, 0]), Err(Error::Malformed));
        // A kind with no length byte.
        assert_eq!(TcpOption::parse(&[2]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[]), Err(Error::Truncated));

        // Known kinds with the wrong length and unknown kinds are skipped.
        let bytes = [
            2, 3, 0, // MSS, length 3
            3, 4, 7, 0, // window scale, length 4
            4, 7, 0x54, 0x45, 0x53, 0x54, 0, // SACK-permitted, length 7
            30, 2, // unknown kind
            8, 10, 0, 0, 0, 5, 0, 0, 0, 6, // timestamps
        ];
        let o = TcpOptions::parse(&bytes);
        assert_eq!(o.mss, None);
        assert_eq!(o.window_scale, None);
        assert_eq!(o.timestamp, Some(TcpTimestamp { tsval: 5, tsecr: 6 }));
        assert_eq!(
            TcpOption::parse(&bytes[7..]).unwrap().0,
            TcpOption::Unknown {
                kind: 4,
                data: &[0x54, 0x45, 0x53, 0x54, 0][..]
            }
        );
        assert!(!o.sack_permitted);
        assert_eq!(TcpOptionIter::new(&bytes).count(), 5);

        // End-of-list ends parsing even if bytes follow.
        let bytes = [1, 0, 2, 4, 1, 0];
        assert_eq!(TcpOptions::parse(&bytes).mss, None);
        assert_eq!(TcpOptionIter::new(&bytes).count(), 2);

        // Duplicates: the last one wins.
        let bytes = [3, 3, 2, 3, 3, 9, 0, 0];
        assert_eq!(TcpOptions::parse(&bytes).window_scale, Some(9));
    }

    #[test]
    fn sack_blocks_and_trimming() {
        let blocks: Vec<SackBlock> = (0..5)
            .map(|i| SackBlock {
                left: SeqNumber(1000 * i),
                right: SeqNumber(1000 * i + 500),
            })
            .collect();
        let mut sack = SackBlocks::from_slice(&blocks);
        assert_eq!(sack.len(), 4);
        assert!(!sack.push(blocks[4]));

        let alone = TcpOptions {
            sack,
            ..TcpOptions::default()
        };
        assert_eq!(alone.buffer_len(), 36);
        let with_ts = TcpOptions {
            timestamp: Some(TcpTimestamp { tsval: 1, tsecr: 2 }),
            ..alone
        };
        assert_eq!(with_ts.sack_blocks_emitted(), 3);
        assert_eq!(with_ts.buffer_len(), 12 + 4 + 24);
        let mut buf = [0u8; 40];
        assert_eq!(with_ts.emit(&mut buf), 40);
        assert_eq!(&buf[..4], &[1, 1, 8, 10]);
        assert_eq!(&buf[12..16], &[1, 1, 5, 26]);
        let parsed = TcpOptions::parse(&buf);
        assert_eq!(parsed.sack.as_slice(), &blocks[..3]);
        assert_eq!(parsed.timestamp, with_ts.timestamp);

        let everything = TcpOptions {
            mss: Some(536),
            window_scale: Some(14),
            sack_permitted: true,
            ..with_ts
        };
        assert_eq!(everything.sack_blocks_emitted(), 2);
        assert_eq!(everything.buffer_len(), 40);
        sack.clear();
        assert!(sack.is_empty());
    }

    #[test]
    fn option_emit_variants() {
        let cases: [(TcpOptions, &[u8]); 3] = [
            (
                TcpOptions {
                    sack_permitted: true,
                    ..TcpOptions::default()
                },
                &[1, 1, 4, 2],
            ),
            (
                TcpOptions {
                    timestamp: Some(TcpTimestamp {
                        tsval: 0x0a0b0c0d,
                        tsecr: 1,
                    }),
                    ..TcpOptions::default()
                },
                &[1, 1, 8, 10, 10, 11, 12, 13, 0, 0, 0, 1],
            ),
            (
                TcpOptions {
                    mss: Some(9000),
                    window_scale: Some(0),
                    ..TcpOptions::default()
                },
                &[2, 4, 0x23, 0x28, 1, 3, 3, 0],
            ),
        ];
        for (opts, wire) in cases {
            let mut buf = [0xeeu8; 40];
            assert_eq!(opts.emit(&mut buf), wire.len());
            assert_eq!(&buf[..wire.len()], wire);
            assert_eq!(TcpOptions::parse(wire), opts);
        }
        let unknown = TcpOption::Unknown {
            kind: 30,
            data: &[1, 2, 3],
        };
        let mut buf = [0u8; 5];
        assert!(unknown.emit(&mut buf).is_empty());
        assert_eq!(buf, [30, 5, 1, 2, 3]);
        assert_eq!(TcpOption::parse(&buf).unwrap().0, unknown);
    }

    #[test]
    fn seq_number_wraps() {
        let a = SeqNumber(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b, SeqNumber(9));
        assert!(a < b);
        assert!(b > a);
        assert!(a >= a - 1);
        assert_eq!(a.partial_cmp(&a), Some(Ordering::Equal));
        assert_eq!(b - a, 20);
        assert_eq!(a - b, -20);
        assert_eq!(b.distance(a), 20);
        assert_eq!(b - 20, a);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
        assert!((a + 5).between(a, b));
        assert!(a.between(a, b) && b.between(a, b));
        assert!(!(b + 1).between(a, b));
        assert!(a.in_window(a, 1) && !b.in_window(a, 20) && (b - 1).in_window(a, 20));
        let mut c = a;
        c += 11;
        assert_eq!(c, SeqNumber(0));
        c -= 1;
        assert_eq!(c, SeqNumber(u32::MAX));
        // Exactly 2^31 apart: each is before the other, like Linux before().
        let far = SeqNumber(0x8000_0000);
        assert!(SeqNumber(0) < far && far < SeqNumber(0));
    }

    #[test]
    fn flags_ops_and_display() {
        let mut f = TcpFlags::SYN | TcpFlags::ACK;
        assert!(f.contains(TcpFlags::SYN) && f.contains(TcpFlags::ACK));
        assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(f.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert_eq!(f.to_string(), "SYN|ACK");
        f.remove(TcpFlags::SYN);
        f.set(TcpFlags::FIN, true);
        f |= TcpFlags::CWR;
        assert_eq!(f.bits(), 0x91);
        assert_eq!(format!("{f:?}"), "TcpFlags(FIN|ACK|CWR)");
        assert_eq!(f & TcpFlags::ACK, TcpFlags::ACK);
        assert_eq!(TcpFlags::empty().to_string(), "-");
        assert_eq!(
            TcpFlags::from_bits(0xff).to_string(),
            "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"
        );
    }

    #[test]
    fn zero_copy_emit_and_offload() {
        let repr = TcpRepr {
            flags: TcpFlags::ACK | TcpFlags::PSH,
            ack_number: SeqNumber(77),
            options: TcpOptions {
                timestamp: Some(TcpTimestamp { tsval: 9, tsecr: 8 }),
                ..TcpOptions::default()
            },
            payload: b"GET / HTTP/1.0\r\n\r\n",
            ..syn_repr()
        };
        let mut full = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut full[..]),
            SRC,
            DST,
            ChecksumMode::Software,
        );

        // Header first, payload written in place, checksum last.
        let mut split = vec![0u8; repr.buffer_len()];
        let mut p = TcpPacket::new_unchecked(&mut split[..]);
        repr.emit_header(&mut p);
        p.payload_mut().copy_from_slice(repr.payload);
        p.fill_checksum(SRC, DST);
        assert_eq!(split, full);

        // Offload: the device's plain sum over the seeded segment matches.
        let mut off = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut off[..]),
            SRC,
            DST,
            ChecksumMode::Offloaded,
        );
        let completed = checksum::checksum(&off);
        assert_eq!(completed.to_be_bytes(), [full[16], full[17]]);
    }

    fn arb_options() -> impl Strategy<Value = TcpOptions> {
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
            proptest::option::of(any::<(u32, u32)>()),
        )
            .prop_map(|(mss, ws, sp, sack, ts)| {
                let blocks: Vec<SackBlock> = sack
                    .into_iter()
                    .map(|(l, r)| SackBlock {
                        left: SeqNumber(l),
                        right: SeqNumber(r),
                    })
                    .collect();
                TcpOptions {
                    mss,
                    window_scale: ws,
                    sack_permitted: sp,
                    sack: SackBlocks::from_slice(&blocks),
                    timestamp: ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
                }
            })
    }

    proptest! {
        #[test]
        fn round_trip(
            ports in any::<(u16, u16)>(),
            seq in any::<(u32, u32)>(),
            flags in any::<u8>(),
            window in any::<u16>(),
            urgent in any::<u16>(),
            options in arb_options(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            addrs in any::<(u32, u32)>(),
        ) {
            let (src, dst) = (Ipv4Addr::from(addrs.0), Ipv4Addr::from(addrs.1));
            let repr = TcpRepr {
                src_port: ports.0,
                dst_port: ports.1,
                seq_number: SeqNumber(seq.0),
                ack_number: SeqNumber(seq.1),
                flags: TcpFlags::from_bits(flags),
                window_len: window,
                urgent_pointer: urgent,
                options,
                payload: &payload,
            };
            prop_assert!(repr.header_len() <= MAX_HEADER_LEN && repr.header_len().is_multiple_of(4));
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst, ChecksumMode::Software);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            let parsed = TcpRepr::parse(&p, src, dst, ChecksumMode::Software).unwrap();
            // SACK blocks that did not fit were trimmed on emit.
            let mut expect = repr;
            expect.options.sack = SackBlocks::from_slice(
                &repr.options.sack.as_slice()[..repr.options.sack_blocks_emitted()],
            );
            prop_assert_eq!(parsed, expect);
        }

        #[test]
        fn seq_order_matches_signed_difference(a in any::<u32>(), d in 1u32..0x8000_0000) {
            let a = SeqNumber(a);
            let b = a + d;
            prop_assert!(a < b);
            prop_assert!(b > a);
            prop_assert_eq!(b.partial_cmp(&a), Some(Ordering::Greater));
            prop_assert_eq!(b - a, d as i32);
            prop_assert_eq!(b.distance(a), d);
        }

        #[test]
        fn random_options_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = TcpOptions::parse(&bytes);
            let mut consumed = 0;
            for o in TcpOptionIter::new(&bytes) {
                match o {
                    Ok(o) => consumed += o.buffer_len(),
                    Err(_) => break,
                }
            }
            prop_assert!(consumed <= bytes.len());
        }

        #[test]
        fn random_segments_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = TcpPacket::new_checked(&data[..]) {
                let _ = (p.payload(), p.segment_len(), p.option_iter().count());
                let _ = TcpRepr::parse(&p, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, ChecksumMode::Software);
                let _ = TcpRepr::parse(&p, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, ChecksumMode::Offloaded);
            }
        }
    }
}
