//! netrt: a client namespace and a server namespace joined by an emulated
//! igb cable (one queue pair per core, no interrupt throttling), on a
//! runtime of [`CORES`] cores with transmit batching on — the UDP suite's
//! fastest configuration. Tasks of a connection run on the core RSS
//! steers it to: `connect` picks such a port for the calling core, and
//! each core's acceptor takes from its own accept queue first.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use netrt::net::{TcpListener, TcpStream};
use netrt::stack::ns::Namespace;
use netrt::stack::topology::{CableSpec, Topo, Topology};

use super::workload::{self, Side, Stack};
use super::{Figures, CORES};

const CLIENT: &str = "10.0.0.1/24";
const SERVER: &str = "10.0.0.2/24";
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// netrt's TCP between two namespaces.
pub struct Netrt {
    client: Namespace,
    server: Namespace,
    _topo: Topo,
}

impl Stack for Netrt {
    type Listener = TcpListener;
    type Stream = TcpStream;

    fn listen(&self) -> impl Future<Output = io::Result<TcpListener>> + Send {
        TcpListener::bind((SERVER_IP, 0))
    }

    fn listener_addr(l: &TcpListener) -> SocketAddr {
        l.local_addr().expect("listener address")
    }

    async fn accept(l: &TcpListener) -> io::Result<TcpStream> {
        l.accept().await.map(|(s, _)| s)
    }

    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<TcpStream>> + Send {
        TcpStream::connect(addr)
    }

    fn set_nodelay(s: &TcpStream) -> io::Result<()> {
        s.set_nodelay(true)
    }

    fn read<'a>(
        s: &'a mut TcpStream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        AsyncReadExt::read(s, buf)
    }

    fn write_all<'a>(
        s: &'a mut TcpStream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        AsyncWriteExt::write_all(s, buf)
    }

    fn spawn_on<F>(
        &self,
        side: Side,
        core: usize,
        f: F,
    ) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let ns = match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        };
        let h = netrt::spawn_on(core, ns.scope(f));
        async move { h.await.expect("task failed") }
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        netrt::time::sleep(d)
    }
}

/// A netrt configuration under test.
#[derive(Clone, Copy)]
pub struct Config {
    /// TCP segmentation offload: segments of up to `TcpConfig::tso_max`
    /// (netrt's default) handed to the igb driver, which the device cuts;
    /// off sets `tso_max` to 0.
    pub tso: bool,
    /// Generic receive offload on both igb ports.
    pub gro: bool,
}

impl Config {
    /// The main rows' configuration: both offloads on.
    pub const DEFAULT: Config = Config {
        tso: true,
        gro: true,
    };

    /// The variants the data-path shapes also run, with their names.
    pub const VARIANTS: [(&'static str, Config); 3] = [
        (
            "TSO off",
            Config {
                tso: false,
                ..Config::DEFAULT
            },
        ),
        (
            "GRO off",
            Config {
                gro: false,
                ..Config::DEFAULT
            },
        ),
        (
            "TSO and GRO off",
            Config {
                tso: false,
                gro: false,
            },
        ),
    ];
}

/// A runtime and the two namespaces, built fresh for each configuration.
fn setup(cfg: Config) -> (netrt::runtime::Runtime, Arc<Netrt>) {
    let rt = netrt::runtime::Builder::new()
        .cores(CORES)
        .tx_batching(true)
        .build()
        .expect("netrt runtime");
    let topo = Topology::new()
        .namespace("client")
        .namespace("server")
        .cable(
            "client",
            "server",
            CableSpec::new(CLIENT, SERVER).queues(CORES as u16),
        )
        .build(&rt.handle())
        .expect("topology");
    let (client, server) = (topo.ns("client").clone(), topo.ns("server").clone());
    for ns in [&client, &server] {
        let eth0 = ns.device_by_name("eth0").expect("eth0").ifindex();
        ns.set_gro(eth0, cfg.gro).expect("gro");
        if !cfg.tso {
            ns.set_tcp_defaults(|c| c.tso_max = 0);
        }
    }
    let _topo = topo;
    (
        rt,
        Arc::new(Netrt {
            client,
            server,
            _topo,
        }),
    )
}

/// All four measurements.
pub fn run(cfg: Config) -> Figures {
    let (rt, sys) = setup(cfg);
    rt.block_on(workload::all(sys))
}

/// Only the data-path shapes, (a) and (b): the ones an offload changes.
pub fn run_data_path(cfg: Config) -> Figures {
    let (rt, sys) = setup(cfg);
    rt.block_on(workload::data_path(sys))
}
