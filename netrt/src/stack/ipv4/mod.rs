//! IPv4: the per-namespace state of IP, ARP and ICMP.
//!
//! `IpState` is the part of a namespace (Linux `struct net`'s `ipv4`
//! member) that the IPv4, ARP and ICMP code keep between packets: the
//! `ip_forward` switch, the neighbour tables, the reassembly queues, the
//! identification generator and the ICMP rate limiter.
//!
//! What is read per packet is lock-free: the forwarding switch and TTL are
//! atomics, resolved neighbours are read from a snapshot (each core through
//! its own reader), identifications come from hashed per-destination
//! counters. The mutexes guard the slow paths only: ARP resolution and
//! timers, reassembly, ICMP errors.

pub(crate) mod forward;
pub(crate) mod input;
pub(crate) mod output;
#[cfg(all(test, not(loom)))]
mod tests;
pub(crate) mod timer;

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::arp::ArpCounters;
use super::icmp::Pings;
use super::neigh::{NeighConfig, NeighTable};
use super::ns::NsInner;
use super::reasm::{ReasmConfig, Reassembler};
use super::skb::PacketBuf;
use super::IfIndex;
use crate::sync::snapshot::Snapshot;
use crate::wire::EthernetAddress;

pub(crate) use input::rcv;
pub use output::OutParams;
#[allow(unused_imports)] // select_source, route_mtu: for TCP (issue 5)
pub(crate) use output::{output, select_source};

/// TTL of locally generated datagrams (Linux `ip_default_ttl`).
pub const DEFAULT_TTL: u8 = 64;

/// The per-namespace IPv4/ARP/ICMP state. See the [module docs](self).
pub(crate) struct IpState {
    /// Forward datagrams not addressed to us (Linux `ip_forward`); off by
    /// default.
    pub(crate) ip_forward: AtomicBool,
    /// TTL of locally generated datagrams whose socket sets none.
    pub(crate) default_ttl: AtomicU8,
    /// The neighbour tables (slow path: resolution, ARP input, timers).
    pub(crate) neigh: Mutex<NeighTables>,
    /// Usable link addresses, published from `neigh` after every change
    /// (always under its lock, so the two agree): the per-packet path
    /// reads this through its core's reader, never the mutex.
    pub(crate) neigh_cache: Arc<Snapshot<NeighCache>>,
    /// Datagrams being reassembled (fragments are not the steady path).
    pub(crate) reasm: Mutex<Reassembler>,
    /// IP identification generator.
    pub(crate) idents: IdentGenerator,
    /// Rate limit on outgoing ICMP errors.
    pub(crate) icmp_limit: Mutex<TokenBucket>,
    /// Echo requests waiting for their reply.
    pub(crate) pings: Pings,
    /// ARP counters.
    pub(crate) arp_stats: ArpCounters,
    /// The neighbour/reassembly timer task's state.
    pub(crate) timer: Arc<timer::TimerState>,
    /// The namespace this state belongs to, for the timer task (which
    /// must not keep the namespace alive). Set by [`attach`].
    pub(crate) this: OnceLock<Weak<NsInner>>,
}

impl IpState {
    /// Forwarding off, TTL 64, empty tables, Linux's default limits.
    pub(crate) fn new() -> IpState {
        IpState {
            ip_forward: AtomicBool::new(false),
            default_ttl: AtomicU8::new(DEFAULT_TTL),
            neigh: Mutex::new(NeighTables::new(NeighConfig::default())),
            neigh_cache: Arc::new(Snapshot::new(NeighCache::default())),
            reasm: Mutex::new(Reassembler::new(ReasmConfig::default())),
            idents: IdentGenerator::new(),
            icmp_limit: Mutex::new(TokenBucket::icmp_default()),
            pings: Pings::default(),
            arp_stats: ArpCounters::default(),
            timer: Arc::new(timer::TimerState::default()),
            this: OnceLock::new(),
        }
    }

    /// Whether datagrams not addressed to us are forwarded.
    #[inline]
    pub(crate) fn forwarding(&self) -> bool {
        self.ip_forward.load(Ordering::Relaxed)
    }

    /// The TTL for locally generated datagrams.
    #[inline]
    pub(crate) fn ttl(&self) -> u8 {
        self.default_ttl.load(Ordering::Relaxed)
    }
}

impl Default for IpState {
    fn default() -> Self {
        IpState::new()
    }
}

impl Drop for IpState {
    fn drop(&mut self) {
        // The namespace is going: let its timer task see that now rather
        // than at its next deadline.
        self.timer.shutdown();
    }
}

impl std::fmt::Debug for IpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpState")
            .field("ip_forward", &self.forwarding())
            .field("default_ttl", &self.ttl())
            .finish_non_exhaustive()
    }
}

