//! CUBIC congestion control (RFC 9438).
//!
//! After a loss at window `W_max` the window is cut to `β·W_max` and then
//! follows, in congestion avoidance, the cubic
//!
//! ```text
//! W_cubic(t) = C·(t − K)³ + W_max,   K = ∛((W_max − cwnd_epoch) / C)
//! ```
//!
//! (windows in segments, `t` in seconds since the epoch began): concave up
//! to `W_max` at `t = K`, a plateau there, then convex probing beyond.
//! Each ACK moves `cwnd` toward `target = W_cubic(t + RTT)`, clamped to
//! `[cwnd, 1.5·cwnd]`, by `(target − cwnd)/cwnd` per acknowledged segment.
//! Alongside runs `W_est`, the window Reno would have (§4.3, with
//! `α = 3(1 − β)/(1 + β)` until `W_est` reaches the pre-loss window, then
//! 1); when the cubic is below it, CUBIC is Reno-friendly and uses `W_est`.
//! Fast convergence (§4.7) releases bandwidth to newer flows: a loss below
//! the previous `W_max` sets `W_max = cwnd·(1 + β)/2`.
//!
//! Floating point keeps the formulas as the RFC writes them; it costs a
//! few multiplications per ACK (the cube root only at an epoch start).
//! // linux: tcp_cubic.c (bictcp_update, bictcp_recalc_ssthresh)

use std::time::{Duration, Instant};

use super::{
    cwnd_limited, restart_window, sane_mss, slow_start, Ack, CongestionControl,
    INITIAL_WINDOW_SEGMENTS,
};

/// CUBIC's constants (RFC 9438 §4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CubicParams {
    /// `C`, the cubic's scale (segments / s³): 0.4.
    pub c: f64,
    /// `β_cubic`, the multiplicative decrease factor: 0.7.
    pub beta: f64,
    /// Fast convergence (§4.7): on.
    pub fast_convergence: bool,
    /// The Reno-friendly region (§4.3): on.
    pub reno_friendly: bool,
}

impl Default for CubicParams {
    fn default() -> Self {
        CubicParams {
            c: 0.4,
            beta: 0.7,
            fast_convergence: true,
            reno_friendly: true,
        }
    }
}

/// RFC 9438 CUBIC. Internal windows are `f64` bytes; `cwnd()` rounds down.
#[derive(Debug, Clone)]
pub struct Cubic {
    p: CubicParams,
    mss: u32,
    /// Congestion window, bytes (fractional growth kept).
    cwnd: f64,
    ssthresh: u32,
    /// Window just before the last reduction, after fast convergence;
    /// 0 when unknown (start, after an RTO).
    w_max: f64,
    /// Window before the last reduction, for the `α` switch of `W_est`.
    cwnd_prior: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch_start: Option<Instant>,
    /// `K` of the current epoch, seconds.
    k: f64,
    /// Reno-friendly estimate, bytes.
    w_est: f64,
    /// Smallest RTT seen; the `+ RTT` look-ahead uses it (Linux's
    /// `delay_min`: steadier than the smoothed RTT under queueing).
    min_rtt: Option<Duration>,
    /// Since when the sender has been application-limited: that time is
    /// cut out of the epoch (§5.8).
    app_limited_since: Option<Instant>,
    in_recovery: bool,
    in_loss: bool,
}

impl Cubic {
    /// CUBIC with the RFC's constants.
    pub fn new(mss: u32) -> Self {
        Cubic::with_params(mss, CubicParams::default())
    }

    /// CUBIC with explicit constants.
    pub fn with_params(mss: u32, p: CubicParams) -> Self {
        let mss = sane_mss(mss);
        Cubic {
            p,
            mss,
            cwnd: f64::from(INITIAL_WINDOW_SEGMENTS.saturating_mul(mss)),
            ssthresh: u32::MAX,
            w_max: 0.0,
            cwnd_prior: 0.0,
            epoch_start: None,
            k: 0.0,
            w_est: 0.0,
            min_rtt: None,
            app_limited_since: None,
            in_recovery: false,
            in_loss: false,
        }
    }

