//! An emulated igb port whose wire is a Linux TAP device: the stack in a
//! [`Namespace`] talks to the kernel's own network stack.
//!
//! ```no_run
//! use netrt::stack::dev::tap::TapPortConfig;
//! use netrt::stack::ns::Namespace;
//! use netrt::stack::topology::{parse_cidr, parse_route};
//!
//! let rt = netrt::runtime::Builder::new().cores(2).build()?;
//! let ns = Namespace::new("tapped")?;
//! // Creates `tap0` (or attaches to an existing one, e.g. made by
//! // `ip tuntap add dev tap0 mode tap`) in the calling thread's network
//! // namespace, as device `eth0` of `ns`.
//! let port = ns.add_igb_tap(&rt.handle(), "eth0", &TapPortConfig::new("tap0").queues(2))?;
//! ns.add_address(port.ifindex(), parse_cidr("10.0.0.2/24")?)?;
//! ns.add_route(parse_route(&ns, "default via 10.0.0.1")?)?;
//! println!("{} queues on {}", port.tap_queues(), port.tap_name());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! How frames move:
//!
//! * **Receive** — one task per TAP queue, on the core that polls the igb
//!   queue of the same index, registers the queue's descriptor with that
//!   core's epoll (edge-triggered, [`Registration`]). It sleeps until the
//!   kernel has frames; then it reads up to [`RX_BUDGET`] of them and hands
//!   them to the emulated device in one burst, which fills its RX
//!   descriptors and raises MSI-X: the queue's NAPI runs (linux: the
//!   device's DMA and interrupt, then `napi_schedule`). A full budget yields
//!   to let NAPI drain the ring before reading on; `EAGAIN` hands the
//!   readiness back and the task sleeps again. No busy polling, one `readv`
//!   per frame (or per 64 KiB GSO frame with offloads on).
//! * **Transmit** — the device's TX engine writes each frame to the TAP
//!   (`writev` of the virtio-net header and the frame), on the thread that
//!   wrote the tail register; see [`TapAttachment`].
//!
//! The TAP lives as long as the device: the receive tasks stop when it is
//! dropped, and a TAP created here disappears with its last descriptor.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use netrt_igb::attach::{Endpoint, Tap, TapAttachment, TapConfig, TapStats};
use netrt_igb::driver::Itr;
use netrt_igb::port::{EmulatedPort, PortSpec};

use super::igb::IgbNetDev;
use super::NetDevice;
use crate::runtime::io::{Interest, Registration};
use crate::runtime::{Handle, JoinHandle};
use crate::stack::ns::Namespace;
use crate::stack::IfIndex;

/// Frames read from one TAP queue per turn of its receive task; a full
/// turn yields so the NAPI poll drains the ring before the next one. The
/// NAPI weight: one turn fills what one poll takes.
pub const RX_BUDGET: usize = netrt_igb::driver::NAPI_WEIGHT;

/// How to wire an emulated igb port to a Linux TAP device; see
/// [`Namespace::add_igb_tap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapPortConfig {
    /// The Linux interface: attached to if it exists (a persistent TAP),
    /// created otherwise. Empty lets the kernel pick `tapN`.
    pub ifname: String,
    /// igb queue pairs; as many TAP queues are opened (`IFF_MULTI_QUEUE`)
    /// when the TAP allows it, one otherwise (a single-queue persistent TAP).
    pub queues: u16,
    /// Checksum and TCP segmentation offloads through the virtio-net header
    /// (`TUNSETOFFLOAD`). Off: every frame crosses with full checksums and
    /// at most MTU size, for measuring what the offloads bring.
    pub offloads: bool,
    /// The port's MAC address (`None`: derived from `ifname`, locally
    /// administered: `02:6e:74:fe:xx:xx`).
    pub mac: Option<[u8; 6]>,
    /// Interrupt throttling of the port's queue vectors. Default
    /// [`Itr::Off`]: the TAP delivers in bursts already.
    pub itr: Itr,
}

impl TapPortConfig {
    /// One queue pair, offloads on, MAC from the name, no throttling.
    pub fn new(ifname: &str) -> TapPortConfig {
        TapPortConfig {
            ifname: ifname.to_string(),
            queues: 1,
            offloads: true,
            mac: None,
            itr: Itr::Off,
        }
    }

    /// Sets the queue pairs.
    pub fn queues(mut self, queues: u16) -> TapPortConfig {
        self.queues = queues;
        self
    }

