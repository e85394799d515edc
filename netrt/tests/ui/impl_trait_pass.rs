// `async fn main() -> impl Termination`: the body's concrete type is the
// hidden type, and `return` in the body returns it.
use std::process::{ExitCode, Termination};

#[netrt::main]
async fn main() -> impl Termination {
    let core = netrt::spawn(async { netrt::current_core() }).await.unwrap();
    if core != Some(0) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
