#[netrt::main]
fn main() {}
