//! netrt: an async runtime that carries its own network stack.
//!
//! Worker threads ("cores") each own a reactor that polls the queues of an
//! Intel igb NIC NAPI-style; frames flow through an in-process
//! Ethernet/ARP/IPv4/ICMP/UDP/TCP stack, never through a kernel socket.
//! See `DESIGN.md` in the repository for the data path.

#![warn(missing_docs)]

#[allow(dead_code)]
pub(crate) mod loom;
