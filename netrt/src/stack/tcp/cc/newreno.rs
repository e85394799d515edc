//! NewReno congestion control: RFC 5681 slow start and congestion
//! avoidance with appropriate byte counting (RFC 3465), the window side of
//! RFC 6582 fast recovery. // linux: tcp_reno_cong_avoid, tcp_reno_ssthresh

use std::time::{Duration, Instant};

use super::{
    cwnd_limited, restart_window, sane_mss, slow_start, Ack, CongestionControl,
    INITIAL_WINDOW_SEGMENTS,
};

/// RFC 5681 / RFC 3465 congestion control.
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// RFC 3465 congestion-avoidance byte counter.
    bytes_acked: u32,
    in_recovery: bool,
    /// An RTO reduced `ssthresh` and no ACK of new data came since:
    /// further expiries are the same loss episode (RFC 5681 eq. 4 note).
    in_loss: bool,
}

impl NewReno {
    /// Initial window of [`INITIAL_WINDOW_SEGMENTS`] segments, no
    /// threshold (`u32::MAX`).
    pub fn new(mss: u32) -> Self {
        let mss = sane_mss(mss);
        NewReno {
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS.saturating_mul(mss),
            ssthresh: u32::MAX,
            bytes_acked: 0,
            in_recovery: false,
            in_loss: false,
        }
    }

    /// RFC 5681 eq. 4: `max(FlightSize / 2, 2 * SMSS)`.
    fn reduced_ssthresh(&self, in_flight: u32) -> u32 {
        (in_flight / 2).max(2 * self.mss)
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &'static str {
        "reno"
    }

    fn on_ack(&mut self, ack: &Ack, _now: Instant) {
        if self.in_recovery {
            return;
        }
        self.in_loss = false;
        if !cwnd_limited(ack, self.cwnd, self.ssthresh, self.mss) {
            return;
        }
        let mut acked = ack.acked;
        if self.cwnd < self.ssthresh {
            acked = slow_start(&mut self.cwnd, self.ssthresh, acked, self.mss);
        }
        if acked == 0 {
            return;
        }
        // Congestion avoidance, one SMSS per window of acknowledged bytes
        // (a stretch ACK covering several windows counts for each).
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        if self.bytes_acked >= self.cwnd {
            let windows = self.bytes_acked / self.cwnd;
            self.bytes_acked -= windows * self.cwnd;
            self.cwnd = self.cwnd.saturating_add(windows.saturating_mul(self.mss));
        }
    }

    fn on_loss_fast(&mut self, _now: Instant, in_flight: u32) {
        if self.in_recovery {
            return; // one reduction per window of data
        }
        self.ssthresh = self.reduced_ssthresh(in_flight);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
        self.in_recovery = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        if self.in_recovery {
            self.cwnd = self.ssthresh;
            self.in_recovery = false;
        }
    }

    fn on_rto(&mut self, _now: Instant, in_flight: u32) {
        // A timeout during recovery, or a repeated one, is the same loss
        // episode: the threshold was already reduced.
        if !self.in_recovery && !self.in_loss {
            self.ssthresh = self.reduced_ssthresh(in_flight);
        }
        self.cwnd = self.mss;
        self.bytes_acked = 0;
        self.in_recovery = false;
        self.in_loss = true;
    }

    fn on_idle_restart(&mut self, _now: Instant, idle: Duration, rto: Duration) {
        if idle > rto {
            self.cwnd = restart_window(self.cwnd, self.mss);
        }
    }

