#[netrt::main(cores = 2)]
async fn main() {
    assert_eq!(netrt::runtime::Handle::current().cores(), 2);
    let core = netrt::spawn_on(1, async { netrt::current_core() })
        .await
        .unwrap();
    assert_eq!(core, Some(1));
}
