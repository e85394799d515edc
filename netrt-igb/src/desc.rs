//! Advanced RX/TX descriptor formats, bit-exact (16 bytes, little-endian).
//!
//! Each format is a plain value type; [`Descriptor`] converts it to and
//! from the four little-endian dwords (or 16 bytes) that sit in the ring.
//! Field encodings follow the 82576/I350 datasheets (Linux
//! `e1000_82575.h`: `union e1000_adv_rx_desc`, `union e1000_adv_tx_desc`,
//! `struct e1000_adv_tx_context_desc`).

use std::mem::{offset_of, size_of};

/// Size of every descriptor in bytes.
pub const DESC_SIZE: usize = 16;

/// A 16-byte descriptor format.
pub trait Descriptor: Sized + Copy {
    /// Index of the dword that carries the DD bit once the descriptor is
    /// written back. It is the last dword written by the device (with
    /// release ordering) and the first read by the driver (with acquire).
    const STATUS_DWORD: usize;

    /// The four little-endian dwords of the descriptor, lowest address first.
    fn to_words(&self) -> [u32; 4];

    /// Decodes the four dwords of a descriptor.
    fn from_words(w: [u32; 4]) -> Self;

    /// The descriptor as it sits in memory.
    fn to_bytes(&self) -> [u8; DESC_SIZE] {
        words_to_bytes(self.to_words())
    }

    /// Decodes a descriptor from memory.
    fn from_bytes(b: &[u8; DESC_SIZE]) -> Self {
        Self::from_words(bytes_to_words(b))
    }
}

/// Little-endian dwords to bytes.
pub fn words_to_bytes(w: [u32; 4]) -> [u8; DESC_SIZE] {
    let mut b = [0u8; DESC_SIZE];
    for (chunk, word) in b.chunks_exact_mut(4).zip(w) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    b
}

/// Bytes to little-endian dwords.
pub fn bytes_to_words(b: &[u8; DESC_SIZE]) -> [u32; 4] {
    let mut w = [0u32; 4];
    for (word, chunk) in w.iter_mut().zip(b.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    w
}

#[inline]
const fn lo(v: u64) -> u32 {
    v as u32
}

#[inline]
const fn hi(v: u64) -> u32 {
    (v >> 32) as u32
}

#[inline]
const fn join(lo: u32, hi: u32) -> u64 {
    (hi as u64) << 32 | lo as u64
}

// ---------------------------------------------------------------------------
// RX

/// RX descriptor field encodings.
pub mod rx {
    /// `status_error` bits of the write-back format.
    pub mod status {
        /// Descriptor done: the device has written this descriptor back.
        pub const DD: u32 = 0x0000_0001;
        /// End of packet: last descriptor of a frame.
        pub const EOP: u32 = 0x0000_0002;
        /// Ignore checksum indication: no checksum status is reported.
        pub const IXSM: u32 = 0x0000_0004;
        /// The frame carried an 802.1Q tag (stripped into `vlan`).
        pub const VP: u32 = 0x0000_0008;
        /// UDP checksum was calculated.
        pub const UDPCS: u32 = 0x0000_0010;
        /// TCP (L4 integrity) checksum was calculated.
        pub const TCPCS: u32 = 0x0000_0020;
        /// IPv4 header checksum was calculated.
        pub const IPCS: u32 = 0x0000_0040;
        /// TCP/UDP checksum error.
        pub const L4E: u32 = 0x2000_0000;
        /// IPv4 header checksum error.
        pub const IPE: u32 = 0x4000_0000;
        /// RX data error (CRC, symbol, length...): drop the frame.
        pub const RXE: u32 = 0x8000_0000;
    }

    /// Packet-type bits of `pkt_info`.
    pub mod ptype {
        /// IPv4 header present.
        pub const IPV4: u16 = 0x0010;
        /// IPv4 with options.
        pub const IPV4_EX: u16 = 0x0020;
        /// IPv6 header present.
        pub const IPV6: u16 = 0x0040;
        /// IPv6 with extension headers.
        pub const IPV6_EX: u16 = 0x0080;
        /// TCP header present.
        pub const TCP: u16 = 0x0100;
        /// UDP header present.
        pub const UDP: u16 = 0x0200;
        /// SCTP header present.
        pub const SCTP: u16 = 0x0400;
        /// Mask of the packet-type bits (bits 15:4).
        pub const MASK: u16 = 0xFFF0;
    }

    /// Mask of the RSS type field (bits 3:0 of `pkt_info`).
    pub const RSS_TYPE_MASK: u16 = 0x000F;
    /// Header buffer length field of `hdr_info` (bits 14:5).
    pub const HDR_LEN_MASK: u16 = 0x7FE0;
    /// Shift of the header buffer length field.
    pub const HDR_LEN_SHIFT: u16 = 5;
    /// Split header bit of `hdr_info`.
    pub const SPH: u16 = 0x8000;
}

/// Which fields the device hashed for the RSS value of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RssType {
    /// No hash computed.
    None = 0,
    /// IPv4 addresses and TCP ports.
    Ipv4Tcp = 1,
    /// IPv4 addresses.
    Ipv4 = 2,
    /// IPv6 addresses and TCP ports.
    Ipv6Tcp = 3,
    /// IPv6 addresses with extension headers.
    Ipv6Ex = 4,
    /// IPv6 addresses.
    Ipv6 = 5,
    /// IPv6 with extension headers, TCP ports.
    Ipv6TcpEx = 6,
    /// IPv4 addresses and UDP ports.
    Ipv4Udp = 7,
    /// IPv6 addresses and UDP ports.
    Ipv6Udp = 8,
    /// IPv6 with extension headers, UDP ports.
    Ipv6UdpEx = 9,
    /// A value the datasheet reserves.
    Reserved = 15,
}

