//! Milestone 1: opens, option negotiation, handshake failures.

use super::*;
use std::io::ErrorKind;

#[test]
fn active_open_offers_every_option_and_negotiates_them() {
    let t0 = Instant::now();
    let mut c = Connection::connect(tuple(), TcpConfig::default(), SeqNumber(ISS), TS0, t0);
    let mut v = Vec::new();
    c.poll_transmit(t0, &mut |r| v.push(Seg::from_repr(&r)));
    assert_eq!(v.len(), 1);
    let syn = &v[0];
    syn.is(SYN, ISS, 0).win_is(65535).len_is(0);
    assert_eq!(syn.opts.mss, Some(1460));
    assert_eq!(syn.opts.window_scale, Some(3)); // 256 KiB needs shift 3
    assert!(syn.opts.sack_permitted);
    assert_eq!(
        syn.opts.timestamp,
        Some(TcpTimestamp {
            tsval: TS0,
            tsecr: 0
        })
    );
    assert_eq!(c.state(), State::SynSent);

    let mut h = Harness { c, t0, now: t0 };
    h.at(30);
    let r = h.inject(
        seg()
            .syn()
            .ack(ISS + 1)
            .seq(PEER_ISS)
            .win(2000)
            .mss(1400)
            .ws(7)
            .sackok()
            .ts(777, TS0),
    );
    assert!(r.accepted && r.writable);
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(h.c.negotiated(), (true, true, true));
    assert_eq!(h.c.mss(), 1400 - 12); // timestamps take 12 bytes
                                      // RTTM: 30 ms measured from the echoed timestamp.
    assert_eq!(h.c.rto(), Duration::from_millis(200));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0]
        .is(ACK, ISS + 1, PEER_ISS + 1)
        .win_is(((256 * 1024) >> 3) as u16)
        .len_is(0);
    assert_eq!(
        out[0].opts.timestamp,
        Some(TcpTimestamp {
            tsval: TS0 + 30,
            tsecr: 777
        })
    );
    assert_eq!(out[0].opts.mss, None);
    assert_eq!(out[0].opts.window_scale, None);
    // The SYN-ACK's window is not scaled: 2000 bytes, one full segment
    // (the 612 left would be a silly one).
    h.send(10_000);
    let out = h.out();
    assert_eq!(out.len(), 1, "{out:?}");
    out[0].is(ACK, ISS + 1, PEER_ISS + 1).len_is(1388);
    // From now on windows are scaled by 7.
    h.inject(
        seg()
            .ack(ISS + 1389)
            .seq(PEER_ISS + 1)
            .win(100)
            .ts(778, TS0 + 30),
    );
    // (12800 bytes: the 6 full segments left go; Nagle holds the tail.)
    let out = h.out();
    assert_eq!(out.len(), 6);
    assert!(out.iter().all(|s| s.payload.len() == 1388));
}

#[test]
fn active_open_without_peer_options_uses_defaults() {
    let mut h = Harness::client(TcpConfig::default());
    h.inject(seg().syn().ack(ISS + 1).seq(PEER_ISS).win(8000));
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(h.c.negotiated(), (false, false, false));
    assert_eq!(h.c.mss(), 536);
    let out = h.out();
    out[0].is(ACK, ISS + 1, PEER_ISS + 1).win_is(65535);
    assert_eq!(out[0].opts, TcpOptions::default());
    // Unscaled peer window: 8000 bytes allow 14 full 536-byte segments,
    // cwnd (10 segments) is the limit.
    h.c.set_nodelay(true);
    h.send(20000);
    let out = h.out();
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|s| s.payload.len() == 536));
}

#[test]
fn passive_open_answers_with_the_offered_options() {
    let syn = seg()
        .syn()
        .seq(PEER_ISS)
        .win(29200)
        .mss(1460)
        .ws(7)
        .sackok()
        .ts(4242, 0);
    let (mut h, synack) = Harness::server(TcpConfig::default(), syn);
    synack.is(SYN | ACK, ISS, PEER_ISS + 1).win_is(65535);
    assert_eq!(synack.opts.mss, Some(1460));
    assert_eq!(synack.opts.window_scale, Some(3));
    assert!(synack.opts.sack_permitted);
    assert_eq!(
        synack.opts.timestamp,
        Some(TcpTimestamp {
            tsval: TS0,
            tsecr: 4242
        })
    );
    assert_eq!(h.c.state(), State::SynReceived);

    h.at(5);
    let r = h.inject(seg().ack(ISS + 1).seq(PEER_ISS + 1).win(229).ts(4243, TS0));
    assert!(r.accepted && r.writable);
    assert_eq!(h.c.state(), State::Established);
    assert!(h.out().is_empty());
    // The peer's window is scaled by 7 from now on.
    h.c.set_nodelay(true);
    h.send(100_000);
    let out = h.out();
    assert_eq!(out.len(), 10); // cwnd, not the 29312-byte window, limits
    out[0].is(ACK, ISS + 1, PEER_ISS + 1).len_is(1448);
}

