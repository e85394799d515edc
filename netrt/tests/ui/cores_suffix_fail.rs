#[netrt::main(cores = 4u8)]
async fn main() {}
