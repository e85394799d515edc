// `main` returning `Result<(), std::io::Error>`; `?` converts into the
// declared error type.
use std::io;

async fn parse_port(s: &str) -> Result<u16, std::num::ParseIntError> {
    s.parse()
}

#[netrt::main]
async fn main() -> Result<(), std::io::Error> {
    let port = parse_port("8080")
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    assert_eq!(port, 8080);
    std::fs::metadata("/")?;
    if port == 0 {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    Ok(())
}
