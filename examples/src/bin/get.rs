//! HTTP/1.1 client: see `get --help` and [`netrt_examples::get`].

fn main() -> std::process::ExitCode {
    netrt_examples::args::main::<netrt_examples::get::Get>()
}
