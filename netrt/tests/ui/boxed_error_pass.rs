// `Result<_, Box<dyn Error>>`: `?` on two different error types and an
// early `return Err("...".into())` all convert into the declared type.
use std::error::Error;

#[netrt::main]
async fn parse(s: &'static str) -> Result<u32, Box<dyn Error>> {
    let n: u32 = netrt::spawn(async move { s.parse() }).await??;
    std::fs::metadata("/")?;
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

// A `#[netrt::main]` function builds its own runtime, so it is called from
// outside any runtime.
fn main() -> Result<(), Box<dyn Error>> {
    assert_eq!(parse("7")?, 7);
    assert_eq!(parse("0").unwrap_err().to_string(), "zero");
    assert!(parse("x").is_err());
    Ok(())
}
