//! Segment arrival (RFC 9293 §3.10.7), checks in the RFC's order:
//! sequence acceptability (after PAWS, RFC 7323 §5), RST (RFC 5961 §3),
//! SYN (RFC 5961 §4), ACK (RFC 5961 §5, the window update rule, loss
//! detection), data, FIN. Nothing is sent from here: replies are flagged
//! for [`poll_transmit`](Connection::poll_transmit).
//! // linux: tcp_rcv_state_process, tcp_validate_incoming, tcp_ack

use std::io;
use std::time::{Duration, Instant};

use super::{Connection, PendingRst, State};
use crate::stack::tcp::cc::Ack;
use crate::stack::tcp::rtt::SampleSource;
use crate::stack::tcp::scoreboard::{AckInfo, DUP_THRESH};
use crate::wire::tcp::{SackBlock, SeqNumber, TcpFlags, TcpRepr};

/// How long `TS.Recent` stays valid without updates (RFC 7323 §5.5).
const PAWS_IDLE_MAX: Duration = Duration::from_secs(24 * 24 * 3600);

/// What a segment changed, for waking the socket's waiters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputResult {
    /// The segment passed the acceptability checks.
    pub accepted: bool,
    /// New data, end of stream, or an error became readable.
    pub readable: bool,
    /// Send buffer space was freed, the connection got established, or
    /// an error occurred.
    pub writable: bool,
}

impl Connection {
    /// Processes one incoming segment addressed to this connection.
    /// Replies (ACKs, RSTs, retransmissions) are produced by the next
    /// [`poll_transmit`](Self::poll_transmit). Never panics on any input.
    pub fn on_segment(&mut self, seg: &TcpRepr<'_>, now: Instant) -> InputResult {
        let (una, rcv, fin, state) = (
            self.snd_una,
            self.rcvbuf.len(),
            self.fin_received,
            self.state,
        );
        let had_error = self.error.is_some();
        let accepted = match self.state {
            State::Closed => false,
            State::SynSent => self.input_syn_sent(seg, now),
            _ => self.input_synchronized(seg, now),
        };
        if accepted && self.state != State::Closed {
            self.keepalive_sent = 0;
            self.arm_keepalive(now);
        }
        let new_error = !had_error && self.error.is_some();
        InputResult {
            accepted,
            readable: self.rcvbuf.len() > rcv || self.fin_received != fin || new_error,
            writable: self.snd_una != una
                || (state != self.state && self.state == State::Established)
                || new_error,
        }
    }

    /// RFC 9293 §3.10.7.3. // linux: tcp_rcv_synsent_state_process
    fn input_syn_sent(&mut self, seg: &TcpRepr<'_>, now: Instant) -> bool {
        let f = seg.flags;
        let ack = seg.ack_number;
        if f.contains(TcpFlags::ACK) && (ack <= self.iss || ack > self.snd_max) {
            if !f.contains(TcpFlags::RST) {
                self.pending_rst = Some(PendingRst {
                    seq: ack,
                    ack: None,
                });
            }
            self.counters.bad_segments += 1;
            return false;
        }
        if f.contains(TcpFlags::RST) {
            if f.contains(TcpFlags::ACK) {
                self.enter_closed(Some(io::ErrorKind::ConnectionRefused));
                return true;
            }
            return false;
        }
        if !f.contains(TcpFlags::SYN) {
            return false;
        }
        self.on_peer_syn(seg, now);
        if f.contains(TcpFlags::ACK) {
            self.on_syn_acked(seg, now);
            self.sample_rtt(seg, now);
            self.ack_now = true;
        } else {
            // Simultaneous open: our SYN goes again, with an ACK.
            self.state = State::SynReceived;
            self.snd_nxt = self.iss;
        }
        true
    }

    /// Our SYN is acknowledged by `seg` (already validated).
    fn on_syn_acked(&mut self, seg: &TcpRepr<'_>, now: Instant) {
        self.syn_acked = true;
        self.snd_una = self.iss + 1;
        self.snd_nxt = self.snd_nxt.max(self.snd_una);
        self.retries = 0;
        self.rto_at = None;
        if self.state == State::SynSent || self.state == State::SynReceived {
            self.state = State::Established;
        }
        // RFC 9293 §3.10.7.4: the window of the handshake ACK is taken as
        // is; a SYN-ACK's is never scaled (RFC 7323 §2.2).
        let shift = if seg.flags.contains(TcpFlags::SYN) {
            0
        } else {
            self.snd_shift
        };
        self.snd_wnd = u32::from(seg.window_len) << shift;
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = seg.seq_number;
        self.snd_wl2 = seg.ack_number;
        if self.handshake_rexmit {
            self.rtt.on_handshake_retransmitted();
        }
        self.rtt.reset_backoff();
        self.last_recv = Some(now);
    }

