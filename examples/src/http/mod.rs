//! A small HTTP/1.1 implementation for the `http` and `get` examples:
//! an incremental head parser ([`head`]), body framing ([`body`]), head
//! writers ([`response`]), the server's routes and connection loop
//! ([`server`]) and the client's `GET` ([`client`]).
//!
//! Everything here works on any `futures::io` stream and is unit-tested
//! without a network; [`crate::httpd`] and [`crate::get`] wire it to
//! netrt's TCP sockets.

pub mod body;
pub mod client;
pub mod head;
pub mod response;
pub mod server;

#[cfg(test)]
mod testio;
