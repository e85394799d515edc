//! One switch between std and loom primitives.
//!
//! Every lock-free structure imports its atomics, `Arc`, `UnsafeCell` and
//! thread helpers from here, so `RUSTFLAGS="--cfg loom"` model-checks the
//! same code that ships.
//!
//! Shared with `netrt` (its `crate::loom` re-exports this module), so the
//! facade exists once; it is `#[doc(hidden)]` and not part of the API.

#[cfg(loom)]
pub use loom::{
    cell::UnsafeCell,
    sync::{atomic, Arc, Mutex},
    thread,
};

#[cfg(not(loom))]
pub use std::{
    sync::{atomic, Arc, Mutex},
    thread,
};

/// `std::cell::UnsafeCell` with loom's closure-based access API, so code
/// written against loom's cell compiles unchanged without it.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
#[allow(dead_code)]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a shared pointer to the value.
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable pointer to the value.
    #[inline(always)]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}
