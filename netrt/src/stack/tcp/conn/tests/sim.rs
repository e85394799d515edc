//! Two engines joined by a seeded lossy, reordering, duplicating wire
//! transfer random streams both ways and close.

use super::*;
use proptest::prelude::*;

/// xorshift64*: deterministic randomness for the wire.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One endpoint: its engine (once it exists), its stream to send, what
/// it received.
struct End {
    conn: Option<Connection>,
    to_send: Vec<u8>,
    sent: usize,
    closed: bool,
    received: Vec<u8>,
    eof: bool,
}

impl End {
    fn new(data: Vec<u8>) -> End {
        End {
            conn: None,
            to_send: data,
            sent: 0,
            closed: false,
            received: Vec::new(),
            eof: false,
        }
    }

    /// The application: write what fits, close when all is written, read
    /// everything.
    fn app(&mut self, read: bool) {
        let Some(c) = self.conn.as_mut() else { return };
        if c.may_send() && self.sent < self.to_send.len() {
            self.sent += c.send(&self.to_send[self.sent..]).unwrap();
        }
        if self.sent == self.to_send.len() && !self.closed && c.state() != State::SynSent {
            c.close();
            self.closed = true;
        }
        if !read {
            return;
        }
        let mut buf = [0u8; 3000];
        loop {
            match c.recv(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }
}

struct Wire {
    rng: Rng,
    loss_pct: u64,
    /// (delivery time in µs, destination index, segment)
    flight: Vec<(u64, usize, Seg)>,
}

impl Wire {
    fn carry(&mut self, now_us: u64, to: usize, s: Seg) {
        if self.rng.below(100) < self.loss_pct {
            return;
        }
        let copies = if self.rng.below(100) == 0 { 2 } else { 1 };
        for _ in 0..copies {
            // 2 ms base delay plus up to 3 ms jitter: reordering.
            let at = now_us + 2000 + self.rng.below(3000);
            self.flight.push((at, to, s.clone()));
        }
    }
}

fn seg_of(r: &TcpRepr<'_>) -> Seg {
    Seg {
        flags: r.flags,
        seq: r.seq_number.0,
        ack: r.ack_number.0,
        win: r.window_len,
        opts: r.options,
        payload: r.payload.to_vec(),
    }
}

fn repr_of(s: &Seg) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 1,
        dst_port: 2,
        seq_number: SeqNumber(s.seq),
        ack_number: SeqNumber(s.ack),
        flags: s.flags,
        window_len: s.win,
        urgent_pointer: 0,
        options: s.opts,
        payload: &s.payload,
    }
}

