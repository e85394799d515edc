//! Readiness of kernel file descriptors (TAP devices, pipes, eventfds),
//! driven by the core's epoll instance, the same one the core sleeps in.
//!
//! [`Registration::new`] adds a file descriptor to the *current* core's
//! epoll (edge-triggered). When the kernel reports an event, the core
//! records it in the registration and wakes the task waiting for that
//! direction. A task asks with [`Registration::poll_read_ready`] /
//! [`Registration::readable`], does its non-blocking I/O and, on
//! `WouldBlock`, hands the event back with
//! [`Registration::clear_readiness`] before waiting again (or lets
//! [`Registration::read_io`] / [`Registration::write_io`] do all of that).
//!
//! Each readiness report carries a tick. Clearing only succeeds when no new
//! event arrived since the report, so an edge that races with a
//! `WouldBlock` is never lost.
//!
//! One task may wait for each direction at a time (the last waiter's waker
//! is the one woken), as with `poll_read`/`poll_write` on a socket.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::ops::BitOr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures::task::AtomicWaker;
use parking_lot::Mutex;

use super::context;
use super::slab::Slab;
use super::sys::Epoll;

/// The directions a registration is interested in.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Readable (and read-closed) events.
    pub const READABLE: Interest = Interest(1);
    /// Writable (and write-closed) events.
    pub const WRITABLE: Interest = Interest(2);

    /// Both `self` and `other`.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// Includes [`Interest::READABLE`].
    pub const fn is_readable(self) -> bool {
        self.0 & Self::READABLE.0 != 0
    }

    /// Includes [`Interest::WRITABLE`].
    pub const fn is_writable(self) -> bool {
        self.0 & Self::WRITABLE.0 != 0
    }

    fn epoll_events(self) -> u32 {
        let mut ev = (libc::EPOLLET | libc::EPOLLRDHUP) as u32;
        if self.is_readable() {
            ev |= (libc::EPOLLIN | libc::EPOLLPRI) as u32;
        }
        if self.is_writable() {
            ev |= libc::EPOLLOUT as u32;
        }
        ev
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        self.add(rhs)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (false, false) => f.write_str("(none)"),
        }
    }
}

/// A set of readiness flags reported by the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ready(u8);

impl Ready {
    /// No readiness.
    pub const EMPTY: Ready = Ready(0);
    /// Data (or a connection, or an error) can be read.
    pub const READABLE: Ready = Ready(1);
    /// Data can be written.
    pub const WRITABLE: Ready = Ready(2);
    /// The peer closed its writing side (EPOLLRDHUP / EPOLLHUP).
    pub const READ_CLOSED: Ready = Ready(4);
    /// Writing is no longer possible (EPOLLHUP).
    pub const WRITE_CLOSED: Ready = Ready(8);
    /// An error is pending on the descriptor (EPOLLERR).
    pub const ERROR: Ready = Ready(16);

    const READ_SIDE: Ready = Ready(1 | 4 | 16);
    const WRITE_SIDE: Ready = Ready(2 | 8 | 16);
    /// Flags that, once reported, stay: they are never cleared.
    const FINAL: Ready = Ready(4 | 8 | 16);

    /// No flag set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// [`Ready::READABLE`] is set.
    pub const fn is_readable(self) -> bool {
        self.0 & Self::READABLE.0 != 0
    }
    /// [`Ready::WRITABLE`] is set.
    pub const fn is_writable(self) -> bool {
        self.0 & Self::WRITABLE.0 != 0
    }
    /// [`Ready::READ_CLOSED`] is set.
    pub const fn is_read_closed(self) -> bool {
        self.0 & Self::READ_CLOSED.0 != 0
    }
    /// [`Ready::WRITE_CLOSED`] is set.
    pub const fn is_write_closed(self) -> bool {
        self.0 & Self::WRITE_CLOSED.0 != 0
    }
    /// [`Ready::ERROR`] is set.
    pub const fn is_error(self) -> bool {
        self.0 & Self::ERROR.0 != 0
    }

    fn from_epoll(events: u32) -> Ready {
        let has = |flag: libc::c_int| events & flag as u32 != 0;
        let mut r = 0;
        if has(libc::EPOLLIN) || has(libc::EPOLLPRI) {
            r |= Self::READABLE.0;
        }
        if has(libc::EPOLLOUT) {
            r |= Self::WRITABLE.0;
        }
        if has(libc::EPOLLRDHUP) {
            r |= Self::READ_CLOSED.0;
        }
        if has(libc::EPOLLHUP) {
            r |= Self::READ_CLOSED.0 | Self::WRITE_CLOSED.0;
        }
        if has(libc::EPOLLERR) {
            r |= Self::ERROR.0;
        }
        Ready(r)
    }

