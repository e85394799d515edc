#[netrt::main(cores = 2)]
async fn main() {
    assert_eq!(async { 2 }.await, 2);
}
