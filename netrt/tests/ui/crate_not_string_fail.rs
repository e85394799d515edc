#[netrt::main(crate = netrt)]
async fn main() {}