    fn intersect(self, other: Ready) -> Ready {
        Ready(self.0 & other.0)
    }
}

impl BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::READABLE, "READABLE"),
            (Self::WRITABLE, "WRITABLE"),
            (Self::READ_CLOSED, "READ_CLOSED"),
            (Self::WRITE_CLOSED, "WRITE_CLOSED"),
            (Self::ERROR, "ERROR"),
        ];
        let mut set = f.debug_set();
        for (flag, name) in names {
            if self.0 & flag.0 != 0 {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// A readiness report: which flags were set, and when (see the module
/// docs on ticks). Hand it back to [`Registration::clear_readiness`] after
/// the I/O it allowed returned `WouldBlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyEvent {
    ready: Ready,
    tick: usize,
}

impl ReadyEvent {
    /// The flags this report covers (of the direction that was asked for).
    pub fn ready(&self) -> Ready {
        self.ready
    }
}

/// `readiness` layout: low byte [`Ready`] flags, then a shutdown bit, then
/// the event tick.
const READY_MASK: usize = 0xff;
const SHUTDOWN: usize = 0x100;
const TICK_SHIFT: u32 = 16;

#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> Ready {
        match self {
            Direction::Read => Ready::READ_SIDE,
            Direction::Write => Ready::WRITE_SIDE,
        }
    }
}

