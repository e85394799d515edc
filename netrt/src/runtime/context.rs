//! Which core (if any) the current thread is, and the entered [`Handle`]
//! of a non-core thread.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;

use super::core::Core;
use super::shared::Shared;
use super::Handle;
use crate::time::wheel::Wheel;

thread_local! {
    /// The core this thread runs, while it runs it.
    static CORE: Cell<*const Core> = const { Cell::new(ptr::null()) };
    /// A handle entered with [`Handle::enter`] on a thread that is not a core.
    static ENTERED: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Runs `f` with the core the calling thread runs, if any.
pub(crate) fn with_core<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    let p = CORE.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: `CORE` is non-null only while a `CoreGuard` borrowing a live
    // `Core` exists on this thread (the guard resets it on drop), and the
    // core is only used by reference on its own thread.
    f(unsafe { p.as_ref() })
}

/// Marks the calling thread as running `core` until dropped.
pub(crate) struct CoreGuard<'a> {
    prev: *const Core,
    _core: PhantomData<&'a Core>,
}

pub(crate) fn enter_core(core: &Core) -> CoreGuard<'_> {
    let prev = CORE.with(|c| c.replace(core));
    CoreGuard {
        prev,
        _core: PhantomData,
    }
}

impl Drop for CoreGuard<'_> {
    fn drop(&mut self) {
        CORE.with(|c| c.set(self.prev));
    }
}

/// The index of the core the calling thread runs, or `None` on a thread
/// that is not a runtime core.
pub fn current_core() -> Option<usize> {
    with_core(|c| c.map(|c| c.index))
}

/// Where a spawn from this thread goes: the current core of the current
/// runtime, or core 0 of an entered handle's runtime.
pub(crate) fn spawn_target() -> Option<(Arc<Shared>, usize)> {
    if let Some(t) = with_core(|c| c.map(|c| (c.shared.clone(), c.index))) {
        return Some(t);
    }
    ENTERED
        .try_with(|h| h.borrow().as_ref().map(|h| (h.shared.clone(), 0)))
        .ok()
        .flatten()
}

/// The runtime of the calling thread (its core's, or the entered one).
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    spawn_target().map(|(s, _)| s)
}

/// Restores the previously entered handle when dropped; see
/// [`Handle::enter`].
#[must_use = "the handle is only entered while the guard lives"]
pub struct EnterGuard {
    prev: Option<Handle>,
    // Entering is per thread: the guard must be dropped where it was made.
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

pub(crate) fn enter_handle(handle: Handle) -> EnterGuard {
    let prev = ENTERED.with(|h| h.borrow_mut().replace(handle));
    EnterGuard {
        prev,
        _not_send: PhantomData,
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // The replaced handle is dropped outside the borrow: it may be the
        // last one, and tearing a runtime down runs arbitrary drops.
        // A torn-down thread-local (guard dropped at thread exit) is ignored.
        let replaced = ENTERED.try_with(|h| std::mem::replace(&mut *h.borrow_mut(), prev));
        drop(replaced);
    }
}

/// Runs `f` on the calling core's timer wheel (the contract `crate::time`
/// builds on). `None` when the calling
/// thread is not a runtime core, or its core is shutting down.
pub(crate) fn with_timers<R>(f: impl FnOnce(&mut Wheel) -> R) -> Option<R> {
    with_core(|core| {
        let core = core?;
        if core.is_closing() {
            return None;
        }
        Some(f(&mut core.timers.borrow_mut()))
    })
}