    /// Turns the virtio-net header offloads on or off.
    pub fn offloads(mut self, on: bool) -> TapPortConfig {
        self.offloads = on;
        self
    }

    /// Sets the port's MAC address.
    pub fn mac(mut self, mac: [u8; 6]) -> TapPortConfig {
        self.mac = Some(mac);
        self
    }

    /// Sets the interrupt throttling.
    pub fn itr(mut self, itr: Itr) -> TapPortConfig {
        self.itr = itr;
        self
    }

    /// The MAC address the port gets.
    pub fn port_mac(&self) -> [u8; 6] {
        self.mac.unwrap_or_else(|| {
            // FNV-1a of the name: stable across runs, distinct per name.
            let h = self.ifname.bytes().fold(0x811c_9dc5u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            let h = ((h >> 16) ^ h) as u16;
            let [a, b] = h.to_be_bytes();
            [0x02, 0x6e, 0x74, 0xfe, a, b]
        })
    }
}

/// An igb device of a namespace wired to a TAP: what
/// [`Namespace::add_igb_tap`] returns. Cheap to clone; dropping it leaves
/// the device (and its TAP) in place.
#[derive(Clone)]
pub struct TapPort {
    dev: Arc<IgbNetDev>,
    attachment: Arc<TapAttachment>,
    rx: Arc<RxCounters>,
}

impl TapPort {
    /// The device's index in its namespace.
    pub fn ifindex(&self) -> IfIndex {
        self.dev.ifindex()
    }

    /// The igb device.
    pub fn dev(&self) -> &Arc<IgbNetDev> {
        &self.dev
    }

    /// The Linux interface name (the kernel's choice when asked with "").
    pub fn tap_name(&self) -> &str {
        self.attachment.tap().name()
    }

    /// TAP queues opened (1 on a single-queue TAP whatever was asked).
    pub fn tap_queues(&self) -> usize {
        self.attachment.tap().queues()
    }

    /// Whether the virtio-net header offloads are on.
    pub fn offloads(&self) -> bool {
        self.attachment.tap().offloads()
    }

    /// The TAP attachment's frame counters.
    pub fn stats(&self) -> TapStats {
        self.attachment.stats()
    }

    /// The receive tasks' counters.
    pub fn rx_stats(&self) -> TapRxStats {
        self.rx.snapshot()
    }
}

impl fmt::Debug for TapPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapPort")
            .field("dev", &self.dev.name())
            .field("tap", &self.tap_name())
            .field("queues", &self.tap_queues())
            .field("offloads", &self.offloads())
            .finish()
    }
}

/// What the receive tasks did: the evidence that receive is driven by
/// readiness, not by polling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapRxStats {
    /// Readiness reports the tasks acted on (one per edge, or per burst of
    /// edges that arrived while a task was busy).
    pub wakeups: u64,
    /// Turns that read a full [`RX_BUDGET`] and yielded with more to read.
    pub full_turns: u64,
    /// Queues whose task stopped: the TAP went away or a read failed for
    /// good (the reason is in [`TapStats::rx_errors`]), or the descriptor
    /// could not be registered.
    pub stopped: u64,
}

#[derive(Default)]
struct RxCounters {
    wakeups: AtomicU64,
    full_turns: AtomicU64,
    stopped: AtomicU64,
}

impl RxCounters {
    fn snapshot(&self) -> TapRxStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TapRxStats {
            wakeups: get(&self.wakeups),
            full_turns: get(&self.full_turns),
            stopped: get(&self.stopped),
        }
    }
}

/// Stops the receive tasks when the device that owns it is dropped.
struct RxTasks(Vec<JoinHandle<()>>);

