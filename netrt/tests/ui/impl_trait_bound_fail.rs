// An `impl Trait` return cannot be pinned ahead of the body: a body value
// that does not implement the trait is reported at the signature.
#[netrt::main]
async fn main() -> impl std::process::Termination {
    5u8
}
