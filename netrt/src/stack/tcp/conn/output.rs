//! Segment construction: SYN and SYN-ACK with options, data limited by
//! the congestion window, the peer's window, the MSS, Nagle (RFC 896)
//! and sender SWS avoidance (RFC 9293 §3.8.6.2.1); retransmissions
//! (go-back after an RTO, NewReno's head, RFC 6675's `NextSeg`); ACKs
//! with SACK blocks and a window chosen with receiver SWS avoidance
//! (§3.8.6.2.2); zero-window probes. // linux: tcp_write_xmit, tcp_transmit_skb

use std::time::Instant;

use super::{Connection, State};
use crate::stack::tcp::scoreboard::NextSeg;
use crate::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, TcpTimestamp};

impl Connection {
    /// Emits every segment that is due now, in order, through `emit`;
    /// returns how many. Call after any input, user call or timer.
    pub fn poll_transmit(&mut self, now: Instant, emit: &mut impl FnMut(TcpRepr<'_>)) -> usize {
        let mut n = 0;
        let mut out = |r: TcpRepr<'_>| {
            n += 1;
            emit(r)
        };
        if let Some(rst) = self.pending_rst.take() {
            self.counters.out_rsts += 1;
            let mut r = self.bare(rst.seq, TcpFlags::RST);
            if let Some(ack) = rst.ack {
                r.flags |= TcpFlags::ACK;
                r.ack_number = ack;
            }
            out(r);
        }
        if self.state == State::Closed {
            return n;
        }
        // Our SYN is due (first time or after a timeout). A close before
        // the handshake completed leaves it due in FIN-WAIT-1.
        if !self.syn_acked && self.snd_nxt == self.iss {
            let flags = if self.state == State::SynSent {
                TcpFlags::SYN
            } else {
                TcpFlags::SYN | TcpFlags::ACK
            };
            let hdr = self.header(self.iss, flags, now);
            out(hdr);
            self.on_transmitted(self.iss, 1, now);
        }
        let sending = matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        );
        if self.syn_acked && sending {
            self.transmit_data(now, &mut out);
        }
        if self.probe_now {
            self.probe_now = false;
            // An old sequence number elicits an ACK with the window.
            // // linux: tcp_xmit_probe_skb
            let hdr = self.header(self.snd_una - 1, TcpFlags::ACK, now);
            out(hdr);
        }
        if self.ack_now && self.state.is_synchronized() && self.syn_acked {
            // SND.MAX, not SND.NXT: after a timeout rewound SND.NXT the
            // peer may hold more, and an ACK below its RCV.NXT would be
            // unacceptable to it (and answered: an ACK loop).
            // // linux: tcp_acceptable_seq
            let hdr = self.header(self.snd_max, TcpFlags::ACK, now);
            out(hdr);
        }
        n
    }

    /// Data, FIN and retransmissions.
    fn transmit_data(&mut self, now: Instant, out: &mut impl FnMut(TcpRepr<'_>)) {
        if self.snd_una == self.snd_max && self.unsent() > 0 {
            if let Some(last) = self.last_send {
                let idle = now.saturating_duration_since(last);
                if idle > self.rtt.rto() {
                    self.cc.on_idle_restart(now, idle, self.rtt.rto());
                }
            }
        }
        if self.rexmit_head {
            self.rexmit_head = false;
            let len = self.snd_mss.min(self.outstanding_data(self.snd_una));
            self.send_segment(self.snd_una, len, now, out);
            if self.sack_ok {
                self.scoreboard.on_retransmit(self.snd_una, len.max(1));
            }
        }
        if self.sack_ok && self.recover.is_some() {
            self.sack_recovery(now, out);
        } else {
            let cwnd = self.cc.cwnd().saturating_add(self.inflation);
            while let Some(len) = self.next_send_len(cwnd, self.max_payload()) {
                self.send_segment(self.snd_nxt, len, now, out);
            }
        }
        if self.unsent() > 0 && self.snd_max == self.snd_una && self.persist_at.is_none() {
            // Nothing in flight will bring an ACK that opens the window.
            self.persist_at = Some(now + self.persist_interval());
        }
    }

    /// RFC 6675 §5 steps (C): send while `cwnd - pipe >= 1 SMSS`.
    fn sack_recovery(&mut self, now: Instant, out: &mut impl FnMut(TcpRepr<'_>)) {
        loop {
            let mss = self.snd_mss;
            let pipe = self.scoreboard.pipe(mss);
            let cwnd = self.cc.cwnd();
            if pipe.saturating_add(mss) > cwnd {
                return;
            }
            let new_len = self.next_send_len(u32::MAX, mss);
            match self.scoreboard.next_seg(mss, new_len.is_some()) {
                NextSeg::Retransmit { seq, len, .. } => {
                    self.send_segment(seq, len, now, out);
                    self.scoreboard.on_retransmit(seq, len);
                }
                // Rule 4's rescue, unless that data was just resent.
                NextSeg::Rescue { seq, len } if seq + len > self.rexmit_high => {
                    self.send_segment(seq, len, now, out);
                    self.scoreboard.on_rescue();
                }
                NextSeg::Rescue { .. } => return,
                NextSeg::NewData => match new_len {
                    Some(len) => self.send_segment(self.snd_nxt, len, now, out),
                    None => return,
                },
                NextSeg::Nothing => return,
            }
        }
    }

    /// Bytes of data from `seq` to the end of the send buffer.
    fn outstanding_data(&self, seq: SeqNumber) -> u32 {
        let end = self.data_start() + self.sndbuf.len() as u32;
        if end > seq {
            end.distance(seq)
        } else {
            0
        }
    }

    /// Bytes never sent (from `SND.NXT`).
    pub(super) fn unsent(&self) -> u32 {
        self.outstanding_data(self.snd_nxt)
    }

    /// Whether our FIN still has to go at `SND.NXT`.
    fn fin_due(&self) -> bool {
        self.fin_seq.is_some_and(|fin| self.snd_nxt <= fin)
    }

    /// The payload of the next new segment, if one may go now (0 for a
    /// bare FIN): window, MSS, sender SWS and Nagle decide.
    /// // linux: tcp_snd_wnd_test, tcp_nagle_test
    fn next_send_len(&self, cwnd: u32, max_len: u32) -> Option<u32> {
        let unsent = self.unsent();
        if unsent == 0 {
            let in_flight = self.snd_nxt.distance(self.snd_una);
            return (self.fin_due() && cwnd > in_flight).then_some(0);
        }
        let mut len = unsent.min(max_len).min(self.window_room(cwnd));
        if len == 0 {
            return None;
        }
        if self.snd_nxt < self.snd_max {
            // Resending after a timeout: the data already went once; no
            // Nagle or SWS delay for it. // linux: tcp_retransmit_skb
            return Some(len.min(self.snd_max.distance(self.snd_nxt)));
        }
        if len > self.snd_mss && len < unsent {
            // A TSO segment is cut into full MSS segments by the device:
            // a partial last one waits like any small segment.
            len -= len % self.snd_mss;
        }
        if len < self.snd_mss && len < unsent {
            // Window-limited: no silly small segment. The peer's window
            // will open (ACK) or the persist timer forces progress.
            return (len >= self.max_snd_wnd / 2).then_some(len);
        }
        let closes = self.fin_seq == Some(self.snd_nxt + len);
        if len < self.snd_mss && !self.cfg.nodelay && !closes && self.snd_nxt != self.snd_una {
            return None; // Nagle: one small segment in flight at a time
        }
        Some(len)
    }

    /// The payload of a full segment whose options take `options_len`
    /// bytes: the MSS less what the options need beyond timestamps. A
    /// TSO segment is cut at this size.
    pub fn segment_mss(&self, options_len: usize) -> u32 {
        segment_mss(self.snd_mss, self.ts_ok, options_len)
    }

    /// The largest payload of one emitted segment: the MSS, or with TSO
    /// a whole number of MSS up to `cfg.tso_max`.
    pub(super) fn max_payload(&self) -> u32 {
        let mss = self.snd_mss;
        if self.cfg.tso_max > mss {
            self.cfg.tso_max - self.cfg.tso_max % mss
        } else {
            mss
        }
    }

    /// Bytes the congestion window and the peer's window allow at
    /// `SND.NXT`.
    fn window_room(&self, cwnd: u32) -> u32 {
        let in_flight = self.snd_nxt.distance(self.snd_una);
        let right = self.snd_una + self.snd_wnd;
        let rwnd = if right > self.snd_nxt {
            right.distance(self.snd_nxt)
        } else {
            0
        };
        cwnd.saturating_sub(in_flight).min(rwnd)
    }

    /// Sends `len` bytes at `seq` (with our FIN if they end where it
    /// goes) and does the bookkeeping.
    fn send_segment(
        &mut self,
        seq: SeqNumber,
        len: u32,
        now: Instant,
        out: &mut impl FnMut(TcpRepr<'_>),
    ) {
        let mut hdr = self.header(seq, TcpFlags::ACK, now);
        // SACK blocks take room the MSS (which counts only timestamps)
        // did not reserve: shrink the payload so the packet still fits
        // the path MTU. // linux: tcp_current_mss
        let eff = self.segment_mss(hdr.options.buffer_len());
        let mut len = len.min(self.outstanding_data(seq));
        if eff < self.snd_mss && len > eff {
            len = if len <= self.snd_mss {
                eff
            } else {
                len - len % eff
            };
        }
        let off = seq.distance(self.data_start()) as usize;
        let fin = self.fin_seq == Some(seq + len);
        if fin {
            hdr.flags |= TcpFlags::FIN;
        }
        if len > 0 && off + len as usize == self.sndbuf.len() {
            hdr.flags |= TcpFlags::PSH;
        }
        out(TcpRepr {
            payload: self.sndbuf.slice(off, len as usize),
            ..hdr
        });
        self.on_transmitted(seq, len + u32::from(fin), now);
    }

    /// Sequence bookkeeping after sending `[seq, seq + seq_len)`.
    fn on_transmitted(&mut self, seq: SeqNumber, seq_len: u32, now: Instant) {
        let end = seq + seq_len;
        if seq < self.snd_max {
            self.counters.retrans_segs += 1;
            self.rexmit_high = self.rexmit_high.max(end);
            // Karn: an ACK covering a retransmission gives no sample.
            if self.rtt_probe.is_some_and(|(e, _)| seq < e) {
                self.rtt_probe = None;
            }
        } else if self.rtt_probe.is_none() && !self.ts_ok {
            self.rtt_probe = Some((end, now));
        }
        if seq == self.snd_nxt {
            self.snd_nxt = end;
        }
        if end > self.snd_max {
            self.snd_max = end;
            self.scoreboard.on_send(end);
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
        self.last_send = Some(now);
    }

    /// A segment with no options and no ACK (for RSTs).
    fn bare(&self, seq: SeqNumber, flags: TcpFlags) -> TcpRepr<'static> {
        TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq_number: seq,
            ack_number: SeqNumber(0),
            flags,
            window_len: 0,
            urgent_pointer: 0,
            options: TcpOptions::default(),
            payload: &[],
        }
    }

    /// Header of a segment we send: options, ACK and window; sending an
    /// ACK settles every pending ACK.
    fn header(&mut self, seq: SeqNumber, flags: TcpFlags, now: Instant) -> TcpRepr<'static> {
        let mut r = self.bare(seq, flags);
        let tsval = self.ts_now(now);
        let o = &mut r.options;
        if flags.contains(TcpFlags::SYN) {
            o.mss = Some(self.cfg.mss);
            if self.state == State::SynSent {
                o.window_scale = self.cfg.window_scaling.then(|| self.cfg.window_shift());
                o.sack_permitted = self.cfg.sack;
                o.timestamp = self
                    .cfg
                    .timestamps
                    .then_some(TcpTimestamp { tsval, tsecr: 0 });
            } else {
                o.window_scale = self.ws_ok.then_some(self.rcv_shift);
                o.sack_permitted = self.sack_ok;
            }
        }
        if self.ts_ok {
            o.timestamp = Some(TcpTimestamp {
                tsval,
                tsecr: self.ts_recent,
            });
        }
        if flags.contains(TcpFlags::ACK) {
            if self.sack_ok && !flags.contains(TcpFlags::SYN) {
                let max = if self.ts_ok { 3 } else { 4 };
                o.sack = self.ooo.sack_blocks(self.dsack.take(), max);
            }
            r.ack_number = self.rcv_nxt;
            self.ack_now = false;
            self.ack_pending = false;
            self.delack_at = None;
            self.unacked_bytes = 0;
            self.last_ack_sent = self.rcv_nxt;
        }
        r.window_len = if flags.contains(TcpFlags::SYN) {
            // Never scaled in a SYN (RFC 7323 §2.2).
            let w = self.rcvbuf.capacity().min(usize::from(u16::MAX)) as u16;
            self.rcv_adv = self.rcv_nxt + u32::from(w);
            w
        } else {
            self.window_field()
        };
        r
    }

    /// The window to advertise, scaled, never shrinking the right edge;
    /// it grows only by at least `min(buffer/2, MSS)` (receiver SWS
    /// avoidance). // linux: __tcp_select_window
    fn window_field(&mut self) -> u16 {
        let shift = self.rcv_shift;
        let free = (self.rcvbuf.free() as u64).min(u64::from(u16::MAX) << shift) as u32;
        let cur = self.rcv_wnd();
        let grow = free.saturating_sub(cur);
        let wnd = if grow > 0 && grow >= self.sws_threshold() {
            free
        } else {
            cur
        };
        let mut field = wnd >> shift;
        if (field << shift) < cur {
            field += 1; // round up rather than shrink
        }
        let field = field.min(u32::from(u16::MAX));
        let right = self.rcv_nxt + (field << shift);
        if right > self.rcv_adv {
            self.rcv_adv = right;
        }
        field as u16
    }

    fn sws_threshold(&self) -> u32 {
        (self.rcvbuf.capacity() as u32 / 2).min(self.rcv_mss).max(1)
    }

    /// After the user read: whether the window opened enough to tell
    /// the peer now (it at least doubled and grew by the SWS threshold).
    /// // linux: tcp_cleanup_rbuf
    pub(super) fn window_update_due(&self) -> bool {
        if !self.state.may_receive() {
            return false;
        }
        let free = self.rcvbuf.free() as u32;
        let cur = self.rcv_wnd();
        free >= cur.saturating_add(self.sws_threshold()) && free >= cur.saturating_mul(2)
    }
}

/// The payload of a full segment with `options_len` bytes of options,
/// for a connection whose MSS `mss` already leaves room for timestamps
/// when `ts_ok`. // linux: tcp_current_mss
pub fn segment_mss(mss: u32, ts_ok: bool, options_len: usize) -> u32 {
    let ts_len = if ts_ok { 12 } else { 0 };
    let extra = (options_len as u32).saturating_sub(ts_len);
    mss.saturating_sub(extra).max(1)
}
