//! Pinning the output type of the body's `async move` block.
//!
//! An `async` block has no place for a return type: its output is inferred,
//! and rustc does not take it from the `Future<Output = R>` that the block is
//! later required to satisfy. Inference alone would break what an
//! `async fn main() -> R` allows: `?` needs the error type when it checks the
//! `From` conversion, and `return Box::new(x)` must coerce to `Box<dyn T>`
//! while it is checked, not afterwards.
//!
//! So the block starts with a dead `return` of a value of type `R`. Type
//! checking walks the block in order, so that `return` fixes the block's
//! output before any of the user's code is seen, and every later `return` and
//! the tail coerce to `R` exactly as in an `async fn`. The branch is
//! `if false`, so it costs nothing at run time.
//!
//! The dead code carries the span of the declared return type, so a
//! mismatch notes "return type inferred to be `R` here" at the signature.
//!
//! `impl Trait` cannot be named in a `let`, so each one becomes `_`: its
//! concrete type still comes from the body, and the parts of `R` around it
//! (the `io::Error` of `Result<impl Debug, io::Error>`) are still pinned.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{ReturnType, Signature, Token, Type, TypeInfer};

/// The statement that pins the body's output to the return type of `sig`,
/// or nothing when the type cannot be written in a `let` (it is or contains
/// `!`, or it has `impl Trait` where `_` is not allowed) or would be just `_`.
pub(crate) fn pin(sig: &Signature) -> Option<TokenStream> {
    let (mut ty, span) = match &sig.output {
        // Where rustc points for a default `()` return: after the inputs.
        ReturnType::Default => {
            let span = sig.paren_token.span.close();
            (syn::parse_quote_spanned!(span=> ()), span)
        }
        ReturnType::Type(_, ty) => ((**ty).clone(), ty.span()),
    };
    let mut infer = InferImplTrait::default();
    infer.visit_type_mut(&mut ty);
    if infer.unpinnable || matches!(ty, Type::Infer(_)) {
        return None;
    }
    Some(quote_spanned! {span=>
        #[allow(unreachable_code, clippy::diverging_sub_expression)]
        if false {
            let __netrt_output: #ty = ::core::unreachable!();
            return __netrt_output;
        }
    })
}

/// Whether `ty` can be written as the type of a `let` as it is: it has no
/// `impl Trait` and no `!`.
pub(crate) fn nameable_in_let(ty: &Type) -> bool {
    let mut infer = InferImplTrait::default();
    infer.visit_type_mut(&mut ty.clone());
    !(infer.replaced || infer.unpinnable)
}

/// Replaces `impl Trait` with `_`; notes types that cannot be pinned.
#[derive(Default)]
struct InferImplTrait {
    /// Depth inside `dyn Trait` bounds and `fn(..)` types, where `_` is not
    /// accepted.
    no_infer_depth: usize,
    /// An `impl Trait` became `_`.
    replaced: bool,
    unpinnable: bool,
}

impl VisitMut for InferImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        match ty {
            Type::ImplTrait(it) if self.no_infer_depth == 0 => {
                let span = it.impl_token.span;
                self.replaced = true;
                *ty = Type::Infer(TypeInfer {
                    underscore_token: Token![_](span),
                });
            }
            // `!` in a `let` is unstable; `_` is not accepted in `dyn`/`fn`.
            Type::ImplTrait(_) | Type::Never(_) => self.unpinnable = true,
            Type::TraitObject(_) | Type::BareFn(_) => {
                self.no_infer_depth += 1;
                visit_mut::visit_type_mut(self, ty);
                self.no_infer_depth -= 1;
            }
            _ => visit_mut::visit_type_mut(self, ty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn pinned(output: ReturnType) -> Option<String> {
        let mut sig: Signature = parse_quote!(fn f());
        sig.output = output;
        let tokens = pin(&sig)?;
        let stmt: syn::Stmt = syn::parse2(tokens).unwrap();
        let syn::Stmt::Expr(syn::Expr::If(expr), None) = stmt else {
            panic!("not an if statement");
        };
        let syn::Stmt::Local(local) = &expr.then_branch.stmts[0] else {
            panic!("no let");
        };
        let syn::Pat::Type(pat) = &local.pat else {
            panic!("untyped let");
        };
        Some(quote::ToTokens::to_token_stream(&pat.ty).to_string())
    }

    #[test]
    fn concrete_types_are_pinned_as_written() {
        assert_eq!(pinned(ReturnType::Default).as_deref(), Some("()"));
        assert_eq!(
            pinned(parse_quote!(-> Result<(), std::io::Error>)).as_deref(),
            Some("Result < () , std :: io :: Error >")
        );
        assert_eq!(
            pinned(parse_quote!(-> Box<dyn std::error::Error>)).as_deref(),
            Some("Box < dyn std :: error :: Error >")
        );
    }

    #[test]
    fn impl_trait_becomes_infer() {
        assert_eq!(pinned(parse_quote!(-> impl std::fmt::Debug)), None);
        assert_eq!(
            pinned(parse_quote!(-> Result<impl Sized, std::io::Error>)).as_deref(),
            Some("Result < _ , std :: io :: Error >")
        );
        assert_eq!(
            pinned(parse_quote!(-> (impl Sized, u8))).as_deref(),
            Some("(_ , u8)")
        );
    }

    #[test]
    fn nameable_in_let() {
        assert!(super::nameable_in_let(&parse_quote!(
            Vec<(u8, &'static str)>
        )));
        assert!(!super::nameable_in_let(&parse_quote!(impl Sized)));
        assert!(!super::nameable_in_let(&parse_quote!(Option<impl Sized>)));
        assert!(!super::nameable_in_let(&parse_quote!(Result<!, u8>)));
    }

    #[test]
    fn unnameable_types_are_not_pinned() {
        assert_eq!(pinned(parse_quote!(-> !)), None);
        assert_eq!(pinned(parse_quote!(-> Result<!, u8>)), None);
        assert_eq!(
            pinned(parse_quote!(-> Box<dyn Iterator<Item = impl Sized>>)),
            None
        );
    }
}