impl RssType {
    /// Decodes the 4-bit field.
    pub const fn from_bits(bits: u16) -> RssType {
        match bits & rx::RSS_TYPE_MASK {
            0 => RssType::None,
            1 => RssType::Ipv4Tcp,
            2 => RssType::Ipv4,
            3 => RssType::Ipv6Tcp,
            4 => RssType::Ipv6Ex,
            5 => RssType::Ipv6,
            6 => RssType::Ipv6TcpEx,
            7 => RssType::Ipv4Udp,
            8 => RssType::Ipv6Udp,
            9 => RssType::Ipv6UdpEx,
            _ => RssType::Reserved,
        }
    }

    /// The 4-bit field value.
    pub const fn bits(self) -> u16 {
        self as u16
    }
}

/// Outcome of one hardware checksum check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CsumState {
    /// The device did not check this layer.
    NotChecked,
    /// Checked and correct.
    Good,
    /// Checked and wrong.
    Bad,
}

/// Hardware checksum verdict for a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RxChecksum {
    /// IPv4 header checksum.
    pub ip: CsumState,
    /// TCP/UDP checksum.
    pub l4: CsumState,
}

impl RxChecksum {
    /// Nothing was checked.
    pub const NONE: RxChecksum = RxChecksum {
        ip: CsumState::NotChecked,
        l4: CsumState::NotChecked,
    };

    /// Decodes the checksum bits of a write-back `status_error` dword
    /// (linux: igb_rx_checksum).
    pub const fn from_status(se: u32) -> RxChecksum {
        use rx::status::*;
        if se & IXSM != 0 {
            return RxChecksum::NONE;
        }
        let ip = if se & IPCS == 0 {
            CsumState::NotChecked
        } else if se & IPE != 0 {
            CsumState::Bad
        } else {
            CsumState::Good
        };
        let l4 = if se & (TCPCS | UDPCS) == 0 {
            CsumState::NotChecked
        } else if se & L4E != 0 {
            CsumState::Bad
        } else {
            CsumState::Good
        };
        RxChecksum { ip, l4 }
    }

    /// The `status_error` bits that encode this verdict (what the device
    /// writes). `l4_udp` picks UDPCS over TCPCS for a checked L4 layer.
    pub const fn to_status(self, l4_udp: bool) -> u32 {
        use rx::status::*;
        let mut se = 0;
        if matches!(self.ip, CsumState::NotChecked) && matches!(self.l4, CsumState::NotChecked) {
            return IXSM;
        }
        if !matches!(self.ip, CsumState::NotChecked) {
            se |= IPCS;
            if matches!(self.ip, CsumState::Bad) {
                se |= IPE;
            }
        }
        if !matches!(self.l4, CsumState::NotChecked) {
            se |= if l4_udp { UDPCS } else { TCPCS };
            if matches!(self.l4, CsumState::Bad) {
                se |= L4E;
            }
        }
        se
    }
}

/// Advanced RX descriptor, read format (written by the driver).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxDescRead {
    /// IOVA of the packet buffer.
    pub pkt_addr: u64,
    /// IOVA of the header buffer; 0 without header split (its bit 0
    /// overlaps DD, so writing 0 also clears a stale DD).
    pub hdr_addr: u64,
}

impl RxDescRead {
    /// A one-buffer descriptor pointing at `pkt_addr`.
    pub const fn new(pkt_addr: u64) -> Self {
        RxDescRead {
            pkt_addr,
            hdr_addr: 0,
        }
    }
}

impl Descriptor for RxDescRead {
    const STATUS_DWORD: usize = 2;

