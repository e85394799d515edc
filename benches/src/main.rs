//! `netrt-bench [SUITE...]`: runs benchmark suites that measure netrt and
//! its peers in the same run and prints one table per suite.
//!
//! Suites: `runtime` (executor: spawn/join, wakes, timers vs tokio),
//! `igb` (emulated NIC data path), `udp` (64-byte datagrams between
//! namespaces vs tokio on loopback), `tcp` (request/response, bulk,
//! connect/close and idle memory vs tokio on loopback and smoltcp), or
//! `all`. A suite is a module with a `run() -> Table` function registered
//! in [`SUITES`].

use std::fmt::Write as _;
use std::process::ExitCode;

mod igb;
mod runtime;
mod tcp;
mod udp;

/// A suite: its name on the command line and the function that runs it.
type Suite = (&'static str, fn() -> Table);

/// Registered suites, run in this order by `all`.
const SUITES: &[Suite] = &[
    ("runtime", runtime::run),
    ("igb", igb::run),
    ("udp", udp::run),
    ("tcp", tcp::run),
];

/// Throughput results of one suite: one row per benchmark, one column per
/// system (netrt first, then its peers); ratios are netrt / peer. Figures
/// are ops/s unless a row names its own unit.
pub struct Table {
    title: String,
    systems: Vec<String>,
    rows: Vec<(String, &'static str, Vec<Option<f64>>)>,
    notes: Vec<String>,
}

impl Table {
    /// A table comparing `systems`; the first one is netrt.
    pub fn new(title: &str, systems: &[&str]) -> Table {
        Table {
            title: title.to_string(),
            systems: systems.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a benchmark with one ops/s figure per system (`None`: not run).
    pub fn row(&mut self, bench: &str, ops_per_sec: Vec<Option<f64>>) {
        self.row_in(bench, "ops/s", ops_per_sec);
    }

    /// Adds a benchmark whose figures are in `unit` (e.g. "Gbit/s").
    pub fn row_in(&mut self, bench: &str, unit: &'static str, figures: Vec<Option<f64>>) {
        assert_eq!(figures.len(), self.systems.len());
        self.rows.push((bench.to_string(), unit, figures));
    }

    /// Adds a line printed under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    fn render(&self) -> String {
        // One unit for the whole table goes in the header, else in each row.
        let unit = match self.rows.first() {
            Some((_, u, _)) if self.rows.iter().all(|r| r.1 == *u) => Some(*u),
            _ => None,
        };
        let column = |s: &str| match unit {
            Some(u) => format!("{s} {u}"),
            None => s.to_string(),
        };
        let mut head = vec!["benchmark".to_string()];
        head.push(column(&self.systems[0]));
        for s in &self.systems[1..] {
            head.push(column(s));
            head.push(format!("netrt/{s}"));
        }
        let mut lines = vec![head];
        for (name, row_unit, v) in &self.rows {
            let name = match unit {
                Some(_) => name.clone(),
                None => format!("{name} ({row_unit})"),
            };
            let mut line = vec![name, fmt_ops(v[0])];
            for peer in &v[1..] {
                line.push(fmt_ops(*peer));
                line.push(match (v[0], peer) {
                    (Some(a), Some(b)) if *b > 0.0 => format!("{:.2}x", a / b),
                    _ => "-".into(),
                });
            }
            lines.push(line);
        }
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0))
            .collect();
        let mut out = format!("\n== {} ==\n", self.title);
        for (i, line) in lines.iter().enumerate() {
            for (c, cell) in line.iter().enumerate() {
                if c == 0 {
                    let _ = write!(out, "{cell:<w$}", w = widths[c]);
                } else {
                    let _ = write!(out, "  {cell:>w$}", w = widths[c]);
                }
            }
            out.push('\n');
            if i == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
                out.push('\n');
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "  * {n}");
        }
        out
    }
}

fn fmt_ops(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1e6 => format!("{:.2}M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1}k", v / 1e3),
        Some(v) if v < 100.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.0}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wanted: Vec<&str> = if args.is_empty() {
        vec!["all"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    let mut selected = Vec::new();
    for w in wanted {
        if w == "all" {
            selected.extend(SUITES.iter());
        } else if let Some(s) = SUITES.iter().find(|(name, _)| *name == w) {
            selected.push(s);
        } else {
            let names: Vec<&str> = SUITES.iter().map(|(n, _)| *n).collect();
            eprintln!("usage: netrt-bench [all|{}]...", names.join("|"));
            return ExitCode::from(2);
        }
    }
    for (_, run) in selected {
        print!("{}", run().render());
    }
    ExitCode::SUCCESS
}