/// Runs a transfer until both ends are CLOSED; returns the simulated
/// time until both reached TIME-WAIT or CLOSED.
fn run(
    seed: u64,
    a_len: usize,
    b_len: usize,
    loss_pct: u64,
    options: bool,
    slow_reader: u64,
) -> Duration {
    let mut rng = Rng(seed | 1);
    let a_data: Vec<u8> = (0..a_len).map(|_| rng.next() as u8).collect();
    let b_data: Vec<u8> = (0..b_len).map(|_| rng.next() as u8).collect();
    let cfg = TcpConfig {
        window_scaling: options,
        sack: options,
        timestamps: options,
        recv_buf: 40_000,
        // Half the runs hand the "device" TSO segments (the peer takes
        // them whole, as after GRO).
        tso_max: if seed & 2 == 0 { 0 } else { 65536 },
        send_buf: 30_000,
        ..TcpConfig::default()
    };
    let t0 = Instant::now();
    let mut ends = [End::new(a_data.clone()), End::new(b_data.clone())];
    ends[0].conn = Some(Connection::connect(
        tuple(),
        cfg.clone(),
        SeqNumber(seed as u32),
        7,
        t0,
    ));
    let mut wire = Wire {
        rng: Rng(seed.rotate_left(17) | 1),
        loss_pct,
        flight: Vec::new(),
    };
    let mut now_us = 0u64;
    let mut data_done_us = None;
    let mut next_read = [0u64; 2];
    let limit_us = 3_000_000_000; // 50 simulated minutes
    loop {
        let now = t0 + Duration::from_micros(now_us);
        // Deliver what is due.
        let mut due: Vec<(u64, usize, Seg)> = Vec::new();
        wire.flight.retain(|f| {
            if f.0 <= now_us {
                due.push(f.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|f| f.0);
        for (_, to, s) in due {
            let end = &mut ends[to];
            match end.conn.as_mut() {
                Some(c) if c.state() == State::Closed => {
                    // No connection any more: the host answers with a RST.
                    if let Some(rst) = super::super::reset_for(&repr_of(&s)) {
                        wire.carry(now_us, 1 - to, seg_of(&rst));
                    }
                }
                Some(c) => {
                    let r = c.on_segment(&repr_of(&s), now);
                    if std::env::var("SIMTRACE").is_ok() {
                        eprintln!(
                            "{now_us:>10} {} got {s:?} -> {r:?} {:?} err {:?}",
                            "AB".as_bytes()[to] as char,
                            c.state(),
                            c.error()
                        );
                    }
                }
                None => {
                    let isn = SeqNumber(seed.rotate_left(32) as u32);
                    end.conn =
                        Connection::accept_syn(tuple(), cfg.clone(), &repr_of(&s), isn, 3, now);
                }
            }
        }
        for (i, end) in ends.iter_mut().enumerate() {
            let Some(c) = end.conn.as_mut() else { continue };
            if c.next_deadline().is_some_and(|d| d <= now) {
                c.on_timer(now);
            }
            // A slow reader (every `slow_reader` ms) lets the window close.
            let read = now_us >= next_read[i];
            if read {
                next_read[i] = now_us + (slow_reader - 1) * 1000;
            }
            end.app(read);
            let c = end.conn.as_mut().unwrap();
            let mut out = Vec::new();
            c.poll_transmit(now, &mut |r| out.push(seg_of(&r)));
            for s in out {
                if std::env::var("SIMTRACE").is_ok() {
                    eprintln!(
                        "{now_us:>10} {} {:?} {s:?}",
                        "AB".as_bytes()[i] as char,
                        c.state()
                    );
                }
                wire.carry(now_us, 1 - i, s);
            }
        }
        let finished = ends.iter().all(|e| {
            e.conn
                .as_ref()
                .is_some_and(|c| matches!(c.state(), State::TimeWait | State::Closed))
        });
        if data_done_us.is_none() && finished {
            data_done_us = Some(now_us);
        }
        let done = ends
            .iter()
            .all(|e| e.conn.as_ref().is_some_and(|c| c.state() == State::Closed));
        if done {
            break;
        }
        // Advance to the next event.
        let mut next = wire.flight.iter().map(|f| f.0).min();
        for (e, &r) in ends.iter().zip(&next_read) {
            if e.conn
                .as_ref()
                .is_some_and(|c| c.recv_queue() > 0 || c.fin_received())
                && !e.eof
            {
                next = Some(next.map_or(r, |n: u64| n.min(r)));
            }
            if let Some(d) = e.conn.as_ref().and_then(|c| c.next_deadline()) {
                let us = d.duration_since(t0).as_micros() as u64;
                next = Some(next.map_or(us, |n: u64| n.min(us)));
            }
        }
        let Some(next) = next else {
            panic!(
                "stalled at {now_us} µs: states {:?} {:?}",
                ends[0].conn.as_ref().map(|c| c.state()),
                ends[1].conn.as_ref().map(|c| c.state())
            );
        };
        now_us = next.max(now_us + 1);
        assert!(now_us < limit_us, "no progress");
    }
    for e in &mut ends {
        e.app(true); // a slow reader drains what is left
        let c = e.conn.as_ref().unwrap();
        assert_eq!(
            c.error(),
            None,
            "clean close: {:?} at {now_us}",
            c.counters()
        );
        assert!(e.eof);
    }
    assert!(ends[1].received == a_data, "a→b stream differs");
    assert!(ends[0].received == b_data, "b→a stream differs");
    Duration::from_micros(data_done_us.unwrap())
}

#[test]
fn regression_peer_closes_at_once() {
    run(4017915040966675858, 0, 14601, 6, false, 1);
}

#[test]
fn regression_slow_reader_timeout() {
    run(4875747435883076049, 11681, 17521, 7, false, 7);
}

#[test]
fn regression_heavy_loss() {
    run(6983627799591181313, 109983, 0, 19, true, 11);
    run(6983627799591181506, 105705, 0, 19, true, 9);
    run(7464716110361964364, 100273, 0, 19, true, 31);
    run(319530132232470014, 41461, 17521, 18, false, 35);
    run(3262687588677037973, 45841, 17521, 8, false, 34);
}

#[test]
fn clean_wire_transfers_and_closes() {
    let t = run(42, 200_000, 50_000, 0, true, 1);
    // A clean 5 ms RTT path moves 200 KB in well under a second.
    assert!(t < Duration::from_secs(3), "{t:?}");
}

#[test]
fn lossy_wire_with_options() {
    run(7, 120_000, 30_000, 5, true, 1);
}

#[test]
fn slow_reader_zero_windows() {
    run(11, 150_000, 10_000, 2, true, 50);
}

#[test]
fn lossy_wire_without_options() {
    run(9, 120_000, 30_000, 5, false, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_streams_survive_a_bad_wire(
        seed in any::<u64>(),
        a_len in 0usize..150_000,
        b_len in 0usize..20_000,
        loss in 0u64..20,
        options in any::<bool>(),
        slow_reader in 1u64..100,
    ) {
        run(seed, a_len, b_len, loss, options, slow_reader);
    }
}