    fn to_words(&self) -> [u32; 4] {
        [
            lo(self.pkt_addr),
            hi(self.pkt_addr),
            lo(self.hdr_addr),
            hi(self.hdr_addr),
        ]
    }

    fn from_words(w: [u32; 4]) -> Self {
        RxDescRead {
            pkt_addr: join(w[0], w[1]),
            hdr_addr: join(w[2], w[3]),
        }
    }
}

/// Advanced RX descriptor, write-back format (written by the device).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxDescWb {
    /// RSS type (bits 3:0) and packet type (bits 15:4).
    pub pkt_info: u16,
    /// Header length and split-header flag.
    pub hdr_info: u16,
    /// RSS hash (when `RXCSUM.PCSD` is set).
    pub rss: u32,
    /// Status (low bits) and error (high bits).
    pub status_error: u32,
    /// Bytes written to this descriptor's buffer.
    pub length: u16,
    /// Stripped 802.1Q tag (valid with `VP`).
    pub vlan: u16,
}

impl RxDescWb {
    /// Descriptor done.
    pub const fn dd(&self) -> bool {
        self.status_error & rx::status::DD != 0
    }

    /// Last descriptor of its frame.
    pub const fn eop(&self) -> bool {
        self.status_error & rx::status::EOP != 0
    }

    /// The frame has a receive error and must be dropped.
    pub const fn rxe(&self) -> bool {
        self.status_error & rx::status::RXE != 0
    }

    /// The frame carried a VLAN tag, now in [`Self::vlan`].
    pub const fn vlan_present(&self) -> bool {
        self.status_error & rx::status::VP != 0
    }

    /// Which fields were hashed into [`Self::rss`].
    pub const fn rss_type(&self) -> RssType {
        RssType::from_bits(self.pkt_info)
    }

    /// Packet-type bits (see [`rx::ptype`]).
    pub const fn packet_type(&self) -> u16 {
        self.pkt_info & rx::ptype::MASK
    }

    /// Header buffer length (header split only).
    pub const fn hdr_len(&self) -> u16 {
        (self.hdr_info & rx::HDR_LEN_MASK) >> rx::HDR_LEN_SHIFT
    }

    /// Checksum verdict.
    pub const fn checksum(&self) -> RxChecksum {
        RxChecksum::from_status(self.status_error)
    }

    /// Builds `pkt_info` from an RSS type and packet-type bits.
    pub const fn make_pkt_info(rss_type: RssType, ptype: u16) -> u16 {
        (ptype & rx::ptype::MASK) | rss_type.bits()
    }
}

impl Descriptor for RxDescWb {
    const STATUS_DWORD: usize = 2;

    fn to_words(&self) -> [u32; 4] {
        [
            self.pkt_info as u32 | (self.hdr_info as u32) << 16,
            self.rss,
            self.status_error,
            self.length as u32 | (self.vlan as u32) << 16,
        ]
    }

    fn from_words(w: [u32; 4]) -> Self {
        RxDescWb {
            pkt_info: w[0] as u16,
            hdr_info: (w[0] >> 16) as u16,
            rss: w[1],
            status_error: w[2],
            length: w[3] as u16,
            vlan: (w[3] >> 16) as u16,
        }
    }
}

// ---------------------------------------------------------------------------
// TX

/// TX descriptor field encodings.
pub mod tx {
    /// Descriptor type field of dword 2 (bits 23:20).
    pub const DTYP_MASK: u32 = 0x00F0_0000;
    /// Descriptor type: advanced context.
    pub const DTYP_CTXT: u32 = 0x0020_0000;
    /// Descriptor type: advanced data.
    pub const DTYP_DATA: u32 = 0x0030_0000;
    /// Buffer length field of a data descriptor (bits 15:0).
    pub const LEN_MASK: u32 = 0x0000_FFFF;

    /// `cmd_type_len` command bits of a data descriptor.
    pub mod cmd {
        /// End of packet.
        pub const EOP: u32 = 0x0100_0000;
        /// Insert FCS.
        pub const IFCS: u32 = 0x0200_0000;
        /// Report status: write DD back when done.
        pub const RS: u32 = 0x0800_0000;
        /// Descriptor extension (advanced format).
        pub const DEXT: u32 = 0x2000_0000;
        /// Insert the VLAN tag from the context.
        pub const VLE: u32 = 0x4000_0000;
        /// TCP segmentation enable.
        pub const TSE: u32 = 0x8000_0000;
    }

