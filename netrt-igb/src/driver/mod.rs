//! The igb queue driver: RX/TX descriptor rings, MSI-X vectors with NAPI
//! glue, and statistics, over any [`IgbDevice`].
//!
//! Layout (linux: `igb_main.c`):
//!
//! * [`RxQueue`] — ring setup, buffer posting in batches of 16 with one
//!   `RDT` write, the clean loop (`igb_clean_rx_irq`);
//! * [`TxQueue`] — context/data descriptors, one `TDT` write per burst,
//!   completion reclaim (`igb_xmit_frame_ring`, `igb_clean_tx_irq`);
//! * [`QueueVector`] — one MSI-X vector serving one queue pair, the NAPI
//!   `poll` / `enable_irq` pair (`igb_poll`, `igb_ring_irq_enable`);
//! * [`Port`] — device-wide setup (RSS, interrupts, RCTL/TCTL) and the
//!   `ethtool -S` view ([`StatsSnapshot`]).
//!
//! Queues are single-owner: each `QueueVector` is moved to the core that
//! polls it and used through `&mut self`, so the data path takes no lock.
//! Per-queue counters are atomics written once per burst, readable from any
//! thread for statistics.

mod irq;
mod port;
mod ring;
#[cfg(all(test, not(loom)))]
mod ring_tests;
mod rx;
mod stats;
#[cfg(all(test, not(loom)))]
pub(crate) mod testdev;
mod tx;

pub use irq::{Itr, QueueVector};
pub use port::{Port, PortConfig};
pub use ring::{validate_ring_size, DEFAULT_RING_SIZE, MAX_RING_SIZE, MIN_RING_SIZE};
pub use rx::{RxConfig, RxFrame, RxQueue, RX_REFILL_BATCH};
pub use stats::{HwStats, QueueCounters, QueueStats, StatsSnapshot};
pub use tx::{Gather, L3Type, TxConfig, TxFrame, TxOffload, TxQueue, TX_CLEAN_LIMIT};

/// NAPI weight: frames one vector may process per poll (linux: 64).
pub const NAPI_WEIGHT: usize = 64;
