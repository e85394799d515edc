//! What a port is plugged into: the wire side of the emulated device.
//!
//! A port's transmit engine hands each finished frame to its
//! [`Attachment`]; whatever sits at the other end hands received frames to
//! the peer port through [`Endpoint::deliver`]. Backends implement
//! [`Attachment`]: the in-process [`Cable`] today, a Linux TAP device
//! later. The driver never sees any of this: it talks to registers and
//! descriptor rings only.
//!
//! Checksum offload crosses the wire as metadata when the backend can carry
//! it (linux: veth keeps `CHECKSUM_PARTIAL`; a TAP carries it in the
//! virtio-net header). A backend that cannot carry it (or that may damage
//! frames, like a corrupting cable) makes the transmitter compute real
//! checksums so the receiver's verification is exercised.

mod cable;
mod delay;
mod impair;

use std::sync::Arc;

pub use cable::{Cable, CableStats, Dir};
pub use impair::{CableConfig, Impairments};

/// An L4 checksum the transmitter left for the wire to carry as metadata
/// (linux: `CHECKSUM_PARTIAL`): the checksum field at `start + offset`
/// holds only the pseudo-header seed, and the one's complement sum from
/// `start` to the end of the frame is still to be folded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartialCsum {
    /// Offset of the first byte covered by the checksum (the L4 header).
    pub start: u16,
    /// Offset of the checksum field from `start`.
    pub offset: u16,
}

/// Offload information travelling with a transmitted frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxMeta {
    /// `Some` when the L4 checksum was not computed and travels as
    /// metadata instead. Only set when the attachment said it carries
    /// checksum metadata ([`Attachment::carries_csum_offload`]).
    pub partial_csum: Option<PartialCsum>,
}

/// What the wire tells the receiving port about a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RxMeta {
    /// The L4 checksum is known good without looking at it: the frame was
    /// sent with checksum offload over a link that cannot damage it
    /// (linux: veth's `CHECKSUM_UNNECESSARY`). The receiver reports
    /// "checksum verified" and must not verify the field, which holds only
    /// the pseudo-header seed.
    pub csum_verified: bool,
}

impl RxMeta {
    /// The receive-side view of a frame sent with `tx` over a link that
    /// delivers it intact.
    #[inline]
    pub fn from_tx(tx: &TxMeta) -> RxMeta {
        RxMeta {
            csum_verified: tx.partial_csum.is_some(),
        }
    }
}

/// The wire a port transmits into.
///
/// Called from the thread that wrote the port's TX tail register, once per
/// frame, with the frame in a scratch buffer of the port (borrowed for the
/// call only). Implementations must not block for long: the cable either
/// delivers synchronously or queues the frame to its delay line.
pub trait Attachment: Send + Sync {
    /// Puts one Ethernet frame (no FCS) on the wire.
    fn transmit(&self, frame: &[u8], meta: &TxMeta);

    /// Called after the last frame of a burst (one tail write), so a
    /// backend can batch work across frames (one wake-up, one syscall).
    fn flush(&self) {}

    /// Whether the wire carries checksum offload as metadata. When false
    /// the port computes every requested checksum before [`Self::transmit`].
    fn carries_csum_offload(&self) -> bool {
        false
    }
}

/// A port as seen from the wire: frames arrive through [`Self::deliver`],
/// and [`Self::set_attachment`] plugs the port's transmit side in.
///
/// Implemented by the emulated igb ([`crate::model::IgbModel`]); a test can
/// implement it to observe what a cable carries.
pub trait Endpoint: Send + Sync {
    /// Receives one frame from the wire (no FCS). May be called from any
    /// thread, concurrently.
    fn deliver(&self, frame: &[u8], meta: &RxMeta);

    /// Plugs the transmit side into `attachment` (or unplugs it with
    /// `None`).
    fn set_attachment(&self, attachment: Option<Arc<dyn Attachment>>);
}
