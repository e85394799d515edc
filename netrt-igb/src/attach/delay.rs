//! The delay line of one cable direction: a thread that holds frames until
//! their arrival time (one-way delay plus line-rate serialisation).
//!
//! Only directions configured with a delay or a rate limit have one; every
//! other direction delivers synchronously on the transmitting thread.
//! Arrival times never decrease (constant delay, FIFO serialisation), so
//! the queue is a FIFO and the thread only needs waking when a frame lands
//! in an empty queue.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::cable::Counters;
use super::impair::Impairments;
use super::{Endpoint, RxMeta};

/// Wire overhead per frame beyond the bytes handed over: FCS (4),
/// preamble and start delimiter (8), inter-frame gap (12).
const WIRE_OVERHEAD_BYTES: u64 = 24;

struct Pending {
    due: Instant,
    frame: Vec<u8>,
    meta: RxMeta,
}

struct State {
    queue: VecDeque<Pending>,
    /// Recycled frame buffers: no allocation per frame once warm.
    free: Vec<Vec<u8>>,
    /// When the line finishes sending the last accepted frame.
    line_free_at: Instant,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

pub(super) struct DelayLine {
    shared: Arc<Shared>,
    delay: Duration,
    rate_bps: Option<u64>,
    limit: usize,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl DelayLine {
    /// Starts the delay-line thread delivering into `peer`.
    pub(super) fn spawn(
        peer: Arc<dyn Endpoint>,
        counters: Arc<Counters>,
        imp: &Impairments,
        name: String,
    ) -> io::Result<DelayLine> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                free: Vec::new(),
                line_free_at: Instant::now(),
                shutdown: false,
            }),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(name)
                .spawn(move || run(&shared, &*peer, &counters))?
        };
        Ok(DelayLine {
            shared,
            delay: imp.delay,
            rate_bps: imp.rate_bps.filter(|&r| r > 0),
            limit: imp.effective_queue_limit(),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a copy of `frame`; false when the queue is full (or the line
    /// is shut down) and the frame was dropped.
    pub(super) fn push(&self, frame: &[u8], meta: RxMeta) -> bool {
        let now = Instant::now();
        let mut st = self.shared.state.lock();
        if st.shutdown || st.queue.len() >= self.limit {
            return false;
        }
        let departs = match self.rate_bps {
            Some(rate) => {
                let bits = (frame.len() as u64 + WIRE_OVERHEAD_BYTES) * 8;
                let on_wire = Duration::from_nanos(bits.saturating_mul(1_000_000_000) / rate);
                let start = st.line_free_at.max(now);
                st.line_free_at = start + on_wire;
                st.line_free_at
            }
            None => now,
        };
        let mut buf = st.free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        let was_empty = st.queue.is_empty();
        st.queue.push_back(Pending {
            due: departs + self.delay,
            frame: buf,
            meta,
        });
        drop(st);
        if was_empty {
            self.shared.wake.notify_one();
        }
        true
    }

    /// Stops the thread; frames still queued are discarded.
    pub(super) fn shutdown(&self) {
        self.shared.state.lock().shutdown = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.lock().take() {
            // The thread never drops the cable itself, so this cannot be a
            // self-join; a panic inside a receiver was already reported.
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: &Shared, peer: &dyn Endpoint, counters: &Counters) {
    let mut due_now: Vec<Pending> = Vec::new();
    let mut st = shared.state.lock();
    loop {
        if st.shutdown {
            return;
        }
        let now = Instant::now();
        match st.queue.front() {
            None => shared.wake.wait(&mut st),
            Some(p) if p.due > now => {
                let due = p.due;
                shared.wake.wait_until(&mut st, due);
            }
            Some(_) => {
                while st.queue.front().is_some_and(|p| p.due <= now) {
                    due_now.extend(st.queue.pop_front());
                }
                // Deliver without the lock so transmitters keep queuing.
                parking_lot::MutexGuard::unlocked(&mut st, || {
                    for p in &due_now {
                        peer.deliver(&p.frame, &p.meta);
                        counters.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                });
                st.free.extend(due_now.drain(..).map(|p| p.frame));
            }
        }
    }
}
