//! An in-memory stream for testing the HTTP code without a network.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

/// Delivers `input` in reads of at most `step` bytes, then end of stream;
/// records everything written.
pub struct MockStream {
    input: Vec<u8>,
    pos: usize,
    step: usize,
    /// Bytes written.
    pub output: Vec<u8>,
    /// Calls of `poll_write` that wrote something.
    pub writes: usize,
    /// `poll_close` was called.
    pub closed: bool,
}

impl MockStream {
    pub fn new(input: &[u8], step: usize) -> MockStream {
        MockStream {
            input: input.to_vec(),
            pos: 0,
            step: step.max(1),
            output: Vec::new(),
            writes: 0,
            closed: false,
        }
    }
}

impl AsyncRead for MockStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = self.step.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for MockStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        self.output.extend_from_slice(buf);
        self.writes += usize::from(!buf.is_empty());
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.closed = true;
        Poll::Ready(Ok(()))
    }
}
