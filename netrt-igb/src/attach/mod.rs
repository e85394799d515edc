//! What a port is plugged into: the wire side of the emulated device.
//!
//! A port's transmit engine hands each finished frame to its
//! [`Attachment`]; whatever sits at the other end hands received frames to
//! the peer port through [`Endpoint::deliver`]. Backends implement
//! [`Attachment`]: the in-process [`Cable`] and a Linux TAP device
//! ([`TapAttachment`]). The driver never sees any of this: it talks to registers and
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
mod tap;
pub mod vnet;

use std::sync::Arc;

pub use cable::{Cable, CableStats, Dir};
pub use impair::{CableConfig, Impairments};
pub use tap::{Tap, TapAttachment, TapConfig, TapStats};

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
    /// `Some` when the frame is an unsegmented TCP/IPv4 TSO frame for the
    /// wire to cut (linux: a GSO skb). Only set when the attachment asked
    /// for it ([`Attachment::wants_unsegmented_tso`]); `partial_csum` is
    /// then set too.
    pub tso: Option<TsoMeta>,
}

/// Segmentation left to the wire: a TCP/IPv4 frame whose payload after
/// `hdr_len` bytes of headers is to be cut into `mss`-byte segments.
/// The IPv4 total length and header checksum describe the whole frame and
/// the TCP checksum field holds the pseudo-header seed with the whole L4
/// length, as in a Linux GSO skb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TsoMeta {
    /// Payload bytes per segment.
    pub mss: u16,
    /// Ethernet + IP + TCP header bytes, repeated in every segment.
    pub hdr_len: u16,
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

/// Frames crossing the wire together: what one transmit pass of a port
/// (one tail write) produced, handed over in one call so the receiver takes
/// its locks and raises its interrupt once per burst rather than per frame.
///
/// The frames live back to back in one buffer that only grows, so a warm
/// burst allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Burst {
    bytes: Vec<u8>,
    used: usize,
    frames: Vec<BurstFrame>,
}

#[derive(Clone, Copy, Debug)]
struct BurstFrame {
    start: usize,
    len: usize,
    meta: TxMeta,
}

impl Burst {
    /// An empty burst.
    pub fn new() -> Burst {
        Burst::default()
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Total bytes of all frames.
    pub fn bytes(&self) -> usize {
        self.used
    }

    /// Appends a copy of `frame`.
    pub fn push(&mut self, frame: &[u8], meta: TxMeta) {
        let start = self.used;
        self.reserve(frame.len()).copy_from_slice(frame);
        self.commit(start, frame.len(), meta);
    }

    /// The frames in order, with their metadata.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &TxMeta)> + '_ {
        self.frames
            .iter()
            .map(|f| (&self.bytes[f.start..f.start + f.len], &f.meta))
    }

    /// Forgets every frame (keeps the memory).
    pub fn clear(&mut self) {
        self.used = 0;
        self.frames.clear();
    }

    /// `n` writable bytes after the last frame, to build a frame in place
    /// (their content is whatever was there before).
    pub(crate) fn reserve(&mut self, n: usize) -> &mut [u8] {
        let end = self.used + n;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        &mut self.bytes[self.used..end]
    }

    /// Grows the frame being built at `start` by `n` writable bytes.
    pub(crate) fn extend(&mut self, start: usize, len: usize, n: usize) -> &mut [u8] {
        let end = start + len + n;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        &mut self.bytes[start + len..end]
    }

    /// The bytes of a frame being built.
    pub(crate) fn building(&mut self, start: usize, len: usize) -> &mut [u8] {
        &mut self.bytes[start..start + len]
    }

    /// Offset where the next frame starts.
    pub(crate) fn next_start(&self) -> usize {
        self.used
    }

