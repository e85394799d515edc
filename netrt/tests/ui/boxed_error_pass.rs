// `Result<(), Box<dyn Error>>`: `?` on two different error types and an
// early `return Err("...".into())` all convert into the declared type, which
// needs the body's output type to be known before the body is checked.
use std::error::Error;

#[netrt::main]
async fn parse(s: &str) -> Result<u32, Box<dyn Error>> {
    let n: u32 = s.parse()?;
    std::fs::metadata("/")?;
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

#[netrt::main]
async fn main() -> Result<(), Box<dyn Error>> {
    assert_eq!(parse("7")?, 7);
    assert_eq!(parse("0").unwrap_err().to_string(), "zero");
    assert!(parse("x").is_err());
    Ok(())
}
