//! `#[netrt::main]` and `#[netrt::test]`: run an `async fn` on a netrt
//! runtime.
//!
//! Use them through the `netrt` crate, which re-exports both; the expansion
//! names `::netrt::runtime::Builder` (see the `crate` argument when `netrt` is
//! renamed).

#![warn(missing_docs)]

mod args;
mod errors;
mod expand;
mod item;
mod output;

use proc_macro::TokenStream;

use crate::expand::Kind;

/// Runs an `async fn main` on a netrt runtime.
///
/// ```text
/// #[netrt::main]
/// async fn main() -> std::io::Result<()> {
///     // ...
///     Ok(())
/// }
/// ```
///
/// becomes a plain `fn main() -> std::io::Result<()>` that builds a runtime
/// with `netrt::runtime::Builder::new()` (all available cores), blocks on the
/// body and returns its value. The function keeps its attributes, visibility
/// and return type; `?`, `return` and `impl Trait` returns behave as in the
/// `async fn`.
///
/// Arguments:
/// - `cores = N` (alias `worker_threads = N`): run on `N > 0` cores;
/// - `crate = "path"`: where the `netrt` crate is, when it is renamed.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on its own netrt runtime.
///
/// ```text
/// #[netrt::test(cores = 2)]
/// async fn echoes() {
///     // ...
/// }
/// ```
///
/// Like [`macro@main`], plus `#[test]`; each test builds its own runtime,
/// with one core unless `cores = N` says otherwise. Do not add `#[test]`
/// yourself.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Test, args.into(), item.into()).into()
}