#[test]
fn passive_open_without_options_offers_none_but_mss() {
    let syn = seg().syn().seq(PEER_ISS).mss(1200);
    let (h, synack) = Harness::server(TcpConfig::default(), syn);
    synack.is(SYN | ACK, ISS, PEER_ISS + 1);
    assert_eq!(
        synack.opts,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        }
    );
    assert_eq!(h.c.negotiated(), (false, false, false));
    assert_eq!(h.c.mss(), 1200);
}

#[test]
fn accept_syn_rejects_non_syn() {
    let t0 = Instant::now();
    let bad = seg().syn().ack(1).seq(PEER_ISS);
    assert!(Connection::accept_syn(tuple(), plain(), &bad.repr(), SeqNumber(ISS), 0, t0).is_none());
    let bad = seg().seq(PEER_ISS);
    assert!(Connection::accept_syn(tuple(), plain(), &bad.repr(), SeqNumber(ISS), 0, t0).is_none());
}

#[test]
fn simultaneous_open() {
    let mut h = Harness::client(plain());
    h.at(10);
    h.inject(seg().syn().seq(PEER_ISS).mss(1460));
    assert_eq!(h.c.state(), State::SynReceived);
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(SYN | ACK, ISS, PEER_ISS + 1);
    assert_eq!(out[0].opts.mss, Some(1460));
    // The peer's SYN-ACK (its SYN again, acking ours) completes the open.
    let r = h.inject(seg().syn().ack(ISS + 1).seq(PEER_ISS).mss(1460));
    assert!(r.accepted);
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(h.c.counters().challenge_acks, 0);
    assert!(h.out().is_empty());
    // Data flows.
    h.inject(seg().ack(ISS + 1).seq(PEER_ISS + 1).len(10));
    assert_eq!(h.read_all(), pattern(0, 10));
}

#[test]
fn rst_answering_syn_is_connection_refused() {
    let mut h = Harness::client(plain());
    // A RST without ACK, or with an unacceptable ACK, is ignored.
    assert!(!h.inject(seg().rst().seq(0)).accepted);
    assert!(!h.inject(seg().rst().ack(ISS + 5)).accepted);
    assert_eq!(h.c.state(), State::SynSent);
    assert!(h.out().is_empty());
    let r = h.inject(seg().rst().ack(ISS + 1));
    assert!(r.readable && r.writable);
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), Some(ErrorKind::ConnectionRefused));
    assert!(h.out().is_empty());
    assert_eq!(h.c.next_deadline(), None);
    assert_eq!(
        h.c.send(b"x").unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn bad_ack_in_syn_sent_gets_a_reset() {
    let mut h = Harness::client(plain());
    h.inject(seg().syn().ack(9999).seq(PEER_ISS));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(RST, 9999, 0);
    assert_eq!(h.c.state(), State::SynSent);
    assert_eq!(h.c.counters().out_rsts, 1);
}

#[test]
fn syn_retransmits_with_backoff_then_times_out() {
    let mut h = Harness::client(plain());
    let mut t = 0;
    for i in 0..6 {
        t += 1000 << i;
        let out = h.fire(t);
        assert_eq!(out.len(), 1, "retransmission {i}");
        out[0].is(SYN, ISS, 0);
        assert_eq!(out[0].opts.mss, Some(1460));
    }
    assert_eq!(h.c.counters().timeouts, 6);
    assert_eq!(h.c.counters().retrans_segs, 6);
    let out = h.fire(t + 64_000);
    assert!(out.is_empty());
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), Some(ErrorKind::TimedOut));
}

#[test]
fn syn_loss_sets_the_3s_rto_for_data() {
    let mut h = Harness::client(plain());
    h.fire(1000)[0].is(SYN, ISS, 0);
    h.at(1100);
    h.inject(seg().syn().ack(ISS + 1).seq(PEER_ISS).mss(1000));
    // Karn: no sample from the retransmitted SYN; RFC 6298 5.7: 3 s.
    assert_eq!(h.c.rto(), Duration::from_secs(3));
}

