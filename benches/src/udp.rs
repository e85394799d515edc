//! UDP benchmarks: 64-byte datagrams between two netrt namespaces over an
//! emulated igb cable against tokio `UdpSocket`s on the kernel's loopback,
//! in the same run, on the same number of cores.
//!
//! Each flow is a client and an echo server. The client keeps a window of
//! datagrams in flight and sends a new one for every echo it receives, so
//! the figure is a sustained rate that a lost datagram cannot stall (a
//! watchdog tops the window up if echoes stop). The figure counts
//! datagrams received by either side per second (two per echo). Each
//! figure is the best of [`REPS`] runs of [`RUN`], interleaved across the
//! systems.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{select, Either};
use netrt::net::UdpSocket;
use netrt::stack::dev::NetDevice;
use netrt::stack::ns::Namespace;
use netrt::stack::snmp::Udp;
use netrt::wire::Ipv4Cidr;
use netrt_igb::driver::Itr;
use netrt_igb::port::{EmulatedPort, PairConfig, PortSpec};
use netrt_igb::rss;

use crate::Table;

const CORES: usize = 2;
const REPS: usize = 2;
const RUN: Duration = Duration::from_millis(1000);
const PAYLOAD: usize = 64;
/// First byte of the datagram that tells a server to stop.
const END: u8 = 0xff;

