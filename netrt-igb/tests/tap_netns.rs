//! An emulated port on a real Linux TAP device, talking to the kernel's
//! own network stack. Every test runs in a private network namespace made
//! for its thread (`unshare(CLONE_NEWNET)`), so only interfaces and
//! addresses created there are touched. Needs root (CI runs as root);
//! otherwise each test prints that it was skipped and passes.

mod model_util;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use model_util::{build, ip_csum_ok, l4_csum_ok, naive_csum, pattern, Csum, FrameSpec};
use netrt_igb::attach::{Endpoint, Tap, TapAttachment, TapConfig};
use netrt_igb::desc::{CsumState, L4Type, RxChecksum};
use netrt_igb::driver::{Gather, L3Type, QueueVector, TxOffload};
use netrt_igb::port::{EmulatedPort, PortSpec};

const SKIP: &str = "skipped: TAP tests need root (CAP_NET_ADMIN) to create a network namespace";
const PORT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const PORT_IP: [u8; 4] = [10, 99, 0, 2];
const LINUX_IP: [u8; 4] = [10, 99, 0, 1];
const WAIT: Duration = Duration::from_secs(3);

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
        // A child of this thread sees the new namespace: only `lo`.
        let links = ip(&["-o", "link"]);
        assert_eq!(links.lines().count(), 1, "fresh namespace:\n{links}");
        assert!(links.contains(": lo:"), "{links}");
        f();
        true
    });
    t.join().expect("test thread panicked")
}

/// Runs `ip ARGS` (as a child of the calling thread, so in its namespace).
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dotted(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// Brings `dev` up with the Linux side's address and a static neighbour
/// entry for the port; returns the TAP's MAC address.
fn setup_link(dev: &str) -> [u8; 6] {
    let port_mac = PORT_MAC.map(|b| format!("{b:02x}")).join(":");
    ip(&["link", "set", dev, "up"]);
    ip(&[
        "addr",
        "add",
        &format!("{}/24", dotted(LINUX_IP)),
        "dev",
        dev,
    ]);
    ip(&[
        "neigh",
        "replace",
        &dotted(PORT_IP),
        "lladdr",
        &port_mac,
        "dev",
        dev,
    ]);
    let links = ip(&["-o", "link"]);
    assert!(links.contains(&format!(": {dev}:")), "{links}");
    let show = ip(&["-o", "link", "show", "dev", dev]);
    let mac = show
        .split("link/ether ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("TAP MAC address");
    let mut out = [0u8; 6];
    for (o, part) in out.iter_mut().zip(mac.split(':')) {
        *o = u8::from_str_radix(part, 16).unwrap();
    }
    out
}

/// A port plugged into a TAP, with its one queue vector.
struct Rig {
    att: Arc<TapAttachment>,
    _port: EmulatedPort,
    v: QueueVector,
}

impl Rig {
    fn new(tap: Tap) -> Rig {
        let mut port = EmulatedPort::new(&PortSpec::new(1, PORT_MAC)).unwrap();
        let ep: Arc<dyn Endpoint> = port.model().clone();
        let att = TapAttachment::plug(tap, &ep);
        assert!(port.model().link_up());
        let v = port.take_vectors().remove(0);
        Rig {
            att,
            _port: port,
            v,
        }
    }

    /// Waits for the TAP's descriptors, moves what the kernel sent into
    /// the port and hands each frame the port received to `f`, until `f`
    /// returns true or `WAIT` passes.
    fn pump(&mut self, mut f: impl FnMut(&[u8], RxChecksum) -> bool) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut done = false;
        while !done && Instant::now() < deadline {
            let mut pfds: Vec<libc::pollfd> = (self.att.fds().iter())
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: `pfds` is a live array of `pfds.len()` pollfd structs.
            unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 20) };
            for q in 0..pfds.len() {
                self.att.poll_rx(q, 64).unwrap();
            }
            while self.v.poll(64, |rx| {
                let data = rx.as_slice().expect("standard frames fit one buffer");
                // Every frame is shown to `f`, also after it said done.
                done |= f(data, rx.checksum());
            }) > 0
            {}
        }
        done
    }
}

fn arp_request(tap_ip: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xFF; 6];
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&PORT_IP);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tap_ip);
    f.resize(60, 0);
    f
}

/// ARP round trip: the kernel answers for its address; returns its MAC.
fn arp_round_trip(rig: &mut Rig) -> [u8; 6] {
    assert_eq!(rig.v.tx_burst(&[arp_request(LINUX_IP)]), 1);
    let mut mac = None;
    assert!(
        rig.pump(|f, _| {
            let reply = f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 2];
            if reply && f[28..32] == LINUX_IP && f[38..42] == PORT_IP && f[..6] == PORT_MAC {
                mac = Some(f[22..28].try_into().unwrap());
            }
            mac.is_some()
        }),
        "no ARP reply from the kernel"
    );
    mac.unwrap()
}

