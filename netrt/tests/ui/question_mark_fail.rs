// `?` converts into the declared error type, and the error points at the `?`.
#[derive(Debug)]
struct AppError;

impl From<std::io::Error> for AppError {
    fn from(_: std::io::Error) -> Self {
        AppError
    }
}

#[netrt::main]
async fn run() -> Result<(), AppError> {
    std::fs::metadata("/")?;
    let port: u16 = "8080".parse()?;
    let _ = port;
    Ok(())
}

fn main() {
    let _ = run();
}
