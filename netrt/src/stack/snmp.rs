//! SNMP MIB counters, per namespace, laid out like Linux's `/proc/net/snmp`.
//!
//! Counting happens on every packet, on every core, so each core gets its
//! own block of counters, aligned to its own cache lines: an increment is a
//! load and a store to a line no other core writes (Linux's
//! `this_cpu_inc`), with no locked instruction and no line bouncing. A read
//! ([`Snmp::snapshot`]) sums the blocks.
//!
//! The groups and their fields are declared once, in the `snmp_mib!`
//! table at the bottom of this file: each group becomes an enum (`Ip`,
//! `Icmp`, `Udp`) whose variants name the counters, and the same table
//! gives the flat layout and the `/proc` names, so names and fields cannot
//! drift apart. Adding `Tcp` (or `TcpExt`) is adding a group to the table.
//!
//! ```
//! use netrt::stack::snmp::{Ip, Snmp, Udp};
//! let snmp = Snmp::new(2);
//! snmp.core(0).inc(Ip::InReceives);
//! snmp.core(1).add(Ip::InReceives, 2);
//! snmp.core(1).inc(Udp::NoPorts);
//! let snap = snmp.snapshot();
//! assert_eq!(snap.get("Ip", "InReceives"), Some(3));
//! assert_eq!(snap.counter(Udp::NoPorts), 1);
//! ```

use std::fmt;
// Plain std atomics, also under loom: these are statistics with no
// ordering role, and a model of the code using them gains nothing from
// exploring their interleavings.
use std::sync::atomic::{AtomicU64, Ordering};

/// A counter of some group: implemented by each group's enum.
pub trait Counter: Copy {
    /// The group's name in `/proc/net/snmp` (`"Ip"`).
    const GROUP: &'static str;
    /// The counter's name in `/proc/net/snmp` (`"InReceives"`).
    fn name(self) -> &'static str;
    /// Position in a counter block (layout detail).
    #[doc(hidden)]
    fn index(self) -> usize;
}

/// A group's name and its counters' names, in order.
struct Group {
    name: &'static str,
    fields: &'static [&'static str],
}

/// Offset of group `group` in the flat block: the sizes of the groups
/// before it.
const fn group_base(group: usize) -> usize {
    let mut base = 0;
    let mut i = 0;
    while i < group {
        base += GROUPS[i].fields.len();
        i += 1;
    }
    base
}

/// Counters in a block, all groups together.
const TOTAL: usize = group_base(GROUPS.len());

