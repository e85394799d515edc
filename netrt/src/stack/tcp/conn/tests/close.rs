//! Milestone 3: FIN in every state, half-close, TIME-WAIT, RFC 5961
//! RST/SYN checks, PAWS.

use super::*;
use std::io::ErrorKind;

const D: u32 = ISS + 1;
const P: u32 = PEER_ISS + 1;

fn est() -> Harness {
    Harness::established(plain(), 1000, 65535)
}

#[test]
fn active_close_through_fin_wait_and_time_wait() {
    let mut h = est();
    h.c.close();
    assert_eq!(h.c.state(), State::FinWait1);
    h.out()[0].is(FIN | ACK, D, P).len_is(0);
    assert_eq!(h.c.send(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    h.inject(seg().ack(D + 1).seq(P));
    assert_eq!(h.c.state(), State::FinWait2);
    assert!(h.out().is_empty());
    // Half-close: the peer still sends.
    h.inject(seg().ack(D + 1).seq(P).len(100));
    h.inject(seg().ack(D + 1).seq(P + 100).fin());
    assert_eq!(h.c.state(), State::TimeWait);
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D + 1, P + 101);
    assert_eq!(h.read_all(), pattern(0, 100));
    assert_eq!(h.c.recv(&mut [0u8; 8]).unwrap(), 0);
    // 2·MSL later the connection is gone.
    assert!(h.fire(60_000).is_empty());
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), None);
}

#[test]
fn fin_follows_queued_data_in_the_same_segment() {
    let mut h = Harness::established(
        TcpConfig {
            nodelay: true,
            ..plain()
        },
        1000,
        65535,
    );
    h.send(1500);
    h.c.close();
    let out = h.out();
    assert_eq!(out.len(), 2);
    out[0].is(ACK, D, P).len_is(1000);
    out[1].is(ACK | PSH | FIN, D + 1000, P).len_is(500);
    // A partial ACK keeps FIN-WAIT-1.
    h.inject(seg().ack(D + 1500).seq(P));
    assert_eq!(h.c.state(), State::FinWait1);
    h.inject(seg().ack(D + 1501).seq(P));
    assert_eq!(h.c.state(), State::FinWait2);
}

#[test]
fn passive_close_through_close_wait_and_last_ack() {
    let mut h = est();
    let r = h.inject(seg().ack(D).seq(P).fin());
    assert!(r.readable);
    assert_eq!(h.c.state(), State::CloseWait);
    h.out()[0].is(ACK, D, P + 1);
    assert_eq!(h.c.recv(&mut [0u8; 8]).unwrap(), 0);
    // We may still send (half-close from the peer's side).
    h.send(10);
    h.out()[0].is(ACK | PSH, D, P + 1).len_is(10);
    h.c.close();
    assert_eq!(h.c.state(), State::LastAck);
    h.out()[0].is(FIN | ACK, D + 10, P + 1);
    h.inject(seg().ack(D + 11).seq(P + 1));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), None);
    assert_eq!(h.c.next_deadline(), None);
}

#[test]
fn simultaneous_close_through_closing() {
    let mut h = est();
    h.c.close();
    h.out()[0].is(FIN | ACK, D, P);
    // The peer's FIN crosses ours (it does not ack our FIN).
    h.inject(seg().ack(D).seq(P).fin());
    assert_eq!(h.c.state(), State::Closing);
    h.out()[0].is(ACK, D + 1, P + 1);
    h.inject(seg().ack(D + 1).seq(P + 1));
    assert_eq!(h.c.state(), State::TimeWait);
}

#[test]
fn fin_ack_in_fin_wait_1_goes_straight_to_time_wait() {
    let mut h = est();
    h.c.close();
    h.out();
    h.inject(seg().ack(D + 1).seq(P).fin());
    assert_eq!(h.c.state(), State::TimeWait);
    h.out()[0].is(ACK, D + 1, P + 1);
}

#[test]
fn lost_fin_is_retransmitted() {
    let mut h = est();
    h.c.close();
    h.out();
    let rto = h.c.rto().as_millis() as u64;
    h.fire(rto)[0].is(FIN | ACK, D, P);
    assert_eq!(h.c.counters().retrans_segs, 1);
}

#[test]
fn time_wait_acks_a_retransmitted_fin_and_restarts() {
    let mut h = est();
    h.c.close();
    h.out();
    h.inject(seg().ack(D + 1).seq(P).fin());
    h.out();
    h.at(30_000);
    h.inject(seg().ack(D + 1).seq(P).fin());
    h.out()[0].is(ACK, D + 1, P + 1);
    assert_eq!(h.c.next_deadline(), Some(h.t0 + Duration::from_secs(90)));
    // A SYN with a higher sequence number may reuse the tuple.
    assert!(h.c.time_wait_accepts_syn(&seg().syn().seq(P + 100).repr()));
    assert!(!h.c.time_wait_accepts_syn(&seg().syn().seq(P - 100).repr()));
}

