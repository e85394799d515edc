//! tokio over the kernel's loopback: both ends on 127.0.0.1, a
//! multi-thread runtime with [`CORES`] workers and tokio's defaults
//! otherwise (`enable_all`, global queue interval and event interval
//! untouched, LIFO slot on); the workload runs in a spawned task, tokio's
//! fast path. The kernel path is loopback (MTU 65536, no checksums
//! computed, no device queue).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::workload::{self, Side, Stack};
use super::{Figures, CORES};

/// The kernel's TCP through tokio.
pub struct Tokio;

impl Stack for Tokio {
    type Listener = TcpListener;
    type Stream = TcpStream;

    fn listen(&self) -> impl Future<Output = io::Result<TcpListener>> + Send {
        TcpListener::bind("127.0.0.1:0")
    }

    fn listener_addr(l: &TcpListener) -> SocketAddr {
        l.local_addr().expect("listener address")
    }

    async fn accept(l: &TcpListener) -> io::Result<TcpStream> {
        l.accept().await.map(|(s, _)| s)
    }

    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<TcpStream>> + Send {
        TcpStream::connect(addr)
    }

    fn set_nodelay(s: &TcpStream) -> io::Result<()> {
        s.set_nodelay(true)
    }

    fn read<'a>(
        s: &'a mut TcpStream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        s.read(buf)
    }

    fn write_all<'a>(
        s: &'a mut TcpStream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        s.write_all(buf)
    }

    fn spawn_on<F>(
        &self,
        _side: Side,
        _core: usize,
        f: F,
    ) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let h = tokio::spawn(f);
        async move { h.await.expect("task failed") }
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

/// Runs the four measurements on a fresh tokio runtime.
pub fn run() -> Figures {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CORES)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        tokio::spawn(workload::all(Arc::new(Tokio)))
            .await
            .expect("bench task")
    })
}
