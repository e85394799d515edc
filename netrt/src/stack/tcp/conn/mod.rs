//! One TCP connection's state machine (RFC 9293) as a pure engine: no
//! I/O, no threads, no clock. The socket layer feeds it segments
//! ([`Connection::on_segment`]), user calls ([`send`](Connection::send),
//! [`recv`](Connection::recv), [`close`](Connection::close)) and timer
//! expiries ([`on_timer`](Connection::on_timer)), always with the current
//! time, then collects what to send with
//! [`poll_transmit`](Connection::poll_transmit) and arms one timer at
//! [`next_deadline`](Connection::next_deadline).
//!
//! Driving it (the socket layer's side):
//!
//! * open with [`Connection::connect`], [`Connection::accept_syn`] (a
//!   listener's SYN) or [`Connection::accept_cookie`] (an ACK carrying a
//!   valid SYN cookie);
//! * after every [`on_segment`](Connection::on_segment), user call and
//!   [`on_timer`](Connection::on_timer), call `poll_transmit` and re-arm
//!   the timer at `next_deadline`; wake readers/writers as
//!   [`InputResult`] says;
//! * a segment for no connection is answered with [`reset_for`]; a SYN
//!   hitting a TIME-WAIT connection may replace it when
//!   [`time_wait_accepts_syn`](Connection::time_wait_accepts_syn);
//! * once [`state`](Connection::state) is `Closed` the connection can be
//!   dropped (after reading what is left); a dropped socket calls
//!   [`close`](Connection::close) then [`orphan`](Connection::orphan) and
//!   lets the engine linger.
//!
//! Modules:
//!
//! * `input`: segment arrival, RFC 9293 §3.10.7 in order, with the
//!   RFC 5961 checks and PAWS (RFC 7323). // linux: tcp_rcv_state_process
//! * `output`: segment construction: handshake, data under cwnd/rwnd/
//!   Nagle/SWS, retransmissions, ACKs and window updates, TSO-sized
//!   segments. // linux: tcp_write_xmit
//! * `timers`: retransmission, delayed ACK, persist, keepalive,
//!   FIN-WAIT-2 (orphans) and TIME-WAIT. // linux: tcp_timer.c
//! * `buffers`: send and receive byte buffers; `config`: tunables.
//!
//! Not here: the listener (SYN queue, cookies' encoding), demux, locks,
//! ECN, urgent data (URG is ignored, its bytes delivered inline), TCP
//! Fast Open (data on a SYN is not delivered), SACK reneging detection.

use std::io;
use std::time::{Duration, Instant};

use crate::stack::tcp::cc::{self, CongestionControl};
use crate::stack::tcp::ooo::OooQueue;
use crate::stack::tcp::rtt::RttEstimator;
use crate::stack::tcp::scoreboard::Scoreboard;
use crate::stack::tcp::FourTuple;
use crate::wire::tcp::{SackBlock, SeqNumber, TcpFlags, TcpOptions, TcpRepr};

mod buffers;
mod config;
mod input;
mod output;
mod timers;

#[cfg(test)]
mod tests;

pub use buffers::{RecvBuffer, SendBuffer};
pub use config::{Keepalive, TcpConfig};
pub use input::InputResult;
pub use output::segment_mss;

/// The MSS assumed when the peer sends none (RFC 9293 §3.7.1).
pub const DEFAULT_MSS: u16 = 536;

/// Connection states (RFC 9293 §3.3.2). `LISTEN` belongs to the
/// listener, not to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection (initial after abort, final after close).
    Closed,
    /// Our SYN is sent, waiting for the peer's.
    SynSent,
    /// SYNs exchanged, waiting for the ACK of ours.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN is not acknowledged yet.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; lingering 2·MSL for stray segments.
    TimeWait,
}

impl State {
    /// Whether SYNs were exchanged (RFC 9293 "synchronized states").
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::SynSent)
    }

    /// Whether the peer may still send us data.
    fn may_receive(self) -> bool {
        matches!(
            self,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2
        )
    }
}