#[test]
fn lost_syn_ack_is_resent_on_retransmitted_syn_and_on_timeout() {
    let syn = seg().syn().seq(PEER_ISS).mss(1000);
    let (mut h, _) = Harness::server(plain(), syn.clone());
    h.at(300);
    h.inject(syn);
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(SYN | ACK, ISS, PEER_ISS + 1);
    let out = h.fire(1000);
    out[0].is(SYN | ACK, ISS, PEER_ISS + 1);
    assert_eq!(h.c.counters().timeouts, 1);
}

#[test]
fn bad_ack_in_syn_received_gets_a_reset() {
    let (mut h, _) = Harness::server(plain(), seg().syn().seq(PEER_ISS));
    h.inject(seg().ack(ISS + 7).seq(PEER_ISS + 1));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(RST, ISS + 7, 0);
    assert_eq!(h.c.state(), State::SynReceived);
}

#[test]
fn reset_for_closed_port() {
    let syn = seg().syn().seq(PEER_ISS).len(3);
    let rst = super::super::reset_for(&syn.repr()).unwrap();
    assert_eq!(rst.flags, RST | ACK);
    assert_eq!(rst.seq_number, SeqNumber(0));
    assert_eq!(rst.ack_number, SeqNumber(PEER_ISS + 4));
    assert_eq!((rst.src_port, rst.dst_port), (40000, 80));
    let a = seg().ack(777).seq(PEER_ISS);
    let rst = super::super::reset_for(&a.repr()).unwrap();
    assert_eq!((rst.flags, rst.seq_number), (RST, SeqNumber(777)));
    assert!(super::super::reset_for(&seg().rst().repr()).is_none());
}

#[test]
fn syn_cookie_ack_completes_a_stateless_open() {
    let t0 = Instant::now();
    let opts = TcpOptions {
        mss: Some(1440),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some(TcpTimestamp {
            tsval: 900,
            tsecr: TS0,
        }),
        ..TcpOptions::default()
    };
    let ack = seg()
        .ack(ISS + 1)
        .seq(PEER_ISS + 1)
        .win(100)
        .ts(900, TS0)
        .len(20);
    let c = Connection::accept_cookie(tuple(), TcpConfig::default(), &ack.repr(), opts, TS0, t0)
        .expect("handshake completes");
    let mut h = Harness { c, t0, now: t0 };
    assert_eq!(h.c.state(), State::Established);
    assert_eq!(h.c.negotiated(), (true, true, true));
    assert_eq!(h.c.mss(), 1440 - 12);
    assert_eq!(h.read_all(), pattern(0, 20));
    let out = h.out();
    assert_eq!(out.len(), 1);
    out[0].is(ACK, ISS + 1, PEER_ISS + 21);
    // The window of the ACK is scaled: 100 << 7.
    h.c.set_nodelay(true);
    h.send(12_800 + 1000);
    let out = h.out();
    // Eight full segments; the 1376 bytes left of the window would be a
    // silly segment.
    assert_eq!(out.len(), 8);
    assert!(out.iter().all(|s| s.payload.len() == 1428));
    // Not an ACK of our cookie: no connection.
    let bad = seg().syn().ack(ISS + 1).seq(PEER_ISS + 1);
    assert!(Connection::accept_cookie(tuple(), plain(), &bad.repr(), opts, TS0, t0).is_none());
}

#[test]
fn icmp_unreachable_ends_an_opening_connection_only() {
    let mut h = Harness::client(plain());
    // A quoted sequence number we never sent is ignored (RFC 5927).
    assert!(!h
        .c
        .on_icmp_unreachable(SeqNumber(ISS + 100), ErrorKind::ConnectionRefused));
    assert_eq!(h.c.state(), State::SynSent);
    assert!(h
        .c
        .on_icmp_unreachable(SeqNumber(ISS), ErrorKind::ConnectionRefused));
    assert_eq!(h.c.state(), State::Closed);
    assert_eq!(h.c.error(), Some(ErrorKind::ConnectionRefused));
    // Established: a soft error, ignored.
    let mut h = Harness::established(plain(), 1000, 65535);
    h.send(100);
    h.out();
    assert!(!h
        .c
        .on_icmp_unreachable(SeqNumber(ISS + 1), ErrorKind::HostUnreachable));
    assert_eq!(h.c.state(), State::Established);
}
