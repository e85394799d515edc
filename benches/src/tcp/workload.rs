//! The four TCP measurements, written once over [`Stack`] and run on every
//! async system (netrt, tokio). smoltcp has no executor and runs the same
//! shapes from its own poll loop (`smoltcp_peer`).
//!
//! Server-side work runs in the "server world" (a netrt namespace), client
//! work in the "client world"; on tokio both are the kernel's loopback.
//! Every shape has one acceptor task per core (netrt keeps a per-core
//! accept queue, so an acceptor serves the connections RSS steered to its
//! core and the handler it spawns stays there).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{select, BoxFuture, Either, FutureExt};
use futures::StreamExt;

use super::heap;
use super::{Figures, BULK_CHUNK, CONNECTORS_PER_CORE, CORES, IDLE_CONNS, MSG, RUN_BULK};
use super::{RR_CONNS, RUN_CONNECT, RUN_RR};

/// Which world a task belongs to.
#[derive(Clone, Copy)]
pub enum Side {
    /// The connecting side.
    Client,
    /// The listening side.
    Server,
}

/// The socket and task operations the measurements need.
pub trait Stack: Send + Sync + 'static {
    type Listener: Send + Sync + 'static;
    type Stream: Send + 'static;

    /// Binds a listener on an ephemeral port of the server's address; call
    /// it from a server-side task.
    fn listen(&self) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// The address clients connect to.
    fn listener_addr(l: &Self::Listener) -> SocketAddr;
    fn accept(l: &Self::Listener) -> impl Future<Output = io::Result<Self::Stream>> + Send + '_;
    /// Connects from the client's world; call it from a client-side task.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    fn set_nodelay(s: &Self::Stream) -> io::Result<()>;
    fn read<'a>(
        s: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    fn write_all<'a>(
        s: &'a mut Self::Stream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
    /// Spawns `f` in `side`'s world on `core` (where the system can pin).
    fn spawn_on<F>(
        &self,
        side: Side,
        core: usize,
        f: F,
    ) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send;
}

/// Runs the four measurements in order: idle memory first (a fresh stack,
/// before other shapes leave closing connections behind), then
/// request/response, bulk, connect/close.
pub async fn all<S: Stack>(sys: Arc<S>) -> Figures {
    let mut problems = Vec::new();
    let idle_bytes = idle_memory(&sys)
        .await
        .map_err(|e| problems.push(format!("(d) not measured: {e}")))
        .ok();
    Figures {
        idle_bytes,
        rr: Some(request_response(&sys).await),
        bulk_gbps: Some(bulk(&sys).await),
        connect: connect_close(&sys).await,
        problems,
    }
}

/// Only (a) and (b), for configurations that change the data path.
pub async fn data_path<S: Stack>(sys: Arc<S>) -> Figures {
    Figures {
        idle_bytes: None,
        rr: Some(request_response(&sys).await),
        bulk_gbps: Some(bulk(&sys).await),
        connect: None,
        problems: Vec::new(),
    }
}

