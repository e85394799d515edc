//! A Linux TAP device as the wire of an emulated port.
//!
//! [`Tap::open`] attaches to (or creates) a TAP interface through
//! `/dev/net/tun`, one file descriptor per queue (`IFF_MULTI_QUEUE`), each
//! carrying the virtio-net header ([`super::vnet`]) so checksum and TCP
//! segmentation offloads cross in both directions.
//! [`TapAttachment`] plugs it into a port:
//!
//! * transmit (the port's TX engine, on the thread that wrote the tail):
//!   one `writev` of header + frame per frame, to a queue chosen by a hash
//!   of the flow. The TAP is like a wire: a full kernel queue (`EAGAIN`)
//!   drops the frame and counts it, it never blocks the sender. A TAP has
//!   no batched write, so this is the one place with a syscall per frame
//!   (per 64 KiB TSO frame when offloads are on).
//! * receive: no threads. The owner registers [`TapAttachment::fds`] with
//!   its reactor and calls [`TapAttachment::poll_rx`] when one is
//!   readable; that reads frames until `EAGAIN` or the budget and hands
//!   them to the port in one burst (one lock, one interrupt).
//!
//! The descriptors are non-blocking and close-on-exec. A TAP created here
//! (no such interface existed) disappears when the last descriptor closes,
//! i.e. when the port drops its attachment; a persistent one (`ip tuntap
//! add`) stays.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::vnet::{self, VnetHdr, VNET_HDR_LEN};
use super::{Attachment, Burst, Endpoint, TxMeta};

const TUN_PATH: &CStr = c"/dev/net/tun";
/// Largest frame read from the TAP: a 64 KiB GSO packet plus its Ethernet
/// (and a VLAN) header.
const MAX_READ: usize = (64 << 10) + 64;
/// Frames handed to the port at once (bounds what a burst holds).
const RX_BURST: usize = 64;

/// How to open a TAP device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapConfig {
    /// Queues (file descriptors) wanted, normally one per igb queue pair.
    /// An existing single-queue TAP gets one: see [`Tap::queues`].
    pub queues: usize,
    /// Put a virtio-net header before every frame (`IFF_VNET_HDR`).
    pub vnet_hdr: bool,
    /// Let checksum and TCPv4 segmentation offloads cross (needs
    /// `vnet_hdr`): `TUN_F_CSUM | TUN_F_TSO4` towards us, `NEEDS_CSUM` and
    /// `GSO_TCPV4` towards the kernel.
    pub offloads: bool,
}

impl Default for TapConfig {
    fn default() -> Self {
        TapConfig {
            queues: 1,
            vnet_hdr: true,
            offloads: true,
        }
    }
}

/// An open TAP device: one non-blocking descriptor per queue.
pub struct Tap {
    name: String,
    fds: Vec<OwnedFd>,
    raw: Vec<RawFd>,
    vnet_hdr: bool,
    offloads: bool,
}

impl fmt::Debug for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tap")
            .field("name", &self.name)
            .field("fds", &self.raw)
            .field("vnet_hdr", &self.vnet_hdr)
            .field("offloads", &self.offloads)
            .finish()
    }
}

impl Tap {
    /// Opens TAP interface `name` (creating it if there is none; an empty
    /// name lets the kernel pick `tapN`) with `cfg.queues` queues.
    ///
    /// A persistent TAP made without `multi_queue` (plain `ip tuntap add
    /// dev NAME mode tap`) refuses multi-queue attachment with `EINVAL`;
    /// then one queue is opened and [`Self::queues`] says 1.
    ///
    /// Errors: `PermissionDenied` without `CAP_NET_ADMIN`, `NotFound` when
    /// `/dev/net/tun` is missing, `InvalidInput` for a bad name or config;
    /// otherwise the OS error.
    pub fn open(name: &str, cfg: TapConfig) -> io::Result<Tap> {
        if cfg.queues == 0 {
            return Err(invalid("a TAP needs at least one queue"));
        }
        if cfg.offloads && !cfg.vnet_hdr {
            return Err(invalid(
                "TAP offloads need the virtio-net header (vnet_hdr)",
            ));
        }
        if name.len() >= libc::IFNAMSIZ || name.bytes().any(|b| b == 0 || b == b'/') {
            return Err(invalid(
                "TAP name must be under 16 bytes, without NUL or '/'",
            ));
        }
        let opened = match open_queues(name, &cfg, cfg.queues) {
            // linux: tun_set_iff refuses to mix single- and multi-queue
            // attachment to an existing device.
            Err((e, _)) if cfg.queues > 1 && e.raw_os_error() == Some(libc::EINVAL) => {
                open_queues(name, &cfg, 1)
            }
            r => r,
        };
        let (name, fds) = opened.map_err(|(e, what)| explain(e, &what))?;
        Ok(Tap {
            name,
            raw: fds.iter().map(|f| f.as_raw_fd()).collect(),
            fds,
            vnet_hdr: cfg.vnet_hdr,
            offloads: cfg.offloads,
        })
    }

