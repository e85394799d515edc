// `worker_threads` is an alias of `cores`, for those coming from tokio.
#[netrt::main(worker_threads = 1)]
async fn main() {
    assert_eq!(netrt::runtime::Handle::current().cores(), 1);
}