    /// `W_max` in bytes (0 before the first loss and after an RTO until
    /// the next epoch starts).
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// `K` of the current epoch (zero before one started).
    pub fn k(&self) -> Duration {
        Duration::try_from_secs_f64(self.k).unwrap_or(Duration::MAX)
    }

    /// The Reno-friendly estimate `W_est`, bytes.
    pub fn w_est(&self) -> f64 {
        self.w_est
    }

    /// `W_cubic(t)` in bytes for the current epoch (Figure 1).
    pub fn w_cubic(&self, t: f64) -> f64 {
        let d = t - self.k;
        self.p.c * d * d * d * f64::from(self.mss) + self.w_max
    }

    /// `α_cubic` (§4.3): Reno's slope scaled so that the average rate
    /// matches Reno's under β = 0.7.
    fn alpha(&self) -> f64 {
        if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            3.0 * (1.0 - self.p.beta) / (1.0 + self.p.beta)
        }
    }

    fn begin_epoch(&mut self, now: Instant) {
        self.epoch_start = Some(now);
        if self.w_max < self.cwnd {
            // After an RTO or when slow start overshot the old maximum:
            // the plateau is here (§4.8: K = 0, W_max = cwnd).
            self.w_max = self.cwnd;
            self.k = 0.0;
        } else {
            let segments = (self.w_max - self.cwnd) / f64::from(self.mss);
            self.k = (segments / self.p.c).cbrt();
        }
        self.w_est = self.cwnd;
    }

    /// Congestion avoidance for `acked` bytes (§4.2-4.5).
    fn avoid(&mut self, acked: u32, now: Instant) {
        let start = match self.epoch_start {
            Some(s) => s,
            None => {
                self.begin_epoch(now);
                now
            }
        };
        let t = now.saturating_duration_since(start).as_secs_f64();
        let rtt = self.min_rtt.unwrap_or(Duration::ZERO).as_secs_f64();
        let acked = f64::from(acked);
        let mss = f64::from(self.mss);

        self.w_est += self.alpha() * acked / self.cwnd * mss;
        if self.p.reno_friendly && self.w_cubic(t) < self.w_est {
            self.cwnd = self.cwnd.max(self.w_est);
            return;
        }
        let target = self.w_cubic(t + rtt).clamp(self.cwnd, 1.5 * self.cwnd);
        self.cwnd += (target - self.cwnd) / self.cwnd * acked;
    }

    /// The multiplicative decrease shared by fast loss and RTO (§4.6-4.7).
    /// The new threshold is `β·cwnd`, as Linux computes it (§4.6 notes
    /// implementations using cwnd rather than the flight size).
    fn reduce(&mut self) {
        let cwnd = self.cwnd;
        self.w_max = if self.p.fast_convergence && cwnd < self.w_max {
            cwnd * (1.0 + self.p.beta) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        self.ssthresh = ((cwnd * self.p.beta) as u32).max(2 * self.mss);
        self.epoch_start = None;
        self.app_limited_since = None;
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn on_ack(&mut self, ack: &Ack, now: Instant) {
        if let Some(rtt) = ack.rtt {
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        }
        if self.in_recovery {
            return;
        }
        self.in_loss = false;
        let cwnd = self.cwnd();
        if !cwnd_limited(ack, cwnd, self.ssthresh, self.mss) {
            self.app_limited_since.get_or_insert(now);
            return;
        }
        if let Some(since) = self.app_limited_since.take() {
            // Time without a full window does not count toward t.
            shift_epoch(&mut self.epoch_start, now.saturating_duration_since(since));
        }
        let mut acked = ack.acked;
        if cwnd < self.ssthresh {
            let mut grown = cwnd;
            acked = slow_start(&mut grown, self.ssthresh, acked, self.mss);
            self.cwnd += f64::from(grown - cwnd);
        }
        if acked > 0 && self.cwnd() >= self.ssthresh {
            self.avoid(acked, now);
        }
    }

    fn on_loss_fast(&mut self, _now: Instant, _in_flight: u32) {
        if self.in_recovery {
            return;
        }
        self.reduce();
        self.cwnd = f64::from(self.ssthresh);
        self.in_recovery = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        if self.in_recovery {
            self.cwnd = f64::from(self.ssthresh);
            self.in_recovery = false;
        }
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: u32) {
        if !self.in_recovery && !self.in_loss {
            self.reduce();
        }
        // §4.8: the next epoch starts with K = 0 at the window it has then.
        self.w_max = 0.0;
        self.epoch_start = None;
        self.cwnd = f64::from(self.mss);
        self.in_recovery = false;
        self.in_loss = true;
    }

    fn on_idle_restart(&mut self, _now: Instant, idle: Duration, rto: Duration) {
        if idle > rto {
            self.cwnd = f64::from(restart_window(self.cwnd(), self.mss));
            self.epoch_start = None;
        } else {
            // The idle period is not part of the cubic's time (§5.8).
            shift_epoch(&mut self.epoch_start, idle);
        }
        self.app_limited_since = None;
    }

    fn set_mss(&mut self, mss: u32) {
        let mss = sane_mss(mss);
        let ratio = f64::from(mss) / f64::from(self.mss);
        self.cwnd = (self.cwnd * ratio).max(f64::from(mss));
        self.w_max *= ratio;
        self.w_est *= ratio;
        self.cwnd_prior *= ratio;
        if self.ssthresh != u32::MAX {
            self.ssthresh = ((f64::from(self.ssthresh) * ratio) as u32).max(2 * mss);
        }
        self.mss = mss;
    }

    fn cwnd(&self) -> u32 {
        // `as` saturates: a huge window reads as u32::MAX.
        self.cwnd as u32
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn in_recovery(&self) -> bool {
        self.in_recovery
    }
}

/// Moves the epoch start later by `by` (time that must not count).
fn shift_epoch(epoch_start: &mut Option<Instant>, by: Duration) {
    if let Some(start) = epoch_start.as_mut() {
        if let Some(later) = start.checked_add(by) {
            *start = later;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::testutil::round;
    use super::*;

    const MSS: u32 = 1000;

    fn segs(cc: &Cubic) -> f64 {
        f64::from(cc.cwnd()) / f64::from(MSS)
    }

    /// A CUBIC flow grown to `w` segments in slow start, then a loss
    /// and the end of its recovery; returns the time after it.
    fn after_loss_at(cc: &mut Cubic, w: u32, rtt: Duration) -> Instant {
        let mut now = Instant::now();
        while cc.cwnd() < w * MSS {
            now = round(cc, now, rtt, MSS);
        }
        cc.cwnd = f64::from(w * MSS);
        cc.on_loss_fast(now, w * MSS);
        cc.on_recovery_exit(now);
        now
    }

    #[test]
    fn slow_start_doubles() {
        let mut cc = Cubic::new(MSS);
        let mut now = Instant::now();
        for want in [10, 20, 40, 80, 160] {
            assert_eq!(cc.cwnd(), want * MSS);
            now = round(&mut cc, now, Duration::from_millis(10), 2 * MSS);
        }
    }

    #[test]
    fn loss_multiplies_by_beta_and_k_matches_rfc() {
        let mut cc = Cubic::new(MSS);
        let now = after_loss_at(&mut cc, 100, Duration::from_millis(100));
        assert_eq!(cc.cwnd(), 70 * MSS);
        assert_eq!(cc.ssthresh(), 70 * MSS);
        assert_eq!(cc.w_max(), f64::from(100 * MSS));
        // The first ACK in avoidance starts the epoch.
        round(&mut cc, now, Duration::from_millis(100), MSS);
        // K = ∛((100 − 70) / 0.4) = ∛75 = 4.21716 s.
        let k = cc.k().as_secs_f64();
        assert!((k - 75f64.cbrt()).abs() < 1e-6, "K = {k}");
        assert!((k - 4.21716).abs() < 1e-5);
        // W_cubic(0) = cwnd_epoch and W_cubic(K) = W_max.
        assert!((cc.w_cubic(0.0) - 70_000.0).abs() < 1e-6);
        assert!((cc.w_cubic(k) - 100_000.0).abs() < 1e-6);
    }

    #[test]
    fn concave_then_plateau_then_convex_follows_the_formula() {
        let rtt = Duration::from_millis(100);
        // The pure cubic: with 100 ms and 8 s, W_est (Reno's 0.53 then 1
        // segment per RTT) would overtake it at ~5.7 s (tested below).
        let params = CubicParams {
            reno_friendly: false,
            ..CubicParams::default()
        };
        let mut cc = Cubic::with_params(MSS, params);
        let mut now = after_loss_at(&mut cc, 100, rtt);
        // Round 0 starts the epoch at the time of its ACKs.
        now = round(&mut cc, now, rtt, MSS);
        let epoch = now;
        let k = cc.k().as_secs_f64();
        let (c, w_max) = (0.4, 100.0);
        let w = |t: f64| c * (t - k) * (t - k) * (t - k) + w_max;
        let mut growth = Vec::new();
        let mut prev = segs(&cc);
        for _ in 0..80 {
            now = round(&mut cc, now, rtt, MSS);
            let t = (now - epoch).as_secs_f64();
            // Each round moves the window most of the way to the target
            // W_cubic(t + RTT): it lies between the curve now and the
            // curve one round trip ahead (in segments).
            let got = segs(&cc);
            assert!(
                got > w(t) - 1.0 && got <= w(t + 0.1) + 0.01,
                "t={t:.1}: cwnd {got:.2} vs W({t:.1}) = {:.2}, W(t + RTT) = {:.2}",
                w(t),
                w(t + 0.1)
            );
            growth.push(got - prev);
            prev = got;
        }
        // Concave: growth per RTT shrinks toward K (~round 42) ...
        assert!(growth[5] > growth[20] && growth[20] > growth[35]);
        // ... the plateau is flat ...
        assert!(growth[40] < 0.1 && growth[41] < 0.1);
        // ... then convex: growth accelerates.
        assert!(growth[79] > growth[65] && growth[65] > growth[50]);
        assert!(segs(&cc) > 100.0);
    }

    #[test]
    fn reno_friendly_region_on_short_rtt() {
        // 1 ms RTT: Reno gains 0.53 segment per ms, far faster than the
        // cubic near its plateau, so W_est drives the window.
        let rtt = Duration::from_millis(1);
        let mut cc = Cubic::new(MSS);
        let mut now = after_loss_at(&mut cc, 100, rtt);
        let alpha = 3.0 * 0.3 / 1.7;
        for n in 1..=20 {
            now = round(&mut cc, now, rtt, MSS);
            // α per round trip (each round acknowledges one window).
            let want = 70.0 + alpha * f64::from(n);
            let got = segs(&cc);
            assert!((got - want).abs() < 1.0, "round {n}: {got:.2} vs {want:.2}");
            assert!((cc.w_est() / 1000.0 - want).abs() < 0.5);
        }
        // Past the pre-loss window α becomes 1.
        while cc.w_est() < 100_000.0 {
            now = round(&mut cc, now, rtt, MSS);
        }
        let before = cc.w_est();
        round(&mut cc, now, rtt, MSS);
        let step = (cc.w_est() - before) / 1000.0;
        assert!((step - 1.0).abs() < 0.02, "step {step}");
    }

    #[test]
    fn fast_convergence() {
        let rtt = Duration::from_millis(100);
        let mut cc = Cubic::new(MSS);
        let now = after_loss_at(&mut cc, 100, rtt);
        // A second loss below W_max (at 70): W_max = 70·1.7/2 = 59.5.
        cc.on_loss_fast(now, 70 * MSS);
        assert!((cc.w_max() - 59_500.0).abs() < 1e-6);
        assert_eq!(cc.cwnd(), 49 * MSS);
        cc.on_recovery_exit(now);
        // Without fast convergence W_max is the window at the loss.
        let mut plain = Cubic::with_params(
            MSS,
            CubicParams {
                fast_convergence: false,
                ..CubicParams::default()
            },
        );
        let now = after_loss_at(&mut plain, 100, rtt);
        plain.on_loss_fast(now, 70 * MSS);
        assert_eq!(plain.w_max(), 70_000.0);
    }

    #[test]
    fn recovery_freezes_and_rto_resets() {
        let rtt = Duration::from_millis(100);
        let mut cc = Cubic::new(MSS);
        let mut now = after_loss_at(&mut cc, 100, rtt);
        cc.on_loss_fast(now, 70 * MSS);
        assert!(cc.in_recovery());
        round(&mut cc, now, rtt, MSS);
        assert_eq!(cc.cwnd(), 49 * MSS);
        // An RTO in recovery: no second reduction, window to one segment.
        cc.on_rto(now, 49 * MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, 49 * MSS));
        cc.on_rto(now, MSS);
        assert_eq!(cc.ssthresh(), 49 * MSS);
        // Slow start to ssthresh, then an epoch with K = 0 at that window
        // (§4.8): growth is convex from the start.
        while cc.cwnd() < cc.ssthresh() {
            now = round(&mut cc, now, rtt, MSS);
        }
        now = round(&mut cc, now, rtt, MSS);
        assert_eq!(cc.k(), Duration::ZERO);
        assert_eq!(cc.w_max(), 49_000.0);
        let a = segs(&cc);
        round(&mut cc, now, rtt, MSS);
        assert!(segs(&cc) > a);
    }

    #[test]
    fn app_limited_time_is_cut_out_of_the_epoch() {
        let rtt = Duration::from_millis(100);
        let mut steady = Cubic::new(MSS);
        let mut now = after_loss_at(&mut steady, 100, rtt);
        let mut idle = steady.clone();
        let mut t_idle = now;
        for _ in 0..10 {
            now = round(&mut steady, now, rtt, MSS);
            t_idle = round(&mut idle, t_idle, rtt, MSS);
        }
        // The idle flow is application-limited for 2 s: no growth.
        let w = idle.cwnd();
        let limited = Ack {
            acked: MSS,
            in_flight: MSS,
            rtt: Some(rtt),
            app_limited: true,
        };
        idle.on_ack(&limited, t_idle);
        assert_eq!(idle.cwnd(), w);
        t_idle += Duration::from_secs(2);
        idle.on_ack(&limited, t_idle);
        assert_eq!(idle.cwnd(), w);
        for _ in 0..10 {
            now = round(&mut steady, now, rtt, MSS);
            t_idle = round(&mut idle, t_idle, rtt, MSS);
        }
        // Same trajectory, up to the one round trip of the limited ACK.
        let (a, b) = (segs(&steady), segs(&idle));
        assert!((a - b).abs() < 2.0, "steady {a:.2} idle {b:.2}");
        // Without the cut, 2 s more of epoch time would put the window
        // near the plateau: W_cubic(4 s) ≈ 100 segments vs ~95.6.
        assert!(steady.w_cubic(4.0) / 1000.0 - b > 3.0);
    }

    #[test]
    fn idle_restart_and_degenerate_inputs() {
        let mut cc = Cubic::new(MSS);
        let now = Instant::now();
        cc.on_idle_restart(now, Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(cc.cwnd(), 10 * MSS);
        cc.set_mss(0);
        assert_eq!(cc.cwnd(), 10);
        let ack = Ack {
            acked: u32::MAX,
            in_flight: u32::MAX,
            rtt: Some(Duration::ZERO),
            app_limited: false,
        };
        cc.on_ack(&ack, now);
        cc.on_loss_fast(now, 0);
        cc.on_recovery_exit(now);
        for _ in 0..3 {
            cc.on_ack(&ack, now);
        }
        assert!(cc.cwnd() >= cc.ssthresh());
    }
}
