//! Per-core hierarchical timer wheel.
//!
//! One wheel per core, owned by that core's loop (no locking). Time advances
//! in ticks of 1 ms counted from the wheel's `start` instant.
//!
//! # Layout
//!
//! [`LEVELS`] levels of 64 slots; a slot of level `l` spans `64^l` ticks, so
//! the wheel covers `64^6` ticks (about 2.2 years) ahead of its current
//! tick. A timer is filed in the *highest level at which its expiry tick
//! differs from the wheel's current tick* (comparing 6-bit digits), at the
//! slot given by its expiry's digit there. When the wheel's time reaches the
//! start of a higher-level slot, that slot is *cascaded*: its timers are
//! filed again, now landing on lower levels. Timers further away than the
//! top level can express wait in an overflow list that is refiled each time
//! the wheel enters a new top-level lap. (linux: `kernel/time/timer.c`
//! uses the same level/granularity idea.)
//!
//! Invariant that makes lookups cheap: at every level, the only occupied
//! slots are strictly after the slot holding the current tick. Hence the
//! earliest event is the first occupied slot above the current position on
//! the lowest non-empty level: [`Wheel::next_deadline`] is a few bit scans.
//!
//! Entries live in a slab (`Vec` + free list); each slot is an intrusive
//! doubly linked list of slab indices, so cancel is O(1). Keys carry the
//! wheel's id and the entry's generation: a stale key (its timer fired or
//! was cancelled and the entry reused) or another wheel's key is a no-op.
//!
//! # Rounding
//!
//! Deadlines are rounded *up* to a tick and "now" *down*, so a timer never
//! fires before its deadline; it fires at the first [`Wheel::advance`]
//! whose `now` is at or past its rounded deadline (at most one tick late
//! plus however late `advance` is called).

use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

const TICKS_PER_SEC: u64 = 1_000;
const NANOS_PER_TICK: u32 = 1_000_000;

/// Bits of tick per level, slots per level.
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Number of levels.
pub(crate) const LEVELS: usize = 6;
/// Ticks covered by one lap of the top level.
const TOP_LAP: u64 = 1 << (SLOT_BITS as usize * LEVELS);
/// Deadlines are clamped here (~142 000 years): keeps tick arithmetic and
/// `Instant` conversions far from overflow.
const MAX_TICK: u64 = 1 << 52;

/// List ids: `level * SLOTS + slot` for wheel slots, then two extra lists.
const PENDING: u32 = (LEVELS * SLOTS) as u32;
const OVERFLOW: u32 = PENDING + 1;
const NUM_LISTS: usize = LEVELS * SLOTS + 2;
/// "No index" / "in no list".
const NIL: u32 = u32::MAX;

/// Handle to a timer in a [`Wheel`]. Stale keys (fired, cancelled, or from
/// another wheel) are harmless: every operation on them is a no-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    index: u32,
    wheel: u32,
    generation: u64,
}

