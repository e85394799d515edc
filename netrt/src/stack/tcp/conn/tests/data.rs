//! Milestone 2: data, ACKs, windows, Nagle, delayed ACK, reassembly.

use super::*;

const D: u32 = ISS + 1; // our first data byte
const P: u32 = PEER_ISS + 1; // the peer's first data byte

#[test]
fn segments_are_mss_sized_and_nagle_holds_the_small_tail() {
    let mut h = Harness::established(plain(), 1000, 65535);
    assert_eq!(h.send(2500), 2500);
    let out = h.out();
    assert_eq!(out.len(), 2);
    out[0].is(ACK, D, P).len_is(1000).win_is(65535);
    out[1].is(ACK, D + 1000, P).len_is(1000);
    assert_eq!(
        out[1].payload,
        (1000..2000).map(|i| i as u8).collect::<Vec<_>>()
    );
    // Nagle: the 500-byte tail waits while data is unacknowledged ...
    assert!(h.out().is_empty());
    h.at(10);
    h.inject(seg().ack(D + 1000).seq(P));
    assert!(h.out().is_empty());
    // ... until everything is acknowledged.
    h.inject(seg().ack(D + 2000).seq(P));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK | PSH, D + 2000, P).len_is(500);
}

#[test]
fn nodelay_sends_the_small_tail_at_once() {
    let mut h = Harness::established(
        TcpConfig {
            nodelay: true,
            ..plain()
        },
        1000,
        65535,
    );
    h.send(2500);
    let out = h.out();
    assert_eq!(out.len(), 3);
    out[2].is(ACK | PSH, D + 2000, P).len_is(500);
}

#[test]
fn initial_cwnd_limits_the_first_flight_and_acks_open_it() {
    let mut h = Harness::established(plain(), 1000, 65535);
    h.send(30_000);
    assert_eq!(h.out().len(), 10);
    assert_eq!(h.c.cwnd(), 10_000);
    h.at(50);
    h.inject(seg().ack(D + 2000).seq(P));
    // Slow start: 2 segments acked, cwnd +2 segments: 4 may go.
    let out = h.out();
    assert_eq!(out.len(), 4);
    out[0].is(ACK, D + 10_000, P);
}

#[test]
fn peer_window_limits_and_sender_sws_avoidance() {
    let mut h = Harness::established(plain(), 1000, 1500);
    h.send(5000);
    let out = h.out();
    // 1000 fits; the 500 left in the window is below half the largest
    // window the peer offered: no silly segment.
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P).len_is(1000);
    h.at(10);
    h.inject(seg().ack(D + 1000).seq(P).win(1500));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D + 1000, P).len_is(1000);
}

#[test]
fn window_update_rule_ignores_old_segments() {
    let mut h = Harness::established(plain(), 1000, 4000);
    h.send(1000);
    h.out();
    // A newer segment (seq advanced) sets the window to 0 ...
    h.inject(seg().ack(D + 1000).seq(P).len(10).win(0));
    // ... an older one (lower seq) must not reopen it.
    h.inject(seg().ack(D + 1000).seq(P).win(8000));
    h.send(1000);
    let out = h.out();
    assert!(out.iter().all(|s| s.payload.is_empty()), "{out:?}");
}

#[test]
fn quickack_then_delayed_ack_every_second_segment() {
    let mut h = Harness::established(
        TcpConfig {
            quickacks: 1,
            ..plain()
        },
        1000,
        65535,
    );
    // Quick-ack mode: the first data is acknowledged at once.
    h.inject(seg().ack(D).seq(P).len(1000));
    h.out()[0].is(ACK, D, P + 1000).win_is(64535);
    // Then one full segment waits for a second one ...
    h.at(1);
    h.inject(seg().ack(D).seq(P + 1000).len(1460));
    assert!(h.out().is_empty());
    assert_eq!(h.c.next_deadline(), Some(h.t0 + Duration::from_millis(41)));
    h.at(2);
    h.inject(seg().ack(D).seq(P + 2460).len(1460));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P + 3920);
    assert_eq!(h.c.next_deadline(), None);
    // ... or for the delayed-ACK timer (40 ms).
    h.at(10);
    h.inject(seg().ack(D).seq(P + 3920).len(100));
    assert!(h.out().is_empty());
    let out = h.fire(50);
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P + 4020);
    assert_eq!(h.read_all(), pattern(0, 4020));
}

#[test]
fn data_piggybacks_the_pending_ack() {
    let mut h = Harness::established(
        TcpConfig {
            quickacks: 0,
            ..plain()
        },
        1000,
        65535,
    );
    h.inject(seg().ack(D).seq(P).len(100));
    assert!(h.out().is_empty());
    h.send(10);
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK | PSH, D, P + 100).len_is(10);
    assert_eq!(h.c.next_deadline().map(|d| d - h.t0), Some(h.c.rto()));
}

