#[netrt::main]
struct Main;

fn main() {}
