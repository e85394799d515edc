//! The ARP neighbour table: a simplified Linux neighbour state machine.
//!
//! One [`NeighTable`] per device maps IPv4 next hops to link addresses.
//! Entries move through Linux's NUD states:
//!
//! ```text
//!            resolve()                      reply            timer: not confirmed
//!   (none) ───────────► INCOMPLETE ─────────────────► REACHABLE ──────────► STALE
//!                         │  ▲ retransmit                 ▲   ▲              │ resolve()
//!           mcast_probes  │  │ every retrans_time  reply/ │   │ confirmed    ▼
//!           unanswered    ▼  │ (resolve() restarts)confirm│   └──────────── DELAY
//!                        FAILED ◄──────────────────────  PROBE ◄─────────────┘
//!                               ucast_probes unanswered       timer: not confirmed
//! ```
//!
//! Packets sent to an INCOMPLETE neighbour wait in a bounded per-neighbour
//! queue (Linux `unres_qlen`; when full the oldest is dropped and counted)
//! and are handed back when the answer arrives, or reported with the
//! failure so the caller can send ICMP host-unreachable for them.
//!
//! Nothing here does I/O or reads a clock: every method takes `now` and
//! returns what the caller must do ([`Resolve`], [`Flush`],
//! [`NeighAction`]); [`NeighTable::next_deadline`] says when to call
//! [`NeighTable::poll`] next. The caller fills in the ARP request's sender
//! address (Linux `arp_solicit` picks the queued packet's source when it is
//! ours, else the device's primary address).
//!
//! Simplifications against Linux: `reachable_time` is not randomized (the
//! caller may jitter the config), there are no application probes, proxy
//! ARP or `arp_accept`, and an upper-layer confirmation moves DELAY/PROBE
//! straight to REACHABLE instead of waiting for the timer.
//! // linux: net/core/neighbour.c, net/ipv4/arp.c

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::wire::EthernetAddress;

/// Neighbour Unreachability Detection state of an entry (Linux `NUD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighState {
    /// A request is out, no answer yet; packets are queued.
    Incomplete,
    /// Confirmed within `reachable_time`.
    Reachable,
    /// Address known but unconfirmed; still used, first use starts
    /// verification.
    Stale,
    /// Used while stale; waiting `delay_first_probe_time` for an
    /// upper-layer confirmation before probing.
    Delay,
    /// Sending unicast probes to the known address.
    Probe,
    /// Resolution failed; the next packet starts over.
    Failed,
    /// Configured by hand; never expires and ignores ARP.
    Permanent,
}

impl NeighState {
    /// True when the entry holds a usable link address.
    #[inline]
    pub fn is_valid(self) -> bool {
        !matches!(self, NeighState::Incomplete | NeighState::Failed)
    }
}

/// Timers and limits of a table (Linux `neigh_parms`, ARP defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighConfig {
    /// How long a confirmation keeps an entry REACHABLE.
    pub reachable_time: Duration,
    /// Interval between retransmitted requests and probes.
    pub retrans_time: Duration,
    /// Time in DELAY before the first unicast probe.
    pub delay_first_probe_time: Duration,
    /// Broadcast requests sent (the first included) before INCOMPLETE fails.
    pub mcast_probes: u32,
    /// Unicast probes sent before PROBE fails.
    pub ucast_probes: u32,
    /// Packets queued per unresolved neighbour (Linux `unres_qlen`).
    pub unres_qlen: usize,
    /// An unused STALE entry is removed after this long.
    pub gc_stale_time: Duration,
    /// A FAILED entry is removed after this long.
    pub failed_linger: Duration,
    /// A link address learned less than this long ago is not replaced by a
    /// different one (guards against two hosts answering; Linux `locktime`).
    pub locktime: Duration,
    /// Most entries the table holds (Linux `gc_thresh3`).
    pub max_entries: usize,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            reachable_time: Duration::from_secs(30),
            retrans_time: Duration::from_secs(1),
            delay_first_probe_time: Duration::from_secs(5),
            mcast_probes: 3,
            ucast_probes: 3,
            unres_qlen: 101,
            gc_stale_time: Duration::from_secs(60),
            failed_linger: Duration::from_secs(15),
            locktime: Duration::from_secs(1),
            max_entries: 1024,
        }
    }
}

/// An ARP request the caller must send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRequest {
    /// The address being resolved (ARP target protocol address).
    pub target: Ipv4Addr,
    /// `None`: broadcast (resolution); `Some`: unicast to the address we
    /// hold (a PROBE verifying it).
    pub dst_mac: Option<EthernetAddress>,
}

