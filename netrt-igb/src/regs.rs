//! igb register offsets and field encodings (82576 / I350 class).
//!
//! Offsets are byte offsets into BAR0; every register is 32 bits wide and
//! little-endian. The values match the public datasheets and Linux's
//! `e1000_regs.h` / `e1000_defines.h`. Field constants live in a module named
//! after their register so call sites read like the datasheet
//! (`rctl::EN`, `srrctl::DESCTYPE_ADV_ONEBUF`).

/// Device control.
pub const CTRL: u32 = 0x0000;
/// Device status (read only).
pub const STATUS: u32 = 0x0008;
/// Receive control.
pub const RCTL: u32 = 0x0100;
/// Transmit control.
pub const TCTL: u32 = 0x0400;

/// General purpose interrupt enable.
pub const GPIE: u32 = 0x1514;
/// Extended interrupt cause set (write 1 to raise a cause).
pub const EICS: u32 = 0x1520;
/// Extended interrupt mask set (write 1 to unmask a vector).
pub const EIMS: u32 = 0x1524;
/// Extended interrupt mask clear (write 1 to mask a vector).
pub const EIMC: u32 = 0x1528;
/// Extended interrupt auto clear: causes cleared when their MSI-X fires.
pub const EIAC: u32 = 0x152C;
/// Extended interrupt auto mask: vectors masked when their MSI-X fires
/// (used when `GPIE.EIAME` is set).
pub const EIAM: u32 = 0x1530;
/// Extended interrupt cause read.
pub const EICR: u32 = 0x1580;
/// Base of the interrupt throttle registers; see [`eitr`].
pub const EITR_BASE: u32 = 0x1680;
/// Base of the interrupt vector allocation registers; see [`ivar`].
pub const IVAR_BASE: u32 = 0x1700;
/// Vector allocation for "other" causes (link, mailbox).
pub const IVAR_MISC: u32 = 0x1740;

/// Receive checksum control.
pub const RXCSUM: u32 = 0x5000;
/// Multiple receive queues command (RSS enable and hash fields).
pub const MRQC: u32 = 0x5818;
/// Redirection table: 128 one-byte entries in 32 registers.
pub const RETA: u32 = 0x5C00;
/// RSS random key: 40 bytes in 10 little-endian registers.
pub const RSSRK: u32 = 0x5C80;
/// Number of 32-bit RETA registers.
pub const RETA_REGS: u32 = 32;
/// Number of RETA entries.
pub const RETA_ENTRIES: usize = 128;
/// Number of 32-bit RSS key registers.
pub const RSSRK_REGS: u32 = 10;

/// Base of RX queue register blocks; see [`rx_queue_base`].
pub const RXQ_BASE: u32 = 0xC000;
/// Base of TX queue register blocks; see [`tx_queue_base`].
pub const TXQ_BASE: u32 = 0xE000;
/// Stride between consecutive queue register blocks.
pub const QUEUE_STRIDE: u32 = 0x40;
/// Largest number of queue pairs any supported part has (82576: 16).
pub const MAX_QUEUES: u16 = 16;

/// Offsets inside an RX queue block (add to [`rx_queue_base`]).
pub mod rxq {
    /// Descriptor ring base address, low 32 bits (128-byte aligned).
    pub const RDBAL: u32 = 0x00;
    /// Descriptor ring base address, high 32 bits.
    pub const RDBAH: u32 = 0x04;
    /// Descriptor ring length in bytes (multiple of 128).
    pub const RDLEN: u32 = 0x08;
    /// Split and replication receive control; see [`super::srrctl`].
    pub const SRRCTL: u32 = 0x0C;
    /// Descriptor head (owned by the device).
    pub const RDH: u32 = 0x10;
    /// Descriptor tail (written by the driver).
    pub const RDT: u32 = 0x18;
    /// Receive descriptor control; see [`super::rxdctl`].
    pub const RXDCTL: u32 = 0x28;
}

/// Offsets inside a TX queue block (add to [`tx_queue_base`]).
pub mod txq {
    /// Descriptor ring base address, low 32 bits (128-byte aligned).
    pub const TDBAL: u32 = 0x00;
    /// Descriptor ring base address, high 32 bits.
    pub const TDBAH: u32 = 0x04;
    /// Descriptor ring length in bytes (multiple of 128).
    pub const TDLEN: u32 = 0x08;
    /// Descriptor head (owned by the device).
    pub const TDH: u32 = 0x10;
    /// Descriptor tail (written by the driver).
    pub const TDT: u32 = 0x18;
    /// Transmit descriptor control; see [`super::txdctl`].
    pub const TXDCTL: u32 = 0x28;
}

/// Register block base of RX queue `n`.
pub const fn rx_queue_base(n: u16) -> u32 {
    RXQ_BASE + QUEUE_STRIDE * n as u32
}

