//! `#[netrt::test]` and `#[netrt::main]` on the real runtime: the attributes'
//! arguments reach the `Builder`, the body runs as core 0's main task, and
//! its value, `?` and panics come out as from a plain `#[test]`.

use std::io;
use std::thread;

use netrt::runtime::Handle;

#[netrt::test]
async fn runs_on_core_zero_of_a_one_core_runtime() {
    assert_eq!(netrt::current_core(), Some(0));
    assert_eq!(Handle::current().cores(), 1);
    let spawned = netrt::spawn(async { netrt::current_core() }).await.unwrap();
    assert_eq!(spawned, Some(0));
}

#[netrt::test(cores = 2)]
async fn cores_argument_sizes_the_runtime() {
    assert_eq!(Handle::current().cores(), 2);
    // A task sent to the other core runs there, on another thread, and its
    // result comes back to core 0.
    let main_thread = thread::current().id();
    let (core, other_thread) = netrt::spawn_on(1, async {
        // Spawned from core 1, a task stays on core 1.
        let nested = netrt::spawn(async { netrt::current_core() }).await.unwrap();
        assert_eq!(nested, Some(1));
        (netrt::current_core(), thread::current().id())
    })
    .await
    .unwrap();
    assert_eq!(core, Some(1));
    assert_ne!(other_thread, main_thread);
    assert_eq!(netrt::current_core(), Some(0));
}

#[netrt::test(worker_threads = 2)]
async fn worker_threads_is_an_alias() {
    assert_eq!(Handle::current().cores(), 2);
}

#[netrt::test]
async fn returns_result_and_uses_question_mark() -> Result<(), io::Error> {
    let n = netrt::spawn(async { Ok::<u32, io::Error>(7) })
        .await
        .unwrap()?;
    assert_eq!(n, 7);
    let joined = netrt::spawn(async { 1 }).await.map_err(io::Error::other)?;
    assert_eq!(joined, 1);
    Ok(())
}

#[netrt::test]
async fn returns_impl_termination() -> impl std::process::Termination {
    let value = netrt::spawn(async { 5 }).await.unwrap();
    if value != 5 {
        return Err(io::Error::other("wrong value"));
    }
    Ok(())
}

#[netrt::test]
#[should_panic(expected = "the body's panic reaches the harness")]
async fn body_panic_fails_the_test() {
    netrt::yield_now().await;
    panic!("the body's panic reaches the harness");
}

/// `?` leaves the body with the error, converted to the declared type.
#[netrt::main(cores = 1)]
async fn parse_on_runtime(input: &'static str) -> Result<u32, Box<dyn std::error::Error>> {
    let n: u32 = netrt::spawn(async move { input.parse() }).await??;
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

#[test]
fn question_mark_and_return_leave_the_body() {
    assert_eq!(parse_on_runtime("12").unwrap(), 12);
    assert!(parse_on_runtime("x").is_err());
    assert_eq!(parse_on_runtime("0").unwrap_err().to_string(), "zero");
}

/// `#[netrt::main]` on a helper: it returns what the body returns, from a
/// runtime with `Builder::new()`'s default size that is gone afterwards.
#[netrt::main]
async fn default_runtime_cores() -> usize {
    assert_eq!(netrt::current_core(), Some(0));
    Handle::current().cores()
}

#[test]
fn main_defaults_to_all_available_cores() {
    let available = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(default_runtime_cores(), available);
    assert_eq!(netrt::current_core(), None);
    // A second runtime can be built on the same thread once the first is gone.
    assert_eq!(default_runtime_cores(), available);
}
