//! Which core will process the frames of a flow: the locality hint
//! `connect` uses to pick an ephemeral port whose *reply* traffic lands on
//! the calling core (the Seastar trick; DESIGN.md, "Locality first").
//!
//! A device answers [`NetDevice::rx_core`]: for an igb port that is the
//! Toeplitz hash under the port's programmed key, the redirection table,
//! the core polling the chosen queue, and RPS on top if the device has it
//! on; for `lo` it is the sending core. [`rx_core_for`] asks the device a
//! reply from `remote` would come in on (the route's output device, as
//! routing is symmetric on a host).
//!
//! [`NetDevice::rx_core`]: super::dev::NetDevice::rx_core

use std::net::SocketAddrV4;

use netrt_igb::regs::{self, mrqc, rxcsum};
use netrt_igb::rss::{self, Toeplitz, RETA_SIZE};

use super::ipv4::output::out_device;
use super::netif;
use super::ns::NsInner;
use super::percore;

/// The core that will process a TCP frame from `remote` to `local` in
/// namespace `ns`, if the device it arrives on can tell: the route to
/// `remote` gives the device (loopback for a local address), the device
/// gives the core. `None`: no route, or the device cannot predict (the
/// caller then takes any port).
#[allow(dead_code)] // for TCP's connect (issue 5)
pub(crate) fn rx_core_for(
    ns: &NsInner,
    local: SocketAddrV4,
    remote: SocketAddrV4,
) -> Option<usize> {
    let route = percore::with_routes(ns, |r| r.lookup(*remote.ip()))?;
    percore::with_devices(ns, |devs| {
        out_device(devs, &route).ok()?.rx_core(remote, local)
    })
}

/// What an igb port was programmed with for receive steering, read back
/// from its registers once the driver set it up (linux keeps the same
/// shadow: `adapter->rss_key`, `rss_indir_tbl`). Only the driver's port
/// bring-up writes these registers, so the copy stays true.
pub(crate) struct RssSteering {
    /// `RSSRK` as a hash table.
    toeplitz: Toeplitz,
    /// `RETA`, one byte per entry.
    reta: [u8; RETA_SIZE],
    /// `MRQC`: whether RSS is on and which fields are hashed.
    mrqc: u32,
    /// `RXCSUM.PCSD`: the hash is written back to the descriptor (RPS
    /// steers by it; without it RPS sees hash 0 and does not steer).
    hash_reported: bool,
    /// Cores of the runtime polling the port (RPS spreads over them).
    cores: usize,
}

impl RssSteering {
    /// Reads the steering registers through `read_reg`.
    pub(crate) fn from_regs(read_reg: impl Fn(u32) -> u32, cores: usize) -> RssSteering {
        let mut key = [0u8; rss::KEY_LEN];
        for (i, k) in key.chunks_exact_mut(4).enumerate() {
            k.copy_from_slice(&read_reg(regs::rssrk(i as u32)).to_le_bytes());
        }
        let mut reta = [0u8; RETA_SIZE];
        for (i, e) in reta.chunks_exact_mut(4).enumerate() {
            e.copy_from_slice(&read_reg(regs::reta(i as u32)).to_le_bytes());
        }
        RssSteering {
            toeplitz: Toeplitz::new(&key),
            reta,
            mrqc: read_reg(regs::MRQC),
            hash_reported: read_reg(regs::RXCSUM) & rxcsum::PCSD != 0,
            cores: cores.max(1),
        }
    }

    /// The receive queue of a TCP frame `src`→`dst` and the hash the
    /// descriptor reports (0 when none): the device's classification
    /// (`MRQC` fields, Toeplitz, `RETA[hash & 0x7F] & 0xF`; queue 0 when
    /// RSS is off).
    pub(crate) fn tcp_queue(&self, src: SocketAddrV4, dst: SocketAddrV4) -> (u16, u32) {
        if self.mrqc & mrqc::MODE_MASK != mrqc::ENABLE_RSS {
            return (0, 0);
        }
        let hash = if self.mrqc & mrqc::FIELD_IPV4_TCP != 0 {
            let input = rss::ipv4_4tuple(*src.ip(), *dst.ip(), src.port(), dst.port());
            self.toeplitz.hash(&input)
        } else if self.mrqc & mrqc::FIELD_IPV4 != 0 {
            self.toeplitz.hash(&rss::ipv4_2tuple(*src.ip(), *dst.ip()))
        } else {
            return (0, 0);
        };
        let reported = if self.hash_reported { hash } else { 0 };
        (rss::reta_queue(&self.reta, hash), reported)
    }

