//! Turning `async fn f() -> R { body }` into a plain `fn f() -> R` that builds
//! a runtime and blocks on `body`.
//!
//! Whatever goes wrong, the user's function is still emitted (with `async`
//! removed and the body still wrapped and type-checked) next to the
//! `compile_error!`s: the user sees every error in one build, and
//! rust-analyzer keeps resolving names inside the body.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::{Attribute, FnArg, Meta, PatType, Signature};

use crate::args::{self, Config};
use crate::errors::Errors;
use crate::item::ItemFn;
use crate::output;

/// Which attribute is expanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[netrt::main]`: all cores unless told otherwise.
    Main,
    /// `#[netrt::test]`: one core unless told otherwise; adds `#[test]`.
    Test,
}

impl Kind {
    fn attr_name(self) -> &'static str {
        match self {
            Kind::Main => "#[netrt::main]",
            Kind::Test => "#[netrt::test]",
        }
    }

    fn default_cores(self) -> Option<usize> {
        match self {
            // `None` leaves it to `Builder::new()`: every available core.
            Kind::Main => None,
            Kind::Test => Some(1),
        }
    }
}

/// Expands `#[netrt::main(args)]` / `#[netrt::test(args)]` on `item`.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: ItemFn = match ItemFn::parse_for(kind.attr_name()).parse2(item.clone()) {
        Ok(func) => func,
        // Not a function at all: hand the item back untouched with the error.
        Err(e) => {
            let mut tokens = item;
            tokens.extend(e.into_compile_error());
            return tokens;
        }
    };

    let mut errors = Errors::default();
    let inputs_rejected = check_function(kind, &func, &mut errors);
    // Bad arguments fall back to the defaults, so the function still expands.
    let config = args::parse(args).unwrap_or_else(|e| {
        errors.push(e);
        Config::default()
    });
    // A second `#[test]` must not be doubled: the user's one stays.
    let emit_test_attr = kind == Kind::Test && !second_test_attr(&func, &mut errors);
    let stub_inputs = if inputs_rejected {
        inputs_to_stubs(&mut func.sig)
    } else {
        None
    };

    let mut tokens = generate(kind, &config, &func, emit_test_attr, stub_inputs);
    if let Err(e) = errors.finish() {
        tokens.extend(e.into_compile_error());
    }
    tokens
}

/// The checks on the function itself (the arguments are checked in `args`).
/// Returns whether the function's inputs were rejected.
fn check_function(kind: Kind, func: &ItemFn, errors: &mut Errors) -> bool {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    // A `#[netrt::main]` on some other function may take arguments: they are
    // moved into the body like any captured variable.
    let takes_no_args = match kind {
        Kind::Main if sig.ident == "main" => Some("the main function cannot accept arguments"),
        Kind::Main => None,
        Kind::Test => Some("the test function cannot accept arguments"),
    };
    match takes_no_args {
        Some(msg) if !sig.inputs.is_empty() => {
            errors.push(syn::Error::new_spanned(&sig.inputs, msg));
            true
        }
        _ => false,
    }
}

