//! `Interval`: a stream of evenly spaced ticks.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Duration;

use super::sleep::{sleep_until, Sleep};
use super::Instant;

/// Ticks every `period`, the first tick completing immediately.
///
/// Missed ticks (the task was busy for more than a period) are handled by
/// [`MissedTickBehavior::Skip`] unless changed with
/// [`Interval::set_missed_tick_behavior`].
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks at `start`, `start + period`, `start + 2 * period`, ...
///
/// # Panics
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "netrt::time::interval: `period` must be non-zero"
    );
    Interval {
        delay: sleep_until(start),
        period,
        missed: MissedTickBehavior::default(),
    }
}

/// What an [`Interval`] does when ticks were missed because it was not
/// polled in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up with the
    /// original schedule (ticks stay on `start + k * period`).
    Burst,
    /// Restart the schedule: the next tick is one period after the late one
    /// was observed.
    Delay,
    /// Drop the missed ticks: the next tick is the next one of the original
    /// schedule that lies in the future. The default: it keeps the phase
    /// and never produces a burst.
    #[default]
    Skip,
}

impl MissedTickBehavior {
    /// The tick after `tick`, given that it was observed at `now`.
    pub(super) fn next(self, tick: Instant, now: Instant, period: Duration) -> Instant {
        let next = match self {
            MissedTickBehavior::Burst => tick.checked_add(period),
            MissedTickBehavior::Delay => now.checked_add(period),
            MissedTickBehavior::Skip => {
                let behind = now.saturating_duration_since(tick).as_nanos();
                // Whole periods already passed, plus one.
                let periods = behind / period.as_nanos() + 1;
                u32::try_from(periods)
                    .ok()
                    .and_then(|n| period.checked_mul(n))
                    .and_then(|d| tick.checked_add(d))
            }
        };
        next.unwrap_or_else(|| super::deadline_after(Duration::MAX))
    }
}

/// Stream of ticks returned by [`interval`] and [`interval_at`].
#[derive(Debug)]
pub struct Interval {
    delay: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Completes at the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; on `Ready` the tick is consumed and the
    /// following one is scheduled.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.delay.poll_elapsed(cx).is_pending() {
            return Poll::Pending;
        }
        let tick = self.delay.deadline();
        let next = self.missed.next(tick, Instant::now(), self.period);
        self.delay.reset(next);
        Poll::Ready(tick)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.delay.reset(super::deadline_after(self.period));
    }

    /// The time between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// How missed ticks are handled.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Changes how missed ticks are handled.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}
