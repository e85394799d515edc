//! Packet capture of a namespace's device to a pcap file, over an
//! emulated cable (no privileges needed): both directions are recorded,
//! the file parses back frame for frame, and `tshark -r` reads it when
//! tshark is installed.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use netrt::net::UdpSocket;
use netrt::stack::capture::PcapStats;
use netrt::stack::pcap::{PcapReader, LINKTYPE_ETHERNET};
use netrt::time::timeout;

const DATAGRAMS: usize = 10;

fn temp_pcap(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("netrt-{tag}-{}.pcap", std::process::id()))
}

/// a sends `DATAGRAMS` datagrams to an echo server in b, capturing a's
/// `eth0` into `a_file` and every device of b into `b_file`.
fn echo_captured(a_file: &Path, b_file: &Path) -> (PcapStats, PcapStats) {
    let (rt, topo) = two_namespaces(2, ab_cable());
    let [a, b] = namespaces(&topo, ["a", "b"]);
    let a_eth0 = a.device_by_name("eth0").unwrap().ifindex();
    let cap_a = a.capture_pcap(a_file, Some(a_eth0)).unwrap();
    let cap_b = b.capture_pcap(b_file, None).unwrap();
    rt.block_on(async move {
        let server = b.scope(UdpSocket::bind("10.0.0.2:7")).await.unwrap();
        netrt::spawn(async move {
            let mut buf = [0u8; 2048];
            for _ in 0..DATAGRAMS {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let client = a.scope(UdpSocket::bind("10.0.0.1:0")).await.unwrap();
        let to: SocketAddr = "10.0.0.2:7".parse().unwrap();
        let mut buf = [0u8; 2048];
        for i in 0..DATAGRAMS {
            let msg = vec![i as u8; 100 + i];
            client.send_to(&msg, to).await.unwrap();
            let (n, _) = timeout(Duration::from_secs(5), client.recv_from(&mut buf))
                .await
                .expect("echo in time")
                .unwrap();
            assert_eq!(&buf[..n], &msg[..]);
        }
    });
    (cap_a.finish().unwrap(), cap_b.finish().unwrap())
}

/// (source MAC, UDP payload length) of the UDP frames of a capture.
fn udp_frames(file: &[u8]) -> Vec<([u8; 6], usize)> {
    let reader = PcapReader::new(file).unwrap();
    assert_eq!(reader.link_type(), LINKTYPE_ETHERNET);
    reader
        .map(|r| r.unwrap())
        .filter(|r| r.data.len() >= 42 && r.data[12..14] == [8, 0] && r.data[23] == 17)
        .map(|r| {
            assert_eq!(r.orig_len as usize, r.data.len());
            let udp_len = u16::from_be_bytes([r.data[38], r.data[39]]) as usize;
            (r.data[6..12].try_into().unwrap(), udp_len - 8)
        })
        .collect()
}

#[test]
fn capture_records_sent_and_received_frames() {
    let (fa, fb) = (temp_pcap("cap-a"), temp_pcap("cap-b"));
    let (sa, sb) = echo_captured(&fa, &fb);
    let (a_file, b_file) = (std::fs::read(&fa).unwrap(), std::fs::read(&fb).unwrap());
    let _ = (std::fs::remove_file(&fa), std::fs::remove_file(&fb));
    // a: ARP request out, reply in (b answers, then learns a from the
    // request: no ARP of its own), 10 datagrams each way.
    for (file, stats) in [(&a_file, sa), (&b_file, sb)] {
        assert_eq!(PcapReader::new(file).unwrap().count() as u64, stats.frames);
        assert_eq!(stats.lost, 0);
        assert!(stats.frames >= 2 * DATAGRAMS as u64 + 2, "{stats:?}");
        let udp = udp_frames(file);
        assert_eq!(udp.len(), 2 * DATAGRAMS, "every datagram and echo");
        let a_mac = [0x02, 0x6e, 0x74, 0, 1, 1];
        let from_a: Vec<usize> = udp.iter().filter(|f| f.0 == a_mac).map(|f| f.1).collect();
        let from_b: Vec<usize> = udp.iter().filter(|f| f.0 != a_mac).map(|f| f.1).collect();
        let want: Vec<usize> = (0..DATAGRAMS).map(|i| 100 + i).collect();
        assert_eq!(
            (from_a, from_b),
            (want.clone(), want),
            "both directions, in order"
        );
    }
}

#[test]
fn tshark_reads_the_capture() {
    let probe = Command::new("tshark").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("skipped: tshark is not installed (apt-get install tshark)");
        return;
    }
    let (fa, fb) = (temp_pcap("tshark-a"), temp_pcap("tshark-b"));
    let (sa, _) = echo_captured(&fa, &fb);
    let tshark = |filter: &str| {
        let out = Command::new("tshark")
            .args(["-r", fa.to_str().unwrap(), "-n", "-Y", filter])
            .args(["-T", "fields", "-e", "frame.number", "-e", "udp.length"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "tshark -r failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    let all = tshark("frame");
    let udp = tshark("udp.port == 7");
    let arp = tshark("arp");
    let bad = tshark("_ws.malformed || _ws.expert.severity >= error");
    let _ = (std::fs::remove_file(&fa), std::fs::remove_file(&fb));
    assert_eq!(all.len() as u64, sa.frames, "{all:?}");
    assert_eq!(udp.len(), 2 * DATAGRAMS, "{udp:?}");
    assert!(
        udp[0].ends_with("\t108"),
        "udp.length of the first: {}",
        udp[0]
    );
    assert!(
        arp.len() >= 2,
        "request and reply (and announcements): {arp:?}"
    );
    assert!(bad.is_empty(), "tshark found malformed frames: {bad:?}");
}
