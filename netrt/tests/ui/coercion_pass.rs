// `return` and the tail coerce to the declared type, as in an `async fn`.
use std::fmt::Debug;

#[netrt::main]
async fn boxed(small: bool) -> Box<dyn Debug> {
    if small {
        return Box::new(1u8);
    }
    Box::new("big")
}

// `#[netrt::main]` on a function other than `main` may take arguments.
#[netrt::main(cores = 1)]
async fn describe(name: String, n: u32) -> &'static str {
    assert_eq!(name, "cores");
    if n == 1 {
        "one"
    } else {
        "many"
    }
}

fn main() {
    assert_eq!(format!("{:?}", boxed(true)), "1");
    assert_eq!(format!("{:?}", boxed(false)), "\"big\"");
    assert_eq!(describe("cores".to_owned(), 1), "one");
}
