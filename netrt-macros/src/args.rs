//! The attribute's arguments: `cores = N` (alias `worker_threads = N`) and
//! `crate = "path"`.
//!
//! Parsing is two-step: first the syntax (`name [= expr], ...`), then each
//! argument is checked on its own so that every mistake in one attribute is
//! reported at once, each with its own span.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitInt, Path, Token};

use crate::errors::Errors;

/// The names an argument may have, in the order error messages list them.
const KNOWN: &str = "`cores`, `worker_threads`, `crate`";

/// What the attribute's arguments asked for.
#[derive(Default)]
pub(crate) struct Config {
    /// `cores = N`: the number of worker threads, always > 0.
    pub cores: Option<Cores>,
    /// `crate = "path"`: where the `netrt` crate lives, if renamed.
    pub crate_path: Option<Path>,
}

/// A validated `cores = N`.
pub(crate) struct Cores {
    pub count: usize,
    /// The literal's span, so a type error in the builder call lands on it.
    pub span: Span,
}

/// Parses `args` (the tokens inside `#[netrt::main(...)]`).
pub(crate) fn parse(args: TokenStream) -> syn::Result<Config> {
    let parsed = Punctuated::<Arg, Token![,]>::parse_terminated.parse2(args)?;

    let mut config = Config::default();
    // The first name under which `cores` was given, to word the duplicate error.
    let mut cores_name: Option<String> = None;
    let mut crate_seen = false;
    let mut errors = Errors::default();

    for arg in parsed {
        let name = arg.name.to_string();
        match name.as_str() {
            "cores" | "worker_threads" => {
                if let Some(first) = &cores_name {
                    errors.push(duplicate(&arg.name, first));
                    continue;
                }
                cores_name = Some(name.clone());
                match arg.value(&name).and_then(|v| cores(&name, v)) {
                    Ok(cores) => config.cores = Some(cores),
                    Err(e) => errors.push(e),
                }
            }
            "crate" => {
                if crate_seen {
                    errors.push(duplicate(&arg.name, "crate"));
                    continue;
                }
                crate_seen = true;
                match arg.value(&name).and_then(crate_path) {
                    Ok(path) => config.crate_path = Some(path),
                    Err(e) => errors.push(e),
                }
            }
            _ => errors.push(syn::Error::new(
                arg.name.span(),
                format!("unknown attribute `{name}` is specified; expected one of: {KNOWN}"),
            )),
        }
    }
    errors.finish()?;
    Ok(config)
}

/// One `name` or `name = value` (or a malformed `name(...)`) argument.
struct Arg {
    /// Parsed with `parse_any` so that the keyword `crate` is a valid name.
    name: Ident,
    value: Option<Expr>,
    /// Tokens after the name that are neither `= value` nor nothing, e.g. the
    /// `(4)` of `cores(4)`; kept only to point an error at them.
    stray: Option<TokenStream>,
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.call(Ident::parse_any)?;
        let mut arg = Arg {
            name,
            value: None,
            stray: None,
        };
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            arg.value = Some(input.parse()?);
        } else if !input.is_empty() && !input.peek(Token![,]) {
            // Swallow up to the next comma so one malformed argument does not
            // hide errors in the ones after it.
            let mut stray = TokenStream::new();
            while !input.is_empty() && !input.peek(Token![,]) {
                stray.extend(std::iter::once(input.parse::<proc_macro2::TokenTree>()?));
            }
            arg.stray = Some(stray);
        }
        Ok(arg)
    }
}

impl Arg {
    /// The `value` of `name = value`, or an error showing the expected form.
    fn value(self, name: &str) -> syn::Result<Expr> {
        let example = example(name);
        match (self.value, self.stray) {
            (Some(value), _) => Ok(value),
            (None, Some(stray)) => Err(syn::Error::new_spanned(
                stray,
                format!("expected `=` after `{name}`, as in `{example}`"),
            )),
            (None, None) => Err(syn::Error::new(
                self.name.span(),
                format!("`{name}` needs a value, as in `{example}`"),
            )),
        }
    }
}

fn example(name: &str) -> String {
    match name {
        "crate" => "crate = \"netrt\"".to_owned(),
        _ => format!("{name} = 4"),
    }
}

fn duplicate(name: &Ident, first: &str) -> syn::Error {
    let msg = match (first, name.to_string().as_str()) {
        (a, b) if a == b => format!("the `{a}` attribute is specified twice"),
        _ => "the `cores` attribute is specified twice (`worker_threads` is an alias of `cores`)"
            .to_owned(),
    };
    syn::Error::new(name.span(), msg)
}

/// Checks the value of `cores = N`: a positive, unsuffixed (or `usize`)
/// integer literal.
fn cores(name: &str, value: Expr) -> syn::Result<Cores> {
    let lit = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => lit,
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) if s.value().trim().parse::<usize>().is_ok() => {
            return Err(syn::Error::new(
                s.span(),
                format!(
                    "`{name}` takes an integer literal, not a string: write `{name} = {}`",
                    s.value().trim()
                ),
            ));
        }
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{name}` takes a positive integer literal, as in `{name} = 4`"),
            ));
        }
    };
    if !matches!(lit.suffix(), "" | "usize") {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{name}` is a `usize`: drop the `{}` suffix", lit.suffix()),
        ));
    }
    let count: usize = lit.base10_parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!("`{name}` is too large to be a number of cores"),
        )
    })?;
    if count == 0 {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{name}` must be greater than 0"),
        ));
    }
    Ok(Cores {
        count,
        span: lit.span(),
    })
}

/// Checks the value of `crate = "path"`: a string literal holding a path.
fn crate_path(value: Expr) -> syn::Result<Path> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse::<Path>().map_err(|_| {
            syn::Error::new(
                s.span(),
                format!(
                    "`crate` must be a path, as in `crate = \"netrt\"`; `{}` is not one",
                    s.value()
                ),
            )
        }),
        other => Err(syn::Error::new_spanned(
            other,
            "`crate` takes a string literal, as in `crate = \"netrt\"`",
        )),
    }
}