struct Entry {
    /// Expiry tick (rounded up).
    when: u64,
    /// `Some` while armed.
    waker: Option<Waker>,
    prev: u32,
    /// Next in the slot list, or next free entry when free.
    next: u32,
    /// List holding this entry, or `NIL` when the entry is free.
    list: u32,
    generation: u64,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

/// A hierarchical timer wheel; see the module docs.
pub(crate) struct Wheel {
    start: Instant,
    /// Current tick: every timer with `when <= elapsed` has fired or sits
    /// in the pending list (inserted already expired).
    elapsed: u64,
    entries: Vec<Entry>,
    free_head: u32,
    lists: Box<[List; NUM_LISTS]>,
    /// Bit `s` of `occupied[l]`: slot `s` of level `l` is non-empty.
    occupied: [u64; LEVELS],
    len: usize,
    id: u32,
}

static NEXT_WHEEL_ID: AtomicU32 = AtomicU32::new(0);

impl Wheel {
    /// An empty wheel whose tick 0 is `start`.
    pub(crate) fn new(start: Instant) -> Wheel {
        Wheel {
            start,
            elapsed: 0,
            entries: Vec::new(),
            free_head: NIL,
            lists: Box::new([EMPTY; NUM_LISTS]),
            occupied: [0; LEVELS],
            len: 0,
            // Relaxed: only uniqueness matters.
            id: NEXT_WHEEL_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Number of armed timers.
    #[allow(dead_code)] // introspection for tests and runtime statistics
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is armed.
    #[allow(dead_code)] // introspection for tests and runtime statistics
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms a timer that wakes `waker` once `deadline` has passed. A deadline
    /// at or before the wheel's current time fires on the next `advance`.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let when = self.ceil_tick(deadline);
        let index = self.alloc(when, waker);
        self.file(index);
        self.len += 1;
        TimerKey {
            index,
            wheel: self.id,
            generation: self.entries[index as usize].generation,
        }
    }

    /// Replaces the waker of an armed timer (skips the clone when `waker`
    /// would wake the same task). No-op for a stale key.
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(entry) = self.armed_mut(key) {
            match &mut entry.waker {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
    }

    /// Moves an armed timer to a new deadline in O(1), keeping its key and
    /// waker. Returns `false` (and does nothing) for a stale key.
    pub(crate) fn reset(&mut self, key: TimerKey, deadline: Instant) -> bool {
        let when = self.ceil_tick(deadline);
        match self.armed_mut(key) {
            Some(entry) => entry.when = when,
            None => return false,
        }
        self.unlink(key.index);
        self.file(key.index);
        true
    }

    /// Disarms a timer in O(1). No-op for a stale key.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        if self.armed_mut(key).is_some() {
            self.unlink(key.index);
            self.release(key.index);
        }
    }

    /// Whether `key`'s timer is still armed in this wheel.
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.armed(key).is_some()
    }

    /// Whether `key`'s timer has fired. Only meaningful for a key of this
    /// wheel that its owner has not cancelled: the entry is released when
    /// it fires, so "fired" is "issued here and no longer armed".
    pub(crate) fn is_fired(&self, key: TimerKey) -> bool {
        key.wheel == self.id && !self.contains(key)
    }

