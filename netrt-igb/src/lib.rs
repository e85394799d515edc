//! Intel igb (82576/I350 class) queue driver and an emulated igb device.
//!
//! The driver speaks the real register and advanced-descriptor interface;
//! the device model behind it moves frames to an attachment (an
//! in-process cable or a TAP device). This crate knows nothing of the
//! network stack: it hands out received frames and takes frames to send.

#![warn(missing_docs)]

// Public (hidden) because netrt shares this std/loom facade.
#[doc(hidden)]
#[allow(dead_code, unused_imports)] // not every primitive is used by every build (std vs loom)
pub mod loom;

pub mod attach;
pub mod desc;
pub mod device;
pub mod dma;
pub mod driver;
pub mod handoff;
pub mod model;
pub mod port;
pub mod regs;
pub mod rss;
