//! Pluggable congestion control.
//!
//! A [`CongestionControl`] owns the congestion window and the slow-start
//! threshold, both in bytes, and reacts to the sender's events: new data
//! acknowledged, entering loss recovery (fast retransmit), leaving it, a
//! retransmission timeout, restarting after idle. The sender owns the
//! rest of loss recovery (which segment to retransmit, RFC 6582 partial
//! ACKs, RFC 6675 pipe); it consults [`cwnd`](CongestionControl::cwnd) to
//! know how much may be in flight.
//!
//! Growth happens only when the window limited the sender: an ACK reports
//! the bytes that were in flight and whether the application ran out of
//! data ([`Ack::app_limited`]); an under-used window does not grow (RFC
//! 7661's concern, Linux's `tcp_is_cwnd_limited`).
//!
//! * [`NewReno`]: RFC 5681 slow start and congestion avoidance with
//!   appropriate byte counting (RFC 3465, L = 2·SMSS).
//! * [`Cubic`]: RFC 9438, the default ([`default_for`]).
//!
//! // linux: struct tcp_congestion_ops

use std::fmt;
use std::time::{Duration, Instant};

mod cubic;
mod newreno;

pub use cubic::{Cubic, CubicParams};
pub use newreno::NewReno;

/// Initial window in segments (RFC 6928, Linux `TCP_INIT_CWND`).
pub const INITIAL_WINDOW_SEGMENTS: u32 = 10;

/// Slow start's byte-counting limit per ACK, in segments (RFC 3465 L).
pub const ABC_LIMIT_SEGMENTS: u32 = 2;

/// One acknowledgement of new data, as the sender saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Bytes newly acknowledged (cumulatively or by SACK).
    pub acked: u32,
    /// Bytes in flight before this ACK arrived.
    pub in_flight: u32,
    /// An RTT sample taken from this ACK, if any.
    pub rtt: Option<Duration>,
    /// The application had no data to send although the window allowed
    /// it: the window is not being tested and must not grow.
    pub app_limited: bool,
}

/// A congestion control algorithm. All sizes are bytes.
pub trait CongestionControl: Send + fmt::Debug {
    /// The algorithm's name (`"cubic"`, `"reno"`), as Linux's
    /// `tcp_congestion_control` names it.
    fn name(&self) -> &'static str;

    /// New data was acknowledged outside loss recovery.
    /// // linux: cong_avoid
    fn on_ack(&mut self, ack: &Ack, now: Instant);

    /// Loss detected by duplicate ACKs or SACK: entering fast recovery.
    /// Sets `ssthresh` and reduces `cwnd` to it; the sender may add its
    /// own RFC 6582 inflation on top while in recovery.
    /// // linux: ssthresh + tcp_enter_recovery
    fn on_loss_fast(&mut self, now: Instant, in_flight: u32);

    /// Fast recovery ended (everything outstanding at its start was
    /// acknowledged): `cwnd` settles at `ssthresh`.
    /// // linux: tcp_end_cwnd_reduction
    fn on_recovery_exit(&mut self, now: Instant);

    /// The retransmission timer expired: `ssthresh` is reduced as for a
    /// loss (once per loss episode), `cwnd` drops to one segment.
    /// // linux: tcp_enter_loss
    fn on_rto(&mut self, now: Instant, in_flight: u32);

    /// Sending resumes after `idle` without anything in flight; when the
    /// idle time exceeds `rto` the window is no longer a valid estimate
    /// (RFC 5681 4.1 restart window). // linux: tcp_cwnd_restart
    fn on_idle_restart(&mut self, now: Instant, idle: Duration, rto: Duration);

    /// The sender's maximum segment size changed (path MTU discovery,
    /// option negotiation). Windows in segments keep their value.
    fn set_mss(&mut self, mss: u32);

    /// The congestion window, in bytes.
    fn cwnd(&self) -> u32;

    /// The slow-start threshold, in bytes.
    fn ssthresh(&self) -> u32;

    /// Whether a loss recovery started by
    /// [`on_loss_fast`](Self::on_loss_fast) is still running.
    fn in_recovery(&self) -> bool;

    /// `cwnd < ssthresh`.
    fn in_slow_start(&self) -> bool {
        self.cwnd() < self.ssthresh()
    }
}

/// The default algorithm (CUBIC) for a connection with this MSS.
pub fn default_for(mss: u32) -> Box<dyn CongestionControl> {
    Box::new(Cubic::new(mss))
}