    /// The instant of the wheel's next event, or `None` if no timer is
    /// armed. Never later than the earliest armed deadline (rounded up to
    /// the tick); it may be earlier when the next event is the cascade of a
    /// higher-level slot, after which `advance` files those timers lower
    /// and `next_deadline` becomes exact. At or before the current time if
    /// a timer was inserted already expired.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.lists[PENDING as usize].head != NIL {
            return Some(self.tick_instant(self.elapsed));
        }
        self.next_event().map(|(tick, _)| self.tick_instant(tick))
    }

    /// Moves the wheel's time to `now`, calling `fire` with the waker of
    /// every timer whose (rounded-up) deadline is `<= now`, in deadline
    /// order (ties in insertion order). Returns how many fired. Fired
    /// timers are released: their keys become stale. Time never goes back:
    /// a `now` earlier than a previous one only fires pending expired
    /// inserts.
    pub(crate) fn advance(&mut self, now: Instant, mut fire: impl FnMut(Waker)) -> usize {
        let target = self.floor_tick(now);
        let mut fired = self.expire_list(PENDING, &mut fire);
        while let Some((tick, list)) = self.next_event() {
            if tick > target {
                break;
            }
            self.elapsed = tick;
            fired += self.expire_list(list, &mut fire);
        }
        // No event lies in (elapsed, target], so moving the current tick
        // there keeps every timer on the same level and slot.
        self.elapsed = self.elapsed.max(target);
        fired
    }

    /// The earliest event: `(tick, list)` of the first occupied slot above
    /// the current position on the lowest non-empty level, else the start
    /// of the next top-level lap if timers wait in the overflow list.
    fn next_event(&self) -> Option<(u64, u32)> {
        for level in 0..LEVELS {
            let shift = SLOT_BITS * level as u32;
            let pos = (self.elapsed >> shift) as u32 & (SLOTS as u32 - 1);
            // Slots at or below `pos` are empty by the wheel invariant.
            let after = self.occupied[level] & (!1u64).checked_shl(pos).unwrap_or(0);
            debug_assert_eq!(
                self.occupied[level] & !after,
                0,
                "slot at/behind current position"
            );
            if after != 0 {
                let slot = after.trailing_zeros();
                let lap_start = self.elapsed & !((1u64 << (shift + SLOT_BITS)) - 1);
                let tick = lap_start + (u64::from(slot) << shift);
                return Some((tick, level as u32 * SLOTS as u32 + slot));
            }
        }
        if self.lists[OVERFLOW as usize].head != NIL {
            return Some(((self.elapsed | (TOP_LAP - 1)) + 1, OVERFLOW));
        }
        None
    }

    /// Detaches `list` and fires or refiles each of its entries against the
    /// current tick (a cascade when `list` is a higher-level slot).
    fn expire_list(&mut self, list: u32, fire: &mut impl FnMut(Waker)) -> usize {
        let List { head, .. } = std::mem::replace(&mut self.lists[list as usize], EMPTY);
        self.clear_occupied(list);
        let mut fired = 0;
        let mut index = head;
        while index != NIL {
            let entry = &mut self.entries[index as usize];
            let next = entry.next;
            if entry.when <= self.elapsed {
                let waker = entry.waker.take();
                self.release(index);
                if let Some(waker) = waker {
                    fire(waker);
                }
                fired += 1;
            } else {
                self.file(index);
            }
            index = next;
        }
        fired
    }

    /// Appends entry `index` to the list its `when` belongs in.
    fn file(&mut self, index: u32) {
        let when = self.entries[index as usize].when;
        let list = if when <= self.elapsed {
            PENDING
        } else {
            // Highest 6-bit digit where `when` and the current tick differ
            // (`| (SLOTS - 1)` maps "differs only in digit 0" to level 0).
            let differ = (self.elapsed ^ when) | (SLOTS as u64 - 1);
            let level = (63 - differ.leading_zeros()) / SLOT_BITS;
            if level as usize >= LEVELS {
                OVERFLOW
            } else {
                let slot = (when >> (SLOT_BITS * level)) as u32 & (SLOTS as u32 - 1);
                self.occupied[level as usize] |= 1 << slot;
                level * SLOTS as u32 + slot
            }
        };
        let tail = self.lists[list as usize].tail;
        let entry = &mut self.entries[index as usize];
        entry.list = list;
        entry.prev = tail;
        entry.next = NIL;
        match tail {
            NIL => self.lists[list as usize].head = index,
            t => self.entries[t as usize].next = index,
        }
        self.lists[list as usize].tail = index;
    }

    /// Removes armed entry `index` from its list.
    fn unlink(&mut self, index: u32) {
        let Entry {
            prev, next, list, ..
        } = self.entries[index as usize];
        match prev {
            NIL => self.lists[list as usize].head = next,
            p => self.entries[p as usize].next = next,
        }
        match next {
            NIL => self.lists[list as usize].tail = prev,
            n => self.entries[n as usize].prev = prev,
        }
        if self.lists[list as usize].head == NIL {
            self.clear_occupied(list);
        }
    }

    fn clear_occupied(&mut self, list: u32) {
        if list < PENDING {
            let level = list as usize / SLOTS;
            self.occupied[level] &= !(1 << (list as usize % SLOTS));
        }
    }

    fn alloc(&mut self, when: u64, waker: Waker) -> u32 {
        if self.free_head != NIL {
            let index = self.free_head;
            let entry = &mut self.entries[index as usize];
            self.free_head = entry.next;
            entry.when = when;
            entry.waker = Some(waker);
            index
        } else {
            // Invariant, not input: 4 billion live timers exhaust memory
            // long before the index space.
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("timer slab index space exhausted");
            self.entries.push(Entry {
                when,
                waker: Some(waker),
                prev: NIL,
                next: NIL,
                list: NIL,
                generation: 0,
            });
            index
        }
    }

    /// Returns an unlinked entry to the free list; its keys become stale.
    fn release(&mut self, index: u32) {
        let entry = &mut self.entries[index as usize];
        entry.list = NIL;
        entry.waker = None;
        entry.generation += 1;
        entry.next = self.free_head;
        self.free_head = index;
        self.len -= 1;
    }

    fn armed(&self, key: TimerKey) -> Option<&Entry> {
        if key.wheel != self.id {
            return None;
        }
        self.entries
            .get(key.index as usize)
            .filter(|e| e.generation == key.generation && e.list != NIL)
    }

    fn armed_mut(&mut self, key: TimerKey) -> Option<&mut Entry> {
        if key.wheel != self.id {
            return None;
        }
        self.entries
            .get_mut(key.index as usize)
            .filter(|e| e.generation == key.generation && e.list != NIL)
    }

    /// Tick at or after `t` (deadlines round up).
    fn ceil_tick(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.start);
        let ms = d
            .as_secs()
            .saturating_mul(TICKS_PER_SEC)
            .saturating_add(u64::from(d.subsec_nanos().div_ceil(NANOS_PER_TICK)));
        ms.min(MAX_TICK)
    }

    /// Tick at or before `t` ("now" rounds down).
    fn floor_tick(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.start);
        let ms = d
            .as_secs()
            .saturating_mul(TICKS_PER_SEC)
            .saturating_add(u64::from(d.subsec_nanos() / NANOS_PER_TICK));
        ms.min(MAX_TICK)
    }

    fn tick_instant(&self, tick: u64) -> Instant {
        // Ticks are clamped to MAX_TICK + TOP_LAP, ~142k years: in range for
        // every platform's Instant; fall back to the start if not.
        self.start
            .checked_add(Duration::from_millis(tick))
            .unwrap_or(self.start)
    }
}

