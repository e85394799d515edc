//! TCP timers on the socket's home core (linux: `sk_reset_timer` and the
//! per-socket timer list).
//!
//! Each core keeps, per namespace, a min-heap of (deadline, socket) and
//! one task that sleeps until the earliest entry. Arming is lazy: a
//! socket adds an entry only when its deadline moves *earlier* than the
//! one it already has queued; an entry whose deadline moved later fires,
//! finds itself stale (the socket remembers which deadline it armed) and
//! the socket re-arms. The engine's timers (RTO, delayed ACK, persist,
//! keepalive, TIME-WAIT) thus cost one heap entry per socket at a time,
//! and pushing the RTO back on every ACK costs nothing.
//!
//! A socket armed from another core (its user task lives elsewhere)
//! sends the entry home with a small task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::socket::TcpSock;
use crate::stack::ns::NsInner;
use crate::stack::percore;
use crate::time::Sleep;

/// One queued expiry.
struct Entry {
    deadline: Instant,
    seq: u64,
    sock: Arc<TcpSock>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

/// A core's timers of one namespace.
#[derive(Default)]
struct CoreTimers {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    /// The service task is running (or about to).
    running: bool,
    /// The deadline the service sleeps until, and its waker.
    sleeping: Option<(Instant, Waker)>,
}

/// Queues an expiry of `sock` at `deadline` on its home core.
pub(crate) fn arm(ns: &NsInner, sock: &Arc<TcpSock>, deadline: Instant) {
    let here = crate::runtime::current_core();
    if here.is_some() && here != Some(sock.home) {
        let (sock, weak) = (sock.clone(), ns.self_weak());
        let home = sock.home;
        let sent = crate::runtime::Handle::try_current().and_then(|h| {
            h.try_spawn_on(home, async move {
                if let Some(ns) = weak.upgrade() {
                    push(&ns, sock, deadline);
                }
            })
        });
        if sent.is_ok() {
            return;
        }
    }
    push(ns, sock.clone(), deadline);
}

/// Adds the entry on this core; starts or nudges the service.
fn push(ns: &NsInner, sock: Arc<TcpSock>, deadline: Instant) {
    let (start, nudge) = percore::with_slot(&ns.owner, CoreTimers::default, |t| {
        t.seq += 1;
        let seq = t.seq;
        t.heap.push(Reverse(Entry {
            deadline,
            seq,
            sock,
        }));
        let start = !t.running;
        t.running = true;
        let nudge = match &t.sleeping {
            Some((at, w)) if deadline < *at => Some(w.clone()),
            _ => None,
        };
        (start, nudge)
    });
    if let Some(w) = nudge {
        w.wake();
    }
    if start {
        if crate::runtime::current_core().is_some() {
            let service = Service {
                ns: ns.self_weak(),
                sleep: None,
            };
            drop(crate::runtime::spawn_local(service));
        } else {
            // Off a runtime (a test driving the stack by hand): nothing
            // can sleep here; the entry waits for a core to run timers.
            percore::with_slot(&ns.owner, CoreTimers::default, |t| t.running = false);
        }
    }
}

/// The per-core service task: fires due entries, then sleeps.
struct Service {
    ns: Weak<NsInner>,
    sleep: Option<Sleep>,
}

impl Future for Service {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(ns) = self.ns.upgrade() else {
            return Poll::Ready(());
        };
        loop {
            let now = Instant::now();
            // Take due entries out first: firing re-arms through the
            // same slot.
            let (due, next) = percore::with_slot(&ns.owner, CoreTimers::default, |t| {
                let mut due = Vec::new();
                while let Some(Reverse(e)) = t.heap.peek() {
                    if e.deadline > now {
                        break;
                    }
                    if let Some(Reverse(e)) = t.heap.pop() {
                        due.push(e);
                    }
                }
                let next = t.heap.peek().map(|Reverse(e)| e.deadline);
                match next {
                    Some(d) => t.sleeping = Some((d, cx.waker().clone())),
                    None if due.is_empty() => {
                        t.running = false;
                        t.sleeping = None;
                    }
                    None => t.sleeping = None,
                }
                (due, next)
            });
            if !due.is_empty() {
                for e in due {
                    e.sock.on_timer(&ns, e.deadline);
                }
                continue;
            }
            let Some(next) = next else {
                return Poll::Ready(());
            };
            let sleep = match &mut self.sleep {
                Some(s) => {
                    if s.deadline() != next {
                        s.reset(next);
                    }
                    s
                }
                slot => slot.insert(crate::time::sleep_until(next)),
            };
            match Pin::new(sleep).poll(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
