// The body's value is checked against the declared return type, at the
// user's expression, as in a plain `fn`.
#[netrt::main]
async fn count() -> u8 {
    if std::env::args().count() > 10 {
        return "many";
    }
    0
}

fn main() {
    let _ = count();
}
