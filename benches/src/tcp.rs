//! TCP benchmarks (issue 5): netrt between two namespaces over an emulated
//! igb cable, tokio on the kernel's loopback and smoltcp on its own
//! loopback device, in the same run, each measured on:
//!
//! (a) [`RR_CONNS`] connections doing [`MSG`]-byte request/response
//!     (one request outstanding per connection), transactions/s;
//! (b) one bulk stream, Gbit/s of payload;
//! (c) connect + accept + close cycles/s (the server closes first);
//! (d) heap bytes per idle established connection end, counted by the
//!     binary's global allocator ([`heap`]).
//!
//! netrt and tokio run the same async code ([`workload`]); smoltcp, which
//! has no executor, runs the same shapes from one thread's poll loop.

mod heap;
mod netrt_side;
mod smoltcp_peer;
mod tokio_peer;
mod workload;

use std::time::Duration;

use crate::Table;

/// Cores (netrt) / worker threads (tokio); smoltcp runs on one thread.
const CORES: usize = 2;
/// Runs of every system; each figure is the best one.
const REPS: usize = 2;
/// Connections in the request/response shape.
const RR_CONNS: usize = 64;
/// Request and response size.
const MSG: usize = 64;
const RUN_RR: Duration = Duration::from_secs(2);
const RUN_BULK: Duration = Duration::from_secs(1);
/// Bytes per write (and read buffer) in the bulk shape.
const BULK_CHUNK: usize = 64 * 1024;
const RUN_CONNECT: Duration = Duration::from_secs(1);
/// Concurrent connect/close loops per core.
const CONNECTORS_PER_CORE: usize = 8;
/// Idle connections opened for the memory figure.
const IDLE_CONNS: usize = 1000;

/// What one system measured; `None` where a shape could not run.
pub struct Figures {
    rr: Option<f64>,
    bulk_gbps: Option<f64>,
    connect: Option<workload::ConnectFigure>,
    idle_bytes: Option<f64>,
    /// What could not be measured, and why.
    problems: Vec<String>,
}

impl Figures {
    /// Keeps the better figures of `self` and `run` (highest rates, least
    /// memory); failures add up.
    fn keep_best(&mut self, run: Figures) {
        fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            }
        }
        self.rr = max(self.rr, run.rr);
        self.bulk_gbps = max(self.bulk_gbps, run.bulk_gbps);
        self.idle_bytes = match (self.idle_bytes, run.idle_bytes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.connect = match (self.connect.take(), run.connect) {
            (Some(a), Some(b)) => Some(workload::ConnectFigure {
                rate: a.rate.max(b.rate),
                failures: a.failures + b.failures,
            }),
            (a, b) => a.or(b),
        };
        for p in run.problems {
            if !self.problems.contains(&p) {
                self.problems.push(p);
            }
        }
    }
}

/// Runs `run` into `best`.
fn keep_best(best: &mut Option<Figures>, run: Figures) {
    match best {
        Some(b) => b.keep_best(run),
        None => *best = Some(run),
    }
}