impl Cores {
    /// The count as an unsuffixed literal carrying the user's span, so it
    /// fits whatever integer type `Builder::cores` takes.
    pub(crate) fn literal(&self) -> LitInt {
        LitInt::new(&self.count.to_string(), self.span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn err(args: TokenStream) -> String {
        match parse(args) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn empty_is_default() {
        let c = parse(quote!()).unwrap();
        assert!(c.cores.is_none());
        assert!(c.crate_path.is_none());
    }

    #[test]
    fn cores_and_alias() {
        assert_eq!(parse(quote!(cores = 2)).unwrap().cores.unwrap().count, 2);
        assert_eq!(
            parse(quote!(worker_threads = 7))
                .unwrap()
                .cores
                .unwrap()
                .count,
            7
        );
        assert_eq!(
            parse(quote!(cores = 3usize,)).unwrap().cores.unwrap().count,
            3
        );
        let lit = parse(quote!(cores = 3usize))
            .unwrap()
            .cores
            .unwrap()
            .literal();
        assert_eq!(lit.to_string(), "3");
    }

    #[test]
    fn crate_path_parses() {
        let c = parse(quote!(crate = "::my::netrt", cores = 1)).unwrap();
        let path = c.crate_path.unwrap();
        assert!(path.leading_colon.is_some());
        let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        assert_eq!(segs, ["my", "netrt"]);
        assert_eq!(c.cores.unwrap().count, 1);
    }

    #[test]
    fn zero_cores() {
        assert_eq!(err(quote!(cores = 0)), "`cores` must be greater than 0");
        assert_eq!(
            err(quote!(worker_threads = 0)),
            "`worker_threads` must be greater than 0"
        );
    }

    #[test]
    fn bad_cores_values() {
        assert_eq!(
            err(quote!(cores = "4")),
            "`cores` takes an integer literal, not a string: write `cores = 4`"
        );
        for bad in [
            quote!(cores = "many"),
            quote!(cores = -1),
            quote!(cores = 2.5),
            quote!(cores = n),
        ] {
            assert_eq!(
                err(bad),
                "`cores` takes a positive integer literal, as in `cores = 4`"
            );
        }
        assert_eq!(
            err(quote!(cores = 4u8)),
            "`cores` is a `usize`: drop the `u8` suffix"
        );
        assert_eq!(
            err(quote!(cores = 100000000000000000000000000)),
            "`cores` is too large to be a number of cores"
        );
        assert_eq!(
            err(quote!(cores)),
            "`cores` needs a value, as in `cores = 4`"
        );
        assert_eq!(
            err(quote!(cores(4))),
            "expected `=` after `cores`, as in `cores = 4`"
        );
    }

    #[test]
    fn bad_crate_values() {
        assert_eq!(
            err(quote!(crate = netrt)),
            "`crate` takes a string literal, as in `crate = \"netrt\"`"
        );
        assert_eq!(
            err(quote!(crate = "not a path")),
            "`crate` must be a path, as in `crate = \"netrt\"`; `not a path` is not one"
        );
        assert_eq!(
            err(quote!(crate)),
            "`crate` needs a value, as in `crate = \"netrt\"`"
        );
    }

    #[test]
    fn unknown_argument() {
        assert_eq!(
            err(quote!(foo = 1)),
            "unknown attribute `foo` is specified; expected one of: `cores`, `worker_threads`, `crate`"
        );
        assert_eq!(
            err(quote!(flavor)),
            "unknown attribute `flavor` is specified; expected one of: `cores`, `worker_threads`, `crate`"
        );
    }

    #[test]
    fn duplicates() {
        assert_eq!(
            err(quote!(cores = 1, cores = 2)),
            "the `cores` attribute is specified twice"
        );
        assert_eq!(
            err(quote!(worker_threads = 1, worker_threads = 2)),
            "the `worker_threads` attribute is specified twice"
        );
        assert_eq!(
            err(quote!(cores = 1, worker_threads = 2)),
            "the `cores` attribute is specified twice (`worker_threads` is an alias of `cores`)"
        );
        assert_eq!(
            err(quote!(worker_threads = 1, cores = 2)),
            "the `cores` attribute is specified twice (`worker_threads` is an alias of `cores`)"
        );
        assert_eq!(
            err(quote!(crate = "a", crate = "b")),
            "the `crate` attribute is specified twice"
        );
    }

    #[test]
    fn every_mistake_is_reported() {
        assert_eq!(
            err(quote!(cores = 0, foo, crate = 1, cores = 2)),
            "`cores` must be greater than 0\n\
             unknown attribute `foo` is specified; expected one of: `cores`, `worker_threads`, `crate`\n\
             `crate` takes a string literal, as in `crate = \"netrt\"`\n\
             the `cores` attribute is specified twice"
        );
    }

    #[test]
    fn syntax_errors() {
        assert!(parse(quote!(= 4)).is_err());
        assert!(parse(quote!(cores = 4 crate = "x")).is_err());
        assert!(parse(quote!(cores = )).is_err());
    }
}
