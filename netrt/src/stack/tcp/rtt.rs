//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! [`RttEstimator`] keeps the smoothed RTT (SRTT) and its mean deviation
//! (RTTVAR) from RTT samples and derives the retransmission timeout:
//!
//! * first sample `R`: `SRTT = R`, `RTTVAR = R/2`;
//! * later samples: `RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|`, then
//!   `SRTT = 7/8 SRTT + 1/8 R`;
//! * `RTO = SRTT + max(G, 4 RTTVAR)`, clamped to `[min, max]` (200 ms and
//!   120 s by default, Linux's `TCP_RTO_MIN`/`TCP_RTO_MAX`);
//! * every expiry doubles the timeout ([`RttEstimator::on_timeout`]), up
//!   to `max`; the next valid sample ends the backoff.
//!
//! Karn's rule: the caller says where a sample comes from
//! ([`SampleSource`]). An ACK of a retransmitted segment is ambiguous and
//! gives no sample, unless the RTT was measured with timestamps (RFC 7323
//! RTTM), which identify the transmission being acknowledged.
//!
//! Arithmetic is in integer microseconds: no rounding drift, and the
//! hand-computed sequences of the tests are exact.
//! // linux: tcp_rtt_estimator, tcp_set_rto, inet_csk_rto_backoff

use std::time::Duration;

/// Tunables of the estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoConfig {
    /// Lower bound of the timeout (RFC 6298 says 1 s; Linux uses 200 ms).
    pub min: Duration,
    /// Upper bound of the timeout, backoff included (Linux: 120 s).
    pub max: Duration,
    /// Timeout before any sample (RFC 6298 2.1: 1 s).
    pub initial: Duration,
    /// Clock granularity `G` in `SRTT + max(G, 4 RTTVAR)`.
    pub granularity: Duration,
}

impl RtoConfig {
    /// Linux's bounds: 200 ms minimum, 120 s maximum, 1 s initial, 1 ms
    /// clock granularity.
    pub const LINUX: RtoConfig = RtoConfig {
        min: Duration::from_millis(200),
        max: Duration::from_secs(120),
        initial: Duration::from_secs(1),
        granularity: Duration::from_millis(1),
    };
}

impl Default for RtoConfig {
    fn default() -> Self {
        RtoConfig::LINUX
    }
}

/// Where an RTT sample comes from, for Karn's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleSource {
    /// Timed from a segment sent exactly once.
    Fresh,
    /// Timed from a segment that was retransmitted: ambiguous, ignored.
    Retransmitted,
    /// Measured from an echoed timestamp (RFC 7323 RTTM): always valid,
    /// even for retransmitted segments.
    Timestamp,
}

/// The timeout after a lost SYN: RFC 6298 5.7 restarts data transfer
/// with a 3 s RTO when the handshake needed a retransmission.
pub const RTO_AFTER_SYN_LOSS: Duration = Duration::from_secs(3);

/// Samples above this are clamped (an hour: no real RTT, and the
/// arithmetic stays far from overflow).
const MAX_SAMPLE_US: u64 = 3_600_000_000;

/// Backoff shifts beyond this already exceed any sane maximum.
const MAX_BACKOFF: u32 = 32;

/// SRTT/RTTVAR estimator and RTO with exponential backoff (RFC 6298).
#[derive(Debug, Clone)]
pub struct RttEstimator {
    cfg: RtoConfig,
    /// Smoothed RTT in µs; meaningful once `has_sample`.
    srtt_us: u64,
    /// RTT mean deviation in µs.
    rttvar_us: u64,
    /// Smallest sample seen (µs), for congestion control.
    min_rtt_us: u64,
    /// The timeout before backoff, in µs.
    base_rto_us: u64,
    /// Expiries since the last valid sample.
    backoff: u32,
    has_sample: bool,
}

impl RttEstimator {
    /// An estimator with no sample yet: the timeout is `cfg.initial`.
    pub fn new(cfg: RtoConfig) -> Self {
        let mut est = RttEstimator {
            cfg,
            srtt_us: 0,
            rttvar_us: 0,
            min_rtt_us: u64::MAX,
            base_rto_us: 0,
            backoff: 0,
            has_sample: false,
        };
        est.base_rto_us = est.clamp_us(us(cfg.initial));
        est
    }

    /// The configuration in use.
    pub fn config(&self) -> &RtoConfig {
        &self.cfg
    }

