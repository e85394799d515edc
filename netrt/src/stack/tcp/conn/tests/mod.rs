//! Packetdrill-style tests: build a segment, inject it at a time, assert
//! the exact segments the engine sends back.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::{Connection, InputResult, Keepalive, State, TcpConfig};
use crate::stack::tcp::FourTuple;
use crate::wire::tcp::{
    SackBlock, SackBlocks, SeqNumber, TcpFlags, TcpOptions, TcpRepr, TcpTimestamp,
};

mod close;
mod data;
mod fuzz;
mod handshake;
mod loss;
mod sim;

/// Our initial sequence number in every test.
const ISS: u32 = 1000;
/// Our timestamp clock at the start.
const TS0: u32 = 100;
/// The peer's.
const PEER_ISS: u32 = 5000;

pub(super) const SYN: TcpFlags = TcpFlags::SYN;
pub(super) const ACK: TcpFlags = TcpFlags::ACK;
pub(super) const FIN: TcpFlags = TcpFlags::FIN;
pub(super) const RST: TcpFlags = TcpFlags::RST;
pub(super) const PSH: TcpFlags = TcpFlags::PSH;

fn tuple() -> FourTuple {
    FourTuple {
        local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000),
        remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
    }
}

/// A segment the test injects (from the peer) or one the engine sent.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Seg {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub opts: TcpOptions,
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Seg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{} seq {} ack {} win {} len {} {:?}]",
            self.flags,
            self.seq,
            self.ack,
            self.win,
            self.payload.len(),
            self.opts
        )
    }
}

/// A new segment from the peer: no flags, window 65535.
pub(super) fn seg() -> Seg {
    Seg {
        flags: TcpFlags::empty(),
        seq: 0,
        ack: 0,
        win: 65535,
        opts: TcpOptions::default(),
        payload: Vec::new(),
    }
}

impl Seg {
    pub fn syn(mut self) -> Self {
        self.flags |= SYN;
        self
    }
    pub fn fin(mut self) -> Self {
        self.flags |= FIN;
        self
    }
    pub fn rst(mut self) -> Self {
        self.flags |= RST;
        self
    }
    pub fn ack(mut self, ack: u32) -> Self {
        self.flags |= ACK;
        self.ack = ack;
        self
    }
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }
    pub fn win(mut self, win: u16) -> Self {
        self.win = win;
        self
    }
    pub fn mss(mut self, mss: u16) -> Self {
        self.opts.mss = Some(mss);
        self
    }
    pub fn ws(mut self, shift: u8) -> Self {
        self.opts.window_scale = Some(shift);
        self
    }
    pub fn sackok(mut self) -> Self {
        self.opts.sack_permitted = true;
        self
    }
    pub fn ts(mut self, tsval: u32, tsecr: u32) -> Self {
        self.opts.timestamp = Some(TcpTimestamp { tsval, tsecr });
        self
    }
    pub fn sack(mut self, blocks: &[(u32, u32)]) -> Self {
        self.opts.sack = sack_blocks(blocks);
        self
    }
    /// `n` payload bytes, each the low byte of its sequence offset from
    /// the peer's first data byte (so reassembly errors show).
    pub fn len(mut self, n: usize) -> Self {
        self.payload = (0..n)
            .map(|i| (self.seq.wrapping_sub(PEER_ISS + 1) as usize + i) as u8)
            .collect();
        self
    }
    fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: tuple().remote.port(),
            dst_port: tuple().local.port(),
            seq_number: SeqNumber(self.seq),
            ack_number: SeqNumber(self.ack),
            flags: self.flags,
            window_len: self.win,
            urgent_pointer: 0,
            options: self.opts,
            payload: &self.payload,
        }
    }
    fn from_repr(r: &TcpRepr<'_>) -> Seg {
        assert_eq!(r.src_port, tuple().local.port());
        assert_eq!(r.dst_port, tuple().remote.port());
        Seg {
            flags: r.flags,
            seq: r.seq_number.0,
            ack: r.ack_number.0,
            win: r.window_len,
            opts: r.options,
            payload: r.payload.to_vec(),
        }
    }
    /// Asserts flags, sequence and acknowledgment numbers.
    #[track_caller]
    pub fn is(&self, flags: TcpFlags, seq: u32, ack: u32) -> &Self {
        assert_eq!(
            (self.flags, self.seq, self.ack),
            (flags, seq, ack),
            "segment {self:?}"
        );
        self
    }
    #[track_caller]
    pub fn win_is(&self, win: u16) -> &Self {
        assert_eq!(self.win, win, "window of {self:?}");
        self
    }
    #[track_caller]
    pub fn len_is(&self, len: usize) -> &Self {
        assert_eq!(self.payload.len(), len, "payload of {self:?}");
        self
    }
    #[track_caller]
    pub fn sack_is(&self, blocks: &[(u32, u32)]) -> &Self {
        assert_eq!(self.opts.sack, sack_blocks(blocks), "SACK of {self:?}");
        self
    }
}

