//! netrt: an async runtime that carries its own network stack.
//!
//! Worker threads ("cores") each own a reactor that polls the queues of an
//! Intel igb NIC NAPI-style; frames flow through an in-process
//! Ethernet/ARP/IPv4/ICMP/UDP/TCP stack, never through a kernel socket.
//! See `DESIGN.md` in the repository for the data path.

#![warn(missing_docs)]

#[allow(dead_code, unused_imports)] // not every primitive is used by every build (std vs loom)
pub(crate) mod loom;
pub mod net;
pub mod runtime;
pub mod stack;
pub(crate) mod sync;
pub mod time;
pub mod wire;

/// `#[netrt::main]` and `#[netrt::test]`: run an `async fn` (a program's
/// `main`, or a test) on a netrt runtime; see their own docs for `cores = N`
/// and `crate = "path"`.
pub use netrt_macros::{main, test};

pub use runtime::{current_core, spawn, spawn_local, spawn_on, yield_now, JoinError, JoinHandle};
