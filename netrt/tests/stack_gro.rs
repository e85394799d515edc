//! GRO over an emulated cable: a burst of in-order TCP segments injected
//! into one port reaches the other namespace as a few large packets with
//! every byte intact (and as single segments with GRO off); UDP is never
//! merged; the knob's errors.

mod common;

use std::io::ErrorKind;
use std::sync::{Arc, Mutex};

use common::*;
use netrt::stack::dev::NetDevice;
use netrt::stack::ptype::TapDirection;
use netrt::stack::skb::PacketBuf;
use netrt::stack::IfIndex;
use netrt::wire::{Ipv4Packet, TcpPacket};

const SEGS: u32 = 40;
const MSS: usize = 1000;
const ISS: u32 = 0xfff0_0000; // the run crosses the sequence wrap

/// Payload byte `i` of the stream.
fn byte(i: usize) -> u8 {
    (i * 7 + i / 251) as u8
}

/// Segment `n` of the stream from 10.0.0.2:5000 to 10.0.0.1:80 (DF,
/// timestamps, valid checksums), as a frame from `src` to `dst`.
fn segment(dst: &dyn NetDevice, src: &dyn NetDevice, n: u32) -> Vec<u8> {
    let mut tcp = vec![0u8; 32 + MSS];
    tcp[0..2].copy_from_slice(&5000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    let seq = ISS.wrapping_add(n * MSS as u32);
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&1u32.to_be_bytes());
    tcp[12] = 8 << 4;
    tcp[13] = 0x10; // ACK
    tcp[14..16].copy_from_slice(&512u16.to_be_bytes());
    tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
    for (i, b) in tcp[32..].iter_mut().enumerate() {
        *b = byte(n as usize * MSS + i);
    }
    TcpPacket::new_unchecked(&mut tcp[..]).fill_checksum(ip("10.0.0.2"), ip("10.0.0.1"));
    let mut f = ipv4_frame(dst.mac(), src.mac(), [10, 0, 0, 2], [10, 0, 0, 1], 6, &tcp);
    f[ETH + 6] = 0x40; // DF
    fix_ip_checksum(&mut f);
    f
}

/// (seq, payload, gro segments) of each TCP frame a's taps saw coming in.
type Log = Arc<Mutex<Vec<(u32, Vec<u8>)>>>;

#[test]
fn segments_of_a_burst_merge_and_arrive_intact() {
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, _b] = namespaces(&topo, ["a", "b"]);
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    assert!(a_dev.gro_enabled(), "on by default");

    let log: Log = Arc::default();
    let l = log.clone();
    let _tap = a.add_packet_tap(move |frame, dir, _| {
        let Ok(ip) = Ipv4Packet::new_checked(frame.get(ETH..).unwrap_or(&[])) else {
            return;
        };
        if dir != TapDirection::In || u8::from(ip.protocol()) != 6 {
            return;
        }
        assert!(ip.verify_checksum(), "a valid IP header");
        assert_eq!(usize::from(ip.total_len()), frame.len() - ETH);
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        l.lock()
            .unwrap()
            .push((tcp.seq_number().0, tcp.payload().to_vec()));
    });

    rt.block_on(async move {
        for gro in [true, false] {
            a.set_gro(a_dev.ifindex(), gro).unwrap();
            log.lock().unwrap().clear();
            let before = a.netif_stats();
            // One burst: the task's frames leave with one tail write and
            // reach a's queue in one NAPI poll.
            for n in 0..SEGS {
                let f = segment(&*a_dev, &*b_dev, n);
                b_dev.xmit(PacketBuf::from_slice(64, &f));
            }
            let want = SEGS as usize * MSS;
            until("the stream to arrive", || {
                log.lock().unwrap().iter().map(|s| s.1.len()).sum::<usize>() >= want
            })
            .await;
            let log = log.lock().unwrap();
            // In order, contiguous, every byte as sent.
            let mut next = ISS;
            let mut stream = Vec::new();
            for (seq, payload) in log.iter() {
                assert_eq!(*seq, next, "gro {gro}");
                next = next.wrapping_add(payload.len() as u32);
                stream.extend_from_slice(payload);
            }
            assert!(stream.iter().enumerate().all(|(i, &b)| b == byte(i)));
            assert_eq!(stream.len(), want);
            let after = a.netif_stats();
            let merged = after.gro_merged - before.gro_merged;
            if gro {
                assert!(log.len() == 1, "{} packets for {SEGS} segments", log.len());
                assert_eq!(merged as usize + log.len(), SEGS as usize);
                assert_eq!(
                    after.gro_packets - before.gro_packets,
                    log.iter().filter(|s| s.1.len() > MSS).count() as u64
                );
            } else {
                assert_eq!(log.len(), SEGS as usize);
                assert_eq!(merged, 0);
            }
        }
    });
}

