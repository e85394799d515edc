//! tokio's `AsyncRead`/`AsyncWrite` for the TCP types (feature
//! `tokio-io`), so tokio-based code (codecs, hyper) runs on netrt.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::stream::TcpStream;

macro_rules! impl_tokio_io {
    ($ty:ty, $self:ident => $get:expr) => {
        impl AsyncRead for $ty {
            fn poll_read(
                $self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = std::task::ready!(($get).poll_read_priv(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                $self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                ($get).poll_write_priv(cx, buf)
            }

            fn poll_flush($self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown($self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                ($get).poll_close_priv()
            }
        }
    };
}

impl_tokio_io!(TcpStream, self => self.get_mut());
impl_tokio_io!(&TcpStream, self => *self.get_mut());
impl_tokio_io!(ReadHalf<'_>, self => self.0);
impl_tokio_io!(WriteHalf<'_>, self => self.0);
impl_tokio_io!(OwnedReadHalf, self => &*self.0);
impl_tokio_io!(OwnedWriteHalf, self => self.stream());
