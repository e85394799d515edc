//! Statistics: clear-on-read hardware counters folded into 64-bit totals,
//! plus per-queue software counters (linux: igb_update_stats,
//! igb_get_ethtool_stats).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::device::IgbDevice;
use crate::regs::stats as r;

/// Defines a counter set: an atomic struct written by the queue owner, a
/// plain snapshot struct, and the ethtool names, from one list.
macro_rules! queue_counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Per-queue software counters, shared between the queue's owner
        /// (which adds once per burst) and statistics readers.
        #[derive(Debug, Default)]
        pub struct QueueCounters {
            $($(#[$doc])* pub(crate) $name: AtomicU64,)*
        }

        /// A point-in-time copy of [`QueueCounters`].
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct QueueStats {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl QueueCounters {
            /// Copies the current values.
            pub fn snapshot(&self) -> QueueStats {
                QueueStats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl QueueStats {
            /// `(name, value)` pairs in a fixed order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($name), self.$name),)*].into_iter()
            }
        }

        impl std::ops::AddAssign<&QueueStats> for QueueStats {
            fn add_assign(&mut self, other: &QueueStats) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

queue_counters! {
    /// Frames handed to the stack.
    rx_packets,
    /// Bytes handed to the stack (no FCS).
    rx_bytes,
    /// Frames dropped for an RX error (RXE) or a malformed descriptor chain.
    rx_errors,
    /// Times the buffer pool could not refill the ring.
    rx_alloc_failed,
    /// Frames reclaimed after transmission.
    tx_packets,
    /// Bytes reclaimed after transmission.
    tx_bytes,
    /// Bursts that stopped because the ring was full (backpressure).
    tx_busy,
    /// Tail (`TDT`) writes: one per burst that queued at least one frame.
    tx_tail_writes,
    /// Frames dropped because they were malformed or could never fit.
    tx_errors,
    /// Context descriptors written.
    tx_contexts,
    /// Descriptor accesses that faulted (driver-side bug or unmapped ring).
    dma_errors,
    /// NAPI polls run.
    polls,
    /// Interrupts re-enabled after a poll under budget.
    irq_enables,
}

impl QueueCounters {
    /// Adds `n` to one counter. Only the queue owner writes, so a relaxed
    /// read-modify-write is enough and never contends.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Device-wide hardware counters accumulated into 64-bit totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HwStats {
    /// Missed packets (`MPC`).
    pub mpc: u64,
    /// Good packets received (`GPRC`).
    pub gprc: u64,
    /// Good packets transmitted (`GPTC`).
    pub gptc: u64,
    /// Good octets received, FCS included (`GORC`).
    pub gorc: u64,
    /// Good octets transmitted, FCS included (`GOTC`).
    pub gotc: u64,
    /// Receive no buffers (`RNBC`).
    pub rnbc: u64,
    /// TSO contexts transmitted (`TSCTC`).
    pub tsctc: u64,
}

impl HwStats {
    /// Reads every clear-on-read counter once and adds it to the totals.
    /// The 64-bit octet counters are read low half first: reading the high
    /// half clears both.
    pub fn accumulate(&mut self, dev: &dyn IgbDevice) {
        let wide = |lo: u32, hi: u32| {
            let l = dev.read_reg(lo) as u64;
            let h = dev.read_reg(hi) as u64;
            h << 32 | l
        };
        self.mpc += dev.read_reg(r::MPC) as u64;
        self.gprc += dev.read_reg(r::GPRC) as u64;
        self.gptc += dev.read_reg(r::GPTC) as u64;
        self.gorc += wide(r::GORCL, r::GORCH);
        self.gotc += wide(r::GOTCL, r::GOTCH);
        self.rnbc += dev.read_reg(r::RNBC) as u64;
        self.tsctc += dev.read_reg(r::TSCTC) as u64;
    }

    /// `(name, value)` pairs, ethtool style.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("rx_missed_errors", self.mpc),
            ("hw_rx_packets", self.gprc),
            ("hw_tx_packets", self.gptc),
            ("hw_rx_bytes", self.gorc),
            ("hw_tx_bytes", self.gotc),
            ("rx_no_buffer_count", self.rnbc),
            ("tx_tso_contexts", self.tsctc),
        ]
        .into_iter()
    }
}

/// Everything `ethtool -S` would show for a port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Hardware totals.
    pub hw: HwStats,
    /// Software counters per queue, by queue index.
    pub queues: Vec<QueueStats>,
}

impl StatsSnapshot {
    /// Software counters summed over queues.
    pub fn total(&self) -> QueueStats {
        let mut sum = QueueStats::default();
        for q in &self.queues {
            sum += q;
        }
        sum
    }

    /// Flat `(name, value)` list: hardware counters, the per-queue totals,
    /// then `queue_<n>_<counter>` entries.
    pub fn entries(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self.hw.iter().map(|(n, v)| (n.to_string(), v)).collect();
        out.extend(self.total().iter().map(|(n, v)| (n.to_string(), v)));
        for (i, q) in self.queues.iter().enumerate() {
            out.extend(q.iter().map(|(n, v)| (format!("queue_{i}_{n}"), v)));
        }
        out
    }

    /// Looks a value up by its [`Self::entries`] name.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.entries()
            .into_iter()
            .find_map(|(n, v)| (n == name).then_some(v))
    }
}