/// The datagram socket and task operations a flow needs.
trait System: 'static {
    type Sock: Send + Sync + 'static;

    fn send_to(
        s: &Self::Sock,
        buf: &[u8],
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;
    fn recv_from(
        s: &Self::Sock,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
    fn send(s: &Self::Sock, buf: &[u8]) -> impl Future<Output = io::Result<usize>> + Send;
    fn recv(s: &Self::Sock, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;
    fn spawn_on<F>(core: usize, f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send;
}

struct Netrt;

impl System for Netrt {
    type Sock = UdpSocket;

    fn send_to(
        s: &Self::Sock,
        buf: &[u8],
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        std::future::ready(s.try_send_to(buf, to))
    }

    fn recv_from(
        s: &Self::Sock,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        s.recv_from(buf)
    }

    fn send(s: &Self::Sock, buf: &[u8]) -> impl Future<Output = io::Result<usize>> + Send {
        s.send(buf)
    }

    fn recv(s: &Self::Sock, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send {
        s.recv(buf)
    }

    fn spawn_on<F>(core: usize, f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let h = netrt::spawn_on(core, f);
        async move { h.await.expect("task failed") }
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        netrt::time::sleep(d)
    }
}

struct Tokio;

impl System for Tokio {
    type Sock = tokio::net::UdpSocket;

    fn send_to(
        s: &Self::Sock,
        buf: &[u8],
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        s.send_to(buf, to)
    }

    fn recv_from(
        s: &Self::Sock,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        s.recv_from(buf)
    }

    fn send(s: &Self::Sock, buf: &[u8]) -> impl Future<Output = io::Result<usize>> + Send {
        s.send(buf)
    }

    fn recv(s: &Self::Sock, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send {
        s.recv(buf)
    }

    fn spawn_on<F>(_core: usize, f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let h = tokio::spawn(f);
        async move { h.await.expect("task failed") }
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

/// Echoes every datagram back until the end marker arrives.
async fn echo<S: System>(sock: Arc<S::Sock>) {
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = S::recv_from(&sock, &mut buf).await.expect("server recv");
        if n >= 1 && buf[0] == END {
            return;
        }
        // A full queue drops the echo; the client's watchdog copes.
        let _ = S::send_to(&sock, &buf[..n], from).await;
    }
}

/// Keeps `window` datagrams in flight to the peer `sock` is connected to
/// for [`RUN`]; returns the echoes received and the time taken. The
/// watchdog runs on `core`, next to the flow.
async fn client<S: System>(sock: Arc<S::Sock>, window: usize, core: usize) -> (u64, Duration) {
    let progress = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let msg = [7u8; PAYLOAD];
    let mut buf = [0u8; 2048];
    // One round trip first, so that neighbour resolution (whose queue
    // holds only a few datagrams) does not eat the initial window.
    loop {
        let _ = S::send(&sock, &msg).await;
        let reply = pin!(S::recv(&sock, &mut buf));
        if let Either::Left(_) = select(reply, pin!(S::sleep(Duration::from_millis(50)))).await {
            break;
        }
    }
    // Tops the window up when nothing came back for a while (loss).
    let watchdog = S::spawn_on(core, {
        let (sock, progress, done) = (sock.clone(), progress.clone(), done.clone());
        async move {
            let mut seen = 0;
            while !done.load(Ordering::Relaxed) {
                S::sleep(Duration::from_millis(20)).await;
                let now = progress.load(Ordering::Relaxed);
                if now == seen && !done.load(Ordering::Relaxed) {
                    for _ in 0..window {
                        let _ = S::send(&sock, &msg).await;
                    }
                }
                seen = now;
            }
        }
    });
    for _ in 0..window {
        let _ = S::send(&sock, &msg).await;
    }
    let start = Instant::now();
    let mut echoes = 0u64;
    loop {
        S::recv(&sock, &mut buf).await.expect("client recv");
        echoes += 1;
        if echoes.is_multiple_of(256) {
            progress.store(echoes, Ordering::Relaxed);
            if start.elapsed() >= RUN {
                break;
            }
        }
        let _ = S::send(&sock, &msg).await;
    }
    let took = start.elapsed();
    done.store(true, Ordering::Relaxed);
    watchdog.await;
    (echoes, took)
}

/// One flow: the server's socket and the client's, with the core their
/// tasks run on.
struct Flow<S: System> {
    server: Arc<S::Sock>,
    client: Arc<S::Sock>,
    core: usize,
}

/// Runs the flows' clients and echo servers; returns datagrams received
/// per second (both directions, all flows).
async fn run_flows<S: System>(flows: Vec<Flow<S>>, window: usize) -> f64 {
    let mut servers = Vec::new();
    let mut clients = Vec::new();
    for f in &flows {
        servers.push(S::spawn_on(f.core, echo::<S>(f.server.clone())));
        clients.push(S::spawn_on(
            f.core,
            client::<S>(f.client.clone(), window, f.core),
        ));
    }
    let mut rate = 0.0;
    for c in clients {
        let (echoes, took) = c.await;
        rate += 2.0 * echoes as f64 / took.as_secs_f64();
    }
    // Stop the servers (the marker could be lost: repeat until they end).
    for (f, server) in flows.iter().zip(servers) {
        let mut server = pin!(server);
        loop {
            let _ = S::send(&f.client, &[END]).await;
            let tick = pin!(S::sleep(Duration::from_millis(10)));
            if let Either::Left(_) = select(server.as_mut(), tick).await {
                break;
            }
        }
    }
    rate
}

/// What a netrt run measured: the rate, and datagrams the stack dropped
/// (socket buffers, device queues), which the figure must not hide.
struct NetrtRun {
    rate: f64,
    drops: u64,
}

/// A netrt configuration under test: the runtime's transmit batching and
/// the igb interrupt throttling.
#[derive(Clone, Copy)]
struct NetrtConfig {
    name: &'static str,
    tx_batching: bool,
    itr: Itr,
}

/// The configurations every shape runs, first the one before TX batching.
const CONFIGS: [NetrtConfig; 4] = [
    NetrtConfig {
        name: "batching off, ITR off",
        tx_batching: false,
        itr: Itr::Off,
    },
    NetrtConfig {
        name: "batching off, ITR 20k",
        tx_batching: false,
        itr: Itr::Max20k,
    },
    NetrtConfig {
        name: "batching on, ITR 20k",
        tx_batching: true,
        itr: Itr::Max20k,
    },
    NetrtConfig {
        name: "batching on, ITR off",
        tx_batching: true,
        itr: Itr::Off,
    },
];

/// netrt: clients in namespace `a`, servers in `b`, one igb cable with a
/// queue pair per core, configured by `cfg` (`Itr::Off` is `ethtool -C
/// rx-usecs 0`; ~20k interrupts/s caps a window of 32 at its interrupt
/// rate).
fn run_netrt(n_flows: usize, window: usize, cfg: NetrtConfig) -> NetrtRun {
    let rt = netrt::runtime::Builder::new()
        .cores(CORES)
        .tx_batching(cfg.tx_batching)
        .build()
        .expect("netrt runtime");
    let (a, b) = (Namespace::new("a").unwrap(), Namespace::new("b").unwrap());
    let spec = |side: u8| {
        let mut s = PortSpec::new(CORES as u16, [2, 0, 0, 0, 0, side]);
        s.driver.itr = cfg.itr;
        s
    };
    let (pa, pb) = EmulatedPort::pair_with_cable(&PairConfig {
        a: spec(1),
        b: spec(2),
        cable: Default::default(),
    })
    .expect("cable");
    let (client_ip, server_ip) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let da = a.add_igb(&rt.handle(), "eth0", pa).expect("igb");
    let db = b.add_igb(&rt.handle(), "eth0", pb).expect("igb");
    a.add_address(da.ifindex(), Ipv4Cidr::new(client_ip, 24).unwrap())
        .unwrap();
    b.add_address(db.ifindex(), Ipv4Cidr::new(server_ip, 24).unwrap())
        .unwrap();
    rt.block_on(async move {
        let mut flows = Vec::new();
        for f in 0..n_flows {
            let core = f % CORES;
            let server = b
                .scope(UdpSocket::bind((server_ip, 0)))
                .await
                .expect("bind");
            let to = server.local_addr().unwrap();
            // Keep each flow on one core end to end (DESIGN "locality
            // first"): the client port is chosen so that RSS delivers both
            // directions to a queue of the core that runs the flow's tasks.
            let mut rejected = Vec::new();
            let client = loop {
                let c = a
                    .scope(UdpSocket::bind((client_ip, 0)))
                    .await
                    .expect("bind");
                let port = c.local_addr().unwrap().port();
                if rx_core(client_ip, server_ip, port, to.port()) == core {
                    break c;
                }
                rejected.push(c);
            };
            drop(rejected);
            client.connect(to).await.expect("connect");
            flows.push(Flow::<Netrt> {
                server: Arc::new(server),
                client: Arc::new(client),
                core,
            });
        }
        let rate = run_flows(flows, window).await;
        let mut drops = 0;
        for (ns, dev) in [(&a, &da), (&b, &db)] {
            let (snmp, dev) = (ns.snmp(), dev.stats());
            drops += snmp.counter(Udp::InErrors) + dev.rx_dropped + dev.tx_dropped;
        }
        NetrtRun { rate, drops }
    })
}

/// The core whose RX queue gets the flow (either direction: the default
/// RSS key is symmetric): queue `reta[hash % 128]`, polled by core
/// `queue % CORES`.
fn rx_core(a: Ipv4Addr, b: Ipv4Addr, a_port: u16, b_port: u16) -> usize {
    let hash = rss::toeplitz(&rss::SYMMETRIC_KEY, &rss::ipv4_4tuple(a, b, a_port, b_port));
    let reta = rss::default_reta(CORES as u16);
    usize::from(reta[hash as usize % rss::RETA_SIZE]) % CORES
}

/// tokio: both ends on 127.0.0.1 through the kernel, multi-thread
/// scheduler with one worker per core.
fn run_tokio(n_flows: usize, window: usize) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CORES)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let mut flows = Vec::new();
        for f in 0..n_flows {
            let server = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let client = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            client
                .connect(server.local_addr().unwrap())
                .await
                .expect("connect");
            flows.push(Flow::<Tokio> {
                server: Arc::new(server),
                client: Arc::new(client),
                core: f % CORES,
            });
        }
        // Run the body on a worker, tokio's fast path.
        tokio::spawn(run_flows(flows, window))
            .await
            .expect("bench task")
    })
}

/// The suite: one row per (flows, window) shape.
pub fn run() -> Table {
    let mut table = Table::new(
        "UDP: 64-byte datagrams/s, netrt namespaces over an emulated igb cable vs tokio on kernel loopback",
        &["netrt", "tokio"],
    );
    let shapes = [
        ("1 flow, window 32", 1, 32),
        ("2 flows, window 32", 2, 32),
        ("1 flow, ping-pong", 1, 1),
    ];
    let mut drops = 0;
    for (name, n_flows, window) in shapes {
        let mut best_netrt = [0.0f64; CONFIGS.len()];
        let mut best_tokio = 0.0f64;
        for _ in 0..REPS {
            for (best, cfg) in best_netrt.iter_mut().zip(CONFIGS) {
                let run = run_netrt(n_flows, window, cfg);
                *best = best.max(run.rate);
                drops += run.drops;
            }
            best_tokio = best_tokio.max(run_tokio(n_flows, window));
        }
        for (best, cfg) in best_netrt.iter().zip(CONFIGS) {
            let row = format!("{name} [{}]", cfg.name);
            table.row(&row, vec![Some(*best), Some(best_tokio)]);
        }
    }
    table.note(format!(
        "{CORES} cores each; datagrams received per second by either side (two per echo), \
         best of {REPS} x {} ms",
        RUN.as_millis()
    ));
    table.note(
        "netrt: flow tasks on the core RSS steers the flow to; batching = the runtime's \
         end-of-batch TX flush (Builder::tx_batching), ITR = igb interrupt throttling",
    );
    table.note(format!(
        "netrt datagrams dropped in the stack (all runs): {drops}"
    ));
    table
}
