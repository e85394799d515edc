//! TCP sockets: [`TcpListener`], [`TcpStream`] (with its split halves)
//! and [`TcpSocket`], shaped like tokio's.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};

mod listener;
mod socket;
mod split;
mod stream;
#[cfg(feature = "tokio-io")]
mod tokio_io;

pub use listener::{Incoming, TcpListener, DEFAULT_BACKLOG};
pub use socket::TcpSocket;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;

fn v4(addr: SocketAddr) -> io::Result<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(a) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{a}: IPv6 is not supported by netrt yet"),
        )),
    }
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}

/// A TTL from the `u32` std uses: 1–255.
fn check_ttl(ttl: u32) -> io::Result<u8> {
    match u8::try_from(ttl) {
        Ok(t) if t > 0 => Ok(t),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TTL {ttl} is outside 1..=255"),
        )),
    }
}