    /// `olinfo_status` bits of a data descriptor.
    pub mod olinfo {
        /// Descriptor done (write-back).
        pub const DD: u32 = 0x0000_0001;
        /// Shift of the context index field (bits 6:4).
        pub const IDX_SHIFT: u32 = 4;
        /// Context index field mask.
        pub const IDX_MASK: u32 = 0x0000_0070;
        /// Check context (82575 only; the driver leaves it clear).
        pub const CC: u32 = 0x0000_0080;
        /// Insert the IPv4 header checksum.
        pub const IXSM: u32 = 0x0000_0100;
        /// Insert the TCP/UDP checksum.
        pub const TXSM: u32 = 0x0000_0200;
        /// Shift of the PAYLEN field (bits 31:14).
        pub const PAYLEN_SHIFT: u32 = 14;
        /// Largest PAYLEN.
        pub const PAYLEN_MAX: u32 = (1 << 18) - 1;
    }

    /// Context descriptor fields.
    pub mod ctx {
        /// IP header length field of `vlan_macip_lens` (bits 8:0).
        pub const IPLEN_MASK: u32 = 0x0000_01FF;
        /// Shift of the MAC header length field (bits 15:9).
        pub const MACLEN_SHIFT: u32 = 9;
        /// MAC header length mask (after shifting down).
        pub const MACLEN_MASK: u32 = 0x7F;
        /// Shift of the VLAN tag field (bits 31:16).
        pub const VLAN_SHIFT: u32 = 16;
        /// `type_tucmd_mlhl`: IPv4 packet (else IPv6).
        pub const TUCMD_IPV4: u32 = 0x0000_0400;
        /// `type_tucmd_mlhl`: L4 type TCP.
        pub const TUCMD_L4T_TCP: u32 = 0x0000_0800;
        /// `type_tucmd_mlhl`: L4 type UDP (the zero encoding).
        pub const TUCMD_L4T_UDP: u32 = 0x0000_0000;
        /// `type_tucmd_mlhl`: L4 type SCTP.
        pub const TUCMD_L4T_SCTP: u32 = 0x0000_1000;
        /// `type_tucmd_mlhl`: L4 type field mask.
        pub const TUCMD_L4T_MASK: u32 = 0x0000_1800;
        /// Shift of the context index in `mss_l4len_idx` (bits 6:4).
        pub const IDX_SHIFT: u32 = 4;
        /// Shift of the L4 header length in `mss_l4len_idx` (bits 15:8).
        pub const L4LEN_SHIFT: u32 = 8;
        /// Shift of the MSS in `mss_l4len_idx` (bits 31:16).
        pub const MSS_SHIFT: u32 = 16;
    }
}

/// Advanced TX data descriptor.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxDataDesc {
    /// IOVA of the data.
    pub buffer_addr: u64,
    /// Length (15:0), descriptor type, command bits.
    pub cmd_type_len: u32,
    /// Context index, offload options, PAYLEN; DD on write-back.
    pub olinfo_status: u32,
}

impl TxDataDesc {
    /// A data descriptor for `len` bytes at `addr` with command bits `cmd`
    /// (DEXT and DTYP_DATA are always set) and `olinfo` from
    /// [`Self::olinfo`].
    pub const fn new(addr: u64, len: u16, cmd: u32, olinfo: u32) -> Self {
        TxDataDesc {
            buffer_addr: addr,
            cmd_type_len: len as u32 | tx::DTYP_DATA | tx::cmd::DEXT | cmd,
            olinfo_status: olinfo,
        }
    }

    /// Builds an `olinfo_status` value. `paylen` is the frame length
    /// (for TSO: total length minus headers) and is masked to 18 bits.
    pub const fn olinfo(paylen: u32, ctx_idx: u8, ixsm: bool, txsm: bool) -> u32 {
        let mut v = (paylen & tx::olinfo::PAYLEN_MAX) << tx::olinfo::PAYLEN_SHIFT
            | ((ctx_idx as u32) << tx::olinfo::IDX_SHIFT) & tx::olinfo::IDX_MASK;
        if ixsm {
            v |= tx::olinfo::IXSM;
        }
        if txsm {
            v |= tx::olinfo::TXSM;
        }
        v
    }

    /// Buffer length.
    pub const fn len(&self) -> u16 {
        (self.cmd_type_len & tx::LEN_MASK) as u16
    }

    /// Whether the buffer length is zero.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Command bits (see [`tx::cmd`]).
    pub const fn cmd(&self) -> u32 {
        self.cmd_type_len & 0xFF00_0000
    }

    /// Descriptor type field (see [`tx::DTYP_DATA`]).
    pub const fn dtyp(&self) -> u32 {
        self.cmd_type_len & tx::DTYP_MASK
    }

    /// Last descriptor of a frame.
    pub const fn eop(&self) -> bool {
        self.cmd_type_len & tx::cmd::EOP != 0
    }