macro_rules! snmp_mib {
    ($(
        $(#[$gdoc:meta])*
        $group:ident {
            $( $(#[$fdoc:meta])* $field:ident ),+ $(,)?
        }
    )+) => {
        $(
            $(#[$gdoc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $group {
                $( $(#[$fdoc])* $field, )+
            }

            impl $group {
                /// Every counter of the group, in `/proc/net/snmp` order.
                pub const ALL: &'static [$group] = &[$($group::$field),+];
                const BASE: usize = group_base(GroupId::$group as usize);
            }

            impl Counter for $group {
                const GROUP: &'static str = stringify!($group);

                fn name(self) -> &'static str {
                    match self {
                        $( $group::$field => stringify!($field), )+
                    }
                }

                #[inline(always)]
                fn index(self) -> usize {
                    Self::BASE + self as usize
                }
            }
        )+

        /// Group positions in [`GROUPS`].
        #[derive(Clone, Copy)]
        enum GroupId {
            $( $group, )+
        }

        const GROUPS: &[Group] = &[
            $( Group {
                name: stringify!($group),
                fields: &[$( stringify!($field) ),+],
            }, )+
        ];
    };
}

/// One core's counters, on cache lines of their own.
#[repr(align(128))]
pub struct CoreCounters {
    counters: [AtomicU64; TOTAL],
}

impl CoreCounters {
    fn new() -> Self {
        CoreCounters {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Adds one to `counter`.
    #[inline(always)]
    pub fn inc<C: Counter>(&self, counter: C) {
        self.add(counter, 1);
    }

    /// Subtracts one from a gauge (`Tcp::CurrEstab`): blocks wrap, and
    /// the sum over cores is the gauge's value.
    #[inline(always)]
    pub fn dec<C: Counter>(&self, counter: C) {
        self.add(counter, u64::MAX);
    }

    /// Adds `n` to `counter`.
    ///
    /// Only the owning core writes its block, so a plain load and store
    /// suffice (no locked read-modify-write). A writer on another thread
    /// could lose counts, never corrupt memory.
    #[inline(always)]
    pub fn add<C: Counter>(&self, counter: C, n: u64) {
        let cell = &self.counters[counter.index()];
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }
}

impl fmt::Debug for CoreCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreCounters").finish_non_exhaustive()
    }
}

/// The counters of one namespace: one block per core.
#[derive(Debug)]
pub struct Snmp {
    cores: Box<[CoreCounters]>,
}

impl Snmp {
    /// Counters for `cores` cores (at least one block is made).
    pub fn new(cores: usize) -> Self {
        Snmp {
            cores: (0..cores.max(1)).map(|_| CoreCounters::new()).collect(),
        }
    }

    /// Number of per-core blocks.
    pub fn cores(&self) -> usize {
        self.cores.len()
    }

    /// The block core `core` writes.
    ///
    /// # Panics
    /// If `core` is not below [`cores`](Self::cores): core ids are fixed
    /// when the runtime is built, so this is a wiring bug.
    #[inline(always)]
    pub fn core(&self, core: usize) -> &CoreCounters {
        &self.cores[core]
    }

    /// The sum of one counter over all cores.
    pub fn get<C: Counter>(&self, counter: C) -> u64 {
        self.cores
            .iter()
            .map(|c| c.counters[counter.index()].load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Sums every counter over all cores. Counters still being written
    /// may be caught mid-update on other cores; each value is one that the
    /// counter really had or will have, as in Linux.
    pub fn snapshot(&self) -> SnmpSnapshot {
        let mut values = [0u64; TOTAL];
        for core in self.cores.iter() {
            for (sum, cell) in values.iter_mut().zip(&core.counters) {
                *sum = sum.wrapping_add(cell.load(Ordering::Relaxed));
            }
        }
        SnmpSnapshot { values }
    }
}

/// Summed counters at one moment; `Display` prints `/proc/net/snmp`.
#[derive(Clone, PartialEq, Eq)]
pub struct SnmpSnapshot {
    values: [u64; TOTAL],
}

impl SnmpSnapshot {
    /// A counter by its `/proc` group and name (`("Udp", "NoPorts")`).
    pub fn get(&self, group: &str, name: &str) -> Option<u64> {
        let mut base = 0;
        for g in GROUPS {
            if g.name == group {
                let at = g.fields.iter().position(|&f| f == name)?;
                return Some(self.values[base + at]);
            }
            base += g.fields.len();
        }
        None
    }

    /// A counter by its enum value.
    pub fn counter<C: Counter>(&self, counter: C) -> u64 {
        self.values[counter.index()]
    }

    /// Every `(group, name, value)`, in `/proc/net/snmp` order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        GROUPS
            .iter()
            .flat_map(|g| g.fields.iter().map(move |&f| (g.name, f)))
            .zip(self.values.iter())
            .map(|((g, f), &v)| (g, f, v))
    }
}

impl fmt::Display for SnmpSnapshot {
    /// Two lines per group: the names, then the values.
    ///
    /// ```text
    /// Ip: InReceives InHdrErrors ...
    /// Ip: 12 0 ...
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut base = 0;
        for g in GROUPS {
            write!(f, "{}:", g.name)?;
            for name in g.fields {
                write!(f, " {name}")?;
            }
            write!(f, "\n{}:", g.name)?;
            for value in &self.values[base..base + g.fields.len()] {
                write!(f, " {value}")?;
            }
            writeln!(f)?;
            base += g.fields.len();
        }
        Ok(())
    }
}

impl fmt::Debug for SnmpSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(g, n, v)| (format!("{g}.{n}"), v)))
            .finish()
    }
}

