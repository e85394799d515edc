//! HTTP/1.1 server: see `http --help` and [`netrt_examples::httpd`].

fn main() -> std::process::ExitCode {
    netrt_examples::args::main::<netrt_examples::httpd::Http>()
}
