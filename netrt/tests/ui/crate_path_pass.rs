// The expansion goes through the `crate` path and nowhere else: a stand-in
// runtime under `crate::fake` records that it was built and driven.
use std::sync::atomic::{AtomicUsize, Ordering};

static CORES: AtomicUsize = AtomicUsize::new(0);

mod fake {
    pub mod runtime {
        use std::future::Future;
        use std::pin::pin;
        use std::sync::atomic::Ordering;
        use std::task::{Context, Poll, Waker};

        pub struct Builder(usize);
        pub struct Runtime;

        impl Builder {
            pub fn new() -> Self {
                Builder(usize::MAX)
            }
            pub fn cores(self, n: usize) -> Self {
                Builder(n)
            }
            pub fn build(self) -> std::io::Result<Runtime> {
                crate::CORES.store(self.0, Ordering::SeqCst);
                Ok(Runtime)
            }
        }

        impl Runtime {
            pub fn block_on<F: Future>(&self, f: F) -> F::Output {
                let mut f = pin!(f);
                let mut cx = Context::from_waker(Waker::noop());
                loop {
                    if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                        return v;
                    }
                }
            }
        }
    }
}

#[netrt::main(crate = "crate::fake", cores = 3)]
async fn three() -> u32 {
    3
}

#[netrt::main(crate = "crate::fake")]
async fn default_cores() {}

fn main() {
    assert_eq!(three(), 3);
    assert_eq!(CORES.load(Ordering::SeqCst), 3);
    default_cores();
    assert_eq!(
        CORES.load(Ordering::SeqCst),
        usize::MAX,
        "main must keep Builder's default"
    );
}