pub(super) fn sack_blocks(blocks: &[(u32, u32)]) -> SackBlocks {
    let v: Vec<SackBlock> = blocks
        .iter()
        .map(|&(l, r)| SackBlock {
            left: SeqNumber(l),
            right: SeqNumber(r),
        })
        .collect();
    SackBlocks::from_slice(&v)
}

/// One engine, driven by hand.
pub(super) struct Harness {
    pub c: Connection,
    pub t0: Instant,
    pub now: Instant,
}

/// Config without timestamps/SACK/scaling: plain segments, easy numbers.
pub(super) fn plain() -> TcpConfig {
    TcpConfig {
        window_scaling: false,
        sack: false,
        timestamps: false,
        recv_buf: 65535,
        ..TcpConfig::default()
    }
}

impl Harness {
    /// An active opener; the SYN is already collected and checked.
    pub fn client(cfg: TcpConfig) -> Harness {
        let t0 = Instant::now();
        let c = Connection::connect(tuple(), cfg, SeqNumber(ISS), TS0, t0);
        let mut h = Harness { c, t0, now: t0 };
        let out = h.out();
        assert_eq!(out.len(), 1);
        out[0].is(SYN, ISS, 0);
        h
    }

    /// A passive opener from `syn`; the SYN-ACK is returned.
    pub fn server(cfg: TcpConfig, syn: Seg) -> (Harness, Seg) {
        let t0 = Instant::now();
        let c = Connection::accept_syn(tuple(), cfg, &syn.repr(), SeqNumber(ISS), TS0, t0)
            .expect("a SYN");
        let mut h = Harness { c, t0, now: t0 };
        let mut out = h.out();
        assert_eq!(out.len(), 1);
        (h, out.remove(0))
    }

    /// An established connection (active open) with the peer's MSS
    /// `mss`, no options otherwise, peer window `win`.
    pub fn established(cfg: TcpConfig, mss: u16, win: u16) -> Harness {
        let mut h = Harness::client(cfg);
        h.inject(seg().syn().ack(ISS + 1).seq(PEER_ISS).mss(mss).win(win));
        let out = h.out();
        assert_eq!(out.len(), 1);
        out[0].is(ACK, ISS + 1, PEER_ISS + 1);
        assert_eq!(h.c.state(), State::Established);
        h
    }

    /// Established with SACK (no timestamps: 4 blocks fit).
    pub fn established_sack(mss: u16, win: u16) -> Harness {
        let cfg = TcpConfig {
            sack: true,
            ..plain()
        };
        let mut h = Harness::client(cfg);
        h.inject(
            seg()
                .syn()
                .ack(ISS + 1)
                .seq(PEER_ISS)
                .mss(mss)
                .win(win)
                .sackok(),
        );
        assert_eq!(h.out().len(), 1);
        assert_eq!(h.c.negotiated(), (false, true, false));
        h
    }

    /// Moves the clock to `ms` after the start.
    pub fn at(&mut self, ms: u64) -> &mut Self {
        self.now = self.t0 + Duration::from_millis(ms);
        self
    }

    pub fn inject(&mut self, s: Seg) -> InputResult {
        self.c.on_segment(&s.repr(), self.now)
    }

    /// Everything the engine sends now.
    pub fn out(&mut self) -> Vec<Seg> {
        let mut v = Vec::new();
        self.c
            .poll_transmit(self.now, &mut |r| v.push(Seg::from_repr(&r)));
        v
    }

    /// Advances to the next deadline (asserting it is `ms` after the
    /// start), runs the timers and returns what is sent.
    #[track_caller]
    pub fn fire(&mut self, ms: u64) -> Vec<Seg> {
        let d = self.c.next_deadline().expect("a deadline");
        assert_eq!(
            d.duration_since(self.t0),
            Duration::from_millis(ms),
            "deadline"
        );
        self.now = d;
        self.c.on_timer(d);
        self.out()
    }

    /// Sends `n` bytes of the pattern `i as u8`.
    pub fn send(&mut self, n: usize) -> usize {
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        self.c.send(&data).unwrap()
    }

    pub fn read_all(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 1 << 20];
        match self.c.recv(&mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        }
    }
}

/// The bytes `Seg::len` generates for `[from, to)` of the peer's stream.
pub(super) fn pattern(from: usize, to: usize) -> Vec<u8> {
    (from..to).map(|i| i as u8).collect()
}

#[test]
fn idle_connection_footprint() {
    // The engine alone (buffers are allocated lazily, on first data);
    // printed for the report, bounded so growth is noticed.
    let size = std::mem::size_of::<Connection>();
    eprintln!("size_of::<Connection>() = {size}");
    assert!(size <= 1100, "{size}");
}