/// The suite: every system [`REPS`] times, interleaved, best figures kept.
pub fn run() -> Table {
    let (mut netrt, mut tokio, mut smol) = (None, None, None);
    let mut variants = netrt_side::Config::VARIANTS.map(|_| None);
    for _ in 0..REPS {
        keep_best(&mut netrt, netrt_side::run(netrt_side::Config::DEFAULT));
        for (best, (_, cfg)) in variants.iter_mut().zip(netrt_side::Config::VARIANTS) {
            keep_best(best, netrt_side::run_data_path(cfg));
        }
        keep_best(&mut tokio, tokio_peer::run());
        keep_best(&mut smol, smoltcp_peer::run());
    }
    let some = "REPS > 0";
    let (netrt, tokio, smol) = (netrt.expect(some), tokio.expect(some), smol.expect(some));
    let variants = variants
        .into_iter()
        .zip(netrt_side::Config::VARIANTS)
        .map(|(f, (name, _))| (format!("  netrt with {name}"), f.expect(some)))
        .collect::<Vec<_>>();
    let mut table = Table::new(
        "TCP: netrt namespaces over an emulated igb cable vs tokio on kernel loopback \
         vs smoltcp on its loopback device",
        &["netrt", "tokio", "smoltcp"],
    );
    type Figure = fn(&Figures) -> Option<f64>;
    let rr: Figure = |f| f.rr;
    let bulk: Figure = |f| f.bulk_gbps;
    let connect: Figure = |f| f.connect.as_ref().map(|c| c.rate);
    let idle: Figure = |f| f.idle_bytes;
    let mut row = |name: &str, unit, figure: Figure, netrt: &Figures| {
        table.row_in(
            name,
            unit,
            vec![figure(netrt), figure(&tokio), figure(&smol)],
        );
    };
    let rr_name = format!("(a) {RR_CONNS} conns x {MSG} B request/response");
    for (name, unit, figure) in [
        (rr_name.as_str(), "trans/s", rr),
        ("(b) one bulk stream", "Gbit/s", bulk),
    ] {
        row(name, unit, figure, &netrt);
        for (name, figures) in &variants {
            row(name, unit, figure, figures);
        }
    }
    row("(c) connect+accept+close", "conn/s", connect, &netrt);
    row(
        "(d) idle established conn, heap per end",
        "bytes",
        idle,
        &netrt,
    );
    table.note(
        "netrt: client and server namespaces over an emulated igb cable, 2 cores, a queue \
         pair per core, ITR off, TX batching on; TSO (netrt's default size) and GRO on unless marked",
    );
    table.note(format!(
        "tokio: multi-thread runtime, {CORES} workers, defaults otherwise; kernel loopback \
         (MTU 65536, TSO/GRO, no checksums computed)"
    ));
    table.note(smoltcp_peer::describe());
    table.note(format!(
        "best of {REPS} runs per system, interleaved; (a) {} s, nodelay on every socket; (b) {} s of {} KiB writes; (c) {} loops/core for \
         {} s: client connects, server accepts and closes, client sees EOF and closes",
        RUN_RR.as_secs(),
        RUN_BULK.as_secs(),
        BULK_CHUNK / 1024,
        CONNECTORS_PER_CORE,
        RUN_CONNECT.as_secs()
    ));
    table.note(format!(
        "(d) lower is better: net heap growth over opening {IDLE_CONNS} connections / {} ends \
         (stream handles' own size excluded); tokio: user space only, the kernel's socket \
         memory is not visible; smoltcp: its socket plus the rx/tx buffers the app must \
         allocate up front",
        2 * IDLE_CONNS
    ));
    let exact: Vec<String> = [("netrt", &netrt), ("tokio", &tokio), ("smoltcp", &smol)]
        .iter()
        .filter_map(|(name, f)| Some(format!("{name} {:.0}", f.idle_bytes?)))
        .collect();
    table.note(format!(
        "(d) in bytes: {} (goal for netrt: <= 2048)",
        exact.join(", ")
    ));
    let failures: Vec<String> = [("netrt", &netrt), ("tokio", &tokio), ("smoltcp", &smol)]
        .iter()
        .filter_map(|(name, f)| {
            let c = f.connect.as_ref()?;
            (c.failures > 0).then(|| format!("{name} {}", c.failures))
        })
        .collect();
    if !failures.is_empty() {
        table.note(format!("(c) failed connects: {}", failures.join(", ")));
    }
    for (name, f) in [("netrt", &netrt), ("tokio", &tokio), ("smoltcp", &smol)] {
        for p in &f.problems {
            table.note(format!("{name}: {p}"));
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(rr: f64, idle: Option<f64>, failures: u64) -> Figures {
        Figures {
            rr: Some(rr),
            bulk_gbps: None,
            connect: Some(workload::ConnectFigure { rate: rr, failures }),
            idle_bytes: idle,
            problems: vec!["p".into()],
        }
    }

    #[test]
    fn keep_best_takes_highest_rates_least_memory_and_adds_failures() {
        let mut best = None;
        keep_best(&mut best, figures(10.0, Some(900.0), 1));
        keep_best(&mut best, figures(20.0, Some(1000.0), 2));
        keep_best(&mut best, figures(15.0, None, 0));
        let best = best.unwrap();
        assert_eq!(best.rr, Some(20.0));
        assert_eq!(best.bulk_gbps, None);
        assert_eq!(best.idle_bytes, Some(900.0));
        let c = best.connect.unwrap();
        assert_eq!((c.rate, c.failures), (20.0, 3));
        assert_eq!(best.problems, vec!["p".to_string()]);
    }

    #[test]
    fn table_puts_mixed_units_in_rows_and_a_single_unit_in_the_header() {
        let mut mixed = Table::new("t", &["netrt", "tokio"]);
        mixed.row_in("bulk", "Gbit/s", vec![Some(9.5), Some(19.0)]);
        mixed.row_in("idle", "bytes", vec![Some(1600.0), None]);
        let out = mixed.render();
        assert!(out.contains("bulk (Gbit/s)"), "{out}");
        assert!(out.contains("9.50") && out.contains("0.50x"), "{out}");
        assert!(
            out.contains("idle (bytes)") && out.contains("1.6k"),
            "{out}"
        );
        assert!(!out.contains("ops/s"), "{out}");

        let mut single = Table::new("t", &["netrt", "tokio"]);
        single.row("spawn", vec![Some(2e6), Some(1e6)]);
        let out = single.render();
        assert!(
            out.contains("netrt ops/s") && out.contains("2.00x"),
            "{out}"
        );
        assert!(!out.contains("spawn (ops/s)"), "{out}");
    }
}