impl std::fmt::Debug for Wheel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wheel")
            .field("elapsed_ticks", &self.elapsed)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    /// A waker that records its id into a shared log when woken.
    struct Rec {
        id: usize,
        log: Arc<Mutex<Vec<usize>>>,
    }
    impl Wake for Rec {
        fn wake(self: Arc<Self>) {
            self.log.lock().unwrap().push(self.id);
        }
    }

    fn waker(id: usize, log: &Arc<Mutex<Vec<usize>>>) -> Waker {
        Waker::from(Arc::new(Rec {
            id,
            log: log.clone(),
        }))
    }

    /// xorshift64*: deterministic test randomness without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        w.insert(t0 + ms(5), waker(1, &log));
        // Sub-tick deadline rounds up to tick 3.
        w.insert(t0 + ms(2) + Duration::from_micros(1), waker(2, &log));
        assert_eq!(w.len(), 2);
        assert_eq!(w.next_deadline(), Some(t0 + ms(3)));
        assert_eq!(
            w.advance(t0 + ms(2) + Duration::from_micros(999), |k| k.wake()),
            0
        );
        assert_eq!(w.advance(t0 + ms(3), |k| k.wake()), 1);
        assert_eq!(*log.lock().unwrap(), [2]);
        assert_eq!(w.next_deadline(), Some(t0 + ms(5)));
        assert_eq!(
            w.advance(t0 + ms(4) + Duration::from_micros(999), |k| k.wake()),
            0
        );
        assert_eq!(w.advance(t0 + ms(5), |k| k.wake()), 1);
        assert_eq!(*log.lock().unwrap(), [2, 1]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn expired_insert_fires_on_next_advance() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        w.advance(t0 + ms(100), |_| unreachable!());
        let k = w.insert(t0 + ms(50), waker(7, &log));
        assert!(w.next_deadline().unwrap() <= t0 + ms(100));
        assert!(w.contains(k));
        // Even a "now" in the past fires it: its deadline has passed.
        assert_eq!(w.advance(t0, |k| k.wake()), 1);
        assert!(w.is_fired(k));
        assert_eq!(*log.lock().unwrap(), [7]);
    }

    /// 10k random timers (up to ~1 h away), advanced with random steps:
    /// each fires exactly once, never before its deadline, at the first
    /// advance past its rounded-up tick, and in deadline order.
    #[test]
    fn random_timers_fire_in_order_never_early() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        const N: usize = 10_000;
        let deadlines: Vec<Instant> = (0..N)
            .map(|_| {
                let span = [100, 10_000, 3_600_000][rng.below(3) as usize];
                t0 + Duration::from_micros(rng.below(span * 1000))
            })
            .collect();
        let keys: Vec<_> = deadlines
            .iter()
            .enumerate()
            .map(|(i, &d)| w.insert(d, waker(i, &log)))
            .collect();
        assert_eq!(w.len(), N);
        let mut now = t0;
        let mut fired_at = vec![None; N];
        let mut last_deadline = t0;
        while !w.is_empty() {
            let next = w.next_deadline().unwrap();
            assert!(next >= now, "next_deadline in the past");
            // Earliest armed deadline, rounded up, is not before `next`.
            let prev_now = now;
            now += Duration::from_micros(rng.below(20_000) + 1);
            if rng.below(4) == 0 {
                now = now.max(next); // sometimes jump straight to the event
            }
            w.advance(now, |k| k.wake());
            for id in log.lock().unwrap().drain(..) {
                assert!(fired_at[id].is_none(), "timer {id} fired twice");
                fired_at[id] = Some(now);
                let d = deadlines[id];
                assert!(d <= now, "timer {id} fired early");
                // Not late: its rounded-up tick was after the previous now.
                let tick_instant = t0 + ms(w.ceil_tick(d));
                assert!(tick_instant > prev_now, "timer {id} fired late");
                assert!(w.ceil_tick(d) >= w.ceil_tick(last_deadline), "out of order");
                last_deadline = d;
                assert!(w.is_fired(keys[id]));
            }
        }
        assert!(fired_at.iter().all(Option::is_some));
    }

    #[test]
    fn cancel_random_half() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        let mut rng = Rng(42);
        const N: usize = 10_000;
        let keys: Vec<_> = (0..N)
            .map(|i| w.insert(t0 + ms(rng.below(200_000)), waker(i, &log)))
            .collect();
        let mut cancelled = vec![false; N];
        for (i, &k) in keys.iter().enumerate() {
            if rng.below(2) == 0 {
                w.cancel(k);
                cancelled[i] = true;
                assert!(!w.contains(k));
            }
        }
        let remaining = cancelled.iter().filter(|c| !**c).count();
        assert_eq!(w.len(), remaining);
        let n = w.advance(t0 + ms(200_000), |k| k.wake());
        assert_eq!(n, remaining);
        let mut got = log.lock().unwrap().clone();
        got.sort_unstable();
        let want: Vec<usize> = (0..N).filter(|&i| !cancelled[i]).collect();
        assert_eq!(got, want);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    /// Timers hours and months away cascade down through every level and
    /// fire on their own tick, not a slot boundary.
    #[test]
    fn cascades_across_levels() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        let far = [
            ms(63),
            ms(64),
            ms(4_097),
            ms(3 * 3_600_000 + 17),        // 3 h
            ms(40 * 86_400_000 + 5),       // 40 days (level 5)
            ms(3 * 365 * 86_400_000 + 11), // 3 years (overflow list)
        ];
        for (i, d) in far.iter().enumerate() {
            w.insert(t0 + *d, waker(i, &log));
        }
        for (i, d) in far.iter().enumerate() {
            // One tick early: nothing new fires.
            w.advance(t0 + *d - ms(1), |k| k.wake());
            assert_eq!(log.lock().unwrap().len(), i, "fired early at {d:?}");
            // Events between are at most cascade points, never past `d`.
            assert!(w.next_deadline().unwrap() <= t0 + *d);
            w.advance(t0 + *d, |k| k.wake());
            assert_eq!(*log.lock().unwrap(), (0..=i).collect::<Vec<_>>());
        }
        assert!(w.is_empty());
    }

    /// `next_deadline` is exact for level-0 timers and never after the
    /// earliest deadline; following it reaches every timer.
    #[test]
    fn next_deadline_tracks_earliest() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        assert_eq!(w.next_deadline(), None);
        let a = w.insert(t0 + ms(30), waker(0, &log));
        assert_eq!(w.next_deadline(), Some(t0 + ms(30)));
        let b = w.insert(t0 + ms(10), waker(1, &log));
        assert_eq!(w.next_deadline(), Some(t0 + ms(10)));
        w.cancel(b);
        assert_eq!(w.next_deadline(), Some(t0 + ms(30)));
        w.cancel(a);
        assert_eq!(w.next_deadline(), None);

        w.insert(t0 + ms(1000), waker(2, &log));
        let mut wakeups = 0;
        let mut now = t0;
        while let Some(next) = w.next_deadline() {
            assert!(next <= t0 + ms(1000));
            assert!(next > now || wakeups == 0);
            now = next;
            w.advance(now, |k| k.wake());
            wakeups += 1;
        }
        assert_eq!(now, t0 + ms(1000));
        assert!(wakeups <= LEVELS, "one event per level at most");
        assert_eq!(*log.lock().unwrap(), [2]);
    }

    #[test]
    fn stale_and_foreign_keys_are_noops() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        let mut other = Wheel::new(t0);
        let old = w.insert(t0 + ms(5), waker(0, &log));
        w.cancel(old);
        // The slab entry is reused by the next timer.
        let new = w.insert(t0 + ms(5), waker(1, &log));
        assert_eq!(new.index, old.index);
        assert_ne!(new, old);
        w.cancel(old); // stale: must not cancel `new`
        w.set_waker(old, &waker(9, &log));
        assert!(w.contains(new));
        // A key of another wheel with the same index/generation.
        let foreign = other.insert(t0 + ms(5), waker(2, &log));
        assert_eq!((foreign.index, foreign.generation), (old.index, 0));
        w.cancel(foreign);
        assert!(w.contains(new));
        assert!(!w.is_fired(foreign));
        w.advance(t0 + ms(5), |k| k.wake());
        assert_eq!(*log.lock().unwrap(), [1]);
        // A fired key is stale too.
        w.cancel(new);
        assert!(w.is_fired(new));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn set_waker_replaces_and_skips_same() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        let first = waker(0, &log);
        let k = w.insert(t0 + ms(1), first.clone());
        w.set_waker(k, &first);
        let stored = w.entries[k.index as usize].waker.as_ref().unwrap();
        assert!(stored.will_wake(&first));
        w.set_waker(k, &waker(1, &log));
        w.advance(t0 + ms(1), |k| k.wake());
        assert_eq!(*log.lock().unwrap(), [1]);
    }

    #[test]
    fn reset_moves_timer_both_ways() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        let k = w.insert(t0 + ms(10_000), waker(0, &log));
        assert!(w.reset(k, t0 + ms(20)));
        assert_eq!(w.next_deadline(), Some(t0 + ms(20)));
        assert_eq!(w.advance(t0 + ms(19), |k| k.wake()), 0);
        assert!(w.reset(k, t0 + ms(500)));
        assert_eq!(w.advance(t0 + ms(499), |k| k.wake()), 0);
        assert_eq!(w.len(), 1);
        assert_eq!(w.advance(t0 + ms(500), |k| k.wake()), 1);
        assert_eq!(*log.lock().unwrap(), [0]);
        assert!(!w.reset(k, t0 + ms(600)), "fired key is stale");
        assert!(w.is_empty());
    }

    #[test]
    fn slab_reuses_entries() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        for round in 0..100u64 {
            let keys: Vec<_> = (0..64)
                .map(|i| w.insert(t0 + ms(round * 10 + i % 7 + 1), waker(0, &log)))
                .collect();
            for k in keys.iter().step_by(2) {
                w.cancel(*k);
            }
            w.advance(t0 + ms(round * 10 + 10), |_| {});
            assert!(w.is_empty());
        }
        assert_eq!(w.entries.len(), 64, "entries must be recycled");
    }

    #[test]
    fn equal_deadlines_fire_in_insertion_order() {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        for i in 0..10 {
            w.insert(t0 + ms(5000), waker(i, &log));
        }
        w.advance(t0 + ms(6000), |k| k.wake());
        assert_eq!(*log.lock().unwrap(), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn far_future_and_before_start_deadlines() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Wheel::new(t0);
        // Before the wheel's start: already expired.
        w.insert(t0 - ms(5), waker(0, &log));
        // Absurdly far: clamped, must not panic or fire.
        let far = w.insert(t0 + Duration::from_secs(1 << 40), waker(1, &log));
        assert_eq!(w.advance(t0, |k| k.wake()), 1);
        assert_eq!(
            w.advance(t0 + Duration::from_secs(100 * 365 * 86_400), |k| k.wake()),
            0
        );
        assert!(w.contains(far));
        assert_eq!(*log.lock().unwrap(), [0]);
    }
}