/// Readiness of one registered descriptor, shared by the core and the
/// registration's owner.
struct ScheduledIo {
    readiness: AtomicUsize,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl ScheduledIo {
    /// Core: records an event and collects the wakers to call.
    fn set_ready(&self, ready: Ready, wakers: &mut Vec<Waker>) {
        let mut cur = self.readiness.load(Ordering::Acquire);
        loop {
            let tick = (cur >> TICK_SHIFT).wrapping_add(1);
            let new = (tick << TICK_SHIFT) | (cur & !(usize::MAX << TICK_SHIFT)) | ready.0 as usize;
            match self.readiness.compare_exchange_weak(
                cur,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if !ready.intersect(Ready::READ_SIDE).is_empty() {
            wakers.extend(self.reader.take());
        }
        if !ready.intersect(Ready::WRITE_SIDE).is_empty() {
            wakers.extend(self.writer.take());
        }
    }

    fn shut_down(&self, wakers: &mut Vec<Waker>) {
        self.readiness.fetch_or(SHUTDOWN, Ordering::AcqRel);
        wakers.extend(self.reader.take());
        wakers.extend(self.writer.take());
    }

    fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>> {
        if let Some(ev) = self.ready_now(dir) {
            return Poll::Ready(ev);
        }
        match dir {
            Direction::Read => self.reader.register(cx.waker()),
            Direction::Write => self.writer.register(cx.waker()),
        }
        // An event may have landed between the check and the registration.
        match self.ready_now(dir) {
            Some(ev) => Poll::Ready(ev),
            None => Poll::Pending,
        }
    }

    fn ready_now(&self, dir: Direction) -> Option<io::Result<ReadyEvent>> {
        let cur = self.readiness.load(Ordering::Acquire);
        if cur & SHUTDOWN != 0 {
            return Some(Err(io::Error::other(
                "the netrt core driving this descriptor has shut down",
            )));
        }
        let ready = Ready((cur & READY_MASK) as u8).intersect(dir.mask());
        (!ready.is_empty()).then_some(Ok(ReadyEvent {
            ready,
            tick: cur >> TICK_SHIFT,
        }))
    }

    fn clear(&self, event: ReadyEvent) {
        let clear = (event.ready.0 & !Ready::FINAL.0) as usize;
        let mut cur = self.readiness.load(Ordering::Acquire);
        // A newer event (tick moved on) keeps its readiness.
        while cur >> TICK_SHIFT == event.tick {
            match self.readiness.compare_exchange_weak(
                cur,
                cur & !clear,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

struct Entry {
    generation: u32,
    io: Arc<ScheduledIo>,
}

/// A core's epoll instance and the descriptors registered with it.
pub(crate) struct IoDriver {
    epoll: Epoll,
    /// Locked by (de)registration and once per batch of events.
    entries: Mutex<Entries>,
    registered: AtomicUsize,
    closed: AtomicBool,
}

struct Entries {
    slab: Slab<Entry>,
    next_generation: u32,
}

/// Epoll token of the core's doorbell eventfd.
pub(crate) const DOORBELL_TOKEN: u64 = u64::MAX;

impl IoDriver {
    pub(crate) fn new(doorbell: RawFd) -> io::Result<IoDriver> {
        let epoll = Epoll::new()?;
        epoll.add(
            doorbell,
            (libc::EPOLLIN | libc::EPOLLET) as u32,
            DOORBELL_TOKEN,
        )?;
        Ok(IoDriver {
            epoll,
            entries: Mutex::new(Entries {
                slab: Slab::new(),
                next_generation: 0,
            }),
            registered: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        })
    }

    pub(crate) fn epoll(&self) -> &Epoll {
        &self.epoll
    }

    /// Whether any descriptor is registered (the core skips its periodic
    /// non-blocking epoll otherwise).
    pub(crate) fn has_registrations(&self) -> bool {
        self.registered.load(Ordering::Relaxed) != 0
    }

    /// Records `events` (one `epoll_wait` batch) and collects the wakers to
    /// call once the lock is released. Returns how many events concerned
    /// registered descriptors.
    pub(crate) fn dispatch(&self, events: &[libc::epoll_event], wakers: &mut Vec<Waker>) -> usize {
        let mut n = 0;
        let entries = self.entries.lock();
        for ev in events {
            let token = ev.u64;
            if token == DOORBELL_TOKEN {
                continue;
            }
            let (key, generation) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
            if let Some(entry) = entries.slab.get(key) {
                // A stale token (descriptor deregistered, slot reused) is ignored.
                if entry.generation == generation {
                    entry.io.set_ready(Ready::from_epoll(ev.events), wakers);
                    n += 1;
                }
            }
        }
        n
    }

    /// Fails every registration: waiters wake up with an error.
    pub(crate) fn shut_down(&self, wakers: &mut Vec<Waker>) {
        self.closed.store(true, Ordering::Release);
        let mut entries = self.entries.lock();
        for (_, entry) in entries.slab.iter() {
            entry.io.shut_down(wakers);
        }
        entries.slab.drain().for_each(drop);
        self.registered.store(0, Ordering::Relaxed);
    }
}

/// A file descriptor registered with a core's epoll instance.
///
/// The registration does not own the descriptor: keep it open for as long
/// as the registration lives. Dropping the registration removes the
/// descriptor from the epoll set.
pub struct Registration {
    fd: RawFd,
    token: u64,
    io: Arc<ScheduledIo>,
    driver: Arc<IoDriver>,
    core: usize,
}

impl Registration {
    /// Registers `fd` (which should be in non-blocking mode) for
    /// `interest` with the calling core's epoll instance.
    ///
    /// Errors: the `epoll_ctl` error (e.g. `EEXIST` when `fd` is already
    /// registered with this core, `EPERM` for regular files, `EBADF`), or
    /// `Other` when the calling thread is not a running runtime core.
    pub fn new(fd: RawFd, interest: Interest) -> io::Result<Registration> {
        let (driver, core) = context::with_core(|c| c.map(|c| (c.io.clone(), c.index)))
            .ok_or_else(|| {
                io::Error::other("netrt::runtime::io: not called on a netrt runtime core")
            })?;
        if driver.closed.load(Ordering::Acquire) {
            return Err(io::Error::other("the netrt core has shut down"));
        }
        let io = Arc::new(ScheduledIo {
            readiness: AtomicUsize::new(0),
            reader: AtomicWaker::new(),
            writer: AtomicWaker::new(),
        });
        let token = {
            let mut entries = driver.entries.lock();
            let generation = entries.next_generation;
            entries.next_generation = generation.wrapping_add(1);
            let key = entries.slab.insert(Entry {
                generation,
                io: io.clone(),
            });
            let token = key as u64 | (generation as u64) << 32;
            // Added under the lock: the entry exists before any event can
            // carry its token.
            if let Err(e) = driver.epoll.add(fd, interest.epoll_events(), token) {
                entries.slab.remove(key);
                return Err(e);
            }
            token
        };
        driver.registered.fetch_add(1, Ordering::Relaxed);
        Ok(Registration {
            fd,
            token,
            io,
            driver,
            core,
        })
    }

    /// The registered descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The core whose epoll instance watches the descriptor.
    pub fn core(&self) -> usize {
        self.core
    }

    /// Ready when the descriptor is readable (or read-closed, or in error).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.io.poll_ready(cx, Direction::Read)
    }

    /// Ready when the descriptor is writable (or write-closed, or in error).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.io.poll_ready(cx, Direction::Write)
    }

    /// Waits until the descriptor is readable.
    pub async fn readable(&self) -> io::Result<ReadyEvent> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the descriptor is writable.
    pub async fn writable(&self) -> io::Result<ReadyEvent> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Forgets the readiness `event` reported, unless a newer event came in
    /// meanwhile. Call it when I/O returned `WouldBlock`. Closed/error
    /// flags are final and are never cleared.
    pub fn clear_readiness(&self, event: ReadyEvent) {
        self.io.clear(event);
    }

    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let event = match self.io.poll_ready(cx, dir) {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                res => return Poll::Ready(res),
            }
        }
    }

    /// Runs the non-blocking read `f` once the descriptor is readable,
    /// clearing readiness and waiting again whenever `f` returns
    /// `WouldBlock`.
    pub fn poll_read_io<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io(cx, Direction::Read, f)
    }

    /// Like [`Registration::poll_read_io`] for writes.
    pub fn poll_write_io<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io(cx, Direction::Write, f)
    }

    /// Async form of [`Registration::poll_read_io`].
    pub async fn read_io<R>(&self, mut f: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_read_io(cx, &mut f)).await
    }