    /// Feeds one RTT measurement. Returns whether it was used: samples
    /// from retransmitted segments are discarded (Karn's rule). A used
    /// sample recomputes the timeout and ends any backoff.
    pub fn on_sample(&mut self, rtt: Duration, source: SampleSource) -> bool {
        if source == SampleSource::Retransmitted {
            return false;
        }
        let r = us(rtt).min(MAX_SAMPLE_US);
        if self.has_sample {
            // RFC 6298 2.3, in that order: RTTVAR uses the old SRTT.
            let err = self.srtt_us.abs_diff(r);
            self.rttvar_us = (3 * self.rttvar_us + err) / 4;
            self.srtt_us = (7 * self.srtt_us + r) / 8;
        } else {
            // RFC 6298 2.2.
            self.srtt_us = r;
            self.rttvar_us = r / 2;
            self.has_sample = true;
        }
        self.min_rtt_us = self.min_rtt_us.min(r);
        let var_term = us(self.cfg.granularity).max(4 * self.rttvar_us);
        self.base_rto_us = self.clamp_us(self.srtt_us + var_term);
        self.backoff = 0;
        true
    }

    /// The retransmission timer expired: double the timeout (RFC 6298
    /// 5.5), up to the maximum.
    pub fn on_timeout(&mut self) {
        self.backoff = (self.backoff + 1).min(MAX_BACKOFF);
    }

    /// Ends a backoff without a sample (Linux does this when a zero-window
    /// probe or new data is acknowledged and the path is clearly alive).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// RFC 6298 5.7: the SYN (or SYN-ACK) was retransmitted and no sample
    /// was taken during the handshake, so data transfer starts with a 3 s
    /// timeout (still within `[min, max]`). A no-op once a sample exists.
    pub fn on_handshake_retransmitted(&mut self) {
        if !self.has_sample {
            self.base_rto_us = self.clamp_us(us(RTO_AFTER_SYN_LOSS));
        }
    }

    /// The current retransmission timeout, backoff included.
    pub fn rto(&self) -> Duration {
        let max = us(self.cfg.max);
        let rto = self
            .base_rto_us
            .checked_shl(self.backoff)
            .filter(|&v| v >> self.backoff == self.base_rto_us)
            .unwrap_or(max);
        Duration::from_micros(rto.min(max))
    }

    /// The timeout without backoff.
    pub fn base_rto(&self) -> Duration {
        Duration::from_micros(self.base_rto_us)
    }

    /// Expiries since the last valid sample.
    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// Smoothed RTT, once a sample was taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.has_sample.then(|| Duration::from_micros(self.srtt_us))
    }

    /// RTT mean deviation, once a sample was taken.
    pub fn rttvar(&self) -> Option<Duration> {
        self.has_sample
            .then(|| Duration::from_micros(self.rttvar_us))
    }

    /// The smallest sample seen so far.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.has_sample
            .then(|| Duration::from_micros(self.min_rtt_us))
    }

    fn clamp_us(&self, v: u64) -> u64 {
        // `max(min)` first: a misconfiguration with min > max yields max.
        v.max(us(self.cfg.min)).min(us(self.cfg.max))
    }
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator::new(RtoConfig::default())
    }
}

