//! Lock-free queues shared between cores.
//!
//! * [`mpsc`]: unbounded multi-producer single-consumer queue (a core's
//!   inbox of cross-core wake-ups and spawns).
//! * [`bounded`]: fixed-capacity MPSC ring that reports "full" to the
//!   producer (RPS backlog, like Linux `netdev_max_backlog`).
//!
//! Both are model-checked with loom (`RUSTFLAGS="--cfg loom"`).

// Some users (RPS backlog, snapshot readers) land with the stack.
#![allow(dead_code)]

pub(crate) mod bounded;
pub(crate) mod mpsc;
pub(crate) mod snapshot;

/// Pads and aligns a value to its own cache line pair, so the producers'
/// and the consumer's hot indices do not false-share (128 bytes: adjacent
/// line prefetch on x86 pulls lines in pairs).
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Back-off in a retry loop; under loom it yields so the model can make
/// progress on the thread being waited for.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::hint::spin_loop();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