/// Register block base of TX queue `n`.
pub const fn tx_queue_base(n: u16) -> u32 {
    TXQ_BASE + QUEUE_STRIDE * n as u32
}

/// Interrupt throttle register of MSI-X vector `n`.
pub const fn eitr(n: u16) -> u32 {
    EITR_BASE + 4 * n as u32
}

/// IVAR register `n` (0..8); it routes queues `n` and `n + 8`.
pub const fn ivar(n: u16) -> u32 {
    IVAR_BASE + 4 * n as u32
}

/// RETA register `n` (0..32); holds entries `4n..4n+4`, lowest byte first.
pub const fn reta(n: u32) -> u32 {
    RETA + 4 * n
}

/// RSS key register `n` (0..10); holds key bytes `4n..4n+4`, lowest first.
pub const fn rssrk(n: u32) -> u32 {
    RSSRK + 4 * n
}

/// `CTRL` fields.
pub mod ctrl {
    /// Full duplex.
    pub const FD: u32 = 0x0000_0001;
    /// Set link up.
    pub const SLU: u32 = 0x0000_0040;
    /// Device reset (self clearing).
    pub const RST: u32 = 0x0400_0000;
}

/// `STATUS` fields.
pub mod status {
    /// Full duplex.
    pub const FD: u32 = 0x0000_0001;
    /// Link up.
    pub const LU: u32 = 0x0000_0002;
    /// Speed field mask (bits 7:6).
    pub const SPEED_MASK: u32 = 0x0000_00C0;
    /// Speed field value for 1000 Mb/s.
    pub const SPEED_1000: u32 = 0x0000_0080;
}

/// `RCTL` fields.
pub mod rctl {
    /// Receiver enable.
    pub const EN: u32 = 0x0000_0002;
    /// Store bad packets.
    pub const SBP: u32 = 0x0000_0004;
    /// Unicast promiscuous.
    pub const UPE: u32 = 0x0000_0008;
    /// Multicast promiscuous.
    pub const MPE: u32 = 0x0000_0010;
    /// Long packet enable (frames above 1522 bytes).
    pub const LPE: u32 = 0x0000_0020;
    /// Broadcast accept mode.
    pub const BAM: u32 = 0x0000_8000;
    /// Strip the Ethernet CRC before DMA.
    pub const SECRC: u32 = 0x0400_0000;
}

/// `TCTL` fields.
pub mod tctl {
    /// Transmitter enable.
    pub const EN: u32 = 0x0000_0002;
    /// Pad short packets to 64 bytes.
    pub const PSP: u32 = 0x0000_0008;
}

/// `SRRCTL` fields (per RX queue).
pub mod srrctl {
    /// Packet buffer size field, bits 6:0, in 1 KiB units.
    pub const BSIZEPKT_MASK: u32 = 0x0000_007F;
    /// Shift from bytes to the `BSIZEPKT` unit (1 KiB).
    pub const BSIZEPKT_SHIFT: u32 = 10;
    /// Header buffer size field, bits 11:8, in 64-byte units.
    pub const BSIZEHDR_MASK: u32 = 0x0000_0F00;
    /// Descriptor type field, bits 27:25.
    pub const DESCTYPE_MASK: u32 = 0x0E00_0000;
    /// Descriptor type: legacy.
    pub const DESCTYPE_LEGACY: u32 = 0x0000_0000;
    /// Descriptor type: advanced, one buffer.
    pub const DESCTYPE_ADV_ONEBUF: u32 = 0x0200_0000;
    /// Drop frames when no descriptor is available instead of stalling.
    pub const DROP_EN: u32 = 0x8000_0000;

    /// `BSIZEPKT` field for a packet buffer of `bytes` (rounded down to KiB).
    pub const fn bsizepkt(bytes: u32) -> u32 {
        (bytes >> BSIZEPKT_SHIFT) & BSIZEPKT_MASK
    }

    /// Packet buffer size in bytes encoded in an `SRRCTL` value.
    pub const fn packet_buffer_bytes(srrctl: u32) -> u32 {
        (srrctl & BSIZEPKT_MASK) << BSIZEPKT_SHIFT
    }
}

/// `RXDCTL` fields (per RX queue).
pub mod rxdctl {
    /// Queue enable.
    pub const ENABLE: u32 = 0x0200_0000;
    /// Prefetch threshold, bits 4:0.
    pub const PTHRESH_MASK: u32 = 0x0000_001F;
    /// Host threshold, bits 12:8.
    pub const HTHRESH_MASK: u32 = 0x0000_1F00;
    /// Write-back threshold, bits 20:16.
    pub const WTHRESH_MASK: u32 = 0x001F_0000;
}