/// A duration in whole microseconds, saturating.
fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn micros(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn initial_timeout_before_any_sample() {
        let est = RttEstimator::default();
        assert_eq!(est.rto(), Duration::from_secs(1));
        assert_eq!(est.srtt(), None);
        assert_eq!(est.rttvar(), None);
    }

    #[test]
    fn hand_computed_sequence() {
        // No minimum so the raw RFC values are visible.
        let cfg = RtoConfig {
            min: Duration::ZERO,
            ..RtoConfig::LINUX
        };
        let mut est = RttEstimator::new(cfg);
        // First: SRTT 100, RTTVAR 50, RTO 100 + 4*50 = 300 ms.
        assert!(est.on_sample(ms(100), SampleSource::Fresh));
        assert_eq!(est.srtt(), Some(ms(100)));
        assert_eq!(est.rttvar(), Some(ms(50)));
        assert_eq!(est.rto(), ms(300));
        // 200 ms: RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 7/8*100 + 1/8*200
        // = 112.5; RTO = 112.5 + 250 = 362.5 ms.
        assert!(est.on_sample(ms(200), SampleSource::Fresh));
        assert_eq!(est.rttvar(), Some(micros(62_500)));
        assert_eq!(est.srtt(), Some(micros(112_500)));
        assert_eq!(est.rto(), micros(362_500));
        // 112.5 ms exactly: RTTVAR = 3/4*62.5 = 46.875; SRTT unchanged;
        // RTO = 112.5 + 187.5 = 300 ms.
        assert!(est.on_sample(micros(112_500), SampleSource::Fresh));
        assert_eq!(est.rttvar(), Some(micros(46_875)));
        assert_eq!(est.srtt(), Some(micros(112_500)));
        assert_eq!(est.rto(), ms(300));
        assert_eq!(est.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn minimum_and_granularity() {
        let mut est = RttEstimator::default();
        // 1 ms LAN: 1 + 4*0.5 = 3 ms, raised to the 200 ms floor.
        est.on_sample(ms(1), SampleSource::Fresh);
        assert_eq!(est.rto(), ms(200));
        // A configurable floor: 5 ms.
        let mut est = RttEstimator::new(RtoConfig {
            min: ms(5),
            ..RtoConfig::LINUX
        });
        est.on_sample(ms(1), SampleSource::Fresh);
        assert_eq!(est.rto(), ms(5));
        // Constant samples drive RTTVAR to zero; G (1 ms) then dominates.
        let mut est = RttEstimator::new(RtoConfig {
            min: Duration::ZERO,
            ..RtoConfig::LINUX
        });
        for _ in 0..64 {
            est.on_sample(ms(10), SampleSource::Fresh);
        }
        assert_eq!(est.rttvar(), Some(Duration::ZERO));
        assert_eq!(est.rto(), ms(11));
    }

    #[test]
    fn zero_and_huge_samples_do_not_panic() {
        let mut est = RttEstimator::default();
        assert!(est.on_sample(Duration::ZERO, SampleSource::Fresh));
        assert_eq!(est.srtt(), Some(Duration::ZERO));
        assert_eq!(est.rto(), ms(200));
        assert!(est.on_sample(Duration::MAX, SampleSource::Fresh));
        assert_eq!(est.rto(), Duration::from_secs(120));
        for _ in 0..100 {
            est.on_timeout();
        }
        assert_eq!(est.rto(), Duration::from_secs(120));
    }

    #[test]
    fn karn_ignores_retransmitted_samples_but_not_timestamps() {
        let mut est = RttEstimator::default();
        est.on_sample(ms(300), SampleSource::Fresh);
        let rto = est.rto(); // 300 + 600 = 900 ms
        assert_eq!(rto, ms(900));
        est.on_timeout();
        assert_eq!(est.rto(), ms(1800));
        // The ACK of the retransmission: ambiguous, backoff stays.
        assert!(!est.on_sample(ms(10), SampleSource::Retransmitted));
        assert_eq!(est.srtt(), Some(ms(300)));
        assert_eq!(est.rto(), ms(1800));
        // With timestamps the same ACK is a valid sample and ends backoff:
        // RTTVAR = 3/4*150 + 1/4*290 = 185; SRTT = 7/8*300 + 1/8*10 =
        // 263.75; RTO = 263.75 + 740 = 1003.75 ms.
        assert!(est.on_sample(ms(10), SampleSource::Timestamp));
        assert_eq!(est.backoff(), 0);
        assert_eq!(est.rto(), micros(1_003_750));
    }

    #[test]
    fn exponential_backoff_is_capped() {
        let mut est = RttEstimator::default();
        est.on_sample(ms(100), SampleSource::Fresh); // RTO 300 ms
        let expect = [
            600, 1200, 2400, 4800, 9600, 19_200, 38_400, 76_800, 120_000, 120_000,
        ];
        for want in expect {
            est.on_timeout();
            assert_eq!(est.rto(), ms(want));
        }
        assert_eq!(est.base_rto(), ms(300));
        est.reset_backoff();
        assert_eq!(est.rto(), ms(300));
    }

    #[test]
    fn syn_loss_restarts_at_three_seconds() {
        let mut est = RttEstimator::default();
        est.on_timeout(); // SYN lost: 2 s
        assert_eq!(est.rto(), ms(2000));
        est.on_handshake_retransmitted();
        est.reset_backoff();
        assert_eq!(est.rto(), ms(3000));
        // Once sampled, the rule no longer applies.
        est.on_sample(ms(100), SampleSource::Fresh);
        est.on_handshake_retransmitted();
        assert_eq!(est.rto(), ms(300));
    }
}