    /// The core processing a TCP frame `src`→`dst`: the core polling its
    /// queue (`poll_core`, `None` for a queue the port lacks — the device
    /// drops such frames), or with RPS on, where RPS steers it from there
    /// (linux: `get_rps_cpu`).
    pub(crate) fn rx_core(
        &self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        rps: bool,
        poll_core: impl FnOnce(u16) -> Option<usize>,
    ) -> Option<usize> {
        let (queue, hash) = self.tcp_queue(src, dst);
        let polling = poll_core(queue)?;
        if rps {
            if let Some(core) = netif::rps_core(hash, self.cores) {
                return Some(core);
            }
        }
        Some(polling)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    /// A register file as `Port::open` programs it: `queues` queues,
    /// symmetric key, 4-tuple hashing, hash write-back.
    fn regs_of(queues: u16, mrqc_bits: u32, pcsd: bool) -> HashMap<u32, u32> {
        let mut r = HashMap::new();
        for (i, k) in rss::SYMMETRIC_KEY.chunks_exact(4).enumerate() {
            r.insert(
                regs::rssrk(i as u32),
                u32::from_le_bytes(k.try_into().unwrap()),
            );
        }
        for (i, e) in rss::default_reta(queues).chunks_exact(4).enumerate() {
            r.insert(
                regs::reta(i as u32),
                u32::from_le_bytes(e.try_into().unwrap()),
            );
        }
        r.insert(regs::MRQC, mrqc_bits);
        r.insert(regs::RXCSUM, if pcsd { rxcsum::PCSD } else { 0 });
        r
    }

    fn steering(r: &HashMap<u32, u32>, cores: usize) -> RssSteering {
        RssSteering::from_regs(|off| r.get(&off).copied().unwrap_or(0), cores)
    }

    fn sa(ip: [u8; 4], port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(ip), port)
    }

    const TCP4: u32 = mrqc::ENABLE_RSS | mrqc::FIELD_IPV4 | mrqc::FIELD_IPV4_TCP;

    #[test]
    fn queue_follows_toeplitz_and_reta() {
        let s = steering(&regs_of(4, TCP4, true), 2);
        let reta = rss::default_reta(4);
        let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let mut seen = [false; 4];
        for port in 40_000..40_256 {
            let input = rss::ipv4_4tuple(a.into(), b.into(), port, 80);
            let hash = rss::toeplitz(&rss::SYMMETRIC_KEY, &input);
            let (q, reported) = s.tcp_queue(sa(a, port), sa(b, 80));
            assert_eq!(reported, hash);
            assert_eq!(q, rss::reta_queue(&reta, hash));
            // Symmetric key: the reverse direction lands on the same queue.
            assert_eq!(s.tcp_queue(sa(b, 80), sa(a, port)).0, q);
            seen[usize::from(q)] = true;
        }
        assert_eq!(seen, [true; 4], "ports spread over every queue");
    }

    #[test]
    fn mrqc_fields_and_pcsd() {
        let (a, b) = (sa([10, 0, 0, 1], 1234), sa([10, 0, 0, 2], 80));
        // RSS off: queue 0, no hash.
        let off = steering(&regs_of(4, 0, true), 2);
        assert_eq!(off.tcp_queue(a, b), (0, 0));
        // Addresses only: ports do not matter.
        let two = steering(&regs_of(4, mrqc::ENABLE_RSS | mrqc::FIELD_IPV4, true), 2);
        let h2 = rss::toeplitz(&rss::SYMMETRIC_KEY, &rss::ipv4_2tuple(*a.ip(), *b.ip()));
        assert_eq!(two.tcp_queue(a, b).1, h2);
        assert_eq!(two.tcp_queue(sa([10, 0, 0, 1], 999), b).1, h2);
        // No write-back: the queue is still chosen, RPS sees no hash.
        let quiet = steering(&regs_of(4, TCP4, false), 2);
        let loud = steering(&regs_of(4, TCP4, true), 2);
        assert_eq!(quiet.tcp_queue(a, b).0, loud.tcp_queue(a, b).0);
        assert_eq!(quiet.tcp_queue(a, b).1, 0);
    }

    #[test]
    fn rx_core_maps_queue_then_rps() {
        let s = steering(&regs_of(4, TCP4, true), 2);
        for port in 1000..1100 {
            let (src, dst) = (sa([10, 0, 0, 2], 80), sa([10, 0, 0, 1], port));
            let (q, hash) = s.tcp_queue(src, dst);
            let core = s.rx_core(src, dst, false, |q| Some(usize::from(q) % 2));
            assert_eq!(core, Some(usize::from(q) % 2));
            let rps = s.rx_core(src, dst, true, |q| Some(usize::from(q) % 2));
            let expect = netif::rps_core(hash, 2).unwrap_or(usize::from(q) % 2);
            assert_eq!(rps, Some(expect));
            // A queue the port lacks: the frame is dropped, no core.
            assert_eq!(s.rx_core(src, dst, false, |_| None), None);
        }
    }

