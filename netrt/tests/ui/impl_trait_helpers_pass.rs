// `impl Trait` in other positions of the return type: the named parts
// around an `impl Trait` (the `io::Error` below) still guide `?`.
use std::fmt::Debug;
use std::io;

#[netrt::main]
async fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[netrt::main]
async fn checked() -> Result<impl Debug, io::Error> {
    std::fs::metadata("/")?;
    Ok(vec![1, 2])
}

fn main() {
    assert_eq!(evens(7).collect::<Vec<_>>(), [0, 2, 4, 6]);
    assert_eq!(format!("{:?}", checked().unwrap()), "[1, 2]");
}
