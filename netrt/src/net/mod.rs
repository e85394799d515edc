//! Sockets over netrt's own stack, shaped like `tokio::net`.
//!
//! * [`TcpListener`], [`TcpStream`], [`TcpSocket`]: TCP (IPv4).
//! * [`UdpSocket`]: datagrams (IPv4).
//! * [`ToSocketAddrs`] / [`lookup_host`]: address conversion (IP literals
//!   and `localhost`; there is no DNS).
//!
//! A socket belongs to the namespace current when it is created
//! ([`Namespace::current`](crate::stack::ns::Namespace::current)).

mod addr;
mod tcp;
mod udp;

pub use addr::{lookup_host, Addrs, ToSocketAddrs};
pub use tcp::{
    Incoming, OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpListener, TcpSocket,
    TcpStream, WriteHalf, DEFAULT_BACKLOG,
};
pub use udp::UdpSocket;

/// Largest payload of one UDP datagram (65,507 bytes); larger sends fail
/// with `InvalidInput` ("message too long").
pub const MAX_UDP_PAYLOAD: usize = crate::stack::udp::MAX_PAYLOAD;
