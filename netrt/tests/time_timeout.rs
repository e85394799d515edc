//! `netrt::time::timeout` on a real runtime.

use std::future::pending;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netrt::runtime::Builder;
use netrt::time::{sleep, timeout, timeout_at, Elapsed, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct DropGuard(Arc<AtomicBool>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn timeout_elapses_and_drops_inner_future_with_the_timeout() {
    let rt = Builder::new().cores(1).build().unwrap();
    rt.block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = DropGuard(dropped.clone());
        let start = Instant::now();
        let mut t = Box::pin(timeout(ms(10), async move {
            let _guard = guard;
            pending::<()>().await
        }));
        let r = t.as_mut().await;
        let e: Elapsed = r.unwrap_err();
        assert!(start.elapsed() >= ms(10), "timed out early");
        assert!(
            !dropped.load(Ordering::SeqCst),
            "inner future dropped too soon"
        );
        drop(t);
        assert!(dropped.load(Ordering::SeqCst), "inner future not dropped");
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
    });
}

#[test]
fn timeout_passes_through_a_faster_future() {
    let rt = Builder::new().cores(1).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let r = timeout(Duration::from_secs(3600), async {
            sleep(ms(3)).await;
            42
        })
        .await;
        assert_eq!(r, Ok(42));
        assert!(start.elapsed() < Duration::from_secs(60));
        // A deadline already passed still lets a ready future win.
        assert_eq!(timeout_at(Instant::now() - ms(1), async { 1 }).await, Ok(1));
        // And elapses at once for one that is not.
        assert!(timeout_at(Instant::now(), pending::<()>()).await.is_err());
    });
}

#[test]
fn timeout_question_mark_in_io_code() {
    async fn read_with_deadline() -> io::Result<u8> {
        let v = timeout(ms(2), pending::<io::Result<u8>>()).await??;
        Ok(v)
    }
    let rt = Builder::new().cores(1).build().unwrap();
    let err = rt.block_on(read_with_deadline()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(err.to_string(), "deadline has elapsed");
}