/// `TXDCTL` fields (per TX queue).
pub mod txdctl {
    /// Queue enable.
    pub const ENABLE: u32 = 0x0200_0000;
    /// Write-back threshold, bits 20:16.
    pub const WTHRESH_MASK: u32 = 0x001F_0000;
}

/// `GPIE` fields.
pub mod gpie {
    /// Non-selective interrupt clear on read of `EICR`.
    pub const NSICR: u32 = 0x0000_0001;
    /// MSI-X mode: one message per vector, causes routed through IVAR.
    pub const MSIX_MODE: u32 = 0x0000_0010;
    /// Auto mask enable: `EIAM` applies when a vector fires.
    pub const EIAME: u32 = 0x4000_0000;
    /// Pending bit array support.
    pub const PBA: u32 = 0x8000_0000;
}

/// `EITR` fields.
pub mod eitr {
    /// Interval field, bits 14:2, in ~1 µs units (so the raw register value
    /// is four times the interval in µs).
    pub const INTERVAL_MASK: u32 = 0x0000_7FFC;
    /// Do not reset the moderation counter when the register is written.
    pub const CNT_IGNR: u32 = 0x8000_0000;

    /// Linux `IGB_START_ITR`: ~6,000 interrupts/s.
    pub const ITR_6K: u32 = 648;
    /// Linux `IGB_4K_ITR`: ~4,000 interrupts/s.
    pub const ITR_4K: u32 = 980;
    /// Linux `IGB_20K_ITR`: ~20,000 interrupts/s.
    pub const ITR_20K: u32 = 196;
    /// Linux `IGB_70K_ITR`: ~70,000 interrupts/s.
    pub const ITR_70K: u32 = 56;

    /// Throttle interval in µs encoded in an `EITR` value.
    pub const fn interval_us(eitr: u32) -> u32 {
        (eitr & INTERVAL_MASK) >> 2
    }

    /// `EITR` interval field for an interval of `us` microseconds
    /// (saturating at the field's maximum).
    pub const fn from_interval_us(us: u32) -> u32 {
        let max = INTERVAL_MASK >> 2;
        let us = if us > max { max } else { us };
        us << 2
    }
}

/// `IVAR` layout (82576): register `IVAR[q & 7]` holds one byte per cause,
/// RX queue `q` in byte 0, TX queue `q` in byte 1, RX queue `q + 8` in byte
/// 2 and TX queue `q + 8` in byte 3. A byte is `vector | VALID`.
pub mod ivar {
    /// Entry valid bit.
    pub const VALID: u32 = 0x80;
    /// Vector number field of an entry.
    pub const VECTOR_MASK: u32 = 0x1F;

    /// IVAR register index that routes queue `q`.
    pub const fn index(q: u16) -> u16 {
        q & 7
    }

    /// Bit shift of RX queue `q`'s byte inside `IVAR[q & 7]`.
    pub const fn rx_shift(q: u16) -> u32 {
        if q < 8 {
            0
        } else {
            16
        }
    }

    /// Bit shift of TX queue `q`'s byte inside `IVAR[q & 7]`.
    pub const fn tx_shift(q: u16) -> u32 {
        rx_shift(q) + 8
    }

    /// Entry byte routing a cause to `vector`.
    pub const fn entry(vector: u16) -> u32 {
        (vector as u32 & VECTOR_MASK) | VALID
    }
}

/// `RXCSUM` fields.
pub mod rxcsum {
    /// IP checksum offload enable.
    pub const IPOFLD: u32 = 0x0000_0100;
    /// TCP/UDP checksum offload enable.
    pub const TUOFLD: u32 = 0x0000_0200;
    /// Packet checksum disable: must be set for the RSS hash to be written
    /// back in place of the fragment checksum.
    pub const PCSD: u32 = 0x0000_2000;
}

/// `MRQC` fields.
pub mod mrqc {
    /// Multiple queue mode field, bits 2:0.
    pub const MODE_MASK: u32 = 0x0000_0007;
    /// Multiple queue mode: RSS.
    pub const ENABLE_RSS: u32 = 0x0000_0002;
    /// Hash IPv4 + TCP ports.
    pub const FIELD_IPV4_TCP: u32 = 0x0001_0000;
    /// Hash IPv4 addresses.
    pub const FIELD_IPV4: u32 = 0x0002_0000;
    /// Hash IPv6 extension + TCP ports.
    pub const FIELD_IPV6_TCP_EX: u32 = 0x0004_0000;
    /// Hash IPv6 addresses.
    pub const FIELD_IPV6: u32 = 0x0010_0000;
    /// Hash IPv6 + TCP ports.
    pub const FIELD_IPV6_TCP: u32 = 0x0020_0000;
    /// Hash IPv4 + UDP ports.
    pub const FIELD_IPV4_UDP: u32 = 0x0040_0000;
    /// Hash IPv6 + UDP ports.
    pub const FIELD_IPV6_UDP: u32 = 0x0080_0000;
}

