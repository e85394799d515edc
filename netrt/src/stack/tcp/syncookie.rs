//! SYN cookies (RFC 4987 §3.6): when the SYN queue is full, a listener
//! answers a SYN without keeping state and encodes what it needs in its
//! initial sequence number; the client's ACK (acknowledging ISN + 1)
//! brings the cookie back, and the connection is rebuilt from it.
//!
//! The cookie (all arithmetic modulo 2^32):
//!
//! ```text
//! cookie = H1(tuple) + client_isn + (count << 24) + (mac << 3) + mss_index
//! mac    = H2(tuple, count, mss_index) mod 2^21
//! ```
//!
//! * `count`: a coarse clock, one tick per [`COUNTER_PERIOD`] (64 s), 8
//!   bits; a cookie is accepted while the clock has advanced by at most
//!   [`MAX_AGE`] ticks.
//! * `mss_index` (3 bits): the largest entry of [`MSS_TABLE`] not above
//!   the client's MSS.
//! * `mac` (21 bits) authenticates tuple, clock and index together: an
//!   ACK off by a few (another index) or a forged one passes with odds
//!   of 2^-21, where an additive `H2 + index` would let neighbouring
//!   values through.
//! * `H1`, `H2`: SipHash-2-4 under two secret keys.
//!
//! Options that do not fit the sequence number ride in the low bits of
//! our timestamp (the client echoes it in TSecr): window scale, SACK
//! permitted, ECN ([`ts_encode`], [`ts_decode`]). Without timestamps the
//! connection runs without them, as on Linux.
//! // linux: __cookie_v4_init_sequence, __cookie_v4_check, cookie_init_timestamp

use std::time::{Duration, Instant};

use super::FourTuple;
use crate::stack::siphash::SipKey;
use crate::wire::tcp::SeqNumber;

/// MSS values a cookie can carry (Linux's IPv4 table).
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// One tick of the cookie clock.
pub const COUNTER_PERIOD: Duration = Duration::from_secs(64);

/// Ticks a cookie stays valid after the one it was made in.
pub const MAX_AGE: u32 = 2;

const INDEX_BITS: u32 = 3;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
const MAC_MASK: u32 = (1 << 21) - 1;

/// Stateless SYN cookie codec with its secrets.
#[derive(Debug, Clone)]
pub struct SynCookies {
    k1: SipKey,
    k2: SipKey,
    epoch: Instant,
}

impl SynCookies {
    /// A codec with fresh random secrets; the cookie clock starts at
    /// `epoch`.
    pub fn new(epoch: Instant) -> SynCookies {
        SynCookies::with_keys(SipKey::random(), SipKey::random(), epoch)
    }

    /// A codec with given secrets.
    pub fn with_keys(k1: SipKey, k2: SipKey, epoch: Instant) -> SynCookies {
        SynCookies { k1, k2, epoch }
    }

    /// The cookie clock at `now`, 8 bits.
    fn count(&self, now: Instant) -> u32 {
        let secs = now.saturating_duration_since(self.epoch).as_secs();
        (secs / COUNTER_PERIOD.as_secs()) as u32 & 0xff
    }

    fn h1(&self, tuple: &FourTuple) -> u32 {
        self.k1.hash(&tuple.to_bytes()) as u32
    }

    /// The 21-bit MAC of tuple, clock tick and MSS index.
    fn mac(&self, tuple: &FourTuple, count: u32, index: u32) -> u32 {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(&tuple.to_bytes());
        b[12..].copy_from_slice(&(count << 8 | index).to_le_bytes());
        self.k2.hash(&b) as u32 & MAC_MASK
    }