/// What [`NeighTable::resolve`] decided about a packet.
#[derive(Debug)]
pub enum Resolve<P> {
    /// Send `pkt` to `mac` now.
    Ready {
        /// The neighbour's link address.
        mac: EthernetAddress,
        /// The packet, handed back.
        pkt: P,
    },
    /// The packet waits for a resolution already in progress (if the queue
    /// was full, its oldest packet was dropped and counted).
    Queued,
    /// The packet was queued and a resolution starts: send this request.
    SendRequest(ArpRequest),
    /// The table is full of entries that cannot be reclaimed: the packet
    /// is handed back undelivered (Linux: `ENOBUFS`).
    Dropped(P),
}

/// Where an ARP packet came from, for [`NeighTable::on_arp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpSource {
    /// A reply addressed to us: confirms the sender (REACHABLE).
    Reply,
    /// A request whose target is one of our addresses: the sender is about
    /// to talk to us, so it is learned (STALE), created if unknown.
    RequestForUs,
    /// Anything else heard on the link (gratuitous ARP, requests between
    /// other hosts): refreshes an existing entry only.
    Overheard,
}

/// Packets released by a resolution: send each to `mac`, in order.
#[derive(Debug)]
pub struct Flush<P> {
    /// The neighbour's link address.
    pub mac: EthernetAddress,
    /// The packets queued while it was unresolved, oldest first.
    pub packets: VecDeque<P>,
}

/// Work [`NeighTable::poll`] hands the caller.
#[derive(Debug)]
pub enum NeighAction<P> {
    /// Send an ARP request (a retransmission or a unicast probe).
    SendRequest(ArpRequest),
    /// Resolution of `ip` failed: the packets that were waiting are given
    /// back to be dropped (and answered with ICMP host unreachable, as
    /// Linux's `arp_error_report` does). They are counted in
    /// [`NeighStats::unres_discards`].
    Failed {
        /// The neighbour that did not answer.
        ip: Ipv4Addr,
        /// Packets that were waiting for it.
        packets: VecDeque<P>,
    },
}

/// A snapshot of one entry, for inspection (`ip neigh show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighInfo {
    /// Current state.
    pub state: NeighState,
    /// Link address, when the state holds one.
    pub mac: Option<EthernetAddress>,
    /// Packets waiting for resolution.
    pub queued: usize,
}

/// Event counters (Linux `/proc/net/stat/arp_cache`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighStats {
    /// Entries created.
    pub allocs: u64,
    /// Entries removed.
    pub destroys: u64,
    /// Calls to `resolve`.
    pub lookups: u64,
    /// `resolve` calls answered at once.
    pub hits: u64,
    /// Resolutions that failed (INCOMPLETE or PROBE ran out of probes).
    pub res_failed: u64,
    /// Packets dropped while unresolved: queue overflow and failures.
    pub unres_discards: u64,
    /// Packets refused because the table was full.
    pub table_fulls: u64,
}

/// The neighbour table of one device, generic over the queued packet type.
#[derive(Debug)]
pub struct NeighTable<P> {
    config: NeighConfig,
    entries: HashMap<Ipv4Addr, Entry<P>>,
    stats: NeighStats,
}

#[derive(Debug)]
struct Entry<P> {
    state: NeighState,
    /// Meaningful when `state.is_valid()`.
    mac: EthernetAddress,
    /// Requests sent in the current INCOMPLETE/PROBE round.
    probes: u32,
    /// When the current state's timer fires; `None` for PERMANENT.
    deadline: Option<Instant>,
    /// Last confirmation of reachability (reply or upper layer).
    confirmed: Instant,
    /// Last change made by ARP input.
    updated: Instant,
    /// Last time a packet was sent through it.
    used: Instant,
    queue: VecDeque<P>,
}

impl<P> Entry<P> {
    fn new(state: NeighState, mac: EthernetAddress, now: Instant) -> Self {
        // Never confirmed: a confirmation time far enough back that no
        // "confirmed recently" test passes.
        Entry {
            state,
            mac,
            probes: 0,
            deadline: None,
            confirmed: now.checked_sub(Duration::from_secs(3600)).unwrap_or(now),
            updated: now,
            used: now,
            queue: VecDeque::new(),
        }
    }

    fn set(&mut self, state: NeighState, deadline: Instant) {
        self.state = state;
        self.deadline = Some(deadline);
    }
}