#[test]
fn zero_receive_window_and_window_update_after_reading() {
    let cfg = TcpConfig {
        recv_buf: 4000,
        ..plain()
    };
    let mut h = Harness::established(cfg, 1000, 65535);
    for i in 0..4u32 {
        h.inject(seg().ack(D).seq(P + i * 1000).len(1000));
    }
    let out = h.out();
    out.last().unwrap().is(ACK, D, P + 4000).win_is(0);
    // Data beyond a zero window is dropped, its ACK re-advertises 0.
    h.inject(seg().ack(D).seq(P + 4000).len(500));
    h.out()[0].is(ACK, D, P + 4000).win_is(0);
    // Reading a little does not advertise a silly window...
    let mut buf = [0u8; 500];
    assert_eq!(h.c.recv(&mut buf).unwrap(), 500);
    assert!(h.out().is_empty());
    // ... reading enough does.
    let mut buf = [0u8; 3500];
    assert_eq!(h.c.recv(&mut buf).unwrap(), 3500);
    assert_eq!(buf[..], pattern(500, 4000)[..]);
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P + 4000).win_is(4000);
}

#[test]
fn receive_window_scaling() {
    let cfg = TcpConfig {
        window_scaling: true,
        recv_buf: 1 << 20,
        ..plain()
    };
    let mut h = Harness::client(cfg);
    h.inject(seg().syn().ack(ISS + 1).seq(PEER_ISS).ws(2));
    // 1 MiB needs shift 5: 32768 << 5.
    h.out()[0].is(ACK, D, P).win_is(32768);
    h.inject(seg().ack(D).seq(P).len(536));
    // 1048576 - 536 rounded to the scale would shrink: rounded up.
    h.out()[0].is(ACK, D, P + 536).win_is(32752);
}

#[test]
fn out_of_order_segments_are_sacked_and_reassembled() {
    let mut h = Harness::established_sack(1000, 65535);
    h.inject(seg().ack(D).seq(P + 1000).len(500));
    h.out()[0].is(ACK, D, P).sack_is(&[(P + 1000, P + 1500)]);
    h.inject(seg().ack(D).seq(P + 2000).len(500));
    // Most recent block first.
    h.out()[0]
        .is(ACK, D, P)
        .sack_is(&[(P + 2000, P + 2500), (P + 1000, P + 1500)]);
    assert_eq!(h.c.recv_queue(), 0);
    // The hole is filled: cumulative ACK jumps, blocks merge/vanish.
    h.inject(seg().ack(D).seq(P).len(1000));
    h.out()[0]
        .is(ACK, D, P + 1500)
        .sack_is(&[(P + 2000, P + 2500)]);
    h.inject(seg().ack(D).seq(P + 1500).len(500));
    h.out()[0].is(ACK, D, P + 2500).sack_is(&[]);
    assert_eq!(h.read_all(), pattern(0, 2500));
    assert_eq!(h.c.counters().ofo_queued, 2);
}

#[test]
fn overlapping_and_duplicate_segments_get_dsack() {
    let mut h = Harness::established_sack(1000, 65535);
    h.inject(seg().ack(D).seq(P).len(500));
    h.out();
    // 300 old bytes, 500 new.
    h.inject(seg().ack(D).seq(P + 200).len(800));
    h.out()[0]
        .is(ACK, D, P + 1000)
        .sack_is(&[(P + 200, P + 500)]);
    // Entirely old: a D-SACK of it.
    h.inject(seg().ack(D).seq(P).len(1000));
    h.out()[0].is(ACK, D, P + 1000).sack_is(&[(P, P + 1000)]);
    // Overlapping out-of-order pieces.
    h.inject(seg().ack(D).seq(P + 1500).len(500));
    h.out();
    h.inject(seg().ack(D).seq(P + 1200).len(600));
    h.out()[0]
        .is(ACK, D, P + 1000)
        .sack_is(&[(P + 1500, P + 1800), (P + 1200, P + 2000)]);
    h.inject(seg().ack(D).seq(P + 1000).len(300));
    // (The bytes it shares with the queued piece are not D-SACKed.)
    h.out()[0].is(ACK, D, P + 2000).sack_is(&[]);
    assert_eq!(h.read_all(), pattern(0, 2000));
    assert_eq!(h.c.counters().dsack_sent, 3);
}

#[test]
fn segment_beyond_the_window_is_trimmed() {
    let cfg = TcpConfig {
        recv_buf: 1000,
        quickacks: 16,
        ..plain()
    };
    let mut h = Harness::established(cfg, 1000, 65535);
    h.inject(seg().ack(D).seq(P).len(1500).fin());
    // 1000 bytes accepted; the FIN was beyond the window: ignored.
    h.out()[0].is(ACK, D, P + 1000).win_is(0);
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(h.read_all(), pattern(0, 1000));
}

