//! The network an example runs on: the runtime, and either the
//! self-contained cable demo or a TAP attachment, with optional capture.
//!
//! The demo is two namespaces joined by one emulated igb cable, each port
//! with one queue pair per core:
//!
//! ```text
//! client (10.0.0.1/24) eth0 ──cable── eth0 (10.0.0.2/24) server
//! ```

use std::fmt;
use std::io;
use std::net::Ipv4Addr;

use netrt::runtime::{Builder, Handle, Runtime};
use netrt::stack::ns::Namespace;
use netrt::stack::topology::{CableSpec, Topo, Topology};
use netrt_igb::attach::Dir;

use crate::args::Common;

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
