//! Wire formats: zero-copy typed views and parse/emit for every header the
//! stack speaks (Ethernet II, ARP, IPv4, ICMPv4, UDP, TCP), plus the
//! Internet checksum.
//!
//! Every format has two levels:
//!
//! * a **view** (`EthernetFrame<T>`, `Ipv4Packet<T>`, ...) over any
//!   `T: AsRef<[u8]>`: typed getters read straight from the buffer, setters
//!   (when `T: AsMut<[u8]>`) write straight into it. `new_checked` validates
//!   every length the accessors rely on, after which no accessor can index
//!   out of bounds. `new_unchecked` skips that: its accessors may panic on a
//!   short buffer, so it is for buffers the caller sized itself (emit).
//! * a **`Repr`** (`Ipv4Repr`, `TcpRepr`, ...): the header as plain values.
//!   `parse` validates semantics (versions, checksums, supported kinds) on a
//!   checked view; `emit` writes a header into a view whose buffer is at least
//!   `buffer_len()` bytes (it panics otherwise: sizing is the caller's job).
//!
//! Nothing here allocates or copies packet data, and malformed input is
//! always an [`Error`], never a panic.
//!
//! Building a frame front to back, then receiving it layer by layer:
//!
//! ```
//! use std::net::Ipv4Addr;
//! use netrt::wire::*;
//!
//! let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let udp = UdpRepr { src_port: 5353, dst_port: 53, payload: b"query" };
//! let ip = Ipv4Repr {
//!     src_addr: src, dst_addr: dst, protocol: IpProtocol::Udp,
//!     payload_len: udp.buffer_len(), ttl: 64, dscp: 0, ecn: 0, ident: 1,
//!     dont_frag: true, more_frags: false, frag_offset: 0,
//! };
//! let eth = EthernetRepr {
//!     src_addr: "02:00:00:00:00:01".parse()?,
//!     dst_addr: "02:00:00:00:00:02".parse()?,
//!     ethertype: EtherType::Ipv4,
//! };
//! let mut buf = vec![0u8; eth.buffer_len(ip.buffer_len())];
//! let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
//! eth.emit(&mut frame);
//! let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
//! ip.emit(&mut packet, ChecksumMode::Software);
//! udp.emit(&mut UdpPacket::new_unchecked(packet.payload_mut()), src, dst, ChecksumMode::Software);
//!
//! // Receive: each layer validates, then hands its payload down.
//! let frame = EthernetFrame::new_checked(&buf[..])?;
//! assert_eq!(frame.ethertype(), EtherType::Ipv4);
//! let packet = Ipv4Packet::new_checked(frame.into_payload())?;
//! let ip_rx = Ipv4Repr::parse(&packet, ChecksumMode::Software)?;
//! let datagram = UdpPacket::new_checked(packet.into_payload())?;
//! let udp_rx = UdpRepr::parse(&datagram, ip_rx.src_addr, ip_rx.dst_addr, ChecksumMode::Software)?;
//! assert_eq!((ip_rx, udp_rx), (ip, udp));
//! # Ok::<(), netrt::wire::Error>(())
//! ```

mod error;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use error::{Error, Result};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmpv4::{DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
pub use ipv4::{IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr};
pub use tcp::{SeqNumber, TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr, TcpTimestamp};
pub use udp::{UdpPacket, UdpRepr};

/// Who handles a checksum field.
///
/// The stack picks it per device and per direction from the NIC's offload
/// capabilities (on an emulated `Cable`, the receiving port reports
/// "verified", as Linux veth does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// Software verifies on parse and computes on emit.
    #[default]
    Software,
    /// The device did or will do it. Parse skips verification (the device
    /// already verified, `CHECKSUM_UNNECESSARY`). Emit writes 0 into the
    /// IPv4 header checksum and, for TCP/UDP, seeds the field with the
    /// pseudo-header partial sum (`CHECKSUM_PARTIAL`) for the device to
    /// complete over the segment.
    Offloaded,
}

