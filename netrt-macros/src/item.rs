//! The annotated function, parsed only as deep as the macros need.
//!
//! The body stays an unparsed token stream: the expansion only moves it, so a
//! syntax error inside it is reported by rustc in place while the attribute
//! still expands (which keeps rust-analyzer useful while the user types).

use proc_macro2::{Delimiter, Group, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{braced, token, Attribute, Signature, Visibility};

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

impl Parse for ItemFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
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
}

impl ItemFn {
    /// The body (without its inner attributes) as a block with the user's
    /// brace spans.
    pub(crate) fn block(&self) -> Group {
        let mut block = Group::new(Delimiter::Brace, self.body.clone());
        block.set_span(self.brace.span.join());
        block
    }
}
