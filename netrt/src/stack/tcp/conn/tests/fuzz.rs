//! Arbitrary segments, user calls and timer runs against engines in every
//! state: nothing panics and the sequence-space invariants hold.

use super::*;
use proptest::prelude::*;

/// An engine in one of several states, from a hand-driven history.
fn engine(kind: u8) -> Harness {
    const D: u32 = ISS + 1;
    const P: u32 = PEER_ISS + 1;
    let full = TcpConfig::default();
    match kind % 8 {
        0 => Harness::client(full),
        1 => {
            Harness::server(
                full,
                seg().syn().seq(PEER_ISS).mss(1000).ws(3).sackok().ts(5, 0),
            )
            .0
        }
        2 => Harness::established(plain(), 1000, 65535),
        3 => Harness::established_sack(500, 8000),
        4 => {
            let mut h = Harness::established(plain(), 1000, 65535);
            h.send(3000);
            h.c.close();
            h.out();
            h
        }
        5 => {
            let mut h = Harness::established(plain(), 1000, 65535);
            h.inject(seg().ack(D).seq(P).fin());
            h.out();
            h
        }
        6 => {
            let mut h = Harness::established(plain(), 1000, 65535);
            h.c.close();
            h.out();
            h.inject(seg().ack(D + 1).seq(P).fin());
            h.out();
            h
        }
        _ => {
            let mut h = Harness::client(TcpConfig {
                tso_max: 65536,
                ..full
            });
            h.inject(
                seg()
                    .syn()
                    .ack(D)
                    .seq(PEER_ISS)
                    .mss(1400)
                    .ws(14)
                    .sackok()
                    .ts(9, TS0),
            );
            h.send(20_000);
            h.out();
            h
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Segment {
        flags: u8,
        seq_off: i32,
        ack_off: i32,
        win: u16,
        len: usize,
        mss: Option<u16>,
        ws: Option<u8>,
        ts: Option<(u32, u32)>,
        sack: Vec<(i32, u16)>,
    },
    Send(usize),
    Recv(usize),
    Close,
    Abort,
    Advance(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (
            any::<u8>(),
            -70_000i32..70_000,
            -70_000i32..70_000,
            any::<u16>(),
            0usize..3000,
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            proptest::option::of((any::<u32>(), any::<u32>())),
            proptest::collection::vec((-5000i32..30_000, any::<u16>()), 0..4),
        )
            .prop_map(|(flags, seq_off, ack_off, win, len, mss, ws, ts, sack)| Step::Segment {
                flags, seq_off, ack_off, win, len, mss, ws, ts, sack,
            }),
        2 => (0usize..20_000).prop_map(Step::Send),
        2 => (0usize..20_000).prop_map(Step::Recv),
        1 => Just(Step::Close),
        1 => Just(Step::Abort),
        3 => (0u32..5_000).prop_map(Step::Advance),
    ]
}

fn check(h: &Harness, out: &[Seg]) {
    let c = &h.c;
    assert!(
        c.snd_una <= c.snd_nxt && c.snd_nxt <= c.snd_max,
        "send space"
    );
    assert!(c.rcv_adv >= c.rcv_nxt || c.state == State::Closed || !c.state.is_synchronized());
    for s in out {
        assert!(s.payload.len() as u32 <= c.max_payload(), "oversized {s:?}");
        assert!(s.opts.buffer_len() <= 40);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn arbitrary_input_never_panics(kind in any::<u8>(), steps in proptest::collection::vec(step(), 1..60)) {
        let mut h = engine(kind);
        let mut ms = 10u64;
        for st in steps {
            match st {
                Step::Segment { flags, seq_off, ack_off, win, len, mss, ws, ts, sack } => {
                    let base_seq = h.c.rcv_nxt.0;
                    let base_ack = h.c.snd_una.0;
                    let mut s = seg()
                        .seq(base_seq.wrapping_add(seq_off as u32))
                        .win(win);
                    s.flags = TcpFlags::from_bits(flags);
                    s.ack = base_ack.wrapping_add(ack_off as u32);
                    s.opts.mss = mss;
                    s.opts.window_scale = ws;
                    s.opts.sack_permitted = flags & 1 == 1;
                    s.opts.timestamp = ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr });
                    let blocks: Vec<(u32, u32)> = sack
                        .iter()
                        .map(|&(l, n)| {
                            let left = base_ack.wrapping_add(l as u32);
                            (left, left.wrapping_add(u32::from(n)))
                        })
                        .collect();
                    s = s.sack(&blocks);
                    s.payload = vec![0xa5; len];
                    h.inject(s);
                }
                Step::Send(n) => {
                    let _ = h.c.send(&vec![1u8; n]);
                }
                Step::Recv(n) => {
                    let _ = h.c.recv(&mut vec![0u8; n]);
                }
                Step::Close => h.c.close(),
                Step::Abort => h.c.abort(),
                Step::Advance(d) => {
                    ms += u64::from(d);
                    h.at(ms);
                    if h.c.next_deadline().is_some_and(|t| t <= h.now) {
                        h.c.on_timer(h.now);
                    }
                }
            }
            let out = h.out();
            check(&h, &out);
        }
    }
}
