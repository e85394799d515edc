//! The annotated function, parsed only as deep as the macros need.
//!
//! The body stays an unparsed token stream: the expansion only moves it, so a
//! syntax error inside it is reported by rustc in place while the attribute
//! still expands (which keeps rust-analyzer useful while the user types).

use proc_macro2::{Delimiter, Group, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{braced, token, Attribute, Signature, Token, Visibility};

/// `#[attrs] vis sig { #![inner] body }`.
pub(crate) struct ItemFn {
    pub outer_attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    pub brace: token::Brace,
    /// `#![...]` at the top of the body; they move to the generated fn,
    /// because an async block does not accept inner attributes.
    pub inner_attrs: Vec<Attribute>,
    pub body: TokenStream,
}

impl ItemFn {
    /// A parser for the item under the attribute `attr` (named in the error
    /// when the item is not a function).
    pub(crate) fn parse_for(attr: &'static str) -> impl Parser<Output = ItemFn> {
        move |input: ParseStream| ItemFn::parse(attr, input)
    }

    fn parse(attr: &str, input: ParseStream) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        // The tokens a function signature can start with.
        let is_fn = input.peek(Token![fn])
            || input.peek(Token![async])
            || input.peek(Token![const])
            || input.peek(Token![unsafe])
            || input.peek(Token![extern]);
        if !is_fn {
            return Err(input.error(format!("`{attr}` can only be applied to an `async fn`")));
        }
        let sig = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body = content.parse()?;
        Ok(ItemFn {
            outer_attrs,
            vis,
            sig,
            brace,
            inner_attrs,
            body,
        })
    }

    /// The body (without its inner attributes) as a block with the user's
    /// brace spans.
    pub(crate) fn block(&self) -> Group {
        let mut block = Group::new(Delimiter::Brace, self.body.clone());
        block.set_span(self.brace.span.join());
        block
    }
}