    /// Where real frames from b to a are processed (the core a packet tap
    /// of a runs on) matches `rx_core_for` for every port: 4 queues on a
    /// 2-core runtime, with RPS off and on, and over loopback.
    #[test]
    fn prediction_matches_where_frames_are_processed() {
        use crate::net::UdpSocket;
        use crate::runtime::Builder;
        use crate::stack::ptype::TapDirection;
        use crate::stack::topology::{CableSpec, Topology};
        use std::sync::{Arc, Mutex};
        use std::time::{Duration, Instant};

        const PORTS: std::ops::Range<u16> = 40_000..40_200;
        const SERVER: u16 = 7;
        let rt = Builder::new().cores(2).build().unwrap();
        let topo = Topology::new()
            .namespace("a")
            .namespace("b")
            .cable(
                "a",
                "b",
                CableSpec::new("10.0.0.1/24", "10.0.0.2/24").queues(4),
            )
            .build(&rt.handle())
            .unwrap();
        let (a, b) = (topo.ns("a").clone(), topo.ns("b").clone());
        let a_dev = topo.device("a", "eth0").unwrap();
        let (local_ip, remote_ip) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));

        // (destination port, core) of every UDP datagram a processes.
        let seen = Arc::new(Mutex::new(HashMap::<u16, usize>::new()));
        let log = seen.clone();
        let _tap = a.add_packet_tap(move |frame, dir, _| {
            let ip = frame.get(14..).unwrap_or(&[]);
            if dir != TapDirection::In || frame.get(12..14) != Some(&[8, 0]) || ip.len() < 28 {
                return;
            }
            let l4 = usize::from(ip[0] & 0xF) * 4;
            if ip[9] != 17 || ip.len() < l4 + 8 {
                return;
            }
            let dport = u16::from_be_bytes([ip[l4 + 2], ip[l4 + 3]]);
            let core = crate::runtime::current_core().expect("processed on a core");
            log.lock().unwrap().insert(dport, core);
        });
        let a_pred = a.clone();
        let predict = move |port: u16| {
            rx_core_for(
                &a_pred.0,
                SocketAddrV4::new(local_ip, port),
                SocketAddrV4::new(remote_ip, SERVER),
            )
        };

        rt.block_on(async move {
            let sock = b.scope(UdpSocket::bind((remote_ip, SERVER))).await.unwrap();
            for rps in [false, true] {
                a_dev.set_rps(rps);
                seen.lock().unwrap().clear();
                for (i, port) in PORTS.enumerate() {
                    sock.send_to(b"x", (local_ip, port)).await.unwrap();
                    if i == 0 {
                        // Let ARP resolve before the burst.
                        crate::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                while seen.lock().unwrap().len() < PORTS.len() && Instant::now() < deadline {
                    crate::time::sleep(Duration::from_millis(5)).await;
                }
                let seen = seen.lock().unwrap();
                let mut per_core = [0usize; 2];
                for port in PORTS {
                    let actual = seen.get(&port).copied();
                    assert!(actual.is_some(), "port {port} never arrived (rps {rps})");
                    assert_eq!(predict(port), actual, "port {port}, rps {rps}");
                    per_core[actual.unwrap()] += 1;
                }
                // Both cores take a share: the test tells cores apart.
                assert!(per_core.iter().all(|&n| n > 20), "{per_core:?}");
            }

            // Loopback: processed on the sending core, whichever it is.
            for core in 0..2 {
                let a = a.clone();
                let seen = seen.clone();
                crate::spawn_on(core, async move {
                    let port = 50_000 + core as u16;
                    let s = a.scope(UdpSocket::bind((local_ip, 0))).await.unwrap();
                    let here = SocketAddrV4::new(local_ip, port);
                    let from = match s.local_addr().unwrap() {
                        std::net::SocketAddr::V4(v4) => v4,
                        other => panic!("{other}"),
                    };
                    assert_eq!(rx_core_for(&a.0, here, from), Some(core));
                    s.send_to(b"lo", here).await.unwrap();
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !seen.lock().unwrap().contains_key(&port) && Instant::now() < deadline {
                        crate::time::sleep(Duration::from_millis(5)).await;
                    }
                    assert_eq!(seen.lock().unwrap().get(&port), Some(&core));
                })
                .await
                .unwrap();
            }
        });
    }
}