impl<P> NeighTable<P> {
    /// An empty table with `config`.
    pub fn new(config: NeighConfig) -> Self {
        NeighTable {
            config,
            entries: HashMap::new(),
            stats: NeighStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NeighConfig {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> NeighStats {
        self.stats
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `ip`, if any.
    pub fn get(&self, ip: Ipv4Addr) -> Option<NeighInfo> {
        self.entries.get(&ip).map(|e| NeighInfo {
            state: e.state,
            mac: e.state.is_valid().then_some(e.mac),
            queued: e.queue.len(),
        })
    }

    /// Decides what to do with `pkt` bound for next hop `ip`. A known
    /// neighbour (REACHABLE, STALE, DELAY, PROBE, PERMANENT) answers at
    /// once — a STALE one starts verification by moving to DELAY. An
    /// unknown or FAILED one starts resolution; an INCOMPLETE one queues.
    /// // linux: neigh_event_send
    pub fn resolve(&mut self, ip: Ipv4Addr, now: Instant, pkt: P) -> Resolve<P> {
        self.stats.lookups += 1;
        if let Some(entry) = self.entries.get_mut(&ip) {
            return resolve_entry(entry, ip, now, pkt, &self.config, &mut self.stats);
        }
        if !self.make_room() {
            self.stats.table_fulls += 1;
            return Resolve::Dropped(pkt);
        }
        self.stats.allocs += 1;
        // A new entry starts as if it had failed before: resolution starts.
        let entry = self.entries.entry(ip).or_insert(Entry::new(
            NeighState::Failed,
            EthernetAddress::UNSPECIFIED,
            now,
        ));
        resolve_entry(entry, ip, now, pkt, &self.config, &mut self.stats)
    }

    /// Learns from an ARP packet sent by `sender_ip` at `sender_mac`.
    /// Returns the packets that were waiting for that neighbour, if this
    /// resolved it. // linux: arp_process → neigh_update
    pub fn on_arp(
        &mut self,
        sender_ip: Ipv4Addr,
        sender_mac: EthernetAddress,
        now: Instant,
        source: ArpSource,
    ) -> Option<Flush<P>> {
        let cfg = self.config;
        if !self.entries.contains_key(&sender_ip) {
            // Only a host about to talk to us is worth a new entry; Linux
            // creates none for unsolicited replies without `arp_accept`.
            if source == ArpSource::RequestForUs && self.make_room() {
                self.stats.allocs += 1;
                let mut entry = Entry::new(NeighState::Stale, sender_mac, now);
                entry.deadline = Some(now + cfg.gc_stale_time);
                self.entries.insert(sender_ip, entry);
            }
            return None;
        }
        let entry = self.entries.get_mut(&sender_ip)?;
        if entry.state == NeighState::Permanent {
            return None;
        }
        let changed = entry.state.is_valid() && entry.mac != sender_mac;
        if changed && now < entry.updated + cfg.locktime {
            return None;
        }
        entry.mac = sender_mac;
        entry.updated = now;
        entry.probes = 0;
        if source == ArpSource::Reply {
            entry.confirmed = now;
            entry.set(NeighState::Reachable, now + cfg.reachable_time);
        } else if changed || entry.state != NeighState::Reachable {
            // A same-address hint never downgrades a confirmed entry.
            entry.set(NeighState::Stale, now + cfg.gc_stale_time);
        }
        if entry.queue.is_empty() {
            return None;
        }
        if entry.state == NeighState::Stale {
            // Sending the queue is a use of a stale entry.
            entry.used = now;
            entry.set(NeighState::Delay, now + cfg.delay_first_probe_time);
        }
        Some(Flush {
            mac: sender_mac,
            packets: std::mem::take(&mut entry.queue),
        })
    }

    /// An upper layer saw forward progress with `ip` (a TCP ACK for new
    /// data): the neighbour is reachable without asking it.
    /// // linux: neigh_confirm
    pub fn confirm(&mut self, ip: Ipv4Addr, now: Instant) {
        let reachable = self.config.reachable_time;
        if let Some(entry) = self.entries.get_mut(&ip) {
            if !entry.state.is_valid() || entry.state == NeighState::Permanent {
                return;
            }
            entry.confirmed = now;
            if matches!(
                entry.state,
                NeighState::Reachable | NeighState::Delay | NeighState::Probe
            ) {
                entry.probes = 0;
                entry.set(NeighState::Reachable, now + reachable);
            }
        }
    }

    /// Adds (or replaces) a hand-configured entry that never expires and
    /// ignores ARP (`ip neigh add ... nud permanent`). Packets waiting for
    /// that address are returned for sending.
    pub fn insert_permanent(
        &mut self,
        ip: Ipv4Addr,
        mac: EthernetAddress,
        now: Instant,
    ) -> Option<Flush<P>> {
        let old = self
            .entries
            .insert(ip, Entry::new(NeighState::Permanent, mac, now));
        match old {
            None => {
                self.stats.allocs += 1;
                None
            }
            Some(old) if !old.queue.is_empty() => Some(Flush {
                mac,
                packets: old.queue,
            }),
            Some(_) => None,
        }
    }

    /// Removes the entry for `ip`; its queued packets are returned (to be
    /// dropped). `None` if there was no entry.
    pub fn remove(&mut self, ip: Ipv4Addr) -> Option<VecDeque<P>> {
        let entry = self.entries.remove(&ip)?;
        self.stats.destroys += 1;
        self.stats.unres_discards += entry.queue.len() as u64;
        Some(entry.queue)
    }

    /// Removes every entry except permanent ones (the device went down);
    /// returns how many queued packets were dropped. // linux: neigh_ifdown
    pub fn flush(&mut self) -> usize {
        let mut dropped = 0;
        let stats = &mut self.stats;
        self.entries.retain(|_, e| {
            if e.state == NeighState::Permanent {
                return true;
            }
            stats.destroys += 1;
            dropped += e.queue.len();
            false
        });
        self.stats.unres_discards += dropped as u64;
        dropped
    }

    /// The earliest instant at which [`poll`](Self::poll) has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.deadline).min()
    }

    /// Runs every timer due at `now`: retransmits, probes, failures, state
    /// aging and garbage collection. O(entries).
    /// // linux: neigh_timer_handler + neigh_periodic_work
    pub fn poll(&mut self, now: Instant) -> Vec<NeighAction<P>> {
        let cfg = self.config;
        let mut actions = Vec::new();
        let stats = &mut self.stats;
        self.entries.retain(|&ip, e| {
            if e.deadline.is_none_or(|d| d > now) {
                return true;
            }
            match e.state {
                NeighState::Incomplete | NeighState::Probe => {
                    let (limit, dst_mac) = if e.state == NeighState::Incomplete {
                        (cfg.mcast_probes, None)
                    } else {
                        (cfg.ucast_probes, Some(e.mac))
                    };
                    if e.probes >= limit {
                        stats.res_failed += 1;
                        stats.unres_discards += e.queue.len() as u64;
                        e.set(NeighState::Failed, now + cfg.failed_linger);
                        actions.push(NeighAction::Failed {
                            ip,
                            packets: std::mem::take(&mut e.queue),
                        });
                    } else {
                        e.probes += 1;
                        e.deadline = Some(now + cfg.retrans_time);
                        actions.push(NeighAction::SendRequest(ArpRequest {
                            target: ip,
                            dst_mac,
                        }));
                    }
                }
                NeighState::Reachable => {
                    let confirmed_until = e.confirmed + cfg.reachable_time;
                    if now < confirmed_until {
                        e.deadline = Some(confirmed_until);
                    } else if now < e.used + cfg.delay_first_probe_time {
                        // In use right now: verify soon rather than go stale.
                        e.set(NeighState::Delay, now + cfg.delay_first_probe_time);
                    } else {
                        e.set(NeighState::Stale, now + cfg.gc_stale_time);
                    }
                }
                NeighState::Delay => {
                    let confirmed_until = e.confirmed + cfg.reachable_time;
                    if now < confirmed_until {
                        e.set(NeighState::Reachable, confirmed_until);
                    } else {
                        e.probes = 1;
                        e.set(NeighState::Probe, now + cfg.retrans_time);
                        actions.push(NeighAction::SendRequest(ArpRequest {
                            target: ip,
                            dst_mac: Some(e.mac),
                        }));
                    }
                }
                NeighState::Stale => {
                    let idle_until = e.used.max(e.updated) + cfg.gc_stale_time;
                    if now < idle_until {
                        e.deadline = Some(idle_until);
                    } else {
                        stats.destroys += 1;
                        return false;
                    }
                }
                NeighState::Failed => {
                    stats.destroys += 1;
                    return false;
                }
                NeighState::Permanent => e.deadline = None,
            }
            true
        });
        actions
    }

    /// Makes room for one more entry if the table is full, by dropping
    /// FAILED and STALE entries (they hold no queued packets). False if it
    /// is still full. // linux: neigh_forced_gc
    fn make_room(&mut self) -> bool {
        if self.entries.len() < self.config.max_entries {
            return true;
        }
        let stats = &mut self.stats;
        self.entries.retain(|_, e| {
            let reclaim = matches!(e.state, NeighState::Failed | NeighState::Stale);
            if reclaim {
                stats.destroys += 1;
            }
            !reclaim
        });
        self.entries.len() < self.config.max_entries
    }
}

/// The per-state half of [`NeighTable::resolve`].
fn resolve_entry<P>(
    entry: &mut Entry<P>,
    ip: Ipv4Addr,
    now: Instant,
    pkt: P,
    cfg: &NeighConfig,
    stats: &mut NeighStats,
) -> Resolve<P> {
    entry.used = now;
    match entry.state {
        NeighState::Reachable | NeighState::Delay | NeighState::Probe | NeighState::Permanent => {
            stats.hits += 1;
            Resolve::Ready {
                mac: entry.mac,
                pkt,
            }
        }
        NeighState::Stale => {
            stats.hits += 1;
            entry.set(NeighState::Delay, now + cfg.delay_first_probe_time);
            Resolve::Ready {
                mac: entry.mac,
                pkt,
            }
        }
        NeighState::Incomplete => {
            enqueue(&mut entry.queue, pkt, cfg.unres_qlen, stats);
            Resolve::Queued
        }
        NeighState::Failed => {
            entry.set(NeighState::Incomplete, now + cfg.retrans_time);
            entry.probes = 1;
            enqueue(&mut entry.queue, pkt, cfg.unres_qlen, stats);
            Resolve::SendRequest(ArpRequest {
                target: ip,
                dst_mac: None,
            })
        }
    }
}

/// Queues `pkt`, dropping the oldest packet when the queue is full
/// (everything when `limit` is 0). // linux: __neigh_event_send's
/// unres_qlen handling
fn enqueue<P>(queue: &mut VecDeque<P>, pkt: P, limit: usize, stats: &mut NeighStats) {
    if limit == 0 {
        stats.unres_discards += 1;
        return;
    }
    while queue.len() >= limit {
        queue.pop_front();
        stats.unres_discards += 1;
    }
    queue.push_back(pkt);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
    const MAC2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 3]);
    const S: Duration = Duration::from_secs(1);

    fn table() -> NeighTable<u32> {
        NeighTable::new(NeighConfig::default())
    }

    fn state(t: &NeighTable<u32>) -> Option<NeighState> {
        t.get(IP).map(|i| i.state)
    }

    fn requests(actions: &[NeighAction<u32>]) -> Vec<ArpRequest> {
        actions
            .iter()
            .filter_map(|a| match a {
                NeighAction::SendRequest(r) => Some(*r),
                NeighAction::Failed { .. } => None,
            })
            .collect()
    }

    fn broadcast_req() -> ArpRequest {
        ArpRequest {
            target: IP,
            dst_mac: None,
        }
    }

    fn probe_req() -> ArpRequest {
        ArpRequest {
            target: IP,
            dst_mac: Some(MAC),
        }
    }

    fn ready(r: Resolve<u32>) -> (EthernetAddress, u32) {
        match r {
            Resolve::Ready { mac, pkt } => (mac, pkt),
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    /// A table with IP REACHABLE, confirmed at `t0`.
    fn reachable(t0: Instant) -> NeighTable<u32> {
        let mut t = table();
        assert!(matches!(t.resolve(IP, t0, 1), Resolve::SendRequest(_)));
        let flush = t.on_arp(IP, MAC, t0, ArpSource::Reply).unwrap();
        assert_eq!(flush.packets, [1]);
        assert_eq!(state(&t), Some(NeighState::Reachable));
        t
    }

    #[test]
    fn resolution_queues_then_flushes_in_order() {
        let t0 = Instant::now();
        let mut t = table();
        match t.resolve(IP, t0, 1) {
            Resolve::SendRequest(req) => assert_eq!(req, broadcast_req()),
            other => panic!("{other:?}"),
        }
        assert_eq!(state(&t), Some(NeighState::Incomplete));
        assert!(matches!(t.resolve(IP, t0, 2), Resolve::Queued));
        assert!(matches!(t.resolve(IP, t0, 3), Resolve::Queued));
        assert_eq!(t.get(IP).unwrap().queued, 3);
        assert_eq!(t.get(IP).unwrap().mac, None);

        let flush = t.on_arp(IP, MAC, t0 + S / 2, ArpSource::Reply).unwrap();
        assert_eq!(flush.mac, MAC);
        assert_eq!(flush.packets, [1, 2, 3]);
        assert_eq!(
            t.get(IP),
            Some(NeighInfo {
                state: NeighState::Reachable,
                mac: Some(MAC),
                queued: 0
            })
        );
        assert_eq!(ready(t.resolve(IP, t0 + S, 4)), (MAC, 4));
        let stats = t.stats();
        assert_eq!((stats.lookups, stats.hits, stats.allocs), (4, 1, 1));
        // Nothing left to retransmit: the next timer is the reachable one.
        assert_eq!(t.next_deadline(), Some(t0 + S / 2 + 30 * S));
        assert!(t.poll(t0 + 2 * S).is_empty());
    }

    #[test]
    fn incomplete_retransmits_then_fails_after_max_probes() {
        let t0 = Instant::now();
        let mut t = table();
        assert!(matches!(t.resolve(IP, t0, 1), Resolve::SendRequest(_)));
        assert!(matches!(t.resolve(IP, t0, 2), Resolve::Queued));
        assert_eq!(t.next_deadline(), Some(t0 + S));
        assert!(t.poll(t0 + S / 2).is_empty(), "not due yet");
        // Probes 2 and 3, one per retrans_time.
        assert_eq!(requests(&t.poll(t0 + S)), [broadcast_req()]);
        assert_eq!(requests(&t.poll(t0 + 2 * S)), [broadcast_req()]);
        assert_eq!(state(&t), Some(NeighState::Incomplete));
        let actions = t.poll(t0 + 3 * S);
        assert_eq!(actions.len(), 1);
        match &actions[0] {
            NeighAction::Failed { ip, packets } => {
                assert_eq!(*ip, IP);
                assert_eq!(*packets, [1, 2]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(state(&t), Some(NeighState::Failed));
        let stats = t.stats();
        assert_eq!((stats.res_failed, stats.unres_discards), (1, 2));

        // The next packet starts over...
        match t.resolve(IP, t0 + 4 * S, 3) {
            Resolve::SendRequest(req) => assert_eq!(req, broadcast_req()),
            other => panic!("{other:?}"),
        }
        assert_eq!(state(&t), Some(NeighState::Incomplete));
        // ...and an entry left failed is collected after failed_linger.
        for i in 5..=7 {
            let _ = t.poll(t0 + i * S);
        }
        assert_eq!(state(&t), Some(NeighState::Failed));
        assert_eq!(t.stats().res_failed, 2);
        assert!(t.poll(t0 + 7 * S + 15 * S).is_empty());
        assert_eq!(state(&t), None);
        assert_eq!(t.stats().destroys, 1);
    }

    #[test]
    fn queue_overflow_drops_the_oldest() {
        let t0 = Instant::now();
        let mut t = NeighTable::new(NeighConfig {
            unres_qlen: 3,
            ..NeighConfig::default()
        });
        assert!(matches!(t.resolve(IP, t0, 0), Resolve::SendRequest(_)));
        for pkt in 1..6 {
            assert!(matches!(t.resolve(IP, t0, pkt), Resolve::Queued));
        }
        assert_eq!(t.get(IP).unwrap().queued, 3);
        assert_eq!(t.stats().unres_discards, 3);
        let flush = t.on_arp(IP, MAC, t0, ArpSource::Reply).unwrap();
        assert_eq!(flush.packets, [3, 4, 5]);

        // A zero-length queue still resolves, but keeps nothing.
        let mut t = NeighTable::new(NeighConfig {
            unres_qlen: 0,
            ..NeighConfig::default()
        });
        assert!(matches!(t.resolve(IP, t0, 7), Resolve::SendRequest(_)));
        assert_eq!(t.stats().unres_discards, 1);
        assert!(t.on_arp(IP, MAC, t0, ArpSource::Reply).is_none());
        assert_eq!(state(&t), Some(NeighState::Reachable));
    }

    #[test]
    fn reachable_ages_to_stale_when_idle() {
        let t0 = Instant::now();
        let mut t = reachable(t0);
        assert_eq!(t.next_deadline(), Some(t0 + 30 * S));
        assert!(t.poll(t0 + 30 * S).is_empty());
        assert_eq!(state(&t), Some(NeighState::Stale));
        // Still usable; a use starts DELAY.
        assert_eq!(ready(t.resolve(IP, t0 + 31 * S, 9)), (MAC, 9));
        assert_eq!(state(&t), Some(NeighState::Delay));
    }

    #[test]
    fn reachable_in_use_goes_to_delay_and_confirmation_extends() {
        let t0 = Instant::now();
        let mut t = reachable(t0);
        // An upper-layer confirmation at 20 s keeps it reachable to 50 s.
        t.confirm(IP, t0 + 20 * S);
        assert!(t.poll(t0 + 30 * S).is_empty());
        assert_eq!(state(&t), Some(NeighState::Reachable));
        assert_eq!(t.next_deadline(), Some(t0 + 50 * S));
        // Used just before expiry: DELAY rather than STALE.
        let _ = ready(t.resolve(IP, t0 + 48 * S, 1));
        assert!(t.poll(t0 + 50 * S).is_empty());
        assert_eq!(state(&t), Some(NeighState::Delay));
    }

    #[test]
    fn delay_probes_then_fails() {
        let t0 = Instant::now();
        let mut t = reachable(t0);
        let _ = t.poll(t0 + 30 * S); // -> STALE
        let _ = ready(t.resolve(IP, t0 + 40 * S, 1)); // -> DELAY
        assert_eq!(t.next_deadline(), Some(t0 + 45 * S));
        // No confirmation within delay_first_probe_time: unicast probe.
        assert_eq!(requests(&t.poll(t0 + 45 * S)), [probe_req()]);
        assert_eq!(state(&t), Some(NeighState::Probe));
        // Still usable while probing.
        assert_eq!(ready(t.resolve(IP, t0 + 45 * S, 2)), (MAC, 2));
        assert_eq!(requests(&t.poll(t0 + 46 * S)), [probe_req()]);
        assert_eq!(requests(&t.poll(t0 + 47 * S)), [probe_req()]);
        let actions = t.poll(t0 + 48 * S);
        assert!(
            matches!(&actions[..], [NeighAction::Failed { ip, packets }] if *ip == IP && packets.is_empty())
        );
        assert_eq!(state(&t), Some(NeighState::Failed));
        assert_eq!(t.get(IP).unwrap().mac, None);
        assert_eq!(t.stats().res_failed, 1);
    }

    #[test]
    fn delay_and_probe_recover() {
        let t0 = Instant::now();
        // DELAY + upper-layer confirmation -> REACHABLE.
        let mut t = reachable(t0);
        let _ = t.poll(t0 + 30 * S);
        let _ = ready(t.resolve(IP, t0 + 31 * S, 1));
        t.confirm(IP, t0 + 32 * S);
        assert_eq!(state(&t), Some(NeighState::Reachable));
        assert_eq!(t.next_deadline(), Some(t0 + 62 * S));

        // DELAY timer finding a confirmation made while STALE -> REACHABLE.
        let mut t = reachable(t0);
        let _ = t.poll(t0 + 30 * S);
        t.confirm(IP, t0 + 31 * S);
        assert_eq!(state(&t), Some(NeighState::Stale));
        let _ = ready(t.resolve(IP, t0 + 32 * S, 1));
        assert!(t.poll(t0 + 37 * S).is_empty());
        assert_eq!(state(&t), Some(NeighState::Reachable));

        // PROBE + reply -> REACHABLE, probing stops.
        let mut t = reachable(t0);
        let _ = t.poll(t0 + 30 * S);
        let _ = ready(t.resolve(IP, t0 + 30 * S, 1));
        let _ = t.poll(t0 + 35 * S);
        assert_eq!(state(&t), Some(NeighState::Probe));
        assert!(t.on_arp(IP, MAC, t0 + 35 * S, ArpSource::Reply).is_none());
        assert_eq!(state(&t), Some(NeighState::Reachable));
        assert!(t.poll(t0 + 36 * S).is_empty());
    }

    #[test]
    fn stale_entries_are_collected() {
        let t0 = Instant::now();
        let mut t = reachable(t0);
        let _ = t.poll(t0 + 30 * S); // STALE, idle since t0
        assert_eq!(t.next_deadline(), Some(t0 + 90 * S));
        assert!(t.poll(t0 + 90 * S).is_empty());
        assert_eq!(state(&t), None);
        assert!(t.is_empty());
        assert_eq!(t.stats().destroys, 1);
    }

    #[test]
    fn request_for_us_creates_stale_and_others_do_not() {
        let t0 = Instant::now();
        let mut t = table();
        assert!(t.on_arp(IP, MAC, t0, ArpSource::Overheard).is_none());
        assert!(t.on_arp(IP, MAC, t0, ArpSource::Reply).is_none());
        assert!(t.is_empty(), "unsolicited info creates nothing");
        assert!(t.on_arp(IP, MAC, t0, ArpSource::RequestForUs).is_none());
        assert_eq!(
            t.get(IP),
            Some(NeighInfo {
                state: NeighState::Stale,
                mac: Some(MAC),
                queued: 0
            })
        );
        // Replying to it uses the entry: DELAY, no request needed.
        assert_eq!(ready(t.resolve(IP, t0, 1)), (MAC, 1));
        assert_eq!(state(&t), Some(NeighState::Delay));
    }

    #[test]
    fn same_address_hint_keeps_reachable() {
        let t0 = Instant::now();
        let mut t = reachable(t0);
        t.on_arp(IP, MAC, t0 + 5 * S, ArpSource::RequestForUs);
        assert_eq!(state(&t), Some(NeighState::Reachable));
        t.on_arp(IP, MAC, t0 + 6 * S, ArpSource::Overheard);
        assert_eq!(state(&t), Some(NeighState::Reachable));
    }

    #[test]
    fn gratuitous_arp_updates_address() {
        let t0 = Instant::now();
        let mut t = reachable(t0);
        // Within locktime a different address is ignored (ARP flux guard).
        t.on_arp(IP, MAC2, t0 + S / 2, ArpSource::Overheard);
        assert_eq!(t.get(IP).unwrap().mac, Some(MAC));
        // After it, the host moved: take the new address, unconfirmed.
        t.on_arp(IP, MAC2, t0 + 2 * S, ArpSource::Overheard);
        assert_eq!(
            t.get(IP),
            Some(NeighInfo {
                state: NeighState::Stale,
                mac: Some(MAC2),
                queued: 0
            })
        );
        assert_eq!(ready(t.resolve(IP, t0 + 3 * S, 1)), (MAC2, 1));
    }

    #[test]
    fn request_from_the_resolving_host_flushes_via_delay() {
        let t0 = Instant::now();
        let mut t = table();
        let _ = t.resolve(IP, t0, 1);
        let flush = t.on_arp(IP, MAC, t0, ArpSource::RequestForUs).unwrap();
        assert_eq!(flush.packets, [1]);
        // Learned without confirmation and then used: DELAY.
        assert_eq!(state(&t), Some(NeighState::Delay));
        assert_eq!(requests(&t.poll(t0 + 5 * S)), [probe_req()]);
    }

    #[test]
    fn failed_entry_learns_from_arp() {
        let t0 = Instant::now();
        let mut t = table();
        let _ = t.resolve(IP, t0, 1);
        for i in 1..=3 {
            let _ = t.poll(t0 + i * S);
        }
        assert_eq!(state(&t), Some(NeighState::Failed));
        t.on_arp(IP, MAC, t0 + 4 * S, ArpSource::Overheard);
        assert_eq!(state(&t), Some(NeighState::Stale));
        assert_eq!(ready(t.resolve(IP, t0 + 4 * S, 2)), (MAC, 2));
    }

    #[test]
    fn table_full_reclaims_or_refuses() {
        let t0 = Instant::now();
        let mut t = NeighTable::new(NeighConfig {
            max_entries: 2,
            ..NeighConfig::default()
        });
        let a = Ipv4Addr::new(10, 0, 0, 10);
        let b = Ipv4Addr::new(10, 0, 0, 11);
        let c = Ipv4Addr::new(10, 0, 0, 12);
        let _ = t.resolve(a, t0, 1);
        let _ = t.resolve(b, t0, 2);
        // Both INCOMPLETE, holding packets: nothing to reclaim.
        match t.resolve(c, t0, 3) {
            Resolve::Dropped(pkt) => assert_eq!(pkt, 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.stats().table_fulls, 1);
        // Once `a` fails it can make room.
        for i in 1..=3 {
            let _ = t.poll(t0 + i * S);
        }
        t.on_arp(b, MAC, t0 + 3 * S, ArpSource::Reply);
        assert!(matches!(
            t.resolve(c, t0 + 3 * S, 4),
            Resolve::SendRequest(_)
        ));
        assert!(t.get(a).is_none());
        assert_eq!(t.len(), 2);
        // A request for us from a stranger cannot evict REACHABLE/INCOMPLETE.
        t.on_arp(IP, MAC, t0 + 3 * S, ArpSource::RequestForUs);
        assert!(t.get(IP).is_none());
    }

    #[test]
    fn permanent_entries_ignore_arp_and_timers() {
        let t0 = Instant::now();
        let mut t = table();
        let _ = t.resolve(IP, t0, 1);
        let flush = t.insert_permanent(IP, MAC, t0).unwrap();
        assert_eq!(flush.packets, [1]);
        assert_eq!(state(&t), Some(NeighState::Permanent));
        assert_eq!(t.next_deadline(), None);
        t.on_arp(IP, MAC2, t0 + 10 * S, ArpSource::Reply);
        assert!(t.poll(t0 + 1000 * S).is_empty());
        assert_eq!(ready(t.resolve(IP, t0 + 1000 * S, 2)), (MAC, 2));
        t.confirm(IP, t0 + 1000 * S);
        assert_eq!(state(&t), Some(NeighState::Permanent));
        // Flushing the device keeps it.
        assert_eq!(t.flush(), 0);
        assert_eq!(state(&t), Some(NeighState::Permanent));
    }

    #[test]
    fn remove_and_flush_drop_queued_packets() {
        let t0 = Instant::now();
        let mut t = table();
        let other = Ipv4Addr::new(10, 0, 0, 3);
        let _ = t.resolve(IP, t0, 1);
        let _ = t.resolve(IP, t0, 2);
        let _ = t.resolve(other, t0, 3);
        assert_eq!(t.remove(IP).unwrap(), [1, 2]);
        assert!(t.remove(IP).is_none());
        assert_eq!(t.flush(), 1);
        assert!(t.is_empty());
        let stats = t.stats();
        assert_eq!((stats.destroys, stats.unres_discards), (2, 3));
    }

    #[test]
    fn confirm_ignores_unresolved_entries() {
        let t0 = Instant::now();
        let mut t = table();
        t.confirm(IP, t0);
        assert!(t.is_empty());
        let _ = t.resolve(IP, t0, 1);
        t.confirm(IP, t0);
        assert_eq!(state(&t), Some(NeighState::Incomplete));
    }
}
