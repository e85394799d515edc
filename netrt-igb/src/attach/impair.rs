//! Cable impairments (linux: netem): configuration and the seeded random
//! decisions taken per frame.

use std::time::Duration;

/// Impairments of one direction of a [`super::Cable`].
///
/// Percentages are per frame, between 0 and 100. Decisions are drawn from a
/// seeded generator, so a run is reproducible for a given frame sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Impairments {
    /// Frames dropped on the wire.
    pub loss_percent: f64,
    /// Frames delivered twice (the copy right after the original).
    pub duplicate_percent: f64,
    /// Frames held back and delivered after `reorder_gap` later frames.
    pub reorder_percent: f64,
    /// How many later frames overtake a held-back frame (at least 1).
    pub reorder_gap: u32,
    /// Frames with one byte flipped somewhere after the Ethernet header, so
    /// IP or L4 checksums catch it. A corrupting direction never carries
    /// checksum offload as metadata: the sender computes real checksums.
    pub corrupt_percent: f64,
    /// One-way delay added to every frame.
    pub delay: Duration,
    /// Line rate in bits per second (`None`: unlimited). Each frame
    /// occupies the line for `(len + 24) * 8 / rate` seconds (FCS,
    /// preamble and inter-frame gap included), queuing behind the previous.
    pub rate_bps: Option<u64>,
    /// Frames that may wait in the delay line; more are dropped and counted
    /// as overflow (a tail-drop queue, like netem's `limit`). 0 means 1000.
    pub queue_limit: usize,
}

impl Impairments {
    /// A perfect direction.
    pub const NONE: Impairments = Impairments {
        loss_percent: 0.0,
        duplicate_percent: 0.0,
        reorder_percent: 0.0,
        reorder_gap: 1,
        corrupt_percent: 0.0,
        delay: Duration::ZERO,
        rate_bps: None,
        queue_limit: 0,
    };

    /// Whether any per-frame random decision is configured.
    pub(super) fn has_random(&self) -> bool {
        self.loss_percent > 0.0
            || self.duplicate_percent > 0.0
            || self.reorder_percent > 0.0
            || self.corrupt_percent > 0.0
    }

    /// Whether frames need the delay line (a thread that holds them).
    pub(super) fn needs_delay_line(&self) -> bool {
        !self.delay.is_zero() || self.rate_bps.is_some()
    }

    /// Whether frames may be damaged, so checksum offload must not travel
    /// as metadata.
    pub(super) fn corrupts(&self) -> bool {
        self.corrupt_percent > 0.0
    }

    pub(super) fn effective_queue_limit(&self) -> usize {
        if self.queue_limit == 0 {
            1000
        } else {
            self.queue_limit
        }
    }
}

/// Configuration of a [`super::Cable`]: impairments per direction and the
/// seed of the per-frame decisions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CableConfig {
    /// Frames sent by port A towards port B.
    pub a_to_b: Impairments,
    /// Frames sent by port B towards port A.
    pub b_to_a: Impairments,
    /// Seed of the random decisions (each direction derives its own).
    pub seed: u64,
}

impl Default for CableConfig {
    fn default() -> Self {
        CableConfig {
            a_to_b: Impairments::NONE,
            b_to_a: Impairments::NONE,
            seed: 0x5eed,
        }
    }
}

impl CableConfig {
    /// The same impairments in both directions.
    pub fn symmetric(imp: Impairments, seed: u64) -> Self {
        CableConfig {
            a_to_b: imp,
            b_to_a: imp,
            seed,
        }
    }
}

/// splitmix64: tiny, fast, and good enough to draw per-frame decisions.
#[derive(Clone, Debug)]
pub(super) struct SplitMix64(u64);

impl SplitMix64 {
    pub(super) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A per-frame probability as a threshold on a uniform `u64`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Chance(u64);

impl Chance {
    pub(super) fn percent(p: f64) -> Chance {
        if p.is_nan() || p <= 0.0 {
            Chance(0)
        } else if p >= 100.0 {
            Chance(u64::MAX)
        } else {
            Chance((p / 100.0 * u64::MAX as f64) as u64)
        }
    }

    /// Draws once; never true for 0 %, always true for 100 %.
    pub(super) fn roll(self, rng: &mut SplitMix64) -> bool {
        match self.0 {
            0 => false,
            u64::MAX => true,
            t => rng.next_u64() < t,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn chance_frequencies() {
        let mut rng = SplitMix64::new(42);
        for p in [0.0, 1.0, 10.0, 50.0, 100.0] {
            let c = Chance::percent(p);
            let n = 100_000;
            let hits = (0..n).filter(|_| c.roll(&mut rng)).count();
            let got = hits as f64 * 100.0 / n as f64;
            assert!((got - p).abs() < 0.5, "p {p}: got {got}");
        }
        assert_eq!(Chance::percent(f64::NAN), Chance(0));
        assert_eq!(Chance::percent(-3.0), Chance(0));
        assert_eq!(Chance::percent(250.0), Chance(u64::MAX));
    }

    #[test]
    fn below_is_in_range_and_spread() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            let v = rng.below(10);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }

    #[test]
    fn seeded_sequences_repeat() {
        let a: Vec<u64> = {
            let mut r = SplitMix64::new(9);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = SplitMix64::new(9);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
    }
}
