//! Device-wide setup and statistics (linux: igb_configure, igb_setup_mrqc,
//! igb_setup_rctl, igb_configure_tx, igb_up, igb_update_stats).

use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::device::IgbDevice;
use crate::regs::{self, ctrl, mrqc, rctl, rxcsum, tctl};
use crate::rss;

use super::irq::{Itr, QueueVector};
use super::rx::RxConfig;
use super::stats::{HwStats, QueueCounters, StatsSnapshot};
use super::tx::TxConfig;

/// Port configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Queue pairs to use (1..=device queues); queue `n` uses vector `n`.
    pub queues: u16,
    /// RX queue parameters (all queues).
    pub rx: RxConfig,
    /// TX queue parameters (all queues).
    pub tx: TxConfig,
    /// Interrupt throttling of every queue vector.
    pub itr: Itr,
    /// Accept every unicast and multicast frame.
    pub promiscuous: bool,
    /// Accept frames longer than 1522 bytes (`RCTL.LPE`).
    pub jumbo: bool,
    /// RSS key; the default is symmetric so both directions of a flow hash
    /// to the same queue.
    pub rss_key: [u8; rss::KEY_LEN],
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            queues: 1,
            rx: RxConfig::default(),
            tx: TxConfig::default(),
            itr: Itr::Max20k,
            promiscuous: false,
            jumbo: false,
            rss_key: rss::SYMMETRIC_KEY,
        }
    }
}

/// An opened port: owns device-wide state; its queue vectors are handed out
/// separately so that each can move to the core that polls it.
pub struct Port {
    dev: Arc<dyn IgbDevice>,
    queues: u16,
    counters: Vec<Arc<QueueCounters>>,
    hw: Mutex<HwStats>,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("queues", &self.queues)
            .finish()
    }
}

impl Port {
    /// Brings the port up: RSS, queue rings, MSI-X routing, then the
    /// receiver and transmitter, then unmasks the queue vectors. Returns the
    /// port and one [`QueueVector`] per queue (index = queue = vector).
    pub fn open(dev: Arc<dyn IgbDevice>, cfg: &PortConfig) -> io::Result<(Port, Vec<QueueVector>)> {
        if cfg.queues == 0 || cfg.queues > dev.num_queues() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} queues requested, the device has {}",
                    cfg.queues,
                    dev.num_queues()
                ),
            ));
        }
        let d = &*dev;
        d.write_reg(regs::EIMC, u32::MAX);
        d.write_reg(regs::CTRL, d.read_reg(regs::CTRL) | ctrl::SLU);
        // Start counting from zero: discard what the counters held.
        HwStats::default().accumulate(d);
        setup_rss(d, cfg);

        let mut vectors = Vec::with_capacity(cfg.queues as usize);
        let mut counters = Vec::with_capacity(cfg.queues as usize);
        for q in 0..cfg.queues {
            let c = Arc::new(QueueCounters::default());
            vectors.push(QueueVector::with_counters(
                Arc::clone(&dev),
                q,
                q,
                &cfg.rx,
                &cfg.tx,
                cfg.itr,
                Arc::clone(&c),
            )?);
            counters.push(c);
        }

        d.write_reg(regs::TCTL, tctl::EN | tctl::PSP);
        let mut rx = rctl::EN | rctl::BAM | rctl::SECRC;
        if cfg.promiscuous {
            rx |= rctl::UPE | rctl::MPE;
        }
        if cfg.jumbo {
            rx |= rctl::LPE;
        }
        d.write_reg(regs::RCTL, rx);
        for v in &vectors {
            v.enable_irq();
        }
        Ok((
            Port {
                dev,
                queues: cfg.queues,
                counters,
                hw: Mutex::new(HwStats::default()),
            },
            vectors,
        ))
    }

    /// Number of queue pairs.
    pub fn num_queues(&self) -> u16 {
        self.queues
    }

    /// The device.
    pub fn device(&self) -> &Arc<dyn IgbDevice> {
        &self.dev
    }

    /// Folds the hardware counters into the totals and returns everything
    /// (linux: igb_update_stats + ethtool -S). Safe to call from any
    /// thread; serialised by a lock that the data path never takes.
    pub fn stats(&self) -> StatsSnapshot {
        let hw = {
            let mut hw = self.hw.lock();
            hw.accumulate(&*self.dev);
            *hw
        };
        StatsSnapshot {
            hw,
            queues: self.counters.iter().map(|c| c.snapshot()).collect(),
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // Stop receiving and transmitting; the queue vectors, which may
        // outlive the port, mask themselves when dropped.
        self.dev.write_reg(regs::RCTL, 0);
        self.dev.write_reg(regs::TCTL, 0);
    }
}

/// RSS key, redirection table over the used queues, hashed fields, and
/// hash write-back (linux: igb_setup_mrqc).
fn setup_rss(d: &dyn IgbDevice, cfg: &PortConfig) {
    for (i, k) in cfg.rss_key.chunks_exact(4).enumerate() {
        d.write_reg(
            regs::rssrk(i as u32),
            u32::from_le_bytes([k[0], k[1], k[2], k[3]]),
        );
    }
    let reta = rss::default_reta(cfg.queues);
    for (i, e) in reta.chunks_exact(4).enumerate() {
        d.write_reg(
            regs::reta(i as u32),
            u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
        );
    }
    d.write_reg(
        regs::MRQC,
        mrqc::ENABLE_RSS
            | mrqc::FIELD_IPV4
            | mrqc::FIELD_IPV4_TCP
            | mrqc::FIELD_IPV4_UDP
            | mrqc::FIELD_IPV6
            | mrqc::FIELD_IPV6_TCP
            | mrqc::FIELD_IPV6_UDP,
    );
    d.write_reg(regs::RXCSUM, rxcsum::PCSD | rxcsum::IPOFLD | rxcsum::TUOFLD);
}
