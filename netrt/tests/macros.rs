//! Compile-time behaviour of `#[netrt::main]` and `#[netrt::test]`: each
//! `ui/*_fail.rs` must fail with exactly the committed `.stderr`, each
//! `ui/*_pass.rs` must build and run. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p netrt --test macros` and review them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*_fail.rs");
    t.pass("tests/ui/*_pass.rs");
}