/// Reads exactly `buf.len()` bytes; `false` on a clean end of stream
/// before the first byte.
async fn read_exact<S: Stack>(s: &mut S::Stream, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match S::read(s, &mut buf[got..]).await? {
            0 if got == 0 => return Ok(false),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    Ok(true)
}

/// A listener with one acceptor task per core, each handing accepted
/// streams to `on_accept` (which runs inline: it spawns if it needs to).
struct Server {
    addr: SocketAddr,
    stops: Vec<oneshot::Sender<()>>,
    acceptors: Vec<BoxFuture<'static, ()>>,
}

impl Server {
    async fn start<S: Stack, H>(sys: &Arc<S>, on_accept: H) -> Server
    where
        H: Fn(&Arc<S>, usize, S::Stream) + Clone + Send + Sync + 'static,
    {
        let listener = {
            let sys2 = sys.clone();
            sys.spawn_on(Side::Server, 0, async move { sys2.listen().await })
                .await
                .expect("listen")
        };
        let addr = S::listener_addr(&listener);
        let listener = Arc::new(listener);
        let mut stops = Vec::new();
        let mut acceptors = Vec::new();
        for core in 0..CORES {
            let (tx, stop) = oneshot::channel::<()>();
            stops.push(tx);
            let accept = acceptor(sys.clone(), listener.clone(), core, stop, on_accept.clone());
            acceptors.push(FutureExt::boxed(sys.spawn_on(Side::Server, core, accept)));
        }
        Server {
            addr,
            stops,
            acceptors,
        }
    }

    /// Stops the acceptors and waits for them (the listener closes).
    async fn stop(self) {
        for s in self.stops {
            let _ = s.send(());
        }
        for a in self.acceptors {
            a.await;
        }
    }
}

/// Accepts on `listener` until `stop` fires.
async fn acceptor<S: Stack, H>(
    sys: Arc<S>,
    listener: Arc<S::Listener>,
    core: usize,
    mut stop: oneshot::Receiver<()>,
    on_accept: H,
) where
    H: Fn(&Arc<S>, usize, S::Stream),
{
    loop {
        match select(pin!(S::accept(&listener)), &mut stop).await {
            Either::Left((Ok(s), _)) => on_accept(&sys, core, s),
            // Out of descriptors or ports and the like: keep serving; the
            // clients count their own failures.
            Either::Left((Err(_), _)) => S::sleep(Duration::from_millis(1)).await,
            Either::Right(_) => return,
        }
    }
}

/// (a) [`RR_CONNS`] connections each doing strict ping-pong of [`MSG`]
/// bytes with an echo server; transactions/s over [`RUN_RR`].
async fn request_response<S: Stack>(sys: &Arc<S>) -> f64 {
    let server = Server::start(sys, |sys: &Arc<S>, core, mut s: S::Stream| {
        let _ = S::set_nodelay(&s);
        drop(sys.spawn_on(Side::Server, core, async move {
            let mut buf = [0u8; MSG];
            while let Ok(true) = read_exact::<S>(&mut s, &mut buf).await {
                if S::write_all(&mut s, &buf).await.is_err() {
                    return;
                }
            }
        }));
    })
    .await;
    let (ready_tx, mut ready) = mpsc::unbounded::<()>();
    let mut gos = Vec::new();
    let mut clients = Vec::new();
    for i in 0..RR_CONNS {
        let (go_tx, go) = oneshot::channel::<Instant>();
        gos.push(go_tx);
        let (addr, ready_tx) = (server.addr, ready_tx.clone());
        clients.push(sys.spawn_on(Side::Client, i % CORES, async move {
            let mut s = S::connect(addr).await.expect("connect");
            S::set_nodelay(&s).expect("nodelay");
            // One transaction before the clock starts: the path is warm.
            transact::<S>(&mut s, 0).await;
            ready_tx.unbounded_send(()).expect("ready");
            let deadline = go.await.expect("go");
            let mut done = 0u64;
            while Instant::now() < deadline {
                done += 1;
                transact::<S>(&mut s, done as u8).await;
            }
            (done, Instant::now())
        }));
    }
    drop(ready_tx);
    for _ in 0..RR_CONNS {
        ready.next().await.expect("client ready");
    }
    let start = Instant::now();
    for g in gos {
        let _ = g.send(start + RUN_RR);
    }
    let (mut total, mut end) = (0u64, start);
    for c in clients {
        let (done, at) = c.await;
        total += done;
        end = end.max(at);
    }
    server.stop().await;
    total as f64 / (end - start).as_secs_f64()
}

/// A request of [`MSG`] bytes whose first and last byte carry `tag`, so
/// that a stale or misdelivered echo does not pass for the right one.
pub fn request(tag: u8) -> [u8; MSG] {
    let mut buf = [0x55u8; MSG];
    buf[0] = tag;
    buf[MSG - 1] = tag;
    buf
}

/// One request/response: [`request`]`(tag)` out, the same bytes back.
async fn transact<S: Stack>(s: &mut S::Stream, tag: u8) {
    let mut buf = request(tag);
    S::write_all(s, &buf).await.expect("write");
    assert!(
        read_exact::<S>(s, &mut buf).await.expect("read"),
        "echo ended"
    );
    assert_eq!(buf, request(tag), "wrong echo");
}

/// (b) One stream, the client writing [`BULK_CHUNK`]-byte buffers for
/// [`RUN_BULK`], the server reading and discarding; Gbit/s of payload
/// (from the first write to the server seeing the end of stream).
async fn bulk<S: Stack>(sys: &Arc<S>) -> f64 {
    let (count_tx, count) = mpsc::unbounded::<u64>();
    let server = Server::start(sys, move |sys: &Arc<S>, core, mut s: S::Stream| {
        let count_tx = count_tx.clone();
        drop(sys.spawn_on(Side::Server, core, async move {
            let mut buf = vec![0u8; BULK_CHUNK];
            let mut bytes = 0u64;
            while let Ok(n @ 1..) = S::read(&mut s, &mut buf).await {
                bytes += n as u64;
            }
            let _ = count_tx.unbounded_send(bytes);
        }));
    })
    .await;
    let addr = server.addr;
    let start = sys
        .spawn_on(Side::Client, 0, async move {
            let mut s = S::connect(addr).await.expect("connect");
            let buf = vec![0x5au8; BULK_CHUNK];
            let start = Instant::now();
            while start.elapsed() < RUN_BULK {
                S::write_all(&mut s, &buf).await.expect("write");
            }
            start
        })
        .await;
    let mut count = count;
    let bytes = count.next().await.expect("server count");
    let took = start.elapsed();
    server.stop().await;
    bytes as f64 * 8.0 / took.as_secs_f64() / 1e9
}

/// What the connect/close shape measured.
pub struct ConnectFigure {
    /// Completed cycles per second.
    pub rate: f64,
    /// Connects that failed (they are not counted in the rate).
    pub failures: u64,
}

/// (c) [`CONNECTORS_PER_CORE`] client loops per core, each: connect, wait
/// for the server's close (the server accepts and drops the stream at
/// once, so its side does the active close and holds TIME_WAIT), close.
/// Cycles/s over [`RUN_CONNECT`].
async fn connect_close<S: Stack>(sys: &Arc<S>) -> Option<ConnectFigure> {
    let server = Server::start(sys, |_: &Arc<S>, _, s: S::Stream| drop(s)).await;
    let start = Instant::now();
    let deadline = start + RUN_CONNECT;
    let mut clients = Vec::new();
    for i in 0..CORES * CONNECTORS_PER_CORE {
        let addr = server.addr;
        clients.push(sys.spawn_on(Side::Client, i % CORES, async move {
            let (mut done, mut failed) = (0u64, 0u64);
            let mut buf = [0u8; 1];
            while Instant::now() < deadline {
                match S::connect(addr).await {
                    Ok(mut s) => {
                        // The server's FIN (or a reset) ends the cycle.
                        let _ = S::read(&mut s, &mut buf).await;
                        done += 1;
                    }
                    Err(_) => {
                        failed += 1;
                        S::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            (done, failed, Instant::now())
        }));
    }
    let (mut done, mut failures, mut end) = (0, 0, start);
    for c in clients {
        let (d, f, at) = c.await;
        done += d;
        failures += f;
        end = end.max(at);
    }
    server.stop().await;
    (done > 0).then(|| ConnectFigure {
        rate: done as f64 / (end - start).as_secs_f64(),
        failures,
    })
}

/// (d) Heap bytes per idle established connection end: opens
/// [`IDLE_CONNS`] connections (both ends live in this process) and divides
/// the net heap growth by the number of ends (2 per connection). The
/// vectors holding the handles are allocated before counting starts.
/// Fails if the connections cannot all be opened (for tokio: 2 file
/// descriptors each).
async fn idle_memory<S: Stack>(sys: &Arc<S>) -> io::Result<f64> {
    let (tx, mut accepted) = mpsc::unbounded::<S::Stream>();
    let server = Server::start(sys, move |_: &Arc<S>, _, s: S::Stream| {
        let _ = tx.unbounded_send(s);
    })
    .await;
    let addr = server.addr;
    // A warm-up connection: neighbour resolution, first-use tables.
    let warm = sys
        .spawn_on(Side::Client, 0, async move { S::connect(addr).await })
        .await?;
    drop((warm, accepted.next().await));
    S::sleep(Duration::from_millis(20)).await;

    let mut servers: Vec<S::Stream> = Vec::with_capacity(IDLE_CONNS);
    let window = heap::Window::open();
    let clients = sys
        .spawn_on(Side::Client, 0, async move {
            let mut v = Vec::with_capacity(IDLE_CONNS);
            for _ in 0..IDLE_CONNS {
                v.push(S::connect(addr).await?);
            }
            Ok::<_, io::Error>(v)
        })
        .await;
    let mut gave_up = pin!(S::sleep(Duration::from_secs(5)));
    while clients.is_ok() && servers.len() < IDLE_CONNS {
        match select(accepted.next(), gave_up.as_mut()).await {
            Either::Left((Some(s), _)) => servers.push(s),
            _ => break,
        }
    }
    // Let the last handshake ACKs and any delayed work settle.
    S::sleep(Duration::from_millis(50)).await;
    let grown = window.net_bytes();
    drop(window);
    let handles = (IDLE_CONNS * size_of::<S::Stream>()) as f64;
    let per_end = match clients {
        Err(e) => Err(e),
        Ok(_) if servers.len() < IDLE_CONNS => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "accepted only {} of {IDLE_CONNS} connections",
                servers.len()
            ),
        )),
        Ok(_) => Ok((grown as f64 - handles) / (2 * IDLE_CONNS) as f64),
    };
    drop(servers);
    server.stop().await;
    per_end
}
