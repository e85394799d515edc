// `crate = "..."` names the runtime crate when it is not `::netrt`.
use netrt as renamed;

#[renamed::main(crate = "renamed")]
async fn main() {
    assert_eq!(async { "renamed" }.await, "renamed");
}
