//! A namespace whose igb port is wired to a real Linux TAP, driven by the
//! runtime's reactor, talking to the kernel's stack: Linux pings it, sends
//! it UDP (with and without the virtio-net offloads), and a persistent
//! single-queue TAP made by `ip tuntap` works too.
//!
//! Every test runs on a thread moved into a fresh network namespace
//! (`unshare(CLONE_NEWNET)`): the TAP, its addresses and the Linux
//! programs (`ip`, `ping`, sockets) all live there, so only addresses
//! inside it are used and everything vanishes with the thread. Needs root
//! (CI runs as root); otherwise each test prints that it was skipped.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdp};
use std::process::Command;
use std::time::{Duration, Instant};

use netrt::net::UdpSocket;
use netrt::runtime::{Builder, Handle, Runtime};
use netrt::stack::dev::tap::{TapPort, TapPortConfig};
use netrt::stack::dev::NetDevice;
use netrt::stack::ns::Namespace;
use netrt::stack::pcap::PcapReader;
use netrt::stack::topology::{parse_cidr, Topology};

const SKIP: &str = "skipped: TAP tests need root (CAP_NET_ADMIN) to create a network namespace";
const NETRT_IP: &str = "10.77.0.2";
const LINUX_IP: &str = "10.77.0.1";

/// Runs `f` on a thread living in a fresh network namespace; false (and a
/// printed line) when that is not permitted.
fn in_netns(f: impl FnOnce() + Send + 'static) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("{SKIP}");
        return false;
    }
    let t = std::thread::spawn(move || {
        // SAFETY: unshare(CLONE_NEWNET) moves only the calling thread into
        // a new network namespace; no memory is involved.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let e = io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "unshare: {e}");
            println!("{SKIP}");
            return false;
        }
        let links = ip(&["-o", "link"]);
        assert_eq!(links.lines().count(), 1, "fresh namespace:\n{links}");
        f();
        true
    });
    t.join().expect("test thread panicked")
}

/// Runs a program as a child of the calling thread (so in its namespace);
/// its status and output.
fn run(prog: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {prog}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn ip(args: &[&str]) -> String {
    let (ok, out) = run("ip", args);
    assert!(ok, "ip {args:?}: {out}");
    out
}

/// Runs blocking `f` (a Linux program, a kernel socket) on a thread of its
/// own, in the caller's network namespace, without blocking the core.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.expect("blocking helper thread panicked")
}

/// A namespace with its TAP port at 10.77.0.2/24 and the Linux side of the
/// TAP up at 10.77.0.1/24, on a two-core runtime (core 0 runs only inside
/// `block_on`).
struct Rig {
    ns: Namespace,
    port: TapPort,
    rt: Handle,
}

impl Rig {
    fn new(cfg: TapPortConfig) -> (Runtime, Rig) {
        let rt = Builder::new().cores(2).build().unwrap();
        let ns = Namespace::new("tapped").unwrap();
        let port = ns.add_igb_tap(&rt.handle(), "eth0", &cfg).unwrap();
        let tap = port.tap_name().to_string();
        ip(&["link", "set", &tap, "up"]);
        ip(&["addr", "add", &format!("{LINUX_IP}/24"), "dev", &tap]);
        // After the TAP is up: its gratuitous ARP would otherwise meet a
        // down interface (EIO, counted as a TX error).
        ns.add_address(
            port.ifindex(),
            parse_cidr(&format!("{NETRT_IP}/24")).unwrap(),
        )
        .unwrap();
        let h = rt.handle();
        (rt, Rig { ns, port, rt: h })
    }

    /// `ping -c count -s size` of the netrt address from Linux, which must
    /// see every reply.
    async fn ping(&self, count: usize, size: usize) -> String {
        let (count_s, size_s) = (count.to_string(), size.to_string());
        let (ok, out) = blocking(move || {
            run(
                "ping",
                &[
                    "-c", &count_s, "-i", "0.2", "-W", "3", "-s", &size_s, NETRT_IP,
                ],
            )
        })
        .await;
        assert!(ok, "ping failed:\n{out}");
        let want = format!("{count} packets transmitted, {count} received, 0% packet loss");
        assert!(out.contains(&want), "{out}");
        out
    }

    /// Task polls, NAPI polls and fd events of all cores.
    fn core_work(&self) -> (u64, u64, u64) {
        let h = &self.rt;
        (0..h.cores())
            .map(|c| h.core_stats(c).unwrap())
            .fold((0, 0, 0), |(p, n, e), s| {
                (p + s.polls, n + s.napi_polls, e + s.io_events)
            })
    }
}