/// Error recovery for rejected inputs: drops them from the signature (so
/// rustc does not add "`main` function has wrong type" to our error) and
/// returns `let` statements that declare them with their types, so the body
/// still type-checks. The value is a `None.unwrap()` rather than a diverging
/// `unreachable!()` so that uses in the body still count as uses (the code
/// never runs: the build has already failed). `None` (inputs kept) when an
/// input cannot become a `let`: a `self` receiver, or an `impl Trait` type.
fn inputs_to_stubs(sig: &mut Signature) -> Option<TokenStream> {
    let mut stubs = TokenStream::new();
    for input in &sig.inputs {
        match input {
            FnArg::Typed(PatType { pat, ty, .. }) if output::nameable_in_let(ty) => {
                stubs.extend(quote!(let #pat: #ty = ::core::option::Option::None.unwrap();));
            }
            _ => return None,
        }
    }
    sig.inputs.clear();
    Some(stubs)
}

/// Whether a `#[netrt::test]` function also carries `#[test]` (reported as
/// an error: the harness would run it twice).
fn second_test_attr(func: &ItemFn, errors: &mut Errors) -> bool {
    let Some(attr) = func.outer_attrs.iter().find(|a| is_test_attr(a)) else {
        return false;
    };
    errors.push(syn::Error::new_spanned(
        attr,
        "second test attribute is supplied; `#[netrt::test]` already adds `#[test]`",
    ));
    true
}

/// `#[test]`, or its full path `#[::core::prelude::v1::test]` (also `std`,
/// any edition).
fn is_test_attr(attr: &Attribute) -> bool {
    let Meta::Path(path) = &attr.meta else {
        return false;
    };
    let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    match segs.as_slice() {
        [test] => path.leading_colon.is_none() && test == "test",
        [krate, prelude, _, test] => {
            (krate == "core" || krate == "std") && prelude == "prelude" && test == "test"
        }
        _ => false,
    }
}

fn generate(
    kind: Kind,
    config: &Config,
    func: &ItemFn,
    emit_test_attr: bool,
    stub_inputs: Option<TokenStream>,
) -> TokenStream {
    let ItemFn {
        outer_attrs,
        vis,
        sig,
        inner_attrs,
        ..
    } = func;
    let mut sig = sig.clone();
    sig.asyncness = None;

    let krate = config
        .crate_path
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::netrt));
    let cores = match (&config.cores, kind.default_cores()) {
        (Some(cores), _) => {
            let n = cores.literal();
            quote_spanned!(cores.span=> .cores(#n))
        }
        (None, Some(n)) => {
            let n = syn::LitInt::new(&n.to_string(), Span::call_site());
            quote!(.cores(#n))
        }
        (None, None) => TokenStream::new(),
    };
    let test_attr = emit_test_attr.then(|| quote!(#[::core::prelude::v1::test]));
    let pin_output = output::pin(&sig);
    let block = func.block();

    quote! {
        #test_attr
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #stub_inputs
            let body = async move {
                #pin_output
                #block
            };
            #krate::runtime::Builder::new()
                #cores
                .build()
                .expect("failed to build the netrt runtime")
                .block_on(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn expand_fn(kind: Kind, args: TokenStream, item: TokenStream) -> (syn::ItemFn, Vec<String>) {
        let out = expand(kind, args, item);
        let file: syn::File = syn::parse2(out).expect("expansion is not valid Rust");
        let mut func = None;
        let mut errors = Vec::new();
        for item in file.items {
            match item {
                syn::Item::Fn(f) => func = Some(f),
                syn::Item::Macro(m)
                    if m.mac.path.segments.last().unwrap().ident == "compile_error" =>
                {
                    let msg: syn::LitStr = m.mac.parse_body().unwrap();
                    errors.push(msg.value());
                }
                other => panic!("unexpected item {}", other.to_token_stream()),
            }
        }
        (func.expect("no function emitted"), errors)
    }

    fn text(tokens: &impl ToTokens) -> String {
        tokens.to_token_stream().to_string()
    }

    #[test]
    fn main_keeps_signature_and_defaults_cores() {
        let (f, errors) = expand_fn(
            Kind::Main,
            quote!(),
            quote! {
                /// docs
                #[allow(unused)]
                pub async fn main() -> std::io::Result<()> { #![allow(dead_code)] Ok(()) }
            },
        );
        assert!(errors.is_empty());
        assert!(f.sig.asyncness.is_none());
        assert_eq!(f.sig.ident, "main");
        assert_eq!(text(&f.sig.output), "-> std :: io :: Result < () >");
        assert!(matches!(f.vis, syn::Visibility::Public(_)));
        let attrs: Vec<String> = f.attrs.iter().map(text).collect();
        assert_eq!(
            attrs,
            [
                "# [doc = r\" docs\"]",
                "# [allow (unused)]",
                "# ! [allow (dead_code)]"
            ]
        );
        let body = text(&f.block);
        assert!(body.contains("let body = async move"), "{body}");
        assert!(
            body.contains(":: netrt :: runtime :: Builder :: new () . build ()"),
            "{body}"
        );
        assert!(!body.contains(". cores"), "{body}");
        assert!(body.contains(". block_on (body)"), "{body}");
        assert!(
            body.contains("let __netrt_output : std :: io :: Result < () >"),
            "{body}"
        );
    }

    #[test]
    fn test_adds_test_attr_and_one_core() {
        let (f, errors) = expand_fn(
            Kind::Test,
            quote!(),
            quote!(
                #[should_panic]
                async fn t() {}
            ),
        );
        assert!(errors.is_empty());
        let attrs: Vec<String> = f.attrs.iter().map(text).collect();
        assert_eq!(
            attrs,
            ["# [:: core :: prelude :: v1 :: test]", "# [should_panic]"]
        );
        assert!(text(&f.block).contains(". cores (1)"));
    }

    #[test]
    fn arguments_reach_the_builder() {
        let (f, errors) = expand_fn(
            Kind::Test,
            quote!(cores = 2, crate = "renamed"),
            quote!(
                async fn t() {}
            ),
        );
        assert!(errors.is_empty());
        let body = text(&f.block);
        assert!(
            body.contains("renamed :: runtime :: Builder :: new () . cores (2)"),
            "{body}"
        );
        let (f, _) = expand_fn(
            Kind::Main,
            quote!(worker_threads = 3),
            quote!(
                async fn main() {}
            ),
        );
        assert!(text(&f.block).contains(". cores (3)"));
    }

    #[test]
    fn errors_still_emit_the_function() {
        let (f, errors) = expand_fn(
            Kind::Main,
            quote!(cores = 0),
            quote!(
                fn main(x: u8) {
                    let _ = x;
                }
            ),
        );
        assert_eq!(
            errors,
            [
                "the `async` keyword is missing from the function declaration",
                "the main function cannot accept arguments",
                "`cores` must be greater than 0",
            ]
        );
        assert!(f.sig.asyncness.is_none());
        // The rejected input became a local of the same type.
        assert!(f.sig.inputs.is_empty());
        assert!(f.attrs.is_empty());
        let body = text(&f.block);
        assert!(
            body.starts_with(
                "{ let x : u8 = :: core :: option :: Option :: None . unwrap () ; let body"
            ),
            "{body}"
        );
        assert!(
            body.contains(":: netrt :: runtime :: Builder :: new () . build ()"),
            "{body}"
        );
    }

    #[test]
    fn non_main_functions_may_take_arguments() {
        let (f, errors) = expand_fn(
            Kind::Main,
            quote!(),
            quote!(
                async fn serve(port: u16) {}
            ),
        );
        assert!(errors.is_empty());
        assert_eq!(text(&f.sig.inputs), "port : u16");
    }

    #[test]
    fn rejected_test_inputs_become_locals() {
        let (f, errors) = expand_fn(
            Kind::Test,
            quote!(),
            quote!(
                async fn t((a, b): (u8, u8)) {}
            ),
        );
        assert_eq!(errors, ["the test function cannot accept arguments"]);
        assert!(f.sig.inputs.is_empty());
        let body = text(&f.block);
        assert!(
            body.starts_with("{ let (a , b) : (u8 , u8) = :: core :: option :: Option :: None"),
            "{body}"
        );
        // Not expressible as a `let`: the inputs stay, only the error is added.
        let (f, errors) = expand_fn(
            Kind::Test,
            quote!(),
            quote!(
                async fn t(x: impl Sized) {}
            ),
        );
        assert_eq!(errors, ["the test function cannot accept arguments"]);
        assert_eq!(f.sig.inputs.len(), 1);
    }

    #[test]
    fn second_test_attribute() {
        for attr in [
            quote!(#[test]),
            quote!(#[::core::prelude::v1::test]),
            quote!(#[std::prelude::rust_2021::test]),
        ] {
            let (f, errors) = expand_fn(Kind::Test, quote!(), quote!(#attr async fn t() {}));
            assert_eq!(
                errors,
                ["second test attribute is supplied; `#[netrt::test]` already adds `#[test]`"]
            );
            assert_eq!(f.attrs.len(), 1, "the test attribute must not be doubled");
        }
        // `#[test]` under `#[netrt::main]` is the user's business.
        let (_, errors) = expand_fn(
            Kind::Main,
            quote!(),
            quote!(
                #[test]
                async fn t() {}
            ),
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn not_a_function_is_returned_with_the_error() {
        let out = expand(
            Kind::Main,
            quote!(),
            quote!(
                struct S;
            ),
        );
        let text = out.to_string();
        assert!(text.starts_with("struct S ;"), "{text}");
        assert!(
            text.contains("`#[netrt::main]` can only be applied to an `async fn`"),
            "{text}"
        );
    }

    #[test]
    fn body_with_syntax_errors_still_expands() {
        let out = expand(Kind::Main, quote!(), quote!(async fn main() { let = ; }));
        let text = out.to_string();
        assert!(text.contains("let body = async move"), "{text}");
        assert!(text.contains("let = ;"), "{text}");
        assert!(!text.contains("compile_error"), "{text}");
    }
}
