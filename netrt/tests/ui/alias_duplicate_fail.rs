#[netrt::main(cores = 2, worker_threads = 4)]
async fn main() {}
