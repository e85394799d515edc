//! Emulated igb data path on one thread: driver TX ring → device TX engine
//! → in-process cable → device RX path → driver RX ring, in bursts of 32
//! frames (one `TDT` write each) and NAPI-sized polls of 64.
//!
//! Sizes are Ethernet frames without FCS: 60 bytes (64 on the wire, the
//! minimum) and 1514 bytes (a 1500-byte IP packet). Gbit/s counts frame
//! bytes only. There is no peer to compare with: the figures are absolute
//! (for scale, 1 GbE line rate is 1.488 Mpps at 64 bytes).

use std::time::{Duration, Instant};

use netrt_igb::driver::RxFrame;
use netrt_igb::port::{EmulatedPort, PairConfig};

use crate::Table;

/// Frames per TX burst.
const BURST: usize = 32;
/// Frames per RX poll (NAPI weight).
const POLL: usize = 64;
/// Measuring time per repetition.
const TIME: Duration = Duration::from_millis(700);
/// Repetitions per frame size; the best is reported (the machine is
/// shared, and a slow repetition measures the neighbours).
const REPS: usize = 3;

/// One measured run.
struct Run {
    frames: u64,
    bytes: u64,
    elapsed: Duration,
    missed: u64,
}

impl Run {
    fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64()
    }

    fn gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64() / 1e9
    }
}

/// Pushes frames of `size` bytes from port A to port B for about `time`.
fn cable_path(size: usize, time: Duration) -> std::io::Result<Run> {
    let (mut a, mut b) = EmulatedPort::pair_with_cable(&PairConfig::default())?;
    let mac_b = b.model().config().mac;
    let mut tx = a.take_vectors().remove(0);
    let mut rx = b.take_vectors().remove(0);
    let frames: Vec<Vec<u8>> = (0..BURST)
        .map(|i| {
            let mut f = vec![0u8; size];
            f[..6].copy_from_slice(&mac_b);
            f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x0a]);
            f[12..14].copy_from_slice(&0x88B5u16.to_be_bytes());
            f[14] = i as u8;
            f
        })
        .collect();

    // Warm up rings, pools and caches.
    for _ in 0..1000 {
        tx.tx_burst(&frames);
        while rx.poll(POLL, |_| {}) == POLL {}
    }
    let (mut got, mut bytes) = (0u64, 0u64);
    let mut count = |f: RxFrame<'_>| {
        got += 1;
        bytes += f.len() as u64;
    };
    let start = Instant::now();
    while start.elapsed() < time {
        for _ in 0..256 {
            let mut sent = 0;
            while sent < frames.len() {
                sent += tx.tx_burst(&frames[sent..]);
                while rx.poll(POLL, &mut count) == POLL {}
            }
        }
    }
    while rx.poll(POLL, &mut count) > 0 {}
    let elapsed = start.elapsed();
    let missed = b.port().stats().hw.mpc;
    Ok(Run {
        frames: got,
        bytes,
        elapsed,
        missed,
    })
}

/// The `igb` suite.
pub fn run() -> Table {
    let mut table = Table::new(
        "emulated igb: driver → model → cable → model → driver (frames/s, 1 thread)",
        &["netrt-igb"],
    );
    for size in [60, 1514] {
        let mut best: Result<Run, std::io::Error> = cable_path(size, TIME);
        for _ in 1..REPS {
            if let (Ok(b), Ok(r)) = (&best, cable_path(size, TIME)) {
                if r.fps() > b.fps() {
                    best = Ok(r);
                }
            }
        }
        match best {
            Ok(r) => {
                table.row(
                    &format!("cable, {size}-byte frames, bursts of {BURST}"),
                    vec![Some(r.fps())],
                );
                table.note(format!(
                    "{size}-byte frames: {:.2} Mpps, {:.2} Gbit/s ({} frames in {:.2?}, best of {REPS}{})",
                    r.fps() / 1e6,
                    r.gbps(),
                    r.frames,
                    r.elapsed,
                    if r.missed > 0 {
                        format!(", {} missed", r.missed)
                    } else {
                        String::new()
                    }
                ));
            }
            Err(e) => {
                table.row(&format!("cable, {size}-byte frames"), vec![None]);
                table.note(format!("{size}-byte frames: setup failed: {e}"));
            }
        }
    }
    table
}
