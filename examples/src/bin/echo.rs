//! TCP and UDP echo server: see `echo --help` and [`netrt_examples::echo`].

fn main() -> std::process::ExitCode {
    netrt_examples::args::main::<netrt_examples::echo::Echo>()
}
