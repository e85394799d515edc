//! Shared code of the netrt example programs (`echo`, `http`, `get`):
//! command-line parsing ([`args`]), the network they run on — an
//! in-process cable demo or a Linux TAP — ([`netsetup`]), a small HTTP/1.1
//! implementation ([`http`]) and the deterministic test body ([`pattern`]).
//!
//! Each program runs a self-contained demo over an in-process emulated
//! cable when started without `--tap` (no privileges needed):
//!
//! ```text
//! cargo run -p netrt-examples --bin http -- -v
//! ```
//!
//! Against a Linux TAP (as root, or with `CAP_NET_ADMIN`):
//!
//! ```text
//! ip tuntap add dev tap0 mode tap && ip addr add 10.7.0.1/24 dev tap0 && ip link set tap0 up
//! cargo run -p netrt-examples --bin http -- --tap tap0 --addr 10.7.0.2/24 -v
//! curl http://10.7.0.2:8080/bytes/1000 | od -A d -t u1 | head   # byte i is i % 251
//! ```
//!
//! Exit status: 0 on success and after `--help`, 2 for a bad command
//! line, 1 when the program fails (for `get`, also an HTTP status of 400
//! or more). In TAP mode SIGINT/SIGTERM stop the program cleanly (the
//! pcap file is completed).

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
