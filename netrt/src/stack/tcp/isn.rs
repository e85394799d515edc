//! Initial sequence numbers (RFC 6528) and timestamp offsets (RFC 7323
//! §7.1).
//!
//! `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`: `M`
//! is a clock ticking every 4 µs, `F` a keyed hash (SipHash-2-4) of the
//! connection's tuple. Successive incarnations of one tuple get increasing
//! ISNs (old duplicates stay outside the new window), while an off-path
//! attacker cannot guess any connection's ISN from its own.
//! // linux: secure_tcp_seq, secure_tcp_ts_off
//!
//! Ephemeral ports for `connect` (RFC 6056) are chosen by
//! [`PortAllocator::pick_preferring`](crate::stack::ephemeral::PortAllocator::pick_preferring),
//! shared with UDP.

use std::net::Ipv4Addr;
use std::time::Instant;

use super::FourTuple;
use crate::stack::siphash::SipKey;
use crate::wire::tcp::SeqNumber;

/// The ISN clock's tick, in microseconds (RFC 6528: 4 µs).
pub const ISN_TICK_US: u64 = 4;

/// Per-namespace secrets for ISNs and timestamp offsets.
#[derive(Debug, Clone)]
pub struct IsnGenerator {
    seq_key: SipKey,
    ts_key: SipKey,
    /// Time zero of the `M` clock.
    epoch: Instant,
}

impl IsnGenerator {
    /// A generator with fresh random secrets, its clock starting at
    /// `epoch`.
    pub fn new(epoch: Instant) -> IsnGenerator {
        IsnGenerator::with_keys(SipKey::random(), SipKey::random(), epoch)
    }

    /// A generator with given secrets (tests, reproducible setups).
    pub fn with_keys(seq_key: SipKey, ts_key: SipKey, epoch: Instant) -> IsnGenerator {
        IsnGenerator {
            seq_key,
            ts_key,
            epoch,
        }
    }

    /// `F`: the keyed hash of the tuple.
    fn f(&self, tuple: &FourTuple) -> u32 {
        self.seq_key.hash(&tuple.to_bytes()) as u32
    }

    /// `M`: 4 µs ticks since the epoch, modulo 2^32 (wraps every ~4.8 h).
    fn m(&self, now: Instant) -> u32 {
        let us = now.saturating_duration_since(self.epoch).as_micros();
        (us / u128::from(ISN_TICK_US)) as u32
    }

    /// The initial sequence number for a connection on `tuple` opened
    /// at `now`.
    pub fn isn(&self, tuple: &FourTuple, now: Instant) -> SeqNumber {
        SeqNumber(self.m(now).wrapping_add(self.f(tuple)))
    }

    /// The offset added to our TSval for this address pair (RFC 7323
    /// §7.1, as Linux): hides the host's clock and keeps timestamps of
    /// successive connections between the pair monotonic for PAWS.
    pub fn ts_offset(&self, local: Ipv4Addr, remote: Ipv4Addr) -> u32 {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&local.octets());
        b[4..].copy_from_slice(&remote.octets());
        self.ts_key.hash(&b) as u32
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;
    use std::time::Duration;

    fn tuple(lport: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), lport),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
        }
    }

    fn gen(epoch: Instant) -> IsnGenerator {
        let k = |x: u8| SipKey::from_bytes([x; 16]);
        IsnGenerator::with_keys(k(1), k(2), epoch)
    }

    #[test]
    fn isn_is_hash_plus_four_microsecond_clock() {
        let t0 = Instant::now();
        let g = gen(t0);
        let t = tuple(40000);
        let f = SipKey::from_bytes([1; 16]).hash(&t.to_bytes()) as u32;
        assert_eq!(g.isn(&t, t0), SeqNumber(f));
        // 1 s = 250,000 ticks.
        assert_eq!(
            g.isn(&t, t0 + Duration::from_secs(1)),
            SeqNumber(f) + 250_000
        );
        assert_eq!(g.isn(&t, t0 + Duration::from_micros(7)), SeqNumber(f) + 1);
        // 5 h: 4.5e9 ticks, wrapped modulo 2^32.
        let ticks = (5u64 * 3600 * 1_000_000 / 4) as u32;
        assert_eq!(
            g.isn(&t, t0 + Duration::from_secs(5 * 3600)),
            SeqNumber(f.wrapping_add(ticks))
        );
        // A clock before the epoch counts as the epoch.
        let g_late = gen(t0 + Duration::from_secs(1));
        assert_eq!(g_late.isn(&t, t0), SeqNumber(f));
    }

    #[test]
    fn later_incarnations_get_later_isns() {
        let t0 = Instant::now();
        let g = gen(t0);
        let t = tuple(40000);
        let a = g.isn(&t, t0 + Duration::from_millis(10));
        let b = g.isn(&t, t0 + Duration::from_millis(11));
        assert!(a < b);
        assert_eq!(b - a, 250);
    }

    #[test]
    fn tuples_and_keys_decorrelate() {
        let t0 = Instant::now();
        let g = gen(t0);
        let isns: std::collections::HashSet<u32> =
            (0..1000).map(|p| g.isn(&tuple(40000 + p), t0).0).collect();
        assert_eq!(isns.len(), 1000);
        // Neighbouring ports are not neighbouring ISNs.
        let d = g.isn(&tuple(40001), t0) - g.isn(&tuple(40000), t0);
        assert!(d.unsigned_abs() > 1000);
        let other = IsnGenerator::new(t0);
        assert_ne!(other.isn(&tuple(40000), t0), g.isn(&tuple(40000), t0));
    }

    #[test]
    fn timestamp_offsets_depend_on_addresses_only() {
        let g = gen(Instant::now());
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(g.ts_offset(a, b), g.ts_offset(a, b));
        assert_ne!(g.ts_offset(a, b), g.ts_offset(b, a));
        let seq_hash = SipKey::from_bytes([1; 16]).hash(&[10, 0, 0, 1, 10, 0, 0, 2]) as u32;
        assert_ne!(g.ts_offset(a, b), seq_hash, "separate key");
    }
}
