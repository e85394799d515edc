//! Several transmitting threads deliver into one RX queue of the emulated
//! igb at once (as several cores sending to one port do) while the driver
//! drains it: nothing is lost without being counted, nothing is torn, and
//! each sender's frames stay in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use netrt_igb::attach::{Burst, Endpoint, RxMeta, TxMeta};
use netrt_igb::port::{EmulatedPort, PortSpec};

const SENDERS: usize = 4;
const PER_SENDER: u32 = 25_000;
const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

fn frame(sender: u8, seq: u32) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, sender]);
    f.extend_from_slice(&0x88B5u16.to_be_bytes());
    f.push(sender);
    f.extend_from_slice(&seq.to_be_bytes());
    // Length varies with the sequence; the tail repeats the header so a
    // torn or mixed frame shows.
    f.resize(60 + (seq as usize * 7) % 900, sender);
    let n = f.len();
    f[n - 4..].copy_from_slice(&seq.to_be_bytes());
    f
}

#[test]
fn concurrent_senders_into_one_queue() {
    let mut spec = PortSpec::new(1, MAC);
    spec.driver.rx.ring_size = 1024;
    let mut port = EmulatedPort::new(&spec).unwrap();
    let model = Arc::clone(port.model());
    let mut vector = port.take_vectors().remove(0);
    let done = Arc::new(AtomicBool::new(false));

    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let model = Arc::clone(&model);
            thread::spawn(move || {
                let mut burst = Burst::new();
                for seq in 0..PER_SENDER {
                    let f = frame(s as u8, seq);
                    if s % 2 == 0 {
                        // Single frames...
                        Endpoint::deliver(&*model, &f, &RxMeta::default());
                    } else {
                        // ...and bursts, from different threads at once.
                        burst.push(&f, TxMeta::default());
                        if burst.len() == 16 || seq + 1 == PER_SENDER {
                            Endpoint::deliver_burst(&*model, &burst, false);
                            burst.clear();
                        }
                    }
                    if seq % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let waiter = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            for s in senders {
                s.join().unwrap();
            }
            done.store(true, Ordering::Release);
        })
    };

    let mut next = [0u32; SENDERS];
    let mut received = 0u64;
    let mut check = |rx: netrt_igb::driver::RxFrame<'_>| {
        let d = rx.as_slice().unwrap();
        let s = d[14] as usize;
        let seq = u32::from_be_bytes(d[15..19].try_into().unwrap());
        assert!(seq >= next[s], "sender {s}: {seq} after {}", next[s]);
        assert_eq!(d, frame(s as u8, seq).as_slice(), "frame intact");
        next[s] = seq + 1;
        received += 1;
    };
    loop {
        let finished = done.load(Ordering::Acquire);
        while vector.poll(64, &mut check) == 64 {}
        if finished {
            while vector.poll(64, &mut check) > 0 {}
            break;
        }
        thread::yield_now();
    }
    waiter.join().unwrap();
    let stats = port.port().stats();
    let sent = (SENDERS as u64) * u64::from(PER_SENDER);
    assert_eq!(
        received + stats.hw.mpc,
        sent,
        "received {received}, missed {}",
        stats.hw.mpc
    );
    assert_eq!(stats.hw.gprc, received);
    assert!(
        received > sent / 10,
        "the consumer kept up at least partly: {received}"
    );
}
