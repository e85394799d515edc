//! Milestone 4: RTO, fast retransmit/NewReno, SACK recovery, persist.

use super::*;
use std::io::ErrorKind;

const D: u32 = ISS + 1;
const P: u32 = PEER_ISS + 1;

fn est(cfg: TcpConfig) -> Harness {
    Harness::established(
        TcpConfig {
            nodelay: true,
            ..cfg
        },
        1000,
        65535,
    )
}

#[test]
fn rto_retransmits_with_backoff_then_gives_up() {
    let mut h = est(TcpConfig {
        retries: 2,
        ..plain()
    });
    assert_eq!(h.c.rto(), Duration::from_millis(200)); // sample ≈ 0, min RTO
    h.send(1000);
    h.out()[0].is(ACK | PSH, D, P).len_is(1000);
    assert_eq!(h.c.next_deadline(), Some(h.t0 + Duration::from_millis(200)));
    h.fire(200)[0].is(ACK | PSH, D, P).len_is(1000);
    assert_eq!(h.c.cwnd(), 1000);
    h.fire(600)[0].is(ACK | PSH, D, P).len_is(1000);
    assert_eq!(h.c.counters().timeouts, 2);
    assert_eq!(h.c.counters().retrans_segs, 2);
    assert!(h.fire(1400).is_empty());
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), Some(ErrorKind::TimedOut));
    assert_eq!(h.c.send(b"x").unwrap_err().kind(), ErrorKind::TimedOut);
}

#[test]
fn rto_goes_back_to_snd_una_and_slow_starts() {
    let mut h = est(plain());
    h.send(3000);
    assert_eq!(h.out().len(), 3);
    let out = h.fire(200);
    assert_eq!(out.len(), 1); // cwnd is one segment after a timeout
    out[0].is(ACK, D, P).len_is(1000);
    h.at(250);
    h.inject(seg().ack(D + 1000).seq(P));
    let out = h.out();
    assert_eq!(out.len(), 2);
    out[0].is(ACK, D + 1000, P).len_is(1000);
    out[1].is(ACK | PSH, D + 2000, P).len_is(1000);
    assert_eq!(h.c.counters().retrans_segs, 3);
    // Everything acknowledged: no timer left.
    h.inject(seg().ack(D + 3000).seq(P));
    assert!(h.out().is_empty());
    assert_eq!(h.c.next_deadline(), None);
}

#[test]
fn ack_restarts_the_retransmission_timer() {
    let mut h = est(plain());
    h.send(2000);
    h.out();
    h.at(150);
    h.inject(seg().ack(D + 1000).seq(P));
    assert_eq!(h.c.next_deadline(), Some(h.t0 + Duration::from_millis(350)));
}

#[test]
fn three_dupacks_fast_retransmit_and_newreno_partial_ack() {
    let mut h = est(TcpConfig {
        congestion: "reno",
        ..plain()
    });
    h.send(5000);
    assert_eq!(h.out().len(), 5);
    h.at(20);
    // Segments 1 and 3 lost: three duplicate ACKs for D.
    for i in 0..2 {
        h.inject(seg().ack(D).seq(P));
        assert!(h.out().is_empty(), "dupack {i}");
    }
    h.inject(seg().ack(D).seq(P));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P).len_is(1000);
    assert_eq!(h.c.counters().fast_retrans, 1);
    assert_eq!(h.c.counters().reno_recoveries, 1);
    assert_eq!(h.c.cwnd(), 2500); // NewReno: half the flight
                                  // A partial ACK retransmits the next hole at once (RFC 6582).
    h.at(40);
    h.inject(seg().ack(D + 2000).seq(P));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D + 2000, P).len_is(1000);
    // The full ACK ends recovery at ssthresh.
    h.inject(seg().ack(D + 5000).seq(P));
    assert_eq!(h.c.cwnd(), 2500);
    assert_eq!(h.c.counters().retrans_segs, 2);
    assert_eq!(h.c.next_deadline(), None);
}

#[test]
fn window_update_is_not_a_dupack() {
    let mut h = est(plain());
    h.send(5000);
    h.out();
    for w in [60000, 50000, 40000] {
        h.inject(seg().ack(D).seq(P).win(w));
    }
    assert_eq!(h.c.counters().fast_retrans, 0);
    assert_eq!(h.c.counters().dup_acks, 0);
}

#[test]
fn sack_recovery_repairs_every_hole_in_one_round() {
    let mut h = Harness::established_sack(1000, 65535);
    h.c.set_nodelay(true);
    h.send(5000);
    assert_eq!(h.out().len(), 5);
    h.at(20);
    // Segments 1 and 3 lost.
    h.inject(seg().ack(D).seq(P).sack(&[(D + 1000, D + 2000)]));
    h.inject(
        seg()
            .ack(D)
            .seq(P)
            .sack(&[(D + 3000, D + 4000), (D + 1000, D + 2000)]),
    );
    assert!(h.out().is_empty());
    h.inject(
        seg()
            .ack(D)
            .seq(P)
            .sack(&[(D + 3000, D + 5000), (D + 1000, D + 2000)]),
    );
    let out = h.out();
    assert_eq!(out.len(), 2, "{out:?}");
    out[0].is(ACK, D, P).len_is(1000);
    out[1].is(ACK, D + 2000, P).len_is(1000);
    assert_eq!(h.c.counters().sack_recoveries, 1);
    // Nothing is sent twice.
    h.inject(seg().ack(D + 2000).seq(P).sack(&[(D + 3000, D + 5000)]));
    assert!(h.out().is_empty());
    h.inject(seg().ack(D + 5000).seq(P));
    assert!(h.out().is_empty());
    assert_eq!(h.c.counters().retrans_segs, 2);
    assert_eq!(h.c.next_deadline(), None);
}

