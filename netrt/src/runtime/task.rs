//! Tasks: spawning, the schedule function, [`JoinHandle`] and [`JoinError`].
//!
//! A task is an `async_task` allocation whose metadata ([`Meta`]) names the
//! core it belongs to. Tasks never migrate: the schedule function puts a
//! woken task on its core's local run queue when called on that core, and
//! otherwise into the core's inbox (waking the core if it sleeps).
//!
//! The spawned future is wrapped in a [`TaskFuture`] that
//! * catches panics, so a panicking task ends with [`JoinError::is_panic`]
//!   and its core keeps running;
//! * checks the abort flag [`JoinHandle::abort`] sets;
//! * the first time the task goes idle, parks a clone of its own waker in
//!   the metadata and records the task in its core's registry, so that
//!   `abort` and shutdown can wake an idle task. Tasks that finish in their
//!   first poll never pay for this.
//!
//! Shutdown finds every task of a core: never-polled tasks are queued
//! locally, in the inbox, or (spawned from another thread) counted in
//! flight until pushed; every task that went idle is in the registry until
//! its future is dropped. A core stops once all of them are dropped.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use async_task::{FallibleTask, ScheduleInfo, WithInfo};
use futures::task::AtomicWaker;
use pin_project::pin_project;

use super::context;
use super::shared::{Msg, Shared};

/// A scheduled task, as it sits in a run queue or an inbox.
pub(crate) type Runnable = async_task::Runnable<Meta>;

/// Per-task data stored in the task's header.
pub(crate) struct Meta {
    pub(crate) shared: Arc<Shared>,
    pub(crate) core: usize,
    aborted: AtomicBool,
    /// The task's own waker, registered the first time it goes idle and
    /// taken back when its future is dropped (breaking the self-reference).
    idle_waker: AtomicWaker,
}

impl Meta {
    /// Wakes the task if it is idle (abort, shutdown). Consumes the parked
    /// waker: once woken the task is scheduled, and its next poll either
    /// finishes it or parks a fresh clone.
    pub(crate) fn take_idle_waker(&self) -> Option<std::task::Waker> {
        self.idle_waker.take()
    }
}

/// How a task ended.
enum Outcome<T> {
    Done(T),
    Panicked(Box<dyn Any + Send>),
    Aborted,
}

const UNREGISTERED: usize = usize::MAX;

#[pin_project]
struct TaskFuture<'a, F> {
    #[pin]
    future: F,
    /// Declared after `future` so it is dropped after it: the task stays in
    /// the registry until its future's drop has finished.
    guard: TaskGuard<'a>,
}

struct TaskGuard<'a> {
    meta: &'a Meta,
    /// Key in the owning core's task registry, or [`UNREGISTERED`].
    slot: usize,
}

