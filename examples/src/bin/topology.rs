//! Builds a small emulated network and exercises it:
//!
//! ```text
//! client (10.0.0.1) ──cable 1── (10.0.0.254) router (10.0.1.254) ──cable 2── (10.0.1.2) server
//! ```
//!
//! Each cable joins two emulated igb ports (`--queues` queue pairs each,
//! spread over the runtime's `--cores` cores by RSS); the router forwards.
//! The program prints every namespace's devices, addresses and routes,
//! pings the server from the client through the router (`--count`
//! times; `--loss` percent of frames lost on the first cable), exchanges
//! UDP datagrams with an echo task running in the server's namespace,
//! then prints the cable and device counters.
//!
//! ```text
//! cargo run -p netrt-examples --bin topology -- --cores 2 --queues 4 --count 5 --loss 10
//! ```

use std::io;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use netrt::net::UdpSocket;
use netrt::stack::topology::{CableSpec, Topology};
use netrt_igb::attach::{CableConfig, Impairments};

struct Args {
    cores: usize,
    queues: u16,
    count: u16,
    loss: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        cores: 2,
        queues: 2,
        count: 4,
        loss: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--cores" => args.cores = value()?.parse().map_err(|e| format!("--cores: {e}"))?,
            "--queues" => args.queues = value()?.parse().map_err(|e| format!("--queues: {e}"))?,
            "--count" => args.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--loss" => args.loss = value()?.parse().map_err(|e| format!("--loss: {e}"))?,
            "-h" | "--help" => {
                return Err(
                    "usage: topology [--cores N] [--queues N] [--count N] [--loss PERCENT]".into(),
                )
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> io::Result<()> {
    let rt = netrt::runtime::Builder::new().cores(args.cores).build()?;
    let lossy = Impairments {
        loss_percent: args.loss,
        ..Impairments::NONE
    };
    let topo = Topology::new()
        .namespace("client")
        .namespace("router")
        .namespace("server")
        .cable(
            "client",
            "router",
            CableSpec::new("10.0.0.1/24", "10.0.0.254/24")
                .queues(args.queues)
                .impairments(CableConfig::symmetric(lossy, 7)),
        )
        .cable(
            "router",
            "server",
            CableSpec::new("10.0.1.254/24", "10.0.1.2/24").queues(args.queues),
        )
        .route("client", "default via 10.0.0.254")
        .route("server", "default via 10.0.1.254")
        .forward("router", true)
        .build(&rt.handle())?;
    println!("{topo}");

    let (client, server_ns) = (topo.ns("client").clone(), topo.ns("server").clone());
    let server: Ipv4Addr = "10.0.1.2".parse().map_err(io::Error::other)?;
    let count = args.count;
    rt.block_on(async move {
        let mut answered = 0;
        for seq in 1..=count {
            let payload = [seq as u8; 56];
            match client
                .ping(server, seq, &payload, Duration::from_secs(1))
                .await
            {
                Ok(rtt) => {
                    answered += 1;
                    println!("64 bytes from {server}: icmp_seq={seq} ttl=63 time={rtt:?}");
                }
                Err(e) => println!("icmp_seq={seq}: {e}"),
            }
        }
        println!("--- {server} ping statistics ---");
        println!("{count} packets transmitted, {answered} received\n");

        // UDP: an echo task inside `server`, a client inside `client`.
        let echo = server_ns.scope(UdpSocket::bind("10.0.1.2:7")).await?;
        server_ns.spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = echo.recv_from(&mut buf).await {
                let _ = echo.send_to(&buf[..n], from).await;
            }
        });
        let echoed = client
            .scope(async move {
                // Bound inside the scope: the socket belongs to `client`.
                let sock = UdpSocket::bind("0.0.0.0:0").await?;
                sock.connect((server, 7)).await?;
                let mut echoed = 0;
                for i in 0..count {
                    let msg = format!("datagram {i}");
                    sock.send(msg.as_bytes()).await?;
                    let mut buf = [0u8; 64];
                    match netrt::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await {
                        Ok(Ok(n)) if &buf[..n] == msg.as_bytes() => echoed += 1,
                        Ok(Ok(_)) => println!("udp: wrong echo for {msg:?}"),
                        Ok(Err(e)) => println!("udp: {e}"),
                        Err(_) => println!("udp: {msg:?} lost"),
                    }
                }
                io::Result::Ok(echoed)
            })
            .await?;
        println!("udp echo: {echoed} of {count} datagrams came back\n");
        io::Result::Ok(())
    })?;
    println!("{topo}");
    for ns in topo.namespaces() {
        let s = ns.netif_stats();
        println!(
            "{}: netif rx {} dropped {} (other host {}, unknown proto {}, malformed {})",
            ns.name(),
            s.rx_frames,
            s.rx_dropped,
            s.rx_other_host,
            s.rx_unknown_proto,
            s.rx_malformed
        );
    }
    Ok(())
}
