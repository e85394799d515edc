//! The network an example runs on: the runtime, and either the
//! self-contained cable demo or a TAP attachment, with optional capture.
//!
//! The demo is two namespaces joined by one emulated igb cable, each port
//! with one queue pair per core:
//!
//! ```text
//! client (10.0.0.1/24) eth0 ──cable── eth0 (10.0.0.2/24) server
//! ```
//!
//! [`run_demo`] runs a finite demo on it; [`run_tap`] runs a program in a
//! namespace wired to a Linux TAP until it finishes or SIGINT/SIGTERM
//! arrives. Both honour `--pcap`: the demo records the server's side of
//! the cable (every frame of the conversation), TAP mode the TAP port.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use futures::future::{self, Either};
use netrt::runtime::{Builder, Handle, Runtime};
use netrt::stack::capture::PcapHandle;
use netrt::stack::dev::tap::{TapPort, TapPortConfig};
use netrt::stack::dev::NetDevice;
use netrt::stack::ns::Namespace;
use netrt::stack::topology::{parse_route, CableSpec, Topo, Topology};
use netrt::stack::IfIndex;
use netrt_igb::attach::Dir;

use crate::args::{Common, TapConfig};

/// The server's address in the demo.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The client's address in the demo.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// A runtime with `--cores` cores.
pub fn runtime(common: &Common) -> io::Result<Runtime> {
    Builder::new()
        .cores(common.cores)
        .thread_name("netrt-example")
        .build()
}

/// The cable demo: a server and a client namespace.
pub struct Demo {
    topo: Topo,
    /// Where the example's server runs ([`SERVER_ADDR`]).
    pub server: Namespace,
    /// Where the demo client runs ([`CLIENT_ADDR`]).
    pub client: Namespace,
}

impl Demo {
    /// Builds the demo network on `rt` (queue pairs per port = cores).
    pub fn build(common: &Common, rt: &Handle) -> io::Result<Demo> {
        let queues = u16::try_from(common.cores)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many cores"))?;
        let topo = Topology::new()
            .namespace("server")
            .namespace("client")
            .cable(
                "client",
                "server",
                CableSpec::new(&format!("{CLIENT_ADDR}/24"), &format!("{SERVER_ADDR}/24"))
                    .queues(queues),
            )
            .build(rt)?;
        Ok(Demo {
            server: topo.ns("server").clone(),
            client: topo.ns("client").clone(),
            topo,
        })
    }

    /// The built topology (devices, cable counters).
    pub fn topo(&self) -> &Topo {
        &self.topo
    }

    /// Frames that crossed the cable, both directions.
    pub fn frames(&self) -> u64 {
        self.topo
            .cables()
            .iter()
            .map(|c| c.cable.stats(Dir::AtoB).delivered + c.cable.stats(Dir::BtoA).delivered)
            .sum()
    }
}

impl fmt::Display for Demo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queues = self
            .topo
            .cables()
            .first()
            .map_or(0, |c| c.a.dev.num_queues());
        write!(
            f,
            "demo network: client {CLIENT_ADDR}/24 <-> emulated igb cable ({queues} queue pair(s)) <-> server {SERVER_ADDR}/24"
        )
    }
}

/// Starts the `--pcap` capture of `dev` (all devices with `None`) of `ns`.
pub fn start_capture(
    common: &Common,
    ns: &Namespace,
    dev: Option<IfIndex>,
) -> io::Result<Option<PcapHandle>> {
    common
        .pcap
        .as_ref()
        .map(|path| ns.capture_pcap(path, dev))
        .transpose()
}

/// Stops a capture and says how much it wrote.
pub fn finish_capture(common: &Common, capture: Option<PcapHandle>) -> io::Result<()> {
    if let (Some(cap), Some(path)) = (capture, &common.pcap) {
        let stats = cap.finish()?;
        println!(
            "pcap: {} frames ({} bytes) written to {}",
            stats.frames,
            stats.bytes,
            path.display()
        );
    }
    Ok(())
}

