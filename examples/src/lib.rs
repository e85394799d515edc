//! Shared code of the netrt example programs (`echo`, `http`, `get`):
//! command-line parsing ([`args`]), the network they run on — an
//! in-process cable demo or a Linux TAP — ([`netsetup`]), a small HTTP/1.1
//! implementation ([`http`]) and the deterministic test body ([`pattern`]).

#![warn(missing_docs)]

pub mod args;
pub mod echo;
pub mod get;
pub mod http;
pub mod httpd;
pub mod log;
pub mod netsetup;
pub mod pattern;
pub mod serve;
pub mod signals;
