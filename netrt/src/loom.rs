//! One switch between std and loom primitives.
//!
//! Every lock-free structure imports its atomics, `Arc`, `UnsafeCell` and
//! thread helpers from here, so `RUSTFLAGS="--cfg loom"` model-checks the
//! same code that ships.

#[cfg(loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    sync::{atomic, Arc, Mutex},
    thread,
};

#[cfg(not(loom))]
pub(crate) use std::{
    sync::{atomic, Arc, Mutex},
    thread,
};

/// `std::cell::UnsafeCell` with loom's closure-based access API, so code
/// written against loom's cell compiles unchanged without it.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
#[allow(dead_code)]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}
