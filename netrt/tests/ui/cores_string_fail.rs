#[netrt::main(cores = "4")]
async fn main() {}
