//! A counting global allocator for the idle-connection memory figure.
//!
//! It wraps [`System`] and, only while a [`Window`] is open, adds up the
//! net change in live heap bytes made by every thread of the process. Out
//! of a window it costs one relaxed load per call, so the other suites
//! (whose tasks allocate) run at full speed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The process's allocator: `System`, counted while a window is open.
#[global_allocator]
static HEAP: Counting = Counting;

static OPEN: AtomicBool = AtomicBool::new(false);
static NET: AtomicI64 = AtomicI64::new(0);

struct Counting;

impl Counting {
    fn add(delta: i64) {
        if OPEN.load(Ordering::Relaxed) {
            NET.fetch_add(delta, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; the counting touches only two
// atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::add(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::add(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Self::add(-(layout.size() as i64));
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::add(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

/// While alive, heap growth is counted. A block allocated before the
/// window and freed inside it counts negative, which is what "net change of
/// live bytes" means. One window at a time.
pub struct Window(());

impl Window {
    /// Opens the window.
    pub fn open() -> Window {
        NET.store(0, Ordering::SeqCst);
        let was_open = OPEN.swap(true, Ordering::SeqCst);
        assert!(!was_open, "one heap window at a time");
        Window(())
    }

    /// Net live bytes allocated since the window opened.
    pub fn net_bytes(&self) -> i64 {
        NET.load(Ordering::SeqCst)
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        OPEN.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_net_growth() {
        // Big enough that other test threads' allocations are noise.
        const SIZE: usize = 8 << 20;
        let window = Window::open();
        let block = std::hint::black_box(vec![1u8; SIZE]);
        let grown = window.net_bytes();
        assert!(grown.abs_diff(SIZE as i64) < 1 << 20, "grew {grown}");
        drop(block);
        let after = window.net_bytes();
        assert!(after.abs() < 1 << 20, "left {after}");
        drop(window);
        // Closed: no longer counted.
        let untracked = std::hint::black_box(vec![1u8; SIZE]);
        assert_eq!(NET.load(Ordering::SeqCst), after);
        drop(untracked);
    }
}
