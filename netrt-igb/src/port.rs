//! Ready-made emulated ports: DMA memory, an [`IgbModel`], and the queue
//! driver opened on it — optionally two of them joined by a [`Cable`].
//!
//! ```no_run
//! use netrt_igb::port::{EmulatedPort, PairConfig};
//!
//! let (mut a, mut b) = EmulatedPort::pair_with_cable(&PairConfig::default())?;
//! a.vectors()[0].tx_burst(&[[0u8; 60]]);
//! b.vectors()[0].poll(64, |frame| println!("{} bytes", frame.len()));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The cable is shared by the two ports of a pair and unplugged when both
//! are dropped. Queue vectors can be taken out ([`EmulatedPort::take_vectors`])
//! and moved to the cores that poll them.

use std::io;
use std::sync::Arc;

use crate::attach::{Attachment, Cable, CableConfig};
use crate::desc::DESC_SIZE;
use crate::device::IgbDevice;
use crate::dma::DmaRegion;
use crate::driver::{self, PortConfig, QueueVector};
use crate::model::{IgbModel, ModelConfig};

/// One port's device and driver configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// The emulated device (queues it has, station address).
    pub model: ModelConfig,
    /// The driver (queues used, rings, buffers, interrupt throttling).
    pub driver: PortConfig,
}

impl PortSpec {
    /// A port with `queues` queue pairs, all used, and station address `mac`.
    pub fn new(queues: u16, mac: [u8; 6]) -> Self {
        PortSpec {
            model: ModelConfig {
                num_queues: queues,
                mac,
            },
            driver: PortConfig {
                queues,
                ..PortConfig::default()
            },
        }
    }

    /// DMA memory the driver needs for its rings and buffers, with slack
    /// for alignment.
    pub fn dma_bytes(&self) -> usize {
        let (rx, tx) = (&self.driver.rx, &self.driver.tx);
        let per_queue = rx.ring_size as usize * DESC_SIZE
            + (rx.ring_size as usize + 16) * rx.buf_size
            + tx.ring_size as usize * DESC_SIZE
            + tx.ring_size as usize * tx.buf_size
            + (64 << 10);
        usize::from(self.driver.queues.max(1)) * per_queue + (1 << 20)
    }
}

/// Configuration of two cabled ports.
#[derive(Clone, Debug, PartialEq)]
pub struct PairConfig {
    /// Port A.
    pub a: PortSpec,
    /// Port B.
    pub b: PortSpec,
    /// The cable between them.
    pub cable: CableConfig,
}

impl Default for PairConfig {
    fn default() -> Self {
        PairConfig {
            a: PortSpec::new(1, [0x02, 0, 0, 0, 0, 0x0a]),
            b: PortSpec::new(1, [0x02, 0, 0, 0, 0, 0x0b]),
            cable: CableConfig::default(),
        }
    }
}

/// An emulated igb port with its driver open.
pub struct EmulatedPort {
    model: Arc<IgbModel>,
    port: driver::Port,
    vectors: Vec<QueueVector>,
    cable: Option<Arc<Cable>>,
}

impl std::fmt::Debug for EmulatedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedPort")
            .field("model", &self.model)
            .field("vectors", &self.vectors.len())
            .field("cabled", &self.cable.is_some())
            .finish()
    }
}

impl EmulatedPort {
    /// A port plugged into nothing (link down until [`Self::attach`]).
    pub fn new(spec: &PortSpec) -> io::Result<EmulatedPort> {
        let model = Self::device(spec)?;
        Self::open(model, spec, None)
    }

    /// Two ports joined by a cable: what A sends, B receives and the other
    /// way round.
    pub fn pair_with_cable(cfg: &PairConfig) -> io::Result<(EmulatedPort, EmulatedPort)> {
        let (ma, mb) = (Self::device(&cfg.a)?, Self::device(&cfg.b)?);
        let cable = Arc::new(Cable::with_impairments(ma.clone(), mb.clone(), cfg.cable)?);
        let a = Self::open(ma, &cfg.a, Some(Arc::clone(&cable)))?;
        let b = Self::open(mb, &cfg.b, Some(cable))?;
        Ok((a, b))
    }

    fn device(spec: &PortSpec) -> io::Result<Arc<IgbModel>> {
        let dma = DmaRegion::new(spec.dma_bytes())?;
        Ok(IgbModel::new(spec.model, dma))
    }

    fn open(model: Arc<IgbModel>, spec: &PortSpec, cable: Option<Arc<Cable>>) -> io::Result<Self> {
        let dev: Arc<dyn IgbDevice> = model.clone();
        let (port, vectors) = driver::Port::open(dev, &spec.driver)?;
        Ok(EmulatedPort {
            model,
            port,
            vectors,
            cable,
        })
    }

    /// Plugs the port into another backend (e.g. a TAP device).
    pub fn attach(&self, attachment: Arc<dyn Attachment>) {
        self.model.set_attachment(attachment);
    }

    /// The emulated device.
    pub fn model(&self) -> &Arc<IgbModel> {
        &self.model
    }

    /// The driver's port (statistics, device access).
    pub fn port(&self) -> &driver::Port {
        &self.port
    }

    /// The queue vectors still held here (index = queue).
    pub fn vectors(&mut self) -> &mut [QueueVector] {
        &mut self.vectors
    }

    /// Takes the queue vectors out, to move each to the core polling it.
    pub fn take_vectors(&mut self) -> Vec<QueueVector> {
        std::mem::take(&mut self.vectors)
    }

    /// The cable of a pair.
    pub fn cable(&self) -> Option<&Arc<Cable>> {
        self.cable.as_ref()
    }
}
