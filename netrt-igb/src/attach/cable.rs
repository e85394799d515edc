//! An in-process Ethernet cable between two ports.
//!
//! Each direction delivers transmitted frames straight into the peer port
//! on the transmitting thread: the TX work of the emulated device runs on
//! its tail-register write, so a burst goes from the sender's TX buffers
//! (through the sender's staging burst) into the receiver's RX buffers in
//! one call chain. Impairments, if configured, sit in between:
//!
//! 1. random stage (loss, duplication, corruption, reordering), taken under
//!    a per-direction lock because it owns the generator and held frames;
//! 2. delay line (delay, rate limit), a thread per direction that releases
//!    frames at their arrival time.
//!
//! A perfect direction takes no lock; it bumps one counter per burst and
//! hands the whole burst to the peer in one call.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::delay::DelayLine;
use super::impair::{CableConfig, Chance, Impairments, SplitMix64};
use super::{Attachment, Burst, Endpoint, RxMeta, TxMeta};

/// Ethernet header length: corruption lands after it, where checksums
/// (rather than the absent FCS) would catch it.
const ETH_HLEN: usize = 14;

/// A direction of a cable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Frames sent by port A, received by port B.
    AtoB,
    /// Frames sent by port B, received by port A.
    BtoA,
}

/// Counters of one direction of a cable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CableStats {
    /// Frames handed to the cable by the sender.
    pub sent: u64,
    /// Frames handed to the receiver (duplicates included).
    pub delivered: u64,
    /// Frames dropped by the loss impairment.
    pub lost: u64,
    /// Extra copies made by the duplication impairment.
    pub duplicated: u64,
    /// Frames held back and overtaken by later frames.
    pub reordered: u64,
    /// Frames (copies) with a flipped byte.
    pub corrupted: u64,
    /// Frames dropped because the delay line's queue was full.
    pub overflow: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    sent: AtomicU64,
    pub(super) delivered: AtomicU64,
    lost: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    corrupted: AtomicU64,
    overflow: AtomicU64,
}

impl Counters {
    /// `passthrough`: the direction delivers every frame synchronously, so
    /// `delivered` is not counted separately (one atomic per frame, not two).
    fn snapshot(&self, passthrough: bool) -> CableStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let sent = get(&self.sent);
        CableStats {
            sent,
            delivered: if passthrough {
                sent
            } else {
                get(&self.delivered)
            },
            lost: get(&self.lost),
            duplicated: get(&self.duplicated),
            reordered: get(&self.reordered),
            corrupted: get(&self.corrupted),
            overflow: get(&self.overflow),
        }
    }
}

#[inline]
fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A frame held back by the reorder impairment.
struct Held {
    frame: Vec<u8>,
    meta: RxMeta,
    /// Later frames still to overtake it.
    remaining: u32,
}

/// Random per-frame decisions of one direction (netem-style).
struct RandomStage {
    rng: SplitMix64,
    loss: Chance,
    duplicate: Chance,
    reorder: Chance,
    corrupt: Chance,
    gap: u32,
    held: VecDeque<Held>,
    /// Recycled copies: no allocation per frame once warm.
    pool: Vec<Vec<u8>>,
}

impl RandomStage {
    fn new(imp: &Impairments, seed: u64) -> Self {
        RandomStage {
            rng: SplitMix64::new(seed),
            loss: Chance::percent(imp.loss_percent),
            duplicate: Chance::percent(imp.duplicate_percent),
            reorder: Chance::percent(imp.reorder_percent),
            corrupt: Chance::percent(imp.corrupt_percent),
            gap: imp.reorder_gap.max(1),
            held: VecDeque::new(),
            pool: Vec::new(),
        }
    }

    fn copy_of(&mut self, frame: &[u8]) -> Vec<u8> {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        buf
    }

    fn process(&mut self, dir: &Direction, frame: &[u8], meta: RxMeta) {
        if self.loss.roll(&mut self.rng) {
            bump(&dir.counters.lost);
            return;
        }
        let copies = if self.duplicate.roll(&mut self.rng) {
            bump(&dir.counters.duplicated);
            2
        } else {
            1
        };
        for _ in 0..copies {
            // Each copy is damaged and delayed independently.
            let mut owned = None;
            if frame.len() > ETH_HLEN && self.corrupt.roll(&mut self.rng) {
                let mut buf = self.copy_of(frame);
                let at = ETH_HLEN + self.rng.below((frame.len() - ETH_HLEN) as u64) as usize;
                // A non-zero XOR always changes the byte.
                buf[at] ^= 1 + self.rng.below(255) as u8;
                bump(&dir.counters.corrupted);
                owned = Some(buf);
            }
            if self.reorder.roll(&mut self.rng) {
                let frame = match owned {
                    Some(buf) => buf,
                    None => self.copy_of(frame),
                };
                self.held.push_back(Held {
                    frame,
                    meta,
                    remaining: self.gap,
                });
                bump(&dir.counters.reordered);
                continue;
            }
            match owned {
                Some(buf) => {
                    dir.forward(&buf, meta);
                    self.pool.push(buf);
                }
                None => dir.forward(frame, meta),
            }
            self.overtaken(dir);
        }
    }

