//! Transmit batching across a task batch (`Builder::tx_batching`): sends
//! made by tasks are queued and handed to the igb ring once per batch (one
//! tail write per burst), every datagram still arrives, and a task that
//! sends and then waits for the answer is never left waiting on its own
//! unsent datagram.

use std::net::SocketAddr;
use std::time::Duration;

use netrt::net::UdpSocket;
use netrt::runtime::{Builder, Runtime};
use netrt::stack::dev::NetDevice;
use netrt::stack::topology::{CableSpec, Topo, Topology};
use netrt::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
/// Datagrams in the burst: more than one TX burst (64), less than the
/// rings (so the count of tail writes is exact).
const BURST: usize = 150;

fn network(cores: usize, tx_batching: bool) -> (Runtime, Topo) {
    let rt = Builder::new()
        .cores(cores)
        .tx_batching(tx_batching)
        .build()
        .unwrap();
    let topo = Topology::new()
        .namespace("a")
        .namespace("b")
        .cable("a", "b", CableSpec::new("10.0.0.1/24", "10.0.0.2/24"))
        .build(&rt.handle())
        .unwrap();
    (rt, topo)
}

/// Sends [`BURST`] numbered datagrams from `a` to `b` in one poll of one
/// task and receives them all. Returns the tail writes of `a`'s TX queue
/// made by the burst.
fn burst(tx_batching: bool) -> u64 {
    let (rt, topo) = network(1, tx_batching);
    let (a, b) = (topo.ns("a").clone(), topo.ns("b").clone());
    let dev = topo.device("a", "eth0").unwrap();
    rt.block_on(async move {
        let rx = b.scope(UdpSocket::bind("10.0.0.2:0")).await.unwrap();
        // Room for the whole burst (one pooled buffer per datagram).
        rx.set_recv_buffer_size(4 << 20).unwrap();
        let to: SocketAddr = rx.local_addr().unwrap();
        let tx = a.scope(UdpSocket::bind("10.0.0.1:0")).await.unwrap();
        let mut buf = [0u8; 64];
        // Resolve the neighbour first: its queue holds only a few datagrams.
        tx.send_to(b"warm-up", to).await.unwrap();
        let n = timeout(WAIT, rx.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"warm-up");

        let before = dev.queue_stats(0).unwrap().tx_tail_writes;
        let sent_before = dev.stats().tx_packets;
        let sender = netrt::spawn(async move {
            for i in 0..BURST as u32 {
                tx.try_send_to(&i.to_be_bytes(), to).unwrap();
            }
            tx
        });
        let mut seen = [false; BURST];
        for _ in 0..BURST {
            let n = timeout(WAIT, rx.recv(&mut buf)).await.unwrap().unwrap();
            assert_eq!(n, 4);
            let i = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            assert!(!seen[i], "datagram {i} arrived twice");
            seen[i] = true;
        }
        drop(sender.await.unwrap());
        let stats = dev.stats();
        assert_eq!(stats.tx_packets - sent_before, BURST as u64);
        assert_eq!(stats.tx_dropped, 0);
        dev.queue_stats(0).unwrap().tx_tail_writes - before
    })
}

#[test]
fn a_task_burst_is_one_tail_write_per_64_frames() {
    let writes = burst(true);
    // 150 frames: two full bursts when the qdisc reaches 64, the rest at
    // the end of the task batch.
    assert_eq!(writes, BURST.div_ceil(64) as u64);
}

#[test]
fn without_batching_every_send_writes_the_tail() {
    assert_eq!(burst(false), BURST as u64);
}

#[test]
fn a_send_then_wait_is_flushed_before_the_core_parks() {
    // Ping-pong on one core with no other work: if a send were held past
    // its task batch, the core would park with it and the round trip
    // would time out.
    const ROUNDS: usize = 200;
    for cores in [1, 2] {
        let (rt, topo) = network(cores, true);
        let (a, b) = (topo.ns("a").clone(), topo.ns("b").clone());
        let dev = topo.device("a", "eth0").unwrap();
        rt.block_on(async move {
            let server = b.scope(UdpSocket::bind("10.0.0.2:0")).await.unwrap();
            let to = server.local_addr().unwrap();
            let echo = netrt::spawn_on(cores - 1, async move {
                let mut buf = [0u8; 64];
                for _ in 0..ROUNDS {
                    let (n, from) = server.recv_from(&mut buf).await.unwrap();
                    server.send_to(&buf[..n], from).await.unwrap();
                }
            });
            let client = a.scope(UdpSocket::bind("10.0.0.1:0")).await.unwrap();
            client.connect(to).await.unwrap();
            let before = dev.queue_stats(0).unwrap().tx_tail_writes;
            let mut buf = [0u8; 64];
            for i in 0..ROUNDS as u32 {
                client.send(&i.to_be_bytes()).await.unwrap();
                // Short: a held datagram would only go out by luck.
                let n = timeout(Duration::from_secs(2), client.recv(&mut buf))
                    .await
                    .expect("echo lost: a send was not flushed")
                    .unwrap();
                assert_eq!(&buf[..n], &i.to_be_bytes());
            }
            timeout(WAIT, echo).await.unwrap().unwrap();
            // One send per round, each its own burst.
            let writes = dev.queue_stats(0).unwrap().tx_tail_writes - before;
            assert!(writes >= ROUNDS as u64, "{writes} tail writes");
        });
    }
}

#[test]
fn topology_cables_do_not_throttle_interrupts_unless_asked() {
    use netrt_igb::driver::Itr;
    use netrt_igb::regs;
    let rt = Builder::new().cores(1).build().unwrap();
    let topo = Topology::new()
        .namespace("a")
        .namespace("b")
        .namespace("c")
        .cable("a", "b", CableSpec::new("", ""))
        .cable("a", "c", CableSpec::new("", "").itr(Itr::Max20k))
        .build(&rt.handle())
        .unwrap();
    let eitr = |ns: &str, dev: &str| {
        let dev = topo.device(ns, dev).unwrap();
        dev.port().port().device().read_reg(regs::eitr(0))
    };
    assert_eq!(eitr("b", "eth0"), Itr::Off.register_value());
    assert_eq!(eitr("c", "eth0"), Itr::Max20k.register_value());
    assert_ne!(Itr::Max20k.register_value(), Itr::Off.register_value());
    drop(topo);
    drop(rt);
}
