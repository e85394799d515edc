//! Packet taps: listeners that see every frame a namespace's devices
//! receive or send (linux: `ETH_P_ALL` packet_type handlers, what
//! `tcpdump` uses).
//!
//! A tap gets the whole Ethernet frame as `&[u8]`, the direction and the
//! device's index. It runs on the core that handles the frame, inline, so
//! it should be quick (copy what it needs and return). With no tap
//! registered the per-frame cost is one relaxed load.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::percore::{self, SlotOwner};
use super::IfIndex;
use crate::sync::snapshot::Snapshot;

/// Which way a tapped frame was going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TapDirection {
    /// Received by the device (linux: `PACKET_HOST` and friends).
    In,
    /// Sent by the device (linux: `PACKET_OUTGOING`).
    Out,
}

/// A tap callback: frame bytes, direction, device.
pub type TapFn = Arc<dyn Fn(&[u8], TapDirection, IfIndex) + Send + Sync>;

type TapList = Vec<(u64, TapFn)>;

/// The taps of one namespace. Cloning gives another handle to the same
/// list (devices keep one to tap their transmit path).
#[derive(Clone)]
pub(crate) struct Taps {
    shared: Arc<TapsShared>,
}

struct TapsShared {
    owner: SlotOwner,
    /// Registered taps: the one-load fast path when zero.
    count: AtomicUsize,
    list: Arc<Snapshot<TapList>>,
    next_id: AtomicU64,
}

impl Taps {
    pub(crate) fn new() -> Taps {
        Taps {
            shared: Arc::new(TapsShared {
                owner: SlotOwner::new(),
                count: AtomicUsize::new(0),
                list: Arc::new(Snapshot::new(Vec::new())),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Registers `tap` until the handle is dropped.
    pub(crate) fn add(&self, tap: TapFn) -> TapHandle {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        self.shared.list.update(|l| {
            let mut l = l.clone();
            l.push((id, tap));
            l
        });
        self.shared.count.fetch_add(1, Ordering::Relaxed);
        TapHandle {
            taps: self.clone(),
            id,
        }
    }

    /// Whether any tap is registered.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.shared.count.load(Ordering::Relaxed) != 0
    }

    /// Hands `frame` to every tap (linux: `deliver_skb` for `ptype_all`,
    /// `dev_queue_xmit_nit` on transmit).
    #[inline]
    pub(crate) fn deliver(&self, frame: &[u8], dir: TapDirection, dev: IfIndex) {
        if self.is_active() {
            self.deliver_slow(frame, dir, dev);
        }
    }

    #[cold]
    fn deliver_slow(&self, frame: &[u8], dir: TapDirection, dev: IfIndex) {
        // Taps are user code that may send frames (and so re-enter here):
        // call them on a clone of the list, not under the per-core reader.
        let list = percore::with_slot(
            &self.shared.owner,
            || crate::sync::snapshot::SnapshotReader::new(self.shared.list.clone()),
            |r| r.get().clone(),
        );
        for (_, tap) in list.iter() {
            tap(frame, dir, dev);
        }
    }
}

impl fmt::Debug for Taps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Taps")
            .field("count", &self.shared.count.load(Ordering::Relaxed))
            .finish()
    }
}

/// A registered packet tap; dropping it removes the tap.
pub struct TapHandle {
    taps: Taps,
    id: u64,
}

impl Drop for TapHandle {
    fn drop(&mut self) {
        let id = self.id;
        self.taps
            .shared
            .list
            .update(|l| l.iter().filter(|(i, _)| *i != id).cloned().collect());
        self.taps.shared.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for TapHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapHandle").field("id", &self.id).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn taps_see_frames_until_dropped() {
        let taps = Taps::new();
        taps.deliver(b"nobody", TapDirection::In, IfIndex(1));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let h = taps.add(Arc::new(move |f: &[u8], d, i| {
            s.lock().unwrap().push((f.to_vec(), d, i));
        }));
        assert!(taps.is_active());
        taps.deliver(b"in", TapDirection::In, IfIndex(2));
        taps.deliver(b"out", TapDirection::Out, IfIndex(3));
        drop(h);
        assert!(!taps.is_active());
        taps.deliver(b"late", TapDirection::In, IfIndex(2));
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                (b"in".to_vec(), TapDirection::In, IfIndex(2)),
                (b"out".to_vec(), TapDirection::Out, IfIndex(3)),
            ]
        );
    }
}
