//! Accepting TCP connections on every core, for the example servers.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use netrt::net::{TcpListener, TcpStream};
use netrt::runtime::Handle;
use netrt::stack::ns::Namespace;
use netrt::JoinHandle;

/// Aborts the tasks it holds when dropped, so a server stopped by
/// dropping its future takes its helper tasks with it.
pub struct AbortOnDrop(pub Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Accepts connections on `listener` from every core of the runtime (one
/// acceptor task per core: each takes from its own core's accept queue
/// first, so a connection is served where its packets arrive) and runs
/// `handler(stream, peer)` as a task on the accepting core. Runs until
/// dropped; accept errors are reported on stderr and do not stop it.
pub async fn accept_on_all_cores<H, Fut>(listener: TcpListener, handler: H)
where
    H: Fn(TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (listener, handler) = (Arc::new(listener), Arc::new(handler));
    let ns = Namespace::current();
    let here = netrt::current_core();
    let rt = Handle::current();
    let _others = AbortOnDrop(
        (0..rt.cores())
            .filter(|&core| Some(core) != here)
            .map(|core| rt.spawn_on(core, ns.scope(acceptor(listener.clone(), handler.clone()))))
            .collect(),
    );
    acceptor(listener, handler).await;
}

async fn acceptor<H, Fut>(listener: Arc<TcpListener>, handler: Arc<H>)
where
    H: Fn(TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Detached: a connection finishes on its own.
                drop(netrt::spawn(handler(stream, peer)));
            }
            Err(e) => {
                eprintln!("accept: {e}");
                // Back off so a persistent error does not spin the core.
                netrt::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Binds a listener on `port` of every address of the current namespace.
pub async fn listen(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("TCP port {port}: {e}")))
}