    /// One frame went past the held ones; release those it was the last to
    /// overtake (all share one gap, so they sit at the front).
    fn overtaken(&mut self, dir: &Direction) {
        for h in &mut self.held {
            h.remaining -= 1;
        }
        while self.held.front().is_some_and(|h| h.remaining == 0) {
            if let Some(h) = self.held.pop_front() {
                dir.forward(&h.frame, h.meta);
                self.pool.push(h.frame);
            }
        }
    }

    fn release_all(&mut self, dir: &Direction) {
        while let Some(h) = self.held.pop_front() {
            dir.forward(&h.frame, h.meta);
            self.pool.push(h.frame);
        }
    }
}

/// One direction: from the sending port's attachment to the peer port.
struct Direction {
    peer: Arc<dyn Endpoint>,
    counters: Arc<Counters>,
    /// Checksum offload may travel as metadata (nothing can damage frames).
    carries_csum: bool,
    random: Option<Mutex<RandomStage>>,
    delay: Option<DelayLine>,
}

impl Direction {
    fn new(peer: Arc<dyn Endpoint>, imp: &Impairments, seed: u64, name: &str) -> io::Result<Self> {
        let counters = Arc::new(Counters::default());
        let delay = if imp.needs_delay_line() {
            Some(DelayLine::spawn(
                Arc::clone(&peer),
                Arc::clone(&counters),
                imp,
                name.into(),
            )?)
        } else {
            None
        };
        Ok(Direction {
            peer,
            counters,
            carries_csum: !imp.corrupts(),
            random: imp
                .has_random()
                .then(|| Mutex::new(RandomStage::new(imp, seed))),
            delay,
        })
    }

    #[inline]
    fn transmit(&self, frame: &[u8], meta: &TxMeta) {
        bump(&self.counters.sent);
        // A damaging direction never accepted offload metadata; a sender
        // that set it anyway does not get its checksum vouched for.
        let rx = if self.carries_csum {
            RxMeta::from_tx(meta)
        } else {
            RxMeta::default()
        };
        match &self.random {
            None => self.forward(frame, rx),
            Some(stage) => stage.lock().process(self, frame, rx),
        }
    }

    /// Neither random decisions nor a delay line: every frame is delivered
    /// at once.
    fn passthrough(&self) -> bool {
        self.random.is_none() && self.delay.is_none()
    }

    /// Past the random stage: deliver now or through the delay line.
    #[inline]
    fn forward(&self, frame: &[u8], meta: RxMeta) {
        match &self.delay {
            None => {
                self.peer.deliver(frame, &meta);
                if self.random.is_some() {
                    bump(&self.counters.delivered);
                }
            }
            Some(line) => {
                if !line.push(frame, meta) {
                    bump(&self.counters.overflow);
                }
            }
        }
    }

    fn flush(&self) {
        if let Some(stage) = &self.random {
            stage.lock().release_all(self);
        }
    }
}

/// The attachment a port transmits into.
struct CableEnd(Arc<Direction>);

impl Attachment for CableEnd {
    #[inline]
    fn transmit(&self, frame: &[u8], meta: &TxMeta) {
        self.0.transmit(frame, meta);
    }

    fn transmit_burst(&self, burst: &Burst) {
        let d = &self.0;
        if d.passthrough() {
            // The whole burst in one call: the receiver locks each of its
            // queues and raises its interrupt once.
            d.counters
                .sent
                .fetch_add(burst.len() as u64, Ordering::Relaxed);
            d.peer.deliver_burst(burst, d.carries_csum);
        } else {
            for (frame, meta) in burst.iter() {
                d.transmit(frame, meta);
            }
        }
    }

    fn carries_csum_offload(&self) -> bool {
        self.0.carries_csum
    }
}

/// Two ports joined in-process: what port A transmits, port B receives, and
/// the other way round.
///
/// The cable owns the connection: while it lives the ports are plugged in;
/// dropping it unplugs both (and stops any delay-line threads), which also
/// breaks the reference cycle port → cable → peer port.
pub struct Cable {
    ends: [Arc<dyn Endpoint>; 2],
    dirs: [Arc<Direction>; 2],
}