snmp_mib! {
    /// IPv4 counters (RFC 4293 `ipSystemStats`, Linux's `Ip:` lines; the
    /// `Forwarding` and `DefaultTTL` settings Linux prints first are not
    /// counters and are left out).
    Ip {
        /// Datagrams received, errors included.
        InReceives,
        /// Discarded for a header error (version, checksum, TTL...).
        InHdrErrors,
        /// Discarded for a destination address that is not ours and not
        /// forwardable.
        InAddrErrors,
        /// Forwarded.
        ForwDatagrams,
        /// Locally addressed with an unknown protocol.
        InUnknownProtos,
        /// Discarded for lack of resources (no error in the packet).
        InDiscards,
        /// Delivered to a protocol (ICMP, UDP, TCP...).
        InDelivers,
        /// Handed to IP by local protocols for sending.
        OutRequests,
        /// Discarded on output for lack of resources.
        OutDiscards,
        /// Discarded on output because no route was found.
        OutNoRoutes,
        /// Reassemblies that timed out.
        ReasmTimeout,
        /// Fragments received for reassembly.
        ReasmReqds,
        /// Datagrams reassembled.
        ReasmOKs,
        /// Reassembly failures.
        ReasmFails,
        /// Datagrams fragmented.
        FragOKs,
        /// Datagrams that needed fragmenting but could not be (DF set).
        FragFails,
        /// Fragments created.
        FragCreates,
    }

    /// ICMP counters (Linux's `Icmp:` lines).
    Icmp {
        /// Messages received, errors included.
        InMsgs,
        /// Received with an ICMP-specific error (bad length...).
        InErrors,
        /// Received with a bad checksum.
        InCsumErrors,
        /// Destination unreachable received.
        InDestUnreachs,
        /// Time exceeded received.
        InTimeExcds,
        /// Parameter problem received.
        InParmProbs,
        /// Source quench received.
        InSrcQuenchs,
        /// Redirect received.
        InRedirects,
        /// Echo request received.
        InEchos,
        /// Echo reply received.
        InEchoReps,
        /// Timestamp request received.
        InTimestamps,
        /// Timestamp reply received.
        InTimestampReps,
        /// Address mask request received.
        InAddrMasks,
        /// Address mask reply received.
        InAddrMaskReps,
        /// Messages sent, errors included.
        OutMsgs,
        /// Not sent because of a problem in ICMP itself.
        OutErrors,
        /// Not sent: over the namespace-wide rate limit.
        OutRateLimitGlobal,
        /// Not sent: over the per-destination rate limit.
        OutRateLimitHost,
        /// Destination unreachable sent.
        OutDestUnreachs,
        /// Time exceeded sent.
        OutTimeExcds,
        /// Parameter problem sent.
        OutParmProbs,
        /// Source quench sent.
        OutSrcQuenchs,
        /// Redirect sent.
        OutRedirects,
        /// Echo request sent.
        OutEchos,
        /// Echo reply sent.
        OutEchoReps,
        /// Timestamp request sent.
        OutTimestamps,
        /// Timestamp reply sent.
        OutTimestampReps,
        /// Address mask request sent.
        OutAddrMasks,
        /// Address mask reply sent.
        OutAddrMaskReps,
    }

    /// UDP counters (Linux's `Udp:` lines).
    Udp {
        /// Datagrams delivered to sockets.
        InDatagrams,
        /// Datagrams to a port nobody listens on.
        NoPorts,
        /// Datagrams not delivered for another reason.
        InErrors,
        /// Datagrams sent.
        OutDatagrams,
        /// Dropped: the socket's receive buffer was full.
        RcvbufErrors,
        /// Not sent: the socket's send buffer was full.
        SndbufErrors,
        /// Received with a bad checksum.
        InCsumErrors,
        /// Broadcast/multicast datagrams no socket wanted.
        IgnoredMulti,
        /// Dropped for lack of memory.
        MemErrors,
    }

    /// TCP counters (Linux's `Tcp:` lines).
    Tcp {
        /// Connections that went SYN-SENT from CLOSED (`connect`).
        ActiveOpens,
        /// Connections that went SYN-RECEIVED from LISTEN.
        PassiveOpens,
        /// Connection attempts that failed (SYN-SENT/SYN-RECEIVED to CLOSED).
        AttemptFails,
        /// Resets of ESTABLISHED or CLOSE-WAIT connections.
        EstabResets,
        /// Connections now in ESTABLISHED or CLOSE-WAIT (a gauge, summed
        /// over cores).
        CurrEstab,
        /// Segments received, including ones in error.
        InSegs,
        /// Segments sent, excluding retransmissions.
        OutSegs,
        /// Segments retransmitted.
        RetransSegs,
        /// Segments received in error (bad checksum, truncated header).
        InErrs,
        /// Segments sent with RST set.
        OutRsts,
        /// Segments received with a bad checksum.
        InCsumErrors,
    }

    /// TCP extensions (Linux's `TcpExt:` lines, a subset).
    TcpExt {
        /// SYN cookies sent.
        SyncookiesSent,
        /// Valid SYN cookies received.
        SyncookiesRecv,
        /// Invalid SYN cookies received.
        SyncookiesFailed,
        /// Completed handshakes dropped: the accept queue was full.
        ListenOverflows,
        /// SYNs or handshakes dropped at a listener.
        ListenDrops,
        /// Retransmission timer expiries.
        TCPTimeouts,
        /// Fast retransmits.
        TCPFastRetrans,
        /// Loss recoveries started from SACK information.
        TCPSackRecovery,
        /// Loss recoveries started from duplicate ACKs.
        TCPRenoRecovery,
        /// Challenge ACKs sent (RFC 5961).
        TCPChallengeACK,
        /// Segments dropped by PAWS on established connections.
        PAWSEstab,
        /// Out-of-order segments queued.
        TCPOFOQueue,
        /// D-SACKs sent for old duplicates.
        TCPDSACKOldSent,
        /// Zero-window probes sent.
        TCPWinProbe,
        /// Keepalive probes sent.
        TCPKeepAlive,
        /// Connections that ended because retransmissions gave up.
        TCPAbortOnTimeout,
        /// Connections reset because the user closed with unread data.
        TCPAbortOnClose,
        /// Connections that entered TIME-WAIT.
        TimeWaits,
        /// TIME-WAIT connections replaced by a new SYN (tw_reuse/recycle).
        TCPTimeWaitReuse,
        /// Segments coalesced by GRO before TCP input.
        TCPGroMerged,
        /// Segments queued on a socket's backlog while its user held it.
        TCPBacklogQueued,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn layout_matches_the_table() {
        assert_eq!(
            TOTAL,
            Ip::ALL.len() + Icmp::ALL.len() + Udp::ALL.len() + Tcp::ALL.len() + TcpExt::ALL.len()
        );
        assert_eq!(Ip::ALL.len(), 17);
        assert_eq!(Udp::ALL.len(), 9);
        // Every counter has its own slot, in table order.
        let indices: Vec<usize> = Ip::ALL
            .iter()
            .map(|c| c.index())
            .chain(Icmp::ALL.iter().map(|c| c.index()))
            .chain(Udp::ALL.iter().map(|c| c.index()))
            .chain(Tcp::ALL.iter().map(|c| c.index()))
            .chain(TcpExt::ALL.iter().map(|c| c.index()))
            .collect();
        assert_eq!(indices, (0..TOTAL).collect::<Vec<_>>());
        assert_eq!(Ip::ReasmOKs.name(), "ReasmOKs");
        assert_eq!(Icmp::OutEchoReps.name(), "OutEchoReps");
        assert_eq!(<Udp as Counter>::GROUP, "Udp");
    }

    #[test]
    fn blocks_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<CoreCounters>(), 128);
        let snmp = Snmp::new(3);
        let addrs: Vec<usize> = (0..3)
            .map(|i| snmp.core(i) as *const CoreCounters as usize)
            .collect();
        for pair in addrs.windows(2) {
            assert!(pair[1] - pair[0] >= std::mem::size_of::<CoreCounters>());
            assert_eq!(pair[0] % 128, 0);
        }
        assert_eq!(Snmp::new(0).cores(), 1);
    }

    #[test]
    fn per_core_counts_are_summed() {
        let snmp = Arc::new(Snmp::new(4));
        let threads: Vec<_> = (0..4)
            .map(|core| {
                let snmp = snmp.clone();
                std::thread::spawn(move || {
                    let mine = snmp.core(core);
                    for _ in 0..10_000 {
                        mine.inc(Ip::InReceives);
                    }
                    mine.add(Udp::OutDatagrams, core as u64);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(snmp.get(Ip::InReceives), 40_000);
        let snap = snmp.snapshot();
        assert_eq!(snap.counter(Ip::InReceives), 40_000);
        assert_eq!(snap.get("Udp", "OutDatagrams"), Some(6));
        assert_eq!(snap.get("Ip", "InDelivers"), Some(0));
        assert_eq!(snap.get("Ip", "NoSuchCounter"), None);
        assert_eq!(snap.get("Tcp", "ActiveOpens"), Some(0));
        assert_eq!(snap.get("Tcp", "NoSuchCounter"), None);
        // A name that exists in another group only.
        assert_eq!(snap.get("Ip", "NoPorts"), None);
    }

    #[test]
    fn display_is_proc_net_snmp_format() {
        let snmp = Snmp::new(2);
        snmp.core(0).inc(Ip::InReceives);
        snmp.core(1).add(Ip::FragCreates, 7);
        snmp.core(1).inc(Icmp::InEchos);
        snmp.core(0).inc(Udp::MemErrors);
        let text = snmp.snapshot().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10);
        assert_eq!(
            lines[0],
            "Ip: InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos \
             InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout \
             ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates"
        );
        assert_eq!(lines[1], "Ip: 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7");
        assert!(lines[2].starts_with("Icmp: InMsgs InErrors InCsumErrors InDestUnreachs"));
        let icmp: Vec<&str> = lines[3].split(' ').collect();
        let echos = Icmp::ALL.iter().position(|&c| c == Icmp::InEchos).unwrap();
        assert_eq!(icmp[0], "Icmp:");
        assert_eq!(icmp[1 + echos], "1");
        assert_eq!(icmp.len(), 1 + Icmp::ALL.len());
        assert_eq!(
            lines[4],
            "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors \
             InCsumErrors IgnoredMulti MemErrors"
        );
        assert_eq!(lines[5], "Udp: 0 0 0 0 0 0 0 0 1");
        assert!(text.ends_with('\n'));
        // Every name/value pair agrees with the iterator and `get`.
        let snap = snmp.snapshot();
        for (group, name, value) in snap.iter() {
            assert_eq!(snap.get(group, name), Some(value));
        }
    }
}