    /// The interface name (the kernel's choice when opened with "").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues actually opened (1 on a single-queue TAP whatever was asked).
    pub fn queues(&self) -> usize {
        self.fds.len()
    }

    /// One descriptor per queue (non-blocking, close-on-exec).
    pub fn fds(&self) -> &[RawFd] {
        &self.raw
    }

    /// Whether frames carry the virtio-net header.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Whether checksum/segmentation offloads are on.
    pub fn offloads(&self) -> bool {
        self.offloads
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Adds what is needed to the errors a user can fix.
fn explain(e: io::Error, what: &str) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{what}: {e}; a TAP device needs root, or CAP_NET_ADMIN and \
                 read-write access to /dev/net/tun (e.g. inside a user+network \
                 namespace)"
            ),
        ),
        Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{what}: {e}; /dev/net/tun is missing: load the tun module \
                 (modprobe tun) or create it (mknod /dev/net/tun c 10 200)"
            ),
        ),
        _ => io::Error::new(e.kind(), format!("{what}: {e}")),
    }
}

/// What failed, with the raw OS error (explained by the caller).
type Failed = (io::Error, String);

/// Opens `n` queues of TAP `name`; returns the interface's real name.
fn open_queues(name: &str, cfg: &TapConfig, n: usize) -> Result<(String, Vec<OwnedFd>), Failed> {
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
    if cfg.vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    if n > 1 {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    let mut name = name.to_owned();
    let mut fds = Vec::with_capacity(n);
    for _ in 0..n {
        let fd = open_tun().map_err(|e| (e, "opening /dev/net/tun".to_owned()))?;
        // Later queues attach to the interface the first one named.
        name = set_iff(&fd, &name, flags)
            .map_err(|e| (e, format!("attaching to TAP {name:?} (TUNSETIFF)")))?;
        configure(&fd, cfg)?;
        fds.push(fd);
    }
    Ok((name, fds))
}

fn open_tun() -> io::Result<OwnedFd> {
    // SAFETY: the path is a NUL-terminated constant; open has no other
    // memory effects and returns a new descriptor or -1.
    let fd = unsafe {
        libc::open(
            TUN_PATH.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `TUNSETIFF`: binds the descriptor to interface `name` as a queue.
fn set_iff(fd: &OwnedFd, name: &str, flags: libc::c_int) -> io::Result<String> {
    // SAFETY: ifreq is plain C data (arrays, integers, a union of those and
    // pointers); all-zero bytes are a valid value of it.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    // The caller checked the name is shorter than IFNAMSIZ, so the last
    // byte stays the NUL terminator.
    for (dst, &b) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = b as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`; `ifr` is one,
    // valid and exclusively borrowed for the call; `fd` is open.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = ifr.ifr_name.iter().position(|&c| c == 0).unwrap_or(0);
    Ok(ifr.ifr_name[..len]
        .iter()
        .map(|&c| c as u8 as char)
        .collect())
}

/// Header size, byte order and offloads of one queue.
fn configure(fd: &OwnedFd, cfg: &TapConfig) -> Result<(), Failed> {
    let failed = |what: &str| (io::Error::last_os_error(), what.to_owned());
    let raw = fd.as_raw_fd();
    if cfg.vnet_hdr {
        let size = VNET_HDR_LEN as libc::c_int;
        // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which
        // points at a live local.
        if unsafe { libc::ioctl(raw, libc::TUNSETVNETHDRSZ, &size) } < 0 {
            return Err(failed("TUNSETVNETHDRSZ"));
        }
        let le: libc::c_int = 1;
        // SAFETY: TUNSETVNETLE reads one int through the pointer, which
        // points at a live local.
        if unsafe { libc::ioctl(raw, libc::TUNSETVNETLE, &le) } < 0 && cfg!(target_endian = "big") {
            // On little-endian hosts the header already is little-endian.
            return Err(failed("TUNSETVNETLE"));
        }
    }
    let offload = if cfg.offloads {
        libc::TUN_F_CSUM | libc::TUN_F_TSO4
    } else {
        0
    };
    // SAFETY: TUNSETOFFLOAD takes the flags as the argument value itself;
    // no memory is passed.
    if unsafe { libc::ioctl(raw, libc::TUNSETOFFLOAD, offload as libc::c_ulong) } < 0 {
        return Err(failed("TUNSETOFFLOAD"));
    }
    Ok(())
}

/// Counters of a TAP attachment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapStats {
    /// Frames handed to the port (after cutting GSO frames).
    pub rx_frames: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// GSO frames read from the kernel and cut into segments.
    pub rx_gso: u64,
    /// Frames read but discarded: short, bad virtio-net header, a GSO type
    /// never negotiated, or unparsable headers.
    pub rx_drops: u64,
    /// `read` failures other than "no more frames".
    pub rx_errors: u64,
    /// Frames written to the kernel.
    pub tx_frames: u64,
    /// Bytes of those frames (without the virtio-net header).
    pub tx_bytes: u64,
    /// Unsegmented TSO frames among them.
    pub tx_gso: u64,
    /// Frames dropped because the kernel's queue was full (`EAGAIN`).
    pub tx_drops: u64,
    /// Frames the kernel refused (interface down: `EIO`; bad header).
    pub tx_errors: u64,
}

#[derive(Default)]
struct Counters {
    rx_frames: AtomicU64,
    rx_bytes: AtomicU64,
    rx_gso: AtomicU64,
    rx_drops: AtomicU64,
    rx_errors: AtomicU64,
    tx_frames: AtomicU64,
    tx_bytes: AtomicU64,
    tx_gso: AtomicU64,
    tx_drops: AtomicU64,
    tx_errors: AtomicU64,
}

/// Counts of one transmit burst or receive poll, added to the shared
/// counters once at the end (not per frame).
#[derive(Default)]
struct Tally {
    frames: u64,
    bytes: u64,
    gso: u64,
    drops: u64,
    errors: u64,
}

impl Tally {
    fn add_rx(&self, c: &Counters) {
        Self::add(
            self,
            [
                &c.rx_frames,
                &c.rx_bytes,
                &c.rx_gso,
                &c.rx_drops,
                &c.rx_errors,
            ],
        );
    }

    fn add_tx(&self, c: &Counters) {
        Self::add(
            self,
            [
                &c.tx_frames,
                &c.tx_bytes,
                &c.tx_gso,
                &c.tx_drops,
                &c.tx_errors,
            ],
        );
    }

    fn add(&self, to: [&AtomicU64; 5]) {
        let vals = [self.frames, self.bytes, self.gso, self.drops, self.errors];
        for (c, v) in to.into_iter().zip(vals) {
            if v != 0 {
                c.fetch_add(v, Ordering::Relaxed);
            }
        }
    }
}

/// Receive state of one queue: the burst being built and the copy of a
/// GSO frame being cut. Locked once per [`TapAttachment::poll_rx`] call
/// (one poller per queue, so uncontended).
#[derive(Default)]
struct RxQueue {
    burst: Burst,
    gso: Vec<u8>,
}

/// A port's attachment to a TAP device.
///
/// Holds the port weakly (the port holds the attachment), so dropping the
/// port closes the TAP's descriptors.
pub struct TapAttachment {
    tap: Tap,
    port: Weak<dyn Endpoint>,
    rx: Box<[Mutex<RxQueue>]>,
    counters: Counters,
}

impl fmt::Debug for TapAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapAttachment")
            .field("tap", &self.tap)
            .field("stats", &self.stats())
            .finish()
    }
}

impl TapAttachment {
    /// Plugs `port` into `tap`: what the port sends goes to the kernel,
    /// and [`Self::poll_rx`] brings the kernel's frames to the port.
    pub fn plug(tap: Tap, port: &Arc<dyn Endpoint>) -> Arc<TapAttachment> {
        let rx = (0..tap.queues()).map(|_| Mutex::default()).collect();
        let att = Arc::new(TapAttachment {
            tap,
            port: Arc::downgrade(port),
            rx,
            counters: Counters::default(),
        });
        port.set_attachment(Some(Arc::clone(&att) as Arc<dyn Attachment>));
        att
    }

    /// Unplugs the port (link down); the descriptors close once the port
    /// and every other holder let go of the attachment.
    pub fn unplug(&self) {
        if let Some(port) = self.port.upgrade() {
            port.set_attachment(None);
        }
    }

    /// The TAP device.
    pub fn tap(&self) -> &Tap {
        &self.tap
    }

    /// One descriptor per queue, to register for readability; pass the
    /// index of the ready one to [`Self::poll_rx`].
    pub fn fds(&self) -> &[RawFd] {
        self.tap.fds()
    }

    /// Reads up to `budget` frames from queue `queue`'s descriptor (fewer
    /// when the kernel has no more) and delivers them to the port; returns
    /// how many frames were read.
    ///
    /// GSO frames are cut into their segments (each a standard frame that
    /// fits the port's receive buffers; jumbo receive is not used).
    /// Checksum-partial frames reach the port like over a veth: the field
    /// holds the seed and the port reports the checksum verified. Frames
    /// the kernel marked `DATA_VALID` carry complete checksums and are
    /// verified by the port as usual.
    ///
    /// Errors: `InvalidInput` for a queue index out of range, `NotConnected`
    /// when the port is gone, or the `read` error (frames read before it
    /// are delivered).
    pub fn poll_rx(&self, queue: usize, budget: usize) -> io::Result<usize> {
        let (Some(&fd), Some(rxq)) = (self.tap.fds().get(queue), self.rx.get(queue)) else {
            return Err(invalid("no such TAP queue"));
        };
        let Some(port) = self.port.upgrade() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the port of this TAP attachment is gone",
            ));
        };
        let mut guard = rxq.lock();
        let RxQueue { burst, gso } = &mut *guard;
        burst.clear();
        let mut tally = Tally::default();
        let mut read = 0;
        let mut result = Ok(());
        while read < budget {
            match self.read_one(fd, burst, gso, &mut tally) {
                Ok(true) => read += 1,
                Ok(false) => break,
                Err(e) => {
                    tally.errors += 1;
                    result = Err(e);
                    break;
                }
            }
            if burst.len() >= RX_BURST {
                port.deliver_burst(burst, true);
                burst.clear();
            }
        }
        if !burst.is_empty() {
            port.deliver_burst(burst, true);
            burst.clear();
        }
        tally.add_rx(&self.counters);
        result.map(|()| read)
    }

    /// Reads one frame into `burst`; `Ok(false)` when there is none.
    fn read_one(
        &self,
        fd: RawFd,
        burst: &mut Burst,
        gso: &mut Vec<u8>,
        tally: &mut Tally,
    ) -> io::Result<bool> {
        let mut hdr = [0u8; VNET_HDR_LEN];
        let start = burst.next_start();
        let buf = burst.reserve(MAX_READ);
        let iov = [
            libc::iovec {
                iov_base: hdr.as_mut_ptr().cast(),
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            },
        ];
        let iov = if self.tap.vnet_hdr {
            &iov[..]
        } else {
            &iov[1..]
        };
        let n = loop {
            // SAFETY: every iovec points at a live, exclusively borrowed
            // buffer of the stated length (`hdr` on the stack, `buf` inside
            // the burst), valid for the call; the count matches the slice.
            let r = unsafe { libc::readv(fd, iov.as_ptr(), iov.len() as libc::c_int) };
            if r >= 0 {
                break r as usize;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(false),
                _ => return Err(e),
            }
        };
        let hdr_len = if self.tap.vnet_hdr { VNET_HDR_LEN } else { 0 };
        let Some(len) = n.checked_sub(hdr_len).filter(|&l| l > 0) else {
            tally.drops += 1;
            return Ok(true);
        };
        let h = if self.tap.vnet_hdr {
            VnetHdr::decode(&hdr).unwrap_or_default()
        } else {
            VnetHdr::default()
        };
        if h.gso_type != vnet::gso::NONE {
            self.cut_gso(&h, start, len, burst, gso, tally);
            return Ok(true);
        }
        let partial = h.partial_csum(len);
        if h.flags & vnet::flags::NEEDS_CSUM != 0 && partial.is_none() {
            tally.drops += 1;
            return Ok(true);
        }
        let meta = TxMeta {
            partial_csum: partial,
            tso: None,
        };
        burst.commit(start, len, meta);
        tally.frames += 1;
        tally.bytes += len as u64;
        Ok(true)
    }

    /// Replaces the GSO frame read at `start` by its segments.
    fn cut_gso(
        &self,
        h: &VnetHdr,
        start: usize,
        len: usize,
        burst: &mut Burst,
        gso: &mut Vec<u8>,
        tally: &mut Tally,
    ) {
        if h.gso_type & !vnet::gso::ECN != vnet::gso::TCPV4 {
            tally.drops += 1;
            return;
        }
        // The segments are built where the frame was read: move it aside.
        gso.clear();
        gso.extend_from_slice(burst.building(start, len));
        let cut = vnet::segment_tcp4(gso, h.gso_size, |seg_len, fill, partial| {
            let at = burst.next_start();
            fill(burst.reserve(seg_len));
            let meta = TxMeta {
                partial_csum: Some(partial),
                tso: None,
            };
            burst.commit(at, seg_len, meta);
            tally.frames += 1;
            tally.bytes += seg_len as u64;
        });
        match cut {
            Ok(_) => tally.gso += 1,
            Err(_) => tally.drops += 1,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> TapStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TapStats {
            rx_frames: get(&c.rx_frames),
            rx_bytes: get(&c.rx_bytes),
            rx_gso: get(&c.rx_gso),
            rx_drops: get(&c.rx_drops),
            rx_errors: get(&c.rx_errors),
            tx_frames: get(&c.tx_frames),
            tx_bytes: get(&c.tx_bytes),
            tx_gso: get(&c.tx_gso),
            tx_drops: get(&c.tx_drops),
            tx_errors: get(&c.tx_errors),
        }
    }

    /// The queue a frame leaves on: a hash of the IPv4 addresses and ports
    /// keeps each flow on one queue (and in order).
    fn tx_fd(&self, frame: &[u8]) -> RawFd {
        let fds = self.tap.fds();
        if fds.len() == 1 {
            return fds[0];
        }
        let flow = match frame.get(12..14) {
            Some([0x08, 0x00]) => frame.get(26..38).unwrap_or(&[]),
            _ => &[],
        };
        let h = flow.iter().fold(0x811c_9dc5u32, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        fds[h as usize % fds.len()]
    }

    fn write_one(&self, frame: &[u8], meta: &TxMeta, tally: &mut Tally) {
        let fd = self.tx_fd(frame);
        let hdr = VnetHdr::for_tx(meta).encode();
        let iov = [
            libc::iovec {
                iov_base: hdr.as_ptr() as *mut libc::c_void,
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        let iov = if self.tap.vnet_hdr {
            &iov[..]
        } else {
            &iov[1..]
        };
        loop {
            // SAFETY: the iovecs point at live buffers of the stated
            // lengths for the call; writev only reads them (the `*mut` is
            // the C type's, nothing is written through it).
            let r = unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as libc::c_int) };
            if r >= 0 {
                tally.frames += 1;
                tally.bytes += frame.len() as u64;
                tally.gso += u64::from(meta.tso.is_some());
                return;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN | libc::ENOBUFS) => tally.drops += 1,
                _ => tally.errors += 1,
            }
            return;
        }
    }
}

impl Attachment for TapAttachment {
    fn transmit(&self, frame: &[u8], meta: &TxMeta) {
        let mut tally = Tally::default();
        self.write_one(frame, meta, &mut tally);
        tally.add_tx(&self.counters);
    }

    fn transmit_burst(&self, burst: &Burst) {
        let mut tally = Tally::default();
        for (frame, meta) in burst.iter() {
            self.write_one(frame, meta, &mut tally);
        }
        tally.add_tx(&self.counters);
    }

    fn carries_csum_offload(&self) -> bool {
        self.tap.offloads
    }

    fn wants_unsegmented_tso(&self) -> bool {
        self.tap.offloads
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_are_invalid_input_not_panics() {
        let cases = [
            (
                "t0",
                TapConfig {
                    queues: 0,
                    ..TapConfig::default()
                },
            ),
            (
                "t0",
                TapConfig {
                    vnet_hdr: false,
                    offloads: true,
                    queues: 1,
                },
            ),
            ("a-name-longer-than-15", TapConfig::default()),
            ("nul\0", TapConfig::default()),
        ];
        for (name, cfg) in cases {
            let e = Tap::open(name, cfg).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name:?} {cfg:?}");
        }
    }

    #[test]
    fn permission_and_missing_device_errors_say_what_is_needed() {
        let e = explain(io::Error::from_raw_os_error(libc::EPERM), "x");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        for needed in ["root", "CAP_NET_ADMIN", "/dev/net/tun"] {
            assert!(e.to_string().contains(needed), "{e}");
        }
        let e = explain(io::Error::from_raw_os_error(libc::ENOENT), "x");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("modprobe tun"), "{e}");
        let e = explain(io::Error::from_raw_os_error(libc::EBUSY), "x");
        assert_eq!(e.raw_os_error(), None);
        assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
    }
}