#[test]
fn udp_is_never_merged() {
    let (rt, topo) = two_namespaces(2, ab_cable());
    let [a, _b] = namespaces(&topo, ["a", "b"]);
    let a_dev = topo.device("a", "eth0").unwrap();
    let b_dev = topo.device("b", "eth0").unwrap();
    let seen = Arc::new(Mutex::new(0usize));
    let s = seen.clone();
    let _tap = a.add_packet_tap(move |frame, dir, _| {
        if dir == TapDirection::In && frame.len() > ETH + 9 && frame[ETH + 9] == 17 {
            *s.lock().unwrap() += 1;
        }
    });
    rt.block_on(async move {
        for n in 0..20u16 {
            let mut udp = vec![0u8; 8 + 100];
            udp[0..2].copy_from_slice(&5000u16.to_be_bytes());
            udp[2..4].copy_from_slice(&9u16.to_be_bytes());
            udp[4..6].copy_from_slice(&108u16.to_be_bytes());
            udp[8..10].copy_from_slice(&n.to_be_bytes());
            let mut f = ipv4_frame(
                a_dev.mac(),
                b_dev.mac(),
                [10, 0, 0, 2],
                [10, 0, 0, 1],
                17,
                &udp,
            );
            f[ETH + 6] = 0x40;
            fix_ip_checksum(&mut f);
            b_dev.xmit(PacketBuf::from_slice(64, &f));
        }
        until("20 datagrams", || *seen.lock().unwrap() == 20).await;
        assert_eq!(a.netif_stats().gro_merged, 0);
    });
}

#[test]
fn knob_errors() {
    let (_rt, topo) = two_namespaces(1, ab_cable());
    let a = topo.ns("a");
    let lo = a.set_gro(IfIndex(1), true).unwrap_err();
    assert_eq!(lo.kind(), ErrorKind::Unsupported);
    let none = a.set_gro(IfIndex(9), true).unwrap_err();
    assert_eq!(none.kind(), ErrorKind::NotFound);
    let dev = topo.device("a", "eth0").unwrap();
    a.set_gro(dev.ifindex(), false).unwrap();
    assert!(!dev.gro_enabled());
}

/// A real TCP stream over the cable with GRO on arrives intact, and GRO
/// did merge its segments.
#[test]
fn tcp_stream_through_gro_is_intact() {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use netrt::net::{TcpListener, TcpStream};
    const LEN: usize = 4 << 20;
    let (rt, topo) = two_namespaces(2, ab_cable().queues(4));
    let [a, b] = namespaces(&topo, ["a", "b"]);
    rt.block_on(async move {
        let listener = b.scope(TcpListener::bind("0.0.0.0:9")).await.unwrap();
        let server = netrt::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::with_capacity(LEN);
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let data: Vec<u8> = (0..LEN).map(byte).collect();
        let mut c = a.scope(TcpStream::connect("10.0.0.2:9")).await.unwrap();
        c.write_all(&data).await.unwrap();
        c.close().await.unwrap();
        let got = server.await.unwrap();
        assert!(got == data, "{} bytes arrived", got.len());
        assert!(b.netif_stats().gro_merged > 0, "{:?}", b.netif_stats());
    });
}
