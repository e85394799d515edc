//! The connection's timers, as deadlines the socket layer arms one
//! timer for: retransmission (RFC 6298 with give-up), delayed ACK,
//! persist (zero-window probes) and TIME-WAIT. // linux: tcp_timer.c

use std::io;
use std::time::{Duration, Instant};

use super::{Connection, State};

impl Connection {
    /// The earliest instant [`on_timer`](Self::on_timer) has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.rto_at,
            self.delack_at,
            self.persist_at,
            self.time_wait_at,
            self.keepalive_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every timer due at `now`; then call
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn on_timer(&mut self, now: Instant) {
        if self.time_wait_at.is_some_and(|t| t <= now) {
            self.enter_closed(None);
            return;
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            self.on_rto(now);
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            if self.ack_pending {
                self.ack_now = true;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            self.on_persist(now);
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = None;
            self.on_keepalive(now);
        }
    }

    /// The keepalive timer: probe a silent peer, give up after the
    /// configured number of unanswered probes. // linux: tcp_keepalive_timer
    fn on_keepalive(&mut self, now: Instant) {
        let Some(ka) = self.cfg.keepalive else { return };
        if self.snd_max != self.snd_una || self.unsent() > 0 {
            // Data in flight: the retransmission timer watches the peer.
            self.keepalive_at = Some(now + ka.idle);
            return;
        }
        if self.keepalive_sent >= ka.probes {
            self.enter_closed(Some(io::ErrorKind::TimedOut));
            return;
        }
        self.keepalive_sent += 1;
        self.counters.keepalive_probes += 1;
        self.probe_now = true;
        self.keepalive_at = Some(now + ka.interval);
    }

    /// The retransmission timer expired: back off, collapse the window,
    /// resend from `SND.UNA`; give up after the configured retries.
    /// // linux: tcp_retransmit_timer
    fn on_rto(&mut self, now: Instant) {
        if self.snd_una == self.snd_max || self.state == State::Closed {
            return;
        }
        let limit = if self.syn_acked {
            self.cfg.retries
        } else {
            self.cfg.syn_retries
        };
        if self.syn_acked && self.snd_wnd == 0 {
            // The peer shrank its window onto data in flight: our
            // retransmissions become window probes, and only a peer that
            // stopped answering times out. // linux: tcp_retransmit_timer
            let silent = self
                .last_ack_at
                .is_none_or(|t| now.saturating_duration_since(t) > self.cfg.rto.max);
            if silent {
                self.enter_closed(Some(io::ErrorKind::TimedOut));
                return;
            }
            self.counters.timeouts += 1;
            self.rtt.on_timeout();
            self.probe_now = true;
            self.counters.window_probes += 1;
            self.rto_at = Some(now + self.rtt.rto());
            return;
        }
        if self.retries >= limit {
            self.enter_closed(Some(io::ErrorKind::TimedOut));
            return;
        }
        self.retries += 1;
        self.counters.timeouts += 1;
        self.rtt.on_timeout();
        if self.syn_acked {
            let in_flight = self.snd_nxt.distance(self.snd_una);
            self.cc.on_rto(now, in_flight);
            if self.sack_ok {
                self.scoreboard.on_rto();
            }
        } else {
            self.handshake_rexmit = true;
        }
        // RFC 6582 §3.2 step 4 ("recover" after a timeout).
        self.high_recover = self.snd_max;
        self.recover = None;
        self.inflation = 0;
        self.dupacks = 0;
        self.rexmit_head = false;
        self.rtt_probe = None;
        self.snd_nxt = self.snd_una;
        self.rto_at = Some(now + self.rtt.rto());
    }

    /// The persist timer: probe a closed window, or push what a too
    /// small window allows. // linux: tcp_probe_timer, tcp_write_wakeup
    fn on_persist(&mut self, now: Instant) {
        if !self.syn_acked || self.unsent() == 0 || self.snd_max != self.snd_una {
            self.persist_backoff = 0;
            return;
        }
        if self.snd_wnd == 0 {
            self.probe_now = true;
            self.counters.window_probes += 1;
        } else {
            // A window below the SWS threshold: send what fits anyway.
            self.max_snd_wnd = self.max_snd_wnd.min(self.snd_wnd);
        }
        self.persist_backoff = (self.persist_backoff + 1).min(16);
        self.persist_at = Some(now + self.persist_interval());
    }

    /// Persist timer interval: the RTO, doubled per unanswered probe.
    pub(super) fn persist_interval(&self) -> Duration {
        let base = self.rtt.rto();
        base.saturating_mul(1 << self.persist_backoff.min(16))
            .min(self.cfg.rto.max)
    }
}