/// `RETA` fields.
pub mod reta {
    /// Mask applied to the hash to pick an entry.
    pub const HASH_MASK: u32 = 0x7F;
    /// Queue number bits of an entry.
    pub const QUEUE_MASK: u8 = 0x0F;
}

/// Clear-on-read statistics registers. Octet counters include the 4-byte
/// FCS; reading the high half of a 64-bit pair clears both halves, so read
/// the low half first.
pub mod stats {
    /// Missed packets (no room in the packet buffer).
    pub const MPC: u32 = 0x4010;
    /// Good packets received.
    pub const GPRC: u32 = 0x4074;
    /// Good packets transmitted.
    pub const GPTC: u32 = 0x4080;
    /// Good octets received, low 32 bits.
    pub const GORCL: u32 = 0x4088;
    /// Good octets received, high 32 bits (read clears both halves).
    pub const GORCH: u32 = 0x408C;
    /// Good octets transmitted, low 32 bits.
    pub const GOTCL: u32 = 0x4090;
    /// Good octets transmitted, high 32 bits (read clears both halves).
    pub const GOTCH: u32 = 0x4094;
    /// Receive no buffers (a frame arrived with no RX descriptor posted).
    pub const RNBC: u32 = 0x40A0;
    /// TCP segmentation contexts transmitted.
    pub const TSCTC: u32 = 0x40F8;
}

// Compile-time checks that the register map is self-consistent.
const _: () = {
    assert!(rx_queue_base(1) == 0xC040);
    assert!(tx_queue_base(1) == 0xE040);
    assert!(rx_queue_base(MAX_QUEUES - 1) + rxq::RXDCTL < TXQ_BASE);
    assert!(rxq::RDT == 0x18 && txq::TDT == 0x18);
    assert!(eitr(MAX_QUEUES - 1) < IVAR_BASE);
    assert!(ivar(7) < IVAR_MISC);
    assert!(reta(RETA_REGS - 1) < RSSRK);
    assert!(RETA_REGS as usize * 4 == RETA_ENTRIES);
    assert!(rssrk(RSSRK_REGS - 1) == 0x5CA4);
    assert!(stats::GORCH == stats::GORCL + 4 && stats::GOTCH == stats::GOTCL + 4);
    assert!(srrctl::bsizepkt(2048) == 2 && srrctl::packet_buffer_bytes(2) == 2048);
    assert!(eitr::interval_us(eitr::ITR_20K) == 49);
    assert!(ivar::tx_shift(9) == 24 && ivar::entry(3) == 0x83);
};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn queue_blocks_match_datasheet() {
        assert_eq!(rx_queue_base(0) + rxq::RDBAL, 0xC000);
        assert_eq!(rx_queue_base(2) + rxq::RDT, 0xC098);
        assert_eq!(rx_queue_base(3) + rxq::SRRCTL, 0xC0CC);
        assert_eq!(tx_queue_base(0) + txq::TDH, 0xE010);
        assert_eq!(tx_queue_base(15) + txq::TXDCTL, 0xE3E8);
        assert_eq!(eitr(0), 0x1680);
        assert_eq!(eitr(9), 0x16A4);
        assert_eq!(ivar(7), 0x171C);
    }

    #[test]
    fn ivar_bytes() {
        // Queue 3 on vector 3: RX byte 0 and TX byte 1 of IVAR[3].
        let v = ivar::entry(3) << ivar::rx_shift(3) | ivar::entry(3) << ivar::tx_shift(3);
        assert_eq!(ivar::index(3), 3);
        assert_eq!(v, 0x8383);
        // Queue 11 lands in IVAR[3] bytes 2 and 3.
        assert_eq!(ivar::index(11), 3);
        assert_eq!(ivar::entry(11) << ivar::rx_shift(11), 0x008B_0000);
        assert_eq!(ivar::entry(11) << ivar::tx_shift(11), 0x8B00_0000);
    }

    #[test]
    fn eitr_presets() {
        assert_eq!(eitr::interval_us(eitr::ITR_6K), 162);
        assert_eq!(eitr::interval_us(eitr::ITR_4K), 245);
        assert_eq!(eitr::interval_us(eitr::ITR_70K), 14);
        assert_eq!(eitr::from_interval_us(49), 196);
        assert_eq!(eitr::from_interval_us(1 << 20), eitr::INTERVAL_MASK);
    }

    #[test]
    fn srrctl_sizes() {
        assert_eq!(srrctl::bsizepkt(1024), 1);
        assert_eq!(srrctl::bsizepkt(16384), 16);
        assert_eq!(
            srrctl::packet_buffer_bytes(srrctl::DESCTYPE_ADV_ONEBUF | 1),
            1024
        );
    }
}