fn icmp_echo(dst_mac: [u8; 6], seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&PORT_IP);
    ip.extend_from_slice(&LINUX_IP);
    let c = naive_csum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut icmp = vec![8, 0, 0, 0, 0xBE, 0xEF];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = naive_csum(&[&icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&icmp);
    f
}

#[test]
fn kernel_answers_arp_and_ping_through_the_tap() {
    in_netns(|| {
        let tap = Tap::open("tap0", TapConfig::default()).unwrap();
        assert_eq!((tap.name(), tap.queues()), ("tap0", 1));
        let tap_mac = setup_link("tap0");
        let mut rig = Rig::new(tap);
        assert_eq!(arp_round_trip(&mut rig), tap_mac);

        let payload = pattern(56, 9);
        for seq in 1..=3u16 {
            assert_eq!(rig.v.tx_burst(&[icmp_echo(tap_mac, seq, &payload)]), 1);
            let ok = rig.pump(|f, c| {
                let is_reply = f.len() >= 42 && f[23] == 1 && f[34] == 0;
                if !(is_reply && f[38..40] == [0xBE, 0xEF] && f[40..42] == seq.to_be_bytes()) {
                    return false;
                }
                assert_eq!(c.ip, CsumState::Good);
                assert!(ip_csum_ok(f));
                assert_eq!(naive_csum(&[&f[34..]]), 0, "ICMP checksum");
                assert_eq!((&f[26..30], &f[30..34]), (&LINUX_IP[..], &PORT_IP[..]));
                assert_eq!(&f[42..], &payload[..]);
                true
            });
            assert!(ok, "no echo reply for seq {seq}");
        }
        let s = rig.att.stats();
        assert_eq!((s.tx_frames, s.tx_drops, s.tx_errors), (4, 0, 0), "{s:?}");
        assert!(s.rx_frames >= 4 && s.rx_errors == 0, "{s:?}");
    });
}

fn udp_both_ways(offloads: bool) {
    let cfg = TapConfig {
        offloads,
        ..TapConfig::default()
    };
    let tap = Tap::open("tapu", cfg).unwrap();
    let tap_mac = setup_link("tapu");
    let mut rig = Rig::new(tap);
    // Created on this thread: lives in the test's namespace.
    let sock = UdpSocket::bind((dotted(LINUX_IP), 5555)).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();

    // Port → kernel with checksum offload: the model leaves the seed and
    // the header says NEEDS_CSUM (offloads on) or fills in the checksum.
    let payload = pattern(1000, 3);
    let spec = FrameSpec {
        dst_mac: tap_mac,
        src_mac: PORT_MAC,
        src: PORT_IP,
        dst: LINUX_IP,
        proto: 17,
        sport: 4000,
        dport: 5555,
        ..Default::default()
    };
    let frame = build(&spec, &payload, Csum::Seeded);
    let parts = [&frame[..]];
    let g = Gather {
        parts: &parts,
        offload: Some(TxOffload::checksum(L3Type::Ipv4, L4Type::Udp, 14, 20)),
    };
    assert_eq!(rig.v.tx_burst(&[g]), 1);
    let mut buf = [0u8; 2048];
    let (n, from) = sock
        .recv_from(&mut buf)
        .expect("the kernel accepted the datagram");
    assert_eq!(&buf[..n], &payload[..]);
    assert_eq!(from, SocketAddr::from((PORT_IP, 4000)));

    // Kernel → port: with offloads the kernel leaves the checksum partial;
    // either way the port reports it good.
    let reply = pattern(1200, 4);
    sock.send_to(&reply, SocketAddr::from((PORT_IP, 4000)))
        .unwrap();
    let mut complete = None;
    let got = rig.pump(|f, c| {
        if f.len() < 42 || f[23] != 17 || f[36..38] != 4000u16.to_be_bytes() {
            return false;
        }
        assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
        assert_eq!(&f[42..], &reply[..]);
        complete = Some(l4_csum_ok(f));
        true
    });
    assert!(got, "datagram from the kernel did not arrive");
    if !offloads {
        assert_eq!(complete, Some(true), "without offloads checksums are real");
    }
    let s = rig.att.stats();
    assert_eq!((s.tx_drops, s.tx_errors, s.rx_drops), (0, 0, 0), "{s:?}");
}

