// `?` converts into the declared error type, and the error points at the `?`.
#[netrt::main]
async fn main() -> Result<(), std::io::Error> {
    let port: u16 = "8080".parse()?;
    let _ = port;
    Ok(())
}