    fn set_mss(&mut self, mss: u32) {
        let mss = sane_mss(mss);
        let rescale = |v: u32| {
            let scaled = u64::from(v) * u64::from(mss) / u64::from(self.mss);
            u32::try_from(scaled).unwrap_or(u32::MAX)
        };
        self.cwnd = rescale(self.cwnd).max(mss);
        if self.ssthresh != u32::MAX {
            self.ssthresh = rescale(self.ssthresh).max(2 * mss);
        }
        self.bytes_acked = 0;
        self.mss = mss;
    }

    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn in_recovery(&self) -> bool {
        self.in_recovery
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::testutil::round;
    use super::*;

    const MSS: u32 = 1000;
    const RTT: Duration = Duration::from_millis(10);

    #[test]
    fn slow_start_doubles_per_round_trip() {
        for per_ack in [MSS, 2 * MSS] {
            let mut cc = NewReno::new(MSS);
            let mut now = Instant::now();
            let mut expect = 10 * MSS;
            for _ in 0..5 {
                assert_eq!(cc.cwnd(), expect);
                now = round(&mut cc, now, RTT, per_ack);
                expect *= 2;
            }
        }
        // Stretch ACKs of 4 segments count for 2 each (RFC 3465 L = 2).
        let mut cc = NewReno::new(MSS);
        let now = Instant::now();
        round(&mut cc, now, RTT, 4 * MSS);
        // 2 ACKs of 4000 bytes and one of 2000: +2000 each = +6000.
        assert_eq!(cc.cwnd(), 16 * MSS);
    }

    #[test]
    fn loss_halves_and_avoidance_is_linear() {
        let mut cc = NewReno::new(MSS);
        let mut now = Instant::now();
        for _ in 0..2 {
            now = round(&mut cc, now, RTT, MSS);
        }
        assert_eq!(cc.cwnd(), 40 * MSS);
        cc.on_loss_fast(now, 40 * MSS);
        assert!(cc.in_recovery());
        assert_eq!((cc.cwnd(), cc.ssthresh()), (20 * MSS, 20 * MSS));
        // A second loss signal in the same recovery changes nothing.
        cc.on_loss_fast(now, 20 * MSS);
        assert_eq!(cc.ssthresh(), 20 * MSS);
        // ACKs during recovery do not grow the window.
        round(&mut cc, now, RTT, MSS);
        assert_eq!(cc.cwnd(), 20 * MSS);
        cc.on_recovery_exit(now);
        assert!(!cc.in_slow_start());
        for want in 21..=25 {
            now = round(&mut cc, now, RTT, MSS);
            assert_eq!(cc.cwnd(), want * MSS);
        }
        // Delayed ACKs (2 segments each): the same linear growth.
        now = round(&mut cc, now, RTT, 2 * MSS);
        assert_eq!(cc.cwnd(), 26 * MSS);
        let _ = now;
    }

    #[test]
    fn ssthresh_uses_flight_size_with_floor() {
        let mut cc = NewReno::new(MSS);
        let now = Instant::now();
        cc.on_loss_fast(now, 3 * MSS);
        assert_eq!(cc.ssthresh(), 2 * MSS);
        assert_eq!(cc.cwnd(), 2 * MSS);
    }

    #[test]
    fn rto_collapses_window_once_per_episode() {
        let mut cc = NewReno::new(MSS);
        let mut now = Instant::now();
        now = round(&mut cc, now, RTT, MSS); // 20 segments
        cc.on_rto(now, 20 * MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, 10 * MSS));
        // Backed-off retransmission times out again, little in flight.
        cc.on_rto(now, MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (MSS, 10 * MSS));
        // Slow start back to ssthresh, then linear.
        for want in [2, 4, 8, 10, 11] {
            now = round(&mut cc, now, RTT, MSS);
            assert_eq!(cc.cwnd(), want * MSS);
        }
    }

    #[test]
    fn app_limited_does_not_grow() {
        let mut cc = NewReno::new(MSS);
        let now = Instant::now();
        let ack = Ack {
            acked: MSS,
            in_flight: 2 * MSS,
            rtt: None,
            app_limited: false,
        };
        // 2 segments in flight of a 10-segment window: not limited.
        cc.on_ack(&ack, now);
        assert_eq!(cc.cwnd(), 10 * MSS);
        let ack = Ack {
            in_flight: 10 * MSS,
            app_limited: true,
            ..ack
        };
        cc.on_ack(&ack, now);
        assert_eq!(cc.cwnd(), 10 * MSS);
    }

    #[test]
    fn idle_restart_and_mss_change() {
        let mut cc = NewReno::new(MSS);
        let now = round(&mut cc, Instant::now(), RTT, MSS);
        assert_eq!(cc.cwnd(), 20 * MSS);
        cc.on_idle_restart(now, Duration::from_millis(100), Duration::from_millis(200));
        assert_eq!(cc.cwnd(), 20 * MSS);
        cc.on_idle_restart(now, Duration::from_secs(1), Duration::from_millis(200));
        assert_eq!(cc.cwnd(), 10 * MSS);
        cc.set_mss(500);
        assert_eq!(cc.cwnd(), 5000);
        // Degenerate MSS never divides by zero.
        cc.set_mss(0);
        assert_eq!(cc.cwnd(), 10);
        round(&mut cc, now, RTT, 1);
        assert_eq!(cc.cwnd(), 20);
    }
}