/// Events the socket layer adds to the namespace's TCP counters.
/// // linux: TCP_MIB_*, LINUX_MIB_*
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Segments retransmitted (RetransSegs).
    pub retrans_segs: u64,
    /// Retransmission timer expiries (TCPTimeouts).
    pub timeouts: u64,
    /// Fast retransmits (TCPFastRetrans).
    pub fast_retrans: u64,
    /// Loss recoveries entered via SACK (TCPSackRecovery).
    pub sack_recoveries: u64,
    /// Loss recoveries entered via duplicate ACKs (TCPRenoRecovery).
    pub reno_recoveries: u64,
    /// Challenge ACKs sent (TCPChallengeACK).
    pub challenge_acks: u64,
    /// Segments dropped by PAWS (PAWSEstab).
    pub paws_drops: u64,
    /// Out-of-order segments queued (TCPOFOQueue).
    pub ofo_queued: u64,
    /// D-SACKs sent for duplicate data (TCPDSACKOldSent).
    pub dsack_sent: u64,
    /// Zero-window probes sent (TCPWinProbe).
    pub window_probes: u64,
    /// RSTs sent (OutRsts).
    pub out_rsts: u64,
    /// Segments received with a bad ACK, SYN or sequence (dropped).
    pub bad_segments: u64,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// ACKs to out-of-window segments not sent, rate limited
    /// (TCPACKSkippedSeq and friends).
    pub oow_rate_limited: u64,
    /// Keepalive probes sent.
    pub keepalive_probes: u64,
    /// Out-of-order bytes dropped to bound memory (OfoPruned).
    pub ofo_pruned: u64,
}

/// A RST to send that is not derived from the connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingRst {
    seq: SeqNumber,
    ack: Option<SeqNumber>,
}

/// One TCP connection.
#[derive(Debug)]
pub struct Connection {
    tuple: FourTuple,
    cfg: TcpConfig,
    state: State,
    error: Option<io::ErrorKind>,
    /// Time zero of our timestamp clock.
    epoch: Instant,
    ts_offset: u32,

    // Send sequence space (RFC 9293 §3.3.1).
    iss: SeqNumber,
    snd_una: SeqNumber,
    /// Next sequence to send; goes back to `snd_una` after an RTO.
    snd_nxt: SeqNumber,
    /// Highest sequence sent plus one.
    snd_max: SeqNumber,
    /// Peer's window in bytes (scaled).
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: SeqNumber,
    snd_wl2: SeqNumber,
    /// Shift applied to the peer's window field.
    snd_shift: u8,
    /// Send MSS (payload bytes per segment, options excluded).
    snd_mss: u32,
    syn_acked: bool,
    /// Our FIN's sequence number, once the user closed.
    fin_seq: Option<SeqNumber>,
    sndbuf: SendBuffer,

    // Receive sequence space.
    irs: SeqNumber,
    rcv_nxt: SeqNumber,
    /// Right edge of the window last advertised.
    rcv_adv: SeqNumber,
    /// Shift applied to our window field.
    rcv_shift: u8,
    /// The MSS we advertised (for ACK pacing and SWS).
    rcv_mss: u32,
    rcvbuf: RecvBuffer,
    ooo: OooQueue<Vec<u8>>,
    /// The peer's FIN, seen beyond `rcv_nxt`.
    peer_fin: Option<SeqNumber>,
    fin_received: bool,
    dsack: Option<SackBlock>,

    // Options.
    ws_ok: bool,
    sack_ok: bool,
    ts_ok: bool,
    ts_recent: u32,
    /// When `ts_recent` was last updated.
    ts_recent_at: Option<Instant>,
    last_ack_sent: SeqNumber,

