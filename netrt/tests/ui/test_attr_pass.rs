// `#[netrt::test]` forms. Outside `cargo test` the `#[test]` functions are
// compiled out; their bodies are exercised by `tests/macro_runtime.rs`.
#[netrt::test]
async fn plain() {}

#[netrt::test(cores = 2)]
async fn returns_result() -> Result<(), std::io::Error> {
    Ok(())
}

#[netrt::test]
#[should_panic(expected = "boom")]
async fn panics() {
    panic!("boom");
}

fn main() {}