#[test]
fn udp_with_checksum_offload_is_accepted_both_ways() {
    in_netns(|| udp_both_ways(true));
}

#[test]
fn udp_without_offloads_carries_real_checksums() {
    in_netns(|| udp_both_ways(false));
}

#[test]
fn tso_frame_crosses_whole_and_the_kernel_sees_all_of_it() {
    in_netns(|| {
        let tap = Tap::open("tapt", TapConfig::default()).unwrap();
        let tap_mac = setup_link("tapt");
        let mut rig = Rig::new(tap);
        // A 20000-byte TCP segment (no ACK flag) to a closed port: the
        // kernel resets it acknowledging every byte it got in one piece.
        let payload = pattern(20_000, 5);
        let spec = FrameSpec {
            dst_mac: tap_mac,
            src_mac: PORT_MAC,
            src: PORT_IP,
            dst: LINUX_IP,
            tcp_flags: 0x08,
            seq: 5000,
            ..Default::default()
        };
        let frame = build(&spec, &payload, Csum::SeededNoLen);
        let parts = [&frame[..54], &frame[54..]];
        let g = Gather {
            parts: &parts,
            offload: Some(TxOffload::tso(L3Type::Ipv4, 14, 20, 20, 1448)),
        };
        assert_eq!(rig.v.tx_burst(&[g]), 1);
        let mut acks = Vec::new();
        let got = rig.pump(|f, c| {
            let rst = f.len() >= 54 && f[23] == 6 && f[47] & 0x04 != 0;
            if rst {
                assert_eq!(c.l4, CsumState::Good);
                acks.push(u32::from_be_bytes(f[42..46].try_into().unwrap()));
            }
            rst
        });
        assert!(got, "no reset from the kernel");
        assert_eq!(
            acks,
            [5000 + 20_000],
            "one reset acknowledging the whole frame"
        );
        let s = rig.att.stats();
        assert_eq!((s.tx_frames, s.tx_gso, s.tx_errors), (1, 1, 0), "{s:?}");
    });
}

/// A TCP frame from the port to the kernel with correct checksums.
fn tcp_to_kernel(
    tap_mac: [u8; 6],
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    mss: bool,
) -> Vec<u8> {
    let mut f = build(
        &FrameSpec {
            dst_mac: tap_mac,
            src_mac: PORT_MAC,
            src: PORT_IP,
            dst: LINUX_IP,
            sport: 7000,
            dport,
            seq,
            tcp_flags: flags,
            tcp_hlen: if mss { 24 } else { 20 },
            ..Default::default()
        },
        &[],
        Csum::Full,
    );
    f[42..46].copy_from_slice(&ack.to_be_bytes());
    if mss {
        // MSS 1460, in the NOP padding build() left.
        f[54..58].copy_from_slice(&[2, 4, 0x05, 0xB4]);
    }
    // The checksum again, over the ack (and option) just written.
    f[50..52].copy_from_slice(&[0, 0]);
    let ph = model_util::pseudo(PORT_IP, LINUX_IP, 6, (f.len() - 34) as u16);
    let c = naive_csum(&[&ph, &f[34..]]);
    f[50..52].copy_from_slice(&c.to_be_bytes());
    f
}