/// An algorithm by name (`"cubic"`, `"reno"`/`"newreno"`), for a
/// per-socket or per-namespace setting.
pub fn by_name(name: &str, mss: u32) -> Option<Box<dyn CongestionControl>> {
    match name {
        "cubic" => Some(Box::new(Cubic::new(mss))),
        "reno" | "newreno" => Some(Box::new(NewReno::new(mss))),
        _ => None,
    }
}

/// MSS sanitised: at least 1 byte so divisions are safe.
fn sane_mss(mss: u32) -> u32 {
    mss.max(1)
}

/// Whether the window limited the sender, so growing it is justified.
///
/// In slow start the window may be up to twice what was in flight (the
/// window doubles per round trip while ACKs keep clocking out data); in
/// congestion avoidance less than one segment may have been left unused.
/// // linux: tcp_is_cwnd_limited
fn cwnd_limited(ack: &Ack, cwnd: u32, ssthresh: u32, mss: u32) -> bool {
    if ack.app_limited {
        return false;
    }
    if cwnd < ssthresh {
        cwnd < ack.in_flight.saturating_mul(2)
    } else {
        ack.in_flight.saturating_add(mss) > cwnd
    }
}

/// Slow start with appropriate byte counting (RFC 3465): grows by the
/// bytes acknowledged, at most L·SMSS per ACK, not past `ssthresh`.
/// Returns the bytes of `acked` left over once `ssthresh` was reached.
fn slow_start(cwnd: &mut u32, ssthresh: u32, acked: u32, mss: u32) -> u32 {
    let inc = acked.min(ABC_LIMIT_SEGMENTS.saturating_mul(mss));
    let room = ssthresh.saturating_sub(*cwnd);
    let used = inc.min(room);
    *cwnd = cwnd.saturating_add(used);
    acked - used.min(acked)
}

/// The RFC 5681 restart window after idle: `min(IW, cwnd)`.
fn restart_window(cwnd: u32, mss: u32) -> u32 {
    cwnd.min(INITIAL_WINDOW_SEGMENTS.saturating_mul(mss))
}

#[cfg(all(test, not(loom)))]
pub(crate) mod testutil {
    //! A tiny sender model driving an algorithm round by round.
    use super::*;

    /// One round trip where the whole window is acknowledged in
    /// `per_ack`-byte ACKs, all arriving one `rtt` after `now`, by a
    /// sender that keeps the window full; returns the time of the ACKs.
    pub(crate) fn round(
        cc: &mut dyn CongestionControl,
        now: Instant,
        rtt: Duration,
        per_ack: u32,
    ) -> Instant {
        let window = cc.cwnd();
        let mut outstanding = window;
        let end = now + rtt;
        while outstanding > 0 {
            let acked = per_ack.min(outstanding);
            let ack = Ack {
                acked,
                in_flight: cc.cwnd(),
                rtt: Some(rtt),
                app_limited: false,
            };
            cc.on_ack(&ack, end);
            outstanding -= acked;
        }
        end
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn default_is_cubic_and_names_resolve() {
        let cc = default_for(1460);
        assert_eq!(cc.name(), "cubic");
        assert_eq!(cc.cwnd(), 14_600);
        assert!(cc.in_slow_start());
        assert_eq!(by_name("reno", 1000).map(|c| c.name()), Some("reno"));
        assert_eq!(by_name("newreno", 1000).map(|c| c.cwnd()), Some(10_000));
        assert!(by_name("bbr", 1000).is_none());
    }

    #[test]
    fn byte_counting_is_limited_per_ack() {
        let mut cwnd = 10_000;
        // A 5-segment stretch ACK counts for at most 2 segments.
        assert_eq!(slow_start(&mut cwnd, u32::MAX, 5_000, 1_000), 3_000);
        assert_eq!(cwnd, 12_000);
        // Not past ssthresh; the rest is returned for congestion avoidance.
        assert_eq!(slow_start(&mut cwnd, 12_500, 2_000, 1_000), 1_500);
        assert_eq!(cwnd, 12_500);
    }

    #[test]
    fn limited_test() {
        let ack = |in_flight, app_limited| Ack {
            acked: 1000,
            in_flight,
            rtt: None,
            app_limited,
        };
        // Slow start: window under twice the flight.
        assert!(cwnd_limited(&ack(6_000, false), 10_000, u32::MAX, 1000));
        assert!(!cwnd_limited(&ack(5_000, false), 10_000, u32::MAX, 1000));
        // Avoidance: less than a segment unused.
        assert!(cwnd_limited(&ack(9_500, false), 10_000, 5_000, 1000));
        assert!(!cwnd_limited(&ack(9_000, false), 10_000, 5_000, 1000));
        assert!(!cwnd_limited(&ack(10_000, true), 10_000, 5_000, 1000));
    }
}
