// `crate = "..."` names the runtime crate when it is not `::netrt`.
use netrt as renamed;

#[renamed::main(crate = "renamed")]
async fn main() {
    assert_eq!(renamed::current_core(), Some(0));
}