impl Cable {
    /// A perfect cable between `a` and `b`: synchronous delivery, checksum
    /// offload carried as metadata.
    pub fn new(a: Arc<dyn Endpoint>, b: Arc<dyn Endpoint>) -> Cable {
        match Self::with_impairments(a, b, CableConfig::default()) {
            Ok(cable) => cable,
            // Only delay lines can fail to start, and the default has none.
            Err(e) => unreachable!("perfect cable needs no thread: {e}"),
        }
    }

    /// A cable with the impairments of `cfg`. Directions with a delay or a
    /// rate limit get a delay-line thread each (hence `io::Result`: the
    /// thread may fail to spawn); the others deliver synchronously.
    pub fn with_impairments(
        a: Arc<dyn Endpoint>,
        b: Arc<dyn Endpoint>,
        cfg: CableConfig,
    ) -> io::Result<Cable> {
        let seed_b = cfg.seed ^ 0xa5a5_5a5a_0f0f_f0f0;
        let ab = Arc::new(Direction::new(
            Arc::clone(&b),
            &cfg.a_to_b,
            cfg.seed,
            "cable-a-to-b",
        )?);
        let ba = Arc::new(Direction::new(
            Arc::clone(&a),
            &cfg.b_to_a,
            seed_b,
            "cable-b-to-a",
        )?);
        a.set_attachment(Some(Arc::new(CableEnd(Arc::clone(&ab)))));
        b.set_attachment(Some(Arc::new(CableEnd(Arc::clone(&ba)))));
        Ok(Cable {
            ends: [a, b],
            dirs: [ab, ba],
        })
    }

    fn dir(&self, dir: Dir) -> &Direction {
        match dir {
            Dir::AtoB => &self.dirs[0],
            Dir::BtoA => &self.dirs[1],
        }
    }

    /// Counters of one direction.
    pub fn stats(&self, dir: Dir) -> CableStats {
        let d = self.dir(dir);
        d.counters.snapshot(d.passthrough())
    }

    /// Releases every frame held back by the reorder impairment, in order
    /// (they otherwise wait for later frames to overtake them).
    pub fn flush(&self) {
        for d in &self.dirs {
            d.flush();
        }
    }
}

impl Drop for Cable {
    fn drop(&mut self) {
        for end in &self.ends {
            end.set_attachment(None);
        }
        for d in &self.dirs {
            if let Some(line) = &d.delay {
                line.shutdown();
            }
        }
    }
}