#[test]
fn out_of_order_fin_waits_for_the_hole() {
    let mut h = est();
    h.inject(seg().ack(D).seq(P + 100).len(50).fin());
    assert_eq!(h.c.state(), State::Established);
    h.out()[0].is(ACK, D, P);
    h.inject(seg().ack(D).seq(P).len(100));
    assert_eq!(h.c.state(), State::CloseWait);
    h.out()[0].is(ACK, D, P + 151);
    assert_eq!(h.read_all(), pattern(0, 150));
}

#[test]
fn exact_rst_resets_in_window_rst_is_challenged() {
    let mut h = est();
    h.inject(seg().ack(D).seq(P).len(100));
    h.out();
    // In the window but not at RCV.NXT: challenge ACK, still open.
    h.inject(seg().rst().seq(P + 500));
    assert_eq!(h.c.state(), State::Established);
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D, P + 100);
    assert_eq!(h.c.counters().challenge_acks, 1);
    // Outside the window: silently dropped.
    h.inject(seg().rst().seq(P + 100_000));
    assert!(h.out().is_empty());
    // Exactly RCV.NXT: reset.
    let r = h.inject(seg().rst().seq(P + 100));
    assert!(r.readable && r.writable);
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), Some(ErrorKind::ConnectionReset));
    assert!(h.out().is_empty());
    // Buffered data stays readable, then the error shows.
    assert_eq!(h.read_all(), pattern(0, 100));
    assert_eq!(
        h.c.recv(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[test]
fn syn_in_established_gets_a_challenge_ack() {
    let mut h = est();
    h.inject(seg().syn().seq(P + 10));
    assert_eq!(h.c.state(), State::Established);
    h.out()[0].is(ACK, D, P);
    // Within 500 ms of the last one: rate limited (no ACK loop, little
    // feedback for a blind attacker).
    h.at(100);
    h.inject(seg().syn().seq(PEER_ISS - 1000));
    assert!(h.out().is_empty());
    h.inject(seg().ack(D).seq(P + 1_000_000));
    assert!(h.out().is_empty());
    assert_eq!(h.c.counters().oow_rate_limited, 2);
    // Out-of-window data is always answered.
    h.inject(seg().ack(D).seq(P + 1_000_000).len(10));
    h.out()[0].is(ACK, D, P);
    h.at(600);
    h.inject(seg().syn().seq(PEER_ISS - 1000));
    h.out()[0].is(ACK, D, P);
    assert_eq!(h.c.counters().challenge_acks, 2);
}

#[test]
fn ack_of_unsent_data_is_answered_and_dropped() {
    let mut h = est();
    h.inject(seg().ack(D + 500).seq(P).len(10));
    h.out()[0].is(ACK, D, P);
    assert_eq!(h.c.recv_queue(), 0);
}

#[test]
fn rst_in_closing_states_closes_without_error() {
    let mut h = est();
    h.inject(seg().ack(D).seq(P).fin());
    h.c.close();
    h.out();
    assert_eq!(h.c.state(), State::LastAck);
    h.inject(seg().rst().seq(P + 1));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), None);
}

#[test]
fn abort_sends_rst() {
    let mut h = est();
    h.send(10);
    h.out();
    h.c.abort();
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(RST, D + 10, 0);
    assert_eq!(h.c.state(), State::Closed);
}

#[test]
fn paws_drops_old_timestamps() {
    let cfg = TcpConfig {
        timestamps: true,
        ..plain()
    };
    let mut h = Harness::client(cfg);
    h.inject(
        seg()
            .syn()
            .ack(ISS + 1)
            .seq(PEER_ISS)
            .mss(1000)
            .ts(1000, TS0),
    );
    h.out();
    h.inject(seg().ack(D).seq(P).len(100).ts(1010, TS0));
    h.out()[0].is(ACK, D, P + 100);
    // An older timestamp: a wrapped old duplicate, dropped with an ACK.
    h.inject(seg().ack(D).seq(P + 100).len(100).ts(1005, TS0));
    let out = h.out();
    out[0].is(ACK, D, P + 100);
    assert_eq!(out[0].opts.timestamp.unwrap().tsecr, 1010);
    assert_eq!(h.c.counters().paws_drops, 1);
    assert_eq!(h.c.recv_queue(), 100);
    // A RST is never PAWS-dropped.
    h.inject(seg().rst().seq(P + 100).ts(1, 0));
    assert_eq!(h.c.state(), State::Closed);
}

#[test]
fn close_in_syn_sent_closes_at_once() {
    let mut h = Harness::client(plain());
    h.c.close();
    assert_eq!(h.c.state(), State::Closed);
    assert!(h.out().is_empty());
    assert_eq!(h.c.next_deadline(), None);
}

