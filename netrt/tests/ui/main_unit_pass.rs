// The plain form: `async fn main()` with `.await`, inner attributes and an
// early `return` (which leaves the body, not some inner closure).
#[netrt::main]
async fn main() {
    #![allow(unused_variables)]
    let unused = 1;
    // The body is core 0's main task; `Builder::new()` sized the runtime.
    assert_eq!(netrt::current_core(), Some(0));
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(netrt::runtime::Handle::current().cores(), available);
    let answer = netrt::spawn(async { 41 }).await.unwrap() + 1;
    assert_eq!(answer, 42);
    if answer == 42 {
        return;
    }
    unreachable!("`return` did not leave the body");
}