#[test]
fn linux_pings_a_tap_backed_namespace_driven_by_the_reactor() {
    in_netns(|| {
        let (rt, rig) = Rig::new(TapPortConfig::new("nt0").queues(2));
        assert_eq!(
            rig.port.tap_queues(),
            2,
            "multi-queue TAP, one per igb queue"
        );
        assert_eq!(rig.port.dev().num_queues(), 2);
        assert!(rig.port.offloads());
        let details = ip(&["-d", "-o", "link", "show", "dev", "nt0"]);
        assert!(
            details.contains("multi_queue") && details.contains("vnet_hdr on"),
            "{details}"
        );
        let pcap = std::env::temp_dir().join(format!("netrt-tap-ping-{}.pcap", std::process::id()));
        let cap = rig
            .ns
            .capture_pcap(&pcap, Some(rig.port.ifindex()))
            .unwrap();

        rt.block_on(async {
            rig.ping(5, 56).await;
            // 3000-byte echoes: fragments both ways through the TAP.
            rig.ping(2, 3000).await;
            // The last reply's writer adds to the counters after its
            // `writev`, which may have woken ping first: let it finish.
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut st = rig.port.stats();
            while st.tx_frames < 5 + 2 * 3 && Instant::now() < deadline {
                netrt::time::sleep(Duration::from_millis(5)).await;
                st = rig.port.stats();
            }
            assert!(st.rx_frames >= 5 + 2 * 3, "{st:?}");
            assert!(st.tx_frames >= 5 + 2 * 3, "{st:?}");
            let errors = (st.rx_drops, st.rx_errors, st.tx_drops, st.tx_errors);
            assert_eq!(errors, (0, 0, 0, 0), "{st:?}");

            // Reactor-driven: readiness woke the receive tasks ...
            let rx = rig.port.rx_stats();
            assert!(
                rx.wakeups >= 1 && rx.wakeups <= st.rx_frames,
                "{rx:?} {st:?}"
            );
            assert_eq!(rx.stopped, 0);
            // ... and with no traffic the cores sleep: no busy polling.
            netrt::time::sleep(Duration::from_millis(100)).await;
            let before = rig.core_work();
            netrt::time::sleep(Duration::from_millis(500)).await;
            let after = rig.core_work();
            let (polls, napi, events) =
                (after.0 - before.0, after.1 - before.1, after.2 - before.2);
            assert!(
                polls < 20 && napi < 20 && events < 20,
                "idle cores kept working: {polls} task polls, {napi} NAPI polls, \
                 {events} fd events in 500 ms"
            );
            assert!(rig.rt.core_stats(1).unwrap().parked, "idle core 1 parks");
        });

        let stats = cap.finish().unwrap();
        let file = std::fs::read(&pcap).unwrap();
        let _ = std::fs::remove_file(&pcap);
        let mut frames = 0;
        let (mut requests, mut replies) = (0, 0);
        for rec in PcapReader::new(&file).unwrap() {
            let d = rec.unwrap().data;
            frames += 1;
            // IPv4, ICMP, first fragment: the ICMP type.
            let first_fragment = d.len() > 34 && (d[20] & 0x1f, d[21]) == (0, 0);
            if first_fragment && d[12..14] == [8, 0] && d[23] == 1 {
                match d[34] {
                    8 => requests += 1,
                    0 => replies += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(frames, stats.frames);
        assert_eq!(
            (requests, replies),
            (7, 7),
            "every echo in, every reply out"
        );
    });
}

/// Linux sends datagrams of several sizes to an echo server in the
/// namespace and checks what comes back.
fn udp_echo_from_linux(offloads: bool) {
    in_netns(move || {
        let (rt, rig) = Rig::new(TapPortConfig::new("nu0").offloads(offloads));
        assert_eq!(rig.port.offloads(), offloads);
        rt.block_on(async move {
            let sock = rig.ns.scope(UdpSocket::bind((NETRT_IP, 7))).await.unwrap();
            let echo = netrt::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let (n, from) = sock.recv_from(&mut buf).await.unwrap();
                    sock.send_to(&buf[..n], from).await.unwrap();
                }
            });
            blocking(move || linux_udp_client(offloads)).await;
            echo.abort();
            let st = rig.port.stats();
            assert_eq!(
                (st.rx_drops, st.tx_drops, st.tx_errors),
                (0, 0, 0),
                "{st:?}"
            );
            let snmp = rig.ns.snmp();
            assert_eq!(snmp.counter(netrt::stack::snmp::Udp::InCsumErrors), 0);
        });
    });
}

/// The Linux side of [`udp_echo_from_linux`] (a kernel socket, made on
/// this thread, so in the test's network namespace).
fn linux_udp_client(offloads: bool) {
    let linux = StdUdp::bind((Ipv4Addr::new(10, 77, 0, 1), 0)).unwrap();
    linux
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let to: SocketAddr = format!("{NETRT_IP}:7").parse().unwrap();
    let mut buf = vec![0u8; 65536];
    for (i, len) in [1usize, 100, 1472, 1473, 9000, 30000]
        .into_iter()
        .enumerate()
    {
        let msg: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
        // The first datagram may wait for ARP: resend until echoed.
        let deadline = Instant::now() + Duration::from_secs(5);
        let n = loop {
            linux.send_to(&msg, to).unwrap();
            match linux.recv_from(&mut buf) {
                Ok((n, from)) => {
                    assert_eq!(from, to);
                    break n;
                }
                Err(e) if Instant::now() < deadline => {
                    let kind = e.kind();
                    assert!(matches!(
                        kind,
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ));
                }
                Err(e) => panic!("no echo of {len} bytes (offloads {offloads}): {e}"),
            }
        };
        assert_eq!(&buf[..n], &msg[..], "{len}-byte echo");
    }
}