impl<F: Future> Future for TaskFuture<'_, F> {
    type Output = Outcome<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let meta = this.guard.meta;
        if meta.aborted.load(Ordering::Acquire) {
            return Poll::Ready(Outcome::Aborted);
        }
        let future = this.future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Outcome::Done(v)),
            Err(panic) => Poll::Ready(Outcome::Panicked(panic)),
            Ok(Poll::Pending) => {
                if this.guard.slot == UNREGISTERED {
                    meta.idle_waker.register(cx.waker());
                    this.guard.slot = context::with_core(|core| {
                        // A task is only ever polled on its own core.
                        let core = core.expect("netrt task polled outside its core");
                        core.register_task(NonNull::from(meta))
                    });
                    // An abort that came before the waker was parked found
                    // nothing to wake: reschedule ourselves to observe it.
                    if meta.aborted.load(Ordering::Acquire) {
                        cx.waker().wake_by_ref();
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        let meta = self.meta;
        if self.slot != UNREGISTERED {
            // Registered tasks are dropped on their core (run to completion
            // there, or dropped there by shutdown).
            context::with_core(|core| {
                if let Some(core) = core {
                    debug_assert_eq!(core.index, meta.core);
                    core.unregister_task(self.slot);
                }
            });
            drop(meta.idle_waker.take());
        }
    }
}

/// The schedule function of every task.
fn schedule(runnable: Runnable, _info: ScheduleInfo) {
    let remote = context::with_core(move |core| match core {
        Some(core) if core.owns(runnable.metadata()) => {
            core.push_local(runnable);
            None
        }
        _ => Some(runnable),
    });
    if let Some(runnable) = remote {
        let meta = runnable.metadata();
        let owner = meta.core;
        // Keep the runtime alive across the push: once the task is in the
        // inbox its owner may run and free it (and with it `meta`).
        let shared = meta.shared.clone();
        shared.cores[owner].send(Msg::Task(runnable));
    }
}

/// Creates a task on `core` of `shared` and schedules it; if the core no
/// longer accepts tasks (shutdown) the future is dropped right here and
/// the handle reports cancellation.
///
/// # Safety
///
/// * If `F` is not `Send`, this must be called on that very core (the task
///   is then only ever polled and dropped there).
/// * If `F` or its output borrows, the borrowed data must outlive the
///   task's future (`block_on` waits for every future of core 0).
pub(crate) unsafe fn spawn_task<'a, F>(
    shared: Arc<Shared>,
    core: usize,
    future: F,
) -> JoinHandle<F::Output>
where
    F: Future + 'a,
{
    // On the core itself the run queue is private: no shared counter.
    let on_core = context::with_core(|c| {
        c.filter(|c| c.index == core && Arc::ptr_eq(&c.shared, &shared))
            .map(|c| !c.is_closing())
    });
    let admitted = on_core.unwrap_or_else(|| shared.cores[core].begin_spawn());
    let remote = on_core.is_none().then(|| shared.clone());
    let meta = Meta {
        shared,
        core,
        aborted: AtomicBool::new(false),
        idle_waker: AtomicWaker::new(),
    };
    let make = move |meta: &'a Meta| TaskFuture {
        future,
        guard: TaskGuard {
            meta,
            slot: UNREGISTERED,
        },
    };
    // SAFETY: the wrapper borrows only the task's own metadata, which lives
    // as long as the task; the caller upholds the thread and lifetime rules
    // for `F`; the schedule function is a `Send + Sync + 'static` fn item.
    let (runnable, task) = unsafe {
        async_task::Builder::new()
            .metadata(meta)
            .spawn_unchecked(make, WithInfo(schedule))
    };
    let handle = JoinHandle {
        meta: NonNull::from(task.metadata()),
        task: Some(task.fallible()),
    };
    if admitted {
        runnable.schedule();
    } else {
        drop(runnable);
    }
    if let Some(shared) = remote {
        shared.cores[core].end_spawn();
    }
    handle
}

/// Spawns a `Send` future on the current core (or on core 0 when called
/// from a thread that entered a runtime with
/// [`Handle::enter`](super::Handle::enter)).
///
/// A task spawned from inside a network namespace (a task started with
/// [`Namespace::spawn`](crate::stack::ns::Namespace::spawn) or polled in a
/// [`Namespace::scope`](crate::stack::ns::Namespace::scope)) runs in that
/// namespace too; so do tasks from [`spawn_local`] and [`spawn_on`].
///
/// # Panics
///
/// When called outside a netrt runtime.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let Some((shared, core)) = context::spawn_target() else {
        panic!(
            "netrt::spawn called outside of a netrt runtime: call it from a task, \
             inside Runtime::block_on, or use Handle::spawn / Handle::enter"
        );
    };
    // The task inherits the spawner's namespace, if it runs in one.
    let future = crate::stack::ns::inherit(future);
    // SAFETY: `F` is `Send + 'static`.
    unsafe { spawn_task(shared, core, future) }
}

/// Spawns a future that need not be `Send` on the current core; it is
/// polled and dropped only there.
///
/// # Panics
///
/// When the calling thread is not a runtime core.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let Some((shared, core)) = context::with_core(|c| c.map(|c| (c.shared.clone(), c.index)))
    else {
        panic!("netrt::spawn_local called from a thread that is not a netrt runtime core");
    };
    let future = crate::stack::ns::inherit(future);
    // SAFETY: we are on `core`, and `F` is 'static.
    unsafe { spawn_task(shared, core, future) }
}