    /// Report status requested.
    pub const fn rs(&self) -> bool {
        self.cmd_type_len & tx::cmd::RS != 0
    }

    /// TCP segmentation requested.
    pub const fn tse(&self) -> bool {
        self.cmd_type_len & tx::cmd::TSE != 0
    }

    /// FCS insertion requested.
    pub const fn ifcs(&self) -> bool {
        self.cmd_type_len & tx::cmd::IFCS != 0
    }

    /// VLAN insertion requested.
    pub const fn vle(&self) -> bool {
        self.cmd_type_len & tx::cmd::VLE != 0
    }

    /// PAYLEN field.
    pub const fn paylen(&self) -> u32 {
        self.olinfo_status >> tx::olinfo::PAYLEN_SHIFT
    }

    /// Context index field.
    pub const fn ctx_idx(&self) -> u8 {
        ((self.olinfo_status & tx::olinfo::IDX_MASK) >> tx::olinfo::IDX_SHIFT) as u8
    }

    /// IPv4 checksum insertion requested.
    pub const fn ixsm(&self) -> bool {
        self.olinfo_status & tx::olinfo::IXSM != 0
    }

    /// L4 checksum insertion requested.
    pub const fn txsm(&self) -> bool {
        self.olinfo_status & tx::olinfo::TXSM != 0
    }

    /// Descriptor done (write-back).
    pub const fn dd(&self) -> bool {
        self.olinfo_status & tx::olinfo::DD != 0
    }
}

impl Descriptor for TxDataDesc {
    const STATUS_DWORD: usize = 3;

    fn to_words(&self) -> [u32; 4] {
        [
            lo(self.buffer_addr),
            hi(self.buffer_addr),
            self.cmd_type_len,
            self.olinfo_status,
        ]
    }

    fn from_words(w: [u32; 4]) -> Self {
        TxDataDesc {
            buffer_addr: join(w[0], w[1]),
            cmd_type_len: w[2],
            olinfo_status: w[3],
        }
    }
}

/// Layer-4 protocol named in a context descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4Type {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// SCTP.
    Sctp,
    /// The reserved encoding.
    Reserved,
}

impl L4Type {
    const fn tucmd(self) -> u32 {
        match self {
            L4Type::Udp => tx::ctx::TUCMD_L4T_UDP,
            L4Type::Tcp => tx::ctx::TUCMD_L4T_TCP,
            L4Type::Sctp => tx::ctx::TUCMD_L4T_SCTP,
            L4Type::Reserved => tx::ctx::TUCMD_L4T_MASK,
        }
    }
}

/// Advanced TX context descriptor: offload parameters for the data
/// descriptors that follow it.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxContextDesc {
    /// IPLEN (8:0), MACLEN (15:9), VLAN tag (31:16).
    pub vlan_macip_lens: u32,
    /// IPsec sequence number seed (unused).
    pub seqnum_seed: u32,
    /// DEXT, DTYP_CTXT and the TUCMD bits.
    pub type_tucmd_mlhl: u32,
    /// Context index (6:4), L4LEN (15:8), MSS (31:16).
    pub mss_l4len_idx: u32,
}

