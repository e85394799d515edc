//! `#[netrt::main]` and `#[netrt::test]`.