impl fmt::Debug for Cable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cable")
            .field("a_to_b", &self.stats(Dir::AtoB))
            .field("b_to_a", &self.stats(Dir::BtoA))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::attach::PartialCsum;
    use std::time::{Duration, Instant};

    /// An endpoint that records what arrives and what it is plugged into.
    #[derive(Default)]
    struct Recorder {
        frames: Mutex<Vec<(Vec<u8>, RxMeta, Instant)>>,
        attachment: Mutex<Option<Arc<dyn Attachment>>>,
    }

    impl Endpoint for Recorder {
        fn deliver(&self, frame: &[u8], meta: &RxMeta) {
            self.frames
                .lock()
                .push((frame.to_vec(), *meta, Instant::now()));
        }
        fn set_attachment(&self, attachment: Option<Arc<dyn Attachment>>) {
            *self.attachment.lock() = attachment;
        }
    }

    impl Recorder {
        fn send(&self, frame: &[u8], meta: &TxMeta) {
            let att = self.attachment.lock().clone().expect("plugged in");
            att.transmit(frame, meta);
        }
        fn seqs(&self) -> Vec<u32> {
            self.frames.lock().iter().map(|f| seq_of(&f.0)).collect()
        }
    }

    fn frame(seq: u32, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[ETH_HLEN..ETH_HLEN + 4].copy_from_slice(&seq.to_be_bytes());
        for (i, b) in f[ETH_HLEN + 4..].iter_mut().enumerate() {
            *b = (seq as usize + i) as u8;
        }
        f
    }

    fn seq_of(f: &[u8]) -> u32 {
        u32::from_be_bytes(f[ETH_HLEN..ETH_HLEN + 4].try_into().unwrap())
    }

    fn pair() -> (Arc<Recorder>, Arc<Recorder>) {
        (Arc::new(Recorder::default()), Arc::new(Recorder::default()))
    }

    #[test]
    fn perfect_cable_is_synchronous_and_in_order() {
        let (a, b) = pair();
        let cable = Cable::new(a.clone(), b.clone());
        let partial = TxMeta {
            partial_csum: Some(PartialCsum {
                start: 34,
                offset: 16,
            }),
            tso: None,
        };
        let plain = TxMeta::default();
        for seq in 0..100 {
            a.send(
                &frame(seq, 60 + seq as usize),
                if seq % 2 == 0 { &partial } else { &plain },
            );
        }
        b.send(&frame(7, 64), &TxMeta::default());
        assert_eq!(b.seqs(), (0..100).collect::<Vec<_>>());
        assert_eq!(a.seqs(), vec![7]);
        let got = b.frames.lock();
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, f)| f.0 == frame(i as u32, 60 + i) && f.1.csum_verified == (i % 2 == 0)));
        drop(got);
        let s = cable.stats(Dir::AtoB);
        assert_eq!((s.sent, s.delivered, s.lost), (100, 100, 0));
        assert!(a.attachment.lock().as_ref().unwrap().carries_csum_offload());
        drop(cable);
        assert!(
            a.attachment.lock().is_none() && b.attachment.lock().is_none(),
            "drop unplugs"
        );
    }

    #[test]
    fn loss_duplication_reorder_counts_add_up() {
        let (a, b) = pair();
        let imp = Impairments {
            loss_percent: 5.0,
            duplicate_percent: 5.0,
            reorder_percent: 5.0,
            reorder_gap: 3,
            ..Impairments::NONE
        };
        let cable =
            Cable::with_impairments(a.clone(), b.clone(), CableConfig::symmetric(imp, 1)).unwrap();
        let n = 20_000u32;
        for seq in 0..n {
            a.send(&frame(seq, 64), &TxMeta::default());
        }
        cable.flush();
        let s = cable.stats(Dir::AtoB);
        assert_eq!(s.sent, u64::from(n));
        assert_eq!(s.delivered, s.sent - s.lost + s.duplicated);
        for (name, v) in [
            ("lost", s.lost),
            ("dup", s.duplicated),
            ("reord", s.reordered),
        ] {
            assert!((700..1300).contains(&v), "{name} {v} not ~5% of {n}");
        }
        let seqs = b.seqs();
        assert_eq!(seqs.len() as u64, s.delivered);
        // Receiver-side view agrees with the counters.
        let mut count = vec![0u32; n as usize];
        for &q in &seqs {
            count[q as usize] += 1;
        }
        let missing = count.iter().filter(|&&c| c == 0).count() as u64;
        let twice = count.iter().filter(|&&c| c == 2).count() as u64;
        assert!(count.iter().all(|&c| c <= 2));
        assert_eq!(missing, s.lost);
        assert_eq!(twice, s.duplicated);
        // Every reordered frame arrives after a later sequence number; a
        // frame arrives out of order only if it was held back.
        let mut late = 0u64;
        let mut max_seen = None;
        for &q in &seqs {
            if max_seen.is_some_and(|m| q < m) {
                late += 1;
            }
            max_seen = max_seen.max(Some(q));
        }
        assert!(
            late <= s.reordered && late * 10 >= s.reordered * 8,
            "late {late} vs {}",
            s.reordered
        );
    }

    #[test]
    fn reorder_gap_is_exact() {
        let (a, b) = pair();
        let imp = Impairments {
            reorder_percent: 100.0,
            reorder_gap: 2,
            ..Impairments::NONE
        };
        let cable =
            Cable::with_impairments(a.clone(), b.clone(), CableConfig::symmetric(imp, 3)).unwrap();
        // Every frame is held for two later ones, but held frames never
        // overtake each other: nothing moves until flush.
        for seq in 0..4 {
            a.send(&frame(seq, 64), &TxMeta::default());
        }
        assert!(b.seqs().is_empty());
        cable.flush();
        assert_eq!(b.seqs(), vec![0, 1, 2, 3]);
        drop(cable);

        let (a, b) = pair();
        let imp = Impairments {
            reorder_percent: 30.0,
            reorder_gap: 2,
            ..Impairments::NONE
        };
        let cable =
            Cable::with_impairments(a.clone(), b.clone(), CableConfig::symmetric(imp, 11)).unwrap();
        for seq in 0..2000 {
            a.send(&frame(seq, 64), &TxMeta::default());
        }
        cable.flush();
        let seqs = b.seqs();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..2000).collect::<Vec<_>>());
        // A held frame is overtaken by exactly two (non-held) frames unless
        // it was released by the final flush.
        let pos: Vec<usize> = {
            let mut p = vec![0; 2000];
            for (i, &q) in seqs.iter().enumerate() {
                p[q as usize] = i;
            }
            p
        };
        let s = cable.stats(Dir::AtoB);
        let mut held = 0;
        for q in 0..2000usize {
            let overtakers = seqs[..pos[q]].iter().filter(|&&x| x as usize > q).count();
            if overtakers > 0 {
                held += 1;
                assert!(
                    overtakers >= 2 || q >= 1990,
                    "seq {q} overtaken by {overtakers}"
                );
            }
        }
        assert!(held as u64 <= s.reordered && s.reordered > 400);
    }

    #[test]
    fn corruption_flips_one_byte_after_the_ethernet_header() {
        let (a, b) = pair();
        let imp = Impairments {
            corrupt_percent: 50.0,
            ..Impairments::NONE
        };
        let cable =
            Cable::with_impairments(a.clone(), b.clone(), CableConfig::symmetric(imp, 5)).unwrap();
        assert!(!a.attachment.lock().as_ref().unwrap().carries_csum_offload());
        let partial = TxMeta {
            partial_csum: Some(PartialCsum {
                start: 34,
                offset: 16,
            }),
            tso: None,
        };
        for seq in 0..1000 {
            a.send(&frame(seq, 100), &partial);
        }
        let got = b.frames.lock();
        let mut damaged = 0;
        for (i, (f, meta, _)) in got.iter().enumerate() {
            assert!(
                !meta.csum_verified,
                "a corrupting cable vouches for nothing"
            );
            let want = frame(i as u32, 100);
            let diffs: Vec<usize> = (0..100).filter(|&j| f[j] != want[j]).collect();
            assert!(diffs.len() <= 1);
            if let Some(&j) = diffs.first() {
                assert!(j >= ETH_HLEN);
                damaged += 1;
            }
        }
        assert_eq!(damaged, cable.stats(Dir::AtoB).corrupted);
        assert!((400..600).contains(&damaged));
    }

    #[test]
    fn delay_line_delays_and_rate_limits() {
        let (a, b) = pair();
        let delay = Duration::from_millis(30);
        let cfg = CableConfig {
            a_to_b: Impairments {
                delay,
                ..Impairments::NONE
            },
            // 1 Mbit/s: a 101-byte frame (+24 overhead) takes 1 ms.
            b_to_a: Impairments {
                rate_bps: Some(1_000_000),
                queue_limit: 20,
                ..Impairments::NONE
            },
            seed: 0,
        };
        let cable = Cable::with_impairments(a.clone(), b.clone(), cfg).unwrap();
        let t0 = Instant::now();
        for seq in 0..5 {
            a.send(&frame(seq, 64), &TxMeta::default());
        }
        assert!(
            b.frames.lock().is_empty(),
            "delayed frames are not delivered synchronously"
        );
        for seq in 0..30 {
            b.send(&frame(seq, 101), &TxMeta::default());
        }
        // Overflow is decided at send time; normally exactly 10 (the queue
        // holds 20), fewer if the line drained a frame during the loop.
        let overflow = cable.stats(Dir::BtoA).overflow;
        assert!((1..=10).contains(&overflow), "overflow {overflow}");
        let expect = 30 - overflow as usize;
        let deadline = Instant::now() + Duration::from_secs(5);
        while (b.frames.lock().len() < 5 || a.frames.lock().len() < expect)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(b.seqs(), vec![0, 1, 2, 3, 4]);
        assert!(b.frames.lock().iter().all(|f| f.2 - t0 >= delay));
        let seqs = a.seqs();
        assert_eq!(seqs.len(), expect);
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "rate limiting keeps order: {seqs:?}"
        );
        // One frame per millisecond at most: the k-th arrival is at least
        // k + 1 ms after sending began.
        for (k, f) in a.frames.lock().iter().enumerate() {
            assert!(
                f.2 - t0 >= Duration::from_millis(k as u64 + 1),
                "frame {k} at {:?}",
                f.2 - t0
            );
        }
        let s = cable.stats(Dir::BtoA);
        assert_eq!((s.sent, s.delivered), (30, expect as u64));
        assert_eq!(cable.stats(Dir::AtoB).delivered, 5);
    }

    #[test]
    fn loss_is_reproducible_for_a_seed() {
        let run = |seed| {
            let (a, b) = pair();
            let imp = Impairments {
                loss_percent: 20.0,
                ..Impairments::NONE
            };
            let _cable =
                Cable::with_impairments(a.clone(), b.clone(), CableConfig::symmetric(imp, seed))
                    .unwrap();
            for seq in 0..500 {
                a.send(&frame(seq, 64), &TxMeta::default());
            }
            b.seqs()
        };
        assert_eq!(run(77), run(77));
        assert_ne!(run(77), run(78));
    }
}