impl Drop for RxTasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl Namespace {
    /// Adds an emulated igb port as device `name`, its wire the Linux TAP
    /// `cfg.ifname` (attached if it exists, created otherwise, in the
    /// network namespace of the *calling thread*), and brings it up. Queue
    /// `q` is polled by core `q % cores` of `rt`, whose reactor also
    /// watches TAP queue `q`. See the [module docs](crate::stack::dev::tap)
    /// for an example.
    ///
    /// Errors: `PermissionDenied` without the right to open a TAP (root,
    /// or `CAP_NET_ADMIN` plus access to `/dev/net/tun`); `NotFound` when
    /// `/dev/net/tun` is missing; `InvalidInput` for zero queues or a bad
    /// interface or device name; `AlreadyExists` if `name` is in use; the
    /// OS error of the TAP set-up otherwise.
    pub fn add_igb_tap(&self, rt: &Handle, name: &str, cfg: &TapPortConfig) -> io::Result<TapPort> {
        if cfg.queues == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a TAP port needs at least one queue pair",
            ));
        }
        if self.device_by_name(name).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("device {name} exists"),
            ));
        }
        let tap = Tap::open(
            &cfg.ifname,
            TapConfig {
                queues: usize::from(cfg.queues),
                vnet_hdr: true,
                offloads: cfg.offloads,
            },
        )?;
        let mut spec = PortSpec::new(cfg.queues, cfg.port_mac());
        spec.driver.itr = cfg.itr;
        let port = EmulatedPort::new(&spec)?;
        let endpoint: Arc<dyn Endpoint> = port.model().clone();
        let attachment = TapAttachment::plug(tap, &endpoint);
        let dev = match self.add_igb(rt, name, port) {
            Ok(dev) => dev,
            Err(e) => {
                attachment.unplug();
                return Err(e);
            }
        };
        let rx = Arc::new(RxCounters::default());
        let cores = rt.cores().max(1);
        let mut tasks = Vec::with_capacity(attachment.fds().len());
        for queue in 0..attachment.fds().len() {
            let task = rx_task(attachment.clone(), queue, rx.clone());
            tasks.push(rt.try_spawn_on(queue % cores, task)?);
        }
        dev.keep_backend(Box::new(RxTasks(tasks)));
        Ok(TapPort {
            dev,
            attachment,
            rx,
        })
    }
}

/// The receive side of TAP queue `queue` (linux: what the NIC's DMA engine
/// does on a real port, driven by the TAP's readiness).
async fn rx_task(attachment: Arc<TapAttachment>, queue: usize, counters: Arc<RxCounters>) {
    // Declared after `attachment`, so dropped before it: the descriptor
    // leaves the epoll set while still open (never a reused number).
    let reg = attachment
        .fds()
        .get(queue)
        .map(|&fd| Registration::new(fd, Interest::READABLE));
    let Some(Ok(reg)) = reg else {
        counters.stopped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    loop {
        // Err: the core is shutting down.
        let Ok(event) = reg.readable().await else {
            return;
        };
        counters.wakeups.fetch_add(1, Ordering::Relaxed);
        loop {
            match attachment.poll_rx(queue, RX_BUDGET) {
                Ok(n) if n >= RX_BUDGET => {
                    counters.full_turns.fetch_add(1, Ordering::Relaxed);
                    crate::runtime::yield_now().await;
                }
                // Fewer than the budget: the read said EAGAIN.
                Ok(n) => {
                    let ready = event.ready();
                    if n == 0 && (ready.is_error() || ready.is_read_closed()) {
                        // The TAP went away: those flags never clear, so
                        // waiting again would spin.
                        counters.stopped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    reg.clear_readiness(event);
                    break;
                }
                // The port is gone, or the TAP fails for good (EBADFD after
                // `ip link del`, EFAULT...: no transient read error is left
                // once EINTR and EAGAIN are handled). Counted by the
                // attachment.
                Err(_) => {
                    counters.stopped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn config_builder_and_derived_mac() {
        let c = TapPortConfig::new("tap0")
            .queues(4)
            .offloads(false)
            .itr(Itr::Max20k);
        assert_eq!((c.queues, c.offloads, c.itr), (4, false, Itr::Max20k));
        let mac = c.port_mac();
        assert_eq!(&mac[..4], &[0x02, 0x6e, 0x74, 0xfe]);
        assert_eq!(mac, TapPortConfig::new("tap0").port_mac(), "stable");
        assert_ne!(mac, TapPortConfig::new("tap1").port_mac(), "per name");
        let m = [2, 0, 0, 0, 0, 9];
        assert_eq!(TapPortConfig::new("tap0").mac(m).port_mac(), m);
    }

    #[test]
    fn zero_queues_and_taken_names_are_refused_before_any_tap_is_opened() {
        let rt = crate::runtime::Builder::new().cores(1).build().unwrap();
        let ns = Namespace::new("t").unwrap();
        let e = ns
            .add_igb_tap(&rt.handle(), "eth0", &TapPortConfig::new("x").queues(0))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = ns
            .add_igb_tap(&rt.handle(), "lo", &TapPortConfig::new("x"))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let e = ns
            .add_igb_tap(&rt.handle(), "eth0", &TapPortConfig::new("bad/name"))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
