const CORES: usize = 4;

#[netrt::main(cores = CORES)]
async fn main() {}