impl TxContextDesc {
    /// Builds a context descriptor. `maclen` is masked to 7 bits and
    /// `iplen` to 9 bits, as the hardware would.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        maclen: u8,
        iplen: u16,
        vlan: u16,
        ipv4: bool,
        l4: L4Type,
        mss: u16,
        l4len: u8,
        idx: u8,
    ) -> Self {
        let mut tucmd = tx::cmd::DEXT | tx::DTYP_CTXT | l4.tucmd();
        if ipv4 {
            tucmd |= tx::ctx::TUCMD_IPV4;
        }
        TxContextDesc {
            vlan_macip_lens: (iplen as u32 & tx::ctx::IPLEN_MASK)
                | (maclen as u32 & tx::ctx::MACLEN_MASK) << tx::ctx::MACLEN_SHIFT
                | (vlan as u32) << tx::ctx::VLAN_SHIFT,
            seqnum_seed: 0,
            type_tucmd_mlhl: tucmd,
            mss_l4len_idx: ((idx as u32) << tx::ctx::IDX_SHIFT) & tx::olinfo::IDX_MASK
                | (l4len as u32) << tx::ctx::L4LEN_SHIFT
                | (mss as u32) << tx::ctx::MSS_SHIFT,
        }
    }

    /// IP header length.
    pub const fn iplen(&self) -> u16 {
        (self.vlan_macip_lens & tx::ctx::IPLEN_MASK) as u16
    }

    /// MAC header length.
    pub const fn maclen(&self) -> u8 {
        ((self.vlan_macip_lens >> tx::ctx::MACLEN_SHIFT) & tx::ctx::MACLEN_MASK) as u8
    }

    /// VLAN tag to insert.
    pub const fn vlan(&self) -> u16 {
        (self.vlan_macip_lens >> tx::ctx::VLAN_SHIFT) as u16
    }

    /// Descriptor type field (see [`tx::DTYP_CTXT`]).
    pub const fn dtyp(&self) -> u32 {
        self.type_tucmd_mlhl & tx::DTYP_MASK
    }

    /// IPv4 (else IPv6).
    pub const fn is_ipv4(&self) -> bool {
        self.type_tucmd_mlhl & tx::ctx::TUCMD_IPV4 != 0
    }

    /// Layer-4 protocol.
    pub const fn l4_type(&self) -> L4Type {
        match self.type_tucmd_mlhl & tx::ctx::TUCMD_L4T_MASK {
            tx::ctx::TUCMD_L4T_UDP => L4Type::Udp,
            tx::ctx::TUCMD_L4T_TCP => L4Type::Tcp,
            tx::ctx::TUCMD_L4T_SCTP => L4Type::Sctp,
            _ => L4Type::Reserved,
        }
    }

    /// Maximum segment size for TSO.
    pub const fn mss(&self) -> u16 {
        (self.mss_l4len_idx >> tx::ctx::MSS_SHIFT) as u16
    }

    /// L4 header length for TSO.
    pub const fn l4len(&self) -> u8 {
        (self.mss_l4len_idx >> tx::ctx::L4LEN_SHIFT) as u8
    }

    /// Context slot index.
    pub const fn idx(&self) -> u8 {
        ((self.mss_l4len_idx & tx::olinfo::IDX_MASK) >> tx::ctx::IDX_SHIFT) as u8
    }
}

impl Descriptor for TxContextDesc {
    const STATUS_DWORD: usize = 3;

    fn to_words(&self) -> [u32; 4] {
        [
            self.vlan_macip_lens,
            self.seqnum_seed,
            self.type_tucmd_mlhl,
            self.mss_l4len_idx,
        ]
    }

    fn from_words(w: [u32; 4]) -> Self {
        TxContextDesc {
            vlan_macip_lens: w[0],
            seqnum_seed: w[1],
            type_tucmd_mlhl: w[2],
            mss_l4len_idx: w[3],
        }
    }
}

/// A TX descriptor as fetched by the device: the type is in dword 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxDesc {
    /// A data descriptor.
    Data(TxDataDesc),
    /// A context descriptor.
    Context(TxContextDesc),
    /// Anything else (legacy or reserved type): the raw dwords.
    Other([u32; 4]),
}

impl TxDesc {
    /// Decodes a fetched descriptor by its DEXT and DTYP fields.
    pub fn decode(w: [u32; 4]) -> TxDesc {
        if w[2] & tx::cmd::DEXT == 0 {
            return TxDesc::Other(w);
        }
        match w[2] & tx::DTYP_MASK {
            tx::DTYP_DATA => TxDesc::Data(TxDataDesc::from_words(w)),
            tx::DTYP_CTXT => TxDesc::Context(TxContextDesc::from_words(w)),
            _ => TxDesc::Other(w),
        }
    }

    /// The dwords of the descriptor.
    pub fn to_words(&self) -> [u32; 4] {
        match self {
            TxDesc::Data(d) => d.to_words(),
            TxDesc::Context(c) => c.to_words(),
            TxDesc::Other(w) => *w,
        }
    }
}