/// Builds the runtime and the demo network, pings the server from the
/// client, runs `demo(server, client)` to completion on it (on core 0, outside any namespace: scope each part
/// with [`Namespace::scope`]), stops the capture and prints the cable's
/// frame count.
pub fn run_demo<T, F, Fut>(common: &Common, demo: F) -> io::Result<T>
where
    F: FnOnce(Namespace, Namespace) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let rt = runtime(common)?;
    let net = Demo::build(common, &rt.handle())?;
    println!("{net}");
    let server_eth0 = net.topo().device("server", "eth0").map(|d| d.ifindex());
    let capture = start_capture(common, &net.server, server_eth0)?;
    let (server, client) = (net.server.clone(), net.client.clone());
    let out = rt.block_on(async move {
        // The stack answers ping in every example; show it once.
        match client
            .ping(SERVER_ADDR, 1, &[0u8; 56], Duration::from_secs(1))
            .await
        {
            Ok(rtt) => println!("ping {SERVER_ADDR}: reply in {rtt:?}"),
            Err(e) => println!("ping {SERVER_ADDR}: {e}"),
        }
        demo(server, client).await
    });
    finish_capture(common, capture)?;
    println!("cable: {} frames delivered", net.frames());
    out
}

/// A namespace wired to a Linux TAP.
#[derive(Clone)]
pub struct TapNet {
    /// The namespace (device `eth0` on the TAP).
    pub ns: Namespace,
    /// The port.
    pub port: TapPort,
    /// The settings it was made with.
    pub config: TapConfig,
}

impl TapNet {
    /// Opens (or creates) the TAP, adds the igb port with one queue pair
    /// per core, the address and the default route.
    pub fn build(common: &Common, cfg: &TapConfig, rt: &Handle) -> io::Result<TapNet> {
        let queues = u16::try_from(common.cores)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many cores"))?;
        let ns = Namespace::new("tap")?;
        let port = ns
            .add_igb_tap(
                rt,
                "eth0",
                &TapPortConfig::new(&cfg.name)
                    .queues(queues)
                    .offloads(cfg.offloads),
            )
            .map_err(|e| io::Error::new(e.kind(), format!("TAP {}: {e}", cfg.name)))?;
        ns.add_address(port.ifindex(), cfg.addr)?;
        if let Some(gw) = cfg.gateway {
            ns.add_route(parse_route(&ns, &format!("default via {gw}"))?)?;
        }
        Ok(TapNet {
            ns,
            port,
            config: cfg.clone(),
        })
    }
}

impl fmt::Display for TapNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "netrt {} on TAP {} ({} queue(s), offloads {})",
            self.config.addr,
            self.port.tap_name(),
            self.port.tap_queues(),
            if self.port.offloads() { "on" } else { "off" }
        )?;
        if let Some(gw) = self.config.gateway {
            write!(f, ", default via {gw}")?;
        }
        Ok(())
    }
}

/// Builds the runtime and the TAP network, runs `program` inside the
/// TAP's namespace until it finishes or SIGINT/SIGTERM arrives, then
/// stops the capture. A signal is a normal end (`Ok`).
pub fn run_tap<F, Fut>(common: &Common, cfg: &TapConfig, program: F) -> io::Result<()>
where
    F: FnOnce(TapNet) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    // Before any runtime thread exists, so that all of them inherit the
    // blocked signals and only the waiting thread receives them.
    let stop = crate::signals::stop_on_signal()?;
    let rt = runtime(common)?;
    let net = TapNet::build(common, cfg, &rt.handle())?;
    println!("{net}");
    let capture = start_capture(common, &net.ns, Some(net.port.ifindex()))?;
    let ns = net.ns.clone();
    let result = rt.block_on(async move {
        let run = std::pin::pin!(ns.scope(program(net)));
        match future::select(run, stop).await {
            Either::Left((r, _)) => r,
            Either::Right((sig, _)) => {
                if let Ok(sig) = sig {
                    println!("signal {sig}: stopping");
                }
                Ok(())
            }
        }
    });
    finish_capture(common, capture)?;
    result
}
