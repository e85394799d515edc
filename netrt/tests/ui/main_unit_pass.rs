// The plain form: `async fn main()` with `.await`, inner attributes and an
// early `return` (which leaves the body, not some inner closure).
#[netrt::main]
async fn main() {
    #![allow(unused_variables)]
    let unused = 1;
    let answer = async { 41 }.await + 1;
    assert_eq!(answer, 42);
    if answer == 42 {
        return;
    }
    unreachable!("`return` did not leave the body");
}