/// Spawns a `Send` future on core `core` of the current runtime.
///
/// # Panics
///
/// Outside a runtime, or if `core` is out of range (use
/// [`Handle::try_spawn_on`](super::Handle::try_spawn_on) for an error
/// instead).
#[track_caller]
pub fn spawn_on<F>(core: usize, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let Some(shared) = context::current_shared() else {
        panic!("netrt::spawn_on called outside of a netrt runtime");
    };
    let cores = shared.cores.len();
    assert!(
        core < cores,
        "netrt::spawn_on: core {core} out of range, the runtime has {cores} cores"
    );
    let future = crate::stack::ns::inherit(future);
    // SAFETY: `F` is `Send + 'static`.
    unsafe { spawn_task(shared, core, future) }
}

/// Yields to the other tasks of this core: the task is re-queued behind
/// every task that is ready now.
pub async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false).await
}

/// An owned permission to await a task's result.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked
/// or was cancelled (aborted, or dropped at runtime shutdown). Dropping the
/// handle *detaches* the task: it keeps running.
pub struct JoinHandle<T> {
    /// Always `Some` until `drop`, which detaches it.
    task: Option<FallibleTask<Outcome<T>, Meta>>,
    /// Points into the task header, kept alive by `task`.
    meta: NonNull<Meta>,
}

// SAFETY: the task handle may move between threads when its output can
// (`async_task` requires the same: `T: Send` and a `Send + Sync` metadata,
// which `Meta` is). `meta` points to `Sync` data owned by the task.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: through `&JoinHandle` only `abort`, `is_finished` and `core` are
// reachable, and they touch nothing but atomics in the task header.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    fn meta(&self) -> &Meta {
        // SAFETY: `task` holds a reference on the allocation that contains
        // the metadata for as long as `self` lives.
        unsafe { self.meta.as_ref() }
    }

    /// Cancels the task: its future is dropped on its core instead of being
    /// polled again, and awaiting this handle gives a cancelled
    /// [`JoinError`]. No effect on a task that already finished (awaiting
    /// gives its output).
    pub fn abort(&self) {
        let meta = self.meta();
        meta.aborted.store(true, Ordering::Release);
        meta.idle_waker.wake();
    }

    /// Whether the task has finished (completed, panicked or cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// The core the task runs on.
    pub fn core(&self) -> usize {
        self.meta().core
    }

    /// The result if the task has finished, without waiting.
    pub(crate) fn try_take(&mut self) -> Option<Result<T, JoinError>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(self).poll(&mut cx) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `task` is only taken by `drop`.
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Err(JoinError::cancelled()));
        };
        Poll::Ready(match ready!(Pin::new(task).poll(cx)) {
            Some(Outcome::Done(v)) => Ok(v),
            Some(Outcome::Panicked(p)) => Err(JoinError::panic(p)),
            Some(Outcome::Aborted) | None => Err(JoinError::cancelled()),
        })
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("core", &self.core())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task did not produce its output.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic {
        payload: SyncPayload,
        message: Option<String>,
    },
}

/// A panic payload that is only ever accessed by value, which makes
/// sharing `&JoinError` between threads harmless.
struct SyncPayload(Box<dyn Any + Send>);

// SAFETY: no `&SyncPayload` method reaches the payload; it is only moved
// out by value (`into_panic`), which requires ownership.
unsafe impl Sync for SyncPayload {}

impl JoinError {
    fn cancelled() -> Self {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    fn panic(payload: Box<dyn Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&'static str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        JoinError {
            repr: Repr::Panic {
                payload: SyncPayload(payload),
                message,
            },
        }
    }

    /// The task was cancelled: aborted, or dropped at runtime shutdown.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// The panic payload, to re-raise it with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// If the task did not panic (see [`JoinError::try_into_panic`]).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(e) => panic!("JoinError::into_panic on a task that did not panic: {e}"),
        }
    }

    /// The panic payload, or the error itself if the task did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.repr {
            Repr::Panic { payload, .. } => Ok(payload.0),
            repr => Err(JoinError { repr }),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic {
                message: Some(m), ..
            } => write!(f, "task panicked: {m}"),
            Repr::Panic { message: None, .. } => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic { message, .. } => f
                .debug_tuple("JoinError::Panic")
                .field(&message.as_deref().unwrap_or("<non-string payload>"))
                .finish(),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> Self {
        std::io::Error::other(e)
    }
}