#[test]
fn udp_echo_with_vnet_offloads() {
    udp_echo_from_linux(true);
}

#[test]
fn udp_echo_without_vnet_offloads() {
    udp_echo_from_linux(false);
}

#[test]
fn persistent_single_queue_tap_is_attached_and_outlives_the_port() {
    in_netns(|| {
        ip(&["tuntap", "add", "dev", "pt0", "mode", "tap"]);
        let (rt, rig) = Rig::new(TapPortConfig::new("pt0").queues(2));
        assert_eq!(rig.port.tap_name(), "pt0");
        assert_eq!(
            rig.port.tap_queues(),
            1,
            "a plain `ip tuntap` TAP has one queue"
        );
        assert_eq!(
            rig.port.dev().num_queues(),
            2,
            "the igb port keeps its queues"
        );
        rt.block_on(async move {
            rig.ping(3, 56).await;
        });
        assert!(
            ip(&["-o", "link"]).contains(": pt0:"),
            "persistent TAP stays"
        );
    });
}

#[test]
fn a_created_tap_goes_away_with_its_namespace() {
    in_netns(|| {
        let rt = Builder::new().cores(2).build().unwrap();
        let ns = Namespace::new("short").unwrap();
        let cfg = TapPortConfig::new("gone0").queues(2);
        let port = ns.add_igb_tap(&rt.handle(), "eth0", &cfg).unwrap();
        assert!(ip(&["-o", "link"]).contains(": gone0:"));
        rt.block_on(async move {
            // Let the receive tasks start and register.
            netrt::time::sleep(Duration::from_millis(50)).await;
            drop((port, ns));
            // The runtime lives on: the device's drop stopped the receive
            // tasks, which closed the last descriptors.
            let deadline = Instant::now() + Duration::from_secs(3);
            while blocking(|| ip(&["-o", "link"])).await.contains("gone0") {
                assert!(
                    Instant::now() < deadline,
                    "TAP still there after the namespace went"
                );
                netrt::time::sleep(Duration::from_millis(10)).await;
            }
        });
    });
}

#[test]
fn without_permission_the_error_says_what_is_needed() {
    let check = || {
        let rt = Builder::new().cores(1).build().unwrap();
        let ns = Namespace::new("denied").unwrap();
        let e = ns
            .add_igb_tap(&rt.handle(), "eth0", &TapPortConfig::new("nope0"))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        let msg = e.to_string();
        for needed in ["root", "CAP_NET_ADMIN", "/dev/net/tun"] {
            assert!(msg.contains(needed), "{msg}");
        }
        assert!(ns.device_by_name("eth0").is_none());
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        check();
        return;
    }
    std::thread::spawn(move || {
        // SAFETY: the raw system call changes the credentials of this
        // thread only (the kernel keeps them per task; the libc wrapper
        // would change every thread of the process). The runtime's threads
        // are created after it, so they inherit the unprivileged ids too.
        let r = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        check();
    })
    .join()
    .unwrap();
}

#[test]
fn topology_wires_a_namespace_to_a_prepared_tap() {
    in_netns(|| {
        // The README flow: the Linux side prepared first, then the program.
        ip(&["tuntap", "add", "dev", "tt0", "mode", "tap"]);
        ip(&["link", "set", "tt0", "up"]);
        ip(&["addr", "add", &format!("{LINUX_IP}/24"), "dev", "tt0"]);
        let rt = Builder::new().cores(2).build().unwrap();
        let topo = Topology::new()
            .namespace("server")
            .tap(
                "server",
                &format!("{NETRT_IP}/24"),
                TapPortConfig::new("tt0"),
            )
            .route("server", &format!("default via {LINUX_IP}"))
            .build(&rt.handle())
            .unwrap();
        let port = topo.tap_port("tt0").unwrap().clone();
        let server = topo.ns("server").clone();
        assert_eq!(
            topo.device("server", "eth0").unwrap().ifindex(),
            port.ifindex()
        );
        let far = server
            .routes()
            .lookup("192.0.2.1".parse().unwrap())
            .unwrap();
        assert_eq!(far.next_hop.to_string(), LINUX_IP);
        let rig = Rig {
            ns: server,
            port,
            rt: rt.handle(),
        };
        rt.block_on(async {
            rig.ping(3, 56).await;
        });
        let st = rig.port.stats();
        assert_eq!(
            (st.tx_errors, st.tx_drops),
            (0, 0),
            "announcement went out: {st:?}"
        );
        let text = topo.to_string();
        assert!(
            text.contains("tap server/eth0 <-> linux tt0 (1 queues, offloads on)"),
            "{text}"
        );
    });
}