#[test]
fn kernel_gso_frames_reach_the_port_as_standard_segments() {
    in_netns(|| {
        let tap = Tap::open("tapg", TapConfig::default()).unwrap();
        let tap_mac = setup_link("tapg");
        let mut rig = Rig::new(tap);
        let data = pattern(200_000, 11);
        let to_send = data.clone();
        // The client thread inherits this thread's namespace.
        let client = std::thread::spawn(move || {
            let mut s = TcpStream::connect_timeout(&(PORT_IP, 7000).into(), WAIT).unwrap();
            s.write_all(&to_send).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        });

        // A hand-made TCP server: SYN-ACK, then acknowledge everything.
        let iss = 1_000_000u32;
        let mut syn = None;
        assert!(rig.pump(|f, _| {
            if f.len() >= 54 && f[23] == 6 && f[47] & 0x02 != 0 {
                let sport = u16::from_be_bytes([f[34], f[35]]);
                syn = Some((sport, u32::from_be_bytes(f[38..42].try_into().unwrap())));
            }
            syn.is_some()
        }));
        let (cport, cseq) = syn.unwrap();
        let mut next = cseq.wrapping_add(1);
        let synack = tcp_to_kernel(tap_mac, cport, iss, next, 0x12, true);
        assert_eq!(rig.v.tx_burst(&[synack]), 1);

        let mut received = Vec::new();
        let mut largest = 0;
        let mut fin = false;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !fin && Instant::now() < deadline {
            let mut acks = Vec::new();
            rig.pump(|f, c| {
                if f.len() < 54 || f[23] != 6 || f[36..38] != 7000u16.to_be_bytes() {
                    return false;
                }
                largest = largest.max(f.len());
                assert_eq!((c.ip, c.l4), (CsumState::Good, CsumState::Good));
                let seq = u32::from_be_bytes(f[38..42].try_into().unwrap());
                let hlen = usize::from(f[46] >> 4) * 4;
                let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
                let body = &f[34 + hlen..14 + total];
                if seq == next {
                    received.extend_from_slice(body);
                    next = next.wrapping_add(body.len() as u32);
                    if f[47] & 0x01 != 0 {
                        next = next.wrapping_add(1);
                        fin = true;
                    }
                }
                acks.push(tcp_to_kernel(tap_mac, cport, iss + 1, next, 0x10, false));
                true
            });
            if let Some(ack) = acks.pop() {
                assert_eq!(rig.v.tx_burst(&[ack]), 1);
            }
        }
        assert!(fin, "no FIN after {} bytes", received.len());
        assert_eq!(received.len(), data.len());
        assert!(received == data, "payload differs");
        assert!(largest <= 1514, "a {largest}-byte frame reached the port");
        let s = rig.att.stats();
        assert!(s.rx_gso > 0, "the kernel sent no GSO frame: {s:?}");
        assert_eq!((s.rx_drops, s.rx_errors), (0, 0), "{s:?}");
        // Close our side so the client's read ends.
        let fin = tcp_to_kernel(tap_mac, cport, iss + 1, next, 0x11, false);
        assert_eq!(rig.v.tx_burst(&[fin]), 1);
        rig.pump(|_, _| false);
        client.join().unwrap();
    });
}

#[test]
fn persistent_single_queue_tap_falls_back_to_one_queue() {
    in_netns(|| {
        ip(&["tuntap", "add", "dev", "t1", "mode", "tap"]);
        let cfg = TapConfig {
            queues: 4,
            ..TapConfig::default()
        };
        let tap = Tap::open("t1", cfg).unwrap();
        assert_eq!((tap.name(), tap.queues(), tap.fds().len()), ("t1", 1, 1));
        let tap_mac = setup_link("t1");
        let mut rig = Rig::new(tap);
        assert_eq!(arp_round_trip(&mut rig), tap_mac);
        // Still persistent after use.
        drop(rig);
        assert!(ip(&["-o", "link"]).contains(": t1:"));
    });
}

#[test]
fn new_tap_gets_every_queue_asked_for() {
    in_netns(|| {
        let cfg = TapConfig {
            queues: 4,
            ..TapConfig::default()
        };
        let tap = Tap::open("tmq", cfg).unwrap();
        assert_eq!(tap.queues(), 4);
        let details = ip(&["-d", "-o", "link", "show", "dev", "tmq"]);
        assert!(details.contains("multi_queue"), "{details}");
        assert!(details.contains("vnet_hdr on"), "{details}");
        let tap_mac = setup_link("tmq");
        let mut rig = Rig::new(tap);
        assert_eq!(arp_round_trip(&mut rig), tap_mac);
        // The device is not persistent: it goes with its descriptors.
        drop(rig);
        assert!(!ip(&["-o", "link"]).contains("tmq"));
    });
}

#[test]
fn unprivileged_open_is_permission_denied_with_a_reason() {
    let check = || {
        let e = Tap::open("tapx", TapConfig::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("CAP_NET_ADMIN"), "{e}");
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        check();
        return;
    }
    std::thread::spawn(move || {
        // SAFETY: the raw system call changes the credentials of this
        // thread only (the kernel keeps them per task; the libc wrapper
        // would change every thread of the test process). The thread ends
        // right after.
        let r = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        check();
    })
    .join()
    .unwrap();
}

#[test]
fn tap_without_virtio_header_carries_plain_frames() {
    in_netns(|| {
        let cfg = TapConfig {
            queues: 1,
            vnet_hdr: false,
            offloads: false,
        };
        let tap = Tap::open("tapn", cfg).unwrap();
        let details = ip(&["-d", "-o", "link", "show", "dev", "tapn"]);
        assert!(details.contains("vnet_hdr off"), "{details}");
        let tap_mac = setup_link("tapn");
        let mut rig = Rig::new(tap);
        assert_eq!(arp_round_trip(&mut rig), tap_mac);
        let s = rig.att.stats();
        assert_eq!((s.tx_frames, s.tx_bytes), (1, 60), "{s:?}");
        assert!(s.rx_frames >= 1 && s.rx_drops == 0, "{s:?}");
    });
}
