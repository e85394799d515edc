#[netrt::main(cores = 2, cores = 4)]
async fn main() {}