// Layout checks: the in-memory structs are the wire layout.
const _: () = {
    assert!(size_of::<RxDescRead>() == DESC_SIZE);
    assert!(size_of::<RxDescWb>() == DESC_SIZE);
    assert!(size_of::<TxDataDesc>() == DESC_SIZE);
    assert!(size_of::<TxContextDesc>() == DESC_SIZE);
    assert!(std::mem::align_of::<RxDescWb>() == 16);
    assert!(offset_of!(RxDescRead, hdr_addr) == 8);
    assert!(offset_of!(RxDescWb, hdr_info) == 2);
    assert!(offset_of!(RxDescWb, rss) == 4);
    assert!(offset_of!(RxDescWb, status_error) == 8);
    assert!(offset_of!(RxDescWb, length) == 12);
    assert!(offset_of!(RxDescWb, vlan) == 14);
    assert!(offset_of!(TxDataDesc, cmd_type_len) == 8);
    assert!(offset_of!(TxDataDesc, olinfo_status) == 12);
    assert!(offset_of!(TxContextDesc, seqnum_seed) == 4);
    assert!(offset_of!(TxContextDesc, type_tucmd_mlhl) == 8);
    assert!(offset_of!(TxContextDesc, mss_l4len_idx) == 12);
    assert!(offset_of!(RxDescWb, status_error) == 4 * RxDescWb::STATUS_DWORD);
    assert!(offset_of!(TxDataDesc, olinfo_status) == 4 * TxDataDesc::STATUS_DWORD);
};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn rx_read_format_bytes() {
        let d = RxDescRead::new(0x0000_0001_0000_2040);
        assert_eq!(
            d.to_bytes(),
            [0x40, 0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(RxDescRead::from_bytes(&d.to_bytes()), d);
        let d = RxDescRead {
            pkt_addr: 1,
            hdr_addr: 0x1122_3344_5566_7788,
        };
        assert_eq!(
            d.to_words(),
            [1, 0, 0x5566_7788, 0x1122_3344],
            "hdr_addr low dword is the status dword"
        );
    }

    #[test]
    fn rx_write_back_bytes() {
        // A 60-byte IPv4/TCP frame, RSS hash 0x51ccc178, IP and TCP checksums
        // good, DD|EOP, VLAN 0x0064 present.
        let wb = RxDescWb {
            pkt_info: RxDescWb::make_pkt_info(RssType::Ipv4Tcp, rx::ptype::IPV4 | rx::ptype::TCP),
            hdr_info: 0,
            rss: 0x51cc_c178,
            status_error: rx::status::DD
                | rx::status::EOP
                | rx::status::VP
                | rx::status::TCPCS
                | rx::status::IPCS,
            length: 60,
            vlan: 0x0064,
        };
        let bytes = [
            0x11, 0x01, 0x00, 0x00, // pkt_info 0x0111, hdr_info 0
            0x78, 0xc1, 0xcc, 0x51, // rss
            0x6b, 0x00, 0x00, 0x00, // status 0x6b
            0x3c, 0x00, 0x64, 0x00, // length 60, vlan 100
        ];
        assert_eq!(wb.to_bytes(), bytes);
        let back = RxDescWb::from_bytes(&bytes);
        assert_eq!(back, wb);
        assert!(back.dd() && back.eop() && back.vlan_present() && !back.rxe());
        assert_eq!(back.rss_type(), RssType::Ipv4Tcp);
        assert_eq!(back.packet_type(), 0x0110);
        assert_eq!(
            back.checksum(),
            RxChecksum {
                ip: CsumState::Good,
                l4: CsumState::Good
            }
        );
    }

    #[test]
    fn rx_error_and_checksum_bits() {
        let wb = RxDescWb::from_words([0x0000_0207, 0, 0xE000_0053, 0x0000_05EA]);
        assert_eq!(wb.rss_type(), RssType::Ipv4Udp);
        assert_eq!(wb.packet_type(), rx::ptype::UDP);
        assert_eq!(wb.length, 1514);
        assert!(wb.rxe());
        assert_eq!(
            wb.checksum(),
            RxChecksum {
                ip: CsumState::Bad,
                l4: CsumState::Bad
            }
        );
        // IXSM overrides everything else.
        assert_eq!(
            RxChecksum::from_status(rx::status::IXSM | rx::status::IPCS),
            RxChecksum::NONE
        );
        // Only IPCS: L4 not checked.
        let c = RxChecksum::from_status(rx::status::IPCS);
        assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::NotChecked));
        // Encoding round-trips.
        for ip in [CsumState::NotChecked, CsumState::Good, CsumState::Bad] {
            for l4 in [CsumState::NotChecked, CsumState::Good, CsumState::Bad] {
                let c = RxChecksum { ip, l4 };
                assert_eq!(RxChecksum::from_status(c.to_status(true)), c);
                assert_eq!(RxChecksum::from_status(c.to_status(false)), c);
            }
        }
        assert_eq!(RssType::from_bits(0xB), RssType::Reserved);
        assert_eq!(RssType::from_bits(0x25), RssType::Ipv6);
    }

    #[test]
    fn rx_hdr_info() {
        let wb = RxDescWb {
            hdr_info: rx::SPH | (54 << rx::HDR_LEN_SHIFT),
            ..Default::default()
        };
        assert_eq!(wb.hdr_len(), 54);
        assert_eq!(wb.to_words()[0], 0x86C0_0000);
    }

    #[test]
    fn tx_data_bytes() {
        // Last descriptor of a 1514-byte frame with IP+TCP checksum offload
        // using context 1.
        let d = TxDataDesc::new(
            0x1_0000_8000,
            1514,
            tx::cmd::EOP | tx::cmd::IFCS | tx::cmd::RS,
            TxDataDesc::olinfo(1514, 1, true, true),
        );
        // cmd_type_len = 0x05EA | 0x0030_0000 | 0x0100_0000 | 0x0200_0000
        //              | 0x0800_0000 | 0x2000_0000 = 0x2B30_05EA
        // olinfo = 1514 << 14 | 1 << 4 | 0x300 = 0x017A_8310
        assert_eq!(d.cmd_type_len, 0x2B30_05EA);
        assert_eq!(d.olinfo_status, 0x017A_8310);
        assert_eq!(
            d.to_bytes(),
            [
                0x00, 0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xEA, 0x05, 0x30, 0x2B, 0x10, 0x83,
                0x7A, 0x01
            ]
        );
        let back = TxDataDesc::from_bytes(&d.to_bytes());
        assert_eq!(back, d);
        assert_eq!(back.len(), 1514);
        assert_eq!(back.dtyp(), tx::DTYP_DATA);
        assert!(back.eop() && back.rs() && back.ifcs() && !back.tse() && !back.vle());
        assert_eq!(back.paylen(), 1514);
        assert_eq!(back.ctx_idx(), 1);
        assert!(back.ixsm() && back.txsm() && !back.dd());
        assert_eq!(
            back.cmd(),
            tx::cmd::EOP | tx::cmd::IFCS | tx::cmd::RS | tx::cmd::DEXT
        );
        assert_eq!(TxDesc::decode(d.to_words()), TxDesc::Data(d));
    }

    #[test]
    fn tx_tso_paylen_and_dd() {
        // 64 KiB TSO: PAYLEN needs 17 bits.
        let d = TxDataDesc::new(
            0,
            2048,
            tx::cmd::TSE,
            TxDataDesc::olinfo(65_482, 0, true, true),
        );
        assert_eq!(d.paylen(), 65_482);
        assert!(d.tse());
        let wb = TxDataDesc {
            olinfo_status: d.olinfo_status | tx::olinfo::DD,
            ..d
        };
        assert!(wb.dd());
        // The PAYLEN field is 18 bits wide.
        assert_eq!(TxDataDesc::olinfo(1 << 18, 0, false, false), 0);
    }

    #[test]
    fn tx_context_bytes() {
        // IPv4/TCP, MAC 14, IP 20, TCP 32, MSS 1448, VLAN 0, index 0.
        let c = TxContextDesc::new(14, 20, 0, true, L4Type::Tcp, 1448, 32, 0);
        // vlan_macip_lens = 20 | 14 << 9 = 0x1C14
        // type_tucmd = 0x2000_0000 | 0x0020_0000 | 0x400 | 0x800 = 0x2020_0C00
        // mss_l4len_idx = 1448 << 16 | 32 << 8 = 0x05A8_2000
        assert_eq!(c.to_words(), [0x0000_1C14, 0, 0x2020_0C00, 0x05A8_2000]);
        assert_eq!(
            c.to_bytes(),
            [0x14, 0x1C, 0, 0, 0, 0, 0, 0, 0x00, 0x0C, 0x20, 0x20, 0x00, 0x20, 0xA8, 0x05]
        );
        let back = TxContextDesc::from_bytes(&c.to_bytes());
        assert_eq!(back, c);
        assert_eq!(
            (
                back.maclen(),
                back.iplen(),
                back.vlan(),
                back.mss(),
                back.l4len(),
                back.idx()
            ),
            (14, 20, 0, 1448, 32, 0)
        );
        assert!(back.is_ipv4());
        assert_eq!(back.l4_type(), L4Type::Tcp);
        assert_eq!(back.dtyp(), tx::DTYP_CTXT);
        assert_eq!(TxDesc::decode(c.to_words()), TxDesc::Context(c));

        // IPv6/UDP with VLAN 0x0123 and index 1.
        let c = TxContextDesc::new(18, 40, 0x0123, false, L4Type::Udp, 0, 8, 1);
        assert_eq!(c.vlan_macip_lens, 0x0123_2428);
        assert_eq!(c.type_tucmd_mlhl, 0x2020_0000);
        assert_eq!(c.mss_l4len_idx, 0x0000_0810);
        assert_eq!(c.l4_type(), L4Type::Udp);
        assert!(!c.is_ipv4());
        assert_eq!(c.idx(), 1);
        let s = TxContextDesc::new(14, 20, 0, true, L4Type::Sctp, 0, 0, 0);
        assert_eq!(s.l4_type(), L4Type::Sctp);
    }

    #[test]
    fn tx_decode_rejects_legacy_and_reserved() {
        assert!(matches!(TxDesc::decode([0, 0, 60, 0]), TxDesc::Other(_)));
        let reserved = tx::cmd::DEXT | 0x0010_0000;
        assert!(matches!(
            TxDesc::decode([0, 0, reserved, 0]),
            TxDesc::Other(_)
        ));
    }
}
