//! The byte buffers behind a connection: what the user wrote and the
//! peer has not acknowledged yet, and what arrived in order and the user
//! has not read yet.

use std::collections::VecDeque;

/// Send buffer: bytes from `SND.UNA` (or the first byte after the SYN)
/// onwards, acknowledged bytes dropped from the front. Kept contiguous so
/// a segment's payload is always one slice (no copy to build it).
#[derive(Debug, Default)]
pub struct SendBuffer {
    data: Vec<u8>,
    /// Bytes before `head` are acknowledged and dead.
    head: usize,
    cap: usize,
}

impl SendBuffer {
    /// An empty buffer holding at most `cap` bytes (allocated lazily).
    pub fn new(cap: usize) -> SendBuffer {
        SendBuffer {
            data: Vec::new(),
            head: 0,
            cap,
        }
    }

    /// Bytes held (unacknowledged plus unsent).
    pub fn len(&self) -> usize {
        self.data.len() - self.head
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room for more bytes.
    pub fn free(&self) -> usize {
        self.cap.saturating_sub(self.len())
    }

    /// Appends as much of `buf` as fits; returns how much.
    pub fn push(&mut self, buf: &[u8]) -> usize {
        let n = buf.len().min(self.free());
        if n == 0 {
            return 0;
        }
        if self.head > 0 && self.data.len() + n > self.data.capacity() {
            // Reclaim the acknowledged prefix before growing.
            self.data.drain(..self.head);
            self.head = 0;
        }
        self.data.extend_from_slice(&buf[..n]);
        n
    }

    /// Drops `n` acknowledged bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.head += n.min(self.len());
        if self.head == self.data.len() {
            self.data.clear();
            self.head = 0;
        }
    }

    /// `len` bytes starting `off` bytes from the front.
    pub fn slice(&self, off: usize, len: usize) -> &[u8] {
        let start = (self.head + off).min(self.data.len());
        let end = (start + len).min(self.data.len());
        &self.data[start..end]
    }
}

/// Receive buffer: in-order bytes waiting for the user.
#[derive(Debug, Default)]
pub struct RecvBuffer {
    data: VecDeque<u8>,
    cap: usize,
}

impl RecvBuffer {
    /// An empty buffer of `cap` bytes (allocated lazily).
    pub fn new(cap: usize) -> RecvBuffer {
        RecvBuffer {
            data: VecDeque::new(),
            cap,
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The configured size.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Room left (the window we can offer).
    pub fn free(&self) -> usize {
        self.cap.saturating_sub(self.data.len())
    }

    /// Appends in-order bytes (the window already bounded them).
    pub fn push(&mut self, buf: &[u8]) {
        self.data.extend(buf);
    }

    /// Copies up to `buf.len()` bytes out; returns how many.
    pub fn pop(&mut self, buf: &mut [u8]) -> usize {
        let n = self.peek(buf);
        self.data.drain(..n);
        n
    }

    /// Copies up to `buf.len()` bytes out without consuming them.
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        let (a, b) = self.data.as_slices();
        let n = buf.len().min(self.data.len());
        let na = n.min(a.len());
        buf[..na].copy_from_slice(&a[..na]);
        buf[na..n].copy_from_slice(&b[..n - na]);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_buffer_bounds_consumes_and_slices() {
        let mut b = SendBuffer::new(10);
        assert_eq!(b.push(b"hello world"), 10);
        assert_eq!(b.push(b"x"), 0);
        assert_eq!(b.slice(6, 10), b"worl");
        b.consume(6);
        assert_eq!(b.len(), 4);
        assert_eq!(b.push(b"abcdefgh"), 6);
        assert_eq!(b.slice(0, 10), b"worlabcdef");
        b.consume(100);
        assert!(b.is_empty());
    }

    #[test]
    fn recv_buffer_wraps() {
        let mut b = RecvBuffer::new(8);
        b.push(b"abcdef");
        let mut out = [0u8; 4];
        assert_eq!(b.pop(&mut out), 4);
        assert_eq!(&out, b"abcd");
        b.push(b"ghijkl");
        assert_eq!(b.free(), 0);
        let mut out = [0u8; 16];
        assert_eq!(b.peek(&mut out), 8);
        assert_eq!(b.pop(&mut out), 8);
        assert_eq!(&out[..8], b"efghijkl");
    }
}