#[test]
fn out_of_order_memory_is_bounded() {
    let cfg = TcpConfig {
        recv_buf: 6000,
        sack: true,
        ..plain()
    };
    let mut h = Harness::client(cfg);
    h.inject(seg().syn().ack(ISS + 1).seq(PEER_ISS).mss(1000).sackok());
    h.out();
    // 1-byte segments every other byte: each costs far more than 1 byte.
    for i in 0..1000u32 {
        h.inject(seg().ack(D).seq(P + 2 + 2 * i).len(1));
    }
    assert!(h.c.counters().ofo_pruned > 0);
    assert!(h.c.ooo.mem() <= 6000);
    // The lowest pieces survive: filling the first hole delivers the
    // byte after it.
    h.inject(seg().ack(D).seq(P).len(2));
    h.out()[0].is(ACK, D, P + 3);
    assert_eq!(h.read_all(), pattern(0, 3));
}

#[test]
fn tso_sends_multi_mss_segments() {
    let cfg = TcpConfig {
        tso_max: 65536,
        ..plain()
    };
    let mut h = Harness::established(cfg, 1000, 65535);
    h.send(30_500);
    let out = h.out();
    // cwnd (10 segments) in one TSO segment.
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P).len_is(10_000);
    h.at(20);
    h.inject(seg().ack(D + 10_000).seq(P));
    // Slow start (ABC, L = 2): 12 segments in one.
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D + 10_000, P).len_is(12_000);
    // With 14 segments of window and 8.5 left, the tail goes whole.
    h.inject(seg().ack(D + 22_000).seq(P));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK | PSH, D + 22_000, P).len_is(8_500);
    // A window that is not a whole number of MSS: cut to whole ones.
    let cfg = TcpConfig {
        tso_max: 65536,
        ..plain()
    };
    let mut h = Harness::established(cfg, 1000, 3_500);
    h.send(10_000);
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P).len_is(3_000);
}

#[test]
fn quickack_mode_returns_after_idle() {
    let mut h = Harness::established(
        TcpConfig {
            quickacks: 2,
            ..plain()
        },
        1000,
        65535,
    );
    h.inject(seg().ack(D).seq(P).len(100));
    h.inject(seg().ack(D).seq(P + 100).len(100));
    assert_eq!(h.out().len(), 1);
    h.at(1);
    h.inject(seg().ack(D).seq(P + 200).len(100));
    assert!(h.out().is_empty(), "delayed");
    h.fire(41);
    // Idle for longer than the RTO: quick-acks again.
    h.at(5000);
    h.inject(seg().ack(D).seq(P + 300).len(100));
    h.out()[0].is(ACK, D, P + 400);
}

#[test]
fn cwnd_restarts_after_idle() {
    let mut h = Harness::established(
        TcpConfig {
            nodelay: true,
            ..plain()
        },
        1000,
        65535,
    );
    h.send(20_000);
    assert_eq!(h.out().len(), 10);
    h.at(10);
    h.inject(seg().ack(D + 10_000).seq(P));
    assert_eq!(h.out().len(), 10);
    h.at(20);
    h.inject(seg().ack(D + 20_000).seq(P));
    assert!(h.c.cwnd() > 10_000);
    // Idle for 10 s, far beyond the RTO: the window is stale.
    h.at(10_020);
    h.send(30_000);
    assert_eq!(h.out().len(), 10);
}

#[test]
fn sack_blocks_shrink_data_segments_to_fit_the_mss() {
    // No timestamps: the MSS (1000) counts no options, so one SACK block
    // (2 + 8 bytes, padded to 12) must come out of the payload.
    let mut h = Harness::established_sack(1000, 65535);
    h.inject(seg().ack(D).seq(P + 1000).len(500));
    h.out()[0].is(ACK, D, P).sack_is(&[(P + 1000, P + 1500)]);
    h.send(3000);
    let out = h.out();
    assert!(!out.is_empty());
    for s in &out {
        s.sack_is(&[(P + 1000, P + 1500)]);
        let r = s.repr();
        assert!(
            r.header_len() - 20 + r.payload.len() <= 1000,
            "options {} + payload {} exceed the MSS",
            r.header_len() - 20,
            r.payload.len()
        );
    }
    assert_eq!(out[0].repr().payload.len(), 988);
    // Once the hole is filled the blocks are gone and full segments go.
    h.inject(seg().ack(D).seq(P).len(1000));
    h.inject(seg().ack(D + 988).seq(P + 1500));
    h.send(3000);
    let out = h.out();
    assert!(out.iter().any(|s| s.repr().payload.len() == 1000));
}

#[test]
fn data_is_accepted_whatever_the_peer_isn() {
    // The right edge of the window offered in our SYN must be anchored
    // at the peer's ISN once it is known: ISNs in the half of the space
    // "behind" the unanchored edge used to close the window.
    for peer_isn in [0u32, 0x7fff_fff0, 0x8000_0180, 0xffff_ff00, 0xdead_beef] {
        let mut h = Harness::client(plain());
        h.inject(seg().syn().ack(ISS + 1).seq(peer_isn).mss(1000).win(65535));
        h.out();
        h.inject(seg().ack(ISS + 1).seq(peer_isn.wrapping_add(1)).len(4));
        let out = h.out();
        out[0].is(ACK, ISS + 1, peer_isn.wrapping_add(5));
        assert_eq!(h.c.recv_queue(), 4, "peer ISN {peer_isn:#x}");
    }
}