    /// Our ISN for a SYN from `tuple` (our view: local = listener) with
    /// sequence number `client_isn` and MSS option `mss` (536 when
    /// absent). Returns the cookie and the MSS it encodes (rounded down
    /// to [`MSS_TABLE`]): the MSS the connection will use toward the
    /// client, since that is all [`check`](Self::check) can recover.
    pub fn encode(
        &self,
        tuple: &FourTuple,
        client_isn: SeqNumber,
        mss: u16,
        now: Instant,
    ) -> (SeqNumber, u16) {
        let index = MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0);
        let (count, index) = (self.count(now), index as u32);
        let low = self.mac(tuple, count, index) << INDEX_BITS | index;
        let cookie = self
            .h1(tuple)
            .wrapping_add(client_isn.0)
            .wrapping_add(count << 24)
            .wrapping_add(low);
        (SeqNumber(cookie), MSS_TABLE[index as usize])
    }

    /// Checks the ACK completing a handshake answered with a cookie:
    /// `client_isn` is the ACK's sequence number minus one, `ack_seq` its
    /// acknowledgement number. Returns the encoded MSS when the cookie is
    /// ours, for this tuple, and recent enough.
    pub fn check(
        &self,
        tuple: &FourTuple,
        client_isn: SeqNumber,
        ack_seq: SeqNumber,
        now: Instant,
    ) -> Option<u16> {
        let cookie = ack_seq.0.wrapping_sub(1);
        let rest = cookie
            .wrapping_sub(self.h1(tuple))
            .wrapping_sub(client_isn.0);
        let count = rest >> 24;
        let age = self.count(now).wrapping_sub(count) & 0xff;
        if age > MAX_AGE {
            return None;
        }
        let index = rest & INDEX_MASK;
        let mac = (rest & 0x00ff_ffff) >> INDEX_BITS;
        if mac != self.mac(tuple, count, index) {
            return None;
        }
        MSS_TABLE.get(index as usize).copied()
    }
}

/// Bits of TSval carrying the options.
pub const TS_OPT_MASK: u32 = 0x3f;
const TS_WSCALE_MASK: u32 = 0x0f;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;

/// Options negotiated in a SYN that a cookie must remember.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CookieOptions {
    /// The client's window scale shift (RFC 7323: at most 14), `None`
    /// when it did not send the option.
    pub wscale: Option<u8>,
    /// The client sent SACK-permitted.
    pub sack: bool,
    /// The client asked for ECN.
    pub ecn: bool,
}

/// Our TSval for a cookie SYN-ACK: `ts_now` with its low 6 bits replaced
/// by the options (4 bits window scale, 15 = none; SACK; ECN), moved one
/// period back if that would put it ahead of `ts_now` (timestamps must
/// not run ahead of the clock).
pub fn ts_encode(ts_now: u32, opts: CookieOptions) -> u32 {
    let wscale = match opts.wscale {
        Some(w) => u32::from(w.min(14)),
        None => TS_WSCALE_MASK,
    };
    let bits = wscale | if opts.sack { TS_SACK } else { 0 } | if opts.ecn { TS_ECN } else { 0 };
    let ts = (ts_now & !TS_OPT_MASK) | bits;
    if ts > ts_now {
        ts.wrapping_sub(TS_OPT_MASK + 1)
    } else {
        ts
    }
}