impl ChecksumMode {
    /// True when software must verify or compute the checksum.
    #[inline]
    pub const fn is_software(self) -> bool {
        matches!(self, ChecksumMode::Software)
    }
}

/// Declares a C-like protocol number enum with an `Unknown(raw)` fallback and
/// lossless conversions to and from the raw integer.
macro_rules! wire_enum {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            /// A value without a name here, kept as is.
            Unknown($ty),
        }

        impl From<$ty> for $name {
            #[inline]
            fn from(raw: $ty) -> Self {
                match raw {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $ty {
            #[inline]
            fn from(value: $name) -> $ty {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }

        impl $crate::wire::Field for $name {
            #[inline(always)]
            fn read(buf: &[u8], at: usize) -> Self {
                $name::from(<$ty as $crate::wire::Field>::read(buf, at))
            }

            #[inline(always)]
            fn write(self, buf: &mut [u8], at: usize) {
                <$ty as $crate::wire::Field>::write(<$ty>::from(self), buf, at)
            }
        }
    };
}
pub(crate) use wire_enum;

/// Declares a header view `$name<T: AsRef<[u8]>>` over a buffer, with what
/// every view shares: `new_unchecked`, `new_checked` (which calls the
/// view's own `check_len`), `into_inner`, `AsRef<[u8]>`, and
///
/// * `payload`: the view's payload accessor trio (`payload`, its `'a`
///   borrowing `into_payload` and the writable `payload_mut`, under the
///   given names), slicing the buffer by `range` evaluated with `$view`
///   bound to `&self`;
/// * `fields`: fixed-offset fields, each a getter and a `set_` setter
///   through [`Field`] (big-endian integers, addresses, protocol enums).
///
/// Each protocol file keeps only its length checks and what is specific
/// to it.
macro_rules! wire_view {
    (
        $(#[$attr:meta])*
        pub struct $name:ident;
        $(
            payload($view:ident => $range:expr) {
                $(#[$pdoc:meta])*
                fn $payload:ident, $into_payload:ident, $payload_mut:ident;
            }
        )?
        fields {
            $(
                $(#[$fdoc:meta])*
                $get:ident, $set:ident: $fty:ty = $at:expr;
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps a buffer without checks; accessors may panic on a short one.
            #[inline]
            pub const fn new_unchecked(buffer: T) -> Self {
                $name { buffer }
            }

            /// Wraps a buffer after [`check_len`](Self::check_len).
            #[inline]
            pub fn new_checked(buffer: T) -> $crate::wire::Result<Self> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            /// Unwraps the buffer.
            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }

            $(
                $(#[$fdoc])*
                #[inline]
                pub fn $get(&self) -> $fty {
                    <$fty as $crate::wire::Field>::read(self.buffer.as_ref(), $at)
                }
            )*

            $(
                $(#[$pdoc])*
                #[inline]
                pub fn $payload(&self) -> &[u8] {
                    let range = {
                        let $view = self;
                        $range
                    };
                    &self.buffer.as_ref()[range]
                }
            )?
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            $(
                #[doc = concat!("Sets [`", stringify!($get), "`](Self::", stringify!($get), ").")]
                #[inline]
                pub fn $set(&mut self, value: $fty) {
                    <$fty as $crate::wire::Field>::write(value, self.buffer.as_mut(), $at)
                }
            )*

            $(
                #[doc = concat!("[`", stringify!($payload), "`](Self::", stringify!($payload), "), writable.")]
                #[inline]
                pub fn $payload_mut(&mut self) -> &mut [u8] {
                    let range = {
                        let $view = &*self;
                        $range
                    };
                    &mut self.buffer.as_mut()[range]
                }
            )?
        }

        $(
            impl<'a, T: AsRef<[u8]> + ?Sized> $name<&'a T> {
                #[doc = concat!(
                    "Like [`", stringify!($payload), "`](Self::", stringify!($payload), "), ",
                    "but borrowed from the underlying buffer for `'a` rather than from the ",
                    "view, so it may outlive the view: how the receive path hands a payload ",
                    "down to the next layer."
                )]
                #[inline]
                pub fn $into_payload(self) -> &'a [u8] {
                    let range = {
                        let $view = &self;
                        $range
                    };
                    let buf: &'a [u8] = self.buffer.as_ref();
                    &buf[range]
                }
            }
        )?

        impl<T: AsRef<[u8]>> AsRef<[u8]> for $name<T> {
            fn as_ref(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }
    };
}
pub(crate) use wire_view;

/// `Truncated` if a buffer of `buf_len` bytes is shorter than `min`.
#[inline(always)]
pub(crate) fn check_min_len(buf_len: usize, min: usize) -> Result<()> {
    if buf_len < min {
        Err(Error::Truncated)
    } else {
        Ok(())
    }
}

/// The length checks of a header that declares its own length: `Truncated`
/// if the buffer cannot hold the `min` bytes the declaration is read from,
/// `Malformed` if the declared length is below `min`, `Truncated` if the
/// buffer is shorter than the declared length.
#[inline(always)]
pub(crate) fn check_declared_len(
    buf_len: usize,
    min: usize,
    declared: impl FnOnce() -> usize,
) -> Result<()> {
    check_min_len(buf_len, min)?;
    let declared = declared();
    if declared < min {
        return Err(Error::Malformed);
    }
    check_min_len(buf_len, declared)
}

/// A fixed-size header field stored big-endian (network order) at a byte
/// offset. Views validate lengths before reading (see [`wire_view`]), so
/// the bounds checks here never fire on a checked view.
pub(crate) trait Field: Sized {
    /// Reads the field at `at`.
    fn read(buf: &[u8], at: usize) -> Self;
    /// Writes the field at `at`.
    fn write(self, buf: &mut [u8], at: usize);
}

impl Field for u8 {
    #[inline(always)]
    fn read(buf: &[u8], at: usize) -> Self {
        buf[at]
    }

    #[inline(always)]
    fn write(self, buf: &mut [u8], at: usize) {
        buf[at] = self;
    }
}

impl Field for u16 {
    #[inline(always)]
    fn read(buf: &[u8], at: usize) -> Self {
        read_u16(buf, at)
    }

    #[inline(always)]
    fn write(self, buf: &mut [u8], at: usize) {
        write_u16(buf, at, self)
    }
}

impl Field for u32 {
    #[inline(always)]
    fn read(buf: &[u8], at: usize) -> Self {
        read_u32(buf, at)
    }

    #[inline(always)]
    fn write(self, buf: &mut [u8], at: usize) {
        write_u32(buf, at, self)
    }
}

impl Field for std::net::Ipv4Addr {
    #[inline(always)]
    fn read(buf: &[u8], at: usize) -> Self {
        read_ipv4(buf, at)
    }

    #[inline(always)]
    fn write(self, buf: &mut [u8], at: usize) {
        write_ipv4(buf, at, self)
    }
}

// Big-endian field access. Callers index within lengths their view's
// `check_len` validated (or that `emit` was promised), so these bounds checks
// never fire on a checked view.

#[inline(always)]
pub(crate) fn read_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

#[inline(always)]
pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[inline(always)]
pub(crate) fn write_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[inline(always)]
pub(crate) fn write_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

#[inline(always)]
pub(crate) fn read_ipv4(buf: &[u8], at: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(read_u32(buf, at))
}

#[inline(always)]
pub(crate) fn write_ipv4(buf: &mut [u8], at: usize, addr: std::net::Ipv4Addr) {
    buf[at..at + 4].copy_from_slice(&addr.octets());
}

#[cfg(all(test, not(loom)))]
pub(crate) mod testutil;
