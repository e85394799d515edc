//! Packet capture to a pcap file (linux: `tcpdump -w` on a packet
//! socket): every frame a namespace's devices receive and send, through a
//! packet tap ([`super::ptype`]).
//!
//! ```no_run
//! use netrt::stack::ns::Namespace;
//!
//! let ns = Namespace::new("traced")?;
//! let capture = ns.capture_pcap("/tmp/traced.pcap", None)?; // all devices
//! // ... run traffic ...
//! let stats = capture.finish()?; // or drop it: stops and flushes
//! println!("{} frames captured", stats.frames);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The tap runs on the core handling each frame. Records are appended to
//! a 256 KiB buffer under the capture's own lock (the only lock a captured
//! frame takes besides the usual ones; without a capture nothing is
//! taken), so the file sees one `write` per buffer-full, not per frame.
//! Received frames are recorded as the device hands them to the stack,
//! sent frames as they are queued to the device (unsegmented TSO frames
//! whole, checksums possibly left to the device, like `tcpdump` shows
//! them on Linux).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::ns::Namespace;
use super::pcap::PcapWriter;
use super::ptype::TapHandle;
use super::IfIndex;

/// Bytes buffered before a write to the file.
const BUFFER: usize = 256 << 10;

/// Counters of a capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcapStats {
    /// Frames recorded.
    pub frames: u64,
    /// Bytes of those frames (before cutting to the snapshot length).
    pub bytes: u64,
    /// Frames lost because writing failed (the first error is kept and
    /// returned by [`PcapHandle::flush`] / [`PcapHandle::finish`]).
    pub lost: u64,
}

type Sink = PcapWriter<BufWriter<Box<dyn Write + Send>>>;

struct CaptureState {
    writer: Sink,
    stats: PcapStats,
    /// First write error; once set, frames are counted as lost.
    error: Option<io::Error>,
}

impl CaptureState {
    fn record(&mut self, frame: &[u8]) {
        if self.error.is_some() {
            self.stats.lost += 1;
            return;
        }
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        match self.writer.write_frame(ts, frame) {
            Ok(()) => {
                self.stats.frames += 1;
                self.stats.bytes += frame.len() as u64;
            }
            Err(e) => {
                self.stats.lost += 1;
                self.error = Some(e);
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.error.is_none() {
            if let Err(e) = self.writer.flush() {
                self.error = Some(e);
            }
        }
        match &self.error {
            Some(e) => Err(io::Error::new(e.kind(), format!("pcap capture: {e}"))),
            None => Ok(()),
        }
    }
}

/// A running capture; dropping it stops the capture and flushes the file
/// (errors are then lost: use [`PcapHandle::finish`] to see them).
pub struct PcapHandle {
    /// `Some` until finished; dropped first so no frame comes in after the
    /// final flush.
    tap: Option<TapHandle>,
    state: Arc<Mutex<CaptureState>>,
}

impl PcapHandle {
    /// Writes what is buffered to the file. Returns the first write error
    /// of the capture, if any.
    pub fn flush(&self) -> io::Result<()> {
        self.state.lock().flush()
    }

    /// Counters so far.
    pub fn stats(&self) -> PcapStats {
        self.state.lock().stats
    }

    /// Stops capturing, flushes, and returns the final counters or the
    /// first write error.
    pub fn finish(mut self) -> io::Result<PcapStats> {
        self.tap.take();
        let mut st = self.state.lock();
        st.flush()?;
        Ok(st.stats)
    }
}

impl Drop for PcapHandle {
    fn drop(&mut self) {
        if self.tap.take().is_some() {
            let _ = self.state.lock().flush();
        }
    }
}

impl std::fmt::Debug for PcapHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapHandle")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Namespace {
    /// Records every frame device `dev` (all devices with `None`, `lo`
    /// included) receives and sends into a new pcap file at `path`
    /// (truncated if it exists), until the handle is dropped or finished.
    /// See [`capture`](crate::stack::capture).
    ///
    /// Errors: those of creating the file and writing its header.
    pub fn capture_pcap(
        &self,
        path: impl AsRef<Path>,
        dev: Option<IfIndex>,
    ) -> io::Result<PcapHandle> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating pcap file {}: {e}", path.display()),
            )
        })?;
        self.capture_pcap_to(file, dev)
    }

    /// [`Namespace::capture_pcap`] into any writer (buffered here; pass it
    /// unbuffered).
    pub fn capture_pcap_to<W>(&self, out: W, dev: Option<IfIndex>) -> io::Result<PcapHandle>
    where
        W: Write + Send + 'static,
    {
        let out: Box<dyn Write + Send> = Box::new(out);
        let writer = PcapWriter::new(BufWriter::with_capacity(BUFFER, out))?;
        let state = Arc::new(Mutex::new(CaptureState {
            writer,
            stats: PcapStats::default(),
            error: None,
        }));
        let sink = state.clone();
        let tap = self.add_packet_tap(move |frame, _dir, ifindex| {
            if dev.is_none_or(|d| d == ifindex) {
                sink.lock().record(frame);
            }
        });
        Ok(PcapHandle {
            tap: Some(tap),
            state,
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::stack::pcap::PcapReader;

    /// A writer whose bytes the test can read, counting write calls.
    #[derive(Clone, Default)]
    struct Shared(Arc<std::sync::Mutex<(Vec<u8>, usize)>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut g = self.0.lock().unwrap();
            g.0.extend_from_slice(b);
            g.1 += 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Failing;

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_both_directions_of_the_filtered_device_buffered() {
        let ns = Namespace::new("cap").unwrap();
        let out = Shared::default();
        let cap = ns.capture_pcap_to(out.clone(), Some(IfIndex(2))).unwrap();
        let taps = &ns.0.taps;
        use crate::stack::ptype::TapDirection::{In, Out};
        for i in 0..100u8 {
            taps.deliver(&[i; 60], In, IfIndex(2));
            taps.deliver(&[i; 61], Out, IfIndex(2));
            taps.deliver(&[i; 62], In, IfIndex(1)); // filtered out
        }
        assert_eq!(out.0.lock().unwrap().1, 0, "nothing written before a flush");
        assert_eq!(
            cap.stats(),
            PcapStats {
                frames: 200,
                bytes: 100 * 121,
                lost: 0
            }
        );
        drop(cap);
        // Dropped: stopped (this frame is not recorded) and flushed.
        taps.deliver(&[0; 60], In, IfIndex(2));
        let (bytes, writes) = out.0.lock().unwrap().clone();
        assert_eq!(writes, 1, "one write for the whole buffer");
        let recs: Vec<_> = PcapReader::new(&bytes)
            .unwrap()
            .map(|r| r.unwrap().data.to_vec())
            .collect();
        assert_eq!(recs.len(), 200);
        assert_eq!((recs[0].len(), recs[1].len()), (60, 61));
        assert_eq!(recs[199], vec![99u8; 61]);
    }

    #[test]
    fn write_errors_are_counted_and_reported() {
        let ns = Namespace::new("cap").unwrap();
        // The header goes into the buffer; the failure shows at flush.
        let cap = ns.capture_pcap_to(Failing, None).unwrap();
        let e = cap.flush().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        ns.0.taps
            .deliver(&[0; 60], crate::stack::ptype::TapDirection::In, IfIndex(1));
        assert_eq!(cap.stats().lost, 1, "frames after a failure are lost");
        assert_eq!(cap.finish().unwrap_err().kind(), io::ErrorKind::StorageFull);
        let e = ns
            .capture_pcap("/nonexistent-dir/x.pcap", None)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("/nonexistent-dir/x.pcap"), "{e}");
    }
}