    // Reliability and congestion.
    rtt: RttEstimator,
    /// (sequence to be acknowledged, send time) of the timed segment.
    rtt_probe: Option<(SeqNumber, Instant)>,
    cc: Box<dyn CongestionControl>,
    scoreboard: Scoreboard,
    dupacks: u32,
    /// NewReno/SACK recovery point while in fast recovery.
    recover: Option<SeqNumber>,
    /// The last recovery point (RFC 6582 `recover`): duplicate ACKs
    /// below it start no new recovery.
    high_recover: SeqNumber,
    /// RFC 6582 window inflation during NewReno recovery.
    inflation: u32,
    /// End of the highest retransmission.
    rexmit_high: SeqNumber,
    /// Retransmit one segment at `SND.UNA` on the next transmit.
    rexmit_head: bool,
    retries: u32,
    handshake_rexmit: bool,
    last_send: Option<Instant>,
    last_recv: Option<Instant>,
    /// When the peer last sent an acceptable ACK.
    last_ack_at: Option<Instant>,
    /// When we last answered an out-of-window segment.
    last_oow_ack: Option<Instant>,

    // ACK state.
    ack_now: bool,
    ack_pending: bool,
    /// Bytes received since the last ACK.
    unacked_bytes: u32,
    quickacks: u32,
    pending_rst: Option<PendingRst>,
    probe_now: bool,

    // Timers (absolute deadlines).
    rto_at: Option<Instant>,
    delack_at: Option<Instant>,
    persist_at: Option<Instant>,
    persist_backoff: u32,
    /// End of TIME-WAIT, or of an orphan's FIN-WAIT-2.
    time_wait_at: Option<Instant>,
    orphaned: bool,
    keepalive_at: Option<Instant>,
    keepalive_sent: u32,

    counters: Counters,
}

impl Connection {
    fn new(tuple: FourTuple, cfg: TcpConfig, iss: SeqNumber, ts_offset: u32, now: Instant) -> Self {
        let mss = u32::from(cfg.mss.max(64));
        Connection {
            tuple,
            state: State::Closed,
            error: None,
            epoch: now,
            ts_offset,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            snd_shift: 0,
            snd_mss: u32::from(DEFAULT_MSS).min(mss),
            syn_acked: false,
            fin_seq: None,
            sndbuf: SendBuffer::new(cfg.send_buf),
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            rcv_shift: 0,
            rcv_mss: mss,
            rcvbuf: RecvBuffer::new(cfg.recv_buf),
            ooo: OooQueue::new(),
            peer_fin: None,
            fin_received: false,
            dsack: None,
            ws_ok: false,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: None,
            last_ack_sent: SeqNumber(0),
            rtt: RttEstimator::new(cfg.rto),
            rtt_probe: None,
            cc: cc::by_name(cfg.congestion, mss).unwrap_or_else(|| cc::default_for(mss)),
            scoreboard: Scoreboard::new(iss),
            dupacks: 0,
            recover: None,
            high_recover: iss,
            inflation: 0,
            rexmit_high: iss,
            rexmit_head: false,
            retries: 0,
            handshake_rexmit: false,
            last_send: None,
            last_recv: None,
            last_ack_at: None,
            last_oow_ack: None,
            ack_now: false,
            ack_pending: false,
            unacked_bytes: 0,
            quickacks: cfg.quickacks,
            pending_rst: None,
            probe_now: false,
            rto_at: None,
            delack_at: None,
            persist_at: None,
            persist_backoff: 0,
            time_wait_at: None,
            orphaned: false,
            keepalive_at: None,
            keepalive_sent: 0,
            counters: Counters::default(),
            cfg,
        }
    }

    /// Active open: the SYN goes out on the next
    /// [`poll_transmit`](Self::poll_transmit). `iss` comes from the
    /// RFC 6528 generator; our timestamp clock reads `ts_offset` at `now`
    /// and counts milliseconds. // linux: tcp_connect
    pub fn connect(
        tuple: FourTuple,
        cfg: TcpConfig,
        iss: SeqNumber,
        ts_offset: u32,
        now: Instant,
    ) -> Connection {
        let mut c = Connection::new(tuple, cfg, iss, ts_offset, now);
        c.state = State::SynSent;
        c
    }

    /// Passive open from a listener's SYN: the connection starts in
    /// SYN-RECEIVED and answers with a SYN-ACK carrying the options the
    /// SYN offered. Returns `None` if `syn` is not a plain SYN.
    /// // linux: tcp_conn_request, tcp_create_openreq_child
    pub fn accept_syn(
        tuple: FourTuple,
        cfg: TcpConfig,
        syn: &TcpRepr<'_>,
        iss: SeqNumber,
        ts_offset: u32,
        now: Instant,
    ) -> Option<Connection> {
        let f = syn.flags;
        if !f.contains(TcpFlags::SYN) || f.intersects(TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN)
        {
            return None;
        }
        let mut c = Connection::new(tuple, cfg, iss, ts_offset, now);
        c.state = State::SynReceived;
        c.on_peer_syn(syn, now);
        Some(c)
    }