#[test]
fn keepalive_probes_a_silent_peer_then_times_out() {
    let ka = Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(2),
        probes: 2,
    };
    let mut h = Harness::established(
        TcpConfig {
            keepalive: Some(ka),
            ..plain()
        },
        1000,
        65535,
    );
    assert_eq!(h.c.next_deadline(), Some(h.t0 + Duration::from_secs(10)));
    // The peer speaking restarts the idle period.
    h.at(5000);
    h.inject(seg().ack(D).seq(P).len(10));
    h.out();
    let out = h.fire(15_000);
    assert_eq!(out.len(), 1);
    out[0].is(ACK, D - 1, P + 10).len_is(0);
    // An answer resets the probe count.
    h.at(15_010);
    h.inject(seg().ack(D).seq(P + 10));
    h.fire(25_010)[0].is(ACK, D - 1, P + 10);
    h.fire(27_010)[0].is(ACK, D - 1, P + 10);
    assert!(h.fire(29_010).is_empty());
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), Some(ErrorKind::TimedOut));
    assert_eq!(h.c.counters().keepalive_probes, 3);
}

#[test]
fn keepalive_is_off_by_default() {
    let h = est();
    assert_eq!(h.c.next_deadline(), None);
}

#[test]
fn orphan_in_fin_wait_2_gives_up_after_fin_timeout() {
    let mut h = est();
    h.c.close();
    h.out();
    h.c.orphan(h.now);
    h.at(10);
    h.inject(seg().ack(D + 1).seq(P));
    assert_eq!(h.c.state(), State::FinWait2);
    assert!(h.fire(60_010).is_empty());
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), None);
}

#[test]
fn fin_wait_2_waits_forever_for_a_user_that_may_still_read() {
    let mut h = est();
    h.c.close();
    h.out();
    h.inject(seg().ack(D + 1).seq(P));
    assert_eq!(h.c.state(), State::FinWait2);
    assert_eq!(h.c.next_deadline(), None);
    // Orphaned later: the limit starts then.
    h.at(1000);
    h.c.orphan(h.now);
    assert_eq!(h.c.next_deadline(), Some(h.t0 + Duration::from_secs(61)));
}

#[test]
fn paws_forgets_a_timestamp_after_24_days_idle() {
    let cfg = TcpConfig {
        timestamps: true,
        ..plain()
    };
    let mut h = Harness::client(cfg);
    h.inject(
        seg()
            .syn()
            .ack(ISS + 1)
            .seq(PEER_ISS)
            .mss(1000)
            .ts(1_000_000, TS0),
    );
    h.out();
    // 25 days later the peer's clock restarted (a lower timestamp): the
    // old TS.Recent is stale and must not reject the segment.
    h.at(25 * 24 * 3600 * 1000);
    h.inject(seg().ack(D).seq(P).len(10).ts(5, TS0));
    assert_eq!(h.c.counters().paws_drops, 0);
    assert_eq!(h.c.recv_queue(), 10);
    // The new clock is TS.Recent from now on: older is rejected again.
    h.inject(seg().ack(D).seq(P + 10).len(10).ts(4, TS0));
    assert_eq!(h.c.counters().paws_drops, 1);
}

#[test]
fn paws_lets_a_reordered_duplicate_ack_through() {
    let cfg = TcpConfig {
        timestamps: true,
        nodelay: true,
        ..plain()
    };
    let mut h = Harness::client(cfg);
    h.inject(
        seg()
            .syn()
            .ack(ISS + 1)
            .seq(PEER_ISS)
            .mss(1012)
            .ts(1000, TS0),
    );
    h.out();
    h.send(5000);
    assert_eq!(h.out().len(), 5);
    h.inject(seg().ack(D).seq(P).ts(1010, TS0));
    // Sent before the one above, arrives after it: not dropped, counted.
    h.inject(seg().ack(D).seq(P).ts(1008, TS0));
    assert_eq!(h.c.counters().paws_drops, 0);
    assert_eq!(h.c.counters().dup_acks, 2);
    // Data with an old timestamp still is.
    h.inject(seg().ack(D).seq(P).ts(1008, TS0).len(10));
    assert_eq!(h.c.counters().paws_drops, 1);
}

#[test]
fn time_wait_reuse_with_timestamps() {
    // Timestamps negotiated; the peer's last TSval was 500.
    let cfg = TcpConfig {
        timestamps: true,
        ..plain()
    };
    let mut h = Harness::client(cfg);
    h.inject(seg().syn().ack(ISS + 1).seq(P - 1).mss(1000).ts(400, TS0));
    h.out();
    assert!(h.c.negotiated().2);
    h.c.close();
    h.out();
    h.inject(seg().ack(D + 1).seq(P).fin().ts(500, TS0));
    h.out();
    assert_eq!(h.c.state(), State::TimeWait);
    let accepts = |seq: u32, tsval: u32| {
        let s = seg().syn().seq(seq).ts(tsval, 0);
        h.c.time_wait_accepts_syn(&s.repr())
    };
    // A newer timestamp wins whatever the sequence number.
    assert!(accepts(P - 100, 501));
    // The same clock tick: the sequence number decides (Linux).
    assert!(accepts(P + 100, 500));
    assert!(!accepts(P - 100, 500));
    // An older timestamp is a PAWS reject.
    assert!(!accepts(P + 100, 499));
}