    fn input_synchronized(&mut self, seg: &TcpRepr<'_>, now: Instant) -> bool {
        let f = seg.flags;
        let rst = f.contains(TcpFlags::RST);
        let syn = f.contains(TcpFlags::SYN);
        if syn && !rst && !self.syn_acked {
            if !f.contains(TcpFlags::ACK) && seg.seq_number == self.irs {
                // The peer retransmitted its SYN: our SYN-ACK was lost.
                self.snd_nxt = self.iss;
                return true;
            }
            if f.contains(TcpFlags::ACK)
                && seg.seq_number + 1 == self.rcv_nxt
                && seg.ack_number == self.snd_max
            {
                // Simultaneous open: the peer's SYN-ACK completes it.
                // // linux: tcp_validate_incoming "goto pass" case
                self.on_syn_acked(seg, now);
                self.sample_rtt(seg, now);
                return true;
            }
        }
        // PAWS (RFC 7323 §5.3): an old timestamp marks an old duplicate.
        // TS.Recent older than 24 days is no longer valid (§5.5).
        let recent_valid = self
            .ts_recent_at
            .is_some_and(|t| now.saturating_duration_since(t) <= PAWS_IDLE_MAX);
        if self.ts_ok && !rst && recent_valid {
            if let Some(ts) = seg.options.timestamp {
                if (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0
                    && !self.disordered_ack(seg, ts.tsval)
                {
                    self.counters.paws_drops += 1;
                    self.oow_ack(seg, now);
                    return false;
                }
            }
        }
        // RFC 5961 §4: a SYN in a synchronized state, whatever its
        // sequence number, gets a challenge ACK.
        if syn && !rst {
            self.challenge_ack(seg, now);
            return false;
        }
        if !self.acceptable(seg) {
            if !rst {
                self.oow_ack(seg, now);
                self.counters.bad_segments += 1;
                let (seq, len) = (seg.seq_number, seg.payload.len() as u32);
                if len > 0 && seq < self.rcv_nxt {
                    // An old duplicate: tell the peer with a D-SACK
                    // (RFC 2883). // linux: tcp_send_dupack
                    self.note_dsack(seq, (seq + len).min(self.rcv_nxt));
                }
                if self.state == State::TimeWait && f.contains(TcpFlags::FIN) {
                    // A retransmitted FIN: our ACK was lost; linger anew.
                    self.time_wait_at = Some(now + self.cfg.time_wait);
                }
            }
            return false;
        }
        if rst {
            self.input_rst(seg, now);
            return true;
        }
        if !f.contains(TcpFlags::ACK) {
            return false;
        }
        // RFC 7323 §4.3: remember the timestamp of in-window segments.
        if let Some(ts) = seg.options.timestamp.filter(|_| self.ts_ok) {
            let newer = (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0;
            if seg.seq_number <= self.last_ack_sent && (newer || !recent_valid) {
                self.ts_recent = ts.tsval;
                self.ts_recent_at = Some(now);
            }
        }
        if !self.input_ack(seg, now) || self.state == State::Closed {
            return self.state == State::Closed;
        }
        self.input_data(seg, now);
        true
    }

    /// A reordered pure duplicate ACK is harmless: it carries nothing
    /// PAWS protects, so an old timestamp (by at most about an RTO) does
    /// not drop it. // linux: tcp_disordered_ack
    fn disordered_ack(&self, seg: &TcpRepr<'_>, tsval: u32) -> bool {
        let wnd = u32::from(seg.window_len) << self.snd_shift;
        let may_update_window = seg.ack_number > self.snd_una
            || seg.seq_number > self.snd_wl1
            || (seg.seq_number == self.snd_wl1 && wnd > self.snd_wnd);
        let rto_ms = u32::try_from(self.rtt.rto().as_millis()).unwrap_or(u32::MAX);
        seg.flags.contains(TcpFlags::ACK)
            && seg.segment_len() == 0
            && seg.seq_number == self.rcv_nxt
            && seg.ack_number == self.snd_una
            && (!may_update_window || wnd == self.snd_wnd)
            && self.ts_recent.wrapping_sub(tsval) <= rto_ms
    }

    /// The receive window we last advertised.
    pub(super) fn rcv_wnd(&self) -> u32 {
        if self.rcv_adv > self.rcv_nxt {
            self.rcv_adv.distance(self.rcv_nxt)
        } else {
            0
        }
    }

    /// RFC 9293 §3.10.7.4 first check, with Linux's leniency for a zero
    /// window: a segment at `RCV.NXT` is accepted for its ACK (its data is
    /// trimmed away later).
    fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        let wnd = self.rcv_wnd();
        let seq = seg.seq_number;
        let len = seg.segment_len() as u32;
        if wnd == 0 {
            return seq == self.rcv_nxt;
        }
        if len == 0 {
            return seq.in_window(self.rcv_nxt, wnd);
        }
        seq.in_window(self.rcv_nxt, wnd) || (seq + (len - 1)).in_window(self.rcv_nxt, wnd)
    }

    /// RFC 5961 §3.2: only an exact `RCV.NXT` match resets; anything else
    /// in the window is challenged.
    fn input_rst(&mut self, seg: &TcpRepr<'_>, now: Instant) {
        if seg.seq_number != self.rcv_nxt {
            self.challenge_ack(seg, now);
            return;
        }
        let error = match self.state {
            State::SynReceived if !self.syn_acked => Some(io::ErrorKind::ConnectionRefused),
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => Some(io::ErrorKind::ConnectionReset),
            _ => None,
        };
        self.enter_closed(error);
    }

    fn challenge_ack(&mut self, seg: &TcpRepr<'_>, now: Instant) {
        if self.oow_ack(seg, now) {
            self.counters.challenge_acks += 1;
        }
    }

    /// An ACK answering an unacceptable segment. Bare ACKs, SYNs and
    /// RSTs get at most one per `invalid_ratelimit`: two ends that each
    /// find the other's ACKs out of window must not loop, and blind
    /// attackers get little feedback. Returns whether the ACK is sent.
    /// // linux: tcp_oow_rate_limited
    fn oow_ack(&mut self, seg: &TcpRepr<'_>, now: Instant) -> bool {
        let carries_data = !seg.payload.is_empty() || seg.flags.contains(TcpFlags::FIN);
        if carries_data && !seg.flags.contains(TcpFlags::SYN) {
            self.ack_now = true;
            return true;
        }
        let limited = self
            .last_oow_ack
            .is_some_and(|t| now.saturating_duration_since(t) < self.cfg.invalid_ratelimit);
        if limited {
            self.counters.oow_rate_limited += 1;
            return false;
        }
        self.last_oow_ack = Some(now);
        self.ack_now = true;
        true
    }

    /// ACK processing; false when the segment must be dropped.
    fn input_ack(&mut self, seg: &TcpRepr<'_>, now: Instant) -> bool {
        let ack = seg.ack_number;
        if !self.syn_acked {
            if ack > self.iss && ack <= self.snd_max {
                self.on_syn_acked(seg, now);
            } else {
                self.pending_rst = Some(PendingRst {
                    seq: ack,
                    ack: None,
                });
                self.counters.bad_segments += 1;
                return false;
            }
        }
        if ack > self.snd_max {
            // Acknowledges something never sent (RFC 9293; RFC 5961 §5.2).
            self.oow_ack(seg, now);
            self.counters.bad_segments += 1;
            return false;
        }
        if ack < self.snd_una - self.max_snd_wnd.max(self.snd_mss) {
            self.challenge_ack(seg, now);
            return false;
        }
        self.last_ack_at = Some(now);
        if ack < self.snd_una {
            return true; // an old duplicate: ignore its ACK, keep its data
        }
        let wnd = u32::from(seg.window_len) << self.snd_shift;
        let mut window_changed = false;
        if self.snd_wl1 < seg.seq_number || (self.snd_wl1 == seg.seq_number && self.snd_wl2 <= ack)
        {
            window_changed = wnd != self.snd_wnd;
            self.snd_wnd = wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            self.snd_wl1 = seg.seq_number;
            self.snd_wl2 = ack;
        }
        let info = if self.sack_ok {
            self.scoreboard.on_ack(ack, seg.options.sack.as_slice())
        } else {
            AckInfo::default()
        };
        if ack > self.snd_una {
            self.on_new_ack(seg, now);
        } else if seg.payload.is_empty()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && self.snd_max > self.snd_una
            && (!window_changed || info.newly_sacked > 0)
        {
            self.on_dupack(now);
        }
        if self.snd_wnd > 0 {
            self.persist_at = None;
            self.persist_backoff = 0;
        }
        true
    }

    /// RTT sample from the timestamp echo (RFC 7323 RTTM) or the timed
    /// segment (Karn's rule applied when it was sent).
    fn sample_rtt(&mut self, seg: &TcpRepr<'_>, now: Instant) -> Option<Duration> {
        let ack = seg.ack_number;
        let mut sample = None;
        if let Some(ts) = seg.options.timestamp.filter(|t| self.ts_ok && t.tsecr != 0) {
            let ms = self.ts_now(now).wrapping_sub(ts.tsecr);
            if (ms as i32) >= 0 {
                sample = Some((
                    Duration::from_millis(u64::from(ms)),
                    SampleSource::Timestamp,
                ));
            }
        }
        if let Some((end, sent)) = self.rtt_probe {
            if ack >= end {
                self.rtt_probe = None;
                if sample.is_none() {
                    sample = Some((now.saturating_duration_since(sent), SampleSource::Fresh));
                }
            }
        }
        let (rtt, source) = sample?;
        self.rtt.on_sample(rtt, source).then_some(rtt)
    }

    /// `SND.UNA < SEG.ACK <= SND.MAX`. // linux: tcp_clean_rtx_queue
    fn on_new_ack(&mut self, seg: &TcpRepr<'_>, now: Instant) {
        let ack = seg.ack_number;
        let acked = ack.distance(self.snd_una);
        let in_flight = self.snd_nxt.distance(self.snd_una);
        let start = self.data_start();
        if ack > start {
            self.sndbuf.consume(ack.distance(start) as usize);
        }
        self.snd_una = ack;
        self.snd_nxt = self.snd_nxt.max(ack);
        let rtt = self.sample_rtt(seg, now);
        // The path is alive: end any backoff even without a sample.
        self.rtt.reset_backoff();
        self.retries = 0;
        match self.recover {
            Some(point) if ack >= point => {
                self.recover = None;
                self.inflation = 0;
                self.dupacks = 0;
                self.scoreboard.maybe_exit_recovery();
                self.cc.on_recovery_exit(now);
            }
            Some(_) => {
                // RFC 6582 §3.2 step 5: a partial ACK; the next hole goes
                // out at once, the window deflates by what was acked.
                if !self.sack_ok {
                    self.rexmit_head = true;
                    self.inflation = self
                        .inflation
                        .saturating_sub(acked)
                        .saturating_add(self.snd_mss);
                }
            }
            None => {
                self.dupacks = 0;
                let cwnd = self.cc.cwnd();
                let ack = Ack {
                    acked,
                    in_flight,
                    rtt,
                    app_limited: u64::from(in_flight) * 2 < u64::from(cwnd),
                };
                self.cc.on_ack(&ack, now);
            }
        }
        // RFC 6298 5.2/5.3.
        self.rto_at = (self.snd_una != self.snd_max).then(|| now + self.rtt.rto());
        if self.fin_seq.is_some_and(|fin| ack > fin) {
            match self.state {
                State::FinWait1 => {
                    self.state = State::FinWait2;
                    self.arm_fin_wait2(now);
                }
                State::Closing => self.enter_time_wait(now),
                State::LastAck => self.enter_closed(None),
                _ => {}
            }
        }
    }

    /// A duplicate ACK (RFC 5681 §2): counts toward fast retransmit, or
    /// inflates the window during NewReno recovery.
    fn on_dupack(&mut self, now: Instant) {
        self.counters.dup_acks += 1;
        self.dupacks += 1;
        if self.recover.is_some() {
            if !self.sack_ok {
                self.inflation = self.inflation.saturating_add(self.snd_mss);
            }
            return;
        }
        let lost = self.dupacks >= self.dup_thresh()
            || (self.sack_ok && self.scoreboard.is_lost(self.snd_una, self.snd_mss));
        // RFC 6582 §3.2 step 2: not again for losses of the last recovery.
        if !lost || self.snd_una < self.high_recover {
            return;
        }
        let in_flight = self.snd_nxt.distance(self.snd_una);
        self.recover = Some(self.snd_max);
        self.high_recover = self.snd_max;
        self.cc.on_loss_fast(now, in_flight);
        if self.sack_ok {
            self.scoreboard.enter_recovery();
            self.counters.sack_recoveries += 1;
        } else {
            self.inflation = DUP_THRESH * self.snd_mss;
            self.counters.reno_recoveries += 1;
        }
        self.counters.fast_retrans += 1;
        self.rexmit_head = true;
        self.rtt_probe = None;
    }

    /// Duplicate ACKs that mean a loss: 3, or fewer when so little is in
    /// flight that 3 can never arrive and nothing new may be sent
    /// (Early Retransmit, RFC 5827 §3.1: `oseg - 1` for 2 or 3
    /// outstanding segments), so a loss near the end of a flight is not
    /// left to the retransmission timer. // linux: tcp_time_to_recover
    fn dup_thresh(&self) -> u32 {
        if self.unsent() > 0 {
            return DUP_THRESH;
        }
        let oseg = self
            .snd_max
            .distance(self.snd_una)
            .div_ceil(self.snd_mss.max(1));
        if (2..=DUP_THRESH).contains(&oseg) {
            oseg - 1
        } else {
            DUP_THRESH
        }
    }

    /// Data and FIN (RFC 9293 §3.10.7.4 sixth to eighth checks).
    /// // linux: tcp_data_queue
    fn input_data(&mut self, seg: &TcpRepr<'_>, now: Instant) {
        if !self.state.may_receive() {
            return; // the peer's FIN came before: nothing more is data
        }
        let mut fin = seg.flags.contains(TcpFlags::FIN);
        let mut seq = seg.seq_number;
        let mut data = seg.payload;
        if seq < self.rcv_nxt {
            let dup = self.rcv_nxt.distance(seq) as usize;
            if !data.is_empty() {
                self.note_dsack(seq, seq + dup.min(data.len()) as u32);
            }
            if dup > data.len() {
                return; // FIN included: already processed
            }
            data = &data[dup..];
            seq = self.rcv_nxt;
        }
        let room = self.rcv_wnd() as usize;
        let offset = seq.distance(self.rcv_nxt) as usize;
        let fits = room.saturating_sub(offset);
        if data.len() > fits {
            data = &data[..fits];
            fin = false;
        }
        if data.is_empty() && !fin {
            if !seg.payload.is_empty() {
                self.ack_now = true; // zero window: tell the peer again
            }
            return;
        }
        if self
            .last_recv
            .is_some_and(|t| now.saturating_duration_since(t) > self.rtt.rto())
        {
            self.quickacks = self.cfg.quickacks; // idle: quick-ack mode
        }
        self.last_recv = Some(now);
        if fin {
            self.peer_fin = Some(seq + data.len() as u32);
        }
        if seq == self.rcv_nxt {
            self.rcvbuf.push(data);
            self.rcv_nxt += data.len() as u32;
            let had_ooo = !self.ooo.is_empty();
            while let Some(piece) = self.ooo.pop_in_order(self.rcv_nxt) {
                let bytes = piece.bytes();
                self.rcvbuf.push(bytes);
                self.rcv_nxt += bytes.len() as u32;
            }
            if had_ooo {
                self.ack_now = true; // a hole filled: ACK at once (RFC 5681)
            }
            self.schedule_ack(data.len() as u32, now);
        } else {
            if !data.is_empty() {
                let ins = self.ooo.insert(self.rcv_nxt, seq, data.to_vec());
                if ins.new_bytes > 0 {
                    self.counters.ofo_queued += 1;
                }
                // Many tiny segments could hold far more memory than the
                // window promises: drop the highest. // linux: tcp_prune_ofo_queue
                let pruned = self.ooo.prune(self.cfg.recv_buf.max(1));
                self.counters.ofo_pruned += pruned as u64;
                if let Some(d) = ins.duplicate {
                    self.note_dsack(d.left, d.right);
                }
            }
            self.ack_now = true; // out of order: duplicate ACK now
        }
        if self.peer_fin == Some(self.rcv_nxt) && !self.fin_received {
            self.rcv_nxt += 1;
            self.fin_received = true;
            self.ack_now = true;
            match self.state {
                State::SynReceived | State::Established => self.state = State::CloseWait,
                State::FinWait1 => self.state = State::Closing,
                State::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        }
    }

    /// Duplicate data `[left, right)`: ACK at once with a D-SACK.
    fn note_dsack(&mut self, left: SeqNumber, right: SeqNumber) {
        self.ack_now = true;
        if self.sack_ok && self.dsack.is_none() {
            self.dsack = Some(SackBlock { left, right });
            self.counters.dsack_sent += 1;
        }
    }

    /// In-order data arrived: ACK now in quick-ack mode or on every
    /// second full segment, else within the delayed-ACK time.
    /// // linux: __tcp_ack_snd_check
    fn schedule_ack(&mut self, bytes: u32, now: Instant) {
        if bytes == 0 {
            return;
        }
        self.unacked_bytes = self.unacked_bytes.saturating_add(bytes);
        if self.quickacks > 0 {
            self.quickacks -= 1;
            self.ack_now = true;
        } else if self.unacked_bytes >= 2 * self.rcv_mss {
            self.ack_now = true;
        } else {
            self.ack_pending = true;
            if self.delack_at.is_none() {
                self.delack_at = Some(now + self.cfg.delayed_ack);
            }
        }
    }
}