    /// Completes a passive open from a SYN cookie: `ack` is the
    /// client's ACK whose cookie the listener validated, `syn_options`
    /// what the cookie and its timestamp carried (MSS, window scale,
    /// SACK-permitted, and the ACK's timestamp), `ts_offset` our clock as
    /// the stateless SYN-ACK used it. The SYN-ACK is taken to have
    /// offered `min(recv_buf, 65535)`. The ACK (and any data on it) is
    /// processed; `None` if it does not complete the handshake.
    /// // linux: cookie_v4_check, tcp_get_cookie_sock
    pub fn accept_cookie(
        tuple: FourTuple,
        cfg: TcpConfig,
        ack: &TcpRepr<'_>,
        syn_options: TcpOptions,
        ts_offset: u32,
        now: Instant,
    ) -> Option<Connection> {
        let f = ack.flags;
        if !f.contains(TcpFlags::ACK) || f.intersects(TcpFlags::SYN | TcpFlags::RST) {
            return None;
        }
        let iss = ack.ack_number - 1;
        let syn = TcpRepr {
            seq_number: ack.seq_number - 1,
            flags: TcpFlags::SYN,
            options: syn_options,
            payload: &[],
            ..*ack
        };
        let mut c = Connection::new(tuple, cfg, iss, ts_offset, now);
        c.state = State::SynReceived;
        c.on_peer_syn(&syn, now);
        // The SYN-ACK left without state: account for it.
        c.snd_nxt = iss + 1;
        c.snd_max = iss + 1;
        c.scoreboard.on_send(c.snd_max);
        let wnd = c.rcvbuf.capacity().min(usize::from(u16::MAX)) as u32;
        c.rcv_adv = c.rcv_nxt + wnd;
        c.last_ack_sent = c.rcv_nxt;
        c.on_segment(ack, now);
        c.syn_acked.then_some(c)
    }

    /// The user is gone (the socket was dropped after
    /// [`close`](Self::close)): nobody will read, so FIN-WAIT-2 ends
    /// after `cfg.fin_timeout` even if the peer never closes.
    /// // linux: tcp_close orphans, tcp_fin_timeout
    pub fn orphan(&mut self, now: Instant) {
        self.orphaned = true;
        self.arm_fin_wait2(now);
    }

    /// Starts an orphan's FIN-WAIT-2 limit once it gets there.
    fn arm_fin_wait2(&mut self, now: Instant) {
        if self.orphaned && self.state == State::FinWait2 && self.time_wait_at.is_none() {
            self.time_wait_at = Some(now + self.cfg.fin_timeout);
        }
    }