#[test]
fn sack_from_peer_is_ignored_without_negotiation() {
    let mut h = est(plain());
    h.send(5000);
    h.out();
    h.inject(seg().ack(D).seq(P).sack(&[(D + 1000, D + 5000)]));
    assert!(h.out().is_empty());
    assert_eq!(h.c.counters().fast_retrans, 0);
}

#[test]
fn zero_window_is_probed_with_backoff() {
    let mut h = Harness::established(plain(), 1000, 0);
    h.send(100);
    assert!(h.out().is_empty());
    // The persist timer probes with an old sequence number.
    let out = h.fire(200);
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D - 1, P).len_is(0);
    h.at(210);
    h.inject(seg().ack(D).seq(P).win(0));
    assert!(h.out().is_empty());
    h.fire(600)[0].is(ACK, D - 1, P);
    h.fire(1400)[0].is(ACK, D - 1, P);
    assert_eq!(h.c.counters().window_probes, 3);
    // The window opens: data flows, the persist timer stops.
    h.at(1500);
    h.inject(seg().ack(D).seq(P).win(4000));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK | PSH, D, P).len_is(100);
    assert_eq!(
        h.c.next_deadline(),
        Some(h.t0 + Duration::from_millis(1700))
    );
}

#[test]
fn persist_forces_data_into_a_small_window() {
    let mut h = Harness::established(plain(), 1000, 65535);
    h.send(1000);
    h.out();
    // The peer's window shrinks to 100 bytes while 2000 wait.
    h.inject(seg().ack(D + 1000).seq(P).win(100));
    h.send(2000);
    assert!(h.out().is_empty());
    let out = h.fire(200);
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D + 1000, P).len_is(100);
}

#[test]
fn window_shrunk_onto_data_in_flight_probes_instead_of_timing_out() {
    let mut h = est(TcpConfig {
        retries: 1,
        ..plain()
    });
    h.send(1000);
    h.out();
    // The peer dropped the segment and closed its window.
    h.at(50);
    h.inject(seg().ack(D).seq(P).win(0));
    for (i, t) in [200u64, 600, 1400].into_iter().enumerate() {
        let out = h.fire(t);
        assert_eq!(out.len(), 1, "timeout {i}");
        out[0].is(ACK, D - 1, P).len_is(0);
        h.inject(seg().ack(D).seq(P).win(0));
    }
    assert_eq!(h.c.state(), State::Established);
    // The window opens: the data goes again.
    h.at(1500);
    h.inject(seg().ack(D).seq(P).win(4000));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK | PSH, D, P).len_is(1000);
}

#[test]
fn silent_peer_behind_a_zero_window_times_out() {
    let mut h = est(plain());
    h.send(1000);
    h.out();
    h.inject(seg().ack(D).seq(P).win(0));
    let mut t = 200;
    for i in 0..10 {
        h.fire(t);
        t += 400 << i;
        if h.c.state() == State::Closed {
            break;
        }
    }
    assert_eq!(h.c.error(), Some(ErrorKind::TimedOut));
}

#[test]
fn retransmission_after_timeout_fits_a_small_window() {
    let mut h = est(plain());
    h.send(3000);
    assert_eq!(h.out().len(), 3);
    // Everything lost; the peer's window shrank to 580 bytes.
    h.inject(seg().ack(D).seq(P).win(580));
    let out = h.fire(200);
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P).len_is(580);
}

#[test]
fn early_retransmit_with_a_short_flight() {
    // RFC 5827: three segments in flight and nothing more to send, the
    // first lost: two duplicate ACKs are all that can come, and they are
    // enough.
    let mut h = est(TcpConfig {
        congestion: "reno",
        ..plain()
    });
    h.send(3000);
    assert_eq!(h.out().len(), 3);
    h.at(20);
    h.inject(seg().ack(D).seq(P));
    assert!(
        h.out().is_empty(),
        "one dupack is not enough for 3 segments"
    );
    h.inject(seg().ack(D).seq(P));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P).len_is(1000);
    assert_eq!(h.c.counters().fast_retrans, 1);
    // With more data waiting to be sent (the peer's window holds three
    // segments), the usual three apply.
    let cfg = TcpConfig {
        congestion: "reno",
        ..plain()
    };
    let mut h = Harness::established(cfg, 1000, 3000);
    h.send(10_000);
    assert_eq!(h.out().len(), 3);
    h.at(20);
    h.inject(seg().ack(D).seq(P).win(3000));
    h.inject(seg().ack(D).seq(P).win(3000));
    assert!(h.out().is_empty());
    assert_eq!(h.c.counters().fast_retrans, 0);
    h.inject(seg().ack(D).seq(P).win(3000));
    h.out()[0].is(ACK, D, P).len_is(1000);
    assert_eq!(h.c.counters().fast_retrans, 1);
}