    /// Makes the `len` bytes at `start` (== [`Self::next_start`]) a frame.
    pub(crate) fn commit(&mut self, start: usize, len: usize, meta: TxMeta) {
        debug_assert_eq!(start, self.used);
        if self.bytes.len() < start + len {
            self.bytes.resize(start + len, 0);
        }
        self.used = start + len;
        self.frames.push(BurstFrame { start, len, meta });
    }
}

/// The wire a port transmits into.
///
/// Called from the thread that wrote the port's TX tail register. The
/// frames are borrowed for the call only. Implementations must not block
/// for long: the cable either delivers synchronously or queues frames to
/// its delay line.
pub trait Attachment: Send + Sync {
    /// Puts one Ethernet frame (no FCS) on the wire.
    fn transmit(&self, frame: &[u8], meta: &TxMeta);

    /// Puts a burst of frames on the wire, in order. The default sends them
    /// one by one; a backend overrides it to batch (one receiver lock, one
    /// syscall, one wake-up per burst).
    fn transmit_burst(&self, burst: &Burst) {
        for (frame, meta) in burst.iter() {
            self.transmit(frame, meta);
        }
    }

    /// Whether the wire carries checksum offload as metadata. When false
    /// the port computes every requested checksum before transmitting.
    fn carries_csum_offload(&self) -> bool {
        false
    }

    /// Whether the wire segments TSO frames itself (a TAP with the
    /// virtio-net header's GSO). When true (and checksum offload is
    /// carried), the port hands over each TSO frame whole with
    /// [`TxMeta::tso`] set instead of cutting it.
    fn wants_unsegmented_tso(&self) -> bool {
        false
    }
}

/// A port as seen from the wire: frames arrive through [`Self::deliver`] or
/// [`Self::deliver_burst`], and [`Self::set_attachment`] plugs the port's
/// transmit side in.
///
/// Implemented by the emulated igb ([`crate::model::IgbModel`]); a test can
/// implement it to observe what a cable carries.
pub trait Endpoint: Send + Sync {
    /// Receives one frame from the wire (no FCS). May be called from any
    /// thread, concurrently.
    fn deliver(&self, frame: &[u8], meta: &RxMeta);

    /// Receives a burst of frames, in order. With `trust_csum`, frames sent
    /// with checksum offload metadata count as checksum-verified
    /// ([`RxMeta::from_tx`]); otherwise nothing is vouched for.
    fn deliver_burst(&self, burst: &Burst, trust_csum: bool) {
        for (frame, meta) in burst.iter() {
            let rx = if trust_csum {
                RxMeta::from_tx(meta)
            } else {
                RxMeta::default()
            };
            self.deliver(frame, &rx);
        }
    }

    /// Plugs the transmit side into `attachment` (or unplugs it with
    /// `None`).
    fn set_attachment(&self, attachment: Option<Arc<dyn Attachment>>);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn burst_keeps_frames_and_reuses_memory() {
        let mut b = Burst::new();
        let partial = TxMeta {
            partial_csum: Some(PartialCsum {
                start: 34,
                offset: 6,
            }),
            tso: None,
        };
        b.push(b"first", TxMeta::default());
        // Built in place: reserve, extend, then commit.
        let start = b.next_start();
        b.reserve(3).copy_from_slice(b"sec");
        b.extend(start, 3, 3).copy_from_slice(b"ond");
        b.building(start, 6)[0] = b'S';
        b.commit(start, 6, partial);
        let got: Vec<(&[u8], TxMeta)> = b.iter().map(|(f, m)| (f, *m)).collect();
        assert_eq!(
            got,
            vec![
                (&b"first"[..], TxMeta::default()),
                (&b"Second"[..], partial)
            ]
        );
        assert_eq!((b.len(), b.bytes()), (2, 11));
        let cap = b.bytes.capacity();
        b.clear();
        assert!(b.is_empty() && b.bytes() == 0);
        b.push(b"again", TxMeta::default());
        assert_eq!(b.iter().next().unwrap().0, b"again");
        assert_eq!(b.bytes.capacity(), cap);
    }
}
