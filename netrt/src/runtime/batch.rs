//! End-of-batch work: a core runs its ready tasks in bounded batches, and
//! code running inside a task can ask for work to be done once when the
//! batch ends instead of once per call (DESIGN "batch everything that
//! crosses a boundary").
//!
//! The executor knows nothing about what the work is. Its only client is
//! the network stack: a transmit made by a task is queued in the device's
//! qdisc and the queue is run at the end of the batch, so a burst of sends
//! costs one tail write, one emulated TX pass and one interrupt on the peer
//! (linux: the `xmit_more` hint, here driven by the executor's batch).
//!
//! Latency bound: the work waits at most until the end of the batch it was
//! requested in. The batch ends before the core polls NAPI, fires timers,
//! or parks, so a task that sends and then awaits the reply never sleeps
//! on a datagram that was not sent.

use std::cell::Cell;

struct BatchCtx {
    /// A batch is running on this thread and batching is enabled.
    open: Cell<bool>,
    /// Work to run when the batch closes.
    pending: Cell<Option<fn()>>,
}

thread_local! {
    static BATCH: BatchCtx = const {
        BatchCtx {
            open: Cell::new(false),
            pending: Cell::new(None),
        }
    };
}

/// Asks for `work` to run when the current task batch ends. `false` when
/// no batch is open: the caller does the work now.
///
/// Requests are idempotent (the work must not care how many requests it
/// answers). Only one piece of work is pending at a time: a request for
/// different work runs the pending one first, which is always allowed
/// (end-of-batch work may run early, never late).
#[inline]
pub(crate) fn at_end_of_batch(work: fn()) -> bool {
    let earlier = BATCH.try_with(|b| {
        if !b.open.get() {
            return Err(());
        }
        Ok(b.pending.replace(Some(work)))
    });
    match earlier {
        Ok(Ok(Some(prev))) if !std::ptr::fn_addr_eq(prev, work) => {
            prev();
            true
        }
        Ok(Ok(_)) => true,
        Ok(Err(())) | Err(_) => false,
    }
}

/// Opens a batch (the core, around running a batch of tasks).
pub(super) fn open() {
    let _ = BATCH.try_with(|b| b.open.set(true));
}

/// Closes the batch and runs its pending work. Work requested while the
/// pending work runs (it is outside the batch by then) is done at once by
/// its caller.
pub(super) fn close() {
    let pending = BATCH
        .try_with(|b| {
            b.open.set(false);
            b.pending.take()
        })
        .ok()
        .flatten();
    if let Some(work) = pending {
        work();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static LOG: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    }

    fn a() {
        LOG.with(|l| l.borrow_mut().push("a"));
    }

    fn b() {
        LOG.with(|l| l.borrow_mut().push("b"));
    }

    fn log() -> Vec<&'static str> {
        LOG.with(|l| l.take())
    }

    #[test]
    fn work_runs_once_at_close_and_only_inside_a_batch() {
        assert!(!at_end_of_batch(a), "no batch open: caller does the work");
        open();
        assert!(at_end_of_batch(a));
        assert!(at_end_of_batch(a));
        assert!(log().is_empty(), "nothing runs before the batch ends");
        close();
        assert_eq!(log(), ["a"]);
        assert!(!at_end_of_batch(a), "closed");
        // A closed batch has nothing pending.
        open();
        close();
        assert!(log().is_empty());
    }

    #[test]
    fn different_work_runs_the_pending_one_early() {
        open();
        assert!(at_end_of_batch(a));
        assert!(at_end_of_batch(b));
        assert_eq!(log(), ["a"]);
        close();
        assert_eq!(log(), ["b"]);
    }
}
