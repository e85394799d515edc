//! Read and write halves of a [`TcpStream`] (tokio's `split` and
//! `into_split`).

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::stream::{impl_futures_io, TcpStream};

/// The read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(pub(super) &'a TcpStream);

/// The write half of [`TcpStream::split`]; closing it shuts down writing.
#[derive(Debug)]
pub struct WriteHalf<'a>(pub(super) &'a TcpStream);

/// The owned read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf(pub(super) Arc<TcpStream>);

/// The owned write half of [`TcpStream::into_split`]. Dropping it shuts
/// down writing (a FIN), like tokio's.
pub struct OwnedWriteHalf {
    stream: Arc<TcpStream>,
    shutdown_on_drop: bool,
}

/// The halves passed to [`OwnedReadHalf::reunite`] came from different
/// streams; they are given back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    /// Joins the halves back into the stream; fails when they belong to
    /// different streams.
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        reunite(self, other)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Waits for data and copies it without consuming it.
    pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await
    }
}

impl OwnedWriteHalf {
    pub(super) fn new(stream: Arc<TcpStream>) -> OwnedWriteHalf {
        OwnedWriteHalf {
            stream,
            shutdown_on_drop: true,
        }
    }

    /// Joins the halves back into the stream.
    pub fn reunite(self, other: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        reunite(other, self)
    }

    pub(super) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Drops the half without shutting down writing.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedWriteHalf").field(&self.stream).finish()
    }
}

fn reunite(read: OwnedReadHalf, mut write: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
    if !Arc::ptr_eq(&read.0, &write.stream) {
        return Err(ReuniteError(read, write));
    }
    write.shutdown_on_drop = false;
    let shared = write.stream.clone();
    drop(write);
    drop(read);
    // Both halves are gone, so this is the last reference (the halves'
    // API hands out no other); if not, give the halves back.
    Arc::try_unwrap(shared)
        .map_err(|s| ReuniteError(OwnedReadHalf(s.clone()), OwnedWriteHalf::new(s)))
}

impl_futures_io!(ReadHalf<'_>, self => self.0);
impl_futures_io!(WriteHalf<'_>, self => self.0);
impl_futures_io!(OwnedReadHalf, self => &*self.0);
impl_futures_io!(OwnedWriteHalf, self => self.stream());