    /// Async form of [`Registration::poll_write_io`].
    pub async fn write_io<R>(&self, mut f: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_write_io(cx, &mut f)).await
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("core", &self.core)
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Errors are ignored: the descriptor may already be closed (which
        // removed it from the set), or the core has shut down.
        let _ = self.driver.epoll.delete(self.fd);
        let key = (self.token & 0xffff_ffff) as usize;
        let generation = (self.token >> 32) as u32;
        let removed = {
            let mut entries = self.driver.entries.lock();
            match entries.slab.get(key) {
                Some(e) if e.generation == generation => entries.slab.remove(key),
                _ => None,
            }
        };
        if removed.is_some() {
            self.driver.registered.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn io() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            reader: AtomicWaker::new(),
            writer: AtomicWaker::new(),
        }
    }

    fn noop_cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn clearing_a_stale_report_keeps_the_newer_event() {
        let s = io();
        let mut wakers = Vec::new();
        s.set_ready(Ready::READABLE, &mut wakers);
        let Poll::Ready(Ok(old)) = s.poll_ready(&mut noop_cx(), Direction::Read) else {
            panic!("readable expected");
        };
        assert!(old.ready().is_readable());
        // A new edge arrives before the reader saw WouldBlock.
        s.set_ready(Ready::READABLE, &mut wakers);
        s.clear(old);
        assert!(
            s.poll_ready(&mut noop_cx(), Direction::Read).is_ready(),
            "a newer edge must survive clearing an older report"
        );
        let Poll::Ready(Ok(new)) = s.poll_ready(&mut noop_cx(), Direction::Read) else {
            unreachable!()
        };
        s.clear(new);
        assert!(s.poll_ready(&mut noop_cx(), Direction::Read).is_pending());
        assert!(s.poll_ready(&mut noop_cx(), Direction::Write).is_pending());
    }

    #[test]
    fn closed_and_error_flags_are_final_and_wake_both_sides() {
        let s = io();
        assert!(s.poll_ready(&mut noop_cx(), Direction::Read).is_pending());
        assert!(s.poll_ready(&mut noop_cx(), Direction::Write).is_pending());
        let mut wakers = Vec::new();
        s.set_ready(
            Ready::from_epoll((libc::EPOLLERR | libc::EPOLLHUP) as u32),
            &mut wakers,
        );
        assert_eq!(wakers.len(), 2, "reader and writer woken");
        let Poll::Ready(Ok(ev)) = s.poll_ready(&mut noop_cx(), Direction::Read) else {
            panic!("error must make the read side ready");
        };
        assert!(ev.ready().is_error() && ev.ready().is_read_closed());
        s.clear(ev);
        assert!(s.poll_ready(&mut noop_cx(), Direction::Read).is_ready());
        let Poll::Ready(Ok(w)) = s.poll_ready(&mut noop_cx(), Direction::Write) else {
            panic!("write side ready");
        };
        assert!(w.ready().is_write_closed());
    }

    #[test]
    fn shutdown_fails_waiters() {
        let s = io();
        let mut wakers = Vec::new();
        s.shut_down(&mut wakers);
        match s.poll_ready(&mut noop_cx(), Direction::Read) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::Other),
            _ => panic!("expected an error after shutdown"),
        }
    }
}