    /// Sets or clears keepalive probing (`SO_KEEPALIVE`).
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>, now: Instant) {
        self.cfg.keepalive = keepalive;
        self.keepalive_sent = 0;
        self.arm_keepalive(now);
    }

    /// Restarts the keepalive idle period (the peer just spoke).
    fn arm_keepalive(&mut self, now: Instant) {
        let on = matches!(self.state, State::Established | State::CloseWait);
        self.keepalive_at = self.cfg.keepalive.filter(|_| on).map(|k| now + k.idle);
    }

    /// The peer's SYN: receive sequence space and option negotiation.
    fn on_peer_syn(&mut self, syn: &TcpRepr<'_>, now: Instant) {
        self.irs = syn.seq_number;
        self.rcv_nxt = syn.seq_number + 1;
        // The window our SYN offered (never scaled) is now anchored at
        // the peer's sequence space; before, RCV.NXT was unknown and the
        // right edge meaningless (it read as "behind" for half of the
        // peer's possible ISNs, closing the window to all data).
        let syn_wnd = self.rcvbuf.capacity().min(usize::from(u16::MAX)) as u32;
        self.rcv_adv = self.rcv_nxt + syn_wnd;
        self.last_recv = Some(now);
        let o = syn.options;
        self.ws_ok = self.cfg.window_scaling && o.window_scale.is_some();
        if self.ws_ok {
            self.snd_shift = o.window_scale.unwrap_or(0).min(14);
            self.rcv_shift = self.cfg.window_shift();
        }
        self.sack_ok = self.cfg.sack && o.sack_permitted;
        self.ts_ok = self.cfg.timestamps && o.timestamp.is_some();
        if let Some(ts) = o.timestamp.filter(|_| self.ts_ok) {
            self.ts_recent = ts.tsval;
            self.ts_recent_at = Some(now);
        }
        let peer_mss = u32::from(o.mss.unwrap_or(DEFAULT_MSS).max(64));
        let ts_len = if self.ts_ok { 12 } else { 0 };
        self.snd_mss = peer_mss.min(u32::from(self.cfg.mss.max(64))) - ts_len;
        self.cc.set_mss(self.snd_mss);
        // The window in a SYN is never scaled (RFC 7323 §2.2).
        self.snd_wnd = u32::from(syn.window_len);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = syn.seq_number;
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Its addresses.
    pub fn tuple(&self) -> FourTuple {
        self.tuple
    }

    /// The error that ended the connection: `ConnectionRefused` (RST
    /// answering our SYN), `ConnectionReset` (RST later), `TimedOut`
    /// (retransmissions exhausted).
    pub fn error(&self) -> Option<io::ErrorKind> {
        self.error
    }

    /// Event counters since creation.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The send MSS in use (payload bytes per full segment).
    pub fn mss(&self) -> u32 {
        self.snd_mss
    }

    /// The congestion window in bytes.
    pub fn cwnd(&self) -> u32 {
        self.cc.cwnd()
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Whether window scaling, SACK and timestamps were negotiated.
    pub fn negotiated(&self) -> (bool, bool, bool) {
        (self.ws_ok, self.sack_ok, self.ts_ok)
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.cfg.nodelay = nodelay;
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> bool {
        self.cfg.nodelay
    }

    /// Bytes readable now.
    pub fn recv_queue(&self) -> usize {
        self.rcvbuf.len()
    }

    /// Bytes sent but unacknowledged plus unsent.
    pub fn send_queue(&self) -> usize {
        self.sndbuf.len()
    }

    /// Free space in the send buffer.
    pub fn send_space(&self) -> usize {
        self.sndbuf.free()
    }

    /// Whether [`send`](Self::send) may accept data now.
    pub fn may_send(&self) -> bool {
        self.fin_seq.is_none()
            && matches!(
                self.state,
                State::SynSent | State::SynReceived | State::Established | State::CloseWait
            )
    }

    /// Queues data; returns how much fit (0 when the buffer is full).
    /// Writing after [`close`](Self::close) or on a dead connection is
    /// `BrokenPipe` (or the connection's error).
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        if !self.may_send() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(self.sndbuf.push(data))
    }

    /// Reads in-order data; `Ok(0)` means end of stream once the peer's
    /// FIN arrived (and `buf` is not empty). Reading may open the window:
    /// a window update is then sent (receiver SWS avoidance decides).
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rcvbuf.pop(buf);
        if n == 0 && !buf.is_empty() && !self.fin_received {
            if let Some(e) = self.error {
                return Err(e.into());
            }
            if self.state == State::Closed || self.state == State::SynSent {
                return Err(io::ErrorKind::NotConnected.into());
            }
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if n > 0 && self.window_update_due() {
            self.ack_now = true;
        }
        Ok(n)
    }

    /// Copies in-order data without consuming it.
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        self.rcvbuf.peek(buf)
    }

    /// Whether the peer's FIN was received (reads end after the buffer).
    pub fn fin_received(&self) -> bool {
        self.fin_received
    }

    /// Graceful close (`shutdown(Write)`): a FIN follows the queued data.
    /// // linux: tcp_close, tcp_send_fin
    pub fn close(&mut self) {
        match self.state {
            State::SynSent => self.enter_closed(None),
            State::SynReceived | State::Established => {
                self.queue_fin();
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.queue_fin();
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    fn queue_fin(&mut self) {
        if self.fin_seq.is_none() {
            self.fin_seq = Some(self.data_start() + self.sndbuf.len() as u32);
        }
    }

    /// A hard ICMP error (destination unreachable) about a segment with
    /// sequence number `seq` that we sent. Only a connection still
    /// opening gives up, with `kind`; an established one ignores it as a
    /// soft error (RFC 1122 §4.2.3.9, Linux without `IP_RECVERR`). A
    /// `seq` outside `[SND.UNA, SND.MAX)` is a forgery or stale and is
    /// ignored (RFC 5927 §4.1). Returns whether the connection ended.
    /// // linux: tcp_v4_err
    pub fn on_icmp_unreachable(&mut self, seq: SeqNumber, kind: io::ErrorKind) -> bool {
        let opening = matches!(self.state, State::SynSent | State::SynReceived);
        if !opening || seq < self.snd_una || seq >= self.snd_max {
            return false;
        }
        self.enter_closed(Some(kind));
        true
    }

    /// Abortive close: a RST goes out (if synchronized) and the
    /// connection is closed at once. // linux: tcp_disconnect
    pub fn abort(&mut self) {
        if self.state.is_synchronized() && self.state != State::TimeWait {
            self.pending_rst = Some(PendingRst {
                seq: self.snd_max,
                ack: None,
            });
        }
        self.enter_closed(None);
    }

    /// Sequence number of the first byte in the send buffer.
    fn data_start(&self) -> SeqNumber {
        if self.syn_acked {
            self.snd_una
        } else {
            self.iss + 1
        }
    }

    /// Reading our timestamp clock (milliseconds).
    fn ts_now(&self, now: Instant) -> u32 {
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        self.ts_offset.wrapping_add(ms)
    }

    fn enter_closed(&mut self, error: Option<io::ErrorKind>) {
        if error.is_some() && self.error.is_none() {
            self.error = error;
        }
        self.state = State::Closed;
        self.rto_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.time_wait_at = None;
        self.keepalive_at = None;
        self.ack_now = false;
        self.ack_pending = false;
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.keepalive_at = None;
        self.time_wait_at = Some(now + self.cfg.time_wait);
    }

    /// Whether a SYN for this TIME-WAIT 4-tuple may reuse it (Linux
    /// `tcp_timewait_state_process`): its sequence is beyond what we
    /// received, or, with timestamps, its timestamp is newer.
    pub fn time_wait_accepts_syn(&self, syn: &TcpRepr<'_>) -> bool {
        if self.state != State::TimeWait {
            return false;
        }
        let newer_seq = syn.seq_number > self.rcv_nxt;
        match (self.ts_ok, syn.options.timestamp) {
            // Not older than what we saw (PAWS), and newer by timestamp
            // or, within the same clock tick, by sequence number.
            (true, Some(ts)) => match ts.tsval.wrapping_sub(self.ts_recent) as i32 {
                d if d > 0 => true,
                0 => newer_seq,
                _ => false,
            },
            _ => newer_seq,
        }
    }
}

/// The RST answering a segment that reached no connection (RFC 9293
/// §3.10.7.1): none for a RST; `seq = SEG.ACK` for a segment with ACK;
/// else `seq = 0, ack = SEG.SEQ + SEG.LEN` with ACK set.
/// // linux: tcp_v4_send_reset
pub fn reset_for(seg: &TcpRepr<'_>) -> Option<TcpRepr<'static>> {
    if seg.flags.contains(TcpFlags::RST) {
        return None;
    }
    let mut rst = TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        seq_number: SeqNumber(0),
        ack_number: SeqNumber(0),
        flags: TcpFlags::RST,
        window_len: 0,
        urgent_pointer: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    if seg.flags.contains(TcpFlags::ACK) {
        rst.seq_number = seg.ack_number;
    } else {
        rst.ack_number = seg.seq_number + seg.segment_len() as u32;
        rst.flags = TcpFlags::RST | TcpFlags::ACK;
    }
    Some(rst)
}
