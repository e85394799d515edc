//! The README's first example: tasks spread over two cores, each sleeping
//! on its core's timer wheel, joined in order.

#[netrt::main(cores = 2)]
async fn main() {
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            netrt::spawn_on(i as usize % 2, async move {
                netrt::time::sleep(std::time::Duration::from_millis(10 * i)).await;
                (i, netrt::current_core())
            })
        })
        .collect();
    for h in handles {
        let (i, core) = h.await.expect("task panicked");
        println!("task {i} finished on core {core:?}");
    }
}