/// The options from the TSecr of the ACK carrying a cookie. Every value
/// decodes: the 4 window-scale bits hold 0..=14 or 15 for "none".
pub fn ts_decode(tsecr: u32) -> CookieOptions {
    let wscale = tsecr & TS_WSCALE_MASK;
    CookieOptions {
        wscale: (wscale != TS_WSCALE_MASK).then_some(wscale as u8),
        sack: tsecr & TS_SACK != 0,
        ecn: tsecr & TS_ECN != 0,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn tuple(rport: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), rport),
        }
    }

    fn codec(epoch: Instant) -> SynCookies {
        SynCookies::with_keys(
            SipKey::from_bytes([7; 16]),
            SipKey::from_bytes([9; 16]),
            epoch,
        )
    }

    #[test]
    fn round_trip_every_mss_and_rounding() {
        let t0 = Instant::now();
        let c = codec(t0);
        let cases = [
            (1460, 1460),
            (9000, 1460),
            (1459, 1440),
            (1440, 1440),
            (1400, 1300),
            (1300, 1300),
            (1000, 536),
            (536, 536),
            (100, 536),
            (0, 536),
        ];
        for (i, (mss, want)) in cases.into_iter().enumerate() {
            let isn = SeqNumber(0xffff_fff0u32.wrapping_add(i as u32 * 0x1234_5678));
            let now = t0 + Duration::from_secs(i as u64 * 1000);
            let (cookie, used) = c.encode(&tuple(40000), isn, mss, now);
            assert_eq!(used, want, "mss {mss}");
            assert_eq!(c.check(&tuple(40000), isn, cookie + 1, now), Some(want));
        }
    }

    #[test]
    fn wrong_ack_tuple_or_isn_rejected() {
        let t0 = Instant::now();
        let c = codec(t0);
        let isn = SeqNumber(1000);
        let (cookie, _) = c.encode(&tuple(40000), isn, 1460, t0);
        assert_eq!(c.check(&tuple(40000), isn, cookie + 1, t0), Some(1460));
        assert_eq!(c.check(&tuple(40000), isn, cookie, t0), None);
        for delta in [2, 8, 1 << 3, 1 << 23, 1 << 24] {
            assert_eq!(c.check(&tuple(40000), isn, cookie + delta, t0), None);
            assert_eq!(c.check(&tuple(40000), isn, cookie - delta, t0), None);
        }
        assert_eq!(c.check(&tuple(40001), isn, cookie + 1, t0), None);
        assert_eq!(c.check(&tuple(40000), isn + 1, cookie + 1, t0), None);
        // Another listener's secrets.
        let other = SynCookies::new(t0);
        assert_eq!(other.check(&tuple(40000), isn, cookie + 1, t0), None);
    }

    #[test]
    fn age_limit() {
        let t0 = Instant::now();
        let c = codec(t0);
        let isn = SeqNumber(77);
        // Made late in tick 10: valid through tick 12, refused in tick 13.
        let made = t0 + Duration::from_secs(10 * 64 + 63);
        let (cookie, _) = c.encode(&tuple(40000), isn, 1300, made);
        for (tick, ok) in [
            (10, true),
            (11, true),
            (12, true),
            (13, false),
            (200, false),
        ] {
            let now = t0 + Duration::from_secs(tick * 64);
            let got = c.check(&tuple(40000), isn, cookie + 1, now);
            assert_eq!(got.is_some(), ok, "tick {tick}");
        }
        // A cookie from the future (clock went back) is refused too.
        let past = t0 + Duration::from_secs(9 * 64);
        assert_eq!(c.check(&tuple(40000), isn, cookie + 1, past), None);
        // The 8-bit counter wraps: tick 255 -> 257 (= 1) still accepted.
        let made = t0 + Duration::from_secs(255 * 64);
        let (cookie, _) = c.encode(&tuple(40000), isn, 1460, made);
        let now = t0 + Duration::from_secs(257 * 64);
        assert_eq!(c.check(&tuple(40000), isn, cookie + 1, now), Some(1460));
    }

    #[test]
    fn forged_acks_rarely_pass() {
        let t0 = Instant::now();
        let c = codec(t0);
        let isn = SeqNumber(5);
        let passed = (0..100_000u32)
            .filter(|&a| {
                let ack = SeqNumber(a.wrapping_mul(0x9e37_79b9));
                c.check(&tuple(40000), isn, ack, t0).is_some()
            })
            .count();
        // Odds: 3 ticks of 256 times 2^-21 = ~6e-9 each.
        assert_eq!(passed, 0);
    }

    #[test]
    fn timestamp_options_round_trip() {
        for wscale in [None, Some(0), Some(7), Some(14)] {
            for sack in [false, true] {
                for ecn in [false, true] {
                    let opts = CookieOptions { wscale, sack, ecn };
                    for ts_now in [0u32, 5, 63, 64, 1_000_000, u32::MAX] {
                        let ts = ts_encode(ts_now, opts);
                        assert_eq!(ts_decode(ts), opts);
                        // Never ahead of the clock, at most one period back.
                        let back = ts_now.wrapping_sub(ts);
                        assert!(back <= TS_OPT_MASK, "{ts_now} -> {ts}");
                    }
                }
            }
        }
        // An oversized shift is clamped to the RFC's 14.
        let ts = ts_encode(
            1000,
            CookieOptions {
                wscale: Some(20),
                ..Default::default()
            },
        );
        assert_eq!(ts_decode(ts).wscale, Some(14));
        // Bit layout: wscale in bits 0-3 (15 = none), SACK bit 4, ECN bit 5.
        let w14 = CookieOptions {
            wscale: Some(14),
            ..Default::default()
        };
        assert_eq!(ts_decode(0x0e), w14);
        assert_eq!(ts_decode(0xffff_ff0f & !0x30), CookieOptions::default());
        let all = CookieOptions {
            wscale: Some(3),
            sack: true,
            ecn: true,
        };
        assert_eq!(ts_decode(0x33), all);
    }
}