/// Tells the IPv4 state which namespace it belongs to, so timers can run
/// (the timer task holds a `Weak`). Idempotent; called when an address is
/// added ([`arp::announce`](super::arp::announce)) and by the public
/// entry points that hold the namespace.
pub(crate) fn attach(ns: &Arc<NsInner>) {
    let _ = ns.ip.this.set(Arc::downgrade(ns));
}

/// This core's SNMP counter block of `ns` (see [`NsInner::snmp_core`]).
#[inline]
pub(crate) fn mib(ns: &NsInner) -> &crate::stack::snmp::CoreCounters {
    ns.snmp_core()
}

/// One neighbour table per device (Linux keeps one `arp_tbl` keyed by
/// device and address; the pure table here is per device).
pub(crate) struct NeighTables {
    config: NeighConfig,
    pub(crate) by_dev: HashMap<IfIndex, NeighTable<PacketBuf>>,
}

impl NeighTables {
    fn new(config: NeighConfig) -> NeighTables {
        NeighTables {
            config,
            by_dev: HashMap::new(),
        }
    }

    /// The table of `dev`, created on first use.
    pub(crate) fn table(&mut self, dev: IfIndex) -> &mut NeighTable<PacketBuf> {
        let config = self.config;
        self.by_dev
            .entry(dev)
            .or_insert_with(|| NeighTable::new(config))
    }
}

/// Resolved neighbours: (device, next hop) → link address.
pub(crate) type NeighCache = HashMap<(IfIndex, Ipv4Addr), EthernetAddress, KeyHasher>;

/// A cheap hasher for small fixed keys (addresses, device indexes). The
/// neighbour cache holds only resolved entries, at most the neighbour
/// table's bound (1024 per device), so keys chosen to collide cannot make
/// a lookup cost more than that; SipHash's flooding resistance would be
/// paid on every packet for little.
pub(crate) type KeyHasher = BuildHasherDefault<MixHasher>;

/// Multiply-rotate mixing of the written words.
#[derive(Default)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// IP identification: a counter per bucket of (source, destination,
/// protocol), so one destination sees consecutive identifications and
/// two destinations rarely share a counter (or its cache line). The
/// buckets start at random offsets and the bucket choice is keyed by a
/// per-namespace random key, so identifications are not predictable
/// across destinations. // linux: ip_idents_reserve
///
/// Linux keys the bucket choice with SipHash; here it is a keyed
/// multiply-xorshift mix (the splitmix64 finalizer), a few nanoseconds per
/// datagram instead of a few tens: it hides the pairing from casual
/// observation but is not a cryptographic guarantee.
pub(crate) struct IdentGenerator {
    key: u64,
    buckets: Box<[AtomicU32]>,
}

const IDENT_BUCKETS: usize = 2048;

impl IdentGenerator {
    fn new() -> IdentGenerator {
        let seed = std::collections::hash_map::RandomState::new();
        let buckets = (0..IDENT_BUCKETS)
            .map(|i| AtomicU32::new(seed.hash_one(i) as u32))
            .collect();
        IdentGenerator {
            key: seed.hash_one(u64::MAX),
            buckets,
        }
    }

    /// The next identification for a datagram from `src` to `dst`.
    #[inline]
    pub(crate) fn next(&self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> u16 {
        let pair = (u64::from(u32::from(src)) << 32) | u64::from(u32::from(dst));
        let mut x = (pair ^ self.key).wrapping_add(u64::from(protocol) << 56);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        let bucket = &self.buckets[x as usize % IDENT_BUCKETS];
        // Truncation intended: identifications are 16 bits and wrap.
        bucket.fetch_add(1, Ordering::Relaxed) as u16
    }
}

/// A token bucket: `rate` tokens per second up to `burst`.
/// // linux: icmp_global_allow (icmp_msgs_per_sec / icmp_msgs_burst)
#[derive(Debug)]
pub(crate) struct TokenBucket {
    per_token: Duration,
    burst: u32,
    tokens: u32,
    last: Option<Instant>,
}

impl TokenBucket {
    /// Linux's defaults for ICMP errors: 1000 per second, bursts of 50.
    fn icmp_default() -> TokenBucket {
        TokenBucket::new(1000, 50)
    }

    /// A full bucket of `burst` tokens refilled at `per_sec` per second.
    pub(crate) fn new(per_sec: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            per_token: Duration::from_secs(1) / per_sec.max(1),
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Takes a token if one is left at `now`.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let last = *self.last.get_or_insert(now);
        let earned = now.saturating_duration_since(last).as_nanos() / self.per_token.as_nanos();
        if earned >= u128::from(self.burst - self.tokens) {
            // Full: time spent full earns nothing.
            self.tokens = self.burst;
            self.last = Some(now);
        } else if earned > 0 {
            // Below the burst, so it fits; the fraction of a token already
            // earned is kept by advancing `last` by whole tokens only.
            let earned = earned as u32;
            self.tokens += earned;
            self.last = Some(last + self.per_token * earned);
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}
